"""Fuzzing in ``make test``: mutated real pages through the one raw-page → row path.

A short, derandomised budget (the same examples on every run, so CI is
reproducible); ``make fuzz`` runs the same property for as long as you like.
Below it, each bug the fuzzer found is pinned as a plain example.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from pipelines.fixtures import load_fixture
from pipelines.process import process_page
from pipelines.rawpage import RawPage
from pipelines.records import ArticleRecord, RejectRecord
from pipelines.segment import SegmentConfig, get_segmenter
from tests import fuzz
from tests.faults import article_page

REPO = Path(__file__).resolve().parent.parent
URL = "http://127.0.0.1:8000/paper/31.html"


def test_seed_corpus_holds_articles_and_rejects() -> None:
    """The fuzzer starts from real pages, most of them articles: mutating only rejects would test little."""
    outcomes = [process_page(raw) for raw in fuzz.seed_pages()]
    assert len(outcomes) >= 50
    assert sum(isinstance(o, ArticleRecord) for o in outcomes) >= 40
    for raw, outcome in zip(fuzz.seed_pages(), outcomes, strict=True):
        fuzz.check_outcome(raw, outcome)


def test_mutated_pages_end_as_valid_rows_or_known_rejects() -> None:
    with fuzz.quiet_extraction_log():
        fuzz.property_test(None, fuzz.fuzz_settings(500, derandomize=True))()


def test_mutated_pages_with_a_real_segmenter(tmp_path: Path) -> None:
    analyser = get_segmenter(SegmentConfig(cache_dir=tmp_path / "jieba"))
    with fuzz.quiet_extraction_log():
        fuzz.property_test(analyser, fuzz.fuzz_settings(20, derandomize=True))()


SWEEP_SEEDS = ("watermark-white-font-no-journal-line", "gbk-only-characters")
"""A UTF-8 page whose journal comes from the breadcrumb, and a GBK page."""


@pytest.mark.parametrize("payload", fuzz.HOSTILE, ids=[f"hostile{i}" for i in range(len(fuzz.HOSTILE))])
def test_every_hostile_payload_at_every_anchor(payload: bytes) -> None:
    """Not left to chance: each hostile byte string, after each place the extractor reads."""
    for name in SWEEP_SEEDS:
        seed = load_fixture(fuzz.FIXTURE_PAGES / name).raw
        for anchor in fuzz.ANCHORS:
            at = seed.body.index(anchor) + len(anchor)
            with fuzz.quiet_extraction_log():
                fuzz.run_one(attrs.evolve(seed, body=seed.body[:at] + payload + seed.body[at:]))


def test_make_fuzz_runs_for_a_bounded_time(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzz", "--seconds", "0", "--examples-per-round", "10", "--seed", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no finding" in result.stdout


# -- what the fuzzer found, pinned ------------------------------------------------------


def page(**overrides: object) -> RawPage:
    fields: dict = dict(title="标题", authors="张三", journal="期刊", year_issue="2019年第6期")
    fields["paragraphs"] = ["正文第一段。"]
    fields.update(overrides)
    return RawPage(url=URL, status=200, headers={"Content-Type": "text/html"}, body=article_page("31", **fields))


def processed(raw: RawPage) -> ArticleRecord | RejectRecord:
    outcome = process_page(raw)
    fuzz.check_outcome(raw, outcome)  # raises on parse_error and on any broken SPEC promise
    return outcome


def test_tags_nested_deeper_than_the_recursion_limit() -> None:
    """The paragraph walker recursed once per level: RecursionError past ~1000 (lxml builds up to 2047)."""
    deep = "<div>" * 1_500 + "深处的正文。" + "</div>" * 1_500
    outcome = processed(page(paragraphs=["第一段。", deep, "最后一段。"]))
    assert isinstance(outcome, ArticleRecord)
    assert outcome.body == "第一段。\n深处的正文。\n最后一段。"


def test_tags_nested_ten_thousand_deep() -> None:
    """libxml2 stops building the tree at depth 2048: what it kept is still a valid row."""
    deep = "<div>" * 10_000 + "深处的正文。" + "</div>" * 10_000
    outcome = processed(page(paragraphs=["第一段。", deep]))
    assert isinstance(outcome, ArticleRecord)
    assert outcome.body.startswith("第一段。")


@pytest.mark.parametrize("noise", ["\x0b", "\x0c", "\x01", "\x1f"])
def test_control_characters_between_paragraphs(noise: str) -> None:
    """The walker stored a tail text back into lxml, which refuses control characters."""
    outcome = processed(page(paragraphs=[f"第一段。</p>{noise}<p>第二段。"]))
    assert isinstance(outcome, ArticleRecord)
    paragraphs = outcome.body.split("\n")
    assert paragraphs[0] == "第一段。" and paragraphs[-1] == "第二段。"


def test_control_character_in_an_attribute_name() -> None:
    """Reading a breadcrumb link's ``.attrib`` raised on an attribute named "\\x01"."""
    raw = page()
    raw.body = raw.body.replace("论文发表刊物：".encode(), b"", 1)  # so the breadcrumb is read
    raw.body = raw.body.replace(b'<a href="/journal/qk000/">', b'<a href="/journal/qk000/" \x01="1">', 1)
    outcome = processed(raw)
    assert isinstance(outcome, ArticleRecord)
    assert (outcome.journal, outcome.year, outcome.issue) == ("期刊", 2019, 6)


