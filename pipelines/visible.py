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
from collections.abc import Iterator

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
    """The visible lines of a parsed page, in document (reading) order.

    One pass over the tree with an explicit stack (hostile pages nest ten thousand deep). It runs
    for every element of every page, so it is written for speed: the state lives in local
    variables, a tag's role is one dict lookup giving an int of bits (:func:`_tag_kind`), an
    element's context is an int of bits too, and most work is skipped for the common cases (no
    attributes, a leaf link, white space between tags, a line whose pieces share one context).
    """
    lines: list[Line] = []
    texts: list[str] = []  # the pieces of the line being built ...
    contexts: list[int] = []  # ... and the context of each piece
    links: list[str] = []  # the link texts on that line
    br_run = 0  # single <br>s since the last visible text: two end the line
    # One frame per open element: (its children still to walk, their context, the element,
    # whether it is a block, its own context: a tail belongs to the parent).
    stack: list[tuple[Iterator[etree._Element], int, etree._Element | None, int, int]] = [(iter((root,)), 0, None, 0, 0)]
    kinds = _TAG_KINDS
    # White space before a line's first visible piece is never appended: strip() would drop it and
    # the context rule ignores it, and so the many ends of blocks between tags (a tail of "\n  "
    # after every </p>) find ``texts`` empty and cost nothing.
    while stack:
        children, outer, parent, parent_block, parent_outer = stack[-1]
        for element in children:
            kind = kinds.get(element.tag)
            if kind is None:
                kind = _tag_kind(element)
            if not kind & _SKIPPED:
                attributes = element.items()  # most elements have none: one call, not one per attribute
                if attributes:
                    kind |= _attribute_hints(attributes)
            if kind & (_SKIPPED | _HIDDEN):
                pass  # never seen: only its tail (below) is text
            elif kind & _BR:
                br_run += 1
                if br_run >= 2:
                    if texts or links:
                        _flush(lines, texts, contexts, links)
                    br_run = 0
                elif texts:
                    texts.append(BR_MARK)
                    contexts.append(outer)
            else:
                block = kind & _BLOCK
                if block:
                    if texts or links:
                        _flush(lines, texts, contexts, links)
                    br_run = 0
                inner = outer | kind & _CONTEXT_BITS
                if (
                    kind & _CENTRE_HINT
                    and not outer & CENTRED
                    and _text_length(element, _CENTRED_TEXT_LIMIT) <= _CENTRED_TEXT_LIMIT
                ):
                    inner |= CENTRED
                count = len(element)
                if kind & IN_LINK:
                    label = _text_of(element) if count else (element.text or "")  # a leaf's label is its text
                    if label.strip():
                        links.append(label)
                text = element.text
                if text and (texts or not text.isspace()):
                    if br_run and text.strip():
                        br_run = 0
                    texts.append(text)
                    contexts.append(inner)
                if count:  # walk its children next; its end tag comes when they are done
                    stack.append((iter(element), inner, element, block, outer))
                    break
                if block:  # a leaf: its end tag is now
                    if texts or links:
                        _flush(lines, texts, contexts, links)
                    br_run = 0
            tail = element.tail
            if tail and (texts or not tail.isspace()):
                if br_run and tail.strip():
                    br_run = 0
                texts.append(tail)
                contexts.append(outer)
        else:  # the children are done: the parent's end tag
            stack.pop()
            if parent is None:
                continue
            if parent_block:
                if texts or links:
                    _flush(lines, texts, contexts, links)
                br_run = 0
            tail = parent.tail
            if tail and (texts or not tail.isspace()):
                if br_run and tail.strip():
                    br_run = 0
                texts.append(tail)
                contexts.append(parent_outer)
    if texts:
        _flush(lines, texts, contexts, links)
    return lines


