"""Feed exporters: ``parquet``, and a ``csv`` that keeps list columns whole.

``scrapy crawl qikan -O articles.parquet`` works like ``-O x.jsonl``: only article
rows reach a feed (:class:`crawler.feeds.FeedRowsPipeline`), written with the
articles schema, in row groups, through pyarrow only. A Parquet file cannot be
appended to (a second file glued to the first is unreadable), so ``-o x.parquet``
is refused before the crawl starts (:func:`feed_problems`), and the exporter
refuses an append-mode file as a last guard. Options are handled as Scrapy's
exporters do: ``FEED_EXPORT_FIELDS`` (a list, or a dict that renames) picks and
orders the columns, an unknown option is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, BinaryIO
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
from scrapy.exporters import BaseItemExporter, CsvItemExporter

from pipelines.dataset import pandas_metadata
from pipelines.export import csv_cell
from pipelines.records import ARTICLE_SCHEMA, ArticleRecord, to_row

logger = logging.getLogger(__name__)

PARQUET_OPTIONS = {"row_group_rows"}
"""Exporter options of the ``parquet`` format (FEEDS ``item_export_kwargs``), besides Scrapy's own."""


def _columns(fields: Any) -> list[tuple[str, str]]:
    """(article column, output name) pairs from ``fields_to_export``; all columns when it is unset."""
    if not fields:
        return [(name, name) for name in ARTICLE_SCHEMA.names]
    pairs = list(fields.items()) if isinstance(fields, Mapping) else [(name, name) for name in fields]
    unknown = [name for name, _ in pairs if name not in ARTICLE_SCHEMA.names]
    if unknown:
        raise ValueError(f"FEED_EXPORT_FIELDS names no article column: {', '.join(map(str, unknown))} "
                         f"(columns: {', '.join(ARTICLE_SCHEMA.names)})")
    return pairs


def feed_problems(settings: Any) -> list[str]:
    """What is wrong with the Parquet feeds of ``FEEDS`` (``-o``/``-O``), said before the crawl starts:
    a mistake found by the exporter at the spider's opening would only be logged, and the feed lost."""
    problems = []
    for uri, options in settings.getdict("FEEDS").items():
        options = options or {}
        if options.get("format") != "parquet":
            continue
        scheme = urlparse(str(uri)).scheme
        local = scheme in ("", "file") or len(scheme) == 1  # a Windows drive letter
        if local and not options.get("overwrite", False):
            problems.append(f"-o {uri}: a Parquet file cannot be appended to; use -O {uri} to write it anew "
                            f"(a crawl feed holds the run's new rows; `scrapy export DIR -O FILE` writes all stored rows)")
        unknown = set(options.get("item_export_kwargs") or {}) - PARQUET_OPTIONS
        if unknown:
            problems.append(f"feed {uri}: unknown Parquet exporter option(s): {', '.join(sorted(unknown))}")
        try:
            _columns(options.get("fields") or settings.getdictorlist("FEED_EXPORT_FIELDS"))
        except ValueError as exc:
            problems.append(f"feed {uri}: {exc}")
    return problems


class ParquetItemExporter(BaseItemExporter):
    """Exports :class:`~pipelines.records.ArticleRecord` items as one zstd Parquet file."""

    def __init__(self, file: BinaryIO, *, row_group_rows: int = 2000, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # dont_fail=False: an unknown option is a TypeError, as in Scrapy's exporters
        if "a" in str(getattr(file, "mode", "")) and file.tell() > 0:
            raise ValueError(f"{getattr(file, 'name', 'the feed')}: a Parquet file cannot be appended to; use -O")
        if int(row_group_rows) < 1:
            raise ValueError(f"row_group_rows must be >= 1, got {row_group_rows!r}")
        self.file = file
        self.row_group_rows = int(row_group_rows)
        self.columns = _columns(self.fields_to_export)
        fields = [ARTICLE_SCHEMA.field(name).with_name(output) for name, output in self.columns]
        schema = pa.schema(fields)
        self.schema = schema.with_metadata(pandas_metadata(schema))
        self.rows: list[dict] = []
        self.writer: pq.ParquetWriter | None = None
        self.skipped = 0

    def start_exporting(self) -> None:
        self.writer = pq.ParquetWriter(self.file, self.schema, compression="zstd")

    def export_item(self, item: Any) -> None:
        if not isinstance(item, ArticleRecord):
            self.skipped += 1
            return
        row = to_row(item)
        self.rows.append({output: row[name] for name, output in self.columns})
        if len(self.rows) >= self.row_group_rows:
            self._flush()

    def finish_exporting(self) -> None:
        self._flush()
        assert self.writer is not None
        self.writer.close()
        if self.skipped:
            logger.warning("Parquet export left out %d items that are not articles", self.skipped)

    def _flush(self) -> None:
        if self.rows and self.writer is not None:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema), row_group_size=len(self.rows))
            self.rows = []


class ArticleCsvItemExporter(CsvItemExporter):
    """Scrapy's CSV exporter, with cells as ``scrapy export`` writes them: list columns as JSON arrays
    (joined by commas, an author or token holding a comma would split), dates ISO 8601, null empty."""

    def serialize_field(self, field: Any, name: str, value: Any) -> Any:
        return csv_cell(value)
