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
* The swap is atomic. The new tree is built in a hidden sibling folder
  (``DIR/.articles.compact-<id>``, invisible to readers of ``DIR/articles``)
  and exchanged with the live one in a single ``renameat2(RENAME_EXCHANGE)``:
  a reader sees the old files or the new ones, never both and never neither.
  (Elsewhere, two renames with a warning: for an instant there is no folder.)
* A file that a crawl commits while compaction runs lands in the live tree after
  the index was taken; after the swap it is in the old tree, and is moved into
  the new one before the old tree is deleted: no committed row is lost.
* It reads both layouts (``year=2019/`` folders and today's ``2019/``, see
  :mod:`pipelines.layout`) and writes today's: compacting is how a dataset migrates.
* Memory is bounded by a batch of rows, not by the dataset: only a small index
  (id, fetched_at, run, file, row) is held for everything; rows are copied
  file by file, partition by partition.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines import layout
from pipelines.dataset import METADATA_PREFIX, DatasetWriter, write_atomic
from pipelines.records import ARTICLE_SCHEMA, REJECT_SCHEMA
from pipelines.urls import article_id

logger = logging.getLogger(__name__)

AT_FDCWD = -100
RENAME_EXCHANGE = 2
ACTIVE_WRITER_SECONDS = 300
"""An in-progress file touched this recently means a crawl is writing: compaction refuses to run."""
STALE_STAGING_SECONDS = 3600
"""A file in ``DIR/.staging`` untouched this long was left by a crashed writer: compaction removes it."""
BATCH_ROWS = 128
"""Rows turned into Python objects at a time while copying (a row holds thousands of tokens)."""
DATASETS = layout.DATASETS


class CompactError(RuntimeError):
    """Compaction cannot run (no dataset, another compaction, an active writer); nothing was changed."""


def new_compaction_id() -> str:
    """Sortable like a run id, and visibly a compaction."""
    return layout.new_run_id("compact")


# -- what is there ---------------------------------------------------------------


def data_files(directory: Path) -> list[Path]:
    """Committed Parquet files under ``directory`` (either layout), in path order."""
    filesystem, path = layout.open_filesystem(directory)
    return [Path(p) for p in layout.list_data_files(filesystem, path)]


def _provenance(path: Path) -> tuple[str, set[str]]:
    """The run that wrote a file, and the runs whose rows it holds (more than one after a compaction)."""
    metadata = pq.read_schema(path).metadata or {}
    run = (metadata.get(f"{METADATA_PREFIX}run_id".encode()) or path.name.encode()).decode()
    merged = (metadata.get(f"{METADATA_PREFIX}compacted_runs".encode()) or b"").decode()
    return run, {run, *(r for r in merged.split(",") if r)}


def _index(files: list[Path], key: str) -> tuple[pa.Table, list[str]]:
    """(key, fetched_at, run rank, file, row) for every row of ``files``, and every run they hold rows of."""
    provenance = [_provenance(p) for p in files]
    runs = [run for run, _ in provenance]
    rank = {run: i for i, run in enumerate(sorted(set(runs)))}
    parts = []
    for number, (path, run) in enumerate(zip(files, runs)):
        table = pq.read_table(path, columns=[key, "fetched_at"])
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


def _keep_masks(winners: pa.Table, files: list[Path]) -> dict[int, pa.Array]:
    """For each file with rows to keep, a boolean mask over its rows (bit-packed: small)."""
    grouped = winners.group_by("file").aggregate([("row", "list")])
    masks = {}
    for number, rows in zip(grouped.column("file").to_pylist(), grouped.column("row_list")):
        total = pq.ParquetFile(files[number]).metadata.num_rows
        masks[number] = pc.is_in(pa.array(range(total), pa.int32()), value_set=rows.values)
    return masks


# -- rewriting ---------------------------------------------------------------------


