"""The dataset layout, in one place: what the files of ``DIR`` are called and which of them are data.

Why one module: crawl, rebuild, compact, the card and the incremental state all
list, name and validate the same files, on local disk and on object storage
alike (through pyarrow's filesystems). Written down once, they cannot drift.

The layout (SPEC "The dataset")::

    DIR/articles/2019/part-<run_id>[-<worker>]-<n>.parquet    one folder per year, no ``=``
    DIR/articles/no-year/...                                  articles whose year is unknown
    DIR/rejects/part-<run_id>[-<worker>]-<n>.parquet
    DIR/runs/<run_id>.json, DIR/raw/..., DIR/README.md (the card)
    DIR/.staging/...                                          files being written

Year folders have no ``=``: a hive folder ``year=2019`` next to the ``year``
column inside the files makes pandas and ``pyarrow.parquet`` refuse the dataset
(int32 against a dictionary). Folders by year still let a reader prune by path.
The older ``year=NNNN`` folders are still read (``scrapy compact`` rewrites them).
Files are written under ``DIR/.staging`` and renamed into place when complete:
no reader's glob (``articles/**/*.parquet``) ever matches a file being written.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from pathlib import Path

from pyarrow import fs as pafs

ARTICLES = "articles"
REJECTS = "rejects"
DATASETS = (ARTICLES, REJECTS)
CARD_FILE = "README.md"
RUNS_DIR = "runs"
RAW_DIR = "raw"
STAGING_DIR = ".staging"
"""Hidden folder of ``DIR`` where files are written before they are renamed into place."""
TEMP_SUFFIX = ".inprogress"
PARTITION_COLUMN = "year"
NULL_YEAR_FOLDER = "no-year"
LEGACY_NULL = "__HIVE_DEFAULT_PARTITION__"
"""The null partition of the older ``year=...`` layout."""
DATA_SUFFIX = ".parquet"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""Run ids, worker ids, crawl ids and fixture names: they become file names and Redis keys.
64 characters keep ``part-<run>-<worker>-<n>.parquet`` under the 255 bytes a file name may have."""


class LayoutError(ValueError):
    """A folder that is not a dataset where one is required (nothing was changed)."""


# -- names -------------------------------------------------------------------------


def check_name(value: str, what: str) -> str:
    """``value`` if it is safe as (part of) a file name and a Redis key; ValueError otherwise."""
    if not isinstance(value, str) or not NAME_RE.match(value) or ".." in value:
        raise ValueError(f"{what} must be 1-64 characters of [A-Za-z0-9_.-] starting with a letter or digit, got {value!r}")
    return value


def new_run_id(kind: str | None = None) -> str:
    """``20261125T144000Z-3f9a1c`` (``...Z-compact-3f9a1c`` with a kind): sortable by start, unique without coordination."""
    label = f"{check_name(kind, 'run kind')}-" if kind else ""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{label}{secrets.token_hex(3)}"


def data_file_name(run_id: str, worker_id: str | None, sequence: int) -> str:
    """``part-<run_id>[-<worker>]-00001.parquet``: a run adds files, never replaces another run's."""
    worker = f"-{worker_id}" if worker_id else ""
    return f"part-{run_id}{worker}-{sequence:05d}{DATA_SUFFIX}"


def partition_folder(value: object) -> str:
    """``2019``, or ``no-year``; refuses anything but an integer, so a page can never choose a path."""
    if value is None:
        return NULL_YEAR_FOLDER
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"partition value must be an int, got {value!r}")
    return str(value)


def partition_value(folder: str) -> int | None:
    """The year of a partition folder, in the current form or the older ``year=`` one."""
    name = folder.removeprefix(f"{PARTITION_COLUMN}=")
    if name in (NULL_YEAR_FOLDER, LEGACY_NULL):
        return None
    if not re.fullmatch(r"-?\d{1,9}", name):
        raise ValueError(f"not a partition folder: {folder!r}")
    return int(name)


def is_legacy_partition(folder: str) -> bool:
    return folder.startswith(f"{PARTITION_COLUMN}=")


def is_committed_data(relative: str) -> bool:
    """Whether a path relative to ``articles``/``rejects`` is committed data: ``*.parquet``, nothing hidden.

    Hidden (``.``) and ``_`` names are what pyarrow skips too; in-progress files end in ``.inprogress``.
    """
    parts = relative.split("/")
    return relative.endswith(DATA_SUFFIX) and not any(p.startswith((".", "_")) for p in parts)


# -- where ---------------------------------------------------------------------------


def open_filesystem(location: str | Path) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and path for a local path or a URI such as ``s3://bucket/prefix``."""
    text = str(location)
    if "://" in text:
        return pafs.FileSystem.from_uri(text)
    return pafs.LocalFileSystem(), str(Path(text).resolve())


def storage_problems(location: object, *, raw_archive: bool) -> list[str]:
    """What a crawl cannot do with this ``DATASET_DIR`` (one line each; checked with the settings).

    A URI's endpoint comes from the environment (``AWS_ENDPOINT_URL``): a query string would end
    up in the middle of every path joined to it. WARC files are appended to record by record and
    must survive a kill, which an object (complete or absent) cannot do.
    """
    text = str(location or "")
    if "://" not in text:
        return []
    problems = []
    if "?" in text:
        problems.append(f"DATASET_DIR={text!r}: give no query string; set the endpoint and keys in the environment "
                        "(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION)")
    if raw_archive:
        problems.append(f"RAW_ARCHIVE_ENABLED=True needs a local DATASET_DIR (the WARC archive is appended to as "
                        f"pages arrive, which object storage cannot do): add -s RAW_ARCHIVE_ENABLED=False for {text}")
    return problems


