"""The dataset card: ``DIR/README.md``, written by crawl, rebuild and compact.

A dataset outlives the code and the people who made it, so it says itself what
it holds: the columns and their types, how many rows per journal and year,
which runs made it, which cleaning rules its rows went through, and how to read
it. Everything is derived from the files (Parquet footers and ``runs/*.json``),
never from memory of what a run meant to write, so the card is right even after
a crash or a manual deletion. It is replaced atomically (temporary name, then
rename): a reader never sees half a card.

Its YAML header is a Hugging Face dataset card's: ``configs`` make
``datasets.load_dataset(DIR)`` open ``articles`` (the default) and ``rejects``
as two configurations instead of merging them. The header also carries
:data:`pipelines.layout.CARD_MARKER`: a README.md without it was written by
someone else, and is never replaced.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from pipelines import layout, records
from pipelines.dataset import METADATA_PREFIX, open_filesystem, write_atomic
from pipelines.records import ARTICLE_SCHEMA, CLEANING_RULES_VERSION, REJECT_SCHEMA, SCHEMA_VERSION
from pipelines.summary import RunSummary

logger = logging.getLogger(__name__)

CARD_FILE = layout.CARD_FILE
MAX_JOURNAL_YEAR_LINES = 500
"""Beyond this the journal × year table is cut; the card says how to get all of it."""


def write_dataset_card(root: str | Path) -> str | None:
    """Describe the dataset under ``root`` in ``root/README.md``; returns the card's path.

    None, with a warning, when ``root/README.md`` exists and is not a card we wrote.
    """
    filesystem, base = open_filesystem(root)
    existing = layout.read_card(filesystem, base)
    if existing is not None and not layout.is_our_card(existing):
        logger.warning("Not writing the dataset card: %s/%s exists and was not written by this project", base, CARD_FILE)
        return None
    facts = _DatasetFacts(filesystem, base)
    return write_atomic(root, CARD_FILE, render_card(facts).encode("utf-8"))


# -- facts ---------------------------------------------------------------------


class _DatasetFacts:
    """What the card reports, read from the files of one dataset folder."""

    def __init__(self, filesystem: pafs.FileSystem, base: str) -> None:
        self.filesystem = filesystem
        self.base = base
        self.article_files = layout.list_data_files(filesystem, f"{base}/{layout.ARTICLES}")
        self.reject_files = layout.list_data_files(filesystem, f"{base}/{layout.REJECTS}")
        self.file_meta = {path: _footer(filesystem, path) for path in self.article_files + self.reject_files}
        by_journal_year = _group_counts(filesystem, self.article_files, ["journal", "year"]) if self.article_files else []
        self.by_journal_year = sorted(by_journal_year, key=lambda r: (r[0] is None, r[0] or "", r[1] is None, r[1] or 0))
        by_reason = _group_counts(filesystem, self.reject_files, ["reason", "stage"]) if self.reject_files else []
        self.rejects_by_reason = sorted(by_reason, key=lambda r: (-r[2], r[0], r[1]))
        self.legacy_layout = layout.has_legacy_partitions(filesystem, base)
        self.runs = _run_summaries(filesystem, f"{base}/runs")

    @property
    def articles(self) -> int:
        return sum(self.file_meta[p]["rows"] for p in self.article_files)

    @property
    def rejects(self) -> int:
        return sum(self.file_meta[p]["rows"] for p in self.reject_files)

    def partitions(self) -> list[str]:
        return sorted({p.rsplit("/", 2)[-2] for p in self.article_files})

    def versions(self, key: str, files: Iterable[str]) -> Counter[str]:
        return Counter(self.file_meta[p].get(key) or "unknown" for p in files)

    def rows_by_run(self, files: Iterable[str]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for path in files:
            counts[self.file_meta[path].get("run_id") or "unknown"] += self.file_meta[path]["rows"]
        return counts

    def compacted_runs(self) -> set[str]:
        merged: set[str] = set()
        for meta in self.file_meta.values():
            merged.update(r for r in (meta.get("compacted_runs") or "").split(",") if r)
        return merged


def _footer(filesystem: pafs.FileSystem, path: str) -> dict[str, Any]:
    with filesystem.open_input_file(path) as handle:
        metadata = pq.ParquetFile(handle).metadata
    kv = {k.decode(): v.decode() for k, v in (metadata.metadata or {}).items() if k.startswith(METADATA_PREFIX.encode())}
    facts: dict[str, Any] = {k[len(METADATA_PREFIX) :]: v for k, v in kv.items()}
    facts["rows"] = metadata.num_rows
    return facts


def _group_counts(filesystem: pafs.FileSystem, files: list[str], columns: list[str]) -> list[tuple[Any, ...]]:
    """Rows per distinct value of ``columns``, read from the files themselves (not from folder names).

    File by file, counted in Python: Arrow's ``group_by`` imports ``pyarrow.dataset``, and with it
    pandas (0.3 s and 28 MB in every command that writes a card). A column a file lacks counts as null."""
    counts: Counter[tuple[Any, ...]] = Counter()
    for path in files:
        with filesystem.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            present = [c for c in columns if c in parquet.schema_arrow.names]
            table = parquet.read(columns=present, use_threads=False)
        counts.update(zip(*(table.column(c).to_pylist() if c in present else [None] * table.num_rows
                            for c in columns), strict=True))
    return [(*key, rows) for key, rows in counts.items()]


def _run_summaries(filesystem: pafs.FileSystem, directory: str) -> list[dict[str, Any]]:
    if filesystem.get_file_info(directory).type != pafs.FileType.Directory:
        return []
    summaries = []
    for info in filesystem.get_file_info(pafs.FileSelector(directory)):
        name = info.path.rsplit("/", 1)[-1]
        if info.type != pafs.FileType.File or not name.endswith(".json") or name.startswith("."):
            continue
        try:
            with filesystem.open_input_stream(info.path) as handle:
                summaries.append(json.loads(handle.read().decode("utf-8")))
        except (OSError, ValueError) as exc:
            logger.warning("Unreadable run summary %s: %r", info.path, exc)
    return sorted(summaries, key=lambda s: (str(s.get("started_at") or ""), str(s.get("run_id") or "")))


# -- rendering -----------------------------------------------------------------


def plain_text(docstring: str) -> str:
    """A docstring as Markdown: one line, ``x`` as `x`, Sphinx roles (:class:`~a.B`) as `B`."""
    text = " ".join(docstring.split()).replace("``", "`")
    return re.sub(r":[a-z]+:`~?([^`]*?)`", lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)


def _cell(value: object) -> str:
    text = "null" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _type_name(type_: pa.DataType) -> str:
    """``list<string>`` rather than Arrow's ``list<item: string>``."""
    return f"list<{_type_name(type_.value_type)}>" if pa.types.is_list(type_) else str(type_)


