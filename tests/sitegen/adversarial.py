"""Redesigns written to break assumptions: URL shapes and markup unlike any of ours (issue 12).

The other templates and schemes were written next to the crawler; these imitate another
engineer asked to "redesign the site keeping the visible text". Two URL schemes:

``slashed``: articles at ``/p/<id>/`` (trailing slash), journals at ``/journal/<letters>/``
(a pure-letter slug, which looks like a section word), issues at ``/issue/<number>/`` (a numeric
last segment, as an article's), listings paginated by path (``list_2.html``), mobile copies under
``/mobile/``, downloads at ``/p/<id>/download/`` (the article's id in a chrome URL), and robots.txt
naming a sitemap index that points to a gzipped sitemap.

``bare``: articles at ``/article/detail/<id>`` (no extension), journals at ``/periodical/<letters>``,
issues at ``/periodical/<letters>/<yyyymm>`` (digits, no extension, deeper than articles),
``?page=N`` pagination, mobile copies under ``/m/``, no canonical links, and a sitemap whose name
does not say sitemap.

Two templates keep what a reader sees: ``portal`` (an ``<ol>`` breadcrumb, a ``<header>`` with
nav links, the labels in ``<dl><dt>/<dd>`` above the body, affiliations in ``<p align="center">``,
tags as plain text, a share bar, an ad box whose text is partly outside its link, a 相关推荐 box)
and ``flat`` (``<div>`` soup: labels as ``label：value<br>`` lines after the body, the body as text
split by ``<br><br>``, affiliations in ``<center>``, a 来源 line). Both soft 404s say
"抱歉，您访问的页面不存在或已被删除".
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.sitegen.markup import SiteTemplate, attr, charset_of, esc, journal_links, li_links, meaningless_class, page_links
from tests.sitegen.model import Article, Issue, Journal
from tests.sitegen.noise import Noise, html_text
from tests.sitegen.pieces import ArticlePieces

SOFT_404_TEXT = "抱歉，您访问的页面不存在或已被删除"


# -- templates ---------------------------------------------------------------------------------------


class _Adversarial(SiteTemplate):
    """Listings shared by both looks: plain ``<ul>``s, pagers with 下一页, an ``<ol>`` breadcrumb."""

    def c(self, role: str) -> str:
        return meaningless_class(self.name, role)

    def page(self, title: str, main: str, *, charset: str | None = "utf-8", head_extra: str = "") -> str:
        raise NotImplementedError

    def crumbs(self, items: Sequence[tuple[str | None, str]]) -> str:
        lis = "".join(f'<li><a href="{h}">{t}</a></li>' if h else f"<li>{t}</li>" for h, t in [("/", "首页"), *items])
        return f'<ol class="{self.c("crumb")}">{lis}</ol>\n'

    def pager(self, page: int, total: int, url_of: Callable[[int], str]) -> str:
        if total <= 1:
            return ""
        parts = page_links(page, total, url_of, current="<span>{n}</span>", prev=None)
        return f'<div class="{self.c("pager")}">{" ".join(parts)}</div>\n'

    def listing(self, title: str, crumbs: Sequence[tuple[str | None, str]], inner: str) -> str:
        return self.page(title, self.crumbs(crumbs) + f'<div class="{self.c("list")}">{inner}</div>\n' + self.side())

    def side(self) -> str:
        ctx = self.ctx
        return (
            f'<div class="{self.c("side")}"><h4>热门期刊</h4><ul>{li_links(ctx.hot_journals())}</ul>'
            f"<h4>最新论文</h4><ul>{li_links(ctx.latest_articles())}</ul>"
            f'<ul><li><a href="{self.urls.tag("两学一做")}">两学一做</a></li>'
            f'<li><a href="{self.urls.search("乡村振兴")}">乡村振兴</a></li>'
            f'<li><a href="{self.urls.download(ctx.doc_article.id)}">下载：{esc(ctx.doc_article.title)}</a></li></ul>'
            "</div>\n"
        )

    def soft_404(self) -> str:
        main = f'<div class="{self.c("err")}"><h2>{SOFT_404_TEXT}</h2><p><a href="/">返回首页</a></p></div>\n'
        return self.page("提示信息", main)

    def home(self, journals: Sequence[Journal], mobile: Article | None) -> str:
        inner = f'<ul>{li_links(journal_links(journals))}</ul><a href="{self.urls.home_more}">全部期刊</a>'
        return self.listing("期刊图书馆", [], inner + self.mobile_links([mobile] if mobile else []))

    def journal_index(self, journals: Sequence[Journal], page: int, total: int) -> str:
        inner = f"<ul>{li_links(journal_links(journals))}</ul>" + self.paged(self.urls.home_more, page, total)
        return self.listing(f"全部期刊 第{page}页", [(None, "全部期刊")], inner)

    def journal_page(self, journal: Journal) -> str:
        inner = "<ul>" + li_links((i.path, i.crumb) for i in reversed(journal.issues))
        return self.listing(esc(journal.name), [(None, esc(journal.name))], inner + "</ul>")

    def issue_page(
        self, issue: Issue, entries: Sequence[tuple[str, str, str]], mobiles: Sequence[Article], page: int, total: int
    ) -> str:
        j = issue.journal
        inner = "<ul>" + "".join(
            f'<li><a href="{href}">{esc(text)}</a> {esc(who)}</li>' for href, text, who in entries
        ) + "</ul>"
        inner += (self.mobile_links(mobiles) if page == 1 else "") + self.paged(issue.path, page, total)
        return self.listing(f"{esc(j.name)}{issue.crumb}", [(j.path, esc(j.name)), (None, issue.crumb)], inner)

    def plain_tags(self, p: ArticlePieces, separator: str) -> str:
        """The 标签 line's tags as text, no links (noisy like linked ones)."""
        texts = [
            html_text(p.noisy(tag, Noise(fullwidth=len(tag), zero_width=int(p.rng.random() < 0.2)), body=False,
                              what="tag"))
            for tag in p.a.tags
        ]
        p.q.add("tags_plain_text")
        return separator.join(texts)

    def article_crumbs(self, a: Article, h1: str) -> str:
        items: list[tuple[str | None, str]] = [(a.journal.path, esc(a.journal.name))]
        if not a.null_year:
            items.append((a.issue.path, a.issue.crumb))
        return self.crumbs([*items, (None, h1)])

    def head_extra(self, a: Article) -> str:
        canonical = f'<link rel="canonical" href="{a.path}">\n' if self.urls.canonical else ""
        return canonical + f'<meta name="keywords" content="{attr(a.title)}">\n'


