"""``scrapy compact [DIR]``: one row per article, the newest, in a dataset that many runs added to.

By default each file that loses rows is rewritten in place, so readers may keep
reading: no path goes away (:mod:`pipelines.compact`). ``--merge`` also folds each
partition into few files and deletes the old ones ``COMPACT_GRACE_SECONDS`` after
the merged ones are visible: run it when nobody reads. It refuses (exit 1, naming
the run) while a crawl or rebuild holds a lease on DIR (:mod:`pipelines.leases`);
``--wait SECONDS`` waits for them, ``--force`` goes on (they publish nothing until
it is done). DIR (default ``DATASET_DIR``) is a folder or a URI such as
``s3://bucket/prefix``. It also migrates a dataset written with ``year=NNNN``
folders (by merging), and refuses a folder that holds no dataset (exit 1, nothing
changed). A storage error (disk full, read-only) exits 4 and changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError
from scrapy.utils.log import configure_logging

from crawler.commands import check_settings, one_line_usage_errors, report
from crawler.extensions import EXIT_START_FAILED, EXIT_STORAGE_ERROR
from crawler.runinfo import dataset_dir
from pipelines.card import write_dataset_card
from pipelines.compact import CompactError, compact
from pipelines.dataset import DatasetWriteError


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False

    def syntax(self) -> str:
        return "[DIR] [--merge] [--force] [--wait SECONDS]"

    def short_desc(self) -> str:
        return "Keep the newest row per article (in place; --merge: also into few files per partition)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        one_line_usage_errors(parser, "compact")
        parser.add_argument("--merge", action="store_true",
                            help="also merge each partition into few files; old files are deleted after "
                                 "COMPACT_GRACE_SECONDS, so run it when nobody reads the dataset")
        parser.add_argument("--force", action="store_true",
                            help="compact even while crawls or rebuilds hold leases (they wait to publish)")
        parser.add_argument("--wait", type=_seconds, default=0.0, metavar="SECONDS",
                            help="wait up to SECONDS for running crawls and rebuilds to finish (default 0: refuse)")

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
        if not root:
            raise UsageError("give a dataset folder or URI (DIR or -s DATASET_DIR=DIR)")
        if "://" not in root and not Path(root).is_dir():
            raise UsageError(f"no dataset folder at {root}")
        try:
            summary = compact(
                root,
                merge=opts.merge,
                force=opts.force,
                wait_seconds=opts.wait,
                grace_seconds=self.settings.getfloat("COMPACT_GRACE_SECONDS"),
                row_group_rows=self.settings.getint("DATASET_ROW_GROUP_ROWS"),
                max_rows_per_file=self.settings.getint("DATASET_MAX_ROWS_PER_FILE"),
                max_buffer_bytes=self.settings.getint("DATASET_MAX_BUFFER_MB") * 1024 * 1024,
            )
        except CompactError as exc:
            print(f"compact: {exc}", file=sys.stderr)
            self.exitcode = EXIT_START_FAILED
            return
        except DatasetWriteError as exc:
            report("compact", f"cannot compact {root}, nothing changed", exc, self.settings)
            self.exitcode = EXIT_STORAGE_ERROR
            return
        except (OSError, ValueError) as exc:  # an unreadable data file (pyarrow's errors are ValueError/OSError)
            bad = _unreadable_file(root)
            report("compact", f"cannot read {bad}" if bad else f"cannot compact {root}", exc, self.settings)
            self.exitcode = EXIT_START_FAILED
            return
        for name in ("articles", "rejects"):
            part = summary.get(name)
            if not part:
                print(f"{name}: no files")
                continue
            files = (f"{part['files_before']} files -> {part['files_after']}" if summary["mode"] == "merge" else
                     f"{part['files_rewritten']} of {part['files_before']} files rewritten in place, "
                     f"{part['files_emptied']} left with no rows")
            print(f"{name}: {part['rows_before']} rows -> {part['rows_after']}, {files} "
                  f"({len(part['runs_merged'])} runs merged)")
        late = sum(summary.get(n, {}).get("files_committed_meanwhile", 0) for n in ("articles", "rejects"))
        if late:
            print(f"{late} files committed during the compaction were kept as they are (the next compaction reads them)")
        card = write_dataset_card(root) or f"not written ({root}/README.md was not written by this project)"
        print(f"compaction {summary['run_id']} in {summary['duration_seconds']:.1f} s; card {card}")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"--wait must be a number of seconds >= 0, got {text!r}")
    return value


def _unreadable_file(root: str) -> str | None:
    """The first data file whose footer cannot be read: pyarrow's error does not always name it."""
    import pyarrow.parquet as pq

    from pipelines import layout

    filesystem, base = layout.open_filesystem(root)
    for name in layout.DATASETS:
        for path in layout.list_data_files(filesystem, f"{base}/{name}"):
            try:
                pq.read_metadata(path, filesystem=filesystem)
            except (OSError, ValueError):
                return path
    return None
