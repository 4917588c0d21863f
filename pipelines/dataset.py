"""Append rows to a hive-partitioned Parquet dataset, safely.

Why this shape:
- Rows are buffered and written as row groups of thousands: one file per item
  would make every reader slow.
- A file is written under a dot-prefixed name (which pyarrow, DuckDB's
  ``**/*.parquet`` globs aside, and Spark all skip) and renamed when complete,
  so neither a reader nor a crash ever sees half a file.
- File names carry the run id (and worker id), so a second run adds files and
  never overwrites one.
- Partition folder names come only from validated integers, never from page
  text: nothing a page says can choose a path on disk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from pipelines.records import CLEANING_RULES_VERSION, SCHEMA_VERSION

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
METADATA_PREFIX = "qikan."
PENDING_ROWS = 32
"""Rows of one partition kept as Python dicts before they are converted to an Arrow batch."""
PENDING_ROWS_TOTAL = 4 * PENDING_ROWS
"""The same, over all partitions: rows spread over many years must not add up unbounded."""


def open_filesystem(location: str | Path) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and path for a local path or a URI such as ``s3://bucket/prefix``."""
    text = str(location)
    if "://" in text:
        return pafs.FileSystem.from_uri(text)
    return pafs.LocalFileSystem(), str(Path(text).resolve())


def partition_dir(column: str, value: object) -> str:
    """``year=2019``, or the hive null partition; refuses anything but an integer."""
    if value is None:
        return f"{column}={HIVE_NULL}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"partition value must be an int, got {value!r}")
    return f"{column}={value}"


def check_safe_name(name: str, what: str) -> str:
    if not SAFE_NAME_RE.match(name) or ".." in name:
        raise ValueError(f"unsafe {what} for a file name: {name!r}")
    return name


def write_atomic(root: str | Path, relative: str, data: bytes) -> str:
    """Write ``root/relative`` under a temporary dot-name, then rename it into place."""
    filesystem, base = open_filesystem(root)
    final = f"{base}/{relative}"
    directory, name = final.rsplit("/", 1)
    filesystem.create_dir(directory, recursive=True)
    temp = f"{directory}/.{name}.inprogress"
    with filesystem.open_output_stream(temp, compression=None) as out:
        out.write(data)
    filesystem.move(temp, final)
    return final


class _OpenFile:
    """One Parquet file being written under its temporary name."""

    def __init__(self, filesystem: pafs.FileSystem, directory: str, name: str, schema: pa.Schema) -> None:
        self.filesystem = filesystem
        self.final_path = f"{directory}/{name}"
        self.temp_path = f"{directory}/.{name}.inprogress"
        filesystem.create_dir(directory, recursive=True)
        self.writer = pq.ParquetWriter(
            self.temp_path, schema, filesystem=filesystem, compression="zstd", write_statistics=True
        )
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.rows += table.num_rows

    def commit(self) -> str:
        self.writer.close()
        self.filesystem.move(self.temp_path, self.final_path)
        return self.final_path