class PortalTemplate(_Adversarial):
    """A portal look: ``<header>`` nav, ``<dl>`` labels above the body, plain-text tags, boxes of chrome."""

    name = "portal"

    def page(self, title: str, main: str, *, charset: str | None = "utf-8", head_extra: str = "") -> str:
        u = self.urls
        meta = f'<meta charset="{charset}">\n' if charset else ""
        return (
            f"<!doctype html>\n<html>\n<head>\n{meta}<title>{title}</title>\n{head_extra}</head>\n<body>\n"
            f'<header><a href="/">期刊图书馆</a><nav><a href="/">首页</a> <a href="{u.home_more}">期刊</a> '
            f'<a href="{u.tags_index}">标签云</a> <a href="{u.login}">登录</a> <a href="{u.register}">注册</a> '
            f'<a href="{u.help}">帮助</a></nav></header>\n<div class="{self.c("body")}">\n{main}</div>\n'
            f'<footer><a href="{u.about}">关于我们</a> <a href="{u.contact}">联系我们</a> '
            f'<a href="{u.sitemap}">网站地图</a> ©2021 期刊图书馆</footer>\n</body>\n</html>\n'
        )

    def article_page(self, article: Article, rng: random.Random, by_id: dict[str, Article]) -> str:
        p = ArticlePieces(article, rng, self.ctx, by_id)
        a, u = article, self.urls
        h1 = p.title_line()
        labels = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in p.labelled())
        affs = "".join(f'<p align="center">{o}{t}{c}</p>\n' for o, t, c in p.affiliations())
        ad = f'<div class="{self.c("ad")}">【广告】<a href="{u.help}">论文发表</a>、期刊投稿咨询，请联系在线客服</div>'
        blocks = p.scatter([f"<p>{x}</p>" for x in p.paragraphs()], [*p.extras(), ad])
        related = li_links(p.related())
        recommend = li_links(journal_links(self.ctx.journals[:2]))
        main = (
            self.article_crumbs(a, h1)
            + f'<div class="{self.c("art")}">\n<h2>{h1}</h2>\n'
            f'<div class="{self.c("share")}">分享：<a href="javascript:;">微信</a> <a href="javascript:;">微博</a></div>\n'
            f'<dl class="{self.c("meta")}">{labels}</dl>\n'
            f"{affs}" + "\n".join(blocks) + "\n"
            f'<p class="{self.c("tags")}">标签：{self.plain_tags(p, "；")}</p>\n'
            f"<p>{h1}</p>\n"
            f'<p><a href="{u.download(a.id)}">下载Doc文档</a></p>\n'
            f'<div class="{self.c("rel")}"><h3>猜你喜欢</h3><ul>{related}</ul></div>\n'
            f'<div class="{self.c("rec")}"><h3>相关推荐</h3><ul>{recommend}</ul></div>\n'
            "</div>\n" + self.side()
        )
        return self.page(f"{h1}-期刊图书馆", main, charset=charset_of(a), head_extra=self.head_extra(a))


