"""The labelled lines and the breadcrumb: metadata as a reader sees it, wherever it sits.

论文作者 / 论文发表刊物 / 论文发表时间 / 标签 may carry their value after ":" or "：", or stand in a
cell of their own with the value in the next line; several may share one line, joined by single
``<br>``s. The breadcrumb (首页 > {journal} > {year}年第{issue}期 > {title}) may be one line or a
list, one crumb a line. It is the fallback for journal, year and issue.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from pipelines.normalize import has_zero_width, normalize_text
from pipelines.visible import BR_MARK, Line

META_LABELS = ("论文作者", "论文发表刊物", "论文发表时间")
"""The labelled lines every article shows; discovery and extraction both recognise an article by them."""
TAGS_LABEL = "标签"
SOFT_404_MARKER = "页面不存在"
"""What a missing page says (SPEC: "您访问的页面不存在"), in any wording around it."""
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


def _sublines(line: Line) -> list[str]:
    """The line's parts as a reader reads them: split at single ``<br>``s and before a label."""
    parts = []
    for piece in line.text.split(BR_MARK):
        if any(word in piece for word in _LABEL_WORDS):  # the split's look-behind is tried at every character
            parts.extend(LABEL_START_RE.split(piece))
        else:
            parts.append(piece)
    return [text for text in map(normalize_text, parts) if text]


def labelled_lines(lines: Sequence[Line]) -> tuple[set[int], dict[str, str], list[str]]:
    """The lines that are labels or their values, the metadata values, and the tags.

    A label may carry its value after ":" or "：", or stand in a cell of its own with the value
    in the next line.
    """
    taken: set[int] = set()
    meta: dict[str, str] = {}
    tags: list[str] | None = None
    for i, line in enumerate(lines):
        if line.link_only or not _may_hold_label(line.text):
            continue
        parts = _sublines(line)
        if not parts:
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


_LABEL_WORDS = (*META_LABELS, TAGS_LABEL)


def _may_hold_label(text: str) -> bool:
    """Cheap test before normalising: a line that names no label (and has no zero-width character or
    watermark, whose removal could join one) cannot be a labelled line. Most lines are body text.

    Normalising removes nothing else: white space is collapsed, never removed, and the other rules
    map letters, digits and punctuation, none of which is part of a label."""
    if _names_a_label(text):
        return True
    if "期刊图书馆" in text or has_zero_width(text):
        # Many body paragraphs carry the watermark. Whatever label a part of the line shows once
        # normalised, the whole line normalised shows too (the watermark shares no start or end
        # with a label, so its removal cannot cut one), and the title search normalises every
        # line anyway: the cache answers, where splitting the line into parts costs.
        return _names_a_label(normalize_text(text))
    return False


def _names_a_label(text: str) -> bool:
    """A word of :data:`_LABEL_WORDS` is in ``text``.

    Every label word starts with 论文 or is 标签: two substring searches (which skip ahead) rule out
    most lines at half the cost of the regex (which tries each alternative at every character)."""
    return ("论文" in text or "标签" in text) and _LABEL_WORD_RE.search(text) is not None


_LABEL_WORD_RE = re.compile("|".join(map(re.escape, _LABEL_WORDS)))


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


def parse_journal_line(line: str | None) -> tuple[str | None, int | None, int | None, str | None]:
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
    year, issue, label = parse_year_issue(rest)
    return journal or None, year, issue, label


def parse_year_issue(text: str) -> tuple[int | None, int | None, str | None]:
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


def parse_date(line: str | None) -> dt.date | None:
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


def _breadcrumb_parts(lines: Sequence[Line], title: str) -> list[str]:
    """首页 > {journal} > {year}年第{issue}期 > {title}: on one line, or one line a crumb
    (an ``<ol>`` of links ending at the page's title or at an issue)."""
    for i, line in enumerate(lines):
        text = normalize_text(line.text.replace(BR_MARK, " "))
        if len(text) > 300:
            continue
        prefixed = CRUMB_PREFIX_RE.match(text)
        body = text[prefixed.end() :] if prefixed else text
        parts = [p for p in CRUMB_SEPARATORS_RE.split(body) if p]
        if len(parts) >= 2 and (prefixed or parts[0] in HOME_WORDS):
            return parts
        if text in HOME_WORDS and line.link_only:
            run = [text]
            for item in lines[i + 1 : i + 6]:
                item_text = normalize_text(item.text.replace(BR_MARK, " "))
                if not item_text or len(item_text) > 120 or item_text in HOME_WORDS:
                    break
                run.append(item_text)
                if item_text == title or not item.link_only:
                    break
            ends_well = (bool(title) and run[-1] == title) or any(YEAR_ISSUE_RE.match(p) for p in run[1:])
            if len(run) >= 3 and ends_well:
                return run
    return []


def parse_breadcrumb(lines: Sequence[Line], title: str = "") -> tuple[str | None, int | None, int | None, str | None]:
    """(journal, year, issue, issue_label) from the breadcrumb; ``title`` is the page's printed title."""
    parts = _breadcrumb_parts(lines, title)
    for i, part in enumerate(parts[1:], start=1):
        if YEAR_ISSUE_RE.match(part):
            year, issue, label = parse_year_issue(part)
            journal = parts[i - 1] if i >= 2 else None
            return journal, year, issue, label
    if len(parts) >= 3:
        return parts[-2], None, None, None
    return None, None, None, None


def is_crumb(text: str) -> bool:
    return bool(CRUMB_PREFIX_RE.match(text)) or (
        text.split(">", 1)[0].strip() in HOME_WORDS and len(CRUMB_SEPARATORS_RE.split(text)) >= 2
    )
