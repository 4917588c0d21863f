"""What a reader sees: a page's text in reading order, as lines with a little structure.

Markup changes with every redesign of the site; what a reader sees does not (SPEC "When the
site changes"). So extraction works on :class:`Line` objects, not on tags and classes: a line
is what a browser would show as one block of text (a paragraph, a table cell, a list item, a
run of text between two ``<br><br>``), with the few facts about it that a reader also sees:
whether it is centred, whether all of it is a link (navigation, ads, related papers), whether
it is a heading. Tag names and class names are used only as hints (``<aside>`` is chrome, an
``ad`` class is an advert), never as the only way to find a field.

:func:`lines_from_text` makes the same lines from text a person copied out of a browser (the
SPEC's ``seed-article.txt``), so the line-level step is tested on what a reader really saw.
"""

from __future__ import annotations

import re

import attrs
from lxml import etree

BLOCK_TAGS = frozenset(
    "p div li ul ol h1 h2 h3 h4 h5 h6 blockquote section article main header footer nav aside "
    "table thead tbody tfoot tr td th caption center dl dt dd pre hr figure figcaption address "
    "details summary fieldset legend form".split()
)
"""Elements that end a line where they start and where they end."""
SKIPPED_TAGS = frozenset(
    "script style noscript template iframe img object embed select option button input textarea "
    "svg video audio canvas map ins head title meta link".split()
)
"""Elements whose text a reader never sees as text."""
HEADING_TAGS = frozenset("h1 h2 h3 h4 h5 h6".split())
CHROME_TAGS = frozenset("nav aside footer".split())
"""Hints only: text inside these is never body text (the title and labelled lines are looked for everywhere)."""
BR_MARK = "\u2028"
"""A single ``<br>`` inside a line: white space in a body paragraph, a line break between
labelled lines or affiliations. U+2028 is white space to the normalisation rules."""

_CENTRED_STYLE_RE = re.compile(r"text-align\s*:\s*center", re.I)
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_CENTRED_TEXT_LIMIT = 400
"""A centred container holding more text than this is a centred page layout, not a centred line."""


@attrs.frozen
class Line:
    """One line of the page as a reader sees it."""

    text: str
    """The raw text (not yet normalised); :data:`BR_MARK` where a single ``<br>`` broke it."""
    centred: bool | None = None
    """Shown centred; None when unknown (plain text)."""
    link_only: bool = False
    """Every visible character is inside a link: navigation, related papers, an advert."""
    links: tuple[str, ...] = ()
    """The raw texts of the links on the line, in order (tag links, breadcrumbs)."""
    heading: bool = False
    """Inside ``<h1>``-``<h6>``."""
    chrome: bool = False
    """Inside a hint of chrome (``<nav>``, ``<aside>``, ``<footer>``, an ``ad`` class)."""


def lines_from_text(text: str) -> list[Line]:
    """Lines of text a person copied from a browser: one line per non-blank text line."""
    return [Line(text=line) for line in text.splitlines() if _visible(line)]


def lines_from_html(root: etree._Element) -> list[Line]:
    """The visible lines of a parsed page, in document (reading) order."""
    builder = _LineBuilder()
    builder.walk(root)
    builder.flush()
    return builder.lines


@attrs.frozen
class _Context:
    """What the ancestors of a piece of text say about it."""

    in_link: bool = False
    centred: bool = False
    heading: bool = False
    chrome: bool = False


_CONTEXTS: dict[tuple[bool, bool, bool, bool], _Context] = {}
"""The 16 possible contexts, made once: an element's context is looked up, not built (a third of the walk)."""


def _context(in_link: bool, centred: bool, heading: bool, chrome: bool) -> _Context:
    key = (in_link, centred, heading, chrome)
    found = _CONTEXTS.get(key)
    if found is None:
        found = _CONTEXTS[key] = _Context(*key)
    return found


