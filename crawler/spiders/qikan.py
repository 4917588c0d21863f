"""The ``qikan`` spider: discovers and fetches, nothing more.

It walks home → journal index (paginated) → journal → issue (paginated) →
article, plus the sitemap named in robots.txt, and yields every response as a
:class:`~pipelines.rawpage.RawPage`. It never parses article fields: that is
the item pipelines' job, so that crawl, replay and rebuild share one code path.

Usage::

    scrapy crawl qikan -a start_url=http://127.0.0.1:8000/ [-a journal=<slug>] [-a refetch=all]

Which known articles to skip (incremental crawling) is decided by
:class:`crawler.incremental.IncrementalMiddleware`, not here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from twisted.python.failure import Failure

from pipelines import urls
from pipelines.rawpage import RawPage
from pipelines.urls import PageKind

SLUG_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FOLLOWED_LISTINGS = {PageKind.HOME, PageKind.JOURNAL_INDEX, PageKind.JOURNAL, PageKind.ISSUE}


def raw_page_from_response(response: Response) -> RawPage:
    """The response as the pipelines want it: URL, status, headers, bytes, fetch time."""
    redirects = response.request.meta.get("redirect_urls") if response.request else None
    return RawPage(
        url=response.url,
        status=response.status,
        headers={k: v for k, v in response.headers.to_unicode_dict().items()},
        body=response.body,
        fetched_at=dt.datetime.now(dt.timezone.utc),
        request_url=redirects[0] if redirects else None,
    )


class QikanSpider(scrapy.Spider):
    name = "qikan"

    def __init__(
        self, start_url: str | None = None, journal: str | None = None, refetch: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if not start_url:
            raise ValueError("the qikan spider needs -a start_url=URL (the site's home page)")
        parts = urlsplit(start_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"start_url must be an http(s) URL, got {start_url!r}")
        if journal is not None and not SLUG_RE.match(journal):
            raise ValueError(f"journal must be a slug such as qk000, got {journal!r}")
        self.start_url = start_url
        self.base_url = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        if refetch not in (None, "", "all", "none"):
            raise ValueError(f"refetch must be 'all' (fetch stored articles again) or 'none', got {refetch!r}")
        self.journal = journal
        self.refetch = refetch or "none"
        self.allowed_domains = [parts.hostname]

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.journal:
            yield self._request(f"{self.base_url}/journal/{self.journal}/")
            return
        yield self._request(self.start_url)
        yield scrapy.Request(
            f"{self.base_url}/robots.txt", callback=self.parse_robots, errback=self.on_error
        )

    # -- callbacks -------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[RawPage | scrapy.Request]:
        """Any HTML page: hand it on, then follow the links the site's layout says matter."""
        self._count(response.url)
        yield raw_page_from_response(response)
        if isinstance(response, TextResponse):
            yield from self._follow_links(response)

    def parse_robots(self, response: Response) -> Iterator[RawPage | scrapy.Request]:
        self._count(response.url)
        yield raw_page_from_response(response)
        sitemaps = [u for u in sitemap_urls_from_robots(response.body, base_url=response.url) if self._on_site(u)]
        for sitemap_url in sitemaps or [f"{self.base_url}/sitemap.xml"]:
            yield scrapy.Request(sitemap_url, callback=self.parse_sitemap, errback=self.on_error)

    def parse_sitemap(self, response: Response) -> Iterator[RawPage | scrapy.Request]:
        self._count(response.url)
        yield raw_page_from_response(response)
        body = response.body
        try:
            if body[:2] == b"\x1f\x8b":
                body = gunzip(body, max_size=self.settings.getint("DOWNLOAD_MAXSIZE"))
            sitemap = Sitemap(body)  # lxml with entities off and no network: safe on hostile XML
        except Exception as exc:  # a gzip bomb, corrupt gzip or XML that is not a sitemap
            self.logger.warning("Unreadable sitemap %s: %r", response.url, exc)
            self.crawler.stats.inc_value("qikan/errors/sitemap_unreadable")
            return
        yield from self._sitemap_requests(response.url, sitemap)
        if any(error.level_name == "FATAL" for error in sitemap.xmliter.error_log):
            # the parse stopped early (an entity bomb hits libxml2's limit): entries after it are lost
            self.logger.warning("Sitemap %s is broken; only the entries before the error were read", response.url)
            self.crawler.stats.inc_value("qikan/errors/sitemap_unreadable")

    def _sitemap_requests(self, sitemap_url: str, sitemap: Sitemap) -> Iterator[scrapy.Request]:
        for entry in sitemap:
            loc = urls.resolve(sitemap_url, entry.get("loc", ""))
            if not self._on_site(loc):
                continue
            if sitemap.type == "sitemapindex":
                yield scrapy.Request(loc, callback=self.parse_sitemap, errback=self.on_error)
            elif urls.page_kind(loc) is PageKind.ARTICLE:
                yield self._article_request(loc, lastmod=entry.get("lastmod"))

    def on_error(self, failure: Failure) -> Iterator[RawPage]:
        """A fetch that failed still becomes a raw page, so it ends up in rejects."""
        request = failure.request  # type: ignore[attr-defined]
        if failure.check(HttpError):
            response = failure.value.response
            self._count(response.url)
            yield raw_page_from_response(response)
            return
        if failure.check(IgnoreRequest):
            error = f"filtered: {failure.getErrorMessage() or failure.type.__name__}"
        else:
            error = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        # Recorded under the URL that was asked for, not the last hop of a redirect chain.
        asked = (request.meta.get("redirect_urls") or [request.url])[0]
        if asked != request.url:
            error = f"{error} (last hop {request.url})"
        self.logger.warning("Fetch failed for %s: %s", asked, error)
        yield RawPage(url=asked, status=0, error=error)

    # -- discovery ---------------------------------------------------------------

    def _follow_links(self, response: TextResponse) -> Iterator[scrapy.Request]:
        if self.journal:
            # A one-journal crawl follows only that journal's own listings and articles.
            links = response.css("ul.issue-list a, ul.article-list a, div.pages a")
        else:
            links = response.css("a")
        for href in dict.fromkeys(links.xpath("@href").getall()):  # each distinct link once per page
            url = urls.resolve(response.url, href)
            if not self._on_site(url):
                continue
            kind = urls.page_kind(url)
            if kind is PageKind.ARTICLE:
                yield self._article_request(url)
            elif kind in FOLLOWED_LISTINGS and self._in_scope(url, kind):
                yield self._request(url)

    def _article_request(self, url: str, lastmod: str | None = None) -> scrapy.Request:
        canonical = urls.canonical_article_url(url)
        assert canonical is not None
        if canonical != url:
            self.crawler.stats.inc_value("qikan/alias_urls_seen")
        self.crawler.stats.inc_value("qikan/article_links_seen")
        meta = {"lastmod": lastmod} if lastmod else None
        return self._request(canonical, priority=10, meta=meta)

    def _request(self, url: str, priority: int = 0, meta: dict[str, Any] | None = None) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse, errback=self.on_error, priority=priority, meta=meta)

    def _in_scope(self, url: str, kind: PageKind) -> bool:
        if not self.journal:
            return True
        return kind in (PageKind.JOURNAL, PageKind.ISSUE) and urls.journal_slug(url) == self.journal

    def _on_site(self, url: str) -> bool:
        return urlsplit(url).scheme in ("http", "https") and urls.same_site(url, self.base_url)

    def _count(self, url: str) -> None:
        self.crawler.stats.inc_value(f"qikan/fetched/{urls.page_kind(url).value}")
