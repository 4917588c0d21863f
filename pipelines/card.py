"""The dataset card: ``DIR/README.md``, written by crawl, rebuild and compact.

A dataset outlives the code and the people who made it, so it says itself what
it holds: the columns and their types, how many rows per journal and year,
which runs made it, which cleaning rules its rows went through, and how to read
it. Everything is derived from the files (Parquet footers and ``runs/*.json``),
never from memory of what a run meant to write, so the card is right even after
a crash or a manual deletion. It is replaced atomically (temporary name, then
rename): a reader never sees half a card.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import json
import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from pipelines import records
from pipelines.dataset import HIVE_NULL, METADATA_PREFIX, open_filesystem, write_atomic
from pipelines.records import ARTICLE_SCHEMA, CLEANING_RULES_VERSION, REJECT_SCHEMA, SCHEMA_VERSION

logger = logging.getLogger(__name__)

CARD_FILE = "README.md"
MAX_JOURNAL_YEAR_LINES = 500
"""Beyond this the journal × year table is cut; the card says how to get all of it."""


def write_dataset_card(root: str | Path) -> str:
    """Describe the dataset under ``root`` in ``root/README.md``; returns the card's path."""
    filesystem, base = open_filesystem(root)
    facts = _DatasetFacts(filesystem, base)
    return write_atomic(root, CARD_FILE, render_card(facts).encode("utf-8"))


# -- facts ---------------------------------------------------------------------


class _DatasetFacts:
    """What the card reports, read from the files of one dataset folder."""

    def __init__(self, filesystem: pafs.FileSystem, base: str) -> None:
        self.filesystem = filesystem
        self.base = base
        self.article_files = _data_files(filesystem, f"{base}/articles")
        self.reject_files = _data_files(filesystem, f"{base}/rejects")
        self.file_meta = {path: _footer(filesystem, path) for path in self.article_files + self.reject_files}
        self.by_journal_year = _journal_year_counts(filesystem, f"{base}/articles") if self.article_files else []
        self.rejects_by_reason = _reject_counts(filesystem, f"{base}/rejects") if self.reject_files else []
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


def _data_files(filesystem: pafs.FileSystem, directory: str) -> list[str]:
    """Committed Parquet files, skipping hidden and in-progress names as pyarrow and DuckDB do."""
    if filesystem.get_file_info(directory).type != pafs.FileType.Directory:
        return []
    selector = pafs.FileSelector(directory, recursive=True)
    files = []
    for info in filesystem.get_file_info(selector):
        relative = info.path[len(directory) + 1 :]
        if info.type == pafs.FileType.File and info.path.endswith(".parquet") and not any(
            part.startswith((".", "_")) for part in relative.split("/")
        ):
            files.append(info.path)
    return sorted(files)


def _footer(filesystem: pafs.FileSystem, path: str) -> dict[str, Any]:
    with filesystem.open_input_file(path) as handle:
        metadata = pq.ParquetFile(handle).metadata
    kv = {k.decode(): v.decode() for k, v in (metadata.metadata or {}).items() if k.startswith(METADATA_PREFIX.encode())}
    facts: dict[str, Any] = {k[len(METADATA_PREFIX) :]: v for k, v in kv.items()}
    facts["rows"] = metadata.num_rows
    return facts


def year_partitioning() -> ds.Partitioning:
    """The SPEC's hive partitioning: ``year=2019`` folders, typed int32, null as the hive default name."""
    return ds.partitioning(pa.schema([("year", pa.int32())]), flavor="hive")


def _journal_year_counts(filesystem: pafs.FileSystem, directory: str) -> list[tuple[str | None, int | None, int]]:
    dataset = ds.dataset(directory, format="parquet", filesystem=filesystem, partitioning=year_partitioning())
    table = dataset.to_table(columns=["journal", "year"])
    grouped = table.group_by(["journal", "year"]).aggregate([([], "count_all")])
    rows = zip(grouped["journal"].to_pylist(), grouped["year"].to_pylist(), grouped["count_all"].to_pylist())
    return sorted(rows, key=lambda r: (r[0] is None, r[0] or "", r[1] is None, r[1] or 0))


def _reject_counts(filesystem: pafs.FileSystem, directory: str) -> list[tuple[str, str, int]]:
    table = ds.dataset(directory, format="parquet", filesystem=filesystem).to_table(columns=["reason", "stage"])
    grouped = table.group_by(["reason", "stage"]).aggregate([([], "count_all")])
    rows = zip(grouped["reason"].to_pylist(), grouped["stage"].to_pylist(), grouped["count_all"].to_pylist())
    return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))


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


def field_docs(record_type: type) -> dict[str, str]:
    """The attribute docstrings of a record class in :mod:`pipelines.records` (first line of each)."""
    try:
        tree = ast.parse(inspect.getsource(records))
    except (OSError, TypeError):
        return {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == record_type.__name__:
            docs = {}
            for stmt, following in zip(node.body, node.body[1:]):
                if (
                    isinstance(stmt, ast.AnnAssign)
                    and isinstance(stmt.target, ast.Name)
                    and isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)
                ):
                    docs[stmt.target.id] = " ".join(following.value.value.split()).replace("``", "`")
            return docs
    return {}


