"""The runs of a dataset, read back from ``DIR/runs/*.json`` for ``scrapy runs`` and for alerting.

Crawls, rebuilds and compactions each write their own summary, and today
they write three shapes (a crawl has no ``kind`` and counts ``pages_fetched``;
a rebuild counts ``pages_processed``; a compaction counts rows per table).
:func:`read_runs` turns all three into one :class:`RunRecord`, so that the
listing, the JSON output and ``--fail-on-error`` agree on what "failed" means.
Fields a summary states outright (``exit_code``, ``status``, ``interrupted``)
win over what is inferred here from older summaries.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from pipelines.dataset import open_filesystem
from pipelines.summary import EXIT_CHECK_FAILED, INTERRUPTED_REASONS, RunSummary


class NoRunsError(Exception):
    """The folder does not exist, or holds no run summary: nothing to list, nothing to vouch for."""


@dataclass(frozen=True)
class RunRecord:
    """One run, whatever wrote it: what a person or a cron job needs to know about it."""

    run_id: str
    kind: str
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None
    exit_code: int
    status: str
    """``ok``, ``failed`` (failed checks or a non-zero exit) or ``interrupted`` (stopped before the end)."""
    finish_reason: str | None
    pages: int | None
    articles: int | None
    rejects: int | None
    errors: int | None
    failed_checks: list[str] = field(default_factory=list)
    worker_id: str | None = None
    summary_file: str = ""

    @property
    def failed(self) -> bool:
        return self.status != "ok"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _kind(summary: dict[str, Any]) -> str:
    return str(summary.get("kind") or "crawl")  # crawl summaries carry no kind today


def _pages(summary: dict[str, Any], kind: str) -> int | None:
    return RunSummary.from_json(summary).pages  # the one summary shape (pipelines.summary), older ones read too


def _errors(summary: dict[str, Any], kind: str) -> int | None:
    """Error events: a crawl's errors by kind added up; a rebuild's archive files that end in a cut record."""
    errors = summary.get("errors")
    if isinstance(errors, int):
        return errors
    if isinstance(errors, dict):
        return sum(v for v in errors.values() if isinstance(v, int))
    if kind == "rebuild":
        return len(summary.get("truncated_archive_files") or [])
    return 0 if kind == "compact" else None


def _outcome(summary: dict[str, Any], failed_checks: list[str]) -> tuple[int, str]:
    """The exit code the command gave (or, for older summaries, would have given) and the status word."""
    reason = summary.get("finish_reason")
    exit_code = _int_or_none(summary.get("exit_code"))
    if exit_code is None:
        exit_code = EXIT_CHECK_FAILED if failed_checks else 0
    status = summary.get("status")
    if status not in ("ok", "failed", "interrupted"):
        if exit_code != 0 or failed_checks:
            status = "failed"
        elif summary.get("interrupted") is True or reason in INTERRUPTED_REASONS:
            status = "interrupted"
        else:
            status = "ok"
    return exit_code, str(status)


def run_record(summary: dict[str, Any], summary_file: str = "") -> RunRecord:
    """One summary, in any of the shapes crawl, rebuild and compact write, as a :class:`RunRecord`."""
    kind = _kind(summary)
    failed_checks = [str(c) for c in summary.get("failed_checks") or []]
    exit_code, status = _outcome(summary, failed_checks)
    duration = summary.get("duration_seconds")
    return RunRecord(
        run_id=str(summary.get("run_id") or Path(summary_file).stem),
        kind=kind,
        started_at=summary.get("started_at"),
        finished_at=summary.get("finished_at"),
        duration_seconds=float(duration) if isinstance(duration, (int, float)) else None,
        exit_code=exit_code,
        status=status,
        finish_reason=summary.get("finish_reason"),
        pages=_pages(summary, kind),
        articles=_int_or_none(summary.get("articles_written")),
        rejects=_int_or_none(summary.get("rejects_written")),
        errors=_errors(summary, kind),
        failed_checks=failed_checks,
        worker_id=summary.get("worker_id") or None,
        summary_file=summary_file,
    )


def _moment(value: str | None) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        moment = None
    if moment is None:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def read_runs(root: str | Path) -> tuple[list[RunRecord], list[str]]:
    """All runs of the dataset at ``root`` (a path or a URI), newest first, and one line per unreadable summary.

    Newest means latest start; runs started in the same second are ordered by
    when their summary was written. Raises :class:`NoRunsError` when there is
    no ``runs`` folder or no summary in it.
    """
    filesystem, base = open_filesystem(root)
    directory = f"{base}/runs"
    if filesystem.get_file_info(directory).type != pafs.FileType.Directory:
        raise NoRunsError(f"no runs recorded: {root} has no runs/ folder (is it a dataset folder?)")
    found: list[tuple[tuple[dt.datetime, float, str], RunRecord]] = []
    problems = []
    for info in filesystem.get_file_info(pafs.FileSelector(directory)):
        name = info.path.rsplit("/", 1)[-1]
        if info.type != pafs.FileType.File or not name.endswith(".json") or name.startswith("."):
            continue  # dot-names are summaries still being written
        try:
            with filesystem.open_input_stream(info.path) as handle:
                summary = json.loads(handle.read().decode("utf-8"))
            if not isinstance(summary, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            problems.append(f"skipped {info.path}: unreadable run summary ({exc})")
            continue
        record = run_record(summary, info.path)
        written = info.mtime.timestamp() if info.mtime else 0.0
        found.append(((_moment(record.started_at), written, record.run_id), record))
    if not found:
        raise NoRunsError(f"no runs recorded in {directory}" + (f" ({len(problems)} unreadable)" if problems else ""))
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [record for _, record in found], problems
