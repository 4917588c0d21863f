"""One typed run summary for crawl, rebuild and compact, and the checks that fail a run.

Each command used to write its own shape (``pages_fetched`` or ``pages_processed``, with or
without ``kind``), and every reader guessed. :class:`RunSummary` is the one shape: the
commands build it, ``runs/<run_id>.json`` is its :meth:`~RunSummary.to_json` (the older keys
are still written, for readers of older datasets), and the card, ``scrapy runs`` and the
exit code read it back with :meth:`~RunSummary.from_json`, which also reads the older shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from pipelines.records import RejectReason

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

INTERRUPTED_REASONS = frozenset({"shutdown", "cancelled"})
"""Scrapy finish reasons of a crawl stopped before it was done (a signal, a Scrapyd cancel)."""
ARTICLE_PAGE_REJECTS = (
    RejectReason.EMPTY_BODY.value,
    RejectReason.TEMPLATE_MISMATCH.value,
    RejectReason.PARSE_ERROR.value,
)
"""Rejects of pages that were article pages: the template failed on them."""
FETCH_FAILURE_REJECTS = (RejectReason.FETCH_ERROR.value, RejectReason.HTTP_STATUS.value)
PAGES_KEY = {"crawl": "pages_fetched", "rebuild": "pages_processed"}
"""The key older readers look for the page count under, by kind."""


@attrs.define(kw_only=True)
class Thresholds:
    """When a run fails a check (settings ``TEMPLATE_DRIFT_*``, ``ERROR_*``, ``PARSE_ERROR_MAX_SHARE``)."""

    drift_max_share: float = 0.2
    drift_min_pages: int = 10
    error_max_share: float = 0.25
    error_min_pages: int = 10
    parse_error_max_share: float = 0.01


def template_drift(counts: Mapping[str, int], max_share: float, min_pages: int) -> dict[str, Any]:
    """Share of article pages that gave no title, no body or no journal (``counts``: the sink's counters)."""
    failed_pages = sum(counts.get(f"rejects/{reason}", 0) for reason in ARTICLE_PAGE_REJECTS)
    incomplete = counts.get("articles_incomplete", 0) + failed_pages
    pages = counts.get("articles_written", 0) + failed_pages
    share = incomplete / pages if pages else 0.0
    return {
        "article_pages": pages,
        "incomplete": incomplete,
        "share": round(share, 4),
        "max_share": max_share,
        "failed": pages >= min_pages and share > max_share,
    }


def failed_checks(counts: Mapping[str, int], pages_fetched: int, limits: Thresholds) -> tuple[dict[str, Any], list[str]]:
    """Template drift, error rate and parse errors over a run's counters: (drift, failed check lines)."""
    drift = template_drift(counts, limits.drift_max_share, limits.drift_min_pages)
    failed = []
    if drift["failed"]:
        failed.append(
            f"template drift: {drift['incomplete']} of {drift['article_pages']} article pages "
            f"gave no title, body or journal ({drift['share']:.0%} > {limits.drift_max_share:.0%})"
        )
    error_pages = sum(counts.get(f"rejects/{r}", 0) for r in FETCH_FAILURE_REJECTS)
    error_share = error_pages / pages_fetched if pages_fetched else 0.0
    if pages_fetched >= limits.error_min_pages and error_share > limits.error_max_share:
        failed.append(
            f"error rate: {error_pages} of {pages_fetched} fetched pages failed "
            f"({error_share:.0%} > {limits.error_max_share:.0%})"
        )
    parse_errors = counts.get(f"rejects/{RejectReason.PARSE_ERROR.value}", 0)
    parse_share = parse_errors / drift["article_pages"] if drift["article_pages"] else 0.0
    if parse_errors and parse_share > limits.parse_error_max_share:
        failed.append(
            f"parse errors: {parse_errors} of {drift['article_pages']} article pages failed in processing "
            f"({parse_share:.0%} > {limits.parse_error_max_share:.0%}; a bug or dead worker processes, see the log)"
        )
    return drift, failed


def prefixed(counts: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: v for k, v in sorted(counts.items()) if k.startswith(prefix)}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@attrs.define(kw_only=True)
class RunSummary:
    """What one run did: the same fields whatever the kind; kind-specific facts in ``details``."""

    run_id: str
    kind: str = "crawl"
    """``crawl``, ``rebuild`` or ``compact``."""
    started_at: str | None = None
    finished_at: str | None = None
    duration_seconds: float | None = None
    finish_reason: str | None = None
    interrupted: bool = False
    pages: int | None = None
    """Pages fetched (crawl) or processed (rebuild); None for a compaction."""
    articles_written: int | None = None
    duplicate_articles: int = 0
    rejects_written: int | None = None
    rejects: dict[str, int] = attrs.field(factory=dict)
    missing_fields: dict[str, int] = attrs.field(factory=dict)
    errors: dict[str, int] = attrs.field(factory=dict)
    failed_checks: list[str] = attrs.field(factory=list)
    storage_error: str | None = None
    files_written: int = 0
    dataset_dir: str | None = None
    worker_id: str | None = None
    peak_rss_mb: float | None = None
    details: dict[str, Any] = attrs.field(factory=dict)
    """Facts only one kind has (``discovery``, ``archive_runs``, ``cpu_seconds``, ...), written as top-level keys."""
    explicit_exit_code: int | None = None
    """An exit code an older summary stated outright (wins over the one computed here)."""

    @property
    def exit_code(self) -> int:
        if self.explicit_exit_code is not None:
            return self.explicit_exit_code
        if self.storage_error:
            return EXIT_STORAGE_ERROR
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_CHECK_FAILED if self.failed_checks else EXIT_OK

    @property
    def status(self) -> str:
        """``ok``, ``failed``, ``interrupted`` or ``storage_error``."""
        code = self.exit_code
        if code == EXIT_STORAGE_ERROR and self.storage_error:
            return "storage_error"
        if code == EXIT_INTERRUPTED or (code == EXIT_OK and self.interrupted):
            return "interrupted"
        return "failed" if code != EXIT_OK or self.failed_checks else "ok"

    @property
    def pages_per_second(self) -> float | None:
        if self.pages is None or not self.duration_seconds:
            return None
        return round(self.pages / self.duration_seconds, 2)

    @property
    def error_count(self) -> int | None:
        """Error events: a crawl's errors by kind added up; a rebuild's archive files that end in a cut record."""
        if self.errors:
            return sum(v for v in self.errors.values() if isinstance(v, int))
        if self.kind == "rebuild":
            return len(self.details.get("truncated_archive_files") or [])
        return 0 if self.kind in ("compact", "crawl") else None

    def to_json(self) -> dict[str, Any]:
        """The ``runs/<run_id>.json`` object: every field, the details at the top level, and the
        older key of the page count (``pages_fetched`` / ``pages_processed``)."""
        data = attrs.asdict(self, recurse=False, filter=lambda a, _: a.name not in ("details", "explicit_exit_code"))
        data = {k: v for k, v in data.items() if not (k == "pages" and v is None and self.kind == "compact")}
        if self.kind in PAGES_KEY:
            data[PAGES_KEY[self.kind]] = self.pages
        data["pages_per_second"] = self.pages_per_second
        data.update(self.details)
        data["exit_code"] = self.exit_code
        data["status"] = self.status
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], fallback_run_id: str = "") -> RunSummary:
        """A summary in this shape or an older one (crawls without ``kind``, rebuilds' ``pages_processed``)."""
        kind = str(data.get("kind") or "crawl")
        pages = data.get("pages") if "pages" in data else data.get(PAGES_KEY.get(kind, "pages"))
        errors = data.get("errors")
        known = {a.name for a in attrs.fields(cls)} | set(PAGES_KEY.values()) | {"pages_per_second", "exit_code", "status"}
        details = {k: v for k, v in data.items() if k not in known}
        if isinstance(errors, int):
            details["error_total"] = errors
        failed = [str(c) for c in data.get("failed_checks") or []]
        exit_code = _int_or_none(data.get("exit_code"))
        reason = data.get("finish_reason")
        interrupted = data.get("interrupted") is True or (data.get("interrupted") is None and reason in INTERRUPTED_REASONS)
        duration = data.get("duration_seconds")
        return cls(
            run_id=str(data.get("run_id") or fallback_run_id),
            kind=kind,
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            duration_seconds=float(duration) if isinstance(duration, (int, float)) else None,
            finish_reason=reason,
            interrupted=interrupted or data.get("status") == "interrupted",
            pages=_int_or_none(pages),
            articles_written=_int_or_none(data.get("articles_written")),
            duplicate_articles=_int_or_none(data.get("duplicate_articles")) or 0,
            rejects_written=_int_or_none(data.get("rejects_written")),
            rejects=dict(data.get("rejects") or {}),
            missing_fields=dict(data.get("missing_fields") or {}),
            errors=dict(errors) if isinstance(errors, dict) else {},
            failed_checks=failed,
            storage_error=data.get("storage_error"),
            files_written=_int_or_none(data.get("files_written")) or 0,
            dataset_dir=data.get("dataset_dir"),
            worker_id=data.get("worker_id") or None,
            peak_rss_mb=data.get("peak_rss_mb"),
            details=details,
            explicit_exit_code=exit_code,
        )
