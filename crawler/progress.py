"""A progress line on long crawls, in place of Scrapy's "Crawled N pages, scraped M items".

Every ``LOGSTATS_INTERVAL`` seconds: pages fetched and the rate, articles,
rejects by reason, the scheduler's queue, and the share of articles so far
that miss a tracked field (a rising share means the site changed: better seen
after ten minutes than in the run JSON after ten hours). On a terminal
(``PROGRESS_BAR = "auto"`` and stderr a tty, no ``LOG_FILE``) the same text is a
live one-line bar, redrawn every second and cleared before any log line and at
the end, so log lines never land in the middle of it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections import deque
from typing import Any, TextIO

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call

logger = logging.getLogger(__name__)

BAR_REFRESH_SECONDS = 1.0
RATE_WINDOW_SECONDS = 60.0
"""Pages/min is measured over the last minute: the crawl's speed now, not its average."""
BAR_MODES = ("auto", "on", "off")
CLEAR_LINE = "\r\x1b[K"


def _prefixed(stats: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: v for k, v in sorted(stats.items()) if k.startswith(prefix)}


def progress_text(stats: dict[str, Any], queue: int | None, pages_per_minute: float) -> str:
    """``1234 pages (310/min), 456 articles, 700 rejects (not_article 690, soft_404 10), queue 52, missing: ...``"""
    pages = stats.get("response_received_count", 0)
    articles = stats.get("qikan/articles_written", stats.get("item_scraped_count", 0))
    rejects = {reason: n for reason, n in _prefixed(stats, "qikan/rejects/").items() if n}
    by_reason = ", ".join(f"{reason} {n}" for reason, n in sorted(rejects.items(), key=lambda kv: -kv[1]))
    missing = {name: n for name, n in _prefixed(stats, "qikan/missing/").items() if n}
    shares = ", ".join(f"{name} {n / articles:.0%}" for name, n in sorted(missing.items())) if articles else ""
    return (f"{pages} pages ({pages_per_minute:.0f}/min), {articles} articles, {sum(rejects.values())} rejects"
            f"{f' ({by_reason})' if by_reason else ''}, queue {'?' if queue is None else queue}, "
            f"missing: {shares or 'none'}")


class _ClearBar(logging.Filter):
    """Clears the live bar before a log record is printed on the same stream."""

    def __init__(self, progress: ProgressLog) -> None:
        super().__init__()
        self.progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        self.progress.clear_bar()
        return True


class ProgressLog:
    """Logs :func:`progress_text` every ``LOGSTATS_INTERVAL`` seconds, or shows it as a live bar on a terminal."""

    def __init__(self, crawler: Crawler, interval: float, live: bool, stream: TextIO) -> None:
        self.crawler = crawler
        self.interval = interval
        self.live = live
        self.stream = stream
        self.samples: deque[tuple[float, int]] = deque()
        self.task: Any = None
        self.bar_shown = False
        self.bar_filter = _ClearBar(self)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProgressLog:
        interval = crawler.settings.getfloat("LOGSTATS_INTERVAL")
        if interval <= 0:
            raise NotConfigured("LOGSTATS_INTERVAL is 0: no progress line")
        mode = str(crawler.settings.get("PROGRESS_BAR")).lower()
        mode = {"true": "on", "1": "on", "false": "off", "0": "off"}.get(mode, mode)
        if mode not in BAR_MODES:
            raise NotConfigured(f"PROGRESS_BAR={mode!r} is not one of {', '.join(BAR_MODES)}")
        settings = crawler.settings
        terminal = sys.stderr.isatty() and not settings.get("LOG_FILE") and settings.getbool("LOG_ENABLED")
        live = mode == "on" or (mode == "auto" and terminal)
        extension = cls(crawler, interval, live, sys.stderr)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Any = None) -> None:
        self.samples.append((time.monotonic(), 0))
        if self.live:
            for handler in logging.root.handlers:
                handler.addFilter(self.bar_filter)
        self.task = create_looping_call(self.tick)
        self.task.start(min(self.interval, BAR_REFRESH_SECONDS) if self.live else self.interval, now=False)

    def spider_closed(self, spider: Any = None, reason: str = "") -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        if self.live:
            self.clear_bar()
            for handler in logging.root.handlers:
                handler.removeFilter(self.bar_filter)

    def current_text(self) -> str:
        stats = self.crawler.stats.get_stats()
        now, pages = time.monotonic(), stats.get("response_received_count", 0)
        self.samples.append((now, pages))
        while len(self.samples) > 2 and now - self.samples[1][0] >= RATE_WINDOW_SECONDS:
            self.samples.popleft()
        then, before = self.samples[0]
        rate = (pages - before) * 60.0 / (now - then) if now > then else 0.0
        return progress_text(stats, self._queue_size(), rate)

    def tick(self) -> None:
        text = self.current_text()
        if self.live:
            self.stream.write(CLEAR_LINE + text[: self._width() - 1])
            self.stream.flush()
            self.bar_shown = True
        else:
            logger.info("Progress: %s", text)

    def _width(self) -> int:
        """Columns of the terminal the bar is drawn on (a longer bar would wrap and never be cleared)."""
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        return max(20, columns or shutil.get_terminal_size((120, 24)).columns)

    def clear_bar(self) -> None:
        if self.bar_shown:
            self.bar_shown = False
            self.stream.write(CLEAR_LINE)
            self.stream.flush()

    def _queue_size(self) -> int | None:
        """Requests waiting in the scheduler (in Redis, with the distributed scheduler); None when unknown."""
        engine = self.crawler.engine
        scheduler = getattr(engine, "scheduler", None) if engine is not None else None
        try:
            return len(scheduler) if scheduler is not None else None
        except Exception:  # noqa: BLE001 -- the distributed scheduler's Redis can be briefly unreachable: not worth a crash
            return None
