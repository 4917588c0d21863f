"""Mutation fuzzing of the one raw-page → row path (:func:`pipelines.process.process_page`).

Real article pages (the page fixtures and the fixture site's papers) are
mutated the ways a broken or hostile site would: bytes flipped, bodies cut,
tags dropped or repeated, NULs, UTF-8-encoded surrogates, huge attributes,
tags nested ten thousand deep, odd entity references, endless digit runs,
lying charset declarations. Whatever comes in, the outcome must be an
:class:`ArticleRecord` that keeps the SPEC's promises or a
:class:`RejectRecord` with a known reason -- and never ``parse_error``, which
is what a bug in the extractor turns into: it is reported as a finding.

``tests/test_fuzz.py`` runs a short, derandomised budget in ``make test``;
``python -m tests.fuzz --seconds N`` (``make fuzz``) keeps going for N seconds
with fresh random seeds and exits 1 on the first finding.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import logging
import re
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

import attrs
import pyarrow as pa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import HypothesisWarning

from pipelines import urls
from pipelines.fixtures import iter_fixtures
from pipelines.process import Analyser, Outcome, process_page
from pipelines.rawpage import RawPage
from pipelines.records import (
    ARTICLE_SCHEMA,
    LIST_COLUMNS,
    REJECT_SCHEMA,
    ArticleRecord,
    RejectReason,
    RejectRecord,
    RejectStage,
    to_row,
)
from pipelines.segment import SegmentConfig, get_segmenter

TESTS = Path(__file__).resolve().parent
FIXTURE_PAGES = TESTS / "fixtures" / "pages"
SITE_PAPERS = TESTS / "site" / "www" / "paper"
FETCHED_AT = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)

INT32 = (-(2**31), 2**31 - 1)
INT16 = (-(2**15), 2**15 - 1)


# -- the seed corpus ----------------------------------------------------------------


@lru_cache(maxsize=1)
def seed_pages() -> tuple[RawPage, ...]:
    """Every saved page fixture (as served: URL, headers, bytes) and every paper of the fixture site."""
    pages = [fixture.raw for fixture in iter_fixtures(FIXTURE_PAGES)]
    for path in sorted(SITE_PAPERS.glob("*.html")):
        pages.append(
            RawPage(
                url=f"http://127.0.0.1:8000/paper/{path.name}",
                status=200,
                headers={"Content-Type": "text/html"},
                body=path.read_bytes(),
                fetched_at=FETCHED_AT,
            )
        )
    return tuple(pages)


# -- hostile bytes -------------------------------------------------------------------------

DEEP = 10_000


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


HOSTILE: tuple[bytes, ...] = (
    b"\x00",
    b"\x00" * 64,
    b"\xed\xa0\x80",  # a UTF-16 surrogate (U+D800) encoded as if it were a character
    b"\xed\xbf\xbf\xed\xa0\x80",
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\xc0\xaf",  # overlong "/"
    b"&#xD800;",
    b"&#55296;&#56320;",
    b"&#0;",
    b"&#x110000;",
    b"&#99999999999999999999999;",
    b"&#x200B;&#xFEFF;&#x2060;",
    b"&nbsp;&ensp;&#12288;&amp;&lt;&gt;&quot;&;&lol;&#;&#x;",
    b'<p title="' + b"A" * 200_000 + b'">',
    b'<div class="' + b"content " * 20_000 + b'">',
    b"<div>" * DEEP + b"\xe6\xb7\xb1" + b"</div>" * DEEP,
    b"<span>" * DEEP,
    b"<p><b><i>" * (DEEP // 3),
    b"<br>" * 5_000,
    b"<p></p>" * 2_000,
    b"</div>" * 50,
    b"<!--",
    b"<![CDATA[",
    b"<?xml version='1.0' encoding='utf-16'?>",
    b"<script>",
    b"<style>",
    b"<table><tr><td>",
    b"\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85",
    b"</p>\x01\x02\x7f<p>",
    b'<a href="/journal/qk000/" \x01="1">\xe6\x9c\x9f</a>',
    b'<p \x00class="\x00">',
    b"<div>" * 1_500 + b"\xe6\xb7\xb1" + b"</div>" * 1_500,
    b"9" * 5_000,
    _utf8("\u202e\u2028\u2029\u3000\u00a0"),
    _utf8("期刊文章分类查询，尽在期刊图书馆"),
    _utf8("对不起，您访问的页面不存在"),
    _utf8("<p>论文发表刊物：《../../x》2019/../../年第6期</p>"),
    _utf8("<p>论文发表刊物：《a》" + "1" * 5_000 + "年第" + "9" * 5_000 + "期</p>"),
    _utf8("<p>论文发表刊物：《a》99999年第99999期(上)</p>"),
    _utf8("<p>论文发表刊物：《a》٢٠١٩年第٦期</p>"),
    _utf8("<p>论文作者：" + "；" * 2_000 + "</p>"),
    _utf8("<p>论文发表时间：9999年99月99日</p>"),
    _utf8("<p>论文发表时间：0000-00-00</p>"),
    _utf8("<h1 class=\"title\">" + "论文_" * 1_000 + "</h1>"),
    _utf8('<div class="tags">标签：<a href="/tag/1"> </a>;<a href="/tag/2">\u200b</a></div>'),
    _utf8('<link rel="canonical" href="/paper/\u0661\u0662\u0663.html">'),
    b'<link rel="canonical" href="/paper/' + b"9" * 5_000 + b'.html">',
    b'<link rel="canonical" href="javascript:alert(1)">',
    b'<link rel="canonical" href="http://[::1">',
    b'<link rel="canonical" href="/paper/1.html\x00/../../x">',
    b'<meta charset="utf-16">',
    b'<meta charset="x-no-such-codec">',
    b'<meta http-equiv="Content-Type" content="text/html; charset=utf-7">',
    b'<meta charset="gbk">',
    b'<meta http-equiv="refresh" content="0;url=http://localhost:9/">',
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xfe\xff\x00<",
    "\u9555".encode("gb18030"),  # 镕 in GBK bytes
    "\u9555".encode("utf-8"),
)
"""Byte strings a hostile or broken page might carry, inserted at random or at the places the extractor reads."""

ANCHORS: tuple[bytes, ...] = (
    b'id="content">',
    b'class="title">',
    b'class="paper-info">',
    b'class="position">',
    b'class="tags">',
    b"<head>",
    b"</title>",
    b"<body>",
)
"""ASCII markers (so they match in GBK and UTF-8 pages alike): insert right after them."""

CONTENT_TYPES: tuple[str | None, ...] = (
    None,
    "text/html",
    "text/html; charset=utf-8",
    "text/html; charset=gbk",
    "text/html; charset=gb2312",
    "text/html; charset=utf-16",
    "text/html; charset=x-no-such-codec",
    "text/html; charset=",
    "text/html; charset=iso-8859-1",
    "application/octet-stream",
)

TAG_RE = re.compile(rb"<[^<>]{0,300}>")

Mutation = Callable[[st.DrawFn, bytes], bytes]


def _position(draw: st.DrawFn, body: bytes) -> int:
    return draw(st.integers(0, len(body)))


def flip_bytes(draw: st.DrawFn, body: bytes) -> bytes:
    if not body:
        return body
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 8))):
        index = draw(st.integers(0, len(data) - 1))
        data[index] ^= draw(st.integers(1, 255))
    return bytes(data)


def truncate(draw: st.DrawFn, body: bytes) -> bytes:
    return body[: _position(draw, body)]


def _tag_span(draw: st.DrawFn, body: bytes) -> tuple[int, int] | None:
    tags = [m.span() for m in TAG_RE.finditer(body)]
    return tags[draw(st.integers(0, len(tags) - 1))] if tags else None


def delete_tag(draw: st.DrawFn, body: bytes) -> bytes:
    span = _tag_span(draw, body)
    return body if span is None else body[: span[0]] + body[span[1] :]


def duplicate_tag(draw: st.DrawFn, body: bytes) -> bytes:
    span = _tag_span(draw, body)
    if span is None:
        return body
    copies = draw(st.sampled_from((1, 2, 100)))
    return body[: span[1]] + body[span[0] : span[1]] * copies + body[span[1] :]


def delete_span(draw: st.DrawFn, body: bytes) -> bytes:
    start = _position(draw, body)
    return body[:start] + body[start + draw(st.integers(1, 2_000)) :]


def duplicate_span(draw: st.DrawFn, body: bytes) -> bytes:
    start = _position(draw, body)
    end = min(len(body), start + draw(st.integers(1, 2_000)))
    return body[:end] + body[start:end] + body[end:]


def _payload(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 4)):  # mostly the known-hostile bytes, sometimes anything at all
        return draw(st.sampled_from(HOSTILE))
    return draw(st.binary(min_size=1, max_size=32))


def insert_anywhere(draw: st.DrawFn, body: bytes) -> bytes:
    at = _position(draw, body)
    return body[:at] + _payload(draw) + body[at:]


def insert_at_anchor(draw: st.DrawFn, body: bytes) -> bytes:
    anchor = draw(st.sampled_from(ANCHORS))
    at = body.find(anchor)
    if at < 0:
        return insert_anywhere(draw, body)
    at += len(anchor)
    return body[:at] + _payload(draw) + body[at:]


def lie_about_charset(draw: st.DrawFn, body: bytes) -> bytes:
    """Replace (or add) the page's own ``<meta>`` charset declaration."""
    declared = draw(st.sampled_from((b"utf-8", b"gbk", b"utf-16", b"latin-1", b"x-no-such-codec", b"")))
    meta = b'<meta http-equiv="Content-Type" content="text/html; charset=' + declared + b'" />'
    replaced, count = re.subn(rb"<meta[^>]*charset[^>]*>", meta, body, count=1, flags=re.I)
    return replaced if count else meta + body


