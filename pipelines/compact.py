"""Compaction: one row per article, the newest, in a dataset that many runs added to.

Why it looks the way it does:

* Every scheduled crawl adds its own files, and an article fetched by five
  runs is five rows. Compaction keeps the newest copy (``fetched_at``; ties go
  to the newest run, then the later file and row, so reruns agree), looked up
  across all partitions: when cleaning rules change, an article can move to
  another year, and its old row must not survive in the old partition.
* Rejects keep one row per URL (the newest), and none for a URL whose article
  is in ``articles`` now: a page that failed once and was fetched later is not
  a reject any more.
* **Readers never fail, and never miss an article** (the default, *in place*):
  each file that loses rows is rewritten with the rows it keeps, under
  ``DIR/.staging/compact-<id>/``, and renamed over itself; a file that keeps
  nothing becomes a valid file of no rows. No path a reader listed ever goes away,
  a reader opens either the old or the new copy of each file (a rename is atomic,
  an open file stays readable), and a kept row never moves to another file, so
  every read holds every article at least once.
* **Merging** (``merge=True``, ``scrapy compact --merge``) also folds each partition into
  few files and drops the empty ones; that needs deletion: the merged files are
  published next to the old ones, which are deleted :data:`GRACE_SECONDS` later.
  A reader that lists a folder just before that deletion and opens a file after it
  gets ``FileNotFoundError``: merge when nobody reads. A dataset still in the older
  ``year=2019/`` layout is always merged: compacting is how it migrates
  (:mod:`pipelines.layout`).
* **No committed row is ever lost**: compaction lists the committed files once (the
  index) and touches exactly those; a file a writer commits meanwhile is not in the
  index and is never touched. Nothing depends on timing or on renaming a folder,
  so the same steps work on object storage (S3).
* Leases (:mod:`pipelines.leases`): compaction takes the compaction marker, refuses while a crawl or
  rebuild holds a live lease (``--wait`` waits, ``--force`` goes on); writers publish nothing meanwhile.
* Memory is bounded by a batch of rows: only a small index (id, fetched_at, run, file, row) is held for all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from pipelines import layout, leases
from pipelines.dataset import (
    METADATA_PREFIX,
    PARQUET_OPTIONS,
    DatasetWriteError,
    DatasetWriter,
    check_writable,
    publish_files,
    write_atomic,
)
from pipelines.leftovers import ActiveWriter, clean_leftovers, compaction_staging, drop_staging
from pipelines.sink import WriterOptions, open_writers
from pipelines.summary import RunSummary
from pipelines.urls import article_id

logger = logging.getLogger(__name__)

GRACE_SECONDS = 30.0
"""Merging: how long replaced files stay after the merged ones are visible, for readers that listed them."""
BATCH_ROWS = 128
"""Rows read into memory at a time while copying (a row holds thousands of tokens)."""


class CompactError(RuntimeError):
    """Compaction cannot run (no dataset, another compaction, an active writer); nothing was changed."""


def new_compaction_id() -> str:
    """Sortable like a run id, and visibly a compaction."""
    return layout.new_run_id("compact")


def data_files(directory: str | Path) -> list[Path]:
    """Committed Parquet files under a local ``directory`` (either layout), in path order."""
    filesystem, path = layout.open_filesystem(directory)
    return [Path(p) for p in layout.list_data_files(filesystem, path)]


# -- indexing ----------------------------------------------------------------------


def _provenance(filesystem: pafs.FileSystem, path: str) -> tuple[str, set[str]]:
    """The run that wrote a file, and the runs whose rows it holds (more than one after a compaction)."""
    metadata = pq.read_schema(path, filesystem=filesystem).metadata or {}
    run = (metadata.get(f"{METADATA_PREFIX}run_id".encode()) or path.rsplit("/", 1)[-1].encode()).decode()
    merged = (metadata.get(f"{METADATA_PREFIX}compacted_runs".encode()) or b"").decode()
    return run, {run, *(r for r in merged.split(",") if r)}


def _index(filesystem: pafs.FileSystem, files: list[str], key: str) -> tuple[pa.Table, list[str]]:
    """(key, fetched_at, run rank, file, row) for every row of ``files``, and every run they hold rows of."""
    provenance = [_provenance(filesystem, p) for p in files]
    runs = [run for run, _ in provenance]
    rank = {run: i for i, run in enumerate(sorted(set(runs)))}
    parts = []
    for number, (path, run) in enumerate(zip(files, runs, strict=True)):
        table = pq.read_table(path, columns=[key, "fetched_at"], filesystem=filesystem)
        n = table.num_rows
        parts.append(
            pa.table(
                {
                    "key": table.column(key).cast(pa.string()),
                    "fetched_at": table.column("fetched_at").cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()),
                    "run": pa.array([rank[run]] * n, pa.int32()),
                    "file": pa.array([number] * n, pa.int32()),
                    "row": pa.array(range(n), pa.int32()),
                }
            )
        )
    schema = pa.schema([("key", pa.string()), ("fetched_at", pa.int64()), ("run", pa.int32()),
                        ("file", pa.int32()), ("row", pa.int32())])
    merged = set().union(*(held for _, held in provenance))
    return (pa.concat_tables(parts) if parts else schema.empty_table()), sorted(merged)


def newest_per_key(index: pa.Table) -> pa.Table:
    """One index row per key: newest fetched_at, then newest run, later file, later row."""
    import pyarrow.compute as pc  # here: 30-50 ms to import, and every scrapy command imports this module
    if index.num_rows == 0:
        return index
    ordered = index.sort_by(
        [("key", "ascending"), ("fetched_at", "descending"), ("run", "descending"),
         ("file", "descending"), ("row", "descending")]
    )
    keys = ordered.column("key")
    first = pa.concat_arrays(
        [pa.array([True]), pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1)).combine_chunks()]
    )
    return ordered.filter(first)


def _not_an_article_now(urls: pa.ChunkedArray, ids: pa.ChunkedArray | None) -> pa.Array:
    import pyarrow.compute as pc  # see newest_per_key
    if ids is None or len(ids) == 0:
        return pa.array([True] * len(urls))
    url_ids = pa.array([article_id(u) for u in urls.to_pylist()], pa.string())
    return pc.invert(pc.fill_null(pc.is_in(url_ids, value_set=ids.combine_chunks()), False))


@attrs.frozen
class _Plan:
    """What compaction keeps of one dataset (``articles`` or ``rejects``), decided before anything is written."""

    name: str
    files: list[str]
    """The committed files, listed once: the only ones compaction reads, rewrites or deletes."""
    rows: pa.Table
    """The index of every row (:func:`_index`)."""
    winners: pa.Table
    """The index rows kept."""
    runs: list[str]

    def kept_rows(self) -> dict[int, pa.Array]:
        """Row numbers kept, by file number (a file keeping nothing is absent)."""
        grouped = self.winners.group_by("file").aggregate([("row", "list")])
        return {number: rows.values for number, rows in
                zip(grouped.column("file").to_pylist(), grouped.column("row_list"), strict=True)}

    def summary(self, files_after: int) -> dict[str, Any]:
        return {"rows_before": self.rows.num_rows, "rows_after": self.winners.num_rows,
                "files_before": len(self.files), "files_after": files_after, "runs_merged": self.runs}


def _plan(filesystem: pafs.FileSystem, base: str, name: str, article_ids: pa.ChunkedArray | None = None) -> _Plan | None:
    """Index ``base/name`` and pick the rows to keep; None when it holds no file."""
    files = layout.list_data_files(filesystem, f"{base}/{name}")
    if not files:
        return None
    index, runs = _index(filesystem, files, "article_id" if name == layout.ARTICLES else "url")
    winners = newest_per_key(index)
    if name == layout.REJECTS:
        winners = winners.filter(_not_an_article_now(winners.column("key"), article_ids))
    return _Plan(name, files, index, winners, runs)


# -- in place ----------------------------------------------------------------------


def _rewrite_in_place(filesystem: pafs.FileSystem, base: str, plan: _Plan, staging: str,
                      options: WriterOptions) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Write the kept rows of every file that loses rows to ``staging``; returns the summary and the renames to do."""
    keep = plan.kept_rows()
    per_file = plan.rows.group_by("file").aggregate([("row", "count")])
    totals = dict(zip(per_file.column("file").to_pylist(), per_file.column("row_count").to_pylist(), strict=True))
    renames = []
    emptied = 0
    for number, path in enumerate(plan.files):
        kept = keep.get(number, pa.array([], pa.int32()))
        if len(kept) == totals.get(number, 0):
            continue  # loses nothing: not rewritten
        temp = f"{staging}/{path[len(base) + 1:]}"
        _write_kept_rows(filesystem, path, temp, kept, options)
        renames.append((temp, path))
        emptied += len(kept) == 0
    result = plan.summary(files_after=sum(1 for number in range(len(plan.files)) if number in keep))
    result.update(files_rewritten=len(renames), files_emptied=emptied)
    return result, renames


