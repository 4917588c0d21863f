"""The SPEC's text normalisation rules, one function per rule.

Every text value (title, authors, affiliations, journal, tags, each body
paragraph) goes through :func:`normalize_text`; body paragraphs also get rule
4 (:func:`normalize_paragraph`). Rule 6 (drop empty paragraphs) is
:func:`normalize_paragraphs`. Nothing else in the text changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

WATERMARK_RE = re.compile(r"期刊文章分类查询\s*[，,]\s*尽在期刊图书馆")
"""The site's watermark sentence, with a full- or half-width comma."""


_FULLWIDTH_ALNUM = {
    **{0xFF10 + i: 0x30 + i for i in range(10)},  # ０-９
    **{0xFF21 + i: 0x41 + i for i in range(26)},  # Ａ-Ｚ
    **{0xFF41 + i: 0x61 + i for i in range(26)},  # ａ-ｚ
}

CJK_CLASS = "\u3400-\u9fff\u3000-\u303f\uff00-\uffef\u201c\u201d\u2018\u2019"
"""Characters that count as CJK for rules 4 and 5 (ideographs, CJK and
full-width punctuation, curly quotes)."""

_SPACE_BETWEEN_CJK_RE = re.compile(f"(?<=[{CJK_CLASS}]) (?=[{CJK_CLASS}])")
_HALFWIDTH_AFTER_CJK_RE = re.compile(f"(?<=[{CJK_CLASS}])[,;:?!]")
_HALF_TO_FULL = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！"}
_WHITESPACE_RUN_RE = re.compile(r"\s+")


_ZERO_WIDTH_RE = re.compile("[\u200b-\u200d\u2060\ufeff]+")
_FULLWIDTH_ALNUM_RE = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]+")
# str.translate walks every character of a paragraph through a dict; a compiled pattern
# finds the few runs that need mapping, and maps only those (much faster on real paragraphs).


def remove_noise(text: str) -> str:
    """Rule 1: drop zero-width characters, then the watermark sentence."""
    text = _ZERO_WIDTH_RE.sub("", text)
    return WATERMARK_RE.sub("", text) if "期刊图书馆" in text else text


def fullwidth_alnum_to_ascii(text: str) -> str:
    """Rule 2: Ａ–Ｚ, ａ–ｚ and ０–９ become ASCII; other full-width forms stay."""
    return _FULLWIDTH_ALNUM_RE.sub(_ascii_run, text)


def _ascii_run(match: re.Match[str]) -> str:
    return match.group().translate(_FULLWIDTH_ALNUM)


def collapse_whitespace(text: str) -> str:
    """Rule 3: NBSP, U+3000 and every run of white space become one space; ends stripped.

    Python's ``\\s`` already matches NBSP and U+3000.
    """
    return _WHITESPACE_RUN_RE.sub(" ", text).strip()


def remove_space_between_cjk(text: str) -> str:
    """Rule 4 (body paragraphs only): a space between two CJK characters is typing noise."""
    return _SPACE_BETWEEN_CJK_RE.sub("", text)


def fullwidth_punct_after_cjk(text: str) -> str:
    """Rule 5: ASCII , ; : ? ! right after a CJK character become full-width.

    "1,000" and "(文章);" keep their ASCII punctuation: a digit or ")" is not CJK.
    """
    return _HALFWIDTH_AFTER_CJK_RE.sub(lambda m: _HALF_TO_FULL[m.group()], text)


TEXT_RULES = (remove_noise, fullwidth_alnum_to_ascii, collapse_whitespace, fullwidth_punct_after_cjk)
"""Rules 1, 2, 3 and 5, in the SPEC's order: every text value."""
PARAGRAPH_RULES = (
    remove_noise,
    fullwidth_alnum_to_ascii,
    collapse_whitespace,
    remove_space_between_cjk,
    fullwidth_punct_after_cjk,
)
"""Rules 1 to 5, in the SPEC's order: body paragraphs."""


def _apply(rules: tuple, text: str | None) -> str:
    if not text:
        return ""
    for rule in rules:
        text = rule(text)
    return text


@lru_cache(maxsize=1024)
def normalize_text(text: str | None) -> str:
    """Rules 1, 2, 3 and 5, for metadata values (title, authors, journal, ...).

    Cached: extraction asks for the same line several times (labels, title, breadcrumb,
    body), and a page's lines fit in the cache; it was a third of extraction's time.
    """
    return _apply(TEXT_RULES, text)


def normalize_paragraph(text: str | None) -> str:
    """Rules 1 to 5, for one body paragraph."""
    return _apply(PARAGRAPH_RULES, text)


def normalize_paragraphs(paragraphs: Iterable[str]) -> list[str]:
    """Rules 1 to 6: every paragraph cleaned, the empty ones dropped."""
    cleaned = (normalize_paragraph(p) for p in paragraphs)
    return [p for p in cleaned if p]
