"""Scrapy item pipelines: thin adapters over :mod:`pipelines.pool` and :mod:`pipelines.sink`.

Raw pages come in from the spider; :class:`PageProcessingPipeline` sends them in
batches to the worker processes (the same pool a rebuild uses) and gets an article
or a reject back for each; :class:`DatasetPipeline` hands both to the run's
:class:`~pipelines.sink.Sink` (first copy wins, counters, the dataset's writers) on a
thread of its own, so that Parquet writes, fsyncs and renames (network I/O with
``s3://``) never block the reactor, as Scrapy's feed storage does. Articles continue
to feeds (``-O articles.parquet``); duplicates and rejects stop there, with a log
line that names the URL and the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.reactor import is_asyncio_reactor_installed
from twisted.internet import defer

from crawler.runinfo import crawl_run_id, dataset_dir, process_workers, segment_config
from crawler.signals import dataset_committed
from pipelines import layout, leases
from pipelines.dataset import DatasetWriteError, check_writable
from pipelines.pool import BATCH_PAGES, open_pool, process_batch, route_key
from pipelines.process import Outcome, reject
from pipelines.rawpage import RawPage
from pipelines.records import ArticleRecord, RejectReason, RejectRecord, RejectStage
from pipelines.sink import QUIET_REJECTS, TRACKED_FIELDS, Sink, WriterOptions, tune_arrow_for_writing

__all__ = ["QUIET_REJECTS", "TRACKED_FIELDS", "DatasetPipeline", "PageProcessingPipeline"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

BATCH_WAIT_SECONDS = 0.05
"""A batch that is not full goes to its worker after this: pages never wait long for company."""
STORAGE_ERROR_STAT = "qikan/storage_error"
"""Set to the error's text when the dataset could not be written: the crawl stopped, and exits 4."""
STORAGE_ERROR_REASON = "dataset_write_error"
"""The close reason of a crawl stopped by a storage error."""



def _reactor() -> Any:
    """The running reactor (imported late: importing it at module level would install the default one)."""
    from twisted.internet import reactor

    return reactor


async def _wait(future: Future[T]) -> T:
    """Await a concurrent future from the reactor thread, holding no thread while waiting."""
    if is_asyncio_reactor_installed():
        return await asyncio.wrap_future(future)
    waiting: defer.Deferred[T] = defer.Deferred()

    def done(finished: Future[T]) -> None:
        error = finished.exception()
        if error is not None:
            _reactor().callFromThread(waiting.errback, error)
        else:
            _reactor().callFromThread(waiting.callback, finished.result())

    future.add_done_callback(done)
    return await waiting


class _Batch:
    """Pages on their way to one worker, and the future of their outcomes."""

    def __init__(self) -> None:
        self.pages: list[RawPage] = []
        self.outcomes: Future[list[Outcome]] = Future()


