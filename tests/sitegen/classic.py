"""The classic template: today's site as the SPEC describes it (``h1.title``, ``div.content`` ...).

With the classic URL scheme this renders ``tests/site`` byte for byte; keep the
order of random draws when editing, or the committed site changes.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence

from tests.sitegen.markup import SiteTemplate, attr, charset_of, esc, li_links, lines, page_links
from tests.sitegen.model import Article, Issue, Journal
from tests.sitegen.pieces import ArticlePieces
from tests.sitegen.textrules import BR, NBSP, SOFT_404_H1

_DOCTYPE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml">\n<head>\n'
)
_HEAD_TAIL = (
    '<link href="/static/css/style.css" rel="stylesheet" type="text/css" />\n'
    '<script type="text/javascript" src="/static/js/jquery.min.js"></script>\n'
    '<script>var _hmt = _hmt || [];(function() {var hm = document.createElement("script");'
    'hm.src = "/static/js/stat.js";var s = document.getElementsByTagName("script")[0];'
    "s.parentNode.insertBefore(hm, s);})();</script>\n"
    "</head>\n<body>\n"
)


class ClassicTemplate(SiteTemplate):
    """Today's markup; URLs come from the context's scheme."""

    name = "classic"
    mobile_link = '<p class="mobile"><a href="{href}">手机版：{title}</a></p>'

    # -- chrome -------------------------------------------------------------

    @functools.cached_property
    def top(self) -> str:
        u = self.urls
        return (
            f'<div class="topbar"><div class="wrap">欢迎来到期刊图书馆！ <a href="{u.login}">登录</a> | '
            f'<a href="{u.register}">注册</a> | <a href="{u.help}">投稿指南</a></div></div>\n'
            '<div class="header"><div class="logo"><a href="/"><img src="/static/img/logo.png" alt="期刊图书馆" />'
            "</a></div>\n"
            f'<form class="search" action="{u.search_base.split("?")[0]}" method="get">'
            '<input type="text" name="q" value="" '
            'placeholder="输入论文标题或关键词" /><button type="submit">搜索</button></form></div>\n'
            f'<div class="nav"><ul><li><a href="/">首页</a></li><li><a href="{u.home_more}">期刊大全</a></li>'
            f'<li><a href="{u.tags_index}">热门标签</a></li><li><a href="{u.help}">投稿须知</a></li>'
            f'<li><a href="{u.about}">关于我们</a></li></ul></div>\n'
            '<div class="wrap">\n'
        )

    @functools.cached_property
    def foot(self) -> str:
        u = self.urls
        return (
            "</div>\n"
            f'<div class="footer"><p><a href="{u.about}">关于我们</a> | <a href="{u.contact}">联系我们</a> | '
            f'<a href="{u.sitemap}">网站地图</a></p>\n'
            "<p>Copyright &copy; 2012-2019 期刊图书馆 版权所有 本站部分文章来自网络，如有侵权请联系删除</p>"
            "<p>备案号：京ICP备00000000号-1</p></div>\n"
            "<script>show_ad('float_r');</script>\n"
            "</body>\n</html>\n"
        )

    def page(self, title: str, main: str, *, charset: str | None = "utf-8", head_extra: str = "") -> str:
        meta = f'<meta http-equiv="Content-Type" content="text/html; charset={charset}" />\n' if charset else ""
        return f"{_DOCTYPE}{meta}<title>{title}</title>\n{head_extra}{_HEAD_TAIL}{self.top}{main}{self.foot}"

    @functools.cached_property
    def sidebar(self) -> str:
        ctx, u = self.ctx, self.urls
        first_tag = "两学一做"
        return (
            f'<div class="main-right"><div class="box"><h3>热门期刊</h3><ul>{li_links(ctx.hot_journals())}</ul></div>\n'
            f'<div class="box"><h3>最新论文</h3><ul>{li_links(ctx.latest_articles())}</ul></div>\n'
            f'<div class="box"><h3>热门搜索</h3><ul>{li_links(ctx.hot_searches())}'
            f'<li><a href="{u.tag(first_tag)}">{first_tag}</a></li>'
            f'<li><a href="{u.download(ctx.doc_article.id)}" rel="nofollow">下载：{esc(ctx.doc_article.title)}</a></li>'
            "</ul></div>\n"
            f'<div class="box ad"><script>show_ad(\'side_1\');</script><a href="{u.help}">'
            '<img src="/static/img/ad1.jpg" alt="论文发表咨询" /></a></div></div>\n'
        )

    def pager(self, page: int, total: int, url_of: Callable[[int], str] | None = None) -> str:
        """Pagination links, on every listing; ``a.next`` (下一页) only when a next page exists."""
        if total <= 1 or url_of is None:
            return '<div class="pages"><span class="cur">当前页</span></div>'
        parts = page_links(
            page, total, url_of, current='<span class="cur">{n}</span>',
            prev='<a class="prev" href="{href}">上一页</a>', next_='<a class="next" href="{href}">下一页</a>',
        )  # fmt: skip
        return f'<div class="pages">{"".join(parts)}</div>'

    def list_page(self, title: str, position: str, left: str) -> str:
        main = (
            f'<div class="position">当前位置：<a href="/">首页</a> &gt; {position}</div>'
            f'<div class="main-left">{left}</div>{self.sidebar}'
        )
        return self.page(title, main)

    def journal_list(self, journals: Sequence[Journal]) -> str:
        return '<div class="journal-list">' + "".join(f'<a href="{j.path}">{esc(j.name)}</a>' for j in journals) + "</div>"

    # -- listings -----------------------------------------------------------

    def soft_404(self) -> str:
        main = f'<div class="main-left"><h1 class="title">{SOFT_404_H1}</h1><p><a href="/">返回首页</a></p></div>\n'
        return self.page(self.title("页面不存在"), main)

    def home(self, journals: Sequence[Journal], mobile: Article | None) -> str:
        left = self.journal_list(journals) + f'<p><a href="{self.urls.home_more}">更多期刊</a></p>'
        left += self.mobile_links([mobile] if mobile else []) + self.pager(1, 1)
        return self.list_page("期刊图书馆 - 期刊论文在线阅读", "首页", left)

    def journal_index(self, journals: Sequence[Journal], page: int, total: int) -> str:
        left = self.journal_list(journals) + self.paged(self.urls.home_more, page, total)
        return self.list_page(self.title("期刊大全", page), "期刊大全", left)

    def journal_page(self, journal: Journal) -> str:
        issues_html = "".join(f'<li><a href="{iss.path}">{iss.crumb}</a></li>' for iss in reversed(journal.issues))
        left = f'<h2>{esc(journal.name)}</h2><ul class="issue-list">{issues_html}</ul>{self.pager(1, 1)}'
        return self.list_page(self.title(esc(journal.name)), esc(journal.name), left)

    def issue_page(
        self, issue: Issue, entries: Sequence[tuple[str, str, str]], mobiles: Sequence[Article], page: int, total: int
    ) -> str:
        j = issue.journal
        items = "".join(
            f'<li><a href="{href}">{esc(text)}</a>' + (f"<span>{esc(who)}</span>" if who else "") + "</li>"
            for href, text, who in entries
        )
        left = f'<ul class="article-list">{items}</ul>' + (self.mobile_links(mobiles) if page == 1 else "")
        left += self.paged(issue.path, page, total)
        position = f'<a href="{j.path}">{esc(j.name)}</a> &gt; {issue.crumb}'
        return self.list_page(self.title(f"{esc(j.name)}{issue.crumb}", page), position, left)

    # -- the article page ---------------------------------------------------

    def article_page(self, article: Article, rng: random.Random, by_id: dict[str, Article]) -> str:
        p = ArticlePieces(article, rng, self.ctx, by_id)
        h1 = p.title_line()
        body_html, first_para = self.content(p)
        description = first_para.replace(BR, "").replace(NBSP, " ")[:60] + "..."
        head_extra = self.article_head(article, " />") + f'<meta name="description" content="{attr(description)}" />\n'
        info = lines(f"<p>{label}：{value}</p>" for label, value in p.labelled())
        tags = "".join(f"{s};" for s in p.tag_slots())
        main = (
            f'<div class="position">当前位置：<a href="/">首页</a>{self.journal_crumbs(article)} &gt; {h1}</div>\n'
            '<div class="main-left"><div class="article">\n'
            f'<h1 class="title">{h1}</h1>\n'
            "<div class=\"ad ad-top\"><script type=\"text/javascript\">show_ad('art_top');</script></div>\n"
            f'<div class="content" id="content">\n{body_html}</div>\n'
            f'<div class="paper-info">\n{info}</div>\n'
            f'<div class="tags">标签：{tags}</div>\n'
            f'<div class="bottom-title">{h1}</div>\n'
            f'<div class="down"><a href="{self.urls.download(article.id)}" rel="nofollow">下载Doc文档</a></div>\n'
            f'<div class="related"><h3>猜你喜欢</h3><ul>{li_links(p.related())}</ul></div>\n'
            "</div></div>\n"
            f"{self.sidebar}"
        )
        return self.page(self.title(h1), main, charset=charset_of(article), head_extra=head_extra)

    def content(self, p: ArticlePieces) -> tuple[str, str]:
        paras = p.paragraphs()
        extras = p.extras()
        html_out = lines(f'<p style="text-align:center;">{opened}{text}{closed}</p>' for opened, text, closed in p.affiliations())
        if p.a.style.template == "modern":
            html_out += lines(p.scatter([f"<p>{para}</p>" for para in paras], extras))
        else:
            html_out += p.old_body(paras, extras)
        return html_out, p.a.paragraphs[0]
