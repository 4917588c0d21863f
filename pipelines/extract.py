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
from collections.abc import Sequence

import attrs
from parsel import Selector

from pipelines import urls
from pipelines.normalize import normalize_paragraphs, normalize_text
from pipelines.visible import BR_MARK, Line, lines_from_html, lines_from_text

SOFT_404_MARKER = "页面不存在"
SITE_TITLE_SUFFIX_RE = re.compile(r"\s*[-_|–—]\s*期刊图书馆\s*$")
META_LABELS = ("论文作者", "论文发表刊物", "论文发表时间")
META_LINE_RE = re.compile(r"^[【\[]?(论文作者|论文发表刊物|论文发表时间)[】\]]?\s*[:：]?\s*(.*)$")
TAGS_LINE_RE = re.compile(r"^[【\[]?标签[】\]]?\s*(?:[:：]\s*(.*)|$)")
LABEL_START_RE = re.compile(r"(?<=\s)(?=(?:论文作者|论文发表刊物|论文发表时间|标签)\s*[:：])")
"""Where a second labelled line starts inside one line (labels joined by single ``<br>``s)."""
AUTHOR_SEPARATORS_RE = re.compile(r"[\s,，、;；]+")
JOURNAL_LINE_RE = re.compile(r"^《(?P<journal>[^》]*)》\s*(?P<rest>.*)$")
YEAR_ISSUE_RE = re.compile(r"(?<![0-9])(?P<year>[0-9]{4})\s*年\s*(?P<label>.*)$")
"""Four ASCII digits, not the tail of a longer number: "99999年" is no year."""
ISSUE_NUMBER_RE = re.compile(r"(?<![0-9])([0-9]{1,5})\s*期")
"""At most five digits, so ``int()`` never meets an endless digit run (Python refuses over 4300)."""
DATE_RE = re.compile(r"(?<![0-9])([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})(?![0-9])")
TAG_SEPARATORS_RE = re.compile(r"[;；,，]+")
CRUMB_PREFIX_RE = re.compile(r"^(?:当前位置|您的位置|您现在的位置|所在位置|位置)\s*[:：]\s*")
CRUMB_SEPARATORS_RE = re.compile(r"\s*(?:>|＞|»|›|→|/|>>)\s*")
HOME_WORDS = frozenset({"首页", "网站首页", "主页", "期刊图书馆"})
END_RE = re.compile(r"^(?:猜你喜欢|相关论文|相关文章|推荐阅读|相关推荐|下载\s*Doc\s*文档|Copyright|©|版权所有)", re.I)
"""Lines where the article ends and the page's closing chrome begins."""
CHROME_PREFIX_RE = re.compile(r"^(?:来源|文章来源|分享到?|责任编辑|上一篇|下一篇|浏览次数|阅读次数|点击次数|打印|收藏)\s*[:：]?")
CHROME_LINE_CHARS = 40
"""A chrome line (source, share links, next/previous) is short; a paragraph that starts with 来源 is not."""
AFFILIATION_MAX_CHARS = 80
SENTENCE_END_RE = re.compile(r"[。！？!?；]")
OPENING, CLOSING = "（(", "）)"


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


@attrs.define(kw_only=True)
class ArticleText:
    """What the lines of a page say, before it is known to be an article at a URL."""

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
    root = Selector(text=html, type="html").root  # parsel copes with empty and broken documents
    titles = root.xpath("//title")
    document_title = "".join(titles[0].itertext()) if titles else None
    canonical = root.xpath("//link[contains(concat(' ', normalize-space(@rel), ' '), ' canonical ')]/@href")
    return Page(lines_from_html(root), document_title, str(canonical[0]) if canonical else None)


