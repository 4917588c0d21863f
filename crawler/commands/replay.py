"""``scrapy replay``: re-run every saved page fixture and report field by field.

This is how a user notices that the site changed its templates, or that a
cleaning rule changed what an old page gives. Exits 1 when any field differs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from pipelines.fixtures import iter_fixtures, replay

DEFAULT_FIXTURES = Path("tests/fixtures/pages")


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[--dir DIR] [NAME ...]"

    def short_desc(self) -> str:
        return "Replay saved page fixtures through the pipelines and report differences per field"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--dir", default=str(DEFAULT_FIXTURES), help="fixtures folder (default: %(default)s)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        root = Path(opts.dir)
        if not root.is_dir():
            raise UsageError(f"no fixtures folder at {root}")
        fixtures = [f for f in iter_fixtures(root) if not args or f.name in args]
        if args and len(fixtures) != len(set(args)):
            raise UsageError(f"unknown fixture(s): {sorted(set(args) - {f.name for f in fixtures})}")
        failing = fields = 0
        for fixture in fixtures:
            diffs = replay(fixture)
            if not diffs:
                print(f"ok    {fixture.name}")
                continue
            failing += 1
            fields += len(diffs)
            print(f"DIFF  {fixture.name} ({fixture.raw.url})")
            for diff in diffs:
                print(f"      {diff.render()}")
        print(f"{len(fixtures)} fixtures, {len(fixtures) - failing} match, {failing} differ ({fields} fields)")
        self.exitcode = 1 if failing else 0
