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

_SPACE_BETWEEN_CJK_RE = re.compile(f" (?=[{CJK_CLASS}])(?<=[{CJK_CLASS}] )")
_HALFWIDTH_AFTER_CJK_RE = re.compile(f"[,;:?!](?<=[{CJK_CLASS}][,;:?!])")
# Both patterns start with what they replace, not with the look-behind: the regex engine then
# jumps from candidate to candidate instead of trying the look-behind at every character.
_HALF_TO_FULL = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！"}


ZERO_WIDTH_CHARS = "\u200b\u200c\u200d\u2060\ufeff"
_ZERO_WIDTH_RE = re.compile(f"[{ZERO_WIDTH_CHARS}]")
_FULLWIDTH_ALNUM_CLASS = "[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]"
_FULLWIDTH_ALNUM_RE = re.compile(f"{_FULLWIDTH_ALNUM_CLASS}{_FULLWIDTH_ALNUM_CLASS}*")
"""A run of full-width letters and digits; ``[...][...]*`` rather than ``[...]+``: the regex engine
only skips ahead to candidates when the pattern starts with a plain class (twice as fast)."""
# str.translate walks every character of a paragraph through a dict; a compiled pattern
# finds the few runs that need mapping, and maps only those (much faster on real paragraphs).
_ZERO_WIDTH_OR_FULLWIDTH_ALNUM_RE = re.compile(f"[{ZERO_WIDTH_CHARS}{_FULLWIDTH_ALNUM_CLASS[1:-1]}]")
"""One scan that tells whether rule 1's characters or rule 2 can change a text (most texts: neither)."""


def remove_noise(text: str) -> str:
    """Rule 1: drop zero-width characters, then the watermark sentence."""
    for char in ZERO_WIDTH_CHARS:
        if char in text:  # str.replace is twice as fast as a regex, and a test for one character cheaper still
            text = text.replace(char, "")
    return WATERMARK_RE.sub("", text) if "期刊图书馆" in text else text


def fullwidth_alnum_to_ascii(text: str) -> str:
    """Rule 2: Ａ–Ｚ, ａ–ｚ and ０–９ become ASCII; other full-width forms stay."""
    return _FULLWIDTH_ALNUM_RE.sub(_ascii_run, text)


def _ascii_run(match: re.Match[str]) -> str:
    return match.group().translate(_FULLWIDTH_ALNUM)


def collapse_whitespace(text: str) -> str:
    """Rule 3: NBSP, U+3000 and every run of white space become one space; ends stripped.

    ``str.split()`` splits at the same characters as the regex ``\\s`` (both are
    ``str.isspace()``: NBSP and U+3000 included) and drops the ends, at a fraction of the cost.
    """
    return " ".join(text.split())


def remove_space_between_cjk(text: str) -> str:
    """Rule 4 (body paragraphs only): a space between two CJK characters is typing noise."""
    return _SPACE_BETWEEN_CJK_RE.sub("", text) if " " in text else text


def fullwidth_punct_after_cjk(text: str) -> str:
    """Rule 5: ASCII , ; : ? ! right after a CJK character become full-width.

    "1,000" and "(文章);" keep their ASCII punctuation: a digit or ")" is not CJK.
    """
    if "," in text or ";" in text or ":" in text or "?" in text or "!" in text:  # most texts have none
        return _HALFWIDTH_AFTER_CJK_RE.sub(_full_width, text)
    return text


def _full_width(match: re.Match[str]) -> str:
    return _HALF_TO_FULL[match.group()]


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


@lru_cache(maxsize=1024)
def _rules_1_to_3(text: str) -> str:
    """Rules 1, 2 and 3, which every text value and every paragraph starts with.

    Cached: extraction asks for the same line several times (labels, title, breadcrumb, body,
    and the body line again as a paragraph), and a page's lines fit in the cache.
    """
    if _ZERO_WIDTH_OR_FULLWIDTH_ALNUM_RE.search(text) is not None:
        text = fullwidth_alnum_to_ascii(remove_noise(text))
    elif "期刊图书馆" in text:  # no zero-width character and nothing full-width: rule 1 is the watermark only
        text = WATERMARK_RE.sub("", text)
    return collapse_whitespace(text)


@lru_cache(maxsize=1024)
def normalize_text(text: str | None) -> str:
    """Rules 1, 2, 3 and 5 (:data:`TEXT_RULES`), for metadata values (title, authors, journal, ...).

    Cached, like :func:`_rules_1_to_3`: it was a third of extraction's time.
    """
    return fullwidth_punct_after_cjk(_rules_1_to_3(text)) if text else ""


def normalize_paragraph(text: str | None) -> str:
    """Rules 1 to 5 (:data:`PARAGRAPH_RULES`), for one body paragraph."""
    if not text:
        return ""
    cleaned = _rules_1_to_3(text)
    joined = remove_space_between_cjk(cleaned)
    if len(joined) == len(cleaned):  # rule 4 changed nothing (it only removes): the text value, usually cached
        return normalize_text(text)
    return fullwidth_punct_after_cjk(joined)


def has_zero_width(text: str) -> bool:
    """Whether rule 1 removes a zero-width character from ``text`` (and so may join two words).

    Asked of most lines of every page: one regex search costs half of ``any()`` over a generator."""
    return _ZERO_WIDTH_RE.search(text) is not None


def normalize_paragraphs(paragraphs: Iterable[str]) -> list[str]:
    """Rules 1 to 6: every paragraph cleaned, the empty ones dropped."""
    cleaned = (normalize_paragraph(p) for p in paragraphs)
    return [p for p in cleaned if p]