class DatasetWriter:
    """Writes rows of one schema into ``root``, partitioned by one integer column (or not at all)."""

    def __init__(
        self,
        root: str | Path,
        schema: pa.Schema,
        *,
        run_id: str,
        worker_id: str | None = None,
        partition_by: str | None = None,
        row_group_rows: int = 2000,
        max_rows_per_file: int = 100_000,
        max_buffer_bytes: int = 64 * 1024 * 1024,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.filesystem, self.root = open_filesystem(root)
        self.run_id = check_safe_name(run_id, "run id")
        self.worker_id = check_safe_name(worker_id, "worker id") if worker_id else None
        self.partition_by = partition_by
        self.row_group_rows = row_group_rows
        self.max_rows_per_file = max_rows_per_file
        self.max_buffer_bytes = max_buffer_bytes
        kv = {
            f"{METADATA_PREFIX}schema_version": SCHEMA_VERSION,
            f"{METADATA_PREFIX}cleaning_rules_version": CLEANING_RULES_VERSION,
            f"{METADATA_PREFIX}run_id": run_id,
            **{f"{METADATA_PREFIX}{k}": str(v) for k, v in (metadata or {}).items()},
        }
        self.schema = schema.with_metadata({**(schema.metadata or {}), **{k.encode(): v.encode() for k, v in kv.items()}})
        self.filesystem.create_dir(self.root, recursive=True)
        self._pending: dict[str, list[dict]] = {}
        self._pending_rows = 0
        self._batches: dict[str, list[pa.RecordBatch]] = {}
        self._batched_rows: dict[str, int] = {}
        self._buffered_bytes = 0
        self._open: dict[str, _OpenFile] = {}
        self._sequence = 0
        self.rows_written = 0
        self.files_written: list[str] = []

    def write(self, row: Mapping[str, object]) -> None:
        """Buffer one row; rows reach disk in row groups of ``row_group_rows``."""
        key = partition_dir(self.partition_by, row.get(self.partition_by)) if self.partition_by else ""
        pending = self._pending.setdefault(key, [])
        pending.append(dict(row))
        self._pending_rows += 1
        if len(pending) + self._batched_rows.get(key, 0) >= self.row_group_rows:
            self._write_group(key)
            return
        if len(pending) >= PENDING_ROWS or self._pending_rows >= PENDING_ROWS_TOTAL:
            if len(pending) < PENDING_ROWS:
                key = max(self._pending, key=lambda k: len(self._pending[k]))
            self._to_batch(key)  # Arrow holds rows in a fraction of the memory Python objects take
            if self._buffered_bytes > self.max_buffer_bytes:
                self._write_group(max(self._batched_rows, key=self._batched_rows.__getitem__))

    def flush(self) -> None:
        """Write every buffered row as row groups of the open files."""
        for key in list(self._pending):
            self._to_batch(key)
        for key in list(self._batches):
            self._write_group(key)

    def commit(self) -> list[str]:
        """Flush and close every open file under its final name; returns the paths committed now."""
        self.flush()
        committed = [open_file.commit() for open_file in self._open.values()]
        self._open.clear()
        self.files_written.extend(committed)
        return committed

    close = commit

    def abort(self) -> None:
        """Drop temporary files (after an error that makes their rows untrustworthy)."""
        for open_file in self._open.values():
            open_file.writer.close()
            self.filesystem.delete_file(open_file.temp_path)
        self._open.clear()
        self._pending.clear()
        self._pending_rows = 0
        self._batches.clear()
        self._batched_rows.clear()
        self._buffered_bytes = 0

    @property
    def buffered_rows(self) -> int:
        return sum(len(rows) for rows in self._pending.values()) + sum(self._batched_rows.values())

    def _to_batch(self, key: str) -> None:
        rows = self._pending.pop(key, None)
        if not rows:
            return
        self._pending_rows -= len(rows)
        batch = pa.RecordBatch.from_pylist(rows, schema=self.schema)
        self._batches.setdefault(key, []).append(batch)
        self._batched_rows[key] = self._batched_rows.get(key, 0) + batch.num_rows
        self._buffered_bytes += batch.nbytes

    def _write_group(self, key: str) -> None:
        self._to_batch(key)
        batches = self._batches.pop(key, None)
        self._batched_rows.pop(key, None)
        if not batches:
            return
        table = pa.Table.from_batches(batches, schema=self.schema)
        self._buffered_bytes -= sum(b.nbytes for b in batches)
        open_file = self._open.get(key)
        if open_file is None:
            open_file = self._open[key] = _OpenFile(
                self.filesystem, self._directory(key), self._next_name(self._directory(key)), self.schema
            )
        open_file.write(table)
        self.rows_written += table.num_rows
        if open_file.rows >= self.max_rows_per_file:
            self.files_written.append(open_file.commit())
            del self._open[key]

    def _directory(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def _next_name(self, directory: str) -> str:
        """The next free name: a rerun given the same RUN_ID and WORKER_ID adds files, never replaces one."""
        worker = f"-{self.worker_id}" if self.worker_id else ""
        while True:
            self._sequence += 1
            name = f"part-{self.run_id}{worker}-{self._sequence:05d}.parquet"
            if self.filesystem.get_file_info(f"{directory}/{name}").type == pafs.FileType.NotFound:
                return name
