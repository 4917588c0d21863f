"""Pull an article's fields out of the page chrome.

Input is decoded HTML and its URL; output is an :class:`ExtractedArticle`
with every value normalised as the SPEC says, or a classification that says
why the page is not an article. A value the page does not carry is None (or
an empty list), never a guess.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
from collections.abc import Iterator

import attrs
from lxml import etree
from parsel import Selector
from parsel.csstranslator import HTMLTranslator

from pipelines import urls
from pipelines.normalize import normalize_paragraphs, normalize_text

SOFT_404_MARKER = "您访问的页面不存在"
SITE_TITLE_SUFFIX_RE = re.compile(r"\s*[-_|–—]\s*期刊图书馆\s*$")
META_LINE_RE = re.compile(r"^(论文作者|论文发表刊物|论文发表时间)\s*[:：]?\s*(.*)$")
AUTHOR_SEPARATORS_RE = re.compile(r"[\s,，、;；]+")
JOURNAL_LINE_RE = re.compile(r"^《(?P<journal>[^》]*)》\s*(?P<rest>.*)$")
YEAR_ISSUE_RE = re.compile(r"(?<![0-9])(?P<year>[0-9]{4})\s*年\s*(?P<label>.*)$")
"""Four ASCII digits, not the tail of a longer number: "99999年" is no year."""
ISSUE_NUMBER_RE = re.compile(r"(?<![0-9])([0-9]{1,5})\s*期")
"""At most five digits, so ``int()`` never meets an endless digit run (Python refuses over 4300)."""
DATE_RE = re.compile(r"(?<![0-9])([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})(?![0-9])")
TAG_SEPARATORS_RE = re.compile(r"[;；,，]+")
CENTRED_STYLE_RE = re.compile(r"text-align\s*:\s*center", re.I)
OPENING, CLOSING = "（(", "）)"

BLOCK_TAGS = frozenset(
    "p div li ul ol h1 h2 h3 h4 h5 h6 blockquote section article table tr td th "
    "center dl dt dd pre hr header footer aside figure figcaption".split()
)
"""Elements that end a paragraph where they start and where they end."""
SKIPPED_TAGS = frozenset(
    "script style noscript iframe img object embed select button input textarea "
    "form svg video audio canvas ins".split()
)
"""Elements whose text is never body text."""


class PageClass(enum.Enum):
    ARTICLE = "article"
    SOFT_404 = "soft_404"
    NOT_ARTICLE = "not_article"
    TEMPLATE_MISMATCH = "template_mismatch"


@attrs.define(kw_only=True)
class ExtractedArticle:
    """The cleaned fields of one article page, before segmentation."""

    article_id: str
    url: str
    title: str | None
    authors: list[str]
    affiliations: list[str]
    journal: str | None
    year: int | None
    issue: int | None
    issue_label: str | None
    published_date: dt.date | None
    tags: list[str]
    paragraphs: list[str]

    @property
    def body(self) -> str:
        return "\n".join(self.paragraphs)


def parse_html(html: str) -> Selector:
    return Selector(text=html, type="html")


_TEXT_NODES = etree.XPath("descendant-or-self::text()", smart_strings=False)
_CANONICAL_HREFS = etree.XPath(
    "//link[contains(concat(' ', normalize-space(@rel), ' '), ' canonical ')]/@href", smart_strings=False
)
_TITLE_TEXT = etree.XPath("descendant-or-self::title/text()", smart_strings=False)


@functools.lru_cache(maxsize=None)
def _css(query: str) -> etree.XPath:
    """A CSS query compiled once, as parsel would translate it (``sel.css`` recompiles it each call)."""
    return etree.XPath(HTMLTranslator().css_to_xpath(query))


def _select(scope: Selector | etree._Element | list[etree._Element], query: str) -> list[etree._Element]:
    """The elements ``query`` selects inside the page, an element, or each of several, in order."""
    if isinstance(scope, Selector):
        scope = scope.root
    if isinstance(scope, list):
        return [found for element in scope for found in _css(query)(element)]
    return _css(query)(scope)


def _joined_text(elements: etree._Element | list[etree._Element]) -> str:
    """The text nodes inside the elements, in document order, joined by spaces:
    what ``" ".join(selection.css("::text").getall())`` gives, without a Selector per text node."""
    roots = elements if isinstance(elements, list) else [elements]
    return " ".join(text for root in roots for text in _TEXT_NODES(root))


def classify(sel: Selector, url: str) -> PageClass:
    """Decide what a page is before extracting anything from it."""
    h1_text = normalize_text(_joined_text(_select(sel, "h1")))
    if SOFT_404_MARKER in h1_text:
        return PageClass.SOFT_404
    has_markup = bool(_select(sel, "div.content, #content, h1.title"))
    is_article_url = urls.article_id(url) is not None or urls.article_id(canonical_url(sel, url) or "") is not None
    if not is_article_url:
        return PageClass.NOT_ARTICLE
    if not has_markup:
        return PageClass.TEMPLATE_MISMATCH
    return PageClass.ARTICLE


def canonical_url(sel: Selector, page_url: str) -> str | None:
    """``<link rel="canonical">`` resolved against the page URL, if it names an article."""
    for href in _CANONICAL_HREFS(sel.root):
        resolved = urls.resolve(page_url, href)
        if urls.article_id(resolved):
            return urls.canonical_article_url(resolved)
    return None


def extract_article(sel: Selector, page_url: str) -> ExtractedArticle:
    """Every SPEC field of an article page (call after :func:`classify` said ARTICLE)."""
    url = canonical_url(sel, page_url) or urls.canonical_article_url(page_url)
    if url is None:
        raise ValueError(f"{page_url} has no article URL")
    article_id = urls.article_id(url)
    assert article_id is not None

    meta = _metadata_lines(sel)
    authors = _split_authors(meta.get("论文作者"))
    title, title_authors = _split_title(_raw_title(sel), authors)
    if not authors and title_authors:
        authors = title_authors  # the 论文作者 line is missing or empty; the title still names them

    journal, year, issue, issue_label = _parse_journal_line(meta.get("论文发表刊物"))
    if journal is None or year is None or issue_label is None:
        crumb_journal, crumb_year, crumb_issue, crumb_label = _parse_breadcrumb(sel)
        if journal is None:
            journal = crumb_journal
        if year is None:
            year = crumb_year
        if issue_label is None:
            issue, issue_label = crumb_issue, crumb_label

    content = _content_element(sel)
    affiliations, paragraphs = _split_content(content) if content is not None else ([], [])
    return ExtractedArticle(
        article_id=article_id,
        url=url,
        title=title or None,
        authors=authors,
        affiliations=affiliations,
        journal=journal or None,
        year=year,
        issue=issue,
        issue_label=issue_label or None,
        published_date=_parse_date(meta.get("论文发表时间")),
        tags=_tags(sel),
        paragraphs=paragraphs,
    )


# -- title and authors ---------------------------------------------------------


def _raw_title(sel: Selector) -> str:
    for query in ("h1.title", "div.article h1", "div.bottom-title"):
        text = normalize_text(_joined_text(_select(sel, query)))
        if text:
            return text
    texts = _TITLE_TEXT(sel.root)
    return SITE_TITLE_SUFFIX_RE.sub("", normalize_text(texts[0] if texts else None))


def _split_title(text: str, authors: list[str]) -> tuple[str, list[str]]:
    """Remove the site's "论文" and "_{authors}" from a printed title.

    Returns the title and the authors the suffix named (split on spaces).
    """
    if authors:
        suffix = "论文_" + " ".join(authors)
        if text.endswith(suffix):
            return text[: -len(suffix)].strip(), list(authors)
    cut = text.rfind("论文_")
    if cut >= 0:
        named = [a for a in text[cut + 3 :].split(" ") if a]
        return text[:cut].strip(), named
    if text.endswith("论文"):
        return text[:-2].strip(), []
    return text, []


def _split_authors(line: str | None) -> list[str]:
    if not line:
        return []
    return [name for name in AUTHOR_SEPARATORS_RE.split(line) if name]


# -- metadata lines -------------------------------------------------------------


def _metadata_lines(sel: Selector) -> dict[str, str]:
    """The "论文作者", "论文发表刊物" and "论文发表时间" lines, normalised, keyed by label."""
    found: dict[str, str] = {}
    nodes = _select(sel, "div.paper-info p, div.paper-info li, div.paper-info div")
    if not nodes:
        nodes = _select(sel, "div.article p, div.article li")
    for node in nodes:
        text = normalize_text(_joined_text(node))
        match = META_LINE_RE.match(text)
        if match and match.group(1) not in found:
            found[match.group(1)] = match.group(2).strip()
    return found


def _parse_journal_line(
    line: str | None,
) -> tuple[str | None, int | None, int | None, str | None]:
    """《{journal}》{year}年{label} → (journal, year, issue, issue_label)."""
    if not line:
        return None, None, None, None
    match = JOURNAL_LINE_RE.match(line)
    if match:
        journal, rest = match.group("journal").strip(), match.group("rest")
    else:
        year_match = YEAR_ISSUE_RE.search(line)
        journal = line[: year_match.start()].strip() if year_match else line
        rest = line[year_match.start() :] if year_match else ""
    year, issue, label = _parse_year_issue(rest)
    return journal or None, year, issue, label


def _parse_year_issue(text: str) -> tuple[int | None, int | None, str | None]:
    match = YEAR_ISSUE_RE.search(text)
    if not match:
        return None, None, None
    label = match.group("label").strip() or None
    issue = None
    if label:
        number = ISSUE_NUMBER_RE.search(label)
        if number and int(number.group(1)) <= 32767:
            issue = int(number.group(1))
    return int(match.group("year")), issue, label


def _parse_breadcrumb(sel: Selector) -> tuple[str | None, int | None, int | None, str | None]:
    """Journal and issue from ``div.position``: 首页 > {journal} > {year}年第{issue}期 > {title}."""
    crumb = _select(sel, "div.position")
    if not crumb:
        return None, None, None, None
    journal = None
    year = issue = label = None
    for link in _select(crumb, "a"):
        href = link.get("href", "")  # not parsel's .attrib: it fails on any attribute with a control character in its name
        text = normalize_text(_joined_text(link))
        kind = urls.page_kind(urls.resolve("http://site.invalid/", href))
        if kind is urls.PageKind.JOURNAL and journal is None:
            journal = text or None
        elif kind is urls.PageKind.ISSUE and year is None:
            year, issue, label = _parse_year_issue(text)
    if journal is None or year is None:
        parts = [p.strip() for p in normalize_text(_joined_text(crumb)).split(">")]
        for i, part in enumerate(parts[1:-1], start=1):
            if YEAR_ISSUE_RE.match(part):
                if year is None:
                    year, issue, label = _parse_year_issue(part)
                if journal is None and i >= 2:
                    journal = parts[i - 1] or None
                break
    return journal, year, issue, label


def _parse_date(line: str | None) -> dt.date | None:
    if not line:
        return None
    match = DATE_RE.search(line)
    if not match:
        return None
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def _tags(sel: Selector) -> list[str]:
    box = _select(sel, "div.tags")
    if not box:
        return []
    links = _select(box, "a")
    if links:
        texts = (normalize_text(_joined_text(a)) for a in links)
    else:
        raw = normalize_text(_joined_text(box))
        raw = re.sub(r"^标签\s*[:：]?", "", raw)
        texts = (normalize_text(t) for t in TAG_SEPARATORS_RE.split(raw))
    return [t for t in texts if t]


# -- content: affiliations and body --------------------------------------------


def _content_element(sel: Selector) -> etree._Element | None:
    for query in ("div.article div.content", "div.content", "#content"):
        found = _select(sel, query)
        if found:
            return found[0]
    return None


def _split_content(content: etree._Element) -> tuple[list[str], list[str]]:
    """Affiliations (the centred lines that come first) and body paragraphs."""
    affiliations: list[str] = []
    children = list(_content_children(content))
    body_start = 0
    for index, (child, text_before) in enumerate(children):
        if text_before.strip():
            break
        if child is None:
            continue
        if _is_skipped(child):
            body_start = index + 1
            continue
        lines = [line for line in map(normalize_text, _paragraphs_of([child], single_br_splits=True)) if line]
        if not lines:
            body_start = index + 1
            continue
        if child.tag == "p" and _is_centred(child):
            affiliations.extend(_strip_parentheses(line) for line in lines)
            body_start = index + 1
            continue
        break
    body_parts: list[str] = []
    for child, text_before in children[body_start:]:
        body_parts.append(text_before)
        if child is not None:
            body_parts.append(child)
    return [a for a in affiliations if a], normalize_paragraphs(_paragraphs_of(body_parts))


def _content_children(content: etree._Element) -> Iterator[tuple[etree._Element | None, str]]:
    """Each child element with the loose text that precedes it; a final (None, tail text)."""
    pending = content.text or ""
    for child in content:
        yield child, pending
        pending = child.tail or ""
    yield None, pending


def _is_centred(element: etree._Element) -> bool:
    return bool(CENTRED_STYLE_RE.search(element.get("style", ""))) or element.get("align", "").lower() == "center"


def _is_skipped(element: etree._Element) -> bool:
    if not isinstance(element.tag, str):  # comments and processing instructions
        return True
    if element.tag.lower() in SKIPPED_TAGS:
        return True
    classes = element.get("class", "").split()
    return any(c == "ad" or c.startswith("ad-") for c in classes)


def _strip_parentheses(text: str) -> str:
    """（中国科学院文献情报中心，北京 100190） → 中国科学院文献情报中心，北京 100190."""
    if len(text) >= 2 and text[0] in OPENING and text[-1] in CLOSING and _balanced(text[1:-1]):
        return text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        if char in OPENING:
            depth += 1
        elif char in CLOSING:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


class _ParagraphBuilder:
    """Collects text into paragraphs: block edges and runs of two or more ``<br>`` split them."""

    def __init__(self, single_br_splits: bool = False) -> None:
        self.paragraphs: list[str] = []
        self._current: list[str] = []
        self._br_run = 0
        self._single_br_splits = single_br_splits

    def text(self, text: str | None) -> None:
        if not text:
            return
        if text.strip():
            self._br_run = 0
        self._current.append(text)

    def br(self) -> None:
        self._br_run += 1
        if self._br_run >= 2 or self._single_br_splits:
            self.flush()
        else:
            self._current.append(" ")

    def flush(self) -> None:
        if self._current:
            self.paragraphs.append("".join(self._current))
            self._current = []

    def element(self, root: etree._Element, *, tail: bool = True) -> None:
        """Walk ``root`` and everything inside it in document order; ``root``'s own tail text only if ``tail``.

        With an explicit stack, not recursion: a hostile page can nest tags ten
        thousand deep, past Python's recursion limit. The tree is only read:
        lxml refuses to store back some text it parsed (control characters).
        """

        def tail_of(element: etree._Element) -> str | None:
            return element.tail if tail or element is not root else None

        stack: list[tuple[etree._Element, bool]] = [(root, False)]  # (element, its end tag is next)
        while stack:
            element, closing = stack.pop()
            if closing:
                if element.tag.lower() in BLOCK_TAGS:
                    self.flush()
                    self._br_run = 0
                self.text(tail_of(element))
                continue
            if _is_skipped(element):
                self.text(tail_of(element))
                continue
            tag = element.tag.lower()
            if tag == "br":
                self.br()
                self.text(tail_of(element))
                continue
            if tag in BLOCK_TAGS:
                self.flush()
                self._br_run = 0
            self.text(element.text)
            stack.append((element, True))
            stack.extend((child, False) for child in reversed(element))


def _paragraphs_of(parts: list[etree._Element | str], single_br_splits: bool = False) -> list[str]:
    """Raw paragraphs of loose text and elements in document order (the elements' tails excluded)."""
    builder = _ParagraphBuilder(single_br_splits)
    for part in parts:
        if isinstance(part, str):
            builder.text(part)
        else:
            builder.element(part, tail=False)
    builder.flush()
    return builder.paragraphs
