"""``scrapy runs [DIR] [--last N] [--kind K] [--json] [--fail-on-error]``: how the recent runs went, without logs.

Scrapyd lists a crawl that exited 3 as "finished" like a good one, and cron
mails output nobody reads; this reads ``DIR/runs/*.json`` (see
:mod:`pipelines.runlog`) and, with ``--fail-on-error``, exits non-zero when the
newest run failed, so a scheduler can alert on it. Exit codes: 0; 1 with
``--fail-on-error`` when the newest run is not ok; 2 when DIR holds no runs.
"""

from __future__ import annotations

import argparse
import json
import sys

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from crawler.runinfo import dataset_dir
from pipelines.runlog import NoRunsError, RunRecord, read_runs

EXIT_NEWEST_FAILED = 1
EXIT_NO_RUNS = 2
KINDS = ("crawl", "rebuild", "compact")
COLUMNS = ("run", "kind", "started (UTC)", "duration", "exit", "status", "pages", "articles", "rejects", "errors")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _row(run: RunRecord) -> tuple[str, ...]:
    started = (run.started_at or "-").replace("T", " ").removesuffix("+00:00")
    status = run.status if run.finish_reason in (None, "finished") else f"{run.status} ({run.finish_reason})"
    kind = f"{run.kind} {run.worker_id}" if run.worker_id else run.kind
    return (run.run_id, kind, started, format_duration(run.duration_seconds), str(run.exit_code), status,
            _count(run.pages), _count(run.articles), _count(run.rejects), _count(run.errors))  # fmt: skip


def render_table(runs: list[RunRecord]) -> list[str]:
    """Aligned columns, newest first; each failed check on its own indented line under its run."""
    rows = [COLUMNS, *(_row(run) for run in runs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for row, run in zip(rows, [None, *runs], strict=True):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        for check in run.failed_checks if run else ():
            lines.append(f"    failed check: {check}")
    return lines


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[DIR] [--last N] [--kind crawl|rebuild|compact] [--json] [--fail-on-error]"

    def short_desc(self) -> str:
        return "List recent crawl, rebuild and compact runs of a dataset (from DIR/runs/*.json), newest first"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--last", type=int, default=20, metavar="N", help="show the N newest runs (default 20; 0: all)")
        parser.add_argument("--kind", choices=KINDS, default=None, help="only runs of this kind")
        parser.add_argument("--json", action="store_true", help="a JSON array of the runs on stdout, newest first")
        parser.add_argument("--fail-on-error", action="store_true",
                            help=f"exit {EXIT_NEWEST_FAILED} when the newest run (of --kind, if given) failed or was interrupted")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if len(args) > 1:
            raise UsageError("give one dataset folder")
        if opts.last < 0:
            raise UsageError("--last takes a number of runs, 0 for all")
        root = args[0] if args else dataset_dir(self.settings)
        if not root:
            raise UsageError("give a dataset folder (DIR or -s DATASET_DIR=DIR)")
        try:
            runs, problems = read_runs(root)
        except NoRunsError as exc:
            print(f"scrapy runs: {exc}", file=sys.stderr)
            self.exitcode = EXIT_NO_RUNS
            return
        for problem in problems:
            print(f"scrapy runs: {problem}", file=sys.stderr)
        if opts.kind:
            runs = [run for run in runs if run.kind == opts.kind]
            if not runs:
                print(f"scrapy runs: no {opts.kind} runs recorded in {root}", file=sys.stderr)
                self.exitcode = EXIT_NO_RUNS
                return
        shown = runs[: opts.last] if opts.last else runs
        if opts.json:
            print(json.dumps([run.to_json() for run in shown], ensure_ascii=False, indent=2))
        else:
            print("\n".join(render_table(shown)))
        newest = runs[0]
        if opts.fail_on_error and newest.failed:
            print(f"scrapy runs: the newest {newest.kind} run {newest.run_id} {newest.status} "
                  f"(exit {newest.exit_code}): {newest.summary_file}", file=sys.stderr)  # fmt: skip
            self.exitcode = EXIT_NEWEST_FAILED