def _nullable(field: pa.Field) -> str:
    return "no (empty list)" if pa.types.is_list(field.type) else ("yes" if field.nullable else "no")


def _columns(columns: tuple[records.Column, ...]) -> list[str]:
    """The column table, from the one declaration of each column in :mod:`pipelines.records`."""
    extra = {"year": f" Rows without a year are in the folder `{layout.NULL_YEAR_FOLDER}`."}
    rows = [
        (f"`{c.name}`", f"`{_type_name(c.arrow_type)}`", _nullable(c.field), plain_text(c.doc) + extra.get(c.name, ""))
        for c in columns
    ]
    return _table(["column", "type", "nullable", "meaning"], rows)


def render_card(facts: _DatasetFacts) -> str:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    rules_in_files = facts.versions("cleaning_rules_version", facts.article_files + facts.reject_files)
    schema_in_files = facts.versions("schema_version", facts.article_files + facts.reject_files)
    out: list[str] = [
        *_yaml_header(facts),
        "# qikan: Chinese journal articles",
        "",
        "Articles of a Chinese journal-article library site, with the page chrome stripped and the text",
        "normalised (see the project's SPEC), as Parquet. This card is written by `scrapy crawl`,",
        "`scrapy rebuild` and `scrapy compact` from the files themselves; do not edit it by hand.",
        "",
        f"Card written {now}.",
        "",
        "## Summary",
        "",
        *_table(
            ["", ""],
            [
                ("articles (rows)", facts.articles),
                ("rejects (rows)", facts.rejects),
                ("article files", f"{len(facts.article_files)} in {len(facts.partitions())} year partitions"),
                ("reject files", len(facts.reject_files)),
                ("schema version (code / files)", f"{SCHEMA_VERSION} / {_versions(schema_in_files)}"),
                ("cleaning rules version (code / files)", f"{CLEANING_RULES_VERSION} / {_versions(rules_in_files)}"),
            ],
        ),
        "",
    ]
    if len(rules_in_files) > 1 or (rules_in_files and CLEANING_RULES_VERSION not in rules_in_files):
        out += [
            "**The files were made by different cleaning rules than the code's current ones.** "
            "Run `scrapy rebuild DIR/raw -s DATASET_DIR=NEW` to regenerate every row with the current rules.",
            "",
        ]
    out += [
        "## Layout",
        "",
        "```",
        "articles/<year>/part-<run_id>[-<worker>]-<n>.parquet   one row per article, a folder per year",
        f"articles/{layout.NULL_YEAR_FOLDER}/...".ljust(55) + "articles whose year is unknown",
        "rejects/part-<run_id>[-<worker>]-<n>.parquet           pages that are not articles, with the reason",
        "runs/<run_id>.json                                     one summary per crawl, rebuild and compaction",
        "raw/<run_id>[-<worker>]-<n>.warc.gz                    every fetched response (WARC), input of `scrapy rebuild`",
        "```",
        "",
        "`year` is a column of every file; the year folders have no `=`, so no reader mistakes them for a",
        "second `year` column. Files are written in the hidden folder `.staging` and renamed into place",
        "when complete: no reader ever sees a partial file. Several runs add files side by side;",
        "`scrapy compact DIR` merges them and keeps one row per article.",
        "",
        *(["**Some files are still in the older `year=<year>` folders**: pandas and `pyarrow.parquet` refuse "
           "that mix. `scrapy compact DIR` rewrites them into the layout above.", ""] if facts.legacy_layout else []),
        "## Columns of `articles`",
        "",
        *_columns(records.ARTICLE_COLUMNS),
        "",
        "## Columns of `rejects`",
        "",
        *_columns(records.REJECT_COLUMNS),
        "",
        "Reject reasons: " + ", ".join(f"`{r.value}`" for r in records.RejectReason) + ".",
        "",
    ]
    out += _counts_section(facts)
    out += _runs_section(facts)
    out += _reading_section()
    return "\n".join(out) + "\n"


