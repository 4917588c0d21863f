"""The ``qikan`` spider: discovers and fetches, nothing more.

It starts from the home page and the sitemap named in robots.txt, classifies every fetched
page by its content (:func:`pipelines.discovery.classify_page`) and follows links by the URL
shapes a :class:`~pipelines.discovery.Learner` has learned from those classes and from the
sitemap: no URL pattern of today's site is built in, so a redesign needs no code change. Every
response is yielded as a :class:`~pipelines.rawpage.RawPage` with ``link_kind`` set; article
fields are parsed by the item pipelines, so that crawl, replay and rebuild share one code path.

Usage::

    scrapy crawl qikan -a start_url=http://127.0.0.1:8000/ [-a journal=<slug>] [-a refetch=all]

Which known articles to skip (incremental crawling) is decided by
:class:`crawler.incremental.IncrementalMiddleware`, not here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from twisted.python.failure import Failure

from pipelines import discovery, urls
from pipelines.discovery import Learner, Link, PageClass
from pipelines.rawpage import RawPage

SLUG_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PRIORITY = {"probe": 20, "article": 10, "listing": 0}
"""Probes first (the sooner a shape is known, the fewer links wait), then articles, then listings."""


def raw_page_from_response(response: Response, link_kind: str | None) -> RawPage:
    """The response as the pipelines want it: URL, status, headers, bytes, fetch time, link kind."""
    redirects = response.request.meta.get("redirect_urls") if response.request else None
    return RawPage(
        url=response.url,
        status=response.status,
        headers={str(k): str(v) for k, v in response.headers.to_unicode_dict().items()},
        body=response.body,
        fetched_at=dt.datetime.now(dt.UTC),
        request_url=redirects[0] if redirects else None,
        link_kind=link_kind,
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
        self.discovery = Learner()
        self.chrome_links: list[str] | None = None
        """One-journal crawls: the start page's links, i.e. the chrome every page repeats."""
        self.journal_found = False

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> QikanSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.discovery = Learner(
            article_patterns=settings.getlist("DISCOVERY_ARTICLE_PATTERNS"),
            listing_patterns=settings.getlist("DISCOVERY_LISTING_PATTERNS"),
            probes_per_shape=settings.getint("DISCOVERY_PROBES_PER_SHAPE"),
        )
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.discovery.seen_urls.add(urls.strip_tracking(self.start_url))
        yield scrapy.Request(
            self.start_url, callback=self.parse, errback=self.on_error, meta={"link_kind": "start"}, priority=30
        )
        yield scrapy.Request(
            f"{self.base_url}/robots.txt", callback=self.parse_robots, errback=self.on_error,
            meta={"link_kind": "start"},
        )  # fmt: skip

    # -- callbacks -------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[RawPage | scrapy.Request]:
        """Any page: classify it, learn from it, hand it on, then follow its links by learned shape."""
        kind = response.meta.get("link_kind")
        links: list[tuple[str, str, bool]] = []
        sequence: list[str] = []
        root = None
        if isinstance(response, TextResponse) and 200 <= response.status < 300:
            try:
                root = response.selector.root
                links, sequence = self._links(response, root)
            except Exception:  # not HTML after all (a .txt, a JSON body): nothing to follow
                root = None
        page_class = discovery.classify_page(root, len(links)) if root is not None else PageClass.OTHER
        self.crawler.stats.inc_value(f"qikan/fetched/{page_class.value}")
        yield raw_page_from_response(response, kind)
        released = self.discovery.observe(
            self._asked(response), page_class, response.meta.get("shape"), probe=kind == "probe"
        )
        yield from self._requests(released)
        if page_class in (PageClass.SOFT_404, PageClass.OTHER) and kind != "start":
            return  # a soft 404's chrome links are every page's; a page of no use leads nowhere new
        yield from self._follow(response.url, links, sequence, kind == "start", page_class)

    def parse_robots(self, response: Response) -> Iterator[RawPage | scrapy.Request]:
        self.crawler.stats.inc_value("qikan/fetched/robots")
        yield raw_page_from_response(response, "start")
        sitemaps = [u for u in sitemap_urls_from_robots(response.body, base_url=response.url) if self._on_site(u)]
        for sitemap_url in sitemaps or [f"{self.base_url}/sitemap.xml"]:
            yield self._sitemap_request(sitemap_url)

    def parse_sitemap(self, response: Response) -> Iterator[RawPage | scrapy.Request]:
        self.crawler.stats.inc_value("qikan/fetched/sitemap")
        yield raw_page_from_response(response, "start")
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
                yield self._sitemap_request(loc)
                continue
            # One journal's crawl only learns from the sitemap: it follows that journal's listings.
            own, released = self.discovery.observe_sitemap(
                urls.strip_tracking(urls.desktop_url(loc, self.base_url)), follow=not self.journal
            )
            yield from self._requests(released)
            if own:
                yield self._request(own, lastmod=entry.get("lastmod"))

    def on_error(self, failure: Failure) -> Iterator[RawPage | scrapy.Request]:
        """A fetch that failed still becomes a raw page, so it ends up in rejects."""
        request = failure.request  # type: ignore[attr-defined]
        kind = request.meta.get("link_kind")
        if request.callback == self.parse:  # a probe that failed decides its shape like any page
            self.crawler.stats.inc_value("qikan/fetched/other")
            released = self.discovery.observe(
                (request.meta.get("redirect_urls") or [request.url])[0], PageClass.OTHER,
                request.meta.get("shape"), probe=kind == "probe",
            )  # fmt: skip
            yield from self._requests(released)
        if isinstance(failure.value, HttpError):
            yield raw_page_from_response(failure.value.response, kind)
            return
        name = type(failure.value).__name__
        if failure.check(IgnoreRequest):
            error = f"filtered: {failure.getErrorMessage() or name}"
        else:
            error = f"{name}: {failure.getErrorMessage()}"
        # Recorded under the URL that was asked for, not the last hop of a redirect chain.
        asked = (request.meta.get("redirect_urls") or [request.url])[0]
        if asked != request.url:
            error = f"{error} (last hop {request.url})"
        self.logger.warning("Fetch failed for %s: %s", asked, error)
        yield RawPage(url=asked, status=0, error=error, link_kind=kind)

    def on_idle(self) -> None:
        """Probes that never came back (a filter dropped them) leave links waiting: probe again."""
        links = self.discovery.reprobe()
        if not links:
            return
        for request in self._requests(links):
            self.crawler.engine.crawl(request)
        raise DontCloseSpider

    def stored_probe(self, request: scrapy.Request) -> list[scrapy.Request]:
        """A probe the incremental middleware skipped: its id is stored, so its shape holds articles."""
        released = self.discovery.observe(request.url, PageClass.ARTICLE, request.meta.get("shape"), probe=True)
        return list(self._requests(released))

    # -- discovery ---------------------------------------------------------------

    def _links(self, response: TextResponse, root: Any) -> tuple[list[tuple[str, str, bool]], list[str]]:
        """(url, link text, in a 标签 line) of each distinct on-site link, and every link in page order."""
        tag_links = set(root.xpath(discovery.TAG_LINE_LINKS_XPATH)) if "标签" in response.text else set()
        links: dict[str, tuple[str, str, bool]] = {}
        sequence: list[str] = []
        for anchor in root.iter("a"):
            href = anchor.get("href")
            if not href:
                continue
            url = urls.desktop_url(urls.resolve(response.url, href), self.base_url)
            if not self._on_site(url):
                continue
            url = urls.strip_tracking(url)
            sequence.append(url)
            if url not in links:
                links[url] = (url, "".join(anchor.itertext()).strip(), anchor in tag_links)
        return list(links.values()), sequence

    def _follow(
        self, page_url: str, links: list[tuple[str, str, bool]], sequence: list[str], is_start: bool,
        page_class: PageClass,
    ) -> Iterator[scrapy.Request]:
        if self.journal:
            links = self._journal_links(page_url, links, sequence, is_start, page_class)
        for url, text, in_tag_line in links:
            if discovery.is_sitemap_url(url):
                yield self._sitemap_request(url)
                continue
            link = self.discovery.decide(url, text, in_tag_line)
            if link is not None:
                yield self._request(link)

    def _journal_links(
        self, page_url: str, links: list[tuple[str, str, bool]], sequence: list[str], is_start: bool,
        page_class: PageClass,
    ) -> list[tuple[str, str, bool]]:
        """One journal's crawl: links whose path names the journal, and articles in such pages' content.

        Until a link naming the journal is seen, literal or paginated listings (a journal index)
        are followed to find it; articles only from the content of the journal's own listings,
        which is what remains when the chrome (the start page's links) is cut off.
        """
        assert self.journal is not None
        if is_start:
            self.chrome_links = sequence
        content = set(discovery.main_links(sequence, self.chrome_links or []))
        own_page = discovery.path_has_slug(page_url, self.journal) and page_class is PageClass.LISTING
        naming = [link for link in links if discovery.path_has_slug(link[0], self.journal)]
        self.journal_found = self.journal_found or bool(naming)
        kept = list(naming)
        for link in links:
            if link in naming or link[0] not in content:
                continue
            shape = discovery.url_shape(link[0])
            if own_page and (self.discovery.known(shape) is PageClass.ARTICLE or urls.looks_like_article_url(link[0])):
                kept.append(link)
            elif not self.journal_found and page_class is PageClass.LISTING and _index_like(link[0]):
                kept.append(link)
        return kept

    def _request(self, link: Link, lastmod: str | None = None) -> scrapy.Request:
        if link.kind == "article":
            self.crawler.stats.inc_value("qikan/article_links_seen")
        meta: dict[str, Any] = {"link_kind": link.kind, "shape": link.shape}
        if lastmod:
            meta["lastmod"] = lastmod
        return scrapy.Request(
            link.url, callback=self.parse, errback=self.on_error, priority=PRIORITY[link.kind], meta=meta
        )

    def _requests(self, links: Iterable[Link]) -> Iterator[scrapy.Request]:
        for link in links:
            yield self._request(link)

    def _sitemap_request(self, url: str) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse_sitemap, errback=self.on_error, meta={"link_kind": "start"})

    def _on_site(self, url: str) -> bool:
        return urlsplit(url).scheme in ("http", "https") and urls.same_site(url, self.base_url)

    @staticmethod
    def _asked(response: Response) -> str:
        return (response.meta.get("redirect_urls") or [response.url])[0]


PAGINATION_SEGMENT_RE = re.compile(r"^(?:index|list|page|p)?[_-]?[0-9]{1,4}(?:\.[a-z]{2,5})?$", re.IGNORECASE)


def _index_like(url: str) -> bool:
    """A listing under words only (``/journals/``) or a page of one (``index_2.html``, ``?page=2``):
    never another journal's page, which a one-journal crawl must not fetch."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if segments and PAGINATION_SEGMENT_RE.match(segments[-1]):
        segments.pop()
    return all(re.fullmatch(r"[A-Za-z_-]+(?:\.[a-z]{2,5})?", s) for s in segments)
