"""``scrapy savefixture URL NAME``: fetch one page with the project's settings and save it as a fixture.

The expected row is what the pipelines make of the page today; review it (and
fix it by hand where it is wrong) before committing the folder.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from crawler.commands.replay import DEFAULT_FIXTURES
from crawler.spiders.qikan import raw_page_from_response
from pipelines.dataset import check_safe_name
from pipelines.fixtures import comparable, save_fixture
from pipelines.process import process_page
from pipelines.rawpage import RawPage


class _FetchOne(scrapy.Spider):
    """Fetches a single URL through the project's middlewares (User-Agent, robots.txt, retries)."""

    name = "savefixture"
    custom_settings = {
        "ITEM_PIPELINES": {},
        "RUN_SUMMARY_ENABLED": False,
        "HTTPERROR_ALLOW_ALL": True,  # a 404 page is worth saving too
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
    }

    def __init__(self, url: str, pages: list[RawPage], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.pages = pages

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(self.url, callback=self.keep, dont_filter=True)

    def keep(self, response: scrapy.http.Response) -> None:
        self.pages.append(raw_page_from_response(response, None))  # no link led here: the user named the URL


class Command(ScrapyCommand):
    requires_project = True

    def syntax(self) -> str:
        return "URL NAME"

    def short_desc(self) -> str:
        return "Fetch one page and save it as a fixture folder with its current output as the expected row"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--dir", default=str(DEFAULT_FIXTURES), help="fixtures folder (default: %(default)s)")
        parser.add_argument("--force", action="store_true", help="overwrite an existing fixture folder")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 2:
            raise UsageError("give a URL and a fixture name")
        url, name = args
        check_safe_name(name, "fixture name")
        folder = Path(opts.dir) / name
        if folder.exists() and not opts.force:
            raise UsageError(f"{folder} exists; use --force to overwrite it")
        pages: list[RawPage] = []
        assert self.crawler_process is not None
        self.crawler_process.crawl(_FetchOne, url=url, pages=pages)
        self.crawler_process.start()
        if not pages:
            print(f"could not fetch {url}: see the log above")
            self.exitcode = 1
            return
        raw = pages[0]
        outcome = process_page(raw)
        save_fixture(folder, raw, outcome)
        print(f"saved {url} (HTTP {raw.status}, {len(raw.body)} bytes) to {folder}")
        for key, value in comparable(outcome).items():
            shown = value if not isinstance(value, str) or len(value) < 120 else value[:117] + "..."
            print(f"  {key}: {shown!r}")
        print("Review expected.json before committing it.")