def read_lines(lines: Sequence[Line], document_title: str | None = None) -> ArticleText:
    """The line-level step: every article field a reader can see in ``lines``."""
    labelled, meta, tag_texts = _labelled_lines(lines)
    title_at, printed = _title_line(lines, document_title, labelled)
    authors = _split_authors(meta.get("论文作者"))
    title, title_authors = _split_title(printed, authors)
    if not authors and title_authors:
        authors = title_authors  # the 论文作者 line is missing or empty; the title still names them

    journal, year, issue, issue_label = _parse_journal_line(meta.get("论文发表刊物"))
    if journal is None or year is None or issue_label is None:
        crumb_journal, crumb_year, crumb_issue, crumb_label = _parse_breadcrumb(lines)
        if journal is None:
            journal = crumb_journal
        if year is None:
            year = crumb_year
        if issue_label is None:
            issue, issue_label = crumb_issue, crumb_label

    affiliations, paragraphs = _content(lines, title_at, printed, labelled)
    soft_404 = not meta and any(
        SOFT_404_MARKER in line.text and len(line.text.strip()) <= 60 for line in lines if not line.link_only
    )
    return ArticleText(
        title=title or None,
        authors=authors,
        affiliations=affiliations,
        journal=journal or None,
        year=year,
        issue=issue,
        issue_label=issue_label or None,
        published_date=_parse_date(meta.get("论文发表时间")),
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
    expected = link_kind == "article" if link_kind is not None else _looks_like_article_url(url)
    return PageClass.TEMPLATE_MISMATCH if expected else PageClass.NOT_ARTICLE


def article_url(page: Page, page_url: str) -> str:
    """The one true URL: the canonical link when it names an article, else the page URL
    without query, fragment and mobile prefix."""
    if page.canonical_href:
        resolved = urls.resolve(page_url, page.canonical_href)
        if resolved and _article_id(resolved):
            return _plain_url(resolved)
    return _plain_url(page_url)


# TODO(lead): move to pipelines.urls once discovery lands there
_MOBILE_PREFIX_RE = re.compile(r"^/(?:m|wap|mobile|3g)(?=/)")
_LAST_DIGITS_RE = re.compile(r"[0-9]+(?=[^0-9]*$)")
_ARTICLE_LIKE_RE = re.compile(r"/[0-9]+(?:\.[A-Za-z]{1,5})?/?$")


def _plain_url(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, _MOBILE_PREFIX_RE.sub("", parts.path), "", ""))


def _article_id(url: str) -> str | None:
    from urllib.parse import urlsplit

    match = _LAST_DIGITS_RE.search(urlsplit(url).path)
    return match.group() if match else None


def _looks_like_article_url(url: str) -> bool:
    from urllib.parse import urlsplit

    return bool(_ARTICLE_LIKE_RE.search(urlsplit(url).path))


def to_article(text: ArticleText, url: str) -> ExtractedArticle:
    article_id = _article_id(url)
    if article_id is None:
        raise ValueError(f"{url} has no article id (no digits in its path)")
    fields = attrs.asdict(text, recurse=False)
    for name in ("printed_title", "labelled", "soft_404"):
        del fields[name]
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
    return [name for name in AUTHOR_SEPARATORS_RE.split(line) if name]


# -- labelled lines ----------------------------------------------------------------


def _sublines(line: Line) -> list[str]:
    """The line's parts as a reader reads them: split at single ``<br>``s and before a label."""
    parts = []
    for piece in line.text.split(BR_MARK):
        parts.extend(LABEL_START_RE.split(piece))
    return [text for text in map(normalize_text, parts) if text]


def _labelled_lines(lines: Sequence[Line]) -> tuple[set[int], dict[str, str], list[str]]:
    """The lines that are labels or their values, the metadata values, and the tags.

    A label may carry its value after ":" or "：", or stand in a cell of its own with the value
    in the next line.
    """
    taken: set[int] = set()
    meta: dict[str, str] = {}
    tags: list[str] | None = None
    for i, line in enumerate(lines):
        parts = _sublines(line)
        if not parts or line.link_only:
            continue
        for part in parts:
            match = META_LINE_RE.match(part)
            if match and match.group(1) not in meta:
                label, value = match.group(1), match.group(2).strip()
                if not value and i + 1 < len(lines) and not _is_label(lines[i + 1]):
                    following = normalize_text(lines[i + 1].text.replace(BR_MARK, " "))
                    if _is_value_of(label, following):  # the value in a cell of its own
                        value = following
                        taken.add(i + 1)
                meta[label] = value
                taken.add(i)
                continue
            match = TAGS_LINE_RE.match(part)
            if match and tags is None:
                taken.add(i)
                source, raw = line, match.group(1) or ""
                if not raw.strip() and not line.links and i + 1 < len(lines) and lines[i + 1].link_only:
                    source, raw = lines[i + 1], normalize_text(lines[i + 1].text)
                    taken.add(i + 1)
                tags = _tags(source, raw)
    return taken, meta, tags or []