MUTATIONS: tuple[Mutation, ...] = (
    insert_at_anchor,  # first: Hypothesis shrinks towards it, and it is the one that reaches the extractor
    insert_at_anchor,
    insert_at_anchor,
    insert_anywhere,
    flip_bytes,
    truncate,
    delete_tag,
    duplicate_tag,
    delete_span,
    duplicate_span,
    lie_about_charset,
)


@st.composite
def mutated_pages(draw: st.DrawFn) -> RawPage:
    """A seed page with one to four mutations, a possibly lying Content-Type and an alias URL."""
    seed = draw(st.sampled_from(seed_pages()))
    body = seed.body
    for _ in range(draw(st.integers(1, 4))):
        body = draw(st.sampled_from(MUTATIONS))(draw, body)
    headers = dict(seed.headers)
    content_type = draw(st.sampled_from((seed.header("Content-Type"), *CONTENT_TYPES)))
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    url = seed.url
    if draw(st.booleans()):
        url = draw(st.sampled_from((url + "?from=related", url.replace("/paper/", "/m/paper/"))))
    return attrs.evolve(seed, url=url, headers=headers, body=body, fetched_at=FETCHED_AT)


# -- the property ------------------------------------------------------------------------

REASONS = {r.value for r in RejectReason}
STAGES = {s.value for s in RejectStage}


