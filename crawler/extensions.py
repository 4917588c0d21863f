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
from crawler.runinfo import crawl_run_id, dataset_dir
from pipelines.card import write_dataset_card
from crawler.itempipelines import STORAGE_ERROR_STAT
from pipelines.dataset import DatasetWriteError, write_atomic
from pipelines.dataset import check_safe_name
from pipelines.records import RejectReason

logger = logging.getLogger(__name__)

# -- exit codes of the project's commands (README "Exit codes") -------------------
EXIT_OK = 0
EXIT_START_FAILED = 1
"""The run could not start (unreadable dataset, unwritable folder) or failed (a rebuild worker died)."""
EXIT_USAGE = 2
"""A mistake in arguments or settings, refused before anything starts."""
EXIT_CHECK_FAILED = 3
"""The run ended but failed a check (template drift, error rate, parse errors, no articles)."""
EXIT_STORAGE_ERROR = 4
"""The dataset could not be written (disk full, read-only, no permission): the run stopped at once.
Rows not committed are not stored; the next run, with space again, fetches them again."""
EXIT_INTERRUPTED = 5
"""SIGTERM or Ctrl-C (or a limit such as MEMUSAGE_LIMIT_MB) stopped the run: its summary is written,
marked ``interrupted``; running the same command again completes it."""

FORCED_SHUTDOWN = "forced_shutdown"
"""Finish reason of a crawl stopped by a second Ctrl-C/SIGTERM: Scrapy never closed the spider."""
INTERRUPTED_STAT = "qikan/interrupted"
SUMMARY_FILE_STAT = "qikan/summary_file"

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
        self.parse_error_max_share = crawler.settings.getfloat("PARSE_ERROR_MAX_SHARE", 0.01)
        self.start_failure: str | None = None
        self.closed = False
        self.started = time.monotonic()
        self.started_at = dt.datetime.now(dt.timezone.utc)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunSummary:
        if not crawler.settings.getbool("RUN_SUMMARY_ENABLED", True):
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
        self.started_at = dt.datetime.now(dt.timezone.utc)
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
        parse_errors = stats.get(f"qikan/rejects/{RejectReason.PARSE_ERROR.value}", 0)
        parse_share = parse_errors / drift["article_pages"] if drift["article_pages"] else 0.0
        if parse_errors and parse_share > self.parse_error_max_share:
            failed.append(
                f"parse errors: {parse_errors} of {drift['article_pages']} article pages failed in processing "
                f"({parse_share:.0%} > {self.parse_error_max_share:.0%}; a bug or dead worker processes, see the log)"
            )
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
            "interrupted": interrupted,
            **({"note": "stopped before the spider closed: rows not committed by then are lost, and the "
                        "next run fetches those articles again"} if reason == FORCED_SHUTDOWN else {}),
            "resumable": interrupted and bool(self.crawler.settings.get("JOBDIR") or (
                self.root and self.crawler.settings.getbool("INCREMENTAL_ENABLED", True))),
            "duration_seconds": round(duration, 3),
            "pages_fetched": pages,
            "pages_by_kind": fetched,
            "pages_per_second": round(pages / duration, 2) if duration > 0 else None,
            "peak_rss_mb": round(stats["memusage/max"] / 2**20, 1) if "memusage/max" in stats else None,
            "articles_written": stats.get("qikan/articles_written", 0),
            "stored_article_links_skipped": stats.get("qikan/incremental/skipped_stored", 0),
            "articles_refetched_changed": stats.get("qikan/incremental/refetched_changed", 0),
            "duplicate_articles": stats.get("qikan/duplicate_articles", 0),
            "discovery": learner.summary() if learner is not None else None,
            "rejects_written": stats.get("qikan/rejects_written", 0),
            "rejects": _prefixed(stats, "qikan/rejects/"),
            "missing_fields": _prefixed(stats, "qikan/missing/"),
            "errors": errors,
            "template_drift": drift,
            "failed_checks": failed,
            "storage_error": stats.get(STORAGE_ERROR_STAT),
            "exit_code": (EXIT_STORAGE_ERROR if stats.get(STORAGE_ERROR_STAT) else EXIT_INTERRUPTED if interrupted
                          else EXIT_CHECK_FAILED if failed else EXIT_OK),
            "status": ("storage_error" if stats.get(STORAGE_ERROR_STAT) else "interrupted" if interrupted
                       else "failed" if failed else "ok"),
            "dataset_dir": self.root,
            "files_written": stats.get("qikan/files_written", 0),
            "feed_note": empty_feed_note(stats, self.crawler.settings, self.root),
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
