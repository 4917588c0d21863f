"""The two kinds of output row and their Arrow schemas.

Every page ends as exactly one of these: an :class:`ArticleRecord` in
``articles`` or a :class:`RejectRecord` in ``rejects``. The Arrow schemas are
derived here, next to the fields they describe, so the writer, the feed
exporter and the tests share one definition.
"""

from __future__ import annotations

import datetime as dt
import enum

import attrs
import pyarrow as pa

SCHEMA_VERSION = "1"
"""Bumped whenever a column is added, removed or changes meaning."""

CLEANING_RULES_VERSION = "1"
"""Bumped whenever extraction or normalisation output changes for some page."""


@attrs.define(kw_only=True)
class ArticleRecord:
    """One article: the row of ``articles``."""

    article_id: str
    """Digits of ``/paper/<id>.html``."""
    url: str
    """The canonical URL."""
    title: str | None
    """Title without the site's "论文" and "_{authors}"."""
    authors: list[str]
    """From "论文作者", in page order."""
    affiliations: list[str]
    """Centred lines at the start of the content, without surrounding parentheses."""
    journal: str | None
    """Journal name without 《》."""
    year: int | None
    """Publication year; also the name of its folder in ``articles`` (``2019``, ``no-year``)."""
    issue: int | None
    """Issue number: 6 for 第6期, 6期, 第06期 and 第6期(上)."""
    issue_label: str | None
    """The issue as printed after the year, e.g. 第12期(上)."""
    published_date: dt.date | None
    """From "论文发表时间"."""
    body: str
    """Cleaned paragraphs joined by "\\n"."""
    tags: list[str]
    """Non-empty tag texts."""
    keywords: list[str]
    """Top keywords of title and body (jieba)."""
    tokens: list[str]
    """jieba segmentation of the body, white space dropped."""
    char_count: int
    """Characters of ``body`` without "\\n"."""
    content_sha1: str
    """Hex SHA-1 of ``body`` in UTF-8."""
    fetched_at: dt.datetime
    """When the page was fetched (UTC)."""


class RejectReason(str, enum.Enum):
    """Why a fetched page is not a row of ``articles``. The values are stable."""

    HTTP_STATUS = "http_status"
    """The server answered with a non-2xx status, after retries."""
    FETCH_ERROR = "fetch_error"
    """No response: timeout, connection error, size limit, off-site redirect."""
    UNDECODABLE = "undecodable"
    """The bytes are text in no encoding we can establish."""
    SOFT_404 = "soft_404"
    """Status 200 but the site's "page does not exist" page."""
    NOT_ARTICLE = "not_article"
    """A listing, sitemap or other page that is not an article."""
    TEMPLATE_MISMATCH = "template_mismatch"
    """An article URL whose page has neither a title nor a content block."""
    EMPTY_BODY = "empty_body"
    """An article page whose content holds no text once cleaned."""
    PARSE_ERROR = "parse_error"
    """The extractor failed on the page (a bug or a page beyond repair)."""


class RejectStage(str, enum.Enum):
    FETCH = "fetch"
    DECODE = "decode"
    CLASSIFY = "classify"
    EXTRACT = "extract"


@attrs.define(kw_only=True)
class RejectRecord:
    """One page that is not an article row: the row of ``rejects``."""

    url: str
    reason: str
    """A :class:`RejectReason` value."""
    stage: str
    """A :class:`RejectStage` value: where the page was refused."""
    detail: str
    """Short human-readable explanation."""
    status: int
    """HTTP status, 0 when no response arrived."""
    fetched_at: dt.datetime


_LIST = pa.list_(pa.string())
_TIMESTAMP = pa.timestamp("ms", tz="UTC")

ARTICLE_FIELDS: dict[str, pa.DataType] = {
    "article_id": pa.string(),
    "url": pa.string(),
    "title": pa.string(),
    "authors": _LIST,
    "affiliations": _LIST,
    "journal": pa.string(),
    "year": pa.int32(),
    "issue": pa.int16(),
    "issue_label": pa.string(),
    "published_date": pa.date32(),
    "body": pa.string(),
    "tags": _LIST,
    "keywords": _LIST,
    "tokens": _LIST,
    "char_count": pa.int32(),
    "content_sha1": pa.string(),
    "fetched_at": _TIMESTAMP,
}
REJECT_FIELDS: dict[str, pa.DataType] = {
    "url": pa.string(),
    "reason": pa.string(),
    "stage": pa.string(),
    "detail": pa.string(),
    "status": pa.int32(),
    "fetched_at": _TIMESTAMP,
}
NOT_NULL = {"article_id", "url", "body", "char_count", "content_sha1", "fetched_at", "reason", "stage", "status"}
LIST_COLUMNS = {"authors", "affiliations", "tags", "keywords", "tokens"}


def _schema(record_type: type, fields: dict[str, pa.DataType]) -> pa.Schema:
    names = [f.name for f in attrs.fields(record_type)]
    assert names == list(fields), "record fields and Arrow columns must match"
    return pa.schema(pa.field(name, type_, nullable=name not in NOT_NULL) for name, type_ in fields.items())


ARTICLE_SCHEMA = _schema(ArticleRecord, ARTICLE_FIELDS)
REJECT_SCHEMA = _schema(RejectRecord, REJECT_FIELDS)


def to_row(record: ArticleRecord | RejectRecord) -> dict:
    """A plain dict for Arrow (lists stay lists, dates stay dates)."""
    return attrs.asdict(record, recurse=False)
