"""Pull an article's fields out of what a reader sees.

Input is the page's visible lines (:mod:`pipelines.visible`) and, for HTML, its ``<title>``
and canonical link; output is an :class:`ExtractedArticle` with every value normalised as the
SPEC says, or a :class:`PageClass` that says why the page is not an article. Nothing here
depends on tag or class names: the title is the line the ``<title>`` names (or the one that
carries the site's "论文_{authors}" suffix), the metadata are the labelled lines wherever they
sit, the body is what stands between the title and the page's closing chrome once links,
labels and repeats are taken out. A value the page does not carry is None (or an empty list),
never a guess.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import threading
from collections.abc import Sequence

import attrs
from lxml import etree

from pipelines import labels, urls
from pipelines.normalize import normalize_paragraphs, normalize_text
from pipelines.visible import BR_MARK, Line, lines_from_html, lines_from_text

SITE_TITLE_SUFFIX_RE = re.compile(r"\s*[-_|–—]\s*期刊图书馆\s*$")
END_RE = re.compile(r"^(?:猜你喜欢|相关论文|相关文章|推荐阅读|相关推荐|下载\s*Doc\s*文档|Copyright|©|版权所有)", re.I)
"""Lines where the article ends and the page's closing chrome begins."""
CHROME_PREFIX_RE = re.compile(r"^(?:来源|文章来源|分享到?|责任编辑|上一篇|下一篇|浏览次数|阅读次数|点击次数|打印|收藏)\s*[:：]?")
CHROME_LINE_CHARS = 40
"""A chrome line (source, share links, next/previous) is short; a paragraph that starts with 来源 is not."""
AD_WORD = "广告"
AD_LINE_CHARS = 80
AFFILIATION_MAX_CHARS = 80
SENTENCE_END_RE = re.compile(r"[。！？!?；]")
OPENING, CLOSING = "（(", "）)"


class PageClass(enum.Enum):
    ARTICLE = "article"
    SOFT_404 = "soft_404"
    NOT_ARTICLE = "not_article"
    TEMPLATE_MISMATCH = "template_mismatch"


@attrs.define(kw_only=True)
class ArticleFields:
    """The SPEC fields a reader sees on an article page, cleaned, before segmentation."""

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


@attrs.define(kw_only=True)
class ExtractedArticle(ArticleFields):
    """An article's fields with the URL and id that name it."""

    article_id: str
    url: str


@attrs.define(kw_only=True)
class ArticleText(ArticleFields):
    """What the lines of a page say, before it is known to be an article at a URL."""

    printed_title: str
    """The title as printed, with the site's "论文_{authors}" (empty when none was found)."""
    labelled: int
    """How many of 论文作者 / 论文发表刊物 / 论文发表时间 the page shows."""
    soft_404: bool

    def looks_like_article(self) -> bool:
        """A reader would call it an article page: labelled lines, or the site's title suffix."""
        if self.labelled:
            return True
        return "论文_" in self.printed_title or (self.printed_title.endswith("论文") and bool(self.paragraphs))


@attrs.define
class Page:
    """A parsed HTML page: its lines, ``<title>`` and canonical link."""

    lines: list[Line]
    document_title: str | None
    canonical_href: str | None


def parse_page(html: str) -> Page:
    """Parse decoded HTML once into what the later steps read."""
    root = html_root(html)
    title = next(root.iter("title"), None)  # the first in document order, like //title
    document_title = "".join(title.itertext()) if title is not None else None
    return Page(lines_from_html(root), document_title, _canonical_href(root))


_PARSERS = threading.local()


def html_root(html: str) -> etree._Element:
    """The root element of ``html``; an empty ``<html>`` for a blank page.

    lxml's plain HTML parser (lxml.html's calls back into Python to pick a class for every
    element the walk touches; lines_from_html needs only plain elements), recovering from
    broken markup, over the text's UTF-8 bytes without NULs. One parser per thread (lxml
    parsers must not be shared between threads), reused: making one for every page cost
    about 40 µs of a 150 µs parse.
    """
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = etree.HTMLParser(recover=True, encoding="utf-8", huge_tree=True)
    root = etree.fromstring(html.strip().replace("\x00", "").encode("utf-8") or b"<html/>", parser=parser)
    return root if root is not None else etree.fromstring(b"<html/>", parser=parser)


