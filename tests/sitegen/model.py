"""The site's data model: journals, issues, articles (clean truth) and how each page is styled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ISSUE_PAGE_SIZE = 3
"""Articles per issue page; a fourth article goes to the issue's second page."""
JOURNAL_PAGE_SIZE = 3
HOME_JOURNALS = 2
"""Journals linked from the home page and the sidebar: the rest are reachable
only through the paginated journal index, so pagination must be followed."""
TAG_SLOTS = 8

@dataclass
class Style:
    """How one article page is rendered; every field is a quirk of the SPEC."""

    template: str = "modern"  # modern | old_p | old_div
    old_sep: str = "double"  # double | triple | ws
    old_trailing_br: bool = False
    encoding: str = "utf-8"  # utf-8 | utf-8-nometa | gbk
    canonical: str = "root"  # root (/paper/ID.html) | bare (ID.html) | dotdot (../paper/ID.html)
    title_kind: str = "plain"  # plain | ends_lunwen | space | fullwidth | punct
    n_authors: int = 1
    author_sep: str = "，"
    authors_line: bool = True
    n_aff: int = 1
    aff_wrap: str = "full"  # full （） | half () | none
    aff_space: bool = False
    watermark: tuple[str, str] | None = None  # (bare | span | font, full | half)
    indent: str | None = None  # nbsp | ideo
    br_single: bool = False
    br_at_space: bool = False
    journal_line: bool = True
    date_line: bool = True
    issue_spelling: str = "di"  # di 第6期 | bare 6期 | di0 第06期 | half 第6期(上)
    date_spelling: str = "slash"  # slash | dash | cn
    tags: str = "none"  # none | links | empty_links
    ad: bool = False
    img: bool = False
    empty_p: bool = False
    script: bool = False
    style_el: bool = False
    sentences: tuple[str, ...] = ()
    title_zw: bool = False
    author_zw: bool = False


FORCED_STYLES: tuple[dict[str, Any], ...] = (
    {"title_kind": "ends_lunwen"},
    {"n_authors": 0},
    {"title_kind": "space"},
    {"n_authors": 3, "author_sep": " "},
    {"n_authors": 2, "author_sep": ","},
    {"n_authors": 2, "author_sep": "，"},
    {"n_authors": 3, "author_sep": "、"},
    {"n_authors": 2, "author_sep": ";"},
    {"n_authors": 2, "author_sep": "；"},
    {"n_authors": 2, "authors_line": False},
    {"watermark": ("bare", "full"), "indent": "nbsp"},
    {"watermark": ("bare", "half"), "indent": "ideo"},
    {"watermark": ("span", "full")},
    {"watermark": ("span", "half")},
    {"watermark": ("font", "full")},
    {"watermark": ("font", "half")},
    {"n_aff": 0},
    {"n_aff": 1, "aff_wrap": "full", "aff_space": True},
    {"n_aff": 2, "aff_wrap": "half"},
    {"n_aff": 1, "aff_wrap": "none", "aff_space": True},
    {"template": "old_p", "old_sep": "double", "br_single": True},
    {"template": "old_div", "old_sep": "triple", "old_trailing_br": True},
    {"template": "old_div", "old_sep": "ws"},
    {"template": "modern", "br_single": True, "br_at_space": True, "sentences": ("ascii_trend",)},
    {"template": "modern", "br_single": True, "br_at_space": False},
    {"journal_line": False},
    {"date_line": False},
    {"issue_spelling": "bare", "date_spelling": "slash"},
    {"issue_spelling": "di0", "date_spelling": "dash"},
    {"issue_spelling": "half", "date_spelling": "cn"},
    {"issue_spelling": "di", "date_spelling": "slash"},
    {"tags": "links", "canonical": "bare"},
    {"tags": "empty_links", "canonical": "dotdot"},
    {"tags": "none", "canonical": "root"},
    {"encoding": "utf-8-nometa"},
    {"title_kind": "fullwidth"},
    {"title_kind": "punct", "title_zw": True, "author_zw": True},
    {"template": "modern", "ad": True, "img": True, "empty_p": True, "script": True, "style_el": True},
    {"sentences": ("paren_ascii", "number_comma", "date_slash", "ascii_trend", "latin_terms")},
)
"""One override per article (spread over the site) so that every quirk occurs
at least once whenever the site has enough articles. GBK and orphan articles
are skipped: their role already fixes part of their style."""


@dataclass
class Journal:
    """A journal and its issues (oldest first); ``slug`` names its folder."""

    index: int
    slug: str
    name: str
    topic: str
    issues: list[Issue] = field(default_factory=list)
    path: str = ""
    """Set by the build from its URL scheme."""


@dataclass
class Issue:
    """One issue: its articles in list order, plus dead links listed with them."""

    journal: Journal
    year: int
    number: int
    articles: list[Article] = field(default_factory=list)
    soft_404_ids: list[str] = field(default_factory=list)
    path: str = ""
    """Page 1 of the issue's listing; set by the build from its URL scheme."""

    @property
    def crumb(self) -> str:
        """The issue as the breadcrumb and the issue lists print it."""
        return f"{self.year}年第{self.number}期"


@dataclass
class Article:
    """One article: its clean truth plus how its page is rendered."""

    id: str
    issue: Issue
    style: Style
    title: str = ""
    authors: list[str] = field(default_factory=list)
    affiliations: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    date: tuple[int, int, int] = (2019, 1, 1)
    orphan: bool = False
    null_year: bool = False
    mobile: bool = False
    quirks: set[str] = field(default_factory=set)
    related: list[str] = field(default_factory=list)
    path: str = ""
    """Set by the build from its URL scheme."""

    @property
    def journal(self) -> Journal:
        return self.issue.journal

    @property
    def issue_label(self) -> str:
        n = self.issue.number
        spelling = self.style.issue_spelling
        if spelling == "bare":
            return f"{n}期"
        if spelling == "di0":
            return f"第{n:02d}期"
        if spelling == "half":
            return f"第{n}期({'上' if n % 2 else '下'})"
        return f"第{n}期"

    @property
    def iso_date(self) -> str:
        y, m, d = self.date
        return f"{y:04d}-{m:02d}-{d:02d}"

    def expected(self) -> dict[str, Any]:
        """The dataset row the crawler must produce (SPEC "The dataset")."""
        if self.null_year:
            year = issue = label = None
        elif self.style.journal_line:
            year, issue, label = self.issue.year, self.issue.number, self.issue_label
        else:  # from the breadcrumb, which prints {year}年第{issue}期
            year, issue, label = self.issue.year, self.issue.number, f"第{self.issue.number}期"
        return {
            "article_id": self.id,
            "url_path": self.path,
            "title": self.title,
            "authors": list(self.authors),
            "affiliations": list(self.affiliations),
            "journal": self.journal.name,
            "year": year,
            "issue": issue,
            "issue_label": label,
            "published_date": self.iso_date if self.style.date_line else None,
            "tags": list(self.tags),
            "body": "\n".join(self.paragraphs),
        }