def test_a_link_that_is_no_url() -> None:
    """urljoin raises ValueError on "http://[::1"; one bad href must not cost the page."""
    raw = page()
    raw.body = raw.body.replace(b'href="/paper/31.html"', b'href="http://[::1"', 1)
    outcome = processed(raw)
    assert isinstance(outcome, ArticleRecord) and outcome.article_id == "31"


def test_an_endless_issue_number() -> None:
    """int() refuses more than 4300 digits: the issue is unknown, not a crash."""
    outcome = processed(page(year_issue="2019年第" + "9" * 5_000 + "期"))
    assert isinstance(outcome, ArticleRecord)
    assert outcome.year == 2019 and outcome.issue is None


@pytest.mark.parametrize("printed", ["99999年第6期", "1234567890年第6期", "2019/../../年第6期"])
def test_a_year_is_four_digits_or_nothing(printed: str) -> None:
    """"99999年" gave year 9999 (the last four digits): a guess, and the SPEC wants null instead."""
    outcome = processed(page(year_issue=printed))
    assert isinstance(outcome, ArticleRecord)
    assert outcome.year is None


@pytest.mark.parametrize("printed", ["92019/4/28", "2019/4/288", "2019/13/28"])
def test_a_date_is_read_whole_or_not_at_all(printed: str) -> None:
    """Like the year: "92019/4/28" is no date from 2019, and "2019/4/288" no 28 April."""
    outcome = processed(page(date=printed))
    assert isinstance(outcome, ArticleRecord)
    assert outcome.published_date is None


def test_article_ids_are_ascii_digits() -> None:
    """``\\d`` took "١٢٣" (Arabic-Indic digits) from a canonical link as the article id."""
    raw = page()
    raw.body = raw.body.replace(b'href="/paper/31.html"', 'href="/paper/١٢٣.html"'.encode(), 1)
    outcome = processed(raw)
    assert isinstance(outcome, ArticleRecord)
    assert outcome.article_id == "31" and outcome.url == URL


def test_a_mobile_prefix_twice_without_a_canonical_link() -> None:
    """``/m/m/paper/31.html`` with its canonical link mangled: one prefix was stripped, and the
    row's url (``/m/paper/31.html``) was not canonical by the same rule (``make fuzz``, round 9)."""
    raw = page()
    raw.body = raw.body.replace(b'<link rel="canonical"', b'<xlink rel="canonical"', 1)  # the fuzzer put bytes there
    raw.url = URL.replace("/paper/", "/m/m/paper/")
    outcome = processed(raw)
    assert isinstance(outcome, ArticleRecord)
    assert outcome.url == URL and outcome.article_id == "31"