_XPATH_SPACE = str.maketrans("\t\n\r", "   ")
"""XPath's white space besides " " (``normalize-space`` knows no other)."""


def _canonical_href(root: etree._Element) -> str | None:
    """The ``href`` of the first ``<link>`` whose ``rel`` has the token ``canonical``.

    What ``//link[contains(concat(' ', normalize-space(@rel), ' '), ' canonical ')]/@href``
    finds, without two XPath evaluations over the whole document per page.
    """
    for link in root.iter("link"):
        rel = link.get("rel")
        if rel is not None and "canonical" in rel and "canonical" in rel.translate(_XPATH_SPACE).split(" "):
            href = link.get("href")
            if href is not None:
                return href
    return None


def read_lines(lines: Sequence[Line], document_title: str | None = None) -> ArticleText:
    """The line-level step: every article field a reader can see in ``lines``."""
    labelled, meta, tag_texts = labels.labelled_lines(lines)
    title_at, printed = _title_line(lines, document_title, labelled)
    authors = _split_authors(meta.get("论文作者"))
    title, title_authors = _split_title(printed, authors)
    if not authors and title_authors:
        authors = title_authors  # the 论文作者 line is missing or empty; the title still names them

    journal, year, issue, issue_label = labels.parse_journal_line(meta.get("论文发表刊物"))
    if journal is None or year is None or issue_label is None:
        crumb_journal, crumb_year, crumb_issue, crumb_label = labels.parse_breadcrumb(lines, printed)
        if journal is None:
            journal = crumb_journal
        if year is None:
            year = crumb_year
        if issue_label is None:
            issue, issue_label = crumb_issue, crumb_label

    affiliations, paragraphs = _content(lines, title_at, printed, labelled)
    soft_404 = not meta and any(
        labels.SOFT_404_MARKER in line.text and len(line.text.strip()) <= 60 for line in lines if not line.link_only
    )
    return ArticleText(
        title=title or None,
        authors=authors,
        affiliations=affiliations,
        journal=journal or None,
        year=year,
        issue=issue,
        issue_label=issue_label or None,
        published_date=labels.parse_date(meta.get("论文发表时间")),
        tags=tag_texts,
        paragraphs=paragraphs,
        printed_title=printed,
        labelled=len(meta),
        soft_404=soft_404,
    )


def read_text(text: str) -> ArticleText:
    """:func:`read_lines` over text copied from a browser (the SPEC's ``seed-article.txt``)."""
    return read_lines(lines_from_text(text))


def classify(text: ArticleText, url: str, link_kind: str | None) -> PageClass:
    """What a page is, by what it shows; the URL only says whether an article was expected there."""
    if text.soft_404:
        return PageClass.SOFT_404
    if text.looks_like_article():
        return PageClass.ARTICLE
    expected = link_kind == "article" if link_kind is not None else urls.looks_like_article_url(url)
    return PageClass.TEMPLATE_MISMATCH if expected else PageClass.NOT_ARTICLE


def article_url(page: Page, page_url: str) -> str:
    """The one true URL: the canonical link when it names an article, else the page URL
    without query, fragment and mobile prefix."""
    if page.canonical_href:
        resolved = urls.resolve(page_url, page.canonical_href)
        canonical = urls.canonical_article_url(resolved) if resolved else None
        if canonical:
            return canonical
    return urls.canonical_article_url(page_url) or page_url


def to_article(text: ArticleText, url: str) -> ExtractedArticle:
    article_id = urls.article_id(url)
    if article_id is None:
        raise ValueError(f"{url} has no article id (no digits in its path)")
    fields = {field.name: getattr(text, field.name) for field in attrs.fields(ArticleFields)}
    return ExtractedArticle(article_id=article_id, url=url, **fields)


