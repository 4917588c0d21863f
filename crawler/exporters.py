"""A ``parquet`` feed exporter, so ``scrapy crawl qikan -O articles.parquet`` works like ``-O x.jsonl``.

Rows are written with the articles schema, in row groups, through pyarrow
only. Items that are not article records (there are none once the item
pipelines ran, but a custom pipeline could pass some) are counted and left out.
"""

from __future__ import annotations

import logging
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from scrapy.exporters import BaseItemExporter

from pipelines.records import ARTICLE_SCHEMA, ArticleRecord, to_row

logger = logging.getLogger(__name__)


class ParquetItemExporter(BaseItemExporter):
    """Exports :class:`~pipelines.records.ArticleRecord` items as one zstd Parquet file."""

    def __init__(self, file: BinaryIO, *, row_group_rows: int = 2000, **kwargs: Any) -> None:
        super().__init__(dont_fail=True, **kwargs)
        self.file = file
        self.row_group_rows = row_group_rows
        self.rows: list[dict] = []
        self.writer: pq.ParquetWriter | None = None
        self.skipped = 0

    def start_exporting(self) -> None:
        self.writer = pq.ParquetWriter(self.file, ARTICLE_SCHEMA, compression="zstd")

    def export_item(self, item: Any) -> None:
        if not isinstance(item, ArticleRecord):
            self.skipped += 1
            return
        self.rows.append(to_row(item))
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
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=ARTICLE_SCHEMA), row_group_size=len(self.rows))
            self.rows = []
