"""Downloader middlewares for a slow, flaky and untrusted site.

Retries that wait: Scrapy's own RetryMiddleware re-schedules a failed request
at once; against a site that answers 503 under load that only adds load.
:class:`BackoffRetryMiddleware` keeps its rules (RETRY_TIMES, RETRY_HTTP_CODES,
RETRY_EXCEPTIONS, stats, give-up logging) and only adds the wait before the
retry is handed back.

Redirects that stay home: Scrapy's RedirectMiddleware follows any redirect and
hands the new request back to the scheduler, where an off-site host is dropped
by the offsite filter and an already-seen URL (a loop, or two pages redirecting
into each other) by the duplicate filter -- silently, so the page that
redirected is neither a row nor a reject. Another port of the same host is not
even off-site to Scrapy. :class:`SameSiteRedirectMiddleware` refuses off-site
targets and loops while the original request is still in hand, so its errback
records them, and lets every other redirect through the duplicate filter (the
chain is bounded by REDIRECT_MAX_TIMES; a second copy of an article is counted
by the duplicate-articles pipeline).

Bombs that show: Scrapy's HttpCompressionMiddleware already stops inflating a
body at DOWNLOAD_MAXSIZE (a gzip bomb costs at most that much memory) but
counts nothing; :class:`CountingHttpCompressionMiddleware` makes each refused
or undecompressable body a ``qikan/errors/...`` count in the run summary.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.reactor import is_asyncio_reactor_installed
from twisted.internet import reactor
from twisted.internet.task import deferLater

from pipelines.urls import same_site

logger = logging.getLogger(__name__)


def parse_retry_after(value: str | bytes | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class BackoffRetryMiddleware(RetryMiddleware):
    """RetryMiddleware that waits ``RETRY_BACKOFF_BASE * 2**n`` (jittered) or ``Retry-After`` before retrying."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler.settings)  # raises NotConfigured when RETRY_ENABLED is off
        self.crawler = crawler
        self.backoff_base = crawler.settings.getfloat("RETRY_BACKOFF_BASE")
        self.backoff_max = crawler.settings.getfloat("RETRY_BACKOFF_MAX")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        return cls(crawler)

    # Scrapy awaits a coroutine middleware method; its stubs still type these methods as plain ones.
    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response, spider: Any = None
    ) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry = self._retry(request, f"{response.status}")
        if retry is None:
            return response
        delay = parse_retry_after(response.headers.get(b"Retry-After"))
        await self._wait(retry, request, response.status, delay)
        return retry

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception, spider: Any = None
    ) -> Request | None:
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry", False):
            return None
        retry = self._retry(request, exception)
        if retry is None:
            return None
        await self._wait(retry, request, type(exception).__name__, None)
        return retry

    async def _wait(self, retry: Request, original: Request, why: Any, retry_after: float | None) -> None:
        attempt = retry.meta.get("retry_times", 1)
        if retry_after is not None:
            delay = min(retry_after, self.backoff_max)
            self.crawler.stats.inc_value("qikan/retry_after_honoured")
        else:
            delay = min(self.backoff_base * 2 ** (attempt - 1), self.backoff_max)
            delay *= random.uniform(0.5, 1.0)  # jitter, so retries do not arrive together
        if delay <= 0:
            return
        logger.debug("Retrying %s (%s) in %.2fs, attempt %d", original.url, why, delay, attempt)
        self.crawler.stats.inc_value("qikan/retry_wait_seconds", int(round(delay)))
        if is_asyncio_reactor_installed():
            await asyncio.sleep(delay)
        else:
            await maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))


class SameSiteRedirectMiddleware(RedirectMiddleware):
    """RedirectMiddleware that refuses a redirect off the crawl's site (host and port) or back into its own chain.

    The refusal is an :class:`~scrapy.exceptions.IgnoreRequest` raised for the
    request that got the redirect, so the spider's errback turns it into a
    ``fetch_error`` reject; ``qikan/errors/<kind>`` counts each kind for the run
    summary. Past ``REDIRECT_MAX_TIMES`` hops Scrapy itself gives up the same way.
    """

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Request | Response:
        try:
            result = super().process_response(request, response)
        except IgnoreRequest:
            self.crawler.stats.inc_value("qikan/errors/redirect_limit")
            raise
        if not isinstance(result, Request):
            return result
        site = getattr(self.crawler.spider, "base_url", None)
        if site and not same_site(result.url, site):
            self.crawler.stats.inc_value("qikan/errors/offsite_redirect")
            raise IgnoreRequest(f"redirect off site: {request.url} -> {result.url}")
        chain = result.meta.get("redirect_urls", [])
        if result.url in chain:
            self.crawler.stats.inc_value("qikan/errors/redirect_loop")
            raise IgnoreRequest(f"redirect loop: {' -> '.join([*chain, result.url])}")
        result.dont_filter = True  # seen before or not, this request's page must end somewhere
        return result


class CountingHttpCompressionMiddleware(HttpCompressionMiddleware):
    """HttpCompressionMiddleware that counts its refusals: ``decompression_limit`` (bombs), ``decompression_error``."""

    crawler: Crawler

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Request | Response:
        try:
            return super().process_response(request, response)
        except IgnoreRequest:
            self.crawler.stats.inc_value("qikan/errors/decompression_limit")
            raise
        except Exception:
            self.crawler.stats.inc_value("qikan/errors/decompression_error")
            raise

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CountingHttpCompressionMiddleware:
        middleware = super().from_crawler(crawler)
        middleware.crawler = crawler
        return middleware