class Finding(AssertionError):
    """An outcome that breaks a promise: a parse_error, or a row the SPEC does not allow."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise Finding(message)


def _clean_text(value: object, what: str) -> None:
    _require(isinstance(value, str), f"{what} is not a string: {value!r}")
    assert isinstance(value, str)
    _require(value != "", f"{what} is empty")
    _require(value == value.strip(), f"{what} has white space at an end: {value[:80]!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Finding(f"{what} is not valid Unicode text ({exc})") from None


def check_outcome(raw: RawPage, outcome: Outcome, *, segmented: bool = False) -> None:
    """Raise :class:`Finding` unless ``outcome`` is a valid row for ``raw``."""
    if isinstance(outcome, RejectRecord):
        _require(outcome.reason != RejectReason.PARSE_ERROR.value, f"parse_error: {outcome.detail}")
        _require(outcome.reason in REASONS, f"unknown reject reason {outcome.reason!r}")
        _require(outcome.stage in STAGES, f"unknown reject stage {outcome.stage!r}")
        _require(outcome.url == raw.url, f"reject names {outcome.url!r}, not the page {raw.url!r}")
        _require(len(outcome.detail) <= 500, "reject detail longer than 500 characters")
        _arrow_row(outcome, REJECT_SCHEMA)
        return
    _require(isinstance(outcome, ArticleRecord), f"outcome is neither article nor reject: {outcome!r}")
    article = outcome
    digits = re.fullmatch(r"[0-9]+", article.article_id) is not None
    _require(digits, f"article_id {article.article_id!r} is not digits")
    _require(urls.canonical_article_url(article.url) == article.url, f"url {article.url!r} is not canonical")
    _require(urls.article_id(article.url) == article.article_id, "article_id is not the URL's id")
    for name, (low, high) in (("year", INT32), ("issue", INT16)):
        value = getattr(article, name)
        _require(
            value is None or (type(value) is int and low <= value <= high), f"{name} {value!r} is not null or in range"
        )
    _require(article.published_date is None or isinstance(article.published_date, dt.date), "bad published_date")
    for name in ("title", "journal", "issue_label"):
        if getattr(article, name) is not None:
            _clean_text(getattr(article, name), name)
    _clean_text(article.body, "body")
    for number, paragraph in enumerate(article.body.split("\n")):
        _clean_text(paragraph, f"body paragraph {number}")
    _require(article.char_count == len(article.body) - article.body.count("\n"), "char_count disagrees with body")
    _require(article.content_sha1 == hashlib.sha1(article.body.encode("utf-8")).hexdigest(), "content_sha1 is wrong")
    for name in LIST_COLUMNS:
        values = getattr(article, name)
        _require(isinstance(values, list), f"{name} is not a list")
        for value in values:
            _clean_text(value, f"{name} item")
    if segmented:
        _require("".join(article.tokens) == "".join(article.body.split()), "tokens do not spell the body")
    else:
        _require(article.tokens == [] and article.keywords == [], "tokens or keywords without a segmenter")
    _arrow_row(article, ARTICLE_SCHEMA)


def _arrow_row(record: ArticleRecord | RejectRecord, schema: pa.Schema) -> None:
    """The dataset writer must accept the row: types, ranges, valid UTF-8."""
    try:
        pa.RecordBatch.from_pylist([to_row(record)], schema=schema)
    except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
        raise Finding(f"the row does not fit the Arrow schema: {exc!r}") from None


@contextlib.contextmanager
def quiet_extraction_log() -> Iterator[None]:
    """process_page logs every failed extraction; while shrinking a finding that is thousands of lines."""
    logger = logging.getLogger("pipelines.process")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def run_one(raw: RawPage, analyser: Analyser | None = None) -> Outcome:
    """Feed one page through the pipeline and check what comes out."""
    global last_finding
    try:
        try:
            outcome = process_page(raw, analyser)
        except Exception as exc:  # process_page promises a reject for anything a page can do
            raise Finding(f"process_page raised {exc!r}") from exc
        check_outcome(raw, outcome, segmented=analyser is not None)
        outcomes[outcome.reason if isinstance(outcome, RejectRecord) else "article"] += 1
    except Finding:
        last_finding = raw  # Hypothesis replays the shrunk example last, so this ends as the minimal page
        raise
    return outcome


last_finding: RawPage | None = None
"""The page of the most recent finding, for ``--save``."""
outcomes: Counter[str] = Counter()
"""Outcomes seen so far ("article" or the reject reason): a fuzzer whose pages all end as one reject tests little."""


def save_page(raw: RawPage, folder: Path) -> None:
    """Write a page the way page fixtures are kept (body.html, response.json), to replay or turn into a fixture."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "body.html").write_bytes(raw.body)
    response = {"url": raw.url, "status": raw.status, "headers": raw.headers}
    (folder / "response.json").write_text(json.dumps(response, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# -- running it ---------------------------------------------------------------------------

FUZZ_HEALTH_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


def fuzz_settings(max_examples: int, *, derandomize: bool) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=derandomize,
        database=None,
        suppress_health_check=FUZZ_HEALTH_CHECKS,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        print_blob=True,
    )


def property_test(analyser: Analyser | None, config: settings) -> Callable[[], None]:
    """The fuzz property as a runnable Hypothesis test."""

    @config
    @given(mutated_pages())
    def fuzz_process_page(raw: RawPage) -> None:
        run_one(raw, analyser)

    return fuzz_process_page


def describe(finding: BaseException, limit: int = 4_000) -> str:
    """The finding and Hypothesis's notes on it (the falsifying example, the blob that replays it), cut to ``limit``."""
    notes = [str(finding), *getattr(finding, "__notes__", ())]
    return "\n".join(note if len(note) <= limit else f"{note[:limit]} ... [{len(note) - limit} more]" for note in notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="stop starting new rounds after this long")
    parser.add_argument("--examples-per-round", type=int, default=200)
    parser.add_argument("--segment-every", type=int, default=5, help="every Nth round uses a real jieba segmenter")
    parser.add_argument("--seed", type=int, default=None, help="first round's seed (default: from the clock)")
    parser.add_argument(
        "--save", type=Path, default=None, help="write the page of a finding here (body.html, response.json)"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", "Generating overly large repr", HypothesisWarning)  # the pages are big

    first_seed = args.seed if args.seed is not None else time.time_ns() % 2**32
    deadline = time.monotonic() + args.seconds
    examples = rounds = 0
    with tempfile.TemporaryDirectory(prefix="qikan-fuzz-") as cache:
        analyser = None
        max_rounds = max(1, int(args.seconds * 100))  # a bound, whatever the clock does
        for round_number in range(max_rounds):
            if round_number and time.monotonic() >= deadline:
                break
            segmented = args.segment_every > 0 and round_number % args.segment_every == args.segment_every - 1
            if segmented and analyser is None:
                analyser = get_segmenter(SegmentConfig(cache_dir=Path(cache)))
            round_seed = (first_seed + round_number) % 2**32
            config = fuzz_settings(args.examples_per_round, derandomize=False)
            test = property_test(analyser if segmented else None, config)
            try:
                with quiet_extraction_log():
                    hypothesis_seed(round_seed)(test)()
            except Finding as finding:
                print(describe(finding), file=sys.stderr)
                if args.save is not None and last_finding is not None:
                    save_page(last_finding, args.save)
                    print(f"the page is saved in {args.save}", file=sys.stderr)
                print(f"finding in round {round_number} (seed {round_seed}, segmenter {segmented})", file=sys.stderr)
                return 1
            examples += args.examples_per_round
            rounds += 1
    print(f"fuzzed {examples} mutated pages in {rounds} rounds from seed {first_seed}: no finding")
    print("outcomes (with shrinking and replays): " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
