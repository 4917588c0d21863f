"""Scrapy item pipelines: thin adapters over :mod:`pipelines`.

Raw pages come in from the spider; :class:`PageProcessingPipeline` turns each
into an article or a reject (in worker processes), the duplicate filter drops
second copies of an article, and :class:`DatasetPipeline` writes both kinds of
row. Articles continue to feed exports (``-O articles.parquet``); rejects stop
after they are written, with a log line that names the URL and the reason.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from scrapy.utils.reactor import is_asyncio_reactor_installed
from twisted.internet.threads import deferToThread

from crawler.runinfo import crawl_run_id, dataset_dir, process_workers, segment_config
from pipelines import layout, urls
from pipelines.dataset import DatasetWriter, DatasetWriteError, check_writable
from pipelines.process import Outcome, process_page, reject
from pipelines.rawpage import RawPage
from pipelines.records import (
    ARTICLE_SCHEMA,
    REJECT_SCHEMA,
    ArticleRecord,
    RejectReason,
    RejectRecord,
    RejectStage,
    to_row,
)
from pipelines.state import SETTLED_REJECTS
from pipelines.workers import make_analyser, process_in_worker, start_pool

logger = logging.getLogger(__name__)

QUIET_REJECTS = {RejectReason.NOT_ARTICLE.value}
"""Reject reasons that are routine (every listing page) and logged at DEBUG, not INFO."""

TRACKED_FIELDS = ("title", "authors", "journal", "year", "issue", "published_date")
"""Fields whose absence the run summary counts (a rise means the site changed)."""

STORAGE_ERROR_STAT = "qikan/storage_error"
"""Set to the error's text when the dataset could not be written: the crawl stopped, and exits 4."""
STORAGE_ERROR_REASON = "dataset_write_error"
"""The close reason of a crawl stopped by a storage error."""

dataset_committed = object()
"""Signal sent by :class:`DatasetPipeline` after each commit, with ``stored``: (article_id, fetched_at) of
the article rows and settled rejects committed since the previous one. A distributed crawl records them
as stored in Redis (:mod:`crawler.distributed`): only now are they on disk."""


class PageProcessingPipeline:
    """RawPage → ArticleRecord or RejectRecord, off the reactor thread when ``PROCESS_WORKERS`` > 0."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.workers = process_workers(crawler.settings)
        self.segment_config = segment_config(crawler.settings)
        self.pool: ProcessPoolExecutor | None = None
        self.analyser = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PageProcessingPipeline:
        return cls(crawler)

    def open_spider(self, spider: Any = None) -> None:
        if self.workers > 0:
            self.pool = start_pool(self.workers, self.segment_config)
        else:
            self.analyser = make_analyser(self.segment_config)

    def close_spider(self, spider: Any = None) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, RawPage):
            return item
        self.crawler.stats.inc_value("qikan/pages_processed")
        if self.pool is None:
            return process_page(item, self.analyser)
        pool = self.pool
        try:
            return await _await_future(pool.submit(process_in_worker, item))
        except BrokenProcessPool as exc:
            # A worker died (killed, out of memory): the page still ends up somewhere,
            # and a fresh pool serves the rest of the crawl. Every page in flight sees the
            # same broken pool; only the first replaces it.
            logger.error("Worker process died while processing %s: %r", item.url, exc)
            self.crawler.stats.inc_value("qikan/errors/worker_died")
            if self.pool is pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self.pool = start_pool(self.workers, self.segment_config)
            return reject(item, RejectReason.PARSE_ERROR, RejectStage.EXTRACT, f"worker process died: {exc!r}")


async def _await_future(future: Future) -> Outcome:
    if is_asyncio_reactor_installed():
        return await asyncio.wrap_future(future)
    return await maybe_deferred_to_future(deferToThread(future.result))


class DuplicateArticlesPipeline:
    """Drops an article whose id this run already wrote: a second URL of it is not a second row."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DuplicateArticlesPipeline:
        return cls(crawler)

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if isinstance(item, ArticleRecord):
            if item.article_id in self.seen:
                self.crawler.stats.inc_value("qikan/duplicate_articles")
                raise DropItem(f"Duplicate of article {item.article_id}: {item.url}", log_level="DEBUG")
            self.seen.add(item.article_id)
        return item


