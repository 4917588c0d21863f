"""Tests for pipelines.segment: the `tokens` and `keywords` columns."""

from __future__ import annotations

import logging
import os
import random
import re
import tempfile
import unicodedata
from pathlib import Path

import jieba
import pytest

from pipelines import segment
from pipelines.segment import (
    SegmentConfig,
    Segmenter,
    bundled_stopwords_path,
    bundled_userdict_path,
    get_segmenter,
)
from tests.segmentsetup import SEED_BODY, SEED_TITLE, jieba_cache_fixture, segmenter_fixture

STOPWORDS = {
    w.strip().lower() for w in bundled_stopwords_path().read_text(encoding="utf-8").splitlines() if w.strip()
}

cache_dir = jieba_cache_fixture()
seg = segmenter_fixture()
seg_textrank = segmenter_fixture(keyword_method="textrank")


def without_ws(text: str) -> str:
    return re.sub(r"\s+", "", text)


def is_punct_or_symbol(token: str) -> bool:
    return all(unicodedata.category(ch)[0] in "PS" for ch in token)


# --- tokens ---------------------------------------------------------------------------

JOIN_TEXTS = [
    SEED_BODY,
    "",
    " \n\t\u3000\xa0 ",
    "2019年第6期，GDP增长6.5%，Python 3.11 与 jieba 0.42.1 的 C++/C# 接口（v2）。",
    "第一段\n\n第二段\r\n第三段\n  第四段 末尾  ",
    "（中国科学院文献情报中心，北京 100190）【注】“两学一做”！？《党章》……——～",
    "\u3000\u3000加强对领导干部的监督 管理,还要建立健全相关制度;如:挂号督办制!",
    "王镕、李喆：黑龙江 加格达奇 165012；ＡＢＣ１２３ 全角字母",
    "零宽\u200b字符\ufeff与扩展汉字㐀㑇以及表情😀和日本語カタカナ",
    "email: a.b_c-d@example.com, url=https://x.y/z?q=1&r=2 #tag 50% 3-5 a+b",
]


@pytest.mark.parametrize("text", JOIN_TEXTS)
def test_tokens_join_to_text_without_whitespace(seg: Segmenter, text: str) -> None:
    tokens = seg.tokens(text)
    assert "".join(tokens) == without_ws(text)
    assert all(tok and not re.search(r"\s", tok) for tok in tokens)


def test_tokens_join_property_on_random_mixed_text(seg: Segmenter) -> None:
    pool = "党员干部两学一做基层林场教育的了是，。、；：？！“”（）《》…—abcXYZ0123456789.%-_+#& \n\t\r\u3000\xa0\u200b镕㐀😀"
    rng = random.Random(20190428)
    for _ in range(300):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 60)))
        tokens = seg.tokens(text)
        assert "".join(tokens) == without_ws(text), text
        assert all(tok.strip() == tok and tok for tok in tokens), text


def test_tokens_keep_punctuation_and_use_precise_mode(seg: Segmenter) -> None:
    assert seg.tokens("夯实基层党建，推进“三会一课”。") == ["夯实", "基层党建", "，", "推进", "“", "三会一课", "”", "。"]


DOMAIN_SENTENCES = [
    ("两学一做", "全面贯彻落实“两学一做”学习教育。"),
    ("两学一做", "以两学一做学习教育为抓手"),
    ("三会一课", "严格落实三会一课制度"),
    ("四风", "持之以恒纠正“四风”"),
    ("主题党日", "落实好“主题党日”活动"),
    ("精准扶贫", "在林场精准扶贫工作中"),
    ("乡村振兴", "巩固脱贫攻坚成果同乡村振兴有效衔接"),
    ("党员干部", "组织广大党员干部深入学习"),
    ("组织生活会", "参加所在支部的组织生活会"),
    ("一岗双责", "坚持“一岗双责”"),
    ("全面从严治党", "融入全面从严治党的战略部署"),
    ("党风廉政建设", "是加强党风廉政建设的重要内容"),
    ("民主评议", "开展民主评议党员工作"),
    ("基层党组织", "基层党组织活力进一步增强"),
    ("四个意识", "牢固树立“四个意识”"),
    ("两个维护", "坚决做到“两个维护”"),
    ("脱贫攻坚", "坚决打赢脱贫攻坚这场硬仗"),
    ("河长制", "全面推行河长制"),
    ("放管服", "深化“放管服”改革"),
    ("供给侧结构性改革", "推进供给侧结构性改革"),
    ("核心素养", "培养学生的核心素养"),
    ("立德树人", "坚持立德树人根本任务"),
    ("课程思政", "推进课程思政建设"),
    ("产教融合", "深化产教融合、校企合作"),
    ("新时代", "新时代高校党建工作研究"),
    ("十九大", "认真学习党的十九大报告"),
    ("习近平新时代中国特色社会主义思想", "深入学习贯彻习近平新时代中国特色社会主义思想，推动工作"),
    ("森林防火", "森林防火等重点工作"),
    ("天然林保护", "加强天然林保护，严禁商业性采伐"),
]


