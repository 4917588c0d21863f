"""``scrapy crawl`` with exit codes a scheduler can act on.

Scrapy's own command exits 0 whatever happened. A scheduled job needs more: a
template change that empties the rows must fail the job (a failed check, 3),
an interrupted run must not pass for a complete one (5), and a mistake in
arguments or settings must say so in one line (2) before anything starts. The
codes are listed in :mod:`crawler.extensions`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.crawler import Crawler
from scrapy.exceptions import UsageError
from scrapy.spiderloader import get_spider_loader

from crawler.commands import check_settings, one_line_usage_errors, report
from crawler.extensions import (
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_START_FAILED,
    EXIT_STORAGE_ERROR,
    FAILED_CHECKS_STAT,
    FORCED_SHUTDOWN,
    RunSummary,
)
from crawler.itempipelines import STORAGE_ERROR_STAT


class Command(ScrapyCrawlCommand):
    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        one_line_usage_errors(parser, "crawl")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        """Arguments and settings are checked here, before Scrapy starts logging: a mistake is one line."""
        super().process_options(args, opts)
        assert self.settings is not None
        check_settings(self.settings)
        from pipelines.layout import storage_problems  # storage (helper S): no WARC archive on object storage

        archive = self.settings.getbool("RAW_ARCHIVE_ENABLED")
        if problems := storage_problems(self.settings.get("DATASET_DIR"), raw_archive=archive):
            raise UsageError("; ".join(problems), print_help=False)
        if len(args) == 1:
            check_spider_arguments(self.settings, args[0], opts.spargs)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("give exactly one spider name", print_help=False)
        assert self.crawler_process is not None
        crawler: Crawler = self._create_crawler(args[0])
        start_errors: list[BaseException] = []
        _keep_start_error(self.crawler_process.crawl(crawler, **opts.spargs), start_errors)
        self.crawler_process.start()
        if start_errors:
            report("crawl", "could not start", start_errors[0], self.settings)
            self.exitcode = EXIT_START_FAILED
            return
        if self.crawler_process.bootstrap_failed:
            self.exitcode = EXIT_START_FAILED
            return
        stats = crawler.stats
        assert stats is not None
        if stats.get_value(STORAGE_ERROR_STAT):
            self.exitcode = EXIT_STORAGE_ERROR  # logged once, with the path and the reason, by the dataset pipeline
            return
        reason = stats.get_value("finish_reason")
        if reason is None and crawler.spider is not None:
            # A second Ctrl-C stopped the reactor before the spider closed: no summary was written,
            # no rows were committed since the last commit. Write what is known, and fail.
            reason = FORCED_SHUTDOWN
            summary = _extension(crawler, RunSummary)
            if summary is not None:
                summary.spider_closed(crawler.spider, reason)
        for failure in stats.get_value(FAILED_CHECKS_STAT) or ():
            print(f"crawl failed a check: {failure}", file=sys.stderr)
            self.exitcode = EXIT_CHECK_FAILED
        if reason not in (None, "finished"):
            where = stats.get_value("qikan/summary_file")
            print(
                f"crawl interrupted ({reason}): run the same command again to complete it"
                + (f"; summary {where}" if where else ""),
                file=sys.stderr,
            )
            self.exitcode = EXIT_INTERRUPTED


def check_spider_arguments(settings: Any, name: str, spargs: dict[str, str]) -> None:
    """Build the spider once without a crawler: its constructor refuses bad ``-a`` arguments."""
    try:
        spidercls = get_spider_loader(settings).load(name)
    except KeyError:
        raise UsageError(f"no spider named {name!r}", print_help=False) from None
    try:
        spidercls(**spargs)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc), print_help=False) from None


def _keep_start_error(started: Any, errors: list[BaseException]) -> None:
    """Collect the exception that stopped the crawl from starting (retrieved, so asyncio does not
    print it again as "Task exception was never retrieved")."""

    def done(task: asyncio.Future) -> None:
        if not task.cancelled() and task.exception() is not None:
            errors.append(task.exception())  # type: ignore[arg-type]

    if isinstance(started, asyncio.Future):
        started.add_done_callback(done)
    elif hasattr(started, "addErrback"):  # a Deferred (Twisted's CrawlerProcess)
        started.addErrback(lambda failure: errors.append(failure.value))


def _extension(crawler: Crawler, cls: type) -> Any:
    manager = getattr(crawler, "extensions", None)
    return next((m for m in getattr(manager, "middlewares", ()) if isinstance(m, cls)), None)
