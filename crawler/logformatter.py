"""Log lines about items that name the item, never print it.

Scrapy's default formatter logs ``Dropped: <exception>`` followed by the item's
repr: a raw page's body, an article's text and tokens, kilobytes to megabytes
per line, and a soft 404 at INFO for every one. Here a reject is one short
DEBUG line (URL, reason, stage); the counts are in the run summary. Every
message is cut to :data:`MAX_TEXT` characters of exception text.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy.logformatter import LogFormatter, LogFormatterResult

from pipelines.rawpage import RawPage
from pipelines.records import ArticleRecord, RejectRecord

MAX_TEXT = 200
"""Characters of an exception's or reject's detail text kept in a line."""


def shorten(text: object, limit: int = MAX_TEXT) -> str:
    """One line of at most ``limit`` characters (white space runs folded)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe(item: Any) -> str:
    """What an item is, in a few words: kind and URL, never its content."""
    if isinstance(item, ArticleRecord):
        return f"article {item.article_id} {item.url}"
    if isinstance(item, RejectRecord):
        return f"reject {item.url} ({item.reason})"
    if isinstance(item, RawPage):
        return f"page {item.url} (HTTP {item.status}, {len(item.body)} bytes)"
    url = getattr(item, "url", None) or (item.get("url") if isinstance(item, dict) else None)
    return f"{type(item).__name__} {url}" if url else shorten(repr(item), 100)


def _level(exception: BaseException, spider: Any) -> int:
    level = getattr(exception, "log_level", None)
    if level is None:
        crawler = getattr(spider, "crawler", None)
        level = crawler.settings["DEFAULT_DROPITEM_LOG_LEVEL"] if crawler is not None else logging.WARNING
    return getattr(logging, level) if isinstance(level, str) else int(level)


class QuietLogFormatter(LogFormatter):
    """Short item lines; a reject at DEBUG whatever level the pipeline that dropped it asked for.

    Scrapy passes the item as the spider yielded it: a :class:`RawPage` that the pipelines turned
    into a reject, so a dropped raw page is a reject (or a duplicate)."""

    def scraped(self, item: Any, response: Any, spider: Any) -> LogFormatterResult:
        return {"level": logging.DEBUG, "msg": "Scraped %(item)s", "args": {"item": describe(item)}}

    def dropped(self, item: Any, exception: BaseException, response: Any, spider: Any) -> LogFormatterResult:
        if isinstance(item, RejectRecord):
            return {
                "level": logging.DEBUG,
                "msg": "Rejected %(url)s: %(reason)s at %(stage)s (%(detail)s)",
                "args": {"url": item.url, "reason": item.reason, "stage": item.stage, "detail": shorten(item.detail)},
            }
        if isinstance(item, RawPage):
            # The pipelines turned this page into a reject (or found it a duplicate, or could not store it, which
            # is logged once at ERROR): their exception already names the URL, the reason and the stage.
            text = shorten(exception)
            if item.url in text:
                return {"level": logging.DEBUG, "msg": "%(text)s", "args": {"text": text}}
            return {"level": logging.DEBUG, "msg": "Dropped %(item)s: %(exception)s",
                    "args": {"item": describe(item), "exception": text}}
        return {
            "level": _level(exception, spider),
            "msg": "Dropped %(item)s: %(exception)s",
            "args": {"item": describe(item), "exception": shorten(exception)},
        }

    def item_error(self, item: Any, exception: BaseException, response: Any, spider: Any) -> LogFormatterResult:
        return {"level": logging.ERROR, "msg": "Error processing %(item)s: %(exception)s",
                "args": {"item": describe(item), "exception": shorten(repr(exception))}}