@pytest.mark.parametrize(("term", "sentence"), DOMAIN_SENTENCES)
def test_domain_terms_are_single_tokens(seg: Segmenter, term: str, sentence: str) -> None:
    assert term in seg.tokens(sentence)


def test_seed_domain_terms_are_single_tokens(seg: Segmenter) -> None:
    tokens = seg.tokens(SEED_BODY)
    assert tokens.count("两学一做") >= 10
    assert tokens.count("三会一课") >= 3
    assert "两学一做" in seg.tokens(SEED_TITLE)


def test_bundled_userdict_is_well_formed() -> None:
    lines = bundled_userdict_path().read_text(encoding="utf-8").splitlines()
    words = [line.split(" ")[0] for line in lines]
    assert len(words) >= 250
    assert len(set(words)) == len(words)
    for line in lines:
        word, freq, *tag = line.split(" ")
        assert word and int(freq) >= 2000 and len(tag) <= 1, line


# --- keywords -------------------------------------------------------------------------


def test_seed_tfidf_keywords_contain_liangxueyizuo(seg: Segmenter) -> None:
    tokens, keywords = seg.analyse(SEED_TITLE, SEED_BODY)
    assert "".join(tokens) == without_ws(SEED_BODY)  # body tokens only, not the title's
    assert keywords[0] == "两学一做"
    assert len(keywords) == 10


@pytest.mark.parametrize("method", ["tfidf", "textrank"])
def test_keywords_are_clean_content_words(cache_dir: Path, method: str) -> None:
    seg = get_segmenter(SegmentConfig(cache_dir=cache_dir, keyword_method=method))
    title_tokens, body_tokens = seg.tokens(SEED_TITLE), seg.tokens(SEED_BODY)
    keywords = seg.keywords(title_tokens, body_tokens)
    assert 0 < len(keywords) <= 10
    assert len(set(keywords)) == len(keywords)
    assert "两学一做" in keywords
    for kw in keywords:
        assert kw in title_tokens or kw in body_tokens  # picked, never re-segmented
        assert len(kw) >= 2 and not kw.isnumeric()
        assert kw.lower() not in STOPWORDS
        assert not any(is_punct_or_symbol(ch) for ch in kw)


def test_title_boilerplate_is_not_a_keyword(seg: Segmenter) -> None:
    title = "浅谈林区春季防火宣传工作"
    body = (
        "春季是森林火灾的高发期，林区防火宣传工作直接关系到森林资源安全。\n"
        "一是入户宣传。林场组织党员逐户发放防火宣传单，讲解野外用火的危害。\n"
        "二是设卡检查。在主要路口设立防火检查站，对进山人员进行登记和火源收缴。"
    )
    keywords = seg.analyse(title, body)[1]
    assert keywords[0] == "防火"
    assert {"林区", "森林火灾"} <= set(keywords)
    assert "浅谈" not in keywords and "一是" not in keywords


def test_keywords_respect_top_k(cache_dir: Path) -> None:
    seg = get_segmenter(SegmentConfig(cache_dir=cache_dir, top_k=3))
    assert len(seg.analyse(SEED_TITLE, SEED_BODY)[1]) == 3
    assert seg.analyse(None, "党建")[1] == ["党建"]


def test_keywords_use_the_given_tokens_without_resegmenting(seg: Segmenter, seg_textrank: Segmenter) -> None:
    assert seg.tokens("林场党委") == ["林场", "党委"]  # so a re-segmenting extractor could not return it
    body = ["林场党委", "研究", "，", "林场党委", "部署", "的", "2019", "。"]
    for s in (seg, seg_textrank):
        keywords = s.keywords([], body)
        assert keywords[0] == "林场党委"
        assert sorted(keywords) == ["林场党委", "研究", "部署"]