def _copy_rows(files: list[Path], masks: dict[int, pa.Array], writer: DatasetWriter) -> int:
    """Copy the kept rows, file by file in path order (so partition by partition), in batches."""
    written = 0
    folder = None
    for number, path in enumerate(files):
        if number not in masks:
            continue
        if folder is not None and path.parent != folder:
            writer.flush()  # the previous partition is complete: its rows need not wait in memory
        folder = path.parent
        mask = masks[number]
        offset = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
            kept = batch.filter(mask.slice(offset, batch.num_rows))
            offset += batch.num_rows
            for row in kept.to_pylist():
                if "tokens" in row:  # one string per distinct token: the writer's pending rows shrink several times
                    row["tokens"] = list(map(sys.intern, row["tokens"]))
                writer.write(row)
                written += 1
    return written


def _rewrite(root: Path, name: str, compaction_id: str, options: dict[str, Any],
             article_ids: pa.ChunkedArray | None = None) -> dict[str, Any] | None:
    """Build the compacted copy of ``root/name`` in a hidden sibling; returns what happened (None: no files)."""
    directory = root / name
    files = data_files(directory)
    if not files:
        return None
    key = "article_id" if name == "articles" else "url"
    index, runs = _index(files, key)
    winners = newest_per_key(index)
    if name == "rejects":
        winners = winners.filter(_not_an_article_now(winners.column("key"), article_ids))
    staging = root / f".{name}.compact-{compaction_id}"
    writer = DatasetWriter(
        staging,
        ARTICLE_SCHEMA if name == "articles" else REJECT_SCHEMA,
        run_id=compaction_id,
        partition_by="year" if name == "articles" else None,
        metadata={"compacted_runs": ",".join(runs)},
        **options,
    )
    try:
        rows = _copy_rows(files, _keep_masks(winners, files), writer)
        writer.commit()
    except BaseException:
        writer.abort()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {
        "rows_before": index.num_rows,
        "rows_after": rows,
        "files_before": len(files),
        "files_after": len(writer.files_written),
        "runs_merged": runs,
        "staging": staging,
        "indexed": {p.relative_to(directory) for p in files},
        "article_ids": winners.column("key") if name == "articles" else None,
    }


def _not_an_article_now(urls: pa.ChunkedArray, ids: pa.ChunkedArray | None) -> pa.Array:
    if ids is None or len(ids) == 0:
        return pa.array([True] * len(urls))
    url_ids = pa.array([article_id(u) for u in urls.to_pylist()], pa.string())
    return pc.invert(pc.fill_null(pc.is_in(url_ids, value_set=ids.combine_chunks()), False))


# -- swapping ----------------------------------------------------------------------