def _versions(counts: Counter[str]) -> str:
    if not counts:
        return "no files"
    return ", ".join(f"{version} ({n} files)" for version, n in sorted(counts.items()))


def _counts_section(facts: _DatasetFacts) -> list[str]:
    out = ["## Rows by year", ""]
    by_year: Counter[int | None] = Counter()
    by_journal: Counter[str | None] = Counter()
    for journal, year, n in facts.by_journal_year:
        by_year[year] += n
        by_journal[journal] += n
    if not by_year:
        return out + ["No articles yet.", ""]
    out += _table(["year", "articles"], sorted(by_year.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))
    out += ["", f"## Rows by journal and year ({len(by_journal)} journals)", ""]
    rows = facts.by_journal_year
    out += _table(["journal", "year", "articles"], rows[:MAX_JOURNAL_YEAR_LINES])
    if len(rows) > MAX_JOURNAL_YEAR_LINES:
        out += ["", f"(first {MAX_JOURNAL_YEAR_LINES} of {len(rows)} lines; the DuckDB query below gives all of them)"]
    out += ["", "## Rejects by reason", ""]
    out += _table(["reason", "stage", "pages"], facts.rejects_by_reason) if facts.rejects_by_reason else ["No rejects."]
    return out + [""]


def _runs_section(facts: _DatasetFacts) -> list[str]:
    rows_now = facts.rows_by_run(facts.article_files)
    compacted = facts.compacted_runs()
    listed = {str(s.get("run_id")) for s in facts.runs}
    out = ["## Runs", ""]
    if not facts.runs and not rows_now:
        return out + ["No runs recorded.", ""]
    rows = []
    for summary in facts.runs:
        run_id = str(summary.get("run_id"))
        if run_id in rows_now:
            state = f"{rows_now[run_id]} rows in files"
        elif run_id in compacted:
            state = "merged by a compaction"
        else:
            state = "no rows in current files"
        pages = RunSummary.from_json(summary).pages  # the one summary shape, older ones read too
        rows.append((f"`{run_id}`", summary.get("kind", "crawl"), summary.get("started_at") or "",
                     summary.get("finished_at") or "", "" if pages is None else pages,
                     summary.get("articles_written", ""), summary.get("rejects_written", ""), state))
    for run_id in sorted((set(rows_now) | compacted) - listed):
        state = f"{rows_now[run_id]} rows in files" if run_id in rows_now else "merged by a compaction"
        rows.append((f"`{run_id}`", "unknown (no runs/*.json)", "", "", "", "", "", state))
    out += _table(["run", "kind", "started", "finished", "pages", "articles", "rejects", "in the dataset now"], rows)
    return out + [""]


