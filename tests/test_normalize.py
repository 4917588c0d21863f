"""One test (or a few) per SPEC normalisation rule, edge cases included."""

from __future__ import annotations

import pytest

from pipelines.normalize import (
    ZERO_WIDTH_CHARS,
    collapse_whitespace,
    fullwidth_alnum_to_ascii,
    fullwidth_punct_after_cjk,
    has_zero_width,
    normalize_paragraph,
    normalize_paragraphs,
    normalize_text,
    remove_noise,
    remove_space_between_cjk,
)

# Rule 1 -----------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"])
def test_rule1_removes_each_zero_width_character(char: str) -> None:
    assert remove_noise(f"党{char}建") == "党建"


def test_has_zero_width_knows_every_character_rule1_removes() -> None:
    """has_zero_width spells the characters out for speed: it must not drift from ZERO_WIDTH_CHARS."""
    assert [has_zero_width(f"党{char}建") for char in ZERO_WIDTH_CHARS] == [True] * 5
    assert not has_zero_width("党建 \u00a0\u3000\u2028")


@pytest.mark.parametrize(
    "text",
    ["期刊文章分类查询，尽在期刊图书馆广大党员", "期刊文章分类查询,尽在期刊图书馆广大党员"],
)
def test_rule1_removes_watermark_with_either_comma(text: str) -> None:
    assert remove_noise(text) == "广大党员"


def test_rule1_watermark_split_by_zero_width_is_still_removed() -> None:
    assert remove_noise("期刊文章分类\u200b查询，尽在期刊图书馆正文") == "正文"


def test_rule1_keeps_a_lookalike_sentence() -> None:
    assert remove_noise("期刊文章分类查询很方便") == "期刊文章分类查询很方便"


# Rule 2 -----------------------------------------------------------------------


def test_rule2_fullwidth_letters_and_digits_become_ascii() -> None:
    assert fullwidth_alnum_to_ascii("ＡＩ与ｂｉｇ数据２０１９") == "AI与big数据2019"


def test_rule2_leaves_fullwidth_punctuation() -> None:
    assert fullwidth_alnum_to_ascii("（一）：，；！？") == "（一）：，；！？"


# Rule 3 -----------------------------------------------------------------------


def test_rule3_nbsp_and_ideographic_space_become_spaces_and_runs_collapse() -> None:
    assert collapse_whitespace("\u00a0\u00a0\u3000\u3000党的建设 \t\n 始终\u00a0 ") == "党的建设 始终"


def test_rule3_empty_and_blank() -> None:
    assert collapse_whitespace(" \u3000\u00a0\n") == ""


# Rule 4 -----------------------------------------------------------------------


def test_rule4_removes_space_between_cjk_in_body() -> None:
    assert normalize_paragraph("加强对领导干部的监督 管理，还要") == "加强对领导干部的监督管理，还要"


def test_rule4_space_next_to_cjk_punctuation_and_quotes_goes() -> None:
    assert remove_space_between_cjk("建设 。 “两学一做” 学习") == "建设。“两学一做”学习"


def test_rule4_keeps_space_between_cjk_and_ascii() -> None:
    assert normalize_paragraph("采用 BIM 技术建模") == "采用 BIM 技术建模"


def test_rule4_not_applied_to_titles_and_affiliations() -> None:
    assert normalize_text("清水出芙蓉 天然去雕饰") == "清水出芙蓉 天然去雕饰"
    assert normalize_text("黑龙江 加格达奇 165012") == "黑龙江 加格达奇 165012"


def test_rule4_extension_a_ideographs_count_as_cjk() -> None:
    assert remove_space_between_cjk("\u3400 \u4e00") == "\u3400\u4e00"


# Rule 5 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("half", "full"), [(",", "，"), (";", "；"), (":", "："), ("?", "？"), ("!", "！")]
)
def test_rule5_each_half_width_mark_after_cjk(half: str, full: str) -> None:
    assert fullwidth_punct_after_cjk(f"建设{half}是") == f"建设{full}是"


def test_rule5_after_cjk_punctuation_and_closing_quote() -> None:
    assert fullwidth_punct_after_cjk("“两学一做”,基础在学。,") == "“两学一做”，基础在学。，"


@pytest.mark.parametrize(
    "text",
    [
        "1,000",
        "2019/4/28",
        "每天读一篇报纸(文章);每天写",
        "The results show a clear trend, as expected: yes!",
        "COVID-19: a review?",
    ],
)
def test_rule5_leaves_ascii_context_alone(text: str) -> None:
    assert normalize_paragraph(text) == text


def test_rule5_applies_to_metadata_values_too() -> None:
    assert normalize_text("大兴安岭林业集团公司松岭林业局,黑龙江 加格达奇") == "大兴安岭林业集团公司松岭林业局，黑龙江 加格达奇"


# Rule 6 and the order of the rules -------------------------------------------


def test_rule6_drops_paragraphs_left_empty() -> None:
    assert normalize_paragraphs(["\u00a0", "", "期刊文章分类查询，尽在期刊图书馆", "正文", "\u200b"]) == ["正文"]


def test_rules_in_order_fullwidth_digits_then_punctuation() -> None:
    # rule 2 first: "２," becomes "2," and a digit is not CJK, so rule 5 leaves the comma.
    assert normalize_paragraph("共计１,０００人") == "共计1,000人"


def test_rules_in_order_ideographic_space_then_cjk_space_removal() -> None:
    # rule 3 turns U+3000 into a space; rule 4 removes it between 设 and the full-width comma.
    assert normalize_paragraph("建设\u3000，是") == "建设，是"
    # an ASCII comma is not CJK: the space before it stays, and so does the comma (rule 5 needs CJK right before).
    assert normalize_paragraph("建设\u3000,是") == "建设 ,是"


def test_no_other_rewriting() -> None:
    text = "“引号”‘单引号’。（括号）《书名》——破折号…省略号"
    assert normalize_paragraph(text) == text
    assert normalize_text("國際") == "國際"  # no traditional-to-simplified conversion


def test_rule3_white_space_is_what_str_isspace_says() -> None:
    spaces = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
    assert len(spaces) == 29
    assert collapse_whitespace(f"{spaces}甲{spaces}乙{spaces}") == "甲 乙"


def test_rule5_looks_at_the_text_before_the_rule() -> None:
    assert fullwidth_punct_after_cjk("中,;文?!") == "中，;文？!"  # ";" follows an ASCII ",", "!" an ASCII "?"


def test_rule4_runs_before_rule5_in_paragraphs() -> None:
    assert normalize_paragraph("中, 文") == "中， 文"
    assert normalize_paragraph("中 文, 字") == "中文， 字"
