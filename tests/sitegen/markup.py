"""What every template shares: escaping, encoding, the site context and the template interface."""

from __future__ import annotations

import hashlib
import html
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.sitegen.model import HOME_JOURNALS, Article, Issue, Journal
from tests.sitegen.textrules import BR, GBK_ONLY_CHARS, NBSP
from tests.sitegen.urls import UrlScheme


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def attr(text: str) -> str:
    return html.escape(text, quote=True)


def lines(items: Iterable[str]) -> str:
    """Each item on a line of its own (the templates' block markup is one element a line)."""
    return "".join(f"{item}\n" for item in items)


def li_links(links: Iterable[tuple[str, str]]) -> str:
    """``<li><a>`` items of (href, inline HTML) links: the lists every look's chrome is made of."""
    return "".join(f'<li><a href="{href}">{text}</a></li>' for href, text in links)


def journal_links(journals: Iterable[Journal]) -> list[tuple[str, str]]:
    """(href, name as HTML) of each journal, for :func:`li_links`."""
    return [(j.path, esc(j.name)) for j in journals]


def page_links(
    page: int,
    total: int,
    url_of: Callable[[int], str],
    *,
    current: str,
    other: str = '<a href="{href}">{n}</a>',
    prev: str | None = '<a href="{href}">上一页</a>',
    next_: str = '<a href="{href}">下一页</a>',
) -> list[str]:
    """A pager's parts: previous page (if any and ``prev``), every page number (the current one not
    linked), next page (if any); each look spells them with its own format strings."""
    parts = [prev.format(href=url_of(page - 1))] if prev and page > 1 else []
    parts += [current.format(n=n) if n == page else other.format(href=url_of(n), n=n) for n in range(1, total + 1)]
    if page < total:
        parts.append(next_.format(href=url_of(page + 1)))
    return parts


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [items[:0]]


def meaningless_class(template: str, role: str) -> str:
    """A stable class name such as ``c-3f9a`` that says nothing about what it styles."""
    return "c-" + hashlib.md5(f"{template}:{role}".encode()).hexdigest()[:4]


def encode_page(text: str, encoding: str) -> bytes:
    """UTF-8, or GBK with character references for what GBK lacks (NBSP, zero-width)."""
    if BR in text or NBSP in text:
        raise AssertionError("a noise sentinel leaked into a page")
    if encoding != "gbk":
        return text.encode("utf-8")
    out = []
    for ch in text:
        try:
            out.append(ch.encode("gbk"))
        except UnicodeEncodeError:
            out.append(f"&#{ord(ch)};".encode("ascii"))
    data = b"".join(out)
    if not any(c in text for c in GBK_ONLY_CHARS):
        raise AssertionError("GBK page without a GBK-only character")
    return data


def charset_of(article: Article) -> str | None:
    """The charset an article page declares (None: no declaration at all)."""
    return {"utf-8": "utf-8", "gbk": "gb2312", "utf-8-nometa": None}[article.style.encoding]


def canonical_href(article: Article) -> str:
    """The href of an article's ``<link rel="canonical">``, in the spelling its style draws."""
    return {"root": article.path, "bare": f"{article.id}.html", "dotdot": f"../paper/{article.id}.html"}[
        article.style.canonical
    ]


HOT_SEARCHES = ("两学一做", "乡村振兴")
"""The sidebar's 热门搜索 queries."""


@dataclass
class SiteContext:
    """What every page's chrome links to (the same sidebar everywhere)."""

    journals: list[Journal]
    latest: list[Article]
    doc_article: Article
    urls: UrlScheme

    def hot_journals(self) -> list[tuple[str, str]]:
        """The sidebar's 热门期刊 as (href, inline HTML)."""
        return journal_links(self.journals[:HOME_JOURNALS])

    def latest_articles(self) -> list[tuple[str, str]]:
        """The sidebar's 最新论文 as (href, inline HTML)."""
        return [(a.path, f"{esc(a.title)}论文") for a in self.latest]

    def hot_searches(self) -> list[tuple[str, str]]:
        """The sidebar's 热门搜索 as (href, inline HTML)."""
        return [(self.urls.search(q), esc(q)) for q in HOT_SEARCHES]


class SiteTemplate:
    """One look of the whole site; subclasses render every page type from the same truth.

    A template may render markup as it likes but must keep what a reader sees
    (SPEC "When the site changes"), so one ``expected.jsonl`` holds for all.
    """

    name = "base"
    site_suffix = " - 期刊图书馆"
    """What every <title> ends with (see :meth:`title`)."""
    page_suffix = " 第{}页"
    """What a <title> says after the first page of a listing."""
    mobile_link = '<p><a href="{href}">手机版：{title}</a></p>'
    """One mobile copy's link (home and issue pages)."""

    def __init__(self, ctx: SiteContext):
        self.ctx = ctx
        self.urls = ctx.urls

    def title(self, name: str, page: int = 1) -> str:
        """A page's <title>: its name, the page number past page 1, the site's name."""
        return name + ("" if page == 1 else self.page_suffix.format(page)) + self.site_suffix

    def mobile_links(self, articles: Iterable[Article]) -> str:
        return "".join(self.mobile_link.format(href=self.urls.mobile(a.path), title=esc(a.title)) for a in articles)

    def pager(self, page: int, total: int, url_of: Callable[[int], str]) -> str:
        """Links to the pages of a listing (``url_of(k)``: page k)."""
        raise NotImplementedError

    def paged(self, first_page: str, page: int, total: int) -> str:
        """The pager of the listing whose page 1 is at ``first_page``."""
        return self.pager(page, total, lambda k: self.urls.paged(first_page, k))

    def journal_crumbs(self, article: Article) -> str:
        """`` > journal > issue`` of an article's breadcrumb (no issue when the year is unknown)."""
        j, iss = article.journal, article.issue
        issue = "" if article.null_year else f' &gt; <a href="{iss.path}">{iss.crumb}</a>'
        return f' &gt; <a href="{j.path}">{esc(j.name)}</a>{issue}'

    def article_head(self, article: Article, end: str = ">") -> str:
        """The canonical link (where the scheme has them) and keywords meta; ``end`` closes a void tag."""
        canonical = f'<link rel="canonical" href="{canonical_href(article)}"{end}\n' if self.urls.canonical else ""
        return canonical + f'<meta name="keywords" content="{attr(article.title)},{attr(",".join(article.tags))}"{end}\n'

    def article_page(self, article: Article, rng: random.Random, by_id: dict[str, Article]) -> str:
        raise NotImplementedError

    def soft_404(self) -> str:
        raise NotImplementedError

    def home(self, journals: Sequence[Journal], mobile: Article | None) -> str:
        raise NotImplementedError

    def journal_index(self, journals: Sequence[Journal], page: int, total: int) -> str:
        raise NotImplementedError

    def journal_page(self, journal: Journal) -> str:
        raise NotImplementedError

    def issue_page(
        self, issue: Issue, entries: Sequence[tuple[str, str, str]], mobiles: Sequence[Article], page: int, total: int
    ) -> str:
        """Page ``page`` of ``total`` of an issue: (href, title, authors) entries, mobile links on page 1."""
        raise NotImplementedError
