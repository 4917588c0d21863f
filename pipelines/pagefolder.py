"""A saved page as a folder: ``body.html`` (the bytes as served) and ``response.json`` (URL, status, headers).

The format of page fixtures, and one of the inputs ``scrapy rebuild`` reads. It lives apart from
:mod:`pipelines.fixtures` so that reading raw pages (the archive reader) does not pull in the
extractor and the segmenter that replaying a fixture needs.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pipelines.rawpage import RawPage

BODY_FILE = "body.html"
RESPONSE_FILE = "response.json"
UNKNOWN_FETCH_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
"""The fetch time of a saved page whose ``response.json`` gives none (hand-made fixtures)."""


def is_page_folder(path: Path) -> bool:
    return (path / BODY_FILE).is_file() and (path / RESPONSE_FILE).is_file()


def read_page_folder(folder: Path) -> RawPage:
    """The raw page a folder holds, exactly as it was fetched."""
    response = json.loads((folder / RESPONSE_FILE).read_text(encoding="utf-8"))
    fetched_at = response.get("fetched_at")
    return RawPage(
        url=response["url"],
        status=int(response.get("status", 200)),
        headers=dict(response.get("headers", {})),
        body=(folder / BODY_FILE).read_bytes(),
        fetched_at=dt.datetime.fromisoformat(fetched_at) if fetched_at else UNKNOWN_FETCH_TIME,
    )


def write_page_folder(folder: Path, raw: RawPage) -> None:
    """Save a raw page so that :func:`read_page_folder` gives it back."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BODY_FILE).write_bytes(raw.body)
    response = {"url": raw.url, "status": raw.status, "headers": raw.headers, "fetched_at": raw.fetched_at.isoformat()}
    (folder / RESPONSE_FILE).write_text(json.dumps(response, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
