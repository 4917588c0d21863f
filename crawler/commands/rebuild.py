"""``scrapy rebuild SOURCE... [-s DATASET_DIR=OUT] [--workers N]``: the dataset again, from what was fetched.

SOURCE is WARC files (a crawl's ``DATASET_DIR/raw``), folders of them, or page
fixture folders. Nothing is fetched: every page goes through the crawl's own
pipelines with today's cleaning rules, in parallel, and the rows land in
``DATASET_DIR`` with the dataset card. Exits 2 when a source does not exist or
holds no pages (or an argument or setting is wrong), 1 when a worker fails, 5
when SIGTERM or Ctrl-C stopped it (its summary is written, marked interrupted).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError
from scrapy.utils.log import configure_logging

from crawler.commands import check_settings, one_line_usage_errors, report, signals_interrupt
from crawler.extensions import EXIT_INTERRUPTED, EXIT_START_FAILED
from crawler.runinfo import dataset_dir, new_run_id, segment_config
from pipelines.archive import list_sources
from pipelines.card import write_dataset_card
from pipelines.procs import usable_cpus
from pipelines.rebuild import RebuildError, RebuildInterrupted, rebuild


def worker_count(text: str) -> int:
    """``--workers``: 1 or more (this process is one of them); anything else is refused, not replaced."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (this process is one), got {value}")
    return value


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False

    def syntax(self) -> str:
        return "SOURCE... [-s DATASET_DIR=OUT] [--workers N]"

    def short_desc(self) -> str:
        return "Rebuild the dataset from archived pages (WARC files or fixture folders), without the network"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        one_line_usage_errors(parser, "rebuild")
        parser.add_argument("--workers", type=worker_count, default=None,
                            help="processes sharing the pages, this one included (default: one per usable CPU; 1: this one only)")
        parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        check_settings(self.settings)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        settings = self.settings
        configure_logging(settings)
        if not args:
            raise UsageError("give at least one SOURCE: WARC files, folders of them, or fixture folders", print_help=False)
        missing = [a for a in args if not Path(a).exists()]
        if missing:
            raise UsageError(f"no such source: {', '.join(missing)}")
        try:
            sources = list_sources(args)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        if not sources:
            raise UsageError(f"no WARC files (*.warc.gz, *.warc) or fixture folders in {', '.join(args)}")
        root = dataset_dir(settings)
        if root is None:
            raise UsageError("DATASET_DIR is empty: give -s DATASET_DIR=OUT")
        _warn_if_not_empty(root)
        # No reactor to keep responsive here: this process is one of the workers, one per usable CPU.
        workers = opts.workers if opts.workers is not None else usable_cpus()
        run_id = settings.get("RUN_ID") or new_run_id()
        try:
            with signals_interrupt() as stop:
                summary = rebuild(
                    args,
                    root,
                    workers=workers,
                    stop=stop,
                    segment_config=segment_config(settings),
                    run_id=run_id,
                    progress=not opts.no_progress,
                    writer_options={
                        "row_group_rows": settings.getint("DATASET_ROW_GROUP_ROWS"),
                        "max_rows_per_file": settings.getint("DATASET_MAX_ROWS_PER_FILE"),
                        "max_buffer_bytes": settings.getint("REBUILD_MAX_BUFFER_MB") * 1024 * 1024,
                    },
                )
        except RebuildInterrupted as exc:
            print(f"rebuild {exc.summary['finish_reason']} after reading {exc.summary['pages_read']} "
                  f"pages; its unfinished files were dropped: run the same command again", file=sys.stderr)
            self.exitcode = EXIT_INTERRUPTED
            return
        except RebuildError as exc:
            print(f"rebuild failed: {exc}", file=sys.stderr)
            self.exitcode = EXIT_START_FAILED
            return
        except OSError as exc:  # an unreadable archive, an unwritable dataset folder
            report("rebuild", "failed", exc, settings)
            self.exitcode = EXIT_START_FAILED
            return
        card = write_dataset_card(root)
        rejects = ", ".join(f"{k} {v}" for k, v in summary["rejects"].items()) or "none"
        print(
            f"rebuilt {summary['pages_processed']} pages in {summary['duration_seconds']:.1f} s "
            f"({summary['pages_per_second']} pages/s, {summary['workers']} workers): "
            f"{summary['articles_written']} articles, {summary['duplicate_articles']} duplicates, "
            f"{summary['rejects_written']} rejects ({rejects})"
        )
        print(f"run {run_id}: {summary['files_written']} files in {root}; card {card}")
        if len(summary["archive_runs"]) > 1:
            print(f"note: the archive holds {len(summary['archive_runs'])} crawl runs; an article fetched by several "
                  f"has a row per run, as the crawls wrote them: `scrapy compact {root}` keeps the newest",
                  file=sys.stderr)
        unresolved = summary["revisit_records"]["without_original"]
        if unresolved:
            print(f"warning: {unresolved} revisit records (deduplicated responses) have no original in the archives "
                  f"given and were skipped: add the archive that holds the originals", file=sys.stderr)
        for path in summary["truncated_archive_files"]:
            print(f"warning: {path} ends in a cut record; the records before it were used", file=sys.stderr)


def _warn_if_not_empty(root: str) -> None:
    """Rows of a rebuild are added next to existing ones; say so, and how to merge them."""
    if "://" in root:
        return
    existing = [p for name in ("articles", "rejects") for p in (Path(root) / name).rglob("*.parquet")]
    if existing:
        print(
            f"note: {root} already holds {len(existing)} data files; the rebuilt rows are added next to them. "
            f"Run `scrapy compact {root}` afterwards to keep one row per article (the rebuilt rows win ties).",
            file=sys.stderr,
        )
