"""The faster paths of a rebuild give exactly what the plain ones gave.

* Rows to Arrow (:mod:`pipelines.arrowrows`): packed string lists, split back by Arrow, equal
  ``pa.RecordBatch.from_pylist`` of the same rows, whatever the lists hold.
* Keywords (:meth:`Segmenter.keywords`, TF-IDF): equal a plain ranking of every candidate.
* The Rust dictionary is filled from :meth:`JiebaFreq.columns` when the snapshot's word list is not
  at hand (tests/test_engine.py compares the two ways), which must list what ``items`` lists.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.arrowrows import Packed, RowConverter, pack_list
from pipelines.records import ARTICLE_SCHEMA, REJECT_SCHEMA, ArticleRecord, RejectRecord, to_row
from pipelines.segment import TITLE_WEIGHT, Segmenter
from tests.segmentsetup import SEED_BODY, SEED_TITLE, jieba_cache_fixture, segmenter_fixture
from tests.test_engine import generated_bodies

cache_dir = jieba_cache_fixture()
fast = segmenter_fixture()

AWKWARD_LISTS = [
    [], [""], ["", ""], ["a", ""], ["\n"], ["a\nb", "c"], ["党建", "工作"], ["😀", "𠀀", "ＡＢＣ"], ["\r", "\t", " "],
    ["x"] * 2000, None,
]  # fmt: skip


def article(number: int, tokens: list[str] | None, tags: list[str] | None = None) -> dict[str, object]:
    record = ArticleRecord(
        article_id=str(number), url=f"http://127.0.0.1/paper/{number}.html", title=f"题{number}", authors=["张三", "李四"],
        affiliations=[], journal="刊", year=2019 if number % 3 else None, issue=number % 12 or None, issue_label=None,
        published_date=dt.date(2019, 1, 1 + number % 28), body="正文\n第二段", tags=tags if tags is not None else [],
        keywords=["正文"], tokens=[], char_count=5, content_sha1="0" * 40,
        fetched_at=dt.datetime(2026, 11, 25, 8, 0, number % 60, 123000, tzinfo=dt.UTC),
    )  # fmt: skip
    row = to_row(record)
    row["tokens"] = tokens
    return row


def test_packing_is_lossless_or_not_done() -> None:
    assert pack_list(["a", "b"]) == "a\nb" and type(pack_list(["a", "b"])) is Packed
    for value in ([], None, ["a\nb"], ["a", 1], ("a", "b"), "ab"):
        assert pack_list(value) is value


@pytest.mark.parametrize("size", [1, 7, 32])
def test_batches_equal_from_pylist(size: int) -> None:
    converter = RowConverter(ARTICLE_SCHEMA)
    rows = [article(i, AWKWARD_LISTS[i % len(AWKWARD_LISTS)], tags=AWKWARD_LISTS[(i + 3) % len(AWKWARD_LISTS)])
            for i in range(3 * len(AWKWARD_LISTS))]
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        got = converter.to_batch([converter.pack(row) for row in chunk])
        assert got.equals(pa.RecordBatch.from_pylist(chunk, schema=ARTICLE_SCHEMA))
        assert got.to_pylist() == chunk


def test_rejects_and_missing_keys_as_from_pylist() -> None:
    converter = RowConverter(REJECT_SCHEMA)
    rows = [to_row(RejectRecord(url="http://127.0.0.1/x", reason="soft_404", stage="classify", detail=None, status=200,
                                fetched_at=dt.datetime(2026, 11, 25, tzinfo=dt.UTC)))]  # fmt: skip
    rows.append({k: v for k, v in rows[0].items() if k != "detail"})
    assert converter.to_batch([converter.pack(r) for r in rows]).equals(pa.RecordBatch.from_pylist(rows, schema=REJECT_SCHEMA))


def test_a_list_that_is_not_strings_fails_as_before() -> None:
    converter = RowConverter(ARTICLE_SCHEMA)
    row = article(1, ["a", 2])  # type: ignore[list-item]
    with pytest.raises(pa.ArrowException):
        pa.RecordBatch.from_pylist([row], schema=ARTICLE_SCHEMA)
    with pytest.raises(pa.ArrowException):
        converter.to_batch([converter.pack(row)])


def plain_tfidf_keywords(segmenter: Segmenter, title_tokens: list[str], body_tokens: list[str]) -> list[str]:
    """The ranking as first written: every candidate's count * IDF, sorted, ties by the token."""
    body_counts = Counter(body_tokens)
    candidates = {t for t in body_counts.keys() | set(title_tokens) if segmenter.is_candidate(t)}
    counts = {t: body_counts[t] for t in candidates}
    for t in title_tokens:
        if t in candidates:
            counts[t] += TITLE_WEIGHT
    idf, median = segmenter._idf, segmenter._median_idf
    scores = {t: n * idf.get(t, median) for t, n in counts.items()}
    ranked = sorted(scores.items(), key=lambda kv: (-round(kv[1], 10), kv[0]))
    return [token for token, _ in ranked[: segmenter.config.top_k]]


def test_keywords_equal_the_plain_ranking(fast: Segmenter) -> None:
    bodies = [SEED_BODY, *generated_bodies(300, seed=7)]
    titles = [SEED_TITLE, *(body[:20] for body in bodies[1:])]
    for title, body in zip(titles, bodies, strict=True):
        title_tokens, body_tokens = fast.tokens(title), fast.tokens(body)
        assert fast.keywords(title_tokens, body_tokens) == plain_tfidf_keywords(fast, title_tokens, body_tokens)
        assert fast.keywords(body_tokens[:40], title_tokens) == plain_tfidf_keywords(fast, body_tokens[:40], title_tokens)


def test_dictionary_columns_list_what_items_lists(fast: Segmenter) -> None:
    freq = fast._tokenizer.FREQ
    assert freq._overlay  # the bundled user dictionary's words: the overridden buckets are exercised
    from_columns = [entry for words, values in freq.columns() for entry in zip(words, values, strict=True)]
    assert from_columns == list(freq.items())


WITHOUT_PANDAS = """
import sys
import pyarrow as pa
from pipelines.arrowrows import RowConverter
from pipelines.sink import arrow_without_pandas
arrow_without_pandas()
schema = pa.schema([("title", pa.string()), ("tokens", pa.list_(pa.string())), ("year", pa.int32())])
rows = RowConverter(schema)
batch = rows.to_batch([rows.pack({"title": "党建", "tokens": ["党建", "工作"], "year": 2024}),
                       rows.pack({"title": None, "tokens": ["a\\nb"], "year": None})])
print("pandas" in sys.modules, batch.to_pylist())
print(type(pa.Table.from_batches([batch]).to_pandas()).__name__, "pandas" in sys.modules)
"""


def test_rows_become_arrow_without_importing_pandas_which_stays_usable() -> None:
    """A process that writes rows (crawl, rebuild worker) is 28 MB lighter without pandas; a user's
    code in the same process still gets it from pyarrow."""
    result = subprocess.run([sys.executable, "-c", WITHOUT_PANDAS], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    imported, converted = result.stdout.splitlines()
    assert imported == ("False [{'title': '党建', 'tokens': ['党建', '工作'], 'year': 2024}, "
                        "{'title': None, 'tokens': ['a\\nb'], 'year': None}]")
    assert converted == "DataFrame True"
