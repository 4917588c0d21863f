"""``scrapy crawl`` that exits non-zero when the run failed a check.

Scrapy's own command exits 0 whatever the crawl found. A scheduled job needs
more: a template change that empties the rows must fail the job (see
:class:`crawler.extensions.RunSummary`).
"""

from __future__ import annotations

import argparse
import sys

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.crawler import Crawler
from scrapy.exceptions import UsageError

from crawler.extensions import FAILED_CHECKS_STAT

EXIT_CHECK_FAILED = 3


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("give exactly one spider name")
        assert self.crawler_process is not None
        crawler: Crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
            return
        failed = crawler.stats.get_value(FAILED_CHECKS_STAT) if crawler.stats else None
        if failed:
            for failure in failed:
                print(f"crawl failed a check: {failure}", file=sys.stderr)
            self.exitcode = EXIT_CHECK_FAILED