def _rename_exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # glibc < 2.28, musl builds without it
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False  # a filesystem without exchange support
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def rescue_late_files(old: Path, live: Path, indexed: set[Path]) -> list[Path]:
    """Move files committed into the old tree after it was indexed into the new tree; returns them.

    After the exchange every new rename by path lands in the new tree, so the old tree
    no longer changes: what it holds beyond the index is all that came late.
    """
    moved = []
    for path in data_files(old):
        relative = path.relative_to(old)
        if relative in indexed:
            continue
        target = live / relative
        if target.exists():
            target = target.with_name(f"{target.stem}-late{target.suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
        moved.append(target)
    if moved:
        logger.warning("%d files were committed into %s during the compaction; moved into the new tree: %s",
                       len(moved), live, ", ".join(str(p) for p in moved))
    return moved


def swap_in(staging: Path, live: Path) -> tuple[Path | None, bool]:
    """Make ``staging`` the ``live`` folder; returns where the old tree now is (to delete) and whether it was atomic."""
    if not live.exists():
        staging.rename(live)
        return None, True
    if _rename_exchange(staging, live):
        return staging, True  # the staging name now holds the old tree
    logger.warning("No atomic exchange on this system: replacing %s with two renames; "
                   "a reader at that instant may find no folder", live)
    old = live.with_name(f".{live.name}.old-{staging.name.rsplit('-', 1)[-1]}")
    live.rename(old)
    staging.rename(live)
    return old, False


# -- safety ------------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """One compaction per dataset at a time (advisory lock on ``DIR/.compact.lock``)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".compact.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CompactError(f"another compaction of {root} is running") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _in_progress_files(root: Path) -> Iterator[Path]:
    """Files being written by crawls and rebuilds: in ``DIR/.staging``, and (older layout) dot-files in the trees."""
    staging = root / layout.STAGING_DIR
    for name in DATASETS:
        if (staging / name).is_dir():
            yield from (p for p in (staging / name).rglob(f"*{layout.TEMP_SUFFIX}") if p.is_file())
        if (root / name).is_dir():
            yield from (root / name).rglob(f".*{layout.TEMP_SUFFIX}")


def _check_no_active_writer(root: Path) -> None:
    now = time.time()
    for path in _in_progress_files(root):
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:  # committed meanwhile
            continue
        if age < ACTIVE_WRITER_SECONDS:
            raise CompactError(
                f"{path} is being written (a crawl or rebuild is running); compact when it has finished, "
                f"or with --force if that run is dead (the file was last written {age:.0f} s ago)"
            )


def _remove_leftovers(root: Path) -> None:
    """Staging and old trees of a compaction that crashed: never visible to readers, safe to drop."""
    for pattern in (".articles.compact-*", ".rejects.compact-*", ".articles.old-*", ".rejects.old-*"):
        for path in [*root.glob(pattern), *(root / layout.STAGING_DIR).glob(pattern)]:
            logger.warning("Removing %s, left by an interrupted compaction", path)
            shutil.rmtree(path, ignore_errors=True)
    now = time.time()
    for path in _in_progress_files(root):
        with contextlib.suppress(FileNotFoundError):
            if now - path.stat().st_mtime > STALE_STAGING_SECONDS and layout.STAGING_DIR in path.parts:
                logger.warning("Removing %s, left by a crawl or rebuild that died while writing it", path)
                path.unlink()


# -- the driver --------------------------------------------------------------------


def compact(root: str | Path, *, force: bool = False, row_group_rows: int = 2000,
            max_rows_per_file: int = 100_000, max_buffer_bytes: int = 64 * 1024 * 1024) -> dict[str, Any]:
    """Rewrite ``root/articles`` and ``root/rejects`` (one row per article / per URL), swapping each in atomically.

    Returns a summary, also written to ``root/runs/<compaction id>.json``.
    ``force`` compacts even while in-progress files look fresh (they are dropped).
    """
    try:
        layout.check_holds_dataset(root)
    except layout.LayoutError as exc:
        raise CompactError(str(exc)) from None
    root = Path(root).resolve()
    compaction_id = new_compaction_id()
    started_at = dt.datetime.now(dt.timezone.utc)
    started = time.monotonic()
    options = dict(row_group_rows=row_group_rows, max_rows_per_file=max_rows_per_file, max_buffer_bytes=max_buffer_bytes)
    summary: dict[str, Any] = {"run_id": compaction_id, "kind": "compact", "started_at": started_at.isoformat(timespec="seconds")}
    with _exclusive(root):
        _remove_leftovers(root)
        if not force:
            _check_no_active_writer(root)
        articles = _rewrite(root, "articles", compaction_id, options)
        rejects = _rewrite(root, "rejects", compaction_id, options, articles["article_ids"] if articles else None)
        atomic = True
        for name, result in (("articles", articles), ("rejects", rejects)):
            if result is None:
                continue
            old, was_atomic = swap_in(result.pop("staging"), root / name)
            atomic = atomic and was_atomic
            indexed = result.pop("indexed")
            if old is not None:
                result["files_committed_meanwhile"] = len(rescue_late_files(old, root / name, indexed))
                shutil.rmtree(old)
            result.pop("article_ids")
            summary[name] = result
    summary.update(
        finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        duration_seconds=round(time.monotonic() - started, 3),
        atomic_swap=atomic,
        articles_written=articles["rows_after"] if articles else 0,
        rejects_written=rejects["rows_after"] if rejects else 0,
        dataset_dir=str(root),
    )
    if articles or rejects:
        write_atomic(root, f"runs/{compaction_id}.json", json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8"))
    return summary
