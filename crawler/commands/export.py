"""``scrapy export [DIR] -O FILE [-t FORMAT] [--journal NAME] [--year Y] [--rejects]``: stored rows in one file.

A crawl feed (``-O x.parquet``) holds the run's new rows only; this is how to get
every stored article (or the rejects), or those of some journals or years, as
one Parquet, JSON Lines or CSV file (by FILE's extension, or ``-t``). ``-o FILE``
refuses a FILE that exists, ``-O FILE`` replaces it. Exit codes: 0; 1 when the
dataset cannot be read or FILE cannot be written; 2 for a usage error. The work
is :mod:`pipelines.export`.
"""

from __future__ import annotations

import argparse
import sys

import pyarrow as pa
from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from crawler.commands import one_line_usage_errors, report
from crawler.runinfo import dataset_dir
from pipelines.summary import EXIT_START_FAILED, EXIT_USAGE


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[DIR] -O FILE | -o FILE [-t parquet|jsonl|csv] [--journal NAME]... [--year YEAR]... [--rejects]"

    def short_desc(self) -> str:
        return "Write a stored dataset (all rows, or some journals/years) to one Parquet, JSON Lines or CSV file"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        one_line_usage_errors(parser, "export")
        parser.add_argument("-o", "--output", metavar="FILE", help="write FILE; refused when it exists")
        parser.add_argument("-O", "--overwrite-output", metavar="FILE", help="write FILE, replacing it if it exists")
        parser.add_argument("-t", "--output-format", metavar="FORMAT", help="parquet, jsonl or csv (default: FILE's extension)")
        parser.add_argument("--journal", action="append", default=[], metavar="NAME",
                            help="only articles of this journal (as in the journal column); repeat or comma-separate")
        parser.add_argument("--year", action="append", default=[], metavar="YEAR",
                            help="only articles of this year ('none': year unknown); repeat or comma-separate")
        parser.add_argument("--rejects", action="store_true", help="export the rejects instead of the articles")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if len(args) > 1:
            raise UsageError("give one dataset folder", print_help=False)
        if bool(opts.output) == bool(opts.overwrite_output):
            raise UsageError("give the file to write as -O FILE (or -o FILE, which never replaces one)", print_help=False)
        root = args[0] if args else dataset_dir(self.settings)
        if not root:
            raise UsageError("give a dataset folder (DIR or -s DATASET_DIR=DIR)", print_help=False)
        target = opts.overwrite_output or opts.output
        # Here, not at the top: Scrapy imports every command to list them, and pipelines.export's
        # pyarrow.dataset imports pandas (0.3 s), which no other command needs.
        from pipelines.export import ExportError, export_dataset, format_for, parse_journals, parse_years

        try:
            fmt = format_for(target, opts.output_format)
            result = export_dataset(
                root, target, fmt=fmt, overwrite=bool(opts.overwrite_output), rejects=opts.rejects,
                journals=parse_journals(opts.journal), years=parse_years(opts.year),
            )  # fmt: skip
        except ExportError as exc:
            print(f"scrapy export: error: {exc}", file=sys.stderr)
            self.exitcode = EXIT_USAGE if exc.usage else EXIT_START_FAILED
            return
        except (OSError, ValueError, pa.ArrowException) as exc:  # unreadable files, a full disk, a foreign Parquet file
            report("export", f"exporting {root} to {target} failed", exc, self.settings)
            self.exitcode = EXIT_START_FAILED
            return
        what = "rejects" if opts.rejects else "articles"
        print(f"{result.rows} {what} from {result.files_read} files of {root} written to {result.path} ({result.format})")
