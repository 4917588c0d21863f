"""WARC ``revisit`` records (``wget --warc-dedup``, Heritrix): pages stored as "same as before".

A deduplicating crawler writes a response whose payload it already archived
as a ``revisit`` record: the new date and HTTP headers, no body, and a pointer
to the original (``WARC-Refers-To`` record id, ``WARC-Payload-Digest``). A
rebuild that skipped them would silently lose those pages. :class:`Revisits`
resolves each one against its original when that is among the archives
read (before or after it), and counts the rest, which the rebuild reports.

Only records of other tools are indexed (this project never writes revisits),
at about 150 bytes per response: the file and offset to read the body again.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import attrs
from warcio.archiveiterator import ArchiveIterator

from pipelines.rawpage import RawPage
from pipelines.warcrecords import parse_warc_date


@dataclasses.dataclass(frozen=True)
class PendingRevisit:
    """A revisit whose original was not read yet: where it is, to read it again at the end."""

    path: str
    offset: int


class Revisits:
    """Index of original responses, and revisit records resolved against it."""

    def __init__(self) -> None:
        self._originals: dict[str, tuple[str, int]] = {}
        self.pending: list[PendingRevisit] = []
        self.resolved = 0
        self.unresolved: list[str] = []
        """Target URIs of revisits whose original is in none of the archives read."""

    def remember(self, record: Any, path: Path | str, offset: int) -> None:
        """Note where a response record is, by its record id and payload digest."""
        headers = record.rec_headers
        place = (str(path), offset)
        for key in (headers.get_header("WARC-Record-ID"), _digest_key(headers.get_header("WARC-Payload-Digest"))):
            if key:
                self._originals.setdefault(key, place)

    def resolve(self, record: Any, to_page: Any) -> RawPage | None:
        """The revisit as a raw page (its URL, date and headers, the original's body), or None when the
        original has not been read (yet). ``to_page`` turns a response record into a raw page."""
        headers = record.rec_headers
        place = self._originals.get(headers.get_header("WARC-Refers-To") or "") or self._originals.get(
            _digest_key(headers.get_header("WARC-Payload-Digest")) or ""
        )
        if place is None:
            return None
        original = _read_record_at(*place, to_page)
        if original is None:
            return None
        url = headers.get_header("WARC-Target-URI") or original.url
        status, own_headers = original.status, original.headers
        if record.http_headers is not None:  # the revisit's own status line and headers, when it has them
            try:
                status = int(record.http_headers.get_statuscode())
                own_headers = {k: v for k, v in record.http_headers.headers
                               if k.lower() not in ("content-encoding", "transfer-encoding", "content-length")}
            except (TypeError, ValueError):
                pass
        self.resolved += 1
        date = headers.get_header("WARC-Date")
        return attrs.evolve(original, url=url, status=status, headers=own_headers or original.headers,
                                   fetched_at=parse_warc_date(date) if date else original.fetched_at)

    def resolve_pending(self, to_page: Any) -> list[RawPage]:
        """Pages of revisits met before their original; the ones still without one are counted."""
        pages = []
        for pending in self.pending:
            page = _read_record_at(pending.path, pending.offset, lambda record: self._resolve_or_count(record, to_page))
            if page is not None:
                pages.append(page)
        self.pending.clear()
        return pages

    def _resolve_or_count(self, record: Any, to_page: Any) -> RawPage | None:
        page = self.resolve(record, to_page)
        if page is None:
            self.unresolved.append(record.rec_headers.get_header("WARC-Target-URI") or "?")
        return page


def _digest_key(digest: str | None) -> str | None:
    return f"digest:{digest.strip()}" if digest else None


def _read_record_at(path: str, offset: int, convert: Any) -> RawPage | None:
    """The record that starts at ``offset`` of ``path`` (a gzip member or a plain record), converted."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        for record in ArchiveIterator(fh):
            return convert(record)
    return None
