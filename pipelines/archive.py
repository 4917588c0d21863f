"""The raw archive: every fetched response as a WARC record, and back to raw pages.

Why it looks the way it does:

* WARC is the web archive standard: the archive stays readable by other tools
  (warcio, pywb, ...) and outlives this project's code.
* WARC/1.1, because its ``WARC-Date`` keeps sub-second precision: a rebuilt
  row's ``fetched_at`` must equal the crawl's to the millisecond.
* One gzip member per record, written with one ``write`` and flushed at once:
  a killed crawl leaves every complete record readable, and the reader skips a
  cut last record with a warning instead of failing the whole file.
* Scrapy hands us bodies already decoded (gzip, chunked), so the stored HTTP
  header block must not claim otherwise: ``Content-Encoding``,
  ``Transfer-Encoding`` and ``Content-Length`` are kept under
  ``X-Qikan-Original-*`` names and ``Content-Length`` is set to the stored
  body's length. The reader undoes this, so a raw page survives unchanged.
* A fetch that failed has no response; it becomes a ``metadata`` record with
  the error, so a rebuild reproduces the crawl's ``fetch_error`` reject.
* Records are composed here (a header block, a payload, two digests) and read
  with warcio. warcio's writer would %-encode non-ASCII header values (Scrapy
  hands them over decoded, and they must come back unchanged) and compress at
  level 9; the tests check that warcio reads back exactly what was written.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http
import json
import logging
import math
import uuid
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator

from pipelines.dataset import check_safe_name, open_filesystem
from pipelines.pagefolder import BODY_FILE, is_page_folder, read_page_folder
from pipelines.rawpage import RawPage
from pipelines.revisits import PendingRevisit, Revisits
from pipelines.warcrecords import FETCH_ERROR, LINK_KIND, ORIGINAL_PREFIX, RECORD_MARK, REQUEST_URI, _raw_page, parse_warc_date

logger = logging.getLogger(__name__)

WARC_VERSION = "WARC/1.1"
RAW_DIR = "raw"
WARC_SUFFIXES = (".warc.gz", ".warc")
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
GZIP_LEVEL = 6
"""zlib's default: level 9 costs about twice the CPU for a few percent on HTML."""

FRAMING_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
"""Headers that describe the bytes on the wire, not the (decoded) body we store."""
RUN_FIELD = "qikan-run-id"
"""The warcinfo field naming the crawl run that wrote a file."""


# -- writing -------------------------------------------------------------------


