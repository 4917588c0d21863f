"""The README's settings tables against ``crawler/settings.py``: each default written once, documented right.

The README states every setting's default for a reader; the code reads every setting without a
fallback, so ``crawler/settings.py`` is the one place a default lives. This test reads the tables
as a person would (a backticked upper-case name in the setting column, its default beside it) and
holds each default against the module, and each project setting of the module against the tables.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import default_settings as scrapy_defaults

from crawler import settings as project_settings

README = Path(__file__).resolve().parents[1] / "README.md"
NAME = re.compile(r"`([A-Z][A-Z0-9_]+)`")
QUANTITY = re.compile(r"^(\d[\d,_]*(?:\.\d+)?)\s*(s|MiB|MB|%|rows|pages)?$")
COMPUTED_WHEN_UNSET = "computed at run time when unset: the module's value is None"


def settings_rows() -> list[tuple[list[str], str, bool]]:
    """(setting names, default cell, Scrapy's own) of every row of a README table with a setting column."""
    rows = []
    header: list[str] | None = None
    for line in README.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if set(line) <= set("|- "):
            continue
        if "setting" not in header or "default" not in header:
            continue
        setting_cell, default = cells[header.index("setting")], cells[header.index("default")]
        names = NAME.findall(setting_cell)
        if header.index("setting") == 0:
            names = names[:1]  # the first column names one setting; others may be mentioned in "what"
        if names:
            pinned = re.search(r"\((True|False)\)", setting_cell)  # `DOWNLOAD_FAIL_ON_DATALOSS` (True)
            rows.append((names, pinned.group(1) if pinned else default, setting_cell.startswith("Scrapy's")))
    return rows


class Prefix(str):
    """A default the README shortens: ``qikan-crawler/0.1 (...)``."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith(str(self))

    __hash__ = str.__hash__


def parse_default(name: str, text: str) -> tuple[bool, Any]:
    """(is a literal, value): the README's way of writing a default, as a Python value.

    Not a literal: a description of a value computed at run time ("generated", "unset",
    "cores − 1", "`<hostname>-<pid>`", "4 × `CONCURRENT_REQUESTS_PER_DOMAIN`").
    """
    text = text.strip()
    if re.fullmatch(r"`[^`]*`", text):
        inner = text.strip("`")
        if NAME.fullmatch(text) or "<" in inner:
            return False, text
        return True, Prefix(inner[: -len("(...)")]) if inner.endswith("(...)") else inner
    text = re.sub(r"\s*\([^)]*\)", "", text).strip()  # "64 MB (crawl, compact)", "cores − 1 (≥ 1)"
    if text in ("True", "False"):
        return True, text == "True"
    if text == "[]":
        return True, []
    if text == "unlimited":
        return True, 0
    if re.fullmatch(r"\d+( \d+)+", text):  # "500 502 503"
        return True, [int(n) for n in text.split()]
    match = QUANTITY.match(text)
    if not match:
        return False, text
    number = float(match.group(1).replace(",", "").replace("_", ""))
    unit = match.group(2)
    if unit == "MiB":
        number *= 1024 * 1024
    elif unit == "%":
        number /= 100
    if unit == "MB" and not name.endswith("_MB"):
        number *= 1000 * 1000
    return True, number


def documented() -> dict[str, list[tuple[bool, Any, bool]]]:
    """Each setting named in a table: (is a literal, value, Scrapy's own) for every row naming it."""
    found: dict[str, list[tuple[bool, Any, bool]]] = {}
    for names, default, scrapys in settings_rows():
        parts = re.split(r"\s*[/;]\s*", re.sub(r"\s*\([^)]*\)", "", default)) if len(names) > 1 else [default]
        if len(parts) != len(names):
            parts = [default] * len(names)  # one default for several settings: "unlimited"
        for name, part in zip(names, parts, strict=True):
            found.setdefault(name, []).append((*parse_default(name, part), scrapys))
    return found


def test_the_tables_are_found() -> None:
    names = documented()
    assert {"DATASET_DIR", "ROBOTSTXT_OBEY", "DOWNLOAD_MAXSIZE", "REDIS_URL", "RUN_SUMMARY_ENABLED"} <= set(names)
    assert len(names) >= 40, sorted(names)


def equal(documented_value: Any, value: Any) -> bool:
    if isinstance(documented_value, float) and isinstance(value, int | float) and not isinstance(value, bool):
        return documented_value == pytest.approx(value)
    return documented_value == value


@pytest.mark.parametrize("name", sorted(documented()))
def test_each_documented_default_is_the_one_in_settings(name: str) -> None:
    rows = documented()[name]
    scrapys = any(own for *_, own in rows)
    source = scrapy_defaults if scrapys else project_settings
    assert hasattr(source, name), f"{name} is in the README's tables but not in {source.__name__}"
    if scrapys:
        assert not hasattr(project_settings, name), f"the README calls {name} Scrapy's, but crawler/settings.py sets it"
    value = getattr(source, name)
    literals = [documented_value for literal, documented_value, _ in rows if literal]
    for documented_value in literals:
        assert equal(documented_value, value), f"README: {name} = {documented_value!r}; {source.__name__}: {value!r}"
    if not literals and not scrapys:
        assert value is None, f"{name}: the README describes its default ({rows[0][1]!r}), so it is {COMPUTED_WHEN_UNSET}"


def test_every_project_setting_is_documented() -> None:
    """A setting Scrapy does not have is the project's own: a user can only find it in the README."""
    own = {name for name in dir(project_settings) if name.isupper() and not hasattr(scrapy_defaults, name)}
    assert own <= set(documented()), sorted(own - set(documented()))


def test_code_reads_settings_without_a_fallback() -> None:
    """Code reads settings with no fallback: every name it reads must have a default in the module."""
    repo = Path(__file__).resolve().parents[1]
    sources = [*repo.joinpath("crawler").rglob("*.py"), *repo.joinpath("pipelines").rglob("*.py")]
    read = re.compile(r"""settings\.get(?:int|float|bool|list|dict)?\(\s*["']([A-Z][A-Z0-9_]+)["']\s*,""")
    with_fallback = sorted({f"{p.name}: {m.group(1)}" for p in sources for m in read.finditer(p.read_text("utf-8"))})
    assert not with_fallback, f"settings read with a fallback default (put the default in crawler/settings.py): {with_fallback}"
