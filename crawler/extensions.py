"""The run summary, and the checks that make a scheduled crawl fail loudly.

At the end of every crawl :class:`RunSummary` logs what happened (pages
fetched, articles written, rejects by reason, errors by kind, duration, where
the data is) and writes it to ``DATASET_DIR/runs/<run_id>.json``. Failed
checks (template drift, ...) are listed there and make ``scrapy crawl`` exit
non-zero (see :mod:`crawler.commands.crawl`). A run that did not finish
(SIGTERM, Ctrl-C, a memory limit) is marked ``interrupted``: it is never taken
for a complete one.
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

from crawler.feeds import empty_feed_note
from crawler.itempipelines import STORAGE_ERROR_STAT
from crawler.runinfo import crawl_run_id, dataset_dir
from pipelines.card import write_dataset_card
from pipelines.dataset import DatasetWriteError, check_safe_name, write_atomic
from pipelines.records import RejectReason
from pipelines.summary import (  # noqa: F401 - the exit codes, re-exported for the commands
    ARTICLE_PAGE_REJECTS,
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_START_FAILED,
    EXIT_STORAGE_ERROR,
    EXIT_USAGE,
    FETCH_FAILURE_REJECTS,
    Thresholds,
    failed_checks,
    prefixed,
    template_drift,
)
from pipelines.summary import RunSummary as Summary

logger = logging.getLogger(__name__)

# -- exit codes of the project's commands (README "Exit codes"): one table, in pipelines.summary
# (EXIT_OK 0, EXIT_START_FAILED 1, EXIT_USAGE 2, EXIT_CHECK_FAILED 3, EXIT_STORAGE_ERROR 4, EXIT_INTERRUPTED 5)

FORCED_SHUTDOWN = "forced_shutdown"
"""Finish reason of a crawl stopped by a second Ctrl-C/SIGTERM: Scrapy never closed the spider."""
INTERRUPTED_STAT = "qikan/interrupted"
SUMMARY_FILE_STAT = "qikan/summary_file"

FAILED_CHECKS_STAT = "qikan/failed_checks"


class RunSummary:
    """Logs and stores a summary of every crawl (a :class:`pipelines.summary.RunSummary`); records failed
    checks for the exit code."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.root = dataset_dir(crawler.settings)
        settings = crawler.settings
        self.thresholds = Thresholds(
            drift_max_share=settings.getfloat("TEMPLATE_DRIFT_MAX_SHARE"),
            drift_min_pages=settings.getint("TEMPLATE_DRIFT_MIN_PAGES"),
            error_max_share=settings.getfloat("ERROR_MAX_SHARE"),
            error_min_pages=settings.getint("ERROR_MIN_PAGES"),
            parse_error_max_share=settings.getfloat("PARSE_ERROR_MAX_SHARE"),
        )
        self.start_failure: str | None = None
        self.closed = False
        self.started = time.monotonic()
        self.started_at = dt.datetime.now(dt.UTC)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunSummary:
        if not crawler.settings.getbool("RUN_SUMMARY_ENABLED"):
            raise NotConfigured
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(extension.item_dropped, signal=signals.item_dropped)
        return extension

    def item_dropped(self, item: Any, spider: Any = None, **kwargs: Any) -> None:
        """Remember why the start page was not fetched: "connection refused" says more than "no articles"."""
        start = str(getattr(spider, "start_url", None) or "").rstrip("/")
        asked = str(getattr(item, "request_url", None) or getattr(item, "url", None) or "").rstrip("/")
        if not start or asked != start or self.start_failure is not None:
            return
        error = getattr(item, "error", None)
        if getattr(item, "reason", None) == RejectReason.FETCH_ERROR.value:  # the reject, not the raw page
            error = getattr(item, "detail", None)
        status = getattr(item, "status", 200)
        if error:
            self.start_failure = str(error)
        elif not 200 <= int(status or 0) < 300:
            self.start_failure = f"HTTP {status}"

    def spider_opened(self, spider: Any) -> None:
        self.started = time.monotonic()
        self.started_at = dt.datetime.now(dt.UTC)
        crawl_run_id(self.crawler)

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        summary = self.summarize(spider, reason)
        self.crawler.stats.set_value(FAILED_CHECKS_STAT, summary["failed_checks"])
        self.crawler.stats.set_value(INTERRUPTED_STAT, summary["interrupted"])
        self._log(summary)
        if self.root:
            summary["summary_file"] = self._write(summary)
            self.crawler.stats.set_value(SUMMARY_FILE_STAT, summary["summary_file"])
            self._write_card()

    def summarize(self, spider: Any, reason: str) -> dict[str, Any]:
        stats = self.crawler.stats.get_stats()
        counts = prefixed(stats, "qikan/")  # the sink's counters, and the crawl's own
        duration = time.monotonic() - self.started
        fetched = prefixed(stats, "qikan/fetched/")
        pages = sum(fetched.values())
        drift, failed = failed_checks(counts, pages, self.thresholds)
        interrupted = reason != "finished"
        # With REDIS_URL the crawl is all workers together: one may well have seen no article link.
        links = stats.get("qikan/article_links_seen", 0) or stats.get("qikan/distributed/crawl_article_links_seen", 0)
        learner = getattr(spider, "discovery", None)  # the spider's pipelines.discovery.Learner
        learned = learner is not None and learner.learned_articles()
        if not links and self.start_failure is not None:
            failed.append(f"start page not fetched: {getattr(spider, 'start_url', '?')}: {self.start_failure}")
        elif not links and not learned and not interrupted:
            seen = learner.describe() if learner is not None else "no discovery state"
            failed.append(f"no articles found: the crawl learned no article URL pattern; {seen}")
        errors = {
            **{f"download/{k}": v for k, v in prefixed(stats, "downloader/exception_type_count/").items()},
            **{f"spider/{k}": v for k, v in prefixed(stats, "spider_exceptions/").items()},
            **{f"retry/{k}": v for k, v in prefixed(stats, "retry/reason_count/").items()},
            **({"retry/gave_up": stats["retry/max_reached"]} if "retry/max_reached" in stats else {}),
            **{k: v for k, v in prefixed(stats, "qikan/errors/").items()},
            **({"log/error_lines": stats["log_count/ERROR"]} if "log_count/ERROR" in stats else {}),
        }
        settings = self.crawler.settings
        summary = Summary(
            run_id=crawl_run_id(self.crawler),
            kind="crawl",
            worker_id=settings.get("WORKER_ID") or None,
            started_at=self.started_at.isoformat(timespec="seconds"),
            finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            duration_seconds=round(duration, 3),
            finish_reason=reason,
            interrupted=interrupted,
            pages=pages,
            articles_written=counts.get("articles_written", 0),
            duplicate_articles=counts.get("duplicate_articles", 0),
            rejects_written=counts.get("rejects_written", 0),
            rejects=prefixed(counts, "rejects/"),
            missing_fields=prefixed(counts, "missing/"),
            errors=errors,
            failed_checks=failed,
            storage_error=stats.get(STORAGE_ERROR_STAT),
            files_written=counts.get("files_written", 0),
            dataset_dir=self.root,
            peak_rss_mb=round(stats["memusage/max"] / 2**20, 1) if "memusage/max" in stats else None,
            details={
                "redis_crawl_id": settings.get("REDIS_CRAWL_ID") if settings.get("REDIS_URL") else None,
                "spider": getattr(spider, "name", None),
                "start_url": getattr(spider, "start_url", None),
                "journal": getattr(spider, "journal", None),
                **({"note": "stopped before the spider closed: rows not committed by then are lost, and the "
                            "next run fetches those articles again"} if reason == FORCED_SHUTDOWN else {}),
                "resumable": interrupted and bool(settings.get("JOBDIR") or (
                    self.root and settings.getbool("INCREMENTAL_ENABLED"))),
                "pages_by_kind": fetched,
                "stored_article_links_skipped": counts.get("incremental/skipped_stored", 0),
                "articles_refetched_changed": counts.get("incremental/refetched_changed", 0),
                "discovery": learner.summary() if learner is not None else None,
                "template_drift": drift,
                "feed_note": empty_feed_note(stats, settings, self.root),
            },
        )  # fmt: skip
        return summary.to_json()

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
        if summary.get("feed_note"):
            logger.warning("Run %s: %s", summary["run_id"], summary["feed_note"])
        for failure in summary["failed_checks"]:
            logger.error("Run %s failed a check: %s", summary["run_id"], failure)

    def _write_card(self) -> None:
        """Refresh DATASET_DIR/README.md; a failure is logged, the data is already safe."""
        assert self.root is not None
        if self.crawler.stats.get_value(STORAGE_ERROR_STAT):
            return  # the folder cannot be written: that was said once already
        try:
            write_dataset_card(self.root)
        except Exception as exc:
            logger.error("Could not write the dataset card in %s: %r", self.root, exc)
            self.crawler.stats.inc_value("qikan/errors/dataset_card")

    def _write(self, summary: dict[str, Any]) -> str | None:
        """Write ``runs/<run_id>.json`` atomically, like rebuild's summary and the dataset card."""
        assert self.root is not None
        name = check_safe_name(summary["run_id"], "run id")
        data = json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8")
        try:
            return write_atomic(self.root, f"runs/{name}.json", data)
        except DatasetWriteError as exc:  # the storage error itself was logged where it happened
            logger.warning("Run summary not written: %s", exc)
            return None
