"""URL shapes: what the spider follows, and the canonical URL of an article."""

from __future__ import annotations

import pytest

from crawler.middlewares import parse_retry_after
from pipelines.urls import PageKind, article_id, canonical_article_url, page_kind, resolve

BASE = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/", PageKind.HOME),
        ("/journals/", PageKind.JOURNAL_INDEX),
        ("/journals/index_3.html", PageKind.JOURNAL_INDEX),
        ("/journal/qk000/", PageKind.JOURNAL),
        ("/journal/qk000/2019-06/", PageKind.ISSUE),
        ("/journal/qk000/2019-06/index_2.html", PageKind.ISSUE),
        ("/paper/442798.html", PageKind.ARTICLE),
        ("/paper/442798.html?from=related", PageKind.ARTICLE),
        ("/m/paper/442798.html", PageKind.ARTICLE),
        ("/sitemap.xml", PageKind.SITEMAP),
        ("/robots.txt", PageKind.ROBOTS),
        ("/tag/d5a8bcb4.html", PageKind.EXCLUDED),
        ("/doc/442798.doc", PageKind.EXCLUDED),
        ("/search.php?q=x", PageKind.EXCLUDED),
        ("/login.html", PageKind.EXCLUDED),
        ("/reg.html", PageKind.EXCLUDED),
        ("/help.html", PageKind.OTHER),
        ("/paper/abc.html", PageKind.OTHER),
        ("/paper/12.html/x", PageKind.OTHER),
    ],
)
def test_page_kind(path: str, kind: PageKind) -> None:
    assert page_kind(BASE + path) is kind


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/paper/442798.html",
        f"{BASE}/paper/442798.html?from=related",
        f"{BASE}/paper/442798.html#comments",
        f"{BASE}/m/paper/442798.html",
        f"{BASE}/m/paper/442798.html?from=app",
    ],
)
def test_every_url_of_an_article_has_one_canonical_form(url: str) -> None:
    assert canonical_article_url(url) == f"{BASE}/paper/442798.html"
    assert article_id(url) == "442798"


def test_non_articles_have_no_canonical_article_url() -> None:
    assert canonical_article_url(f"{BASE}/doc/442798.doc") is None
    assert article_id(f"{BASE}/journal/qk000/") is None


def test_relative_canonical_resolves_against_the_page() -> None:
    assert resolve(f"{BASE}/m/paper/1.html", "/paper/1.html") == f"{BASE}/paper/1.html"
    assert resolve(f"{BASE}/m/paper/1.html", "../../paper/1.html#x") == f"{BASE}/paper/1.html"


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after(b"7") == 7.0
    assert parse_retry_after("Wed, 25 Nov 2026 10:00:30 GMT", now=1795600800.0) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