def _kept_batches(parquet: pq.ParquetFile, kept: pa.Array) -> Iterator[pa.RecordBatch]:
    """The rows numbered ``kept`` of an open file, in their order, a batch at a time."""
    import pyarrow.compute as pc  # see newest_per_key
    mask = pc.is_in(pa.array(range(parquet.metadata.num_rows), pa.int32()), value_set=kept)  # bit-packed: small
    offset = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        yield batch.filter(mask.slice(offset, batch.num_rows))
        offset += batch.num_rows


def _write_kept_rows(filesystem: pafs.FileSystem, source: str, temp: str, kept: pa.Array,
                     options: WriterOptions) -> None:
    """``source`` with only the rows ``kept``, in their order, as a synced file at ``temp`` (same schema and metadata)."""
    try:
        with filesystem.open_input_file(source) as handle:
            parquet = pq.ParquetFile(handle)
            schema = parquet.schema_arrow
            filesystem.create_dir(temp.rsplit("/", 1)[0], recursive=True)
            with pq.ParquetWriter(temp, schema, filesystem=filesystem, **PARQUET_OPTIONS) as writer:
                pending: list[pa.RecordBatch] = []
                for batch in _kept_batches(parquet, kept):
                    pending.append(batch)
                    rows = sum(b.num_rows for b in pending)
                    if rows >= options.row_group_rows or sum(b.nbytes for b in pending) >= options.max_buffer_bytes:
                        writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=rows)
                        pending = []
                if any(b.num_rows for b in pending):
                    writer.write_table(pa.Table.from_batches(pending, schema))
        if layout.is_local(filesystem):
            layout.fsync_local(temp)
    except OSError as exc:
        raise DatasetWriteError(source, exc) from exc