def is_local(filesystem: pafs.FileSystem) -> bool:
    return isinstance(filesystem, pafs.LocalFileSystem)


def staging_path(tree: str, relative: str) -> str:
    """Where ``tree/relative`` (``tree`` is ``DIR/articles``, say) is written before its rename.

    ``DIR/.staging/articles/<relative>.inprogress``: outside the folder readers glob, on the
    same filesystem (so the rename is atomic), and named so that no ``*.parquet`` glob matches.
    """
    parent, name = tree.rstrip("/").rsplit("/", 1)
    return f"{parent}/{STAGING_DIR}/{name}/{relative}{TEMP_SUFFIX}"


# -- listing ---------------------------------------------------------------------------


def list_data_files(filesystem: pafs.FileSystem, directory: str) -> list[str]:
    """Committed Parquet files under ``directory`` (either layout), sorted; [] when there is no folder."""
    if filesystem.get_file_info(directory).type != pafs.FileType.Directory:
        return []
    files = []
    for info in filesystem.get_file_info(pafs.FileSelector(directory, recursive=True, allow_not_found=True)):
        if info.type == pafs.FileType.File and is_committed_data(info.path[len(directory) + 1 :]):
            files.append(info.path)
    return sorted(files)


def has_data_files(filesystem: pafs.FileSystem, root: str) -> bool:
    """Whether ``root/articles`` or ``root/rejects`` holds a committed file; stops at the first one found,
    so a large remote dataset is not listed in full."""
    pending = [f"{root}/{name}" for name in DATASETS]
    while pending:
        directory = pending.pop()
        try:
            entries = filesystem.get_file_info(pafs.FileSelector(directory, allow_not_found=True))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.base_name.startswith((".", "_")):
                continue
            if entry.type == pafs.FileType.File and entry.base_name.endswith(DATA_SUFFIX):
                return True
            if entry.type == pafs.FileType.Directory:
                pending.append(entry.path)
    return False


def has_legacy_partitions(filesystem: pafs.FileSystem, root: str) -> bool:
    """Whether ``root/articles`` still has ``year=...`` folders (written before the current layout)."""
    directory = f"{root}/{ARTICLES}"
    try:
        entries = filesystem.get_file_info(pafs.FileSelector(directory, allow_not_found=True))
    except NotADirectoryError:
        return False
    return any(e.type == pafs.FileType.Directory and is_legacy_partition(e.base_name) for e in entries)


# -- what a folder is ------------------------------------------------------------------------


CARD_MARKER = "qikan_dataset_card"
"""A key of the card's YAML header: a README.md without it was not written by us and is never replaced."""
LEGACY_CARD_FIRST_LINE = "# qikan: Chinese journal articles"


def is_our_card(text: str) -> bool:
    """Whether a README.md is a card this project wrote (today's, with the marker, or the older form)."""
    head = text[:4096]
    if head.startswith("---") and re.search(rf"^{CARD_MARKER}:", head, re.MULTILINE):
        return True
    return head.startswith(LEGACY_CARD_FIRST_LINE + "\n")


def read_card(filesystem: pafs.FileSystem, root: str) -> str | None:
    """The text of ``root/README.md``, or None when there is none."""
    path = f"{root}/{CARD_FILE}"
    if filesystem.get_file_info(path).type != pafs.FileType.File:
        return None
    with filesystem.open_input_stream(path) as handle:
        return handle.read(1 << 20).decode("utf-8", errors="replace")


def holds_dataset(filesystem: pafs.FileSystem, root: str) -> bool:
    """A folder is a dataset when it has an ``articles``/``rejects`` folder, a ``runs`` folder, or our card."""
    for name in (*DATASETS, RUNS_DIR):
        if filesystem.get_file_info(f"{root}/{name}").type == pafs.FileType.Directory:
            return True
    card = read_card(filesystem, root)
    return card is not None and is_our_card(card)


def check_dataset_target(location: str | Path) -> None:
    """Refuse to write a dataset into a folder that holds other things (a project folder, a home).

    A missing or empty folder, or one that already holds a dataset, is fine. LayoutError otherwise.
    """
    filesystem, root = open_filesystem(location)
    info = filesystem.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        return
    if info.type != pafs.FileType.Directory:
        raise LayoutError(f"{location} is not a folder")
    if holds_dataset(filesystem, root):
        return
    entries = filesystem.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    others = sorted(e.base_name for e in entries if not e.base_name.startswith(".") and e.base_name != RAW_DIR)
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise LayoutError(f"{location} holds no dataset but other files ({shown}); give an empty or new folder")


def check_holds_dataset(location: str | Path) -> None:
    """LayoutError unless ``location`` is a dataset folder (what compact requires)."""
    filesystem, root = open_filesystem(location)
    if filesystem.get_file_info(root).type != pafs.FileType.Directory:
        raise LayoutError(f"no dataset folder at {location}")
    if not any(filesystem.get_file_info(f"{root}/{n}").type == pafs.FileType.Directory for n in DATASETS):
        raise LayoutError(f"{location} holds no dataset (no {ARTICLES}/ or {REJECTS}/ folder)")


def fsync_local(path: str, *, directory: bool = False) -> None:
    """Flush a local file (or folder entry) to disk: a commit that counts as stored must survive a power cut."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
