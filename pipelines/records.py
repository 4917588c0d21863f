"""The two kinds of output row, each column declared once.

Every page ends as exactly one of these: an :class:`ArticleRecord` in
``articles`` or a :class:`RejectRecord` in ``rejects``. Each attribute of the
two record classes is the one declaration of its column: Python type, Arrow
type, nullability and meaning (in :func:`column`'s metadata). The Arrow schemas,
the page fixtures' fields and the dataset card's column tables are all read from
here, so a column cannot drift between them.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs
import pyarrow as pa

SCHEMA_VERSION = "1"
"""Bumped whenever a column is added, removed or changes meaning."""

CLEANING_RULES_VERSION = "1"
"""Bumped whenever extraction or normalisation output changes for some page."""

_COLUMN_KEY = "qikan.column"


@attrs.frozen
class Column:
    """One column of a dataset, as its record class declares it."""

    name: str
    arrow_type: pa.DataType
    nullable: bool
    """Whether Arrow allows null (list columns do, but rows hold [] instead)."""
    doc: str
    """What the value is, in one sentence: the dataset card prints it."""
    extracted: bool
    """Decided by extraction (not segmentation or the fetch): what a page fixture pins down."""

    @property
    def field(self) -> pa.Field:
        return pa.field(self.name, self.arrow_type, nullable=self.nullable)


def column(arrow_type: pa.DataType, doc: str, *, nullable: bool, extracted: bool = False) -> dict[str, Any]:
    """The metadata of a record attribute that is a dataset column (``attrs.field(metadata=column(...))``)."""
    return {_COLUMN_KEY: (arrow_type, nullable, doc, extracted)}


def columns_of(record_type: type) -> tuple[Column, ...]:
    """The columns a record class declares, in attribute order."""
    found = []
    for attribute in attrs.fields(record_type):
        arrow_type, nullable, doc, extracted = attribute.metadata[_COLUMN_KEY]
        found.append(Column(attribute.name, arrow_type, nullable, doc, extracted))
    return tuple(found)


_STRING = pa.string()
_LIST = pa.list_(pa.string())
_TIMESTAMP = pa.timestamp("ms", tz="UTC")


@attrs.define(kw_only=True)
class ArticleRecord:
    """One article: the row of ``articles``."""

    article_id: str = attrs.field(metadata=column(
        _STRING, "Digits of ``/paper/<id>.html``.", nullable=False, extracted=True))
    url: str = attrs.field(metadata=column(_STRING, "The canonical URL.", nullable=False, extracted=True))
    title: str | None = attrs.field(metadata=column(
        _STRING, 'Title without the site\'s "论文" and "_{authors}".', nullable=True, extracted=True))
    authors: list[str] = attrs.field(metadata=column(
        _LIST, 'From "论文作者", in page order.', nullable=True, extracted=True))
    affiliations: list[str] = attrs.field(metadata=column(
        _LIST, "Centred lines at the start of the content, without surrounding parentheses.",
        nullable=True, extracted=True))
    journal: str | None = attrs.field(metadata=column(
        _STRING, "Journal name without 《》.", nullable=True, extracted=True))
    year: int | None = attrs.field(metadata=column(
        pa.int32(), "Publication year; also the name of its folder in ``articles`` (``2019``, ``no-year``).",
        nullable=True, extracted=True))
    issue: int | None = attrs.field(metadata=column(
        pa.int16(), "Issue number: 6 for 第6期, 6期, 第06期 and 第6期(上).", nullable=True, extracted=True))
    issue_label: str | None = attrs.field(metadata=column(
        _STRING, "The issue as printed after the year, e.g. 第12期(上).", nullable=True, extracted=True))
    published_date: dt.date | None = attrs.field(metadata=column(
        pa.date32(), 'From "论文发表时间".', nullable=True, extracted=True))
    body: str = attrs.field(metadata=column(
        _STRING, 'Cleaned paragraphs joined by "\\n".', nullable=False, extracted=True))
    tags: list[str] = attrs.field(metadata=column(_LIST, "Non-empty tag texts.", nullable=True, extracted=True))
    keywords: list[str] = attrs.field(metadata=column(
        _LIST, "Top keywords of title and body (jieba).", nullable=True))
    tokens: list[str] = attrs.field(metadata=column(
        _LIST, "jieba segmentation of the body, white space dropped.", nullable=True))
    char_count: int = attrs.field(metadata=column(
        pa.int32(), 'Characters of ``body`` without "\\n".', nullable=False))
    content_sha1: str = attrs.field(metadata=column(_STRING, "Hex SHA-1 of ``body`` in UTF-8.", nullable=False))
    fetched_at: dt.datetime = attrs.field(metadata=column(
        _TIMESTAMP, "When the page was fetched (UTC).", nullable=False))


class RejectReason(enum.StrEnum):
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


class RejectStage(enum.StrEnum):
    """Where a page was refused: the step of :func:`pipelines.process.process_page` that said no."""

    FETCH = "fetch"
    DECODE = "decode"
    CLASSIFY = "classify"
    EXTRACT = "extract"


@attrs.define(kw_only=True)
class RejectRecord:
    """One page that is not an article row: the row of ``rejects``."""

    url: str = attrs.field(metadata=column(_STRING, "The URL that was asked for.", nullable=False))
    reason: str = attrs.field(metadata=column(_STRING, "A `RejectReason` value: why.", nullable=False))
    stage: str = attrs.field(metadata=column(
        _STRING, "A `RejectStage` value: where the page was refused.", nullable=False))
    detail: str = attrs.field(metadata=column(_STRING, "Short human-readable explanation.", nullable=True))
    status: int = attrs.field(metadata=column(pa.int32(), "HTTP status, 0 when no response arrived.", nullable=False))
    fetched_at: dt.datetime = attrs.field(metadata=column(
        _TIMESTAMP, "When the page was fetched (UTC).", nullable=False))


ARTICLE_COLUMNS = columns_of(ArticleRecord)
REJECT_COLUMNS = columns_of(RejectRecord)
ARTICLE_SCHEMA = pa.schema(c.field for c in ARTICLE_COLUMNS)
REJECT_SCHEMA = pa.schema(c.field for c in REJECT_COLUMNS)
EXTRACTED_FIELDS = tuple(c.name for c in ARTICLE_COLUMNS if c.extracted)
"""The article columns extraction decides: what a page fixture's ``expected.json`` holds."""
LIST_COLUMNS = frozenset(c.name for c in ARTICLE_COLUMNS if pa.types.is_list(c.arrow_type))


def to_row(record: ArticleRecord | RejectRecord) -> dict[str, Any]:
    """A plain dict for Arrow (lists stay lists, dates stay dates)."""
    return attrs.asdict(record, recurse=False)