class DatasetPipeline:
    """Writes articles to ``DATASET_DIR/articles`` (a folder per year) and rejects to ``DATASET_DIR/rejects``.

    A storage error (disk full, read-only, no permission) stops the crawl: it is logged once,
    the rows not yet committed are not counted as written nor recorded as stored, and
    ``scrapy crawl`` exits 4. The same happens at the start when the folder cannot be written.
    """

    def __init__(self, crawler: Crawler, root: str) -> None:
        self.crawler = crawler
        self.root = root.rstrip("/")
        settings = crawler.settings
        run_id = crawl_run_id(crawler)
        options = dict(
            run_id=run_id,
            worker_id=settings.get("WORKER_ID") or None,
            row_group_rows=settings.getint("DATASET_ROW_GROUP_ROWS"),
            max_rows_per_file=settings.getint("DATASET_MAX_ROWS_PER_FILE"),
            max_buffer_bytes=settings.getint("DATASET_MAX_BUFFER_MB") * 1024 * 1024,
        )
        self.articles = DatasetWriter(f"{self.root}/{layout.ARTICLES}", ARTICLE_SCHEMA, partition_by="year", **options)
        self.rejects = DatasetWriter(f"{self.root}/{layout.REJECTS}", REJECT_SCHEMA, **options)
        self.commit_seconds = settings.getfloat("DATASET_COMMIT_SECONDS", 300)
        self.last_commit = time.monotonic()
        self.uncommitted: list[tuple[str, dt.datetime]] = []
        self.pending = {"articles_written": 0, "rejects_written": 0}
        self.failure: DatasetWriteError | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DatasetPipeline:
        root = dataset_dir(crawler.settings)
        if root is None:
            raise NotConfigured("DATASET_DIR is empty: not writing a dataset")
        pipeline = cls(crawler, root)
        crawler.signals.connect(pipeline.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(pipeline.spider_idle, signal=signals.spider_idle)
        return pipeline

    def spider_opened(self, spider: Any = None) -> None:
        """Learn now, not after hours of crawling, that the folder cannot be written."""
        try:
            check_writable(self.root)
        except DatasetWriteError as exc:
            self._fail(exc, "at start")
            return
        filesystem, base = layout.open_filesystem(self.root)
        if layout.has_legacy_partitions(filesystem, base):
            logger.warning("%s still has year=NNNN folders (an older layout that pandas cannot open next to "
                           "the new files): run `scrapy compact %s` to migrate it", self.root, self.root)

    def spider_idle(self, spider: Any = None) -> None:
        """Nothing is in flight: commit now, so that a worker waiting for others holds no uncommitted rows."""
        self._commit()

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if self.failure is not None:
            raise DropItem(f"Not stored (the dataset cannot be written): {getattr(item, 'url', '')}", log_level="DEBUG")
        try:
            return self._write(item)
        except DatasetWriteError as exc:
            self._fail(exc, f"while writing {getattr(item, 'url', '')}")
            raise DropItem(f"Not stored: {getattr(item, 'url', '')}", log_level="DEBUG") from None
        finally:
            if self.failure is None and time.monotonic() - self.last_commit >= self.commit_seconds:
                self._commit()

    def _write(self, item: Any) -> Any:
        stats = self.crawler.stats
        if isinstance(item, ArticleRecord):
            self.articles.write(to_row(item))
            self.uncommitted.append((item.article_id, item.fetched_at))
            self.pending["articles_written"] += 1
            stats.inc_value("qikan/articles_written")
            missing = [name for name in TRACKED_FIELDS if getattr(item, name) in (None, [])]
            for name in missing:
                stats.inc_value(f"qikan/missing/{name}")
            if item.title is None or item.journal is None:
                stats.inc_value("qikan/articles_incomplete")
            return item
        if isinstance(item, RejectRecord):
            self.rejects.write(to_row(item))
            if item.reason in SETTLED_REJECTS and (article_id := urls.article_id(item.url)):
                self.uncommitted.append((article_id, item.fetched_at))
            self.pending["rejects_written"] += 1
            stats.inc_value("qikan/rejects_written")
            stats.inc_value(f"qikan/rejects/{item.reason}")
            level = "DEBUG" if item.reason in QUIET_REJECTS else "INFO"
            raise DropItem(f"Rejected {item.url}: {item.reason} at {item.stage} ({item.detail})", log_level=level)
        return item

    def close_spider(self, spider: Any = None) -> None:
        self._commit()
        logger.info("Dataset files written under %s: %d", self.root, self.crawler.stats.get_value("qikan/files_written", 0))

    def _commit(self) -> None:
        """Publish complete files: from now on their rows count as stored (incremental state)."""
        if self.failure is not None:
            return
        try:
            self.articles.prepare()  # the slow part (write, close, fsync) first for both ...
            self.rejects.prepare()
            self.articles.publish()  # ... then the renames, within moments of each other
            self.rejects.publish()
        except DatasetWriteError as exc:
            self._fail(exc, "while committing")
            return
        self.last_commit = time.monotonic()
        self.crawler.stats.set_value("qikan/files_written", len(self.articles.files_written) + len(self.rejects.files_written))
        stored, self.uncommitted = self.uncommitted, []
        self.pending = dict.fromkeys(self.pending, 0)
        self.crawler.signals.send_catch_log(signal=dataset_committed, stored=stored)

    def _fail(self, error: DatasetWriteError, when: str) -> None:
        """Stop the crawl after a storage error: one error line, and no uncommitted row counts as written."""
        self.failure = error
        self.articles.abort()
        self.rejects.abort()
        stats = self.crawler.stats
        for key, rows in self.pending.items():
            stats.inc_value(f"qikan/{key}", -rows)
        lost = self.pending["articles_written"] + self.pending["rejects_written"]
        stats.set_value("qikan/rows_not_stored", lost)
        stats.set_value(STORAGE_ERROR_STAT, str(error))
        self.uncommitted, self.pending = [], dict.fromkeys(self.pending, 0)
        logger.error("Dataset write failed %s, stopping the crawl: %s (%d rows not stored; the next run fetches "
                     "their pages again)", when, error, lost)
        if self.crawler.engine is not None and self.crawler.engine.spider is not None:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason=STORAGE_ERROR_REASON))