def _is_value_of(label: str, text: str) -> bool:
    """Whether the line after a bare label is its value (and not, say, the first paragraph)."""
    if label == "论文作者":
        return len(text) <= 60 and not re.search(r"[。！？!?]", text)  # names may be split by ";"
    if label == "论文发表刊物":
        return len(text) <= 100 and bool(YEAR_ISSUE_RE.search(text) or text.startswith("《"))
    return len(text) <= 40 and bool(DATE_RE.search(text))


def _is_label(line: Line) -> bool:
    parts = _sublines(line)
    return bool(parts) and bool(META_LINE_RE.match(parts[0]) or TAGS_LINE_RE.match(parts[0]))


def _tags(line: Line, raw: str) -> list[str]:
    """The tag links' texts; without links, the text split at ";" or ","."""
    if line.links:
        texts = [normalize_text(text) for text in line.links]
    else:
        texts = [normalize_text(t) for t in TAG_SEPARATORS_RE.split(raw)]
    return [t for t in texts if t]


def _parse_journal_line(line: str | None) -> tuple[str | None, int | None, int | None, str | None]:
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


# -- the breadcrumb ------------------------------------------------------------------


def _breadcrumb_parts(lines: Sequence[Line]) -> list[str]:
    """首页 > {journal} > {year}年第{issue}期 > {title}: on one line, or one line a crumb."""
    for i, line in enumerate(lines):
        text = normalize_text(line.text.replace(BR_MARK, " "))
        if len(text) > 300:
            continue
        prefixed = CRUMB_PREFIX_RE.match(text)
        body = text[prefixed.end() :] if prefixed else text
        parts = [p for p in CRUMB_SEPARATORS_RE.split(body) if p]
        if len(parts) >= 2 and (prefixed or parts[0] in HOME_WORDS):
            return parts
        if text in HOME_WORDS and line.link_only:  # a crumb list: one item a line
            following = [normalize_text(n.text) for n in lines[i + 1 : i + 5]]
            run = [text]
            for item in following:
                if not item or len(item) > 120 or item in HOME_WORDS:
                    break
                run.append(item)
                if not YEAR_ISSUE_RE.search(item) and len(run) > 2:
                    break
            if len(run) >= 3 and any(YEAR_ISSUE_RE.match(p) for p in run):
                return run
    return []


def _parse_breadcrumb(lines: Sequence[Line]) -> tuple[str | None, int | None, int | None, str | None]:
    parts = _breadcrumb_parts(lines)
    for i, part in enumerate(parts[1:], start=1):
        if YEAR_ISSUE_RE.match(part):
            year, issue, label = _parse_year_issue(part)
            journal = parts[i - 1] if i >= 2 else None
            return journal, year, issue, label
    if len(parts) >= 3:
        return parts[-2], None, None, None
    return None, None, None, None


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
        if text == printed or _is_crumb(text) or _is_chrome_line(text, lines, i):
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


def _is_crumb(text: str) -> bool:
    return bool(CRUMB_PREFIX_RE.match(text)) or (
        text.split(">", 1)[0].strip() in HOME_WORDS and len(CRUMB_SEPARATORS_RE.split(text)) >= 2
    )


def _is_chrome_line(text: str, lines: Sequence[Line], at: int) -> bool:
    """A short source/share/next line, or the heading of a list of links (热门期刊, 最新论文)."""
    if len(text) <= CHROME_LINE_CHARS and CHROME_PREFIX_RE.match(text):
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
