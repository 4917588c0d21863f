"""The html5 template: a redesign with new markup and the same visible text.

``<article>/<header>/<section>/<aside>/<nav>``, meaningless class names
(``c-3f9a``), no ``h1.title``/``div.content``/``div.paper-info``/``div.position``/
``div.tags``; the labelled lines sit in a ``<ul>`` ABOVE the body with ":" or
"：", affiliations are centred by ``<center>`` or ``align="center"``, and new
chrome appears (a 来源 line, share links, a second ad box).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence

from tests.sitegen.markup import SiteTemplate, attr, charset_of, esc, meaningless_class
from tests.sitegen.model import HOME_JOURNALS, Article, Issue, Journal
from tests.sitegen.pieces import ArticlePieces


def _c(role: str) -> str:
    return meaningless_class("html5", role)


class Html5Template(SiteTemplate):
    """New markup over the same pieces; the reader sees the same lines in the same order (labels moved up)."""

    name = "html5"

    def page(self, title: str, main: str, *, charset: str | None = "utf-8", head_extra: str = "") -> str:
        u = self.urls
        meta = f'<meta charset="{charset}">\n' if charset else ""
        return (
            f'<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n{meta}'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n{head_extra}"
            '<link rel="stylesheet" href="/static/v2/app.css">\n'
            '<script src="/static/v2/app.js" defer></script>\n</head>\n<body>\n'
            f'<header class="{_c("top")}"><div class="{_c("logo")}"><a href="/">'
            '<img src="/static/v2/logo.svg" alt="期刊图书馆"></a></div>\n'
            f'<nav class="{_c("menu")}"><a href="/">首页</a> <a href="{u.home_more}">期刊导航</a> '
            f'<a href="{u.tags_index}">热门话题</a> <a href="{u.help}">投稿须知</a></nav>\n'
            f'<div class="{_c("user")}"><a href="{u.login}">登录</a> <a href="{u.register}">注册</a></div>\n'
            f'<form class="{_c("search")}" action="{u.search_base.split("?")[0]}" method="get">'
            '<input type="search" name="q" placeholder="搜索论文"><button>搜索</button></form>\n'
            "</header>\n"
            f'<div class="{_c("wrap")}">\n{main}</div>\n'
            f'<footer class="{_c("foot")}"><nav><a href="{u.about}">关于我们</a> · <a href="{u.contact}">联系我们</a>'
            f' · <a href="{u.sitemap}">网站地图</a></nav>\n'
            "<p>© 2012-2020 期刊图书馆 版权所有</p><p>备案号：京ICP备00000000号-1</p></footer>\n"
            "</body>\n</html>\n"
        )

    @functools.cached_property
    def sidebar(self) -> str:
        ctx, u = self.ctx, self.urls
        hot = "".join(f'<li><a href="{j.path}">{esc(j.name)}</a></li>' for j in ctx.journals[:HOME_JOURNALS])
        latest = "".join(f'<li><a href="{a.path}">{esc(a.title)}论文</a></li>' for a in ctx.latest)
        searches = "".join(f'<li><a href="{u.search(q)}">{esc(q)}</a></li>' for q in ("两学一做", "乡村振兴"))
        return (
            f'<aside class="{_c("side")}">\n'
            f'<section class="{_c("box")}"><h3>热门期刊</h3><ul>{hot}</ul></section>\n'
            f'<section class="{_c("box")}"><h3>最新论文</h3><ul>{latest}</ul></section>\n'
            f'<section class="{_c("box")}"><h3>热门搜索</h3><ul>{searches}'
            f'<li><a href="{u.tag("两学一做")}">两学一做</a></li>'
            f'<li><a href="{u.download(ctx.doc_article.id)}" rel="nofollow">下载：{esc(ctx.doc_article.title)}</a></li>'
            "</ul></section>\n"
            f'<div class="{_c("side-ad")}"><a href="{u.help}"><img src="/static/v2/ad.png" alt="论文发表咨询"></a></div>\n'
            "</aside>\n"
        )

    def pager(self, page: int, total: int, url_of: Callable[[int], str]) -> str:
        if total <= 1:
            return ""
        parts = [f'<a href="{url_of(page - 1)}">上一页</a>'] if page > 1 else []
        parts += [f"<b>{p}</b>" if p == page else f'<a href="{url_of(p)}">{p}</a>' for p in range(1, total + 1)]
        if page < total:
            parts.append(f'<a href="{url_of(page + 1)}">下一页</a>')
        return f'<nav class="{_c("pager")}">{" ".join(parts)}</nav>'

    def list_page(self, title: str, crumbs: str, inner: str) -> str:
        main = (
            f'<main class="{_c("main")}"><nav class="{_c("crumb")}">您的位置：<a href="/">首页</a>{crumbs}</nav>\n'
            f'<section class="{_c("list")}">{inner}</section></main>\n{self.sidebar}'
        )
        return self.page(title, main)

    def soft_404(self) -> str:
        main = (
            f'<main class="{_c("main")}"><section class="{_c("empty")}"><h2>抱歉！您访问的页面不存在或已被删除</h2>'
            '<p>请检查网址是否正确，或<a href="/">返回首页</a>继续浏览。</p></section></main>\n'
        )
        return self.page("页面未找到_期刊图书馆", main)

    def home(self, journals: Sequence[Journal], mobile: Article | None) -> str:
        items = "".join(f'<li><a href="{j.path}">{esc(j.name)}</a></li>' for j in journals)
        inner = f'<h2>推荐期刊</h2><ul class="{_c("journals")}">{items}</ul>'
        inner += f'<p><a href="{self.urls.home_more}">更多期刊 »</a></p>'
        if mobile:
            inner += f'<p><a href="{self.urls.mobile(mobile.path)}">手机阅读：{esc(mobile.title)}</a></p>'
        return self.list_page("期刊图书馆_期刊论文在线阅读", "", inner)

    def journal_index(self, journals: Sequence[Journal], page: int, total: int) -> str:
        items = "".join(f'<li><a href="{j.path}">{esc(j.name)}</a></li>' for j in journals)
        inner = f'<h2>期刊导航</h2><ul class="{_c("journals")}">{items}</ul>'
        inner += self.pager(page, total, lambda k: self.urls.paged(self.urls.home_more, k))
        title = "期刊导航_期刊图书馆" if page == 1 else f"期刊导航_第{page}页_期刊图书馆"
        return self.list_page(title, " &gt; 期刊导航", inner)

    def journal_page(self, journal: Journal) -> str:
        items = "".join(f'<li><a href="{iss.path}">{iss.crumb}</a></li>' for iss in reversed(journal.issues))
        inner = f'<h2>{esc(journal.name)}</h2><h3>往期目录</h3><ul class="{_c("issues")}">{items}</ul>'
        return self.list_page(f"{esc(journal.name)}_期刊图书馆", f" &gt; {esc(journal.name)}", inner)

    def issue_page(
        self, issue: Issue, entries: Sequence[tuple[str, str, str]], mobiles: Sequence[Article], page: int, total: int
    ) -> str:
        j = issue.journal
        items = "".join(
            f'<li><a href="{href}">{esc(text)}</a>' + (f" <em>{esc(who)}</em>" if who else "") + "</li>"
            for href, text, who in entries
        )
        inner = f'<h2>{esc(j.name)} {issue.crumb}</h2><ul class="{_c("articles")}">{items}</ul>'
        if page == 1:
            inner += "".join(
                f'<p><a href="{self.urls.mobile(a.path)}">手机阅读：{esc(a.title)}</a></p>' for a in mobiles
            )
        inner += self.pager(page, total, lambda k: self.urls.paged(issue.path, k))
        title = f"{esc(j.name)}{issue.crumb}" + ("" if page == 1 else f"_第{page}页") + "_期刊图书馆"
        crumbs = f' &gt; <a href="{j.path}">{esc(j.name)}</a> &gt; {issue.crumb}'
        return self.list_page(title, crumbs, inner)

    # -- the article page ---------------------------------------------------

    def article_page(self, article: Article, rng: random.Random, by_id: dict[str, Article]) -> str:
        p = ArticlePieces(article, rng, self.ctx, by_id)
        a, st, q = article, article.style, article.quirks
        h1 = p.title_line()
        colon = rng.choice(("：", ":", ": "))
        q.add("label_colon_" + {"：": "full", ":": "half", ": ": "half_space"}[colon])
        labels = "".join(f"<li>{label}{colon}{value}</li>" for label, value in p.labelled())
        head_extra = ""
        if self.urls.canonical:
            canonical = {"root": a.path, "bare": f"{a.id}.html", "dotdot": f"../paper/{a.id}.html"}[st.canonical]
            head_extra += f'<link rel="canonical" href="{canonical}">\n'
        head_extra += f'<meta name="keywords" content="{attr(a.title)},{attr(",".join(a.tags))}">\n'
        j, iss = a.journal, a.issue
        issue_crumb = "" if a.null_year else f' &gt; <a href="{iss.path}">{iss.crumb}</a>'
        body = self.body(p)
        tags = "".join(f"{s};" for s in p.tag_slots())
        related = "".join(f'<li><a href="{href}">{esc(title)}</a></li>' for href, title in p.related())
        u = self.urls
        main = (
            f'<main class="{_c("main")}">\n'
            f'<nav class="{_c("crumb")}">您的位置：<a href="/">首页</a> &gt; <a href="{j.path}">{esc(j.name)}</a>'
            f"{issue_crumb} &gt; <span>{h1}</span></nav>\n"
            f'<article class="{_c("paper")}">\n'
            f'<header class="{_c("head")}"><h1 class="{_c("h")}">{h1}</h1>\n'
            f'<div class="{_c("src")}">来源：期刊图书馆</div>\n'
            f'<ul class="{_c("meta")}">{labels}</ul>\n'
            f'<div class="{_c("share")}">分享到：<a href="javascript:;">微博</a> <a href="javascript:;">微信</a> '
            '<a href="javascript:;">QQ空间</a></div>\n'
            "</header>\n"
            f"{body}"
            f'<div class="{_c("promo")}"><a href="{u.help}">【推荐】职称论文发表、期刊投稿指导，快速见刊</a></div>\n'
            f'<div class="{_c("kw")}">标签{colon}{tags}</div>\n'
            f'<footer class="{_c("tail")}"><p>{h1}</p>\n'
            f'<p><a href="{u.download(a.id)}" rel="nofollow">下载Doc文档</a></p></footer>\n'
            "</article>\n"
            f'<section class="{_c("more")}"><h3>猜你喜欢</h3><ul>{related}</ul></section>\n'
            "</main>\n"
            f"{self.sidebar}"
        )
        return self.page(f"{h1}_期刊图书馆", main, charset=charset_of(a), head_extra=head_extra)

    def body(self, p: ArticlePieces) -> str:
        """Affiliations centred, then the paragraphs as ``<section>``s or as ``<p>``s in a div."""
        st, rng, q = p.a.style, p.rng, p.a.quirks
        paras = p.paragraphs()
        extras = p.extras()
        centre = rng.choice(("center", "align"))
        q.add(f"centre_{centre}")
        affs = "".join(
            f"<center>{o}{t}{c}</center>\n" if centre == "center" else f'<p align="center">{o}{t}{c}</p>\n'
            for o, t, c in p.affiliations()
        )
        if st.template == "modern":
            as_sections = rng.random() < 0.5
            q.add("paragraphs_" + ("section" if as_sections else "p_in_div"))
            blocks = [f'<section class="{_c("para")}">{x}</section>' if as_sections else f"<p>{x}</p>" for x in paras]
            for extra in extras:
                blocks.insert(rng.randint(1, len(blocks)), extra)
            inner = "".join(f"{b}\n" for b in blocks)
        else:
            q.add(f"template_{st.template}")
            seps = p.old_separators()
            joined = paras[0]
            for para in paras[1:]:
                joined += rng.choice(seps) + para
            if st.old_trailing_br:
                joined += "<br /><br />"
                q.add("old_trailing_br")
            tag = "p" if st.template == "old_p" else "div"
            inner = f"<{tag}>{joined}</{tag}>\n" + "".join(f"{e}\n" for e in extras)
        return f'<section class="{_c("body")}">\n{affs}<div class="{_c("text")}">\n{inner}</div>\n</section>\n'
