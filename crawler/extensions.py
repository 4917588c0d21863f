"""The run summary, and the checks that make a scheduled crawl fail loudly.

At the end of every crawl :class:`RunSummary` logs what happened (pages
fetched, articles written, rejects by reason, errors by kind, duration, where
the data is) and writes it to ``DATASET_DIR/runs/<run_id>.json``. Failed
checks (template drift, ...) are listed there and make ``scrapy crawl`` exit
non-zero (see :mod:`crawler.commands.crawl`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler.runinfo import crawl_run_id, dataset_dir
from pipelines.card import write_dataset_card
from pipelines.dataset import write_atomic
from pipelines.dataset import check_safe_name
from pipelines.records import RejectReason

logger = logging.getLogger(__name__)

FAILED_CHECKS_STAT = "qikan/failed_checks"
ARTICLE_PAGE_REJECTS = (
    RejectReason.EMPTY_BODY.value,
    RejectReason.TEMPLATE_MISMATCH.value,
    RejectReason.PARSE_ERROR.value,
)
"""Rejects of pages that were article pages: the template failed on them."""
FETCH_FAILURE_REJECTS = (RejectReason.FETCH_ERROR.value, RejectReason.HTTP_STATUS.value)


def _prefixed(stats: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in sorted(stats.items()) if k.startswith(prefix)}


def template_drift(stats: dict[str, Any], max_share: float, min_pages: int) -> dict[str, Any]:
    """Share of article pages that gave no title, no body or no journal."""
    incomplete = stats.get("qikan/articles_incomplete", 0) + sum(
        stats.get(f"qikan/rejects/{reason}", 0) for reason in ARTICLE_PAGE_REJECTS
    )
    pages = stats.get("qikan/articles_written", 0) + sum(
        stats.get(f"qikan/rejects/{reason}", 0) for reason in ARTICLE_PAGE_REJECTS
    )
    share = incomplete / pages if pages else 0.0
    return {
        "article_pages": pages,
        "incomplete": incomplete,
        "share": round(share, 4),
        "max_share": max_share,
        "failed": pages >= min_pages and share > max_share,
    }


class RunSummary:
    """Logs and stores a summary of every crawl; records failed checks for the exit code."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.root = dataset_dir(crawler.settings)
        self.drift_max_share = crawler.settings.getfloat("TEMPLATE_DRIFT_MAX_SHARE", 0.2)
        self.drift_min_pages = crawler.settings.getint("TEMPLATE_DRIFT_MIN_PAGES", 10)
        self.error_max_share = crawler.settings.getfloat("ERROR_MAX_SHARE", 0.25)
        self.error_min_pages = crawler.settings.getint("ERROR_MIN_PAGES", 10)
        self.started = time.monotonic()
        self.started_at = dt.datetime.now(dt.timezone.utc)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunSummary:
        if not crawler.settings.getbool("RUN_SUMMARY_ENABLED", True):
            raise NotConfigured
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Any) -> None:
        self.started = time.monotonic()
        self.started_at = dt.datetime.now(dt.timezone.utc)
        crawl_run_id(self.crawler)

    def spider_closed(self, spider: Any, reason: str) -> None:
        summary = self.summarize(spider, reason)
        self.crawler.stats.set_value(FAILED_CHECKS_STAT, summary["failed_checks"])
        self._log(summary)
        if self.root:
            summary["summary_file"] = self._write(summary)
            self._write_card()

    def summarize(self, spider: Any, reason: str) -> dict[str, Any]:
        stats = self.crawler.stats.get_stats()
        duration = time.monotonic() - self.started
        fetched = _prefixed(stats, "qikan/fetched/")
        pages = sum(fetched.values())
        drift = template_drift(stats, self.drift_max_share, self.drift_min_pages)
        failed = []
        if drift["failed"]:
            failed.append(
                f"template drift: {drift['incomplete']} of {drift['article_pages']} article pages "
                f"gave no title, body or journal ({drift['share']:.0%} > {self.drift_max_share:.0%})"
            )
        error_pages = sum(stats.get(f"qikan/rejects/{r}", 0) for r in FETCH_FAILURE_REJECTS)
        error_share = error_pages / pages if pages else 0.0
        if pages >= self.error_min_pages and error_share > self.error_max_share:
            failed.append(
                f"error rate: {error_pages} of {pages} fetched pages failed "
                f"({error_share:.0%} > {self.error_max_share:.0%})"
            )
        # With REDIS_URL the crawl is all workers together: one may well have seen no article link.
        links = stats.get("qikan/article_links_seen", 0) or stats.get("qikan/distributed/crawl_article_links_seen", 0)
        if not links:
            failed.append("no articles found: the crawl saw no link to any article page")
        errors = {
            **{f"download/{k}": v for k, v in _prefixed(stats, "downloader/exception_type_count/").items()},
            **{f"spider/{k}": v for k, v in _prefixed(stats, "spider_exceptions/").items()},
            **{f"retry/{k}": v for k, v in _prefixed(stats, "retry/reason_count/").items()},
            **({"retry/gave_up": stats["retry/max_reached"]} if "retry/max_reached" in stats else {}),
            **{k: v for k, v in _prefixed(stats, "qikan/errors/").items()},
            **({"log/error_lines": stats["log_count/ERROR"]} if "log_count/ERROR" in stats else {}),
        }
        return {
            "run_id": crawl_run_id(self.crawler),
            "worker_id": self.crawler.settings.get("WORKER_ID") or None,
            "redis_crawl_id": (self.crawler.settings.get("REDIS_CRAWL_ID") if self.crawler.settings.get("REDIS_URL") else None),
            "spider": getattr(spider, "name", None),
            "start_url": getattr(spider, "start_url", None),
            "journal": getattr(spider, "journal", None),
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "finish_reason": reason,
            "duration_seconds": round(duration, 3),
            "pages_fetched": pages,
            "pages_by_kind": fetched,
            "pages_per_second": round(pages / duration, 2) if duration > 0 else None,
            "peak_rss_mb": round(stats["memusage/max"] / 2**20, 1) if "memusage/max" in stats else None,
            "articles_written": stats.get("qikan/articles_written", 0),
            "stored_article_links_skipped": stats.get("qikan/incremental/skipped_stored", 0),
            "articles_refetched_changed": stats.get("qikan/incremental/refetched_changed", 0),
            "duplicate_articles": stats.get("qikan/duplicate_articles", 0),
            "alias_links_seen": stats.get("qikan/alias_urls_seen", 0),
            "rejects_written": stats.get("qikan/rejects_written", 0),
            "rejects": _prefixed(stats, "qikan/rejects/"),
            "missing_fields": _prefixed(stats, "qikan/missing/"),
            "errors": errors,
            "template_drift": drift,
            "failed_checks": failed,
            "dataset_dir": self.root,
            "files_written": stats.get("qikan/files_written", 0),
        }

    def _log(self, summary: dict[str, Any]) -> None:
        logger.info(
            "Run %s: %d pages fetched in %.1fs (%s pages/s); %d articles, %d rejects %s; errors %s; data in %s",
            summary["run_id"],
            summary["pages_fetched"],
            summary["duration_seconds"],
            summary["pages_per_second"],
            summary["articles_written"],
            summary["rejects_written"],
            summary["rejects"],
            summary["errors"] or "none",
            summary["dataset_dir"],
        )
        for failure in summary["failed_checks"]:
            logger.error("Run %s failed a check: %s", summary["run_id"], failure)

    def _write_card(self) -> None:
        """Refresh DATASET_DIR/README.md; a failure is logged, the data is already safe."""
        assert self.root is not None
        try:
            write_dataset_card(self.root)
        except Exception as exc:
            logger.error("Could not write the dataset card in %s: %r", self.root, exc)
            self.crawler.stats.inc_value("qikan/errors/dataset_card")

    def _write(self, summary: dict[str, Any]) -> str:
        """Write ``runs/<run_id>.json`` atomically, like rebuild's summary and the dataset card."""
        assert self.root is not None
        name = check_safe_name(summary["run_id"], "run id")
        data = json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8")
        return write_atomic(self.root, f"runs/{name}.json", data)