def _rename_over(filesystem: pafs.FileSystem, renames: list[tuple[str, str]]) -> None:
    """Put each rewritten file in place of its original (an atomic rename: a reader sees one or the other)."""
    for temp, final in renames:
        try:
            filesystem.move(temp, final)
        except OSError as exc:
            raise DatasetWriteError(final, exc) from exc
    if layout.is_local(filesystem):
        for directory in sorted({final.rsplit("/", 1)[0] for _, final in renames}):
            layout.fsync_local(directory, directory=True)


# -- merging -----------------------------------------------------------------------


def _copy_rows(filesystem: pafs.FileSystem, plan: _Plan, writer: DatasetWriter) -> None:
    """Copy the kept rows, file by file in path order (so partition by partition), in batches."""
    keep = plan.kept_rows()
    folder = None
    for number, path in enumerate(plan.files):
        if number not in keep:
            continue
        if folder is not None and path.rsplit("/", 1)[0] != folder:
            writer.flush()  # the previous partition is complete: its rows need not wait in memory
        folder = path.rsplit("/", 1)[0]
        with filesystem.open_input_file(path) as handle:
            for batch in _kept_batches(pq.ParquetFile(handle), keep[number]):
                for row in batch.to_pylist():  # the writer packs each token list into one string
                    writer.write(row)