IN_LINK, CENTRED, HEADING, CHROME = 1, 2, 4, 8
"""What the ancestors of a piece of text say about it, as bits of an int."""
_TAG_CONTEXT = {"a": IN_LINK, **dict.fromkeys(HEADING_TAGS, HEADING), **dict.fromkeys(CHROME_TAGS, CHROME)}
_CENTRE_HINT, _HIDDEN, _SKIPPED, _BR, _BLOCK = 16, 32, 64, 128, 256
"""More bits, of a tag's kind (:func:`_tag_kind`) and its attributes' hints (:func:`_attribute_hints`)."""
_CONTEXT_BITS = IN_LINK | HEADING | CHROME
"""The bits of a kind that its element passes on to the text inside (CENTRED needs a length check)."""


def _flush(lines: list[Line], texts: list[str], contexts: list[int], links: list[str]) -> None:
    """End the line being built: append it to ``lines`` if a reader would see it, and start afresh."""
    text = "".join(texts).strip()  # str.strip() also takes BR_MARK: it is white space
    if not text or _find_word(text) is None:  # not _visible(text), without a call per line
        texts.clear()
        contexts.clear()
        links.clear()
        return
    first = contexts[0]
    if contexts.count(first) == len(contexts):  # one context: it is the context of every visible piece
        every = some = first
    else:
        every, some = -1, 0
        for piece, context in zip(texts, contexts, strict=True):
            if _find_word(piece) is not None:
                every &= context
                some |= context
    texts.clear()
    contexts.clear()
    if links:
        found = tuple(links)
        links.clear()
    else:
        found = ()
    # Positional: attrs' generated __init__ takes keywords at half the speed, once for every line.
    # (text, centred, link_only, links, heading, chrome)
    lines.append(Line(text, every & CENTRED != 0, every & IN_LINK != 0, found, some & HEADING != 0, every & CHROME != 0))


def _attribute_hints(attributes: list[tuple[str, str]]) -> int:
    """_HIDDEN, _CENTRE_HINT and CHROME (an advert) from an element's attributes, in one pass."""
    hints = 0
    for name, value in attributes:
        if name == "style":
            if _HIDDEN_STYLE_RE.search(value):
                hints |= _HIDDEN
            if _CENTRED_STYLE_RE.search(value):
                hints |= _CENTRE_HINT
        elif name == "class":
            if "ad" in value and any(c == "ad" or c.startswith("ad-") for c in value.split()):
                hints |= CHROME
        elif name == "hidden":
            hints |= _HIDDEN
        elif name == "align":
            if value.strip().lower() == "center":
                hints |= _CENTRE_HINT
    return hints


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


_TAG_NAMES: dict[object, str] = {etree.Comment: "", etree.ProcessingInstruction: "", etree.Entity: ""}
"""Raw tag → bare lower-case name, computed once per distinct tag ("" for comments and the like)."""


def _tag_kind(element: etree._Element) -> int:
    """What a tag is to the walk, as bits: skipped, ``<br>``, a block, its context, a centre hint."""
    name = _tag(element)
    if not name or name in SKIPPED_TAGS:
        kind = _SKIPPED
    elif name == "br":
        kind = _BR
    else:
        kind = _TAG_CONTEXT.get(name, 0) | (_BLOCK if name in BLOCK_TAGS else 0) | (_CENTRE_HINT if name == "center" else 0)
    if len(_TAG_KINDS) < 4096:  # hostile pages may invent endless tag names
        _TAG_KINDS[element.tag] = kind
    return kind


_TAG_KINDS: dict[object, int] = {etree.Comment: _SKIPPED, etree.ProcessingInstruction: _SKIPPED, etree.Entity: _SKIPPED}
"""Raw tag → its kind, computed once per distinct tag."""


def _is_hidden(attributes: list[tuple[str, str]]) -> bool:
    return any(name == "hidden" or (name == "style" and _HIDDEN_STYLE_RE.search(value)) for name, value in attributes)


_WORD_RE = re.compile(r"\w")
_find_word = _WORD_RE.search


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