class _LineBuilder:
    """Walks the tree once, with an explicit stack (hostile pages nest ten thousand deep)."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self._pieces: list[tuple[str, _Context]] = []  # (text, context): a tuple is cheaper than an object
        self._links: list[str] = []
        self._br_run = 0

    # -- line assembly ---------------------------------------------------------

    def text(self, text: str | None, context: _Context) -> None:
        if not text:
            return
        if text.strip():
            self._br_run = 0
        self._pieces.append((text, context))

    def br(self, context: _Context) -> None:
        self._br_run += 1
        if self._br_run >= 2:
            self.flush()
        else:
            self._pieces.append((BR_MARK, context))

    def flush(self) -> None:
        self._br_run = 0
        pieces, self._pieces = self._pieces, []
        links, self._links = self._links, []
        text = "".join([p[0] for p in pieces]).strip()  # str.strip() also takes BR_MARK: it is white space
        if not _visible(text):
            return
        seen = [context for piece, context in pieces if _visible(piece)]
        self.lines.append(
            Line(
                text=text,
                centred=all(c.centred for c in seen),
                link_only=all(c.in_link for c in seen),
                links=tuple(links),
                heading=any(c.heading for c in seen),
                chrome=all(c.chrome for c in seen),
            )
        )

    # -- the walk --------------------------------------------------------------

    def walk(self, root: etree._Element) -> None:
        # (element, closing, the context of its parent): a tail belongs to the parent
        stack: list[tuple[etree._Element, bool, _Context]] = [(root, False, _context(False, False, False, False))]
        while stack:
            element, closing, outer = stack.pop()
            tag = _tag(element)
            if closing:
                if tag in BLOCK_TAGS:
                    self.flush()
                self.text(element.tail, outer)
                continue
            attributes = element.items()  # most elements have none: one call instead of one per attribute
            if not tag or tag in SKIPPED_TAGS or (attributes and _is_hidden(attributes)):
                self.text(element.tail, outer)
                continue
            if tag == "br":
                self.br(outer)
                self.text(element.tail, outer)
                continue
            if tag in BLOCK_TAGS:
                self.flush()
            centred = outer.centred or ((tag == "center" or bool(attributes)) and _is_centred(element, tag, attributes))
            chrome = outer.chrome or tag in CHROME_TAGS or bool(attributes) and _is_ad(attributes)
            inner = _context(outer.in_link or tag == "a", centred, outer.heading or tag in HEADING_TAGS, chrome)
            if tag == "a":
                label = _text_of(element)
                if label.strip():
                    self._links.append(label)
            self.text(element.text, inner)
            if len(element):
                stack.append((element, True, outer))
                stack.extend((child, False, inner) for child in reversed(element))
            else:  # a leaf: its end tag is now
                if tag in BLOCK_TAGS:
                    self.flush()
                self.text(element.tail, outer)


def _is_centred(element: etree._Element, tag: str, attributes: list[tuple[str, str]]) -> bool:
    marked = tag == "center" or any(
        (name == "style" and _CENTRED_STYLE_RE.search(value)) or (name == "align" and value.strip().lower() == "center")
        for name, value in attributes
    )
    return marked and _text_length(element, _CENTRED_TEXT_LIMIT) <= _CENTRED_TEXT_LIMIT


def _tag(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):  # comments, processing instructions
        return ""
    found = _TAG_NAMES.get(tag)
    if found is None:
        found = tag.rsplit("}", 1)[-1].lower()
        if len(_TAG_NAMES) < 4096:  # hostile pages may invent endless tag names
            _TAG_NAMES[tag] = found
    return found


_TAG_NAMES: dict[str, str] = {}
"""Raw tag → bare lower-case name, computed once per distinct tag."""


def _is_hidden(attributes: list[tuple[str, str]]) -> bool:
    return any(name == "hidden" or (name == "style" and _HIDDEN_STYLE_RE.search(value)) for name, value in attributes)


def _is_ad(attributes: list[tuple[str, str]]) -> bool:
    return any(
        name == "class" and any(c == "ad" or c.startswith("ad-") for c in value.split()) for name, value in attributes
    )


_WORD_RE = re.compile(r"\w")


def _visible(text: str) -> bool:
    """Text a line is made of: a letter, digit or CJK character (a lone ";" or "|" is no line)."""
    return _WORD_RE.search(text) is not None


def _text_of(element: etree._Element) -> str:
    """The visible text inside an element (scripts and hidden parts left out)."""
    parts: list[str] = []
    stack = [(element, False)]
    while stack:
        node, closing = stack.pop()
        if closing:
            if node is not element and node.tail:
                parts.append(node.tail)
            continue
        tag = _tag(node)
        attributes = node.items()
        if not tag or tag in SKIPPED_TAGS or (attributes and _is_hidden(attributes)):
            if node is not element and node.tail:
                parts.append(node.tail)
            continue
        if node.text:
            parts.append(node.text)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node))
    return "".join(parts)


def _text_length(element: etree._Element, limit: int) -> int:
    """Characters of text inside ``element``, counting stops a little past ``limit``."""
    total = 0
    for text in element.itertext():
        total += len(text.strip())
        if total > limit:
            break
    return total