# -- the title -------------------------------------------------------------------


def _title_line(lines: Sequence[Line], document_title: str | None, labelled: set[int]) -> tuple[int | None, str]:
    """Where the article's title line is, and its text as printed (normalised).

    In order: the line the ``<title>`` names; a heading with the site's 论文 suffix; a line
    with "论文_" that the page prints twice (title above and below the body); any heading.
    """
    texts = [normalize_text(line.text) if not line.link_only else "" for line in lines]
    core = SITE_TITLE_SUFFIX_RE.sub("", normalize_text(document_title)) if document_title else ""
    if core:
        for i, text in enumerate(texts):
            if text == core and i not in labelled:
                return i, text
    for i, line in enumerate(lines):
        if line.heading and i not in labelled and not _heads_a_link_list(lines, i):
            if "论文_" in texts[i] or (texts[i].endswith("论文") and len(texts[i]) >= 8):
                return i, texts[i]
    for i, text in enumerate(texts):
        if "论文_" in text and i not in labelled and texts.count(text) >= 2:
            return i, text
    for i, line in enumerate(lines):
        if line.heading and texts[i] and not line.chrome and i not in labelled:
            return i, texts[i]
    return None, core


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
    return [name for name in labels.AUTHOR_SEPARATORS_RE.split(line) if name]


# -- affiliations and body --------------------------------------------------------------


def _content(
    lines: Sequence[Line], title_at: int | None, printed: str, labelled: set[int]
) -> tuple[list[str], list[str]]:
    """Affiliations (the centred or parenthesised lines that come first) and body paragraphs."""
    start = title_at + 1 if title_at is not None else 0
    candidates: list[Line] = []
    for i in range(start, len(lines)):
        line = lines[i]
        text = normalize_text(line.text.replace(BR_MARK, " "))
        if END_RE.match(text):
            break
        if i in labelled or line.link_only or line.chrome or not text:
            continue
        if text == printed or labels.is_crumb(text) or _is_chrome_line(text, lines, i):
            continue
        candidates.append(line)
    affiliations: list[str] = []
    first_body = 0
    for index, line in enumerate(candidates):
        if not _is_affiliation(line, is_last=index == len(candidates) - 1):
            break
        parts = [normalize_text(p) for p in line.text.split(BR_MARK)]
        affiliations.extend(_strip_parentheses(p) for p in parts if p)
        first_body = index + 1
    paragraphs = normalize_paragraphs(line.text for line in candidates[first_body:])
    return [a for a in affiliations if a], paragraphs


def _is_chrome_line(text: str, lines: Sequence[Line], at: int) -> bool:
    """A short source/share/next line, or the heading of a list of links (热门期刊, 最新论文)."""
    if len(text) <= CHROME_LINE_CHARS and CHROME_PREFIX_RE.match(text):
        return True
    if len(text) <= AD_LINE_CHARS and AD_WORD in text:  # an advert whose text is partly outside its link
        return True
    link_chars = sum(len(normalize_text(link)) for link in lines[at].links)
    if link_chars * 2 >= len(text):  # mostly links: a share bar, a link list with separators
        return True
    return len(text) <= 12 and _heads_a_link_list(lines, at)


def _heads_a_link_list(lines: Sequence[Line], at: int) -> bool:
    following = lines[at + 1 : at + 3]
    return bool(following) and all(n.link_only for n in following)


def _is_affiliation(line: Line, *, is_last: bool) -> bool:
    text = normalize_text(line.text.replace(BR_MARK, " "))
    if _strip_parentheses(text) != text:
        return True
    if line.centred is None:  # plain text: a short line with no sentence in it
        return not is_last and len(text) <= AFFILIATION_MAX_CHARS and not SENTENCE_END_RE.search(text)
    return line.centred


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


__all__ = [
    "ArticleText",
    "ExtractedArticle",
    "Page",
    "PageClass",
    "article_url",
    "classify",
    "parse_page",
    "read_lines",
    "read_text",
    "to_article",
]
