"""The shared frontier: scrapy-redis's scheduler, plus what a crawl needs when workers die.

scrapy-redis pops a request from the shared queue and it is gone from Redis:
if that worker is killed before the page is written, nobody fetches it again
(the duplicate filter has already seen it). :class:`RedisScheduler` therefore
moves each request it pops, atomically, into the worker's ``inflight`` hash;
once the request is done (its row written and its links in the queue) into
``written``; and deletes ``written`` after the next commit of the dataset. A
worker refreshes a heartbeat key with a TTL (``REDIS_WORKER_TIMEOUT``); any
worker that sees a heartbeat expire puts that worker's ``inflight`` and
``written`` requests back in the queue, except articles the dataset already
stores. Rows a dead worker never committed are lost with their record, so
fetching them again duplicates nothing.

The same bookkeeping says when a crawl is over: a worker with nothing to do
stays open while the queue has requests or another worker has requests in
hand (they may discover more); the last worker out resets the frontier, so the
next crawl with the same ``REDIS_CRAWL_ID`` starts from the start URLs again.
A worker that starts when no worker is alive and nothing is queued starts that
new crawl; otherwise it joins (or resumes) the one under way.

Written against scrapy-redis 0.9.1 and Scrapy 2.19: see :class:`RedisScheduler`
for what is overridden and why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import redis
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.spiders import Spider
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler
from twisted.internet.task import LoopingCall

from crawler.distributed import FrontierKeys, frontier_keys, worker_in_use_message
from crawler.distributed.lua import CLAIM, DONE, LEAVE, REGISTER
from crawler.distributed.state import RedisArticleState, from_text, to_text
from crawler.runinfo import crawl_run_id, dataset_dir
from crawler.signals import dataset_committed
from pipelines import urls

logger = logging.getLogger(__name__)

FRONTIER_KEY = "qikan_frontier_key"
"""Request meta: the request's field in this worker's ``inflight`` hash (SHA-1 of its serialized form)."""
WAKE_SECONDS = 0.5
"""How often a waiting worker looks for new requests (Scrapy itself looks every 5 s)."""
LINKS_STAT = "qikan/article_links_seen"
CRAWL_LINKS_STAT = "qikan/distributed/crawl_article_links_seen"

class FrontierQueue(PriorityQueue):
    """scrapy-redis's priority queue, with a pop that records the request as taken by a worker."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claim = self.server.register_script(CLAIM)

    def claim(self, inflight_key: str) -> tuple[str, Request] | None:
        """Pop the most urgent request into ``inflight_key``; returns its field there and the request."""
        data = self._claim(keys=[self.key, inflight_key])
        if data is None:
            return None
        return hashlib.sha1(data).hexdigest(), self._decode_request(data)

    def decode(self, data: bytes) -> Request:
        return self._decode_request(data)


