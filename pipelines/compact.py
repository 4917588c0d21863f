"""Compaction: a dataset that many runs added to, rewritten as few files with one row per article.

Why it looks the way it does:

* Every scheduled crawl adds its own files, and an article fetched by five
  runs is five rows. Compaction keeps the newest copy (``fetched_at``; ties go
  to the newest run, then the later file and row, so reruns agree), looked up
  across all partitions: when cleaning rules change, an article can move to
  another year, and its old row must not survive in the old partition.
* Rejects keep one row per URL (the newest), and none for a URL whose article
  is in ``articles`` now: a page that failed once and was fetched later is not
  a reject any more.
* **No committed row is ever lost**: compaction lists the committed files once
  (the index), writes the kept rows to new files in ``DIR/.staging/compact-<id>``,
  publishes them next to the old ones, and then deletes exactly the files it
  indexed and read, never a folder. A file a writer commits meanwhile is not
  in the index and is never touched; nothing depends on timing or on a rename
  of a folder, so the same steps work on object storage (S3), where folders
  cannot be swapped.
* **Readers never fail**: old files are deleted only :data:`GRACE_SECONDS` after
  the new ones are visible, so a reader that listed the old files can still open
  them. Until then a reader sees both (an article twice, as between any two
  crawls); afterwards one row per article.
* Leases (:mod:`pipelines.leases`): compaction takes the dataset's compaction
  marker, refuses while a crawl or rebuild holds a live lease (``--wait`` waits,
  ``--force`` goes on), and writers publish nothing while the marker is held.
* It reads both layouts (``year=2019/`` folders and today's ``2019/``, see
  :mod:`pipelines.layout`) and writes today's: compacting is how a dataset migrates.
* Memory is bounded by a batch of rows, not by the dataset: only a small index
  (id, fetched_at, run, file, row) is held for everything.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from pipelines import layout, leases
from pipelines.dataset import METADATA_PREFIX, DatasetWriter, publish_files, write_atomic
from pipelines.sink import WriterOptions, open_writers
from pipelines.summary import RunSummary
from pipelines.urls import article_id

logger = logging.getLogger(__name__)

GRACE_SECONDS = 30.0
"""How long replaced files stay after the new ones are visible: a reader that listed them can still open them."""
ACTIVE_WRITER_SECONDS = 300
"""A staging file of no live lease touched this recently is a writer without a lease: compaction refuses."""
STALE_STAGING_SECONDS = 3600
"""A staging file of no live lease untouched this long was left by a dead writer: compaction removes it."""
BATCH_ROWS = 128
"""Rows turned into Python objects at a time while copying (a row holds thousands of tokens)."""
DATASETS = layout.DATASETS
COMPACT_STAGING = "compact-"


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
    if ids is None or len(ids) == 0:
        return pa.array([True] * len(urls))
    url_ids = pa.array([article_id(u) for u in urls.to_pylist()], pa.string())
    return pc.invert(pc.fill_null(pc.is_in(url_ids, value_set=ids.combine_chunks()), False))


# -- rewriting ---------------------------------------------------------------------


def _copy_rows(filesystem: pafs.FileSystem, files: list[str], winners: pa.Table, writer: DatasetWriter) -> int:
    """Copy the kept rows, file by file in path order (so partition by partition), in batches."""
    grouped = winners.group_by("file").aggregate([("row", "list")])
    keep = dict(zip(grouped.column("file").to_pylist(), grouped.column("row_list"), strict=True))
    written = 0
    folder = None
    for number, path in enumerate(files):
        if number not in keep:
            continue
        if folder is not None and path.rsplit("/", 1)[0] != folder:
            writer.flush()  # the previous partition is complete: its rows need not wait in memory
        folder = path.rsplit("/", 1)[0]
        with filesystem.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            total = parquet.metadata.num_rows
            mask = pc.is_in(pa.array(range(total), pa.int32()), value_set=keep[number].values)  # bit-packed: small
            offset = 0
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                kept = batch.filter(mask.slice(offset, batch.num_rows))
                offset += batch.num_rows
                for row in kept.to_pylist():
                    if "tokens" in row:  # one string per distinct token: pending rows shrink several times
                        row["tokens"] = list(map(sys.intern, row["tokens"]))
                    writer.write(row)
                    written += 1
    return written


def _rewrite(location: str, filesystem: pafs.FileSystem, base: str, name: str, compaction_id: str,
             options: dict[str, Any], article_ids: pa.ChunkedArray | None = None) -> dict[str, Any] | None:
    """Write the compacted copy of ``name`` into the hidden staging folder; returns what happened (None: no files)."""
    files = layout.list_data_files(filesystem, f"{base}/{name}")
    if not files:
        return None
    key = "article_id" if name == layout.ARTICLES else "url"
    index, runs = _index(filesystem, files, key)
    winners = newest_per_key(index)
    if name == layout.REJECTS:
        winners = winners.filter(_not_an_article_now(winners.column("key"), article_ids))
    staging_root = f"{layout.STAGING_DIR}/{COMPACT_STAGING}{compaction_id}"
    staging = f"{staging_root}/{name}"
    articles, rejects = open_writers(f"{location}/{staging_root}", compaction_id, None, WriterOptions(**options),
                                     metadata={"compacted_runs": ",".join(runs)}, honour_compaction=False)
    writer = articles if name == layout.ARTICLES else rejects
    try:
        rows = _copy_rows(filesystem, files, winners, writer)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    moves = [(path, f"{base}/{name}/{path[len(f'{base}/{staging}') + 1:]}") for path in writer.files_written]
    return {
        "rows_before": index.num_rows,
        "rows_after": rows,
        "files_before": len(files),
        "files_after": len(moves),
        "runs_merged": runs,
        "moves": moves,
        "replaced": files,
        "article_ids": winners.column("key") if name == layout.ARTICLES else None,
    }


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


# -- leftovers ---------------------------------------------------------------------


def _staging_files(filesystem: pafs.FileSystem, base: str) -> list[pafs.FileInfo]:
    """Files that writers are writing (or left) in ``DIR/.staging/articles|rejects``, and the older dot-files."""
    found = []
    for name in DATASETS:
        for folder in (f"{base}/{layout.STAGING_DIR}/{name}", f"{base}/{name}"):
            for info in filesystem.get_file_info(pafs.FileSelector(folder, recursive=True, allow_not_found=True)):
                hidden_temp = info.base_name.startswith(".") or folder.endswith(f"{layout.STAGING_DIR}/{name}")
                if info.type == pafs.FileType.File and info.base_name.endswith(layout.TEMP_SUFFIX) and hidden_temp:
                    found.append(info)
    return found


def _owned(info: pafs.FileInfo, live: list[leases.Lease]) -> bool:
    """Whether a staging file belongs to a live writer (its name starts with ``part-<run_id>``)."""
    name = info.base_name.lstrip(".")
    return any(name.startswith(f"part-{lease.run_id}") for lease in live)


def _clean_leftovers(filesystem: pafs.FileSystem, base: str, live: list[leases.Lease], force: bool) -> None:
    """Remove what dead compactions and writers left; refuse (unless ``force``) a fresh file no lease owns."""
    staging = f"{base}/{layout.STAGING_DIR}"
    for info in filesystem.get_file_info(pafs.FileSelector(staging, allow_not_found=True)):
        if info.base_name.startswith(COMPACT_STAGING) and not any(info.base_name.endswith(lease.run_id) for lease in live):
            logger.warning("Removing %s, left by an interrupted compaction", info.path)
            filesystem.delete_dir(info.path)
    for info in filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
        if info.type == pafs.FileType.Directory and info.base_name.startswith((".articles.", ".rejects.")):
            logger.warning("Removing %s, left by an interrupted compaction of an older version", info.path)
            filesystem.delete_dir(info.path)
    now = time.time()
    for info in _staging_files(filesystem, base):
        if _owned(info, live):
            continue
        age = now - info.mtime.timestamp() if info.mtime else float("inf")
        if age > STALE_STAGING_SECONDS:
            logger.warning("Removing %s, left %.0f s ago by a crawl or rebuild that died while writing it", info.path, age)
            filesystem.delete_file(info.path)
        elif age < ACTIVE_WRITER_SECONDS and not force:
            raise CompactError(
                f"{info.path} is being written by a run that holds no lease (a crawl or rebuild of an older version?) "
                f"or was left by one that died {age:.0f} s ago; compact when it has finished, or with --force if it is dead"
            )


# -- the driver --------------------------------------------------------------------


def compact(root: str | Path, *, force: bool = False, wait_seconds: float = 0.0, grace_seconds: float = GRACE_SECONDS,
            row_group_rows: int = 2000, max_rows_per_file: int = 100_000, max_buffer_bytes: int = 64 * 1024 * 1024,
            sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Rewrite ``root/articles`` and ``root/rejects`` (one row per article / per URL); ``root`` is a folder or a URI.

    Returns a summary, also written to ``root/runs/<compaction id>.json``. ``force`` compacts while
    writers hold leases (they wait to publish); ``wait_seconds`` waits that long for them first.
    """
    try:
        layout.check_holds_dataset(root)
    except layout.LayoutError as exc:
        raise CompactError(str(exc)) from None
    filesystem, base = layout.open_filesystem(root)
    location = str(root).rstrip("/") if "://" in str(root) else base
    compaction_id = new_compaction_id()
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    options = dict(row_group_rows=row_group_rows, max_rows_per_file=max_rows_per_file, max_buffer_bytes=max_buffer_bytes)
    details: dict[str, Any] = {}
    try:
        marker = leases.acquire_compaction(location, compaction_id, force=force, wait_seconds=wait_seconds, sleep=sleep)
    except leases.LeaseConflict as exc:
        raise CompactError(str(exc)) from None
    results: dict[str, dict[str, Any]] = {}
    try:
        _clean_leftovers(filesystem, base, marker.others(), force)
        articles = _rewrite(location, filesystem, base, layout.ARTICLES, compaction_id, options)
        rejects = _rewrite(location, filesystem, base, layout.REJECTS, compaction_id, options,
                           articles["article_ids"] if articles else None)
        results = {name: r for name, r in ((layout.ARTICLES, articles), (layout.REJECTS, rejects)) if r is not None}
        for result in results.values():  # the new files, next to the old ones: a reader may see both for a while
            publish_files(filesystem, result["moves"])
        if results and grace_seconds > 0:
            sleep(grace_seconds)
        for result in results.values():
            _retire(filesystem, result["replaced"])
    finally:
        _drop_staging(filesystem, f"{base}/{layout.STAGING_DIR}/{COMPACT_STAGING}{compaction_id}")
        marker.release()
    for name, result in results.items():
        result.pop("moves")
        replaced = set(result.pop("replaced"))
        result.pop("article_ids")
        now = layout.list_data_files(filesystem, f"{base}/{name}")
        result["files_committed_meanwhile"] = sum(1 for p in now if p not in replaced) - result["files_after"]
        details[name] = result
    summary = RunSummary(
        run_id=compaction_id,
        kind="compact",
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        duration_seconds=round(time.monotonic() - started, 3),
        finish_reason="finished",
        articles_written=results[layout.ARTICLES]["rows_after"] if layout.ARTICLES in results else 0,
        rejects_written=results[layout.REJECTS]["rows_after"] if layout.REJECTS in results else 0,
        files_written=sum(result["files_after"] for result in results.values()),
        dataset_dir=location,
        details={**details, "grace_seconds": grace_seconds, "forced": force},
    ).to_json()
    if results:
        write_atomic(location, f"runs/{compaction_id}.json", json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8"))
    return summary


def _drop_staging(filesystem: pafs.FileSystem, path: str) -> None:
    try:
        if filesystem.get_file_info(path).type == pafs.FileType.Directory:
            filesystem.delete_dir(path)
    except OSError as exc:
        logger.warning("Cannot remove %s (the next compaction will): %s", path, exc)