def warc_date(moment: dt.datetime) -> str:
    """``2026-11-25T08:30:15.123456Z``: always UTC, always microseconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def _http_block(raw: RawPage) -> tuple[bytes, bytes]:
    """The HTTP status line and headers (UTF-8, as Scrapy decoded them), and the body."""
    reason = _reason(raw.status)
    lines = [f"HTTP/1.1 {raw.status} {reason}".rstrip()]
    for name, value in raw.headers.items():
        if name.lower() in FRAMING_HEADERS:
            name = ORIGINAL_PREFIX + name
        lines.append(f"{name}: {_one_line(value)}")
    lines.append(f"Content-Length: {len(raw.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"), raw.body


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _one_line(value: str) -> str:
    return " ".join(str(value).splitlines())


def _record(warc_type: str, target: str, moment: dt.datetime, content_type: str, block: bytes,
            extra: dict[str, str], payload: bytes | None = None) -> bytes:
    headers = {
        "WARC-Type": warc_type,
        "WARC-Record-ID": f"<urn:uuid:{uuid.uuid4()}>",
        "WARC-Date": warc_date(moment),
        **({"WARC-Target-URI": target} if target else {}),
        **extra,
        "Content-Type": content_type,
        **({"WARC-Payload-Digest": _sha1(payload)} if payload is not None else {}),
        "WARC-Block-Digest": _sha1(block),
        "Content-Length": str(len(block)),
    }
    head = WARC_VERSION + "\r\n" + "".join(f"{k}: {_one_line(v)}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


def page_record(raw: RawPage) -> bytes:
    """One uncompressed WARC record for a raw page: ``response``, or ``metadata`` for a failed fetch."""
    extra = {REQUEST_URI: raw.request_url} if raw.request_url is not None else {}
    if raw.link_kind is not None:
        extra[LINK_KIND] = raw.link_kind
    if raw.error is not None:
        block = json.dumps({"status": raw.status, "error": raw.error}, ensure_ascii=False).encode("utf-8")
        return _record("metadata", raw.url, raw.fetched_at, "application/json", block,
                       {**extra, RECORD_MARK: FETCH_ERROR})
    head, body = _http_block(raw)
    return _record("response", raw.url, raw.fetched_at, "application/http; msgtype=response", head + body,
                   {**extra, RECORD_MARK: "response"}, payload=body)


def _gzip_member(data: bytes) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


class WarcArchiveWriter:
    """Appends raw pages to ``<root>/raw/<run_id>[-<worker>]-<n>.warc.gz``, starting a new file past ``max_bytes``."""

    def __init__(self, root: str | Path, run_id: str, worker_id: str | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.filesystem, base = open_filesystem(root)
        self.directory = f"{base}/{RAW_DIR}"
        self.run_id = check_safe_name(run_id, "run id")
        self.worker_id = check_safe_name(worker_id, "worker id") if worker_id else None
        self.max_bytes = max(1, int(max_bytes))
        self.records_written = 0
        self.bytes_written = 0
        self.files_written: list[str] = []
        self._out: Any = None  # a pyarrow output stream while a file is open
        self._size = 0
        self._sequence = 0

    def write(self, raw: RawPage) -> None:
        """Store one page; once this returns, the record survives a crash of the process."""
        out = self._out if self._out is not None else self._open_next()
        member = _gzip_member(page_record(raw))
        out.write(member)
        out.flush()
        self._size += len(member)
        self.bytes_written += len(member)
        self.records_written += 1
        if self._size >= self.max_bytes:
            self._close_current()

    def close(self) -> None:
        self._close_current()

    def __enter__(self) -> WarcArchiveWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_next(self) -> Any:
        from pyarrow.fs import FileType

        self.filesystem.create_dir(self.directory, recursive=True)
        worker = f"-{self.worker_id}" if self.worker_id else ""
        while True:  # never overwrite: a rerun with the same RUN_ID adds files
            self._sequence += 1
            name = f"{self.run_id}{worker}-{self._sequence:05d}.warc.gz"
            path = f"{self.directory}/{name}"
            if self.filesystem.get_file_info(path).type == FileType.NotFound:
                break
        out = self._out = self.filesystem.open_output_stream(path, compression=None)  # members are gzipped here
        self._size = 0
        self.files_written.append(path)
        info = f"software: qikan-crawler\r\nformat: WARC File Format 1.1\r\n{RUN_FIELD}: {self.run_id}\r\n"
        record = _record("warcinfo", "", dt.datetime.now(dt.UTC), "application/warc-fields",
                         info.encode("utf-8"), {"WARC-Filename": name})
        member = _gzip_member(record)
        out.write(member)
        out.flush()
        self._size += len(member)
        self.bytes_written += len(member)
        return out

    def _close_current(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


# -- reading -------------------------------------------------------------------


def is_warc_file(path: Path) -> bool:
    return path.is_file() and path.name.endswith(WARC_SUFFIXES)


def _starts_like_warc(path: Path) -> bool:
    """A gzip stream or a plain ``WARC/`` record: a WARC file under another name."""
    with path.open("rb") as head:
        start = head.read(5)
    return start.startswith(b"\x1f\x8b") or start == b"WARC/"


def list_sources(sources: Iterable[str | Path]) -> list[Path]:
    """WARC files and fixture folders named by ``sources``, folders searched recursively in sorted order.

    Raises FileNotFoundError for a source that does not exist and ValueError for
    a file that is neither named nor shaped like a WARC file (a README given by
    mistake is refused, not read as a damaged archive). Hidden names (``.cache``,
    temporary files) are skipped inside folders.
    """
    found: list[Path] = []
    for source in sources:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"no such source: {path}")
        if path.is_file():
            if not (is_warc_file(path) or _starts_like_warc(path)):
                raise ValueError(f"not a WARC file (*.warc, *.warc.gz) or fixture folder: {path}")
            found.append(path)
        else:
            found.extend(_walk(path))
    return found


def _walk(folder: Path) -> Iterator[Path]:
    if is_page_folder(folder):
        yield folder
        return
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            yield from _walk(child)
        elif is_warc_file(child):
            yield child


class ArchiveReader:
    """Raw pages from WARC files and fixture folders, in order, with how far the reading got.

    ``bytes_done`` / ``bytes_total`` give a cheap progress fraction (compressed
    bytes read), so a progress bar needs no counting pass over the archive.
    """

    def __init__(self, sources: Iterable[str | Path]) -> None:
        self.entries = list_sources(sources)
        self.bytes_total = sum(_entry_size(p) for p in self.entries)
        self.bytes_done = 0
        self.pages_read = 0
        self.run_id = ""
        """The crawl run the page just yielded was archived by ("" when unknown: fixtures, other tools' WARCs)."""
        self.run_ids: set[str] = set()
        self.truncated_files: list[str] = []
        self.revisits = Revisits()
        """``revisit`` records (wget --warc-dedup): resolved against their originals, or counted."""

    def pages_left(self) -> float:
        """An estimate of the pages not read yet, from the bytes read per page so far (inf before the first)."""
        if not self.pages_read or not self.bytes_done:
            return math.inf
        return (self.bytes_total - self.bytes_done) * self.pages_read / self.bytes_done

    def __iter__(self) -> Iterator[RawPage]:
        done_before = 0
        for entry in self.entries:
            self.run_id = ""
            if entry.is_dir():
                self.pages_read += 1
                yield read_page_folder(entry)
            else:
                yield from self._read_warc(entry, done_before)
            done_before += _entry_size(entry)
            self.bytes_done = done_before
        self.run_id = ""
        for page in self.revisits.resolve_pending(_raw_page):  # revisits read before their original
            self.pages_read += 1
            yield page

    def _read_warc(self, path: Path, done_before: int) -> Iterator[RawPage]:
        with open(path, "rb") as fh:
            records = ArchiveIterator(fh)
            read_here = 0
            while True:
                try:
                    record = next(records)
                    if record.rec_type == "warcinfo":
                        self._note_run(record.raw_stream.read())
                        continue
                    if record.rec_type == "revisit":
                        page = self.revisits.resolve(record, _raw_page)
                        if page is None:
                            self.revisits.pending.append(PendingRevisit(str(path), records.offset))
                            continue
                    else:
                        if record.rec_type == "response" and not record.rec_headers.get_header(RECORD_MARK):
                            self.revisits.remember(record, path, records.offset)
                        page = _raw_page(record)
                except StopIteration:
                    return
                except Exception as exc:  # noqa: BLE001 - a cut record fails anywhere inside warcio's parser
                    # After a failed parse the iterator's offset is where the bad record begins.
                    logger.warning("Truncated or damaged WARC record in %s at offset %d (%r); "
                                   "the %d pages before it are used", path, records.offset, exc, read_here)
                    self.truncated_files.append(str(path))
                    return
                self.bytes_done = done_before + fh.tell()
                if page is None:
                    continue
                self.pages_read += 1
                read_here += 1
                yield page


    def _note_run(self, fields: bytes) -> None:
        for line in fields.decode("utf-8", "replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() == RUN_FIELD:
                self.run_id = value.strip()
                self.run_ids.add(self.run_id)


def _entry_size(entry: Path) -> int:
    return (entry / BODY_FILE).stat().st_size if entry.is_dir() else entry.stat().st_size


def iter_raw_pages(sources: Iterable[str | Path]) -> Iterator[RawPage]:
    """Every raw page of ``sources`` (WARC files, folders of them, fixture folders), in archive order."""
    return iter(ArchiveReader(sources))


__all__ = [
    "ArchiveReader",
    "WarcArchiveWriter",
    "iter_raw_pages",
    "list_sources",
    "page_record",
    "parse_warc_date",
    "warc_date",
]
