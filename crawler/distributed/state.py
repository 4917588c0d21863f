"""The incremental state of a distributed crawl: a Redis hash article_id → newest ``fetched_at``.

Several workers commit files into one dataset at once, so each would otherwise
have to re-read the whole (possibly remote) dataset to learn what the others
stored. The hash is written by the worker that committed the rows, right after
the rename (:data:`crawler.signals.dataset_committed`), so the crash
semantics of :mod:`pipelines.state` hold: an article counts as stored only once
its file is in place. The first Redis-mode crawl of a dataset seeds the hash
from the dataset, so switching to Redis keeps the history; a hash that lists
articles of a dataset that has no rows (deleted, or a new ``DATASET_DIR`` under
the same ``REDIS_CRAWL_ID``) is discarded, so nothing is skipped that is not stored.

Values are ISO UTC timestamps with milliseconds (``2026-11-25T14:40:00.123Z``):
one fixed format, so string order is time order and a Lua script can keep the
newest without parsing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import redis
from scrapy.crawler import Crawler
from scrapy_redis.connection import get_redis_from_settings

from crawler.distributed import frontier_keys
from pipelines import layout
from pipelines.state import StoredArticles

logger = logging.getLogger(__name__)

BATCH = 1000

KEEP_NEWEST = """
for i = 1, #ARGV, 2 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if not current or current < ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 0
"""


def to_text(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def from_text(text: str | bytes) -> dt.datetime:
    value = text.decode() if isinstance(text, bytes) else text
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


class RedisArticleState:
    """Reads and records the stored articles of one crawl id in Redis."""

    def __init__(self, server: redis.Redis, key: str) -> None:
        self.server = server
        self.key = key
        self._keep_newest = server.register_script(KEEP_NEWEST)

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> RedisArticleState:
        """The state of this crawl id and spider, on the ``REDIS_URL`` server."""
        assert crawler.spider is not None
        return cls(get_redis_from_settings(crawler.settings), frontier_keys(crawler.settings, crawler.spider.name).stored)

    def load(self, root: str) -> StoredArticles:
        """The state as a :class:`StoredArticles`: seeded from the dataset at ``root`` when empty, and
        discarded when ``root`` has no committed rows (the dataset was deleted, or is a new one under
        the same ``REDIS_CRAWL_ID``): the dataset is the truth, and fetching again loses nothing."""
        if not _has_committed_rows(root):
            self._discard_unless_recorded(root)
            return StoredArticles()
        if not self.server.exists(self.key):
            seed = StoredArticles.from_dataset(root)
            self.record((a, t) for a in seed.ids() if (t := seed.fetched_at(a)) is not None)
            logger.info("Seeded Redis state %s with %d stored articles from %s", self.key, len(seed), root)
        return self._read()

    def _discard_unless_recorded(self, root: str) -> None:
        """Delete the hash, unless a worker records a commit meanwhile (then the dataset has rows after all)."""
        with self.server.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(self.key)
                stale = pipe.hlen(self.key)
                if not stale:
                    return
                pipe.multi()
                pipe.delete(self.key)
                pipe.execute()
                logger.warning(
                    "Redis state %s listed %d stored articles but %s has no committed rows: state discarded",
                    self.key, stale, root,
                )  # fmt: skip
            except redis.WatchError:
                pass

    def _read(self) -> StoredArticles:
        return StoredArticles({k.decode(): from_text(v) for k, v in self.server.hscan_iter(self.key, count=BATCH)})

    def record(self, stored: Iterable[tuple[str, dt.datetime]]) -> int:
        """Keep the newest ``fetched_at`` of each article; returns how many pairs were sent."""
        batch: list[str] = []
        sent = 0
        for article_id, fetched_at in stored:
            batch += [article_id, to_text(fetched_at)]
            if len(batch) >= 2 * BATCH:
                self._keep_newest(keys=[self.key], args=batch)
                sent += len(batch) // 2
                batch = []
        if batch:
            self._keep_newest(keys=[self.key], args=batch)
            sent += len(batch) // 2
        return sent

    def stored_since(self, article_ids: list[str], since: dt.datetime | None) -> set[str]:
        """The ids among ``article_ids`` stored at or after ``since`` (at any time when None)."""
        if not article_ids:
            return set()
        values = self.server.hmget(self.key, article_ids)
        return {
            article_id
            for article_id, value in zip(article_ids, values, strict=True)
            if value is not None and (since is None or from_text(value) >= since)
        }


def _has_committed_rows(root: str) -> bool:
    """Whether ``root`` has a committed file under ``articles`` or ``rejects`` (either layout).

    Writers create folders when they start and write in ``DIR/.staging`` until they
    commit, so neither a folder nor a file being written counts.
    """
    filesystem, path = layout.open_filesystem(root)
    return layout.has_data_files(filesystem, path)
