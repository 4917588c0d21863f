"""Scrapy adapter for the raw archive: every raw page the spider yields goes to WARC first.

It runs before processing (see ``ITEM_PIPELINES``), so the archive holds what
was fetched whatever the cleaning rules make of it; ``scrapy rebuild`` turns
it into the dataset again without touching the site.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler.runinfo import crawl_run_id, dataset_dir
from pipelines.archive import WarcArchiveWriter
from pipelines.rawpage import RawPage

logger = logging.getLogger(__name__)


class RawArchivePipeline:
    """Writes each :class:`RawPage` to ``DATASET_DIR/raw/<run_id>[-<worker>]-<n>.warc.gz`` and passes it on unchanged."""

    def __init__(self, crawler: Crawler, root: str) -> None:
        self.crawler = crawler
        self.root = root
        self.max_bytes = int(crawler.settings.getfloat("RAW_ARCHIVE_MAX_MB") * 1024 * 1024)
        self.writer: WarcArchiveWriter | None = None
        self.failed = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RawArchivePipeline:
        if not crawler.settings.getbool("RAW_ARCHIVE_ENABLED"):
            raise NotConfigured("RAW_ARCHIVE_ENABLED is off: not archiving raw pages")
        root = dataset_dir(crawler.settings)
        if root is None:
            raise NotConfigured("DATASET_DIR is empty: not archiving raw pages")
        return cls(crawler, root)

    def open_spider(self, spider: Any = None) -> None:
        self.writer = WarcArchiveWriter(
            self.root,
            crawl_run_id(self.crawler),
            worker_id=self.crawler.settings.get("WORKER_ID") or None,
            max_bytes=self.max_bytes,
        )

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, RawPage) or self.writer is None or self.failed:
            return item
        try:
            self.writer.write(item)
        except OSError as exc:
            # A full disk must not cost the dataset its rows: stop archiving, keep crawling, say so loudly.
            logger.error("Raw archive disabled for the rest of the run: writing %s failed: %r", item.url, exc)
            self.crawler.stats.inc_value("qikan/errors/raw_archive")
            self.failed = True
            return item
        self.crawler.stats.inc_value("qikan/raw_archived")
        return item

    def close_spider(self, spider: Any = None) -> None:
        if self.writer is None:
            return
        self.writer.close()
        stats = self.crawler.stats
        stats.set_value("qikan/raw_archive_files", len(self.writer.files_written))
        stats.set_value("qikan/raw_archive_bytes", self.writer.bytes_written)
        if self.writer.files_written:
            logger.info("Archived %d raw pages in %d WARC files under %s/raw",
                        self.writer.records_written, len(self.writer.files_written), self.root)
