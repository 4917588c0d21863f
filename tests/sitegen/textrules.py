"""The site's fixed strings and a reference copy of SPEC "Text normalisation".

The reference rules exist only to check the generator's own output at build
time (the truth is a fixed point; injected noise normalises back to it); the
project's ``pipelines`` are never imported, so the gold stays independent.
"""

from __future__ import annotations

import re

WATERMARK_FULL = "期刊文章分类查询，尽在期刊图书馆"
WATERMARK_HALF = "期刊文章分类查询,尽在期刊图书馆"
SOFT_404_H1 = "对不起，您访问的页面不存在"
GBK_ONLY_CHARS = "镕喆堃赟"
ZERO_WIDTH_CHARS = "\u200b\u200c\u200d\u2060\ufeff"

BR = "\x00"
"""Sentinel for a single ``<br />`` inside a text (survives html.escape)."""
NBSP = "\x01"
"""Sentinel for an ``&nbsp;`` entity inside a text."""

# --------------------------------------------------------------------------
# Reference normalisation (SPEC "Text normalisation"), for self-checks only
# --------------------------------------------------------------------------

CJK_CLASS = "\u3400-\u9fff\u3000-\u303f\uff00-\uffef\u201c\u201d\u2018\u2019"
_ZW_RE = re.compile("[\u200b-\u200d\u2060\ufeff]")
_WATERMARK_RE = re.compile("期刊文章分类查询[，,]尽在期刊图书馆")
_FULLWIDTH_ALNUM = {
    **{0xFF10 + i: 0x30 + i for i in range(10)},
    **{0xFF21 + i: 0x41 + i for i in range(26)},
    **{0xFF41 + i: 0x61 + i for i in range(26)},
}
TO_FULLWIDTH = {v: k for k, v in _FULLWIDTH_ALNUM.items()}
_WS_RE = re.compile(r"\s+")
SPACE_BETWEEN_CJK_RE = re.compile(f"(?<=[{CJK_CLASS}]) (?=[{CJK_CLASS}])")
_HALF_AFTER_CJK_RE = re.compile(f"(?<=[{CJK_CLASS}])[,;:?!]")
_HALF_TO_FULL = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！"}
FULL_TO_HALF = {v: k for k, v in _HALF_TO_FULL.items()}
FULL_PUNCT_AFTER_CJK_RE = re.compile(f"(?<=[{CJK_CLASS}])[，；：？！]")
ALNUM_RE = re.compile("[0-9A-Za-z]")
_FULLWIDTH_ALNUM_RE = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")


def normalise(text: str, *, body: bool) -> str:
    """Rules 1-5 of the SPEC (rule 4 only for body paragraphs)."""
    text = _WATERMARK_RE.sub("", _ZW_RE.sub("", text))
    text = text.translate(_FULLWIDTH_ALNUM)
    text = _WS_RE.sub(" ", text).strip()
    if body:
        text = SPACE_BETWEEN_CJK_RE.sub("", text)
    return _HALF_AFTER_CJK_RE.sub(lambda m: _HALF_TO_FULL[m.group()], text)


def clean_violations(text: str, *, body: bool) -> list[str]:
    """Why ``text`` is not already in normalised form (empty list: it is).

    Spelled out rule by rule so a failing build says what is wrong, on top of
    the plain fixed-point test ``normalise(text) == text``.
    """
    problems = []
    if _ZW_RE.search(text):
        problems.append("zero-width character")
    if _WATERMARK_RE.search(text):
        problems.append("watermark")
    if _FULLWIDTH_ALNUM_RE.search(text):
        problems.append("full-width letter or digit")
    if re.search(r"[^\S ]", text):
        problems.append("white space other than a plain space")
    if "  " in text or text != text.strip():
        problems.append("double or edge space")
    if body and SPACE_BETWEEN_CJK_RE.search(text):
        problems.append("space between CJK characters")
    if _HALF_AFTER_CJK_RE.search(text):
        problems.append("ASCII , ; : ? ! right after CJK")
    if not text:
        problems.append("empty")
    if normalise(text, body=body) != text:
        problems.append("not a fixed point of the rules")
    return problems


def check_clean(text: str, *, body: bool, what: str) -> None:
    problems = clean_violations(text, body=body)
    if problems:
        raise AssertionError(f"clean truth {what} {text!r}: {', '.join(problems)}")


def check_roundtrip(noisy: str, clean: str, *, body: bool, what: str) -> None:
    """The injected text must normalise back to the truth, exactly."""
    as_text = noisy.replace(BR, " ").replace(NBSP, "\xa0")
    got = normalise(as_text, body=body)
    if got != clean:
        raise AssertionError(f"noise on {what} is not undone: {noisy!r} -> {got!r} != {clean!r}")

