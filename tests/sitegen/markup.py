"""What every template shares: escaping, encoding, the site context and the template interface."""

from __future__ import annotations

import hashlib
import html
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.sitegen.model import Article, Issue, Journal
from tests.sitegen.textrules import BR, GBK_ONLY_CHARS, NBSP
from tests.sitegen.urls import UrlScheme


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def attr(text: str) -> str:
    return html.escape(text, quote=True)


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


@dataclass
class SiteContext:
    """What every page's chrome links to (the same sidebar everywhere)."""

    journals: list[Journal]
    latest: list[Article]
    doc_article: Article
    urls: UrlScheme


class SiteTemplate:
    """One look of the whole site; subclasses render every page type from the same truth.

    A template may render markup as it likes but must keep what a reader sees
    (SPEC "When the site changes"), so one ``expected.jsonl`` holds for all.
    """

    name = "base"

    def __init__(self, ctx: SiteContext):
        self.ctx = ctx
        self.urls = ctx.urls

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
