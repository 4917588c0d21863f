"""Append rows to a Parquet dataset partitioned by year, safely.

Why this shape:
- Rows are buffered and written as row groups of thousands: one file per item
  would make every reader slow.
- A file is written in ``DIR/.staging`` (see :mod:`pipelines.layout`), synced to
  disk, and renamed into place when complete: no reader's glob ever sees half a
  file, and a row counts as stored only once its file survives a power cut.
- A write that fails (disk full, read-only, permission) removes its half file
  and raises :class:`DatasetWriteError`: the rows of the failed files are gone
  from the writer and were never reported as committed, so nothing that is not
  on disk counts as stored.
- File names carry the run id (and worker id), so a second run adds files and
  never overwrites one; partition folders come only from validated integers.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from pipelines import layout, leases
from pipelines.arrowrows import RowConverter
from pipelines.layout import check_name, open_filesystem
from pipelines.records import CLEANING_RULES_VERSION, SCHEMA_VERSION

__all__ = ["DatasetWriteError", "DatasetWriter", "check_safe_name", "check_writable", "open_filesystem", "publish_files",
           "write_atomic"]

check_safe_name = check_name
"""The one name validator (:func:`pipelines.layout.check_name`), under the name older callers use."""
METADATA_PREFIX = "qikan."
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "write_statistics": True}
"""How every data file is written (crawl, rebuild, compaction)."""
PENDING_ROWS = 32
"""Rows of one partition kept as (packed, :mod:`pipelines.arrowrows`) dicts before they become an Arrow batch."""
PENDING_ROWS_TOTAL = 4 * PENDING_ROWS
"""The same, over all partitions: rows spread over many years must not add up unbounded."""


class DatasetWriteError(OSError):
    """Writing the dataset failed (disk full, read-only, no permission): one type for every storage error.

    ``path`` is the file that could not be written, ``errno`` the system's code when known.
    """

    def __init__(self, path: str, cause: BaseException) -> None:
        code = getattr(cause, "errno", None) or _errno_in(str(cause))
        reason = os.strerror(code) if code else str(cause)
        super().__init__(code, f"cannot write {path}: {reason}")
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return str(self.args[1])

def _errno_in(text: str) -> int | None:
    found = re.search(r"errno[ =]?(\d+)", text, re.IGNORECASE)
    return int(found.group(1)) if found else None


def _discard(filesystem: pafs.FileSystem, path: str) -> None:
    """Remove a half-written file, best effort: the error that made it half is the one to report."""
    try:
        filesystem.delete_file(path)
    except OSError:
        pass


def _sync(filesystem: pafs.FileSystem, temp: str, final: str) -> None:
    """Flush a complete file to disk under its staging name (the slow part of a commit)."""
    if layout.is_local(filesystem):
        try:
            layout.fsync_local(temp)
        except OSError as exc:
            _discard(filesystem, temp)
            raise DatasetWriteError(final, exc) from exc


def publish_files(filesystem: pafs.FileSystem, moves: list[tuple[str, str]]) -> None:
    """Rename synced files into place, then sync their folders once each.

    The renames come together, after every file was synced: a process killed in between
    leaves the fewest files visible whose commit it could not report. If anything fails,
    the files of this batch are removed again (best effort): a failed commit is not visible.
    """
    done: list[str] = []
    try:
        for temp, final in moves:
            filesystem.create_dir(final.rsplit("/", 1)[0], recursive=True)
            filesystem.move(temp, final)
            done.append(final)
        if layout.is_local(filesystem):
            for directory in sorted({final.rsplit("/", 1)[0] for _, final in moves}):
                layout.fsync_local(directory, directory=True)
    except OSError as exc:
        for temp, final in moves:
            _discard(filesystem, final if final in done else temp)
        failed = next((final for _, final in moves if final not in done), moves[-1][1])
        raise DatasetWriteError(failed, exc) from exc


def write_atomic(root: str | Path, relative: str, data: bytes) -> str:
    """Write ``root/relative`` under a temporary dot-name, sync it, then rename it into place."""
    filesystem, base = open_filesystem(root)
    final = f"{base}/{relative}"
    directory, name = final.rsplit("/", 1)
    temp = f"{directory}/.{name}{layout.TEMP_SUFFIX}"
    try:
        filesystem.create_dir(directory, recursive=True)
        with filesystem.open_output_stream(temp, compression=None) as out:
            out.write(data)
    except OSError as exc:
        _discard(filesystem, temp)
        raise DatasetWriteError(final, exc) from exc
    _sync(filesystem, temp, final)
    publish_files(filesystem, [(temp, final)])
    return final


def pandas_metadata(schema: pa.Schema) -> dict[str, str]:
    """The ``pandas`` key that makes ``pandas.read_parquet`` give nullable integers (``Int32``) as such.

    Without it a nullable ``year`` comes back float64 (null becomes NaN); other readers ignore the key.
    """
    columns = [
        {"name": f.name, "field_name": f.name, "pandas_type": str(f.type), "numpy_type": str(f.type).capitalize(),
         "metadata": None}
        for f in schema
        if f.nullable and pa.types.is_integer(f.type)
    ]
    if not columns:
        return {}
    meta = {"index_columns": [], "column_indexes": [], "columns": columns, "creator": {"library": "qikan-crawler"}}
    return {"pandas": json.dumps(meta)}


class _OpenFile:
    """One Parquet file being written in the staging folder."""

    def __init__(self, filesystem: pafs.FileSystem, tree: str, relative: str, schema: pa.Schema) -> None:
        self.filesystem = filesystem
        self.final_path = f"{tree}/{relative}"
        self.temp_path = layout.staging_path(tree, relative)
        self.rows = 0
        self.sealed = False
        try:
            filesystem.create_dir(self.temp_path.rsplit("/", 1)[0], recursive=True)
            self.writer = pq.ParquetWriter(
                self.temp_path, schema, filesystem=filesystem, **PARQUET_OPTIONS
            )
        except OSError as exc:
            _discard(filesystem, self.temp_path)
            raise DatasetWriteError(self.final_path, exc) from exc

    def write(self, table: pa.Table) -> None:
        try:
            self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        except OSError as exc:
            self.discard()
            raise DatasetWriteError(self.final_path, exc) from exc
        self.rows += table.num_rows

    def seal(self) -> None:
        """Close and sync the file, still under its staging name; nothing more is written to it."""
        if self.sealed:
            return
        try:
            self.writer.close()
        except OSError as exc:
            _discard(self.filesystem, self.temp_path)
            raise DatasetWriteError(self.final_path, exc) from exc
        _sync(self.filesystem, self.temp_path, self.final_path)
        self.sealed = True

    def commit(self) -> str:
        self.seal()
        publish_files(self.filesystem, [(self.temp_path, self.final_path)])
        return self.final_path

    def discard(self) -> None:
        try:
            self.writer.close()
        except OSError:
            pass
        _discard(self.filesystem, self.temp_path)


class DatasetWriter:
    """Writes rows of one schema into the tree ``root``, partitioned by one integer column (or not at all)."""

    def __init__(self, root: str | Path, schema: pa.Schema, *, run_id: str, worker_id: str | None = None,
                 partition_by: str | None = None, row_group_rows: int = 2000, max_rows_per_file: int = 100_000,
                 max_buffer_bytes: int = 64 * 1024 * 1024, metadata: Mapping[str, str] | None = None,
                 honour_compaction: bool = True) -> None:
        self.filesystem, self.root = open_filesystem(root)
        self.dataset_root = str(root).rstrip("/").rsplit("/", 1)[0] if honour_compaction else None
        """Where the leases are (``DIR`` of ``DIR/articles``); None for the compaction's own writer."""
        self.run_id = check_name(run_id, "run id")
        self.worker_id = check_name(worker_id, "worker id") if worker_id else None
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
        kv.update(pandas_metadata(schema))
        self.schema = schema.with_metadata({**(schema.metadata or {}), **{k.encode(): v.encode() for k, v in kv.items()}})
        self._rows = RowConverter(self.schema)
        self._pending: dict[str, list[dict]] = {}
        self._pending_rows = 0
        self._batches: dict[str, list[pa.RecordBatch]] = {}
        self._batched_rows: dict[str, int] = {}
        self._buffered_bytes = 0
        self._open: dict[str, _OpenFile] = {}
        self._sequence = 0
        self.files_written: list[str] = []

    def write(self, row: Mapping[str, object]) -> None:
        """Buffer one row; rows reach disk in row groups of ``row_group_rows``.

        Raises :class:`DatasetWriteError` when a row group cannot be written; the writer
        is then empty (see :meth:`abort`) and usable again.
        """
        key = layout.partition_folder(row.get(self.partition_by)) if self.partition_by else ""
        pending = self._pending.setdefault(key, [])
        pending.append(self._rows.pack(row))
        self._pending_rows += 1
        if len(pending) + self._batched_rows.get(key, 0) >= self.row_group_rows:
            self._guarded(self._write_group, key)
            return
        if len(pending) >= PENDING_ROWS or self._pending_rows >= PENDING_ROWS_TOTAL:
            if len(pending) < PENDING_ROWS:
                key = max(self._pending, key=lambda k: len(self._pending[k]))
            self._to_batch(key)  # Arrow holds rows in a fraction of the memory Python objects take
            if self._buffered_bytes > self.max_buffer_bytes:
                self._guarded(self._write_group, max(self._batched_rows, key=self._batched_rows.__getitem__))

    def flush(self) -> None:
        """Write every buffered row as row groups of the open files."""
        for key in list(self._pending):
            self._to_batch(key)
        for key in list(self._batches):
            self._guarded(self._write_group, key)

    def commit(self) -> list[str]:
        """Flush and publish every open file under its final name; returns the paths committed now.

        On :class:`DatasetWriteError` no file of this commit is visible, and the writer
        drops what it held: the caller must not count those rows as stored.
        """
        self.prepare()
        return self.publish()

    def prepare(self) -> None:
        """The slow half of a commit: write buffered rows, close and sync every open file (not yet visible).

        Several writers committed together (articles and rejects) prepare first and then
        publish, so their files appear within moments of each other.
        """
        self.flush()
        try:
            for open_file in self._open.values():
                open_file.seal()
        except DatasetWriteError:
            self.abort()
            raise

    def publish(self) -> list[str]:
        """The fast half: rename the files :meth:`prepare` sealed into place and sync their folders."""
        files = list(self._open.values())
        self._open.clear()
        if not files:
            return []
        try:
            for open_file in files:
                open_file.seal()  # a no-op after prepare()
            self._wait_for_compaction()
            publish_files(self.filesystem, [(f.temp_path, f.final_path) for f in files])
        except DatasetWriteError:
            for open_file in files:
                open_file.discard()
            self.abort()
            raise
        committed = [f.final_path for f in files]
        self.files_written.extend(committed)
        return committed

    def _wait_for_compaction(self) -> None:
        """Publish nothing while a compaction holds the dataset (see :mod:`pipelines.leases`)."""
        if self.dataset_root is None:
            return
        try:
            leases.wait_while_compacting(self.dataset_root)
        except OSError as exc:
            raise DatasetWriteError(f"{self.dataset_root}/{leases.LEASES_DIR}", exc) from exc

    def abort(self) -> None:
        """Drop open files and buffered rows (after an error that makes their rows untrustworthy)."""
        for open_file in self._open.values():
            open_file.discard()
        self._open.clear()
        self._pending.clear()
        self._pending_rows = 0
        self._batches.clear()
        self._batched_rows.clear()
        self._buffered_bytes = 0

    @property
    def buffered_rows(self) -> int:
        return sum(len(rows) for rows in self._pending.values()) + sum(self._batched_rows.values())

    def _guarded(self, step: Callable[[str], None], key: str) -> None:
        try:
            step(key)
        except DatasetWriteError:
            self.abort()
            raise

    def _to_batch(self, key: str) -> None:
        rows = self._pending.pop(key, None)
        if not rows:
            return
        self._pending_rows -= len(rows)
        batch = self._rows.to_batch(rows)
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
            relative = self._next_name(key)
            open_file = _OpenFile(self.filesystem, self.root, relative, self.schema)
            self._open[key] = open_file
        try:
            open_file.write(table)
        except DatasetWriteError:
            del self._open[key]  # already discarded
            raise
        if open_file.rows >= self.max_rows_per_file:
            del self._open[key]
            try:
                open_file.seal()
                self._wait_for_compaction()
            except DatasetWriteError:
                open_file.discard()
                raise
            self.files_written.append(open_file.commit())

    def _next_name(self, key: str) -> str:
        """The next free name (relative to the tree): a rerun with the same RUN_ID and WORKER_ID adds files."""
        while True:
            self._sequence += 1
            relative = layout.data_file_name(self.run_id, self.worker_id, self._sequence)
            relative = f"{key}/{relative}" if key else relative
            if self.filesystem.get_file_info(f"{self.root}/{relative}").type == pafs.FileType.NotFound:
                return relative


def check_writable(root: str | Path) -> None:
    """Write, sync and remove a probe file in ``root``'s staging folder: a run learns at its start,
    not after an hour of crawling, that its dataset folder is read-only or full. DatasetWriteError if not."""
    filesystem, base = open_filesystem(root)
    probe = f"{base}/{layout.STAGING_DIR}/.probe-{os.getpid()}{layout.TEMP_SUFFIX}"
    try:
        filesystem.create_dir(probe.rsplit("/", 1)[0], recursive=True)
        with filesystem.open_output_stream(probe, compression=None) as out:
            out.write(b"qikan write probe\n" * 64)
        if layout.is_local(filesystem):
            layout.fsync_local(probe)
    except OSError as exc:
        _discard(filesystem, probe)
        raise DatasetWriteError(base, exc) from exc
    _discard(filesystem, probe)