def _reading_section() -> list[str]:
    return [
        "## Reading the data",
        "",
        "Paths are relative to this folder. Each reader's default call gives every row, `year` an integer:",
        "",
        "```python",
        "import pandas as pd, pyarrow.parquet as pq, pyarrow.dataset as ds, polars as pl, datasets",
        "",
        'articles = pd.read_parquet("articles")',
        'table = pq.read_table("articles")',
        'table = ds.dataset("articles").to_table(filter=ds.field("year") == 2019)',
        'frame = pl.read_parquet("articles/**/*.parquet")',
        'articles = datasets.load_dataset(".")  # this folder; "rejects" is the second configuration',
        'rejects = datasets.load_dataset(".", "rejects")',
        "```",
        "",
        "DuckDB (`year` is INTEGER, read from the files):",
        "",
        "```sql",
        "SELECT journal, year, count(*) AS articles FROM read_parquet('articles/**/*.parquet') GROUP BY ALL ORDER BY ALL;",
        "```",
        "",
    ]


# -- the Hub header ----------------------------------------------------------------------


def _hf_dtype(type_: pa.DataType) -> str:
    """A column type as the Hub's dataset card writes it (``date32``, ``timestamp[ms, tz=UTC]``)."""
    if pa.types.is_date32(type_):
        return "date32"
    return str(type_)


def _features(schema: pa.Schema) -> list[str]:
    lines = []
    for field in schema:
        key, type_ = ("list", field.type.value_type) if pa.types.is_list(field.type) else ("dtype", field.type)
        lines += [f"    - name: {field.name}", f"      {key}: {_hf_dtype(type_)}"]
    return lines


def _size_category(rows: int) -> str:
    labels = ["n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B"]
    return labels[min(max(len(str(rows)) - 3, 0), len(labels) - 1)]


def _yaml_header(facts: _DatasetFacts) -> list[str]:
    """The card's YAML front matter: what the Hub and ``datasets.load_dataset(DIR)`` read."""
    trees = [(layout.ARTICLES, ARTICLE_SCHEMA, facts.articles, facts.article_files),
             (layout.REJECTS, REJECT_SCHEMA, facts.rejects, facts.reject_files)]
    present = [t for t in trees if t[3]]
    configs, infos = ["configs:"], ["dataset_info:"]
    for number, (name, schema, rows, _) in enumerate(present):
        configs += [f"  - config_name: {name}", *(["    default: true"] if number == 0 else []),
                    "    data_files:", "      - split: train", f'        path: "{name}/**/*.parquet"']
        infos += [f"  - config_name: {name}", "    features:", *_features(schema),
                  "    splits:", "      - name: train", f"        num_examples: {rows}"]
    return [
        "---",
        f"{layout.CARD_MARKER}: 1",
        "pretty_name: qikan Chinese journal articles",
        "license: other",
        "language:",
        "  - zh",
        "size_categories:",
        f"  - {_size_category(facts.articles)}",
        *(configs + infos if present else []),
        "---",
        "",
    ]
