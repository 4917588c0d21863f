"""Distributed crawling: N crawler processes share one frontier in Redis (scrapy-redis).

``-s REDIS_URL=redis://host:port/db`` turns it on; without it nothing here
imports ``redis`` or ``scrapy_redis``, so a single-machine crawl neither needs
nor loads them. :class:`RedisAddon` (registered in ``ADDONS``) is the switch:
it puts scrapy-redis's duplicate filter and our subclass of its scheduler
(:mod:`crawler.distributed.frontier`) in place, with keys named after
``REDIS_CRAWL_ID`` and the spider, so two unrelated crawls never share a
frontier.

What lives in Redis, under ``<REDIS_CRAWL_ID>:<spider>:``:

- ``requests`` (sorted set) and ``dupefilter`` (set): scrapy-redis's queue and
  seen-set. Every worker pushes what it discovers and pops what it fetches, so
  each page is fetched once across all workers.
- ``workers`` (set), ``worker:<id>`` (heartbeat, with a TTL), ``inflight:<id>``
  and ``written:<id>`` (hashes of serialized requests): the requests a worker
  has taken but not yet written, and those written but not yet committed.
  A worker whose heartbeat expired has its requests put back in the queue by
  any other worker, so a killed worker loses nothing.
- ``stored`` (hash article_id → newest ``fetched_at``): the incremental state,
  written only after a commit renamed the files into place
  (see :mod:`crawler.distributed.state`).
- ``stats`` (hash): crawl-wide facts (start time, article links seen).

Each worker writes its own files (``part-<run_id>-<WORKER_ID>-NNNNN.parquet``)
and its own ``runs/<run_id>.json`` into the shared ``DATASET_DIR``.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass

from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings

from pipelines.layout import check_name  # crawl ids and worker ids name Redis keys and dataset files


def redis_url(settings: BaseSettings) -> str | None:
    """``REDIS_URL``, or None when the crawl runs on its own."""
    value = settings.get("REDIS_URL")
    return str(value) if value else None


def default_worker_id() -> str:
    """``<hostname>-<pid>``, reduced to the characters a file name may hold: unique per process."""
    raw = f"{socket.gethostname()}-{os.getpid()}"
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", raw).lstrip("_.-")
    if len(cleaned) > 64:  # keep the pid, which is what makes it unique
        cleaned = cleaned[-64:].lstrip("_.-")
    return cleaned or f"worker-{os.getpid()}"


@dataclass(frozen=True)
class FrontierKeys:
    """The Redis keys of one crawl (``REDIS_CRAWL_ID``) of one spider."""

    crawl_id: str
    spider: str

    @staticmethod
    def template(crawl_id: str, name: str) -> str:
        """A key in scrapy-redis's ``%(spider)s`` template form, for its settings."""
        return f"{crawl_id}:%(spider)s:{name}"

    @property
    def prefix(self) -> str:
        return f"{self.crawl_id}:{self.spider}"

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    @property
    def requests(self) -> str:
        return self.key("requests")

    @property
    def dupefilter(self) -> str:
        return self.key("dupefilter")

    @property
    def workers(self) -> str:
        return self.key("workers")

    @property
    def stats(self) -> str:
        return self.key("stats")

    @property
    def stored(self) -> str:
        return self.key("stored")

    def heartbeat(self, worker: str) -> str:
        return self.key(f"worker:{worker}")

    def inflight(self, worker: str) -> str:
        return self.key(f"inflight:{worker}")

    def written(self, worker: str) -> str:
        return self.key(f"written:{worker}")


def frontier_keys(settings: BaseSettings, spider_name: str) -> FrontierKeys:
    return FrontierKeys(check_name(settings.get("REDIS_CRAWL_ID"), "REDIS_CRAWL_ID"), spider_name)


def worker_in_use_message(worker: str, prefix: str, timeout: float) -> str:
    return (
        f"WORKER_ID {worker!r} is in use by a live worker of {prefix} (or one killed less than "
        f"REDIS_WORKER_TIMEOUT={timeout:g}s ago): give each worker its own id"
    )


class RedisAddon:
    """Scrapy add-on: switches scheduler and duplicate filter to scrapy-redis when ``REDIS_URL`` is set."""

    def update_settings(self, settings: BaseSettings) -> None:
        if redis_url(settings) is None:
            return  # nothing about Redis is imported or needed
        from crawler.distributed.frontier import RequestsFirstMiddleware  # imports scrapy_redis: Redis mode only

        crawl_id = check_name(settings.get("REDIS_CRAWL_ID"), "REDIS_CRAWL_ID")
        settings.set("SCHEDULER", "crawler.distributed.frontier.RedisScheduler", "addon")
        settings.set("SCHEDULER_QUEUE_CLASS", "crawler.distributed.frontier.FrontierQueue", "addon")
        settings.set("DUPEFILTER_CLASS", "scrapy_redis.dupefilter.RFPDupeFilter", "addon")
        settings.set("SCHEDULER_QUEUE_KEY", FrontierKeys.template(crawl_id, "requests"), "addon")
        settings.set("SCHEDULER_DUPEFILTER_KEY", FrontierKeys.template(crawl_id, "dupefilter"), "addon")
        # The frontier outlives any one worker: the last worker out resets it (see RedisScheduler.close).
        settings.set("SCHEDULER_PERSIST", True, "addon")
        if not settings.get("WORKER_ID"):
            # At the priority of the project's own ``WORKER_ID = None``, which "addon" would not override.
            priority = max(settings.getpriority("WORKER_ID") or 0, SETTINGS_PRIORITIES["addon"])
            settings.set("WORKER_ID", default_worker_id(), priority)
        check_name(str(settings.get("WORKER_ID")), "WORKER_ID")
        settings.set_in_component_priority_dict("SPIDER_MIDDLEWARES", RequestsFirstMiddleware, 5)
        # Redis itself is first reached by the scheduler: scrapy-redis pings it when the scheduler is built,
        # and RedisScheduler.open refuses a WORKER_ID in use, atomically, before a request is sent.

