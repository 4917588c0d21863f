"""Incremental and resumable crawls.

:class:`IncrementalMiddleware` keeps a crawl into an existing ``DATASET_DIR``
from fetching article pages whose rows are already stored (see
:mod:`pipelines.state` for why the dataset itself is the state; with
``REDIS_URL`` it is a Redis hash, :mod:`crawler.distributed.state`). Listing pages
and the sitemap are always fetched again; ``-a refetch=all``, or a sitemap
``<lastmod>`` newer than the stored ``fetched_at``, fetches an article again.

:class:`JobDirGuard` makes ``-s JOBDIR=...`` safe after a hard kill: Scrapy
persists requests it has taken off the queue as "seen", so a SIGKILL loses
the requests in flight. A JOBDIR left without a clean close is therefore
reset, and incremental state completes the crawl without refetching what is
stored.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler.distributed import redis_url
from crawler.runinfo import dataset_dir
from pipelines import urls
from pipelines.sink import arrow_without_pandas
from pipelines.state import StoredArticles, parse_lastmod

logger = logging.getLogger(__name__)


class IncrementalMiddleware:
    """Spider middleware: drops requests for articles the dataset already holds."""

    def __init__(self, crawler: Crawler, root: str) -> None:
        self.crawler = crawler
        self.root = root
        self.stored = StoredArticles()
        self.active = getattr(crawler.spider, "refetch", "none") != "all"
        if not self.active:
            logger.info("refetch=all: stored articles are fetched again")
            return
        # Loaded here, not in a signal handler, so that an unreadable dataset stops the crawl at start.
        if redis_url(crawler.settings):
            # Workers share one dataset and commit into it concurrently: the state is kept in Redis.
            from crawler.distributed.state import RedisArticleState

            self.redis_state = RedisArticleState.for_crawler(crawler)
            self.stored = self.redis_state.load(root)
            where = f"Redis {self.redis_state.key}"
            crawler.signals.connect(self._reload_for_new_crawl, signal=signals.spider_opened)
        else:
            self.stored = StoredArticles.from_dataset(root)
            where = self.root
        self.crawler.stats.set_value("qikan/incremental/stored_articles", len(self.stored))
        logger.info("Incremental crawl: %d articles already stored (%s)", len(self.stored), where)

    def _reload_for_new_crawl(self, spider: Any) -> None:
        """A worker that starts a new crawl reads the state again: the last worker of the previous
        crawl may have committed since it was loaded. (One that joins a crawl need not: the shared
        duplicate filter keeps it from fetching what the others fetched.)"""
        if self.crawler.stats.get_value("qikan/distributed/new_crawl"):
            self.stored = self.redis_state.load(self.root)
            self.crawler.stats.set_value("qikan/incremental/stored_articles", len(self.stored))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IncrementalMiddleware:
        root = dataset_dir(crawler.settings)
        if not crawler.settings.getbool("INCREMENTAL_ENABLED") or root is None:
            raise NotConfigured
        arrow_without_pandas()  # before the crawl process's first Arrow, reading the dataset: no pandas (28 MB)
        return cls(crawler, root)

    def process_spider_output(self, response: Any, result: Iterable[Any]) -> Iterator[Any]:
        for item in result:
            yield from self._filter(item)

    async def process_spider_output_async(self, response: Any, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item in result:
            for kept in self._filter(item):
                yield kept

    def _filter(self, item: Any) -> Iterator[Any]:
        if self._wanted(item):
            yield item
            return
        if item.meta.get("link_kind") == "probe":
            # The spider learns from its probes: a stored id says the shape holds articles.
            stored_probe = getattr(self.crawler.spider, "stored_probe", None)
            for request in stored_probe(item) if stored_probe else ():
                yield from self._filter(request)

    def _wanted(self, item: Any) -> bool:
        if not self.active or not isinstance(item, Request):
            return True
        # Only links the spider takes for articles carry an article id: a listing such as
        # /journal/qk000/2019-06/ also ends in digits.
        article_id = urls.requested_article_id(item.url, item.meta.get("link_kind"))
        if article_id is None:
            return True
        stored_at = self.stored.fetched_at(article_id)
        if stored_at is None:
            return True
        lastmod = parse_lastmod(item.meta.get("lastmod"))
        if lastmod is not None and lastmod > stored_at:
            self.crawler.stats.inc_value("qikan/incremental/refetched_changed")
            return True
        self.crawler.stats.inc_value("qikan/incremental/skipped_stored")
        return False


class JobDirGuard:
    """Resets a JOBDIR that was not closed cleanly (SIGKILL, power loss) before Scrapy reads it."""

    MARKER = "qikan.running"
    SCRAPY_STATE = ("requests.queue", "requests.seen", "spider.state")

    def __init__(self, crawler: Crawler, jobdir: Path) -> None:
        self.crawler = crawler
        self.marker = jobdir / self.MARKER
        if self.marker.exists():
            logger.warning(
                "JOBDIR %s was not closed cleanly (pid %s was killed?): discarding its queue and seen-set; "
                "stored articles are not fetched again",
                jobdir,
                self.marker.read_text(encoding="utf-8").strip() or "?",
            )
            for name in self.SCRAPY_STATE:
                path = jobdir / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            crawler.stats.set_value("qikan/jobdir_reset", True)
        jobdir.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(str(os.getpid()), encoding="utf-8")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JobDirGuard:
        jobdir = crawler.settings.get("JOBDIR")
        if not jobdir:
            raise NotConfigured
        guard = cls(crawler, Path(jobdir))
        crawler.signals.connect(guard.spider_closed, signal=signals.spider_closed)
        return guard

    def spider_closed(self, spider: Any, reason: str) -> None:
        """Any close that Scrapy itself performs (finished, SIGTERM, Ctrl-C) leaves a consistent JOBDIR."""
        self.marker.unlink(missing_ok=True)
