"""Every value a user can give, checked once, before anything starts.

Nonsense values (``PROCESS_WORKERS=-3``, ``DATASET_ROW_GROUP_ROWS=0``) are refused in one line
that names the setting, instead of a traceback mid-crawl or a value silently replaced. The
defaults themselves live in :mod:`crawler.settings`.
"""

from __future__ import annotations

import math
import os
import re
import typing

if typing.TYPE_CHECKING:
    from scrapy.settings import BaseSettings

class _Rule(typing.NamedTuple):
    whole: bool
    """A whole number (else any finite number)."""
    low: float
    high: float | None
    flag: bool
    """Whole numbers: may be unset. Other numbers: must be above ``low``, not equal to it."""
    note: str


def _whole(low: int, *, optional: bool = False, note: str = "") -> _Rule:
    return _Rule(True, low, None, optional, note)


def _number(low: float, high: float | None = None, *, above: bool = False) -> _Rule:
    return _Rule(False, low, high, above, "")


_rules = {
    "PROCESS_WORKERS": _whole(0, optional=True, note=" (0: in the crawl process; unset: cores - 1)"),
    "DATASET_ROW_GROUP_ROWS": _whole(1),
    "DATASET_MAX_ROWS_PER_FILE": _whole(1),
    "DATASET_MAX_BUFFER_MB": _whole(1),
    "REBUILD_MAX_BUFFER_MB": _whole(1),
    "RAW_ARCHIVE_MAX_MB": _whole(1),
    "DATASET_COMMIT_SECONDS": _number(0),
    "COMPACT_GRACE_SECONDS": _number(0),
    "LOGSTATS_INTERVAL": _number(0),
    "TEMPLATE_DRIFT_MAX_SHARE": _number(0, 1),
    "ERROR_MAX_SHARE": _number(0, 1),
    "PARSE_ERROR_MAX_SHARE": _number(0, 1),
    "TEMPLATE_DRIFT_MIN_PAGES": _whole(0),
    "ERROR_MIN_PAGES": _whole(0),
    "KEYWORDS_TOP_K": _whole(1),
    "DISCOVERY_PROBES_PER_SHAPE": _whole(1),
    "CONCURRENT_REQUESTS": _whole(1),
    "CONCURRENT_REQUESTS_PER_DOMAIN": _whole(1),
    "DOWNLOAD_DELAY": _number(0),
    "DOWNLOAD_DELAY_JITTER": _number(0, 1),
    "DOWNLOAD_TIMEOUT": _number(0, above=True),
    "DOWNLOAD_MAXSIZE": _whole(0),
    "DOWNLOAD_WARNSIZE": _whole(0),
    "RETRY_TIMES": _whole(0),
    "RETRY_BACKOFF_BASE": _number(0),
    "RETRY_BACKOFF_MAX": _number(0),
    "REDIS_WORKER_TIMEOUT": _number(0, above=True),
    "REDIS_PREFETCH": _whole(1, optional=True),
}
_flags = ("SEGMENT_ENABLED", "INCREMENTAL_ENABLED", "RUN_SUMMARY_ENABLED", "RAW_ARCHIVE_ENABLED",
          "AUTOTHROTTLE_ENABLED", "ROBOTSTXT_OBEY", "RETRY_ENABLED", "FEED_ARTICLES_ONLY")
_choices = {"KEYWORDS_METHOD": ("tfidf", "textrank"), "SEGMENT_ENGINE": ("fast", "jieba"),
            "PROGRESS_BAR": ("auto", "on", "off")}


def _check(value: typing.Any, rule: _Rule) -> str | None:
    """What is wrong with one value, or None."""
    low, high, flag, note = rule.low, rule.high, rule.flag, rule.note
    if rule.whole:
        if value is None or value == "":
            return None if flag else "must be set"
        try:
            whole = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value).strip())
        except ValueError:
            return f"must be a whole number >= {low:g}{note}"
        return None if whole >= low else f"must be a whole number >= {low:g}{note}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not math.isfinite(number) or number < low or (flag and number == low) or (high is not None and number > high):
        span = f"between {low:g} and {high:g}" if high is not None else (f"> {low:g}" if flag else f">= {low:g}")
        return f"must be a number {span}"
    return None


def validate_settings(settings: BaseSettings) -> None:
    """Refuse nonsense values (``PROCESS_WORKERS=-3``, ``DATASET_ROW_GROUP_ROWS=0``) with one line naming
    the setting, instead of a traceback mid-crawl or a value silently replaced. Raises ValueError."""
    problems: list[str] = []
    for name, rule in _rules.items():
        if (problem := _check(settings.get(name), rule)) is not None:
            problems.append(f"{name}={settings.get(name)!r} {problem}")
    for name in _flags:
        try:
            settings.getbool(name)
        except ValueError:
            problems.append(f"{name}={settings.get(name)!r} must be True or False")
    for name, allowed in _choices.items():
        if settings.get(name) not in allowed:
            problems.append(f"{name}={settings.get(name)!r} must be one of {', '.join(allowed)}")
    for path in settings.getlist("JIEBA_USER_DICTS"):
        if not os.access(path, os.R_OK) or os.path.isdir(path):
            problems.append(f"JIEBA_USER_DICTS: cannot read {path}")
    run_id = settings.get("RUN_ID")
    if run_id and (not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", str(run_id)) or ".." in str(run_id)):
        problems.append(f"RUN_ID={run_id!r} must be 1-64 of [A-Za-z0-9_.-] (it names files)")
    from crawler.exporters import feed_problems
    from pipelines.layout import storage_problems  # storage (helper S): what object storage cannot do

    problems.extend(feed_problems(settings))
    problems.extend(storage_problems(settings.get("DATASET_DIR"), raw_archive=False))  # crawl checks the archive
    if problems:
        raise ValueError("; ".join(problems))
