"""What reaches a feed (``-o``/``-O``): article rows only, and a word when a feed got none.

Rejects are rows of the dataset's ``rejects``, never of a feed: with a dataset
the dataset pipeline stops them, and without one (``-s DATASET_DIR=``)
:class:`FeedRowsPipeline`, the last pipeline, does. Otherwise a CSV feed would
take its header from a first reject and keep only ``url`` and ``fetched_at`` of
every article.

A feed holds the run's new rows. An incremental crawl skips stored articles, so
a second run can leave a feed empty; :func:`empty_feed_note` says so in the run
summary, with the way to get every stored row (``scrapy export``).
"""

from __future__ import annotations

from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from pipelines.records import ArticleRecord, RejectRecord


class FeedRowsPipeline:
    """Lets only articles through to the feeds; a reject ends here, logged at DEBUG (see the log formatter)."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FeedRowsPipeline:
        if not crawler.settings.getbool("FEED_ARTICLES_ONLY"):
            raise NotConfigured("FEED_ARTICLES_ONLY is off: every item reaches the feeds")
        return cls()

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if isinstance(item, ArticleRecord):
            return item
        if isinstance(item, RejectRecord):
            raise DropItem(f"Rejected {item.url}: {item.reason} at {item.stage} ({item.detail})", log_level="DEBUG")
        raise DropItem(f"Not an article row ({type(item).__name__}): {getattr(item, 'url', '')}", log_level="DEBUG")


def empty_feed_note(stats: dict[str, Any], settings: Any, dataset_dir: str | None) -> str | None:
    """Why the run's feeds got no row, when the reason is that every article found was already stored."""
    feeds = list(settings.getdict("FEEDS"))
    skipped = stats.get("qikan/incremental/skipped_stored", 0)
    if not feeds or stats.get("item_scraped_count", 0) or not skipped:
        return None
    where = dataset_dir or "DATASET_DIR"
    return (f"the feed {', '.join(map(str, feeds))} got no rows: every article found is already stored in {where} "
            f"({skipped} links skipped), and a feed holds only a run's new rows; `scrapy export {where} -O FILE` "
            f"writes every stored row, `-a refetch=all` fetches them again")