def _cell(value: object) -> str:
    text = "null" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: Iterable[Iterable[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _type_name(type_: pa.DataType) -> str:
    """``list<string>`` rather than Arrow's ``list<item: string>``."""
    return f"list<{_type_name(type_.value_type)}>" if pa.types.is_list(type_) else str(type_)


def _nullable(field: pa.Field) -> str:
    if pa.types.is_list(field.type):
        return "no (empty list)"
    return "yes" if field.nullable else "no"


def _columns(schema: pa.Schema, record_type: type) -> list[str]:
    docs = field_docs(record_type)
    extra = {"year": f" Null year: folder `year={HIVE_NULL}`."}
    rows = [
        (f"`{f.name}`", f"`{_type_name(f.type)}`", _nullable(f), docs.get(f.name, "") + extra.get(f.name, ""))
        for f in schema
    ]
    return _table(["column", "type", "nullable", "meaning"], rows)


def render_card(facts: _DatasetFacts) -> str:
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    rules_in_files = facts.versions("cleaning_rules_version", facts.article_files + facts.reject_files)
    schema_in_files = facts.versions("schema_version", facts.article_files + facts.reject_files)
    out: list[str] = [
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
        "articles/year=<year>/part-<run_id>[-<worker>]-<n>.parquet   one row per article, hive-partitioned by year",
        f"articles/year={HIVE_NULL}/...            articles whose year is unknown",
        "rejects/part-<run_id>[-<worker>]-<n>.parquet              pages that are not articles, with the reason",
        "runs/<run_id>.json                                        one summary per crawl, rebuild and compaction",
        "raw/<run_id>[-<worker>]-<n>.warc.gz                       every fetched response (WARC), input of `scrapy rebuild`",
        "```",
        "",
        "Files are written under dot-names and renamed when complete; readers that skip hidden files",
        "(pyarrow, DuckDB's `**/*.parquet`, Spark, Polars) never see a partial file. Several runs add",
        "files side by side; `scrapy compact DIR` merges them and keeps one row per article.",
        "",
        "## Columns of `articles`",
        "",
        *_columns(ARTICLE_SCHEMA, records.ArticleRecord),
        "",
        "## Columns of `rejects`",
        "",
        *_columns(REJECT_SCHEMA, records.RejectRecord),
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
        out += [
            "",
            f"(first {MAX_JOURNAL_YEAR_LINES} of {len(rows)} lines; the DuckDB query below gives all of them)",
        ]
    out += ["", "## Rejects by reason", ""]
    if facts.rejects_by_reason:
        out += _table(["reason", "stage", "pages"], facts.rejects_by_reason)
    else:
        out += ["No rejects."]
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
        pages = summary.get("pages_fetched", summary.get("pages_processed"))
        rows.append(
            (
                f"`{run_id}`",
                summary.get("kind", "crawl"),
                summary.get("started_at") or "",
                summary.get("finished_at") or "",
                "" if pages is None else pages,
                summary.get("articles_written", ""),
                summary.get("rejects_written", ""),
                state,
            )
        )
    for run_id in sorted((set(rows_now) | compacted) - listed):
        state = f"{rows_now[run_id]} rows in files" if run_id in rows_now else "merged by a compaction"
        rows.append((f"`{run_id}`", "unknown (no runs/*.json)", "", "", "", "", "", state))
    out += _table(["run", "kind", "started", "finished", "pages", "articles", "rejects", "in the dataset now"], rows)
    return out + [""]


def _reading_section() -> list[str]:
    return [
        "## Reading the data",
        "",
        "Paths are relative to this folder. `year` is stored in the files and in the folder names;",
        "declare it INTEGER (int32) so that the null partition reads as null, not as a string.",
        "",
        "DuckDB:",
        "",
        "```sql",
        "SELECT journal, year, count(*) AS articles",
        "FROM read_parquet('articles/**/*.parquet', hive_partitioning = true, hive_types = {'year': INTEGER})",
        "GROUP BY ALL ORDER BY ALL;",
        "```",
        "",
        "Polars:",
        "",
        "```python",
        "import polars as pl",
        "",
        'articles = pl.scan_parquet("articles/**/*.parquet", hive_partitioning=True, hive_schema={"year": pl.Int32})',
        'print(articles.filter(pl.col("year") == 2019).select("title", "authors", "journal").head().collect())',
        "```",
        "",
        "pyarrow:",
        "",
        "```python",
        "import pyarrow as pa",
        "import pyarrow.dataset as ds",
        "",
        'partitioning = ds.partitioning(pa.schema([("year", pa.int32())]), flavor="hive")',
        'articles = ds.dataset("articles", format="parquet", partitioning=partitioning)',
        'table = articles.to_table(columns=["article_id", "title", "body"], filter=ds.field("year") == 2019)',
        'rejects = ds.dataset("rejects", format="parquet").to_table()',
        "```",
        "",
    ]