class RedisScheduler(Scheduler):
    """scrapy-redis's scheduler with recoverable in-flight requests and a crawl-wide notion of "finished".

    Overridden from scrapy-redis 0.9.1: ``enqueue_request`` and ``next_request``
    (the stats calls there pass ``spider=``, which Scrapy 2.19 deprecates, and
    popping must claim), ``open`` and ``close`` (register, recover, reset;
    scrapy-redis would flush the shared queue when one worker closes unless
    ``SCHEDULER_PERSIST``, and never resets it when it is set).
    """

    crawler: Crawler
    spider: Spider
    queue: FrontierQueue

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisScheduler:
        scheduler = super().from_crawler(crawler)  # connects and pings: an unreachable Redis stops the crawl at start
        scheduler._bind(crawler)
        return scheduler

    def _bind(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.worker = str(settings["WORKER_ID"])
        self.timeout = max(settings.getfloat("REDIS_WORKER_TIMEOUT"), 1.0)
        self.keep_written = dataset_dir(settings) is not None  # no dataset, no commit to wait for
        # Room for the downloads under way and for retries waiting out their backoff, not for a backlog.
        self.prefetch = settings.getint("REDIS_PREFETCH") or 4 * settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        self.unprocessed: set[str] = set()
        self.registered = False
        self.links_pushed = 0
        self.crawl_started: dt.datetime | None = None
        self._done = self.server.register_script(DONE)
        self._register = self.server.register_script(REGISTER)
        self._leave = self.server.register_script(LEAVE)
        self.heartbeat = LoopingCall(self._beat)
        self.waker = LoopingCall(self._wake)
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error, signals.spider_error):
            crawler.signals.connect(self._response_done, signal=signal)
        crawler.signals.connect(self._request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(self._spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self._committed, signal=dataset_committed)

    # -- lifecycle -----------------------------------------------------------------

    def open(self, spider: Spider) -> None:
        super().open(spider)
        self.keys: FrontierKeys = frontier_keys(self.crawler.settings, spider.name)
        self.state = RedisArticleState(self.server, self.keys.stored)
        self.token = crawl_run_id(self.crawler)
        self.crawl_started = self._started_at()
        self._recover_dead()  # of the crawl under way, if any: then this worker joins it
        fresh = self._register(
            keys=[self.keys.workers, self.keys.requests, self.keys.dupefilter, self.keys.stats],
            args=[self.keys.prefix, self.worker, self.token, int(self.timeout * 1000), to_text(_now())],
        )
        if fresh == -1:  # a live worker holds this id
            raise RuntimeError(worker_in_use_message(self.worker, self.keys.prefix, self.timeout))
        self.registered = True
        self.crawl_started = self._started_at()
        workers = self.server.scard(self.keys.workers)
        if fresh:
            logger.info("Worker %s starts a new crawl %s", self.worker, self.keys.prefix)
        else:
            logger.info(
                "Worker %s joins crawl %s: %d requests queued, %d workers in it",
                self.worker, self.keys.prefix, len(self.queue), workers,
            )  # fmt: skip
        self.crawler.stats.set_value("qikan/distributed/worker_id", self.worker)
        self.crawler.stats.set_value("qikan/distributed/new_crawl", bool(fresh))
        self.heartbeat.start(self.timeout / 3, now=False)

    def _started_at(self) -> dt.datetime | None:
        started = self.server.hget(self.keys.stats, "started_at")
        return from_text(started) if started else None

    def close(self, reason: str) -> None:
        """Runs after the pipelines closed (the final commit is done): hand back what is left, then leave."""
        for loop in (self.heartbeat, self.waker):
            if loop.running:
                loop.stop()
        if not self.registered:
            return  # never joined (WORKER_ID in use): what is under our id belongs to another process
        # Normally empty: every request was written and committed. Left over only when the final
        # commit failed (its rows are not on disk), so they go back to the queue for another worker.
        requeued = self._requeue(self.worker, check_alive=False)
        if requeued:
            logger.warning("Worker %s put %d uncommitted requests back in the queue", self.worker, requeued)
        self._push_links()
        total = self.server.hget(self.keys.stats, "article_links_seen")
        self.crawler.stats.set_value(CRAWL_LINKS_STAT, int(total or 0))
        reset = self._leave(
            keys=[self.keys.workers, self.keys.requests, self.keys.dupefilter, self.keys.stats],
            args=[self.keys.prefix, self.worker],
        )
        if reset:
            logger.info(
                "Worker %s was the last of crawl %s (%s): frontier reset for the next crawl",
                self.worker, self.keys.prefix, reason,
            )  # fmt: skip
        else:
            logger.info(
                "Worker %s left crawl %s (%s): %d requests queued", self.worker, self.keys.prefix, reason, len(self.queue)
            )

    # -- the queue -------------------------------------------------------------------

    def enqueue_request(self, request: Request) -> bool:
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        request.meta.pop(FRONTIER_KEY, None)  # a retry or redirect carries its original's field
        self.crawler.stats.inc_value("scheduler/enqueued/redis")
        self.queue.push(request)
        return True

    def next_request(self) -> Request | None:
        if len(self.unprocessed) >= self.prefetch:
            # Requests taken wait in this worker's downloader while other workers may have nothing
            # to do: take no more than it fetches at once (Scrapy asks again when one is done).
            return None
        claimed = self.queue.claim(self.keys.inflight(self.worker))
        if claimed is None:
            return None
        key, request = claimed
        request.meta[FRONTIER_KEY] = key
        self.unprocessed.add(key)
        self.crawler.stats.inc_value("scheduler/dequeued/redis")
        return request

    # -- a request is done when its row is written and its links are queued ------------

    def _response_done(self, response: Any = None, **kwargs: Any) -> None:
        """item_scraped/dropped/error, spider_error: the page's one row went through the pipelines.

        :class:`RequestsFirstMiddleware` holds the row back until the page's links are in
        the queue, so at this point nothing of the page is left to lose but the commit.
        """
        request = getattr(response, "request", None)  # a Response, or the Failure an errback got
        if request is not None:
            self._mark_done(request.meta.get(FRONTIER_KEY))

    def _request_scheduled(self, request: Request, spider: Any = None) -> None:
        """A retry or redirect of a request we hold is going to the shared queue: the original is done."""
        self._mark_done(request.meta.get(FRONTIER_KEY))

    def _mark_done(self, key: str | None) -> None:
        if key is None or key not in self.unprocessed:
            return
        self.unprocessed.discard(key)
        self._done(
            keys=[self.keys.inflight(self.worker), self.keys.written(self.worker)],
            args=[key, "1" if self.keep_written else "0"],
        )

    def _committed(self, stored: list[tuple[str, dt.datetime]] | None = None, **kwargs: Any) -> None:
        """After a commit: record what is stored, then forget the requests whose rows are now on disk."""
        self.state.record(stored or [])
        self.server.delete(self.keys.written(self.worker))
        self._push_links()

    # -- staying open while the crawl goes on ---------------------------------------------

    def _spider_idle(self, spider: Any = None) -> None:
        if self.unprocessed:
            # Nothing is in progress here, so these ended without a row (a callback that failed early).
            for key in list(self.unprocessed):
                self._mark_done(key)
        self._push_links()
        self._recover_dead()
        if len(self.queue) or self._others_busy():
            if not self.waker.running:
                self.waker.start(WAKE_SECONDS, now=False)
            raise DontCloseSpider

    def _wake(self) -> None:
        """While waiting: when requests appear in the queue, or the other workers are done, have the
        engine look now rather than on its next heartbeat (5 s)."""
        try:
            if not len(self.queue) and self._others_busy():
                return
        except Exception:
            logger.exception("Worker %s: cannot read the queue", self.worker)
            return
        self.waker.stop()
        nextcall = getattr(getattr(self.crawler.engine, "_slot", None), "nextcall", None)  # Scrapy 2.19 internals
        if nextcall is not None:
            nextcall.schedule()

    def _others_busy(self) -> bool:
        """Another worker holds requests (it may discover more, or die and hand them back)."""
        others = [w for w in map(_text, self.server.smembers(self.keys.workers)) if w != self.worker]
        if not others:
            return False
        pipe = self.server.pipeline(transaction=False)
        for worker in others:
            pipe.exists(self.keys.inflight(worker), self.keys.written(worker))
        return any(pipe.execute())

    def _beat(self) -> None:
        try:
            pipe = self.server.pipeline(transaction=True)
            pipe.set(self.keys.heartbeat(self.worker), self.token, px=int(self.timeout * 1000))
            pipe.sadd(self.keys.workers, self.worker)  # back in, should another worker have taken us for dead
            pipe.execute()
            self._recover_dead()
        except Exception:  # a Redis hiccup must not stop the heartbeat for good
            logger.exception("Worker %s: heartbeat failed", self.worker)

    # -- dead workers ---------------------------------------------------------------------

    def _recover_dead(self) -> None:
        for worker in map(_text, self.server.smembers(self.keys.workers)):
            if worker != self.worker and not self.server.exists(self.keys.heartbeat(worker)):
                requeued = self._requeue(worker, check_alive=True)
                if requeued is not None:
                    logger.warning(
                        "Worker %s stopped (no heartbeat for %gs): %d of its requests are back in the queue",
                        worker, self.timeout, requeued,
                    )  # fmt: skip
                    self.crawler.stats.inc_value("qikan/distributed/recovered_requests", requeued)
                    self.crawler.stats.inc_value("qikan/distributed/dead_workers")

    def _requeue(self, worker: str, *, check_alive: bool) -> int | None:
        """Move ``worker``'s inflight and written requests back to the queue, atomically.

        Articles this crawl already stored (a row committed since the crawl started) stay out:
        their rows exist. Returns None when another worker got there first, or ``worker`` is alive.
        """
        heartbeat, inflight, written = self.keys.heartbeat(worker), self.keys.inflight(worker), self.keys.written(worker)
        with self.server.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(heartbeat, inflight, written)
                if check_alive and pipe.exists(heartbeat):
                    return None
                entries = [*pipe.hvals(written), *pipe.hvals(inflight)]
                requests = [(data, self.queue.decode(data)) for data in entries]
                ids = [urls.requested_article_id(r.url, r.meta.get("link_kind")) for _, r in requests]
                stored = self.state.stored_since(sorted({i for i in ids if i is not None}), self.crawl_started)
                pipe.multi()
                requeued = 0
                for (data, request), article_id in zip(requests, ids, strict=True):
                    if article_id is not None and article_id in stored:
                        continue
                    pipe.zadd(self.keys.requests, {data: -request.priority})
                    requeued += 1
                pipe.delete(inflight, written)
                if check_alive:
                    pipe.srem(self.keys.workers, worker)
                pipe.execute()
                return requeued
            except redis.WatchError:
                return None

    def _push_links(self) -> None:
        """Add this worker's article links to the crawl's count (the "no articles found" check is crawl-wide)."""
        seen = self.crawler.stats.get_value(LINKS_STAT, 0)
        if seen > self.links_pushed:
            self.server.hincrby(self.keys.stats, "article_links_seen", seen - self.links_pushed)
            self.links_pushed = seen


class RequestsFirstMiddleware:
    """Spider middleware (outermost): a page's links reach the shared queue before its row goes to the pipelines.

    The scheduler counts a request as done when its row has been through the
    pipelines; if the row could get there while the page's links were still on
    their way to Redis, a kill at that moment would lose the links. So the links
    are queued here, as they come, and the row follows once the callback is over.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RequestsFirstMiddleware:
        return cls(crawler)

    def process_spider_output(self, response: Any, result: Iterable[Any]) -> Iterator[Any]:
        held: list[Any] = []
        try:
            for element in result:
                if isinstance(element, Request):
                    self.crawler.engine.crawl(element)
                else:
                    held.append(element)
        except Exception:
            yield from held  # the page's row still gets written; Scrapy then logs the error
            raise
        yield from held

    async def process_spider_output_async(self, response: Any, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        held: list[Any] = []
        try:
            async for element in result:
                if isinstance(element, Request):
                    self.crawler.engine.crawl(element)
                else:
                    held.append(element)
        except Exception:
            for element in held:
                yield element
            raise
        for element in held:
            yield element


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