def test_keywords_filter_stopwords_punctuation_numbers_and_single_chars(seg: Segmenter, seg_textrank: Segmenter) -> None:
    noise = ["我们", "进行", "通过", "，", "。", "……", "——", "2019", "3.5", "十九", "的", "党", "of", "The", "“", "%"]
    for s in (seg, seg_textrank):
        assert s.keywords(noise, noise * 3) == []
        assert s.analyse(None, "")[1] == []


def test_ties_are_broken_by_token(seg: Segmenter, seg_textrank: Segmenter) -> None:
    # Invented tokens: none is in jieba's IDF table, so all share the median IDF and tie.
    words = ["戊己词", "甲乙词", "丙丁词", "庚辛词"]
    assert seg.keywords([], words) == sorted(words)
    # Two tokens 4 apart (inside the window of 5): one edge, two nodes of equal TextRank score.
    ring = ["甲乙词", "，", "，", "，", "丙丁词"]
    assert seg_textrank.keywords([], ring) == ["丙丁词", "甲乙词"]


def test_tfidf_keywords_equal_a_full_ranking(cache_dir: Path, seg: Segmenter) -> None:
    """Only scores near the top_k-th are rounded; the result is still every candidate's full ranking."""
    vocabulary = sorted(set(seg.tokens(SEED_BODY))) + ["甲乙词", "丙丁词", "戊己词"]
    rng = random.Random(15)
    for top_k in (1, 3, 10, 40):
        ranker = get_segmenter(SegmentConfig(cache_dir=cache_dir, top_k=top_k))
        for _ in range(100):
            title = rng.choices(vocabulary, k=rng.randint(0, 8))
            body = rng.choices(vocabulary, k=rng.randint(0, 400))
            counts = {t: body.count(t) + segment.TITLE_WEIGHT * title.count(t) for t in set(title + body)}
            ranked = sorted(
                (-round(n * ranker._idf.get(t, ranker._median_idf), segment._SCORE_DIGITS), t)
                for t, n in counts.items() if ranker.is_candidate(t)
            )
            assert ranker.keywords(title, body) == [t for _, t in ranked[:top_k]]


def test_rounding_margin_covers_the_rounding() -> None:
    rng = random.Random(15)
    for _ in range(100_000):
        kth = rng.uniform(0, 10 ** rng.randint(-3, 9))
        below = kth - segment._rounding_margin(kth) * (1 + rng.random() * rng.choice((1e-6, 1.0)))
        assert round(below, segment._SCORE_DIGITS) < round(kth, segment._SCORE_DIGITS)


def test_title_tokens_weigh_more_than_body_tokens(seg: Segmenter) -> None:
    body = ["甲乙词", "甲乙词", "丙丁词"]
    assert seg.keywords([], body)[0] == "甲乙词"
    assert seg.keywords(["丙丁词"], body)[0] == "丙丁词"


def test_textrank_is_selectable_and_deterministic(cache_dir: Path, seg: Segmenter, seg_textrank: Segmenter) -> None:
    first = seg_textrank.analyse(SEED_TITLE, SEED_BODY)[1]
    assert first == seg_textrank.analyse(SEED_TITLE, SEED_BODY)[1]
    assert first == Segmenter(SegmentConfig(cache_dir=cache_dir, keyword_method="textrank")).analyse(SEED_TITLE, SEED_BODY)[1]
    assert first != seg.analyse(SEED_TITLE, SEED_BODY)[1]
    with pytest.raises(ValueError):
        SegmentConfig(keyword_method="lda")


# --- configuration, caching, user dictionaries ----------------------------------------


def test_cache_dir_is_honoured_and_nothing_goes_to_tmp(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # If jieba fell back to its default, it would write into tempfile.gettempdir().
    fake_tmp = tmp_path / "system-tmp"
    fake_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(fake_tmp))
    monkeypatch.setattr(segment, "PREBUILT_DIR", tmp_path / "no-prebuilt-snapshot")
    caplog.set_level(logging.DEBUG, logger="jieba")
    real_default = Path("/tmp/jieba.cache")
    before = real_default.stat().st_mtime_ns if real_default.exists() else None

    cache = tmp_path / "cache" / "nested"  # does not exist yet: created
    seg = Segmenter(SegmentConfig(cache_dir=cache))
    assert seg.tokens("两学一做") == ["两学一做"]

    snapshot = segment.snapshot_name()
    assert snapshot.startswith(f"qikan-jieba-0.42.1-s{segment.SNAPSHOT_FORMAT}-") and snapshot.endswith(".marshal")
    assert [p.name for p in cache.iterdir()] == [snapshot]
    assert (cache / snapshot).stat().st_size > 5_000_000
    assert list(fake_tmp.iterdir()) == []
    after = real_default.stat().st_mtime_ns if real_default.exists() else None
    assert after == before
    # jieba's own stderr handler is gone: load messages are DEBUG log records only.
    assert "snapshot" not in capfd.readouterr().err
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(m.startswith("Building the dictionary snapshot in") for m in messages)


