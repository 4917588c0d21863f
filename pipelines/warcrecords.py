"""WARC records back to raw pages: this project's records exactly as written, other tools' as sent.

Split from :mod:`pipelines.archive` (which writes and walks archives) so that
:mod:`pipelines.revisits` can turn an original record into a page too.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable

from warcio.timeutils import iso_date_to_datetime

from pipelines.rawpage import RawPage

RECORD_MARK = "WARC-Qikan-Record"
"""Marks the records :mod:`pipelines.archive` wrote: ``response`` or ``fetch-error``."""
REQUEST_URI = "WARC-Qikan-Request-URI"
"""The URL that was requested, when the page came from a redirect."""
LINK_KIND = "WARC-Qikan-Link-Kind"
"""What the spider expected behind the URL (:attr:`RawPage.link_kind`), so a rebuild classifies
a page exactly as the crawl did."""
ORIGINAL_PREFIX = "X-Qikan-Original-"
FETCH_ERROR = "fetch-error"


class _Truncated(Exception):
    pass


def _raw_page(record) -> RawPage | None:
    """The raw page a record holds; None for records that are not pages (warcinfo, requests, ...)."""
    warc = record.rec_headers
    mark = warc.get_header(RECORD_MARK)
    url = warc.get_header("WARC-Target-URI")
    date = warc.get_header("WARC-Date")
    if record.length is None or not url or not date:
        if record.rec_type in ("response", "metadata") and mark:
            raise _Truncated("record headers incomplete")
        return None
    fetched_at = parse_warc_date(date)
    request_url = warc.get_header(REQUEST_URI)
    link_kind = warc.get_header(LINK_KIND)
    if record.rec_type == "metadata" and mark == FETCH_ERROR:
        block = record.raw_stream.read()
        if len(block) < record.length:
            raise _Truncated(f"block has {len(block)} of {record.length} bytes")
        fields = json.loads(block.decode("utf-8"))
        return RawPage(url=url, status=int(fields.get("status", 0)), error=str(fields["error"]),
                       fetched_at=fetched_at, request_url=request_url, link_kind=link_kind)
    if record.rec_type != "response" or record.http_headers is None:
        return None
    http_headers = record.http_headers
    raw_body = record.raw_stream.read()
    if len(raw_body) < record.payload_length:
        raise _Truncated(f"body has {len(raw_body)} of {record.payload_length} bytes")
    try:
        status = int(http_headers.get_statuscode())
    except ValueError:
        return None
    if mark:
        headers = _restore_headers(http_headers.headers)
        body = raw_body
    else:  # another tool's WARC: the payload is as sent on the wire
        record.raw_stream = io.BytesIO(raw_body)
        body = record.content_stream().read()
        headers = _merge(
            (k, v) for k, v in http_headers.headers if k.lower() not in ("content-encoding", "transfer-encoding")
        )
    return RawPage(url=url, status=status, headers=headers, body=body, fetched_at=fetched_at,
                   request_url=request_url, link_kind=link_kind)


def _restore_headers(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Undo the writer's renaming of framing headers and drop the Content-Length it set."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        if name.lower() == "content-length":
            continue
        if name.startswith(ORIGINAL_PREFIX):
            name = name[len(ORIGINAL_PREFIX):]
        headers[name] = value
    return headers


def _merge(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """One value per name, repeated headers joined with "," as Scrapy does."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def parse_warc_date(text: str) -> dt.datetime:
    """A WARC-Date (any precision, ``Z`` suffix) as an aware UTC datetime."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:  # a precision Python does not parse: warcio's lenient parser
        moment = iso_date_to_datetime(text, tz_aware=True)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)