def _merge(location: str, filesystem: pafs.FileSystem, base: str, plan: _Plan, compaction_id: str,
           options: WriterOptions) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Write the kept rows of ``plan`` to new files in the staging folder; returns the summary and the moves."""
    staging_root = compaction_staging(base, compaction_id)[len(base) + 1:]
    articles, rejects = open_writers(f"{location}/{staging_root}", compaction_id, None, options,
                                     metadata={"compacted_runs": ",".join(plan.runs)}, honour_compaction=False)
    writer = articles if plan.name == layout.ARTICLES else rejects
    try:
        _copy_rows(filesystem, plan, writer)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    staging = f"{staging_root}/{plan.name}"
    moves = [(path, f"{base}/{plan.name}/{path[len(f'{base}/{staging}') + 1:]}") for path in writer.files_written]
    return plan.summary(files_after=len(moves)), moves


def _retire(filesystem: pafs.FileSystem, files: list[str]) -> None:
    """Delete the files compaction replaced, then the ``year=...`` folders left empty (no writer uses those)."""
    for path in files:
        try:
            filesystem.delete_file(path)
        except FileNotFoundError:
            pass
    for folder in sorted({p.rsplit("/", 1)[0] for p in files}, reverse=True):
        if not layout.is_legacy_partition(folder.rsplit("/", 1)[-1]):
            continue
        if layout.is_local(filesystem):
            try:
                os.rmdir(folder)  # fails, harmlessly, when the folder is not empty
            except OSError:
                pass
        elif not filesystem.get_file_info(pafs.FileSelector(folder, allow_not_found=True, recursive=True)):
            filesystem.delete_dir(folder)


# -- the driver --------------------------------------------------------------------


def compact(root: str | Path, *, merge: bool = False, force: bool = False, wait_seconds: float = 0.0,
            grace_seconds: float = GRACE_SECONDS, row_group_rows: int = 2000, max_rows_per_file: int = 100_000,
            max_buffer_bytes: int = 64 * 1024 * 1024, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Keep one row per article in ``root/articles`` and per URL in ``root/rejects``; ``root`` is a folder or a URI.

    In place unless ``merge`` (or the older layout) asks for merged files. Returns a summary, also
    written to ``root/runs/<compaction id>.json``. ``force`` compacts while writers hold leases (they
    wait to publish); ``wait_seconds`` waits that long for them first.
    """
    try:
        layout.check_holds_dataset(root)
    except layout.LayoutError as exc:
        raise CompactError(str(exc)) from None
    check_writable(root)  # a read-only or full dataset: one DatasetWriteError now, before anything is taken
    filesystem, base = layout.open_filesystem(root)
    location = str(root).rstrip("/") if "://" in str(root) else base
    compaction_id = new_compaction_id()
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    options = WriterOptions(row_group_rows=row_group_rows, max_rows_per_file=max_rows_per_file,
                            max_buffer_bytes=max_buffer_bytes)
    try:
        marker = leases.acquire_compaction(location, compaction_id, force=force, wait_seconds=wait_seconds, sleep=sleep)
    except leases.LeaseConflict as exc:
        raise CompactError(str(exc)) from None
    merging = merge or layout.has_legacy_partitions(filesystem, base)
    if merging and not merge:
        logger.warning("%s has year=NNNN folders (an older layout): merging into the current one", location)
    staging = compaction_staging(base, compaction_id)
    results: dict[str, dict[str, Any]] = {}
    try:
        try:
            clean_leftovers(filesystem, base, marker.others(), force)
        except ActiveWriter as exc:
            raise CompactError(str(exc)) from None
        articles = _plan(filesystem, base, layout.ARTICLES)
        rejects = _plan(filesystem, base, layout.REJECTS, articles.winners.column("key") if articles else None)
        plans = [plan for plan in (articles, rejects) if plan is not None]
        changes: dict[str, list[tuple[str, str]]] = {}
        for plan in plans:
            if merging:
                results[plan.name], changes[plan.name] = _merge(location, filesystem, base, plan, compaction_id, options)
            else:
                results[plan.name], changes[plan.name] = _rewrite_in_place(filesystem, base, plan, staging, options)
        if merging:
            for moves in changes.values():  # the merged files, next to the old ones: a reader may see both for a while
                publish_files(filesystem, moves)
            if plans and grace_seconds > 0:
                sleep(grace_seconds)
            for plan in plans:
                _retire(filesystem, plan.files)
        else:
            for renames in changes.values():
                _rename_over(filesystem, renames)
    finally:
        drop_staging(filesystem, staging)
        marker.release()
    for plan in plans:
        indexed = set(plan.files)
        now = layout.list_data_files(filesystem, f"{base}/{plan.name}")
        late = sum(1 for p in now if p not in indexed)
        results[plan.name]["files_committed_meanwhile"] = late - results[plan.name]["files_after"] if merging else late
    summary = RunSummary(
        run_id=compaction_id,
        kind="compact",
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        duration_seconds=round(time.monotonic() - started, 3),
        finish_reason="finished",
        articles_written=results[layout.ARTICLES]["rows_after"] if layout.ARTICLES in results else 0,
        rejects_written=results[layout.REJECTS]["rows_after"] if layout.REJECTS in results else 0,
        files_written=sum(r.get("files_rewritten", r["files_after"]) for r in results.values()),
        dataset_dir=location,
        details={**results, "mode": "merge" if merging else "in_place", "grace_seconds": grace_seconds if merging else 0,
                 "forced": force},
    ).to_json()
    if results:
        write_atomic(location, f"runs/{compaction_id}.json", json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8"))
    return summary
