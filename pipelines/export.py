"""Write a stored dataset, or part of it, to one Parquet, JSON Lines or CSV file (``scrapy export``).

Why: a crawl feed (``-O x.parquet``) holds only the run's new rows, since an
incremental crawl skips stored articles; "everything in one file" is read from
the dataset instead. Rows are streamed in batches through ``pyarrow.dataset``
(memory stays bounded however large the dataset), written to
``FILE.inprogress`` and renamed, so a reader never sees half a file and a
failed export leaves the previous FILE as it was.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipelines import layout
from pipelines.dataset import pandas_metadata
from pipelines.records import ARTICLE_SCHEMA, REJECT_SCHEMA

if TYPE_CHECKING:  # imported where used: pyarrow.dataset imports pandas (0.25 s in every crawl and rebuild)
    import pyarrow.dataset as ds

FORMATS = {"parquet": "parquet", "pq": "parquet", "jsonl": "jsonl", "jsonlines": "jsonl", "jl": "jsonl", "csv": "csv"}
"""File extension (or ``-t`` value) → format written."""
NO_YEAR = ("none", "no-year", "null")
"""``--year`` values that select articles whose year is unknown."""
BATCH_ROWS = 1000


class ExportError(Exception):
    """The export cannot be done as asked (nothing was written); ``usage`` tells a mistake in the
    arguments (exit 2) from a dataset that cannot be read or a file that cannot be written (exit 1)."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass
class ExportResult:
    path: str
    format: str
    rows: int
    files_read: int


def format_for(target: str | Path, given: str | None = None) -> str:
    """The format named by ``-t`` or else by the file's extension."""
    name = (given or Path(target).suffix.lstrip(".")).lower()
    if name not in FORMATS:
        what = f"format {given!r}" if given else f"the extension of {target}"
        raise ExportError(f"{what} names no export format; use one of .parquet, .jsonl, .csv (or -t parquet|jsonl|csv)",
                          usage=True)
    return FORMATS[name]


def parse_years(values: Iterable[str]) -> list[int | None]:
    """``--year 2019 --year 2020,2021 --year none`` → [2019, 2020, 2021, None]."""
    years: list[int | None] = []
    for value in _split(values):
        if value.lower() in NO_YEAR:
            years.append(None)
            continue
        try:
            years.append(int(value))
        except ValueError:
            raise ExportError(f"--year takes years such as 2019 (or 'none'), got {value!r}", usage=True) from None
    return years


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse_journals(values: Iterable[str]) -> list[str]:
    return _split(values)


def row_filter(journals: list[str], years: list[int | None]) -> ds.Expression | None:
    """Rows of any of ``journals`` and any of ``years`` (an empty list does not filter)."""
    import pyarrow.dataset as ds

    where: ds.Expression | None = None
    if journals:
        where = ds.field("journal").isin(journals)
    if years:
        known = [y for y in years if y is not None]
        by_year = ds.field("year").isin(known) if known else None
        if None in years:
            by_year = ds.field("year").is_null() if by_year is None else by_year | ds.field("year").is_null()
        where = by_year if where is None else where & by_year
    return where


def open_rows(root: str, *, rejects: bool = False, journals: list[str] | None = None,
              years: list[int | None] | None = None) -> tuple[pa.Schema, ds.Dataset, ds.Expression | None]:
    """The committed files of ``root/articles`` (or ``rejects``) as one dataset, with the SPEC schema.

    Files are listed by :mod:`pipelines.layout` (either layout, nothing in progress); ``year`` is read
    from the files, never from folder names.
    """
    if rejects and (journals or years):
        raise ExportError("--journal and --year select articles; rejects have neither", usage=True)
    filesystem, base = layout.open_filesystem(root)
    if filesystem.get_file_info(base).type != pafs.FileType.Directory:
        raise ExportError(f"no dataset folder at {root}")
    name = layout.REJECTS if rejects else layout.ARTICLES
    schema = REJECT_SCHEMA if rejects else ARTICLE_SCHEMA
    files = layout.list_data_files(filesystem, f"{base}/{name}")
    if not files and not layout.holds_dataset(filesystem, base):
        raise ExportError(f"{root} holds no dataset (no {layout.ARTICLES}/ or {layout.REJECTS}/ folder)")
    import pyarrow.dataset as ds

    dataset = ds.dataset(files, schema=schema, filesystem=filesystem, format="parquet")
    return schema, dataset, row_filter(journals or [], years or [])


def json_value(value: Any) -> Any:
    """Dates and timestamps as ISO 8601 (with the UTC offset); everything else as JSON has it."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def csv_cell(value: Any) -> str:
    """One CSV cell: lists as JSON arrays (an author may contain a comma), null as empty, dates ISO."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), ensure_ascii=False)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _write_parquet(handle: io.BufferedWriter, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> int:
    schema = schema.with_metadata({**(schema.metadata or {}), **pandas_metadata(schema)})
    rows = 0
    with pq.ParquetWriter(handle, schema, compression="zstd") as writer:
        for batch in batches:
            if batch.num_rows:
                writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
                rows += batch.num_rows
    return rows


def _write_jsonl(handle: io.BufferedWriter, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> int:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="\n", write_through=True)
    rows = 0
    for batch in batches:
        for row in batch.to_pylist():
            text.write(json.dumps(row, ensure_ascii=False, default=json_value) + "\n")
            rows += 1
    text.flush()
    text.detach()
    return rows


def _write_csv(handle: io.BufferedWriter, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> int:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(schema.names)
    rows = 0
    for batch in batches:
        for row in batch.to_pylist():
            writer.writerow([csv_cell(row[name]) for name in schema.names])
            rows += 1
    text.flush()
    text.detach()
    return rows


WRITERS = {"parquet": _write_parquet, "jsonl": _write_jsonl, "csv": _write_csv}


def check_target(root: str, target: Path, *, overwrite: bool) -> None:
    """Refuse a FILE that exists (without ``overwrite``), is a folder, or lies inside the dataset's data."""
    if target.is_dir():
        raise ExportError(f"{target} is a folder; give a file name", usage=True)
    if target.exists() and not overwrite:
        raise ExportError(f"{target} exists; use -O {target} to replace it", usage=True)
    if "://" not in root:
        data = [Path(root).resolve() / name for name in layout.DATASETS]
        if any(target.resolve().is_relative_to(folder) for folder in data):
            raise ExportError(f"{target} is inside the dataset's data folders; write it elsewhere", usage=True)


def export_dataset(root: str, target: str | Path, *, fmt: str, overwrite: bool = False, rejects: bool = False,
                   journals: list[str] | None = None, years: list[int | None] | None = None,
                   batch_rows: int = BATCH_ROWS) -> ExportResult:
    """Write the selected rows of ``root`` to ``target`` in ``fmt`` (see :data:`WRITERS`)."""
    target = Path(target)
    check_target(root, target, overwrite=overwrite)
    schema, dataset, where = open_rows(root, rejects=rejects, journals=journals, years=years)
    temp = target.with_name(target.name + layout.TEMP_SUFFIX)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = open(temp, "xb")  # noqa: SIM115 -- closed below; never another export's (or anyone's) file
    except FileExistsError:
        raise ExportError(f"{temp} exists: another export is writing it, or one was killed (then delete it)") from None
    try:
        with handle:
            batches = dataset.to_batches(filter=where, batch_size=batch_rows, batch_readahead=1, fragment_readahead=1)
            rows = WRITERS[fmt](handle, schema, batches)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return ExportResult(path=str(target), format=fmt, rows=rows, files_read=len(dataset.files))
