"""The fast segmentation engine gives exactly jieba 0.42.1's tokens (pipelines.engines)."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from pathlib import Path

import jieba
import jieba.finalseg
import pytest
import rjieba

from pipelines import engines, segment
from pipelines.engines import FastEngine, JiebaEngine, rust_engine_from
from pipelines.segment import (
    SegmentConfig,
    Segmenter,
    bundled_userdict_path,
    get_segmenter,
)
from tests.segmentsetup import SEED_BODY, SEED_TITLE, jieba_cache_fixture, segmenter_fixture

TESTS = Path(__file__).resolve().parent
JIEBA_CLASS = re.compile(r"[\u4E00-\u9FD5a-zA-Z0-9+#&._%\-]")

cache_dir = jieba_cache_fixture()
fast = segmenter_fixture()
reference = segmenter_fixture(engine="jieba")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> jieba.Tokenizer:
    """jieba exactly as shipped: its own initialize() (no snapshot of ours), then the bundled user dictionary."""
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = str(tmp_path_factory.mktemp("pristine-jieba"))  # its cache file goes there
    tokenizer.initialize()
    tokenizer.load_userdict(str(bundled_userdict_path()))
    return tokenizer


def tokens_of(tokenizer: jieba.Tokenizer, text: str) -> list[str]:
    """jieba's cut, white space dropped (as Segmenter.tokens does)."""
    return [t for t in tokenizer.cut(text, HMM=True) if not t.isspace()]


# --- a deterministic generator of bodies that hit every path of the engine --------------

ASCII_TERMS = (
    "1-4", "2019-2020", "12.5%", "3.14", "0.64", "v1.2", "v1.2a", "1.5.6", "1.5a", "a_b", "COVID-19",
    "e-mail", "C++", "c#", "C#", "AT&T", "x+1", "12%3", "Python3", "GDP", "1,000", "P<0.05", "SPSS 22.0",
    "ISO9001", "3D", "a.b", ".5", "5.", "--", "_", "%", "#1", "&", "A-1", "No.3", "2019/4/28", "T-test",
)  # fmt: skip
CHINESE_ASCII = ("B超", "T恤", "IC卡", "AA制", "A股", "C语言", "CD机", "卡拉OK", "X光")
PUNCTUATION = "，。、；：？！“”‘’（）《》【】…—·～,.;:?!()[]/\\'\"<>=*@$^{}|`"
WHITESPACE = (" ", "\n", "\t", "\u3000", "\r\n", "\xa0", "  ")
RARE = ("㐀", "䶵", "鿖", "鿿", "豈", "𠀀", "𪚥", "😀", "\u200b", "〇", "ＡＢＣ１２３", "カタカナ", "\ufeff", "ﬁ", "é")