class FlatTemplate(_Adversarial):
    """``<div>`` soup: body split by ``<br><br>``, ``label：value<br>`` lines after it, a 来源 line."""

    name = "flat"

    def page(self, title: str, main: str, *, charset: str | None = "utf-8", head_extra: str = "") -> str:
        u = self.urls
        meta = f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">\n' if charset else ""
        return (
            f"<html><head>{meta}<title>{title}</title>\n{head_extra}</head><body>\n"
            f'<div class="{self.c("top")}"><a href="{u.login}">登录</a>|<a href="{u.register}">注册</a></div>\n'
            f'<div class="{self.c("nav")}"><a href="/">首页</a><a href="{u.home_more}">期刊导航</a>'
            f'<a href="{u.tags_index}">热门标签</a></div>\n{main}'
            f'<div class="{self.c("foot")}"><a href="{u.about}">关于我们</a>|<a href="{u.contact}">联系我们</a>'
            "<br>Copyright 期刊图书馆</div>\n</body></html>\n"
        )

    def article_page(self, article: Article, rng: random.Random, by_id: dict[str, Article]) -> str:
        p = ArticlePieces(article, rng, self.ctx, by_id)
        a, u = article, self.urls
        h1 = p.title_line()
        affs = "".join(f"<center>{o}{t}{c}</center>\n" for o, t, c in p.affiliations())
        segments = list(p.paragraphs())
        seps = p.old_separators() if a.style.template != "modern" else ("<br><br>", "<br />\n<br />")
        joined = p.joined(segments, seps)
        lines = "".join(f"{label}：{value}<br>\n" for label, value in p.labelled())
        related = " ".join(f'<a href="{h}">{t}</a>' for h, t in p.related())
        main = (
            self.article_crumbs(a, h1)
            + f'<div class="{self.c("t")}"><b>{h1}</b></div>\n'
            f'<div class="{self.c("src")}">来源：期刊图书馆 作者：编辑部</div>\n'
            f"{affs}<div>{joined}</div>\n"
            f'<div class="{self.c("info")}">{lines}标签：{self.plain_tags(p, ";")}</div>\n'
            f"<div>{h1}</div>\n"
            f'<div><a href="{u.download(a.id)}">下载Doc文档</a></div>\n'
            f"<div>猜你喜欢<br>{related}</div>\n" + self.side()
        )
        return self.page(f"{h1}_期刊图书馆", main, charset=charset_of(a), head_extra=self.head_extra(a))


ADVERSARIAL_TEMPLATES: dict[str, type[SiteTemplate]] = {"portal": PortalTemplate, "flat": FlatTemplate}


# -- serving ---------------------------------------------------------------------------------------


def serve_like_a_real_site(path: str) -> Callable[[BaseHTTPRequestHandler], None] | None:
    """A ``faults`` hook for :class:`tests.siteserver.SiteServer` that serves these schemes as a real
    server would: an extensionless page as HTML (its file is ``<path>/index.html``, see
    ``build.file_for``) and a ``.gz`` sitemap gzipped with the server's base URL inside."""
    last = path.rsplit("/", 1)[-1]
    if last.endswith(".gz"):
        return _serve_gzip
    if last and "." not in last:
        return _serve_extensionless
    return None


def _serve_extensionless(handler: Any) -> None:
    site, query = handler.server.site, urlsplit(handler.path).query
    target = site.resolve(unquote(urlsplit(handler.path).path) + "/", query)
    if target is not None and target.is_file():
        handler.respond(200, target.read_bytes(), "text/html")
    else:
        handler.respond(404, b"Not Found\n", "text/plain")


def _serve_gzip(handler: Any) -> None:
    site = handler.server.site
    target = site.resolve(unquote(urlsplit(handler.path).path))
    if target is None or not target.is_file():
        handler.respond(404, b"Not Found\n", "text/plain")
        return
    data = gzip.decompress(target.read_bytes()).replace(b"{BASE}", site.base_url.encode("ascii"))
    handler.respond(200, gzip.compress(data, mtime=0), "application/x-gzip")
