"""The table template: an old table layout with the same visible text.

Title in a ``<td>`` inside ``<font size>``, affiliations in ``<center>``, the
whole body in one ``<td>`` split by ``<br><br>`` (ads, images and empty
"paragraphs" between the breaks), the labels in cells of their own
(``<td>论文作者</td><td>…</td>``) and the breadcrumb in a table cell.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence

from tests.sitegen.markup import SiteTemplate, charset_of, esc, lines, page_links
from tests.sitegen.model import Article, Issue, Journal
from tests.sitegen.pieces import ArticlePieces

_TABLE = '<table width="960" border="0" align="center" cellpadding="0" cellspacing="0">'


class TableTemplate(SiteTemplate):
    """Nested tables, ``<font>`` and ``<center>``; no class names at all."""

    name = "table"
    page_suffix = "(第{}页)"
    mobile_link = '<p><a href="{href}">手机版：{title}</a></p>\n'

    def page(self, title: str, main: str, *, charset: str | None = "utf-8", head_extra: str = "") -> str:
        u = self.urls
        meta = f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">\n' if charset else ""
        return (
            f"<html>\n<head>\n{meta}<title>{title}</title>\n{head_extra}"
            '<link href="/static/old/main.css" rel="stylesheet" type="text/css">\n</head>\n'
            '<body bgcolor="#FFFFFF" leftmargin="0" topmargin="0">\n'
            f'{_TABLE}<tr><td width="300"><a href="/"><img src="/static/old/logo.gif" border="0"></a></td>'
            f'<td align="right"><a href="{u.login}">会员登录</a> | <a href="{u.register}">免费注册</a>'
            f'<form action="{u.search_base.split("?")[0]}" method="get"><input type="text" name="q" size="20">'
            '<input type="submit" value="搜索"></form></td></tr></table>\n'
            f'{_TABLE}<tr><td bgcolor="#1F5FA6" height="30"><a href="/"><font color="#FFFFFF">首页</font></a> | '
            f'<a href="{u.home_more}"><font color="#FFFFFF">期刊大全</font></a> | '
            f'<a href="{u.tags_index}"><font color="#FFFFFF">热门标签</font></a> | '
            f'<a href="{u.help}"><font color="#FFFFFF">投稿须知</font></a></td></tr></table>\n'
            f"{main}"
            f'{_TABLE}<tr><td align="center" bgcolor="#EEEEEE"><a href="{u.about}">关于我们</a> | '
            f'<a href="{u.contact}">联系我们</a> | <a href="{u.sitemap}">网站地图</a><br>'
            "Copyright 2008-2019 期刊图书馆 All Rights Reserved<br>备案号：京ICP备00000000号-1</td></tr></table>\n"
            "</body>\n</html>\n"
        )

    @functools.cached_property
    def sidebar(self) -> str:
        ctx, u = self.ctx, self.urls
        boxes = [("热门期刊", ctx.hot_journals()), ("最新论文", ctx.latest_articles()),
                 ("热门搜索", ctx.hot_searches() + [(u.tag("两学一做"), "两学一做"),
                                                 (u.download(ctx.doc_article.id), f"下载：{esc(ctx.doc_article.title)}")])]
        out = ""
        for head, links in boxes:
            cells = "<br>".join(f'<a href="{href}">{text}</a>' for href, text in links)
            out += f'<table width="100%" border="1"><tr><td bgcolor="#DDEEFF"><b>{head}</b></td></tr>' \
                   f"<tr><td>{cells}</td></tr></table>\n"
        return out + f'<a href="{u.help}"><img src="/static/old/ad.gif" alt="论文发表咨询" border="0"></a>\n'

    def frame(self, crumbs: str, left: str) -> str:
        """Breadcrumb row, then a two-column table: content left, sidebar right."""
        return (
            f'{_TABLE}<tr><td height="28">当前位置：<a href="/">首页</a>{crumbs}</td></tr></table>\n'
            f'{_TABLE}<tr><td width="720" valign="top">\n{left}</td>\n'
            f'<td width="240" valign="top">\n{self.sidebar}</td></tr></table>\n'
        )

    def pager(self, page: int, total: int, url_of: Callable[[int], str]) -> str:
        if total <= 1:
            return ""
        parts = [f"共{total}页", *page_links(page, total, url_of, current="[{n}]", other='<a href="{href}">[{n}]</a>')]
        return f'<table width="100%"><tr><td align="center">{" ".join(parts)}</td></tr></table>\n'

    def link_rows(self, links: Sequence[tuple[str, str, str]]) -> str:
        rows = "".join(f'<tr><td><a href="{href}">{esc(text)}</a></td><td width="160">{esc(who)}</td></tr>'
                       for href, text, who in links)
        return f'<table width="100%" border="0" cellpadding="4">{rows}</table>\n'

    def soft_404(self) -> str:
        main = (
            f'{_TABLE}<tr><td align="center" height="300"><font size="4" color="#CC0000">'
            "您访问的页面不存在，可能已被删除或更名！</font><br><br>"
            '<a href="/">点击返回首页</a></td></tr></table>\n'
        )
        return self.page(self.title("出错了"), main)

    def home(self, journals: Sequence[Journal], mobile: Article | None) -> str:
        left = self.link_rows([(j.path, j.name, "") for j in journals])
        left += f'<p align="right"><a href="{self.urls.home_more}">更多期刊&gt;&gt;</a></p>\n'
        left += self.mobile_links([mobile] if mobile else [])
        return self.page("期刊图书馆 - 期刊论文在线阅读", self.frame("", left))

    def journal_index(self, journals: Sequence[Journal], page: int, total: int) -> str:
        left = self.link_rows([(j.path, j.name, "") for j in journals]) + self.paged(self.urls.home_more, page, total)
        return self.page(self.title("期刊大全", page), self.frame(" &gt;&gt; 期刊大全", left))

    def journal_page(self, journal: Journal) -> str:
        left = f'<font size="4"><b>{esc(journal.name)}</b></font>\n'
        left += self.link_rows([(iss.path, iss.crumb, "") for iss in reversed(journal.issues)])
        return self.page(self.title(esc(journal.name)), self.frame(f" &gt;&gt; {esc(journal.name)}", left))

    def issue_page(
        self, issue: Issue, entries: Sequence[tuple[str, str, str]], mobiles: Sequence[Article], page: int, total: int
    ) -> str:
        j = issue.journal
        left = self.link_rows(entries) + (self.mobile_links(mobiles) if page == 1 else "")
        left += self.paged(issue.path, page, total)
        crumbs = f' &gt;&gt; <a href="{j.path}">{esc(j.name)}</a> &gt;&gt; {issue.crumb}'
        return self.page(self.title(f"{esc(j.name)}{issue.crumb}", page), self.frame(crumbs, left))

    # -- the article page ---------------------------------------------------

    def article_page(self, article: Article, rng: random.Random, by_id: dict[str, Article]) -> str:
        p = ArticlePieces(article, rng, self.ctx, by_id)
        h1 = p.title_line()
        affs = lines(f"<center>{o}{t}{c}</center>" for o, t, c in p.affiliations())
        body = self.body(p)
        suffix = rng.choice(("", "："))
        p.q.add("label_cell" + ("_colon" if suffix else ""))
        cells = [*p.labelled(), ("标签", "".join(f"{s};" for s in p.tag_slots()))]
        info = lines(f'<tr><td width="110" bgcolor="#F3F3F3">{label}{suffix}</td><td>{value}</td></tr>'
                     for label, value in cells)
        related = "<br>".join(f'<a href="{href}">{title}</a>' for href, title in p.related())
        left = (
            '<table width="100%" border="0" cellpadding="6">\n'
            f'<tr><td align="center"><font size="5"><b>{h1}</b></font></td></tr>\n'
            f"<tr><td>{affs}</td></tr>\n"
            f'<tr><td style="font-size:14px;line-height:2">{body}</td></tr>\n'
            "</table>\n"
            f'<table width="100%" border="1" cellpadding="4" cellspacing="0">\n{info}</table>\n'
            f'<table width="100%"><tr><td align="center">{h1}</td></tr>\n'
            f'<tr><td align="center"><a href="{self.urls.download(article.id)}">下载Doc文档</a></td></tr></table>\n'
            f'<table width="100%" border="0"><tr><td><b>猜你喜欢</b></td></tr><tr><td>{related}</td></tr></table>\n'
        )
        page = self.frame(f"{self.journal_crumbs(article)} &gt; {h1}", left)
        return self.page(self.title(h1), page, charset=charset_of(article), head_extra=self.article_head(article))

    def body(self, p: ArticlePieces) -> str:
        """Every paragraph and every extra in one cell, separated by ``<br><br>`` (or the old runs)."""
        paras = p.paragraphs()
        extras = [_inline(e) for e in p.extras()]
        seps: tuple[str, ...] = ("<br><br>", "<br /><br />")
        if p.a.style.template != "modern":
            p.q.add(f"template_{p.a.style.template}")
            seps = p.old_separators()
        return p.joined(p.scatter(list(paras), extras), seps) + p.trailing_br()


def _inline(extra: str) -> str:
    """A content extra as a run of inline markup (a table cell holds no ``<p>`` in this layout)."""
    for block in ("<p>", "</p>"):
        extra = extra.replace(block, "")
    return extra.replace('<div class="ad">', "<span>").replace("</div>", "</span>")
