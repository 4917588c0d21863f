"""The one declaration of each column (``pipelines/records.py``) against the SPEC, written out here.

The SPEC's column names and types are copied into this file by hand, not derived from the code:
a type changed in ``records.py`` fails here, and so does a column the schema, the fixtures or the
dataset card would disagree on.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import fixtures, records
from pipelines.card import write_dataset_card

# SPEC "The dataset": one row per article, these columns, these types, in this order.
SPEC_ARTICLE_COLUMNS = [
    ("article_id", "string"),
    ("url", "string"),
    ("title", "string"),
    ("authors", "list<string>"),
    ("affiliations", "list<string>"),
    ("journal", "string"),
    ("year", "int32"),
    ("issue", "int16"),
    ("issue_label", "string"),
    ("published_date", "date32"),
    ("body", "string"),
    ("tags", "list<string>"),
    ("keywords", "list<string>"),
    ("tokens", "list<string>"),
    ("char_count", "int32"),
    ("content_sha1", "string"),
    ("fetched_at", "timestamp[ms, UTC]"),
]
# Rejects: the URL, the reason and the stage that refused it (SPEC), with a detail and the HTTP status.
SPEC_REJECT_COLUMNS = [
    ("url", "string"),
    ("reason", "string"),
    ("stage", "string"),
    ("detail", "string"),
    ("status", "int32"),
    ("fetched_at", "timestamp[ms, UTC]"),
]
NEVER_NULL = {
    "articles": {"article_id", "url", "body", "char_count", "content_sha1", "fetched_at"},
    "rejects": {"url", "reason", "stage", "status", "fetched_at"},
}
LIST_COLUMNS = {"authors", "affiliations", "tags", "keywords", "tokens"}
EXTRACTED = [  # what a page fixture pins down: everything but segmentation, the hash, the count and the fetch time
    "article_id", "url", "title", "authors", "affiliations", "journal", "year", "issue",
    "issue_label", "published_date", "body", "tags",
]  # fmt: skip
ARROW = {
    "string": pa.string(),
    "list<string>": pa.list_(pa.string()),
    "int32": pa.int32(),
    "int16": pa.int16(),
    "date32": pa.date32(),
    "timestamp[ms, UTC]": pa.timestamp("ms", tz="UTC"),
}
CARD_TYPE = {"date32": "date32[day]", "timestamp[ms, UTC]": "timestamp[ms, tz=UTC]"}
"""How the dataset card prints a SPEC type (Arrow's own spelling)."""


def test_article_schema_is_the_specs() -> None:
    schema = records.ARTICLE_SCHEMA
    assert [(f.name, f.type) for f in schema] == [(name, ARROW[type_]) for name, type_ in SPEC_ARTICLE_COLUMNS]
    assert {f.name for f in schema if not f.nullable} == NEVER_NULL["articles"]


def test_reject_schema_is_the_specs() -> None:
    schema = records.REJECT_SCHEMA
    assert [(f.name, f.type) for f in schema] == [(name, ARROW[type_]) for name, type_ in SPEC_REJECT_COLUMNS]
    assert {f.name for f in schema if not f.nullable} == NEVER_NULL["rejects"]


def test_record_classes_have_exactly_the_columns() -> None:
    assert list(records.to_row(article()).keys()) == [name for name, _ in SPEC_ARTICLE_COLUMNS]
    assert list(records.to_row(reject()).keys()) == [name for name, _ in SPEC_REJECT_COLUMNS]
    assert set(records.LIST_COLUMNS) == LIST_COLUMNS
    assert all(column.doc.strip() for column in (*records.ARTICLE_COLUMNS, *records.REJECT_COLUMNS))


def test_fixtures_pin_the_extracted_columns() -> None:
    assert list(fixtures.FIELDS) == EXTRACTED


def article() -> records.ArticleRecord:
    return records.ArticleRecord(
        article_id="123", url="http://127.0.0.1/paper/123.html", title="标题", authors=["张三"], affiliations=[],
        journal="期刊", year=2019, issue=6, issue_label="第6期", published_date=dt.date(2019, 4, 28), body="正文",
        tags=[], keywords=["正文"], tokens=["正文"], char_count=2, content_sha1="0" * 40,
        fetched_at=dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
    )  # fmt: skip


def reject() -> records.RejectRecord:
    return records.RejectRecord(url="http://127.0.0.1/", reason=records.RejectReason.NOT_ARTICLE.value,
                                stage=records.RejectStage.CLASSIFY.value, detail="home page", status=200,
                                fetched_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))


def test_a_parquet_file_written_with_the_schema_reads_back_with_the_spec_types(tmp_path: Path) -> None:
    for row, schema, spec in ((article(), records.ARTICLE_SCHEMA, SPEC_ARTICLE_COLUMNS),
                              (reject(), records.REJECT_SCHEMA, SPEC_REJECT_COLUMNS)):
        path = tmp_path / "part.parquet"
        pq.write_table(pa.Table.from_pylist([records.to_row(row)], schema=schema), path)
        table = pq.read_table(path)
        assert [(f.name, f.type) for f in table.schema] == [(name, ARROW[type_]) for name, type_ in spec]
        assert table.to_pylist() == [records.to_row(row)]


def card_table(card: str, heading: str) -> list[list[str]]:
    section = card.split(heading, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip().strip("`") for cell in line.strip("|").split(" | ")] for line in lines]


def test_the_dataset_card_lists_the_specs_columns(tmp_path: Path) -> None:
    card = Path(write_dataset_card(tmp_path) or "").read_text(encoding="utf-8")
    for heading, spec in (("## Columns of `articles`", SPEC_ARTICLE_COLUMNS), ("## Columns of `rejects`", SPEC_REJECT_COLUMNS)):
        rows = card_table(card, heading)
        assert [(r[0], r[1]) for r in rows] == [(name, CARD_TYPE.get(type_, type_)) for name, type_ in spec]
        assert all(re.search(r"\w", r[3]) for r in rows), rows  # every column says what it holds
    assert "Digits of `/paper/<id>.html`." in card  # the meaning comes from the declaration, as Markdown
