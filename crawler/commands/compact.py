"""``scrapy compact [DIR]``: merge the files that many runs added into few, one row per article.

Run it when no crawl or rebuild is writing to DIR (it refuses while one
visibly is). Readers may keep reading during it: each of ``articles`` and
``rejects`` is swapped in one atomic step. DIR defaults to ``DATASET_DIR``.
It also migrates a dataset written with ``year=NNNN`` folders to today's layout
(:mod:`pipelines.layout`), and refuses a folder that holds no dataset (exit 1,
nothing changed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError
from scrapy.utils.log import configure_logging

from crawler.commands import check_settings, one_line_usage_errors, report
from crawler.extensions import EXIT_START_FAILED
from crawler.runinfo import dataset_dir
from pipelines.card import write_dataset_card
from pipelines.compact import CompactError, compact


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False

    def syntax(self) -> str:
        return "[DIR] [--force]"

    def short_desc(self) -> str:
        return "Rewrite a dataset into few files per partition, keeping the newest row per article"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        one_line_usage_errors(parser, "compact")
        parser.add_argument("--force", action="store_true",
                            help="compact even if in-progress files look fresh (they are dropped)")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        check_settings(self.settings)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        configure_logging(self.settings)
        if len(args) > 1:
            raise UsageError("give one dataset folder")
        root = args[0] if args else dataset_dir(self.settings)
        if not root or "://" in root:
            raise UsageError("give a local dataset folder (DIR or -s DATASET_DIR=DIR)")
        if not Path(root).is_dir():
            raise UsageError(f"no dataset folder at {root}")
        try:
            summary = compact(
                root,
                force=opts.force,
                row_group_rows=self.settings.getint("DATASET_ROW_GROUP_ROWS"),
                max_rows_per_file=self.settings.getint("DATASET_MAX_ROWS_PER_FILE"),
                max_buffer_bytes=self.settings.getint("DATASET_MAX_BUFFER_MB") * 1024 * 1024,
            )
        except CompactError as exc:
            print(f"compact: {exc}", file=sys.stderr)
            self.exitcode = EXIT_START_FAILED
            return
        except (OSError, ValueError) as exc:  # an unreadable data file (pyarrow's errors are ValueError/OSError)
            bad = _unreadable_file(Path(root))
            report("compact", f"cannot read {bad}" if bad else f"cannot compact {root}", exc, self.settings)
            self.exitcode = EXIT_START_FAILED
            return
        for name in ("articles", "rejects"):
            part = summary.get(name)
            if part is None:
                print(f"{name}: no files")
                continue
            print(
                f"{name}: {part['rows_before']} rows -> {part['rows_after']}, "
                f"{part['files_before']} files -> {part['files_after']} "
                f"({len(part['runs_merged'])} runs merged)"
            )
        if not summary.get("atomic_swap", True):
            print("warning: this system has no atomic folder exchange; the swap used two renames", file=sys.stderr)
        card = write_dataset_card(root) or f"not written ({root}/README.md was not written by this project)"
        print(f"compaction {summary['run_id']} in {summary['duration_seconds']:.1f} s; card {card}")


def _unreadable_file(root: Path) -> Path | None:
    """The first data file whose footer cannot be read: pyarrow's error does not always name it."""
    import pyarrow.parquet as pq

    for path in sorted(p for name in ("articles", "rejects") for p in (root / name).rglob("*.parquet")):
        try:
            pq.read_metadata(path)
        except (OSError, ValueError):
            return path
    return None
