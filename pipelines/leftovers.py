"""What dead writers and interrupted compactions leave in a dataset, and when compaction may remove it.

Compaction is the one place that cleans up, because it holds the compaction marker
(:mod:`pipelines.leases`): while it does, no writer publishes, so a staging file no live
lease owns is either fresh (a writer without a lease, or one that died moments ago: refuse,
unless ``--force``) or old (a dead writer's: remove it, with a warning that says how old).
"""

from __future__ import annotations

import logging
import time

from pyarrow import fs as pafs

from pipelines import layout, leases

logger = logging.getLogger(__name__)

ACTIVE_WRITER_SECONDS = 300
"""A staging file of no live lease touched this recently is a writer without a lease: compaction refuses."""
STALE_STAGING_SECONDS = 3600
"""A staging file of no live lease untouched this long was left by a dead writer: compaction removes it."""
COMPACT_STAGING = "compact-"
"""Prefix of a compaction's own staging folder, ``DIR/.staging/compact-<compaction id>``."""


class ActiveWriter(RuntimeError):
    """A staging file that may belong to a live writer holding no lease."""


def compaction_staging(base: str, compaction_id: str) -> str:
    return f"{base}/{layout.STAGING_DIR}/{COMPACT_STAGING}{compaction_id}"


def _staging_files(filesystem: pafs.FileSystem, base: str) -> list[pafs.FileInfo]:
    """Files that writers are writing (or left) in ``DIR/.staging/articles|rejects``, and the older dot-files."""
    found = []
    for name in layout.DATASETS:
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


def clean_leftovers(filesystem: pafs.FileSystem, base: str, live: list[leases.Lease], force: bool) -> None:
    """Remove what dead compactions and writers left; refuse (unless ``force``) a fresh file no lease owns."""
    staging = f"{base}/{layout.STAGING_DIR}"
    for info in filesystem.get_file_info(pafs.FileSelector(staging, allow_not_found=True)):
        if info.base_name.startswith(COMPACT_STAGING) and not any(info.base_name.endswith(lease.run_id) for lease in live):
            logger.warning("Removing %s, left by an interrupted compaction", info.path)
            _delete_dir(filesystem, info.path)
    for info in filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
        if info.type == pafs.FileType.Directory and info.base_name.startswith((".articles.", ".rejects.")):
            logger.warning("Removing %s, left by an interrupted compaction of an older version", info.path)
            _delete_dir(filesystem, info.path)
    now = time.time()
    for info in _staging_files(filesystem, base):
        if _owned(info, live):
            continue
        age = now - info.mtime.timestamp() if info.mtime else float("inf")
        if age > STALE_STAGING_SECONDS:
            logger.warning("Removing %s, left %.0f s ago by a crawl or rebuild that died while writing it", info.path, age)
            filesystem.delete_file(info.path)
        elif age < ACTIVE_WRITER_SECONDS and not force:
            raise ActiveWriter(
                f"{info.path} is being written by a run that holds no lease (a crawl or rebuild of an older version?) "
                f"or was left by one that died {age:.0f} s ago; compact when it has finished, or with --force if it is dead"
            )


def _delete_dir(filesystem: pafs.FileSystem, path: str) -> None:
    try:
        filesystem.delete_dir(path)
    except FileNotFoundError:  # object storage lists an empty folder's marker that it then cannot find
        pass


def drop_staging(filesystem: pafs.FileSystem, path: str) -> None:
    """Remove a compaction's own staging folder (best effort: the next compaction removes what is left)."""
    try:
        if filesystem.get_file_info(path).type == pafs.FileType.Directory:
            filesystem.delete_dir(path)
    except OSError as exc:
        logger.warning("Cannot remove %s (the next compaction will): %s", path, exc)