def _sentences() -> list[str]:
    """Real Chinese: the seed paper and the fixture site's bodies, cut into sentences."""
    texts = [SEED_BODY]
    for line in (TESTS / "site" / "expected.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        texts += [row.get("body") or "", row.get("title") or ""]
    return [s for text in texts for s in re.split(r"(?<=[。！？；\n])", text) if s.strip()]


def generated_bodies(count: int, seed: int = 20190428) -> list[str]:
    """``count`` bodies of 200-3,000 characters; every other one carries characters (rare CJK,
    emoji, surrogates aside) that send the engine down its block-by-block path."""
    rng = random.Random(seed)
    sentences = _sentences()
    words = [line.split(" ")[0] for line in bundled_userdict_path().read_text(encoding="utf-8").splitlines() if line]
    bodies = []
    for i in range(count):
        target, parts, size = rng.randint(200, 3000), [], 0
        while size < target:
            kind = rng.random()
            if kind < 0.55:
                part = rng.choice(sentences)
            elif kind < 0.65:
                part = rng.choice(words) + rng.choice(words)
            elif kind < 0.8:
                part = rng.choice(ASCII_TERMS) + rng.choice(("", "年", "个", "的", "中", "%"))
            elif kind < 0.85:
                part = rng.choice(CHINESE_ASCII)
            elif kind < 0.9:
                part = f"{rng.randint(0, 9999)}{rng.choice(('.', '-', '', '~', '_'))}{rng.randint(0, 99)}"
            elif kind < 0.96:
                part = rng.choice(PUNCTUATION) + rng.choice(WHITESPACE) * rng.randint(0, 1)
            else:
                part = rng.choice(RARE) if i % 2 else rng.choice(WHITESPACE)
            parts.append(part)
            size += len(part)
        bodies.append("".join(parts))
    return bodies


# --- token-by-token equality --------------------------------------------------------------


def test_generated_bodies_give_jiebas_tokens(fast: Segmenter, reference: Segmenter, pristine: jieba.Tokenizer) -> None:
    bodies = generated_bodies(1000)
    wider = sum(1 for b in bodies if engines.WIDER_HAN.search(b))
    assert 350 <= wider <= 650  # both paths are exercised
    assert sum(1 for b in bodies if engines._needs_jieba(b)) >= 700  # and the hand-back to jieba
    differing = [i for i, body in enumerate(bodies) if fast.tokens(body) != tokens_of(pristine, body)]
    assert differing == []
    assert all(reference.tokens(body) == tokens_of(pristine, body) for body in bodies[:100])
    assert sum(len(fast.tokens(b)) for b in bodies[:50]) > 20_000


def test_page_fixtures_give_jiebas_tokens(fast: Segmenter, reference: Segmenter, pristine: jieba.Tokenizer) -> None:
    texts = []
    for path in sorted((TESTS / "fixtures" / "pages").glob("*/expected.json")):
        row = json.loads(path.read_text(encoding="utf-8"))
        texts += [row[field] for field in ("body", "title") if row.get(field)]
    assert len(texts) >= 50
    for text in texts:
        assert fast.tokens(text) == tokens_of(pristine, text), text[:80]
        assert fast.tokens(text) == reference.tokens(text)


def test_keywords_are_the_same(fast: Segmenter, reference: Segmenter) -> None:
    assert fast.analyse(SEED_TITLE, SEED_BODY) == reference.analyse(SEED_TITLE, SEED_BODY)
    assert fast.analyse(SEED_TITLE, SEED_BODY)[1][0] == "两学一做"


def test_every_short_block_over_the_risky_characters(fast: Segmenter, pristine: jieba.Tokenizer) -> None:
    """Where jieba-rs's HMM differs (separators between alphanumerics) the engine hands the block
    back to jieba; every string of up to 5 of these characters is segmented exactly like jieba."""
    alphabet = "a1.-_%+#中C"
    count = 0
    for length in range(1, 6):
        for chars in itertools.product(alphabet, repeat=length):
            text = "".join(chars)
            assert fast.tokens(text) == tokens_of(pristine, text), text
            count += 1
    assert count == 111_110


def test_the_hand_back_is_needed_and_exact(fast: Segmenter, pristine: jieba.Tokenizer) -> None:
    rust = rust_engine_from(pristine)
    for text, expected in [
        ("第1-4章", ["第", "1", "-", "4", "章"]),
        ("版本v1.2a发布", ["版本", "v1.2", "a", "发布"]),
        ("增长12.5%", ["增长", "12.5%"]),
    ]:
        assert fast.tokens(text) == expected == tokens_of(pristine, text)
    assert rust.cut("第1-4章", True) == ["第", "1-4", "章"]  # what jieba-rs alone would give


def test_block_classes_agree_on_every_code_point() -> None:
    """Text without ``WIDER_HAN`` characters goes to jieba-rs whole: its block class must equal
    jieba's on every other character, and every other character must come out alone."""
    rust = rjieba.Jieba.empty()
    code_points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for c in code_points:
        rust.add_word("a" + chr(c), 1000, None)
    for c in code_points:
        ch = chr(c)
        tokens = rust.cut(f"a{ch}a{ch}", True)
        if JIEBA_CLASS.match(ch):
            assert tokens == [f"a{ch}", f"a{ch}"], hex(c)
        elif not engines.WIDER_HAN.match(ch):
            assert tokens == ["a", ch, "a", ch], hex(c)


def test_dictionary_total_equals_jiebas(tmp_path: Path, cache_dir: Path) -> None:
    """Route scores are log(freq) - log(total): the Rust engine's total must be jieba's, which counts
    a re-defined word twice. suggest_freq("的是") reads it back: f(的) * f(是) / total + 1."""
    user_dict = tmp_path / "again.txt"
    user_dict.write_text("的 318825\n", encoding="utf-8")  # 的 again, with the frequency it has: total grows
    tokenizer = Segmenter(SegmentConfig(cache_dir=cache_dir, user_dicts=[user_dict], engine="jieba"))._tokenizer
    counted_once = sum(tokenizer.FREQ.values())
    assert tokenizer.total - counted_once > 318825

    def suggested(total: int) -> int:
        return int(math.exp(math.log(tokenizer.FREQ["的"]) + math.log(tokenizer.FREQ["是"]) - math.log(total))) + 1

    from_rust = rust_engine_from(tokenizer).suggest_freq("的是")
    assert abs(from_rust - suggested(tokenizer.total)) <= 1
    assert suggested(counted_once) - from_rust > 10


def test_forced_splits_follow_jieba(fast: Segmenter, pristine: jieba.Tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "扬气林场模式的经验很好"
    word = next(t for t in tokens_of(pristine, text) if len(t) > 1 and not pristine.FREQ.get(t))
    monkeypatch.setattr(jieba.finalseg, "Force_Split_Words", {word})
    assert word not in tokens_of(pristine, text)
    assert fast.tokens(text) == tokens_of(pristine, text)


def test_engines_are_selectable_and_shared(cache_dir: Path, fast: Segmenter, reference: Segmenter) -> None:
    assert SegmentConfig().engine == "fast"
    assert isinstance(reference._cut.__self__, JiebaEngine)
    assert isinstance(fast._cut.__self__, FastEngine)
    assert fast._tokenizer is reference._tokenizer  # one dictionary set, two engines over it
    assert get_segmenter(SegmentConfig(cache_dir=cache_dir, top_k=3))._cut.__self__ is fast._cut.__self__
    with pytest.raises(ValueError):
        SegmentConfig(engine="rjieba")
    with pytest.raises(ValueError):
        engines.make_engine("rjieba", reference._tokenizer)


def test_user_dicts_reach_the_fast_engine(tmp_path: Path, cache_dir: Path) -> None:
    user_dict = tmp_path / "extra.txt"
    user_dict.write_text("扬气林场模式 5000 nz\n两学一做 3\n", encoding="utf-8")  # a new word, and a re-defined one
    fast = Segmenter(SegmentConfig(cache_dir=cache_dir, user_dicts=[user_dict]))
    reference = Segmenter(SegmentConfig(cache_dir=cache_dir, user_dicts=[user_dict], engine="jieba"))
    for text in ("推广扬气林场模式的经验", SEED_BODY, *generated_bodies(40, seed=7)):
        assert fast.tokens(text) == reference.tokens(text)
    assert "扬气林场模式" in fast.tokens("推广扬气林场模式的经验")


def test_the_bulk_copy_makes_the_engine_the_walk_makes(tmp_path: Path, cache_dir: Path) -> None:
    """The snapshot's words copied in one piece, then the user dictionaries' words on top (new ones,
    re-defined ones, up and down), give the Rust engine that walking every entry gives: the same
    frequencies and total (``suggest_freq`` reads them back) and the same cuts."""
    user_dict = tmp_path / "over.txt"
    user_dict.write_text("的 10\n中国 900000\n两学一做 3\n扬气林场模式 5000 nz\n", encoding="utf-8")
    dictionaries = segment._load_dictionaries(cache_dir, (user_dict,))
    assert dictionaries.words is not None
    tokenizer = dictionaries.tokenizer
    bulk, walked = rust_engine_from(tokenizer, dictionaries.words), rust_engine_from(tokenizer)
    probes = ["的是", "中国人", "两学一做", "扬气林场模式", "经验", "林场"]
    assert [bulk.suggest_freq(p) for p in probes] == [walked.suggest_freq(p) for p in probes]
    for text in (SEED_BODY, "推广扬气林场模式的经验", *generated_bodies(30, seed=3)):
        assert bulk.cut(text, True) == walked.cut(text, True)


def test_the_setting_chooses_the_engine(tmp_path: Path) -> None:
    from scrapy.settings import Settings

    from crawler import settings as project_settings
    from crawler.runinfo import segment_config
    from crawler.validation import validate_settings

    defaults = Settings()
    defaults.setmodule(project_settings)
    defaults.set("DATASET_DIR", str(tmp_path))
    assert segment_config(defaults).engine == "fast"
    defaults.set("SEGMENT_ENGINE", "jieba")
    assert segment_config(defaults).engine == "jieba"
    defaults.set("SEGMENT_ENGINE", "rust")
    with pytest.raises(ValueError, match="SEGMENT_ENGINE='rust' must be one of fast, jieba"):
        validate_settings(defaults)


def test_joined_runs_are_the_regexs_matches() -> None:
    """The separator-led search finds exactly ``_ASCII_RUN.finditer``'s matches, where they overlap and abut too."""
    rng = random.Random(15)
    texts = generated_bodies(200) + ["".join(rng.choice("a1Z9._-中 .") for _ in range(rng.randint(0, 14))) for _ in range(50_000)]
    runs = 0
    for text in texts:
        expected = [m.span() for m in engines._ASCII_RUN.finditer(text)]
        assert [m.span() for m in engines._joined_runs(text)] == expected, text
        runs += len(expected)
    assert runs > 10_000


def test_words_split_at_every_white_space_character(fast: Segmenter, pristine: jieba.Tokenizer) -> None:
    """FastEngine.words cuts between white space (str.split); jieba's tokens are the same for every
    character it counts as white space, and cut() still gives them as tokens."""
    white = [chr(c) for c in range(0x110000) if chr(c).isspace()] + ["\r\n"]
    assert len(white) > 25
    engine = fast._cut.__self__
    rng = random.Random(15)
    words = ["林场党委", "研究", "v1.2", "3-5", "a_b", "12.5%", "，", "中国科学院", "C++", "党建"]
    for _ in range(300):
        text = "".join(rng.choice(words) + rng.choice(white) * rng.randint(0, 2) for _ in range(rng.randint(0, 12)))
        assert engine.words(text) == tokens_of(pristine, text), text
        assert engine.cut(text) == list(pristine.cut(text, HMM=True)), text