class PageProcessingPipeline:
    """RawPage → ArticleRecord or RejectRecord, in ``PROCESS_WORKERS`` processes (0: in this one)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.workers = process_workers(crawler.settings)
        self.segment_config = segment_config(crawler.settings)
        self.pool: Any = None
        self.batches: dict[int, _Batch] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PageProcessingPipeline:
        return cls(crawler)

    def open_spider(self, spider: Any = None) -> None:
        self.pool = open_pool(self.workers, self.segment_config)

    def close_spider(self, spider: Any = None) -> None:
        if self.pool is not None:
            self.pool.close(cancel=True)
            self.pool = None

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, RawPage):
            return item
        self.crawler.stats.inc_value("qikan/pages_processed")
        shard = self.pool.shard(route_key(item.url))  # every copy of an article to one worker, in order
        batch = self.batches.get(shard)
        if batch is None:
            batch = self.batches[shard] = _Batch()
            if self.workers > 0:
                _reactor().callLater(BATCH_WAIT_SECONDS, self._send, shard, batch)
        index = len(batch.pages)
        batch.pages.append(item)
        if len(batch.pages) >= BATCH_PAGES or self.workers == 0:
            self._send(shard, batch)
        try:
            return (await _wait(batch.outcomes))[index]
        except BrokenProcessPool as exc:
            # A worker died (killed, out of memory): the page still ends up somewhere.
            logger.error("Worker process died while processing %s: %r", item.url, exc)
            self.crawler.stats.inc_value("qikan/errors/worker_died")
            return reject(item, RejectReason.PARSE_ERROR, RejectStage.EXTRACT, f"worker process died: {exc!r}")

    def _send(self, shard: int, batch: _Batch) -> None:
        if self.batches.get(shard) is not batch:
            return  # sent already (full), or the timer of a batch sent since
        del self.batches[shard]
        pool = self.pool
        if pool is None:
            batch.outcomes.set_exception(BrokenProcessPool("the crawl is closing"))
            return
        executor = pool.executors[shard]
        try:
            submitted = pool.submit(shard, process_batch, batch.pages)
        except BrokenProcessPool as exc:
            submitted = Future()
            submitted.set_exception(exc)

        def relay(done: Future) -> None:
            error = done.exception()
            if isinstance(error, BrokenProcessPool):
                _reactor().callFromThread(pool.replace, shard, executor)  # a fresh worker serves the rest
            if error is not None:
                batch.outcomes.set_exception(error)
            else:
                batch.outcomes.set_result(done.result())

        submitted.add_done_callback(relay)


class DatasetPipeline:
    """The run's sink: drops second copies of an article, counts, and writes both kinds of row.

    Rows go to ``DATASET_DIR/articles`` (a folder per year) and ``DATASET_DIR/rejects``; with
    ``DATASET_DIR`` empty nothing is stored, but duplicates are dropped and rows counted. A
    storage error (disk full, read-only, no permission) stops the crawl: it is logged once,
    the rows not yet committed are not counted as written nor recorded as stored, and
    ``scrapy crawl`` exits 4. The same happens at the start when the folder cannot be written.
    """

    def __init__(self, crawler: Crawler, root: str | None) -> None:
        self.crawler = crawler
        self.root = root.rstrip("/") if root else None
        settings = crawler.settings
        options = WriterOptions(
            row_group_rows=settings.getint("DATASET_ROW_GROUP_ROWS"),
            max_rows_per_file=settings.getint("DATASET_MAX_ROWS_PER_FILE"),
            max_buffer_bytes=settings.getint("DATASET_MAX_BUFFER_MB") * 1024 * 1024,
        )
        self.sink = Sink(self.root, crawl_run_id(crawler), worker_id=settings.get("WORKER_ID") or None,
                         options=options)
        self.io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataset-io")
        """The sink's one thread: writes in order, and off the reactor."""
        self.commit_seconds = settings.getfloat("DATASET_COMMIT_SECONDS")
        self.last_commit = time.monotonic()
        self.committing = False
        self.lease: leases.HeldLease | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DatasetPipeline:
        root = dataset_dir(crawler.settings)
        pipeline = cls(crawler, root)
        if root is not None:
            tune_arrow_for_writing()
            try:  # storage (helper S): a plain crawl refuses a dataset another crawl writes (LeaseConflict: exit 1)
                pipeline.lease = leases.acquire_writer(
                    root, "crawl", crawl_run_id(crawler), worker_id=crawler.settings.get("WORKER_ID") or None,
                    mode="redis" if crawler.settings.get("REDIS_URL") else "plain")
            except leases.LeaseConflict:
                raise
            except OSError:  # cannot write the folder: spider_opened says so in one line, and the crawl exits 4
                pipeline.lease = None
            crawler.signals.connect(pipeline.spider_opened, signal=signals.spider_opened)
            crawler.signals.connect(pipeline.spider_idle, signal=signals.spider_idle)
        return pipeline

    def spider_opened(self, spider: Any = None) -> None:
        """Learn now, not after hours of crawling, that the folder cannot be written."""
        assert self.root is not None
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
        if not self.committing:
            deferred_from_coro(self._commit())

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, (ArticleRecord, RejectRecord)):
            return item
        if self.sink.failure is not None:
            raise DropItem(f"Not stored (the dataset cannot be written): {item.url}", log_level="DEBUG")
        try:
            kind, counts = await _wait(self.io.submit(self._write, item))
        except DatasetWriteError as exc:
            self._fail(exc, f"while writing {item.url}")
            raise DropItem(f"Not stored: {item.url}", log_level="DEBUG") from None
        self._count(counts)
        if kind == "not_stored":
            raise DropItem(f"Not stored (the dataset cannot be written): {item.url}", log_level="DEBUG")
        if not self.committing and time.monotonic() - self.last_commit >= self.commit_seconds:
            deferred_from_coro(self._commit())
        if kind == "duplicate" and isinstance(item, ArticleRecord):
            raise DropItem(f"Duplicate of article {item.article_id}: {item.url}", log_level="DEBUG")
        if isinstance(item, RejectRecord) and self.root is not None:  # without a dataset, feeds may want them
            level = "DEBUG" if item.reason in QUIET_REJECTS else "INFO"
            raise DropItem(f"Rejected {item.url}: {item.reason} at {item.stage} ({item.detail})", log_level=level)
        return item

    def _write(self, item: ArticleRecord | RejectRecord) -> tuple[str, dict[str, int]]:
        """On the sink's thread: the row's fate and the counters after it."""
        if self.sink.failure is not None:  # queued before a storage error stopped the crawl
            return "not_stored", dict(self.sink.counts)
        return self.sink.write(item), dict(self.sink.counts)

    def _count(self, counts: dict[str, int]) -> None:
        """The sink's counters as ``qikan/...`` stats (what the run summary and progress line read)."""
        stats = self.crawler.stats
        for key, value in counts.items():
            stats.set_value(f"qikan/{key}", value)

    async def close_spider(self, spider: Any = None) -> None:
        await self._commit()
        self.io.shutdown(wait=True)
        if self.lease is not None:  # storage (helper S)
            self.lease.release()
        if self.root is not None:
            logger.info("Dataset files written under %s: %d", self.root,
                        self.crawler.stats.get_value("qikan/files_written", 0))

    async def _commit(self) -> None:
        """Publish complete files, off the reactor: from now on their rows count as stored."""
        if self.sink.failure is not None or self.root is None:
            return
        self.committing = True
        try:
            stored = await _wait(self.io.submit(self.sink.commit))
        except DatasetWriteError as exc:
            self._fail(exc, "while committing")
            return
        finally:
            self.committing = False
        self.last_commit = time.monotonic()
        self.crawler.stats.set_value("qikan/files_written", self.sink.files_written)
        self.crawler.signals.send_catch_log(signal=dataset_committed, stored=stored)

    def _fail(self, error: DatasetWriteError, when: str) -> None:
        """Stop the crawl after a storage error: one error line, and no uncommitted row counts as written."""
        if self.sink.failure is not None:
            return
        lost = self.io.submit(self.sink.fail, error).result()  # the sink's thread is idle or nearly so
        self._count(dict(self.sink.counts))
        self.crawler.stats.set_value(STORAGE_ERROR_STAT, str(error))
        logger.error("Dataset write failed %s, stopping the crawl: %s (%d rows not stored; the next run fetches "
                     "their pages again)", when, error, lost)
        if self.crawler.engine is not None and self.crawler.engine.spider is not None:
            deferred_from_coro(self.crawler.engine.close_spider_async(reason=STORAGE_ERROR_REASON))
