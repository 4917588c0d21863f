"""URL rules that hold on every site: article ids, tracking parameters, mobile copies."""

from __future__ import annotations

import pytest

from crawler.middlewares import parse_retry_after
from pipelines.urls import (
    article_id,
    canonical_article_url,
    desktop_url,
    looks_like_article_url,
    resolve,
    strip_tracking,
)

BASE = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/paper/442798.html", "442798"),
        ("/a/2019/06/442798.html", "442798"),
        ("/m/paper/442798.html?from=app", "442798"),
        ("/article/442798", "442798"),
        ("/journal/qk000/2019-06/", "06"),  # the rule is the path's last digit run; the spider knows listings
        ("/help.html", None),
        ("/paper/١٢٣.html", None),  # ASCII digits only
    ],
)
def test_article_id_is_the_last_digit_run_of_the_path(path: str, expected: str | None) -> None:
    assert article_id(BASE + path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/paper/442798.html", True),
        ("/a/2019/06/442798.html", True),
        ("/article/442798", True),
        ("/article/442798/", True),
        ("/journal/qk000/2019-06/", False),
        ("/journals/index_2.html", False),
        ("/qikan/qk000/2019-06.html?page=2", False),
        ("/", False),
    ],
)
def test_looks_like_article_url(path: str, expected: bool) -> None:
    assert looks_like_article_url(BASE + path) is expected


def test_tracking_parameters_never_make_a_different_page() -> None:
    assert strip_tracking(f"{BASE}/paper/1.html?from=related") == f"{BASE}/paper/1.html"
    assert strip_tracking(f"{BASE}/paper/1.html?utm_source=x&spm=a.b&ref=home#top") == f"{BASE}/paper/1.html"
    assert strip_tracking(f"{BASE}/qikan/?page=2&from=nav") == f"{BASE}/qikan/?page=2"
    assert strip_tracking(f"{BASE}/qikan/?page=2") != strip_tracking(f"{BASE}/qikan/?page=3")


@pytest.mark.parametrize(
    ("url", "desktop"),
    [
        ("http://example.com/m/paper/1.html", "http://example.com/paper/1.html"),
        ("http://example.com/wap/a/2019/06/1.html", "http://example.com/a/2019/06/1.html"),
        ("http://m.example.com/paper/1.html", "http://example.com/paper/1.html"),
        ("http://wap.example.com:8080/mobile/paper/1.html", "http://example.com:8080/paper/1.html"),
        ("http://example.com/paper/1.html", "http://example.com/paper/1.html"),
        ("http://other.org/m/paper/1.html", "http://other.org/paper/1.html"),  # off-site stays off-site
        ("http://example.com/m/", "http://example.com/"),  # the mobile home is the home
        ("http://example.com/m", "http://example.com/m"),  # a bare word is a page of its own
        ("http://example.com/m/m/paper/1.html", "http://example.com/paper/1.html"),  # make fuzz: a fixed point
        ("http://example.com/m/wap/", "http://example.com/"),
        ("http://example.com/m/m", "http://example.com/m"),
    ],
)
def test_mobile_copies_map_to_the_desktop_url(url: str, desktop: str) -> None:
    site = "http://example.com:8080" if ":8080" in url else "http://example.com"
    assert desktop_url(url, site) == desktop


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/paper/442798.html",
        f"{BASE}/paper/442798.html?from=related",
        f"{BASE}/paper/442798.html#comments",
        f"{BASE}/m/paper/442798.html",
        f"{BASE}/m/paper/442798.html?from=app",
        f"{BASE}/m/m/paper/442798.html",
    ],
)
def test_every_url_of_an_article_has_one_canonical_form(url: str) -> None:
    assert canonical_article_url(url) == f"{BASE}/paper/442798.html"
    assert canonical_article_url(canonical_article_url(url) or "") == f"{BASE}/paper/442798.html"
    assert article_id(url) == "442798"


def test_relative_canonical_resolves_against_the_page() -> None:
    assert resolve(f"{BASE}/m/paper/1.html", "/paper/1.html") == f"{BASE}/paper/1.html"
    assert resolve(f"{BASE}/m/paper/1.html", "../../paper/1.html#x") == f"{BASE}/paper/1.html"
    assert resolve(f"{BASE}/", "http://[::1") == ""


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after(b"7") == 7.0
    assert parse_retry_after("Wed, 25 Nov 2026 10:00:30 GMT", now=1795600800.0) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
