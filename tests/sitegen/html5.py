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

from tests.sitegen.markup import SiteTemplate, charset_of, esc, journal_links, li_links, lines, meaningless_class, page_links
from tests.sitegen.model import Article, Issue, Journal
from tests.sitegen.pieces import ArticlePieces


def _c(role: str) -> str:
    return meaningless_class("html5", role)


class Html5Template(SiteTemplate):
    """New markup over the same pieces; the reader sees the same lines in the same order (labels moved up)."""

    name = "html5"
    site_suffix = "_期刊图书馆"
    page_suffix = "_第{}页"
    mobile_link = '<p><a href="{href}">手机阅读：{title}</a></p>'

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
        return (
            f'<aside class="{_c("side")}">\n'
            f'<section class="{_c("box")}"><h3>热门期刊</h3><ul>{li_links(ctx.hot_journals())}</ul></section>\n'
            f'<section class="{_c("box")}"><h3>最新论文</h3><ul>{li_links(ctx.latest_articles())}</ul></section>\n'
            f'<section class="{_c("box")}"><h3>热门搜索</h3><ul>{li_links(ctx.hot_searches())}'
            f'<li><a href="{u.tag("两学一做")}">两学一做</a></li>'
            f'<li><a href="{u.download(ctx.doc_article.id)}" rel="nofollow">下载：{esc(ctx.doc_article.title)}</a></li>'
            "</ul></section>\n"
            f'<div class="{_c("side-ad")}"><a href="{u.help}"><img src="/static/v2/ad.png" alt="论文发表咨询"></a></div>\n'
            "</aside>\n"
        )

    def pager(self, page: int, total: int, url_of: Callable[[int], str]) -> str:
        if total <= 1:
            return ""
        parts = page_links(page, total, url_of, current="<b>{n}</b>")
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
        return self.page(self.title("页面未找到"), main)

    def home(self, journals: Sequence[Journal], mobile: Article | None) -> str:
        inner = f'<h2>推荐期刊</h2><ul class="{_c("journals")}">{li_links(journal_links(journals))}</ul>'
        inner += f'<p><a href="{self.urls.home_more}">更多期刊 »</a></p>' + self.mobile_links([mobile] if mobile else [])
        return self.list_page("期刊图书馆_期刊论文在线阅读", "", inner)

    def journal_index(self, journals: Sequence[Journal], page: int, total: int) -> str:
        inner = f'<h2>期刊导航</h2><ul class="{_c("journals")}">{li_links(journal_links(journals))}</ul>'
        inner += self.paged(self.urls.home_more, page, total)
        return self.list_page(self.title("期刊导航", page), " &gt; 期刊导航", inner)

    def journal_page(self, journal: Journal) -> str:
        items = li_links((iss.path, iss.crumb) for iss in reversed(journal.issues))
        inner = f'<h2>{esc(journal.name)}</h2><h3>往期目录</h3><ul class="{_c("issues")}">{items}</ul>'
        return self.list_page(self.title(esc(journal.name)), f" &gt; {esc(journal.name)}", inner)

    def issue_page(
        self, issue: Issue, entries: Sequence[tuple[str, str, str]], mobiles: Sequence[Article], page: int, total: int
    ) -> str:
        j = issue.journal
        items = "".join(
            f'<li><a href="{href}">{esc(text)}</a>' + (f" <em>{esc(who)}</em>" if who else "") + "</li>"
            for href, text, who in entries
        )
        inner = f'<h2>{esc(j.name)} {issue.crumb}</h2><ul class="{_c("articles")}">{items}</ul>'
        inner += (self.mobile_links(mobiles) if page == 1 else "") + self.paged(issue.path, page, total)
        crumbs = f' &gt; <a href="{j.path}">{esc(j.name)}</a> &gt; {issue.crumb}'
        return self.list_page(self.title(f"{esc(j.name)}{issue.crumb}", page), crumbs, inner)

    # -- the article page ---------------------------------------------------

    def article_page(self, article: Article, rng: random.Random, by_id: dict[str, Article]) -> str:
        p = ArticlePieces(article, rng, self.ctx, by_id)
        h1 = p.title_line()
        colon = rng.choice(("：", ":", ": "))
        p.q.add("label_colon_" + {"：": "full", ":": "half", ": ": "half_space"}[colon])
        labels = "".join(f"<li>{label}{colon}{value}</li>" for label, value in p.labelled())
        body = self.body(p)
        tags = "".join(f"{s};" for s in p.tag_slots())
        u = self.urls
        main = (
            f'<main class="{_c("main")}">\n'
            f'<nav class="{_c("crumb")}">您的位置：<a href="/">首页</a>{self.journal_crumbs(article)} &gt; <span>{h1}</span></nav>\n'
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
            f'<p><a href="{u.download(article.id)}" rel="nofollow">下载Doc文档</a></p></footer>\n'
            "</article>\n"
            f'<section class="{_c("more")}"><h3>猜你喜欢</h3><ul>{li_links(p.related())}</ul></section>\n'
            "</main>\n"
            f"{self.sidebar}"
        )
        return self.page(self.title(h1), main, charset=charset_of(article), head_extra=self.article_head(article))

    def body(self, p: ArticlePieces) -> str:
        """Affiliations centred, then the paragraphs as ``<section>``s or as ``<p>``s in a div."""
        rng, q = p.rng, p.q
        paras = p.paragraphs()
        extras = p.extras()
        centre = rng.choice(("center", "align"))
        q.add(f"centre_{centre}")
        affs = lines(
            f"<center>{o}{t}{c}</center>" if centre == "center" else f'<p align="center">{o}{t}{c}</p>'
            for o, t, c in p.affiliations()
        )
        if p.a.style.template == "modern":
            as_sections = rng.random() < 0.5
            q.add("paragraphs_" + ("section" if as_sections else "p_in_div"))
            blocks = [f'<section class="{_c("para")}">{x}</section>' if as_sections else f"<p>{x}</p>" for x in paras]
            inner = lines(p.scatter(blocks, extras))
        else:
            inner = p.old_body(paras, extras)
        return f'<section class="{_c("body")}">\n{affs}<div class="{_c("text")}">\n{inner}</div>\n</section>\n'