def test_a_prebuilt_snapshot_is_read_and_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prebuilt = tmp_path / "share"
    path = segment.write_snapshot(prebuilt)
    monkeypatch.setattr(segment, "PREBUILT_DIR", prebuilt)
    cache = tmp_path / "dataset" / ".cache" / "jieba"
    seg = Segmenter(SegmentConfig(cache_dir=cache))
    assert seg.tokens("两学一做学习教育") == ["两学一做", "学习", "教育"]
    assert not cache.exists() or list(cache.iterdir()) == []
    assert path.name == segment.snapshot_name()


def test_snapshot_tables_equal_jiebas_own(seg: Segmenter) -> None:
    """The snapshot holds what jieba's initialize() and its idf.txt give, bundled words aside."""
    reference = jieba.Tokenizer()
    reference.tmp_dir = None
    freq, _total = reference.gen_pfdict(reference.get_dict_file())
    bundled = {line.split()[0] for line in segment.bundled_userdict_path().read_text(encoding="utf-8").splitlines() if line.strip()}
    touched = {word[:i] for word in bundled for i in range(1, len(word) + 1)}  # the bundled words and their prefixes
    ours = seg._tokenizer.FREQ
    assert len(ours) == len(dict(ours.items()))
    assert {w: f for w, f in ours.items() if w not in touched} == {w: f for w, f in freq.items() if w not in touched}
    idf_lines = (Path(jieba.__file__).parent / "analyse" / "idf.txt").read_text(encoding="utf-8").splitlines()
    idf = {w: float(v) for w, _, v in (line.strip().partition(" ") for line in idf_lines) if v}
    assert dict(seg._idf.items()) == idf
    assert seg._median_idf == sorted(idf.values())[len(idf) // 2]
    assert all(seg._idf.get(w) == v for w, v in list(idf.items())[::997])
    assert seg._idf.get("不是词的词") is None and ours.get("不是词的词") is None
    assert ours["两学一做"] == 3000 and "两学一" in ours and ours["两学一"] == 0  # the bundled dictionary, prefixes included


def test_get_segmenter_is_one_per_config(cache_dir: Path, seg: Segmenter) -> None:
    assert get_segmenter(SegmentConfig(cache_dir=cache_dir)) is seg
    assert get_segmenter(SegmentConfig(cache_dir=str(cache_dir))) is seg  # converted to Path: equal config
    other = get_segmenter(SegmentConfig(cache_dir=cache_dir, top_k=5))
    assert other is not seg and other.config.top_k == 5


def test_user_dict_from_config_adds_a_term(tmp_path: Path, cache_dir: Path, seg: Segmenter) -> None:
    sentence = "推广扬气林场模式的经验"
    assert "扬气林场模式" not in seg.tokens(sentence)
    user_dict = tmp_path / "extra.txt"
    user_dict.write_text("扬气林场模式 5000 nz\n", encoding="utf-8")

    config = SegmentConfig(cache_dir=cache_dir, user_dicts=[user_dict])
    assert config.user_dicts == (user_dict,)
    custom = get_segmenter(config)
    assert "扬气林场模式" in custom.tokens(sentence)
    assert "两学一做" in custom.tokens("两学一做学习教育")  # bundled dict still loaded
    # The other segmenter (and jieba's global tokenizer) did not pick the term up.
    assert "扬气林场模式" not in seg.tokens(sentence)


def test_config_is_frozen_and_validated() -> None:
    config = SegmentConfig()
    with pytest.raises(AttributeError):
        config.top_k = 3  # type: ignore[misc]
    with pytest.raises((ValueError, TypeError)):
        SegmentConfig(top_k=0)
    assert hash(SegmentConfig(user_dicts=["a.txt"])) == hash(SegmentConfig(user_dicts=(Path("a.txt"),)))
    assert os.fspath(bundled_userdict_path()).endswith(os.path.join("pipelines", "data", "userdict.txt"))
