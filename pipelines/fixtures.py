"""Saved pages as regression fixtures: one folder per page, web-poet style.

A fixture folder holds ``body.html`` (the bytes exactly as served),
``response.json`` (URL, status, headers) and ``expected.json`` (the row the
page must give, or ``{"reject": "<reason>"}``). The replay test, ``scrapy
replay`` and ``scrapy savefixture`` all go through this module, and pages go
through :func:`pipelines.process.process_page` like in a crawl.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from pipelines.pagefolder import BODY_FILE, read_page_folder, write_page_folder
from pipelines.process import Analyser, Outcome, process_page
from pipelines.rawpage import RawPage
from pipelines.records import EXTRACTED_FIELDS, ArticleRecord

EXPECTED_FILE = "expected.json"
FIELDS = EXTRACTED_FIELDS
"""The fields a fixture pins down: the columns extraction decides (segmentation has its own tests)."""


@attrs.frozen
class Fixture:
    name: str
    path: Path
    raw: RawPage
    expected: dict[str, Any]


@attrs.frozen
class FieldDiff:
    field: str
    expected: Any
    actual: Any

    def render(self) -> str:
        """A readable diff: line by line for long text, one line otherwise."""
        if isinstance(self.expected, str) and isinstance(self.actual, str) and "\n" in self.expected + self.actual:
            lines = difflib.unified_diff(
                self.expected.splitlines(), self.actual.splitlines(), "expected", "actual", lineterm="", n=0
            )
            return f"{self.field}:\n" + "\n".join(f"    {line}" for line in lines)
        return f"{self.field}: expected {self.expected!r}, got {self.actual!r}"


def load_fixture(folder: Path) -> Fixture:
    expected = json.loads((folder / EXPECTED_FILE).read_text(encoding="utf-8"))
    return Fixture(name=folder.name, path=folder, raw=read_page_folder(folder), expected=expected)


def iter_fixtures(root: Path) -> Iterator[Fixture]:
    for folder in sorted(p for p in root.iterdir() if (p / BODY_FILE).is_file()):
        yield load_fixture(folder)


def comparable(outcome: Outcome) -> dict[str, Any]:
    """The outcome in the form ``expected.json`` uses."""
    if not isinstance(outcome, ArticleRecord):
        return {"reject": outcome.reason}
    row = {name: getattr(outcome, name) for name in FIELDS}
    if row["published_date"] is not None:
        row["published_date"] = row["published_date"].isoformat()
    return row


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> list[FieldDiff]:
    """Field-by-field differences; a row against a reject is one ``kind`` difference."""
    if ("reject" in expected) != ("reject" in actual):
        return [FieldDiff("kind", _kind(expected), _kind(actual))]
    keys = ["reject"] if "reject" in expected else [k for k in FIELDS if k in expected]
    return [FieldDiff(k, expected[k], actual.get(k)) for k in keys if expected[k] != actual.get(k)]


def replay(fixture: Fixture, analyser: Analyser | None = None) -> list[FieldDiff]:
    return compare(fixture.expected, comparable(process_page(fixture.raw, analyser)))


def save_fixture(folder: Path, raw: RawPage, outcome: Outcome) -> None:
    """Write a fixture folder whose expected row is the current output, for a person to review."""
    write_page_folder(folder, raw)
    expected = json.dumps(comparable(outcome), ensure_ascii=False, indent=1)
    (folder / EXPECTED_FILE).write_text(expected + "\n", encoding="utf-8")


def _kind(row: dict[str, Any]) -> str:
    return f"reject {row['reject']}" if "reject" in row else "article"
