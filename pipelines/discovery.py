"""Discovery without fixed URL shapes: learn from fetched pages which links lead to articles.

A redesign may move every page type to new URLs (SPEC, "When the site changes"), so the
crawler holds no URL pattern of its own. It classifies each fetched page by what a reader
sees (:func:`classify_page`), generalises URLs into shapes (:func:`url_shape`: digit runs and
slugs become placeholders, so all articles of a site share one shape), and a
:class:`Learner` decides for each new link: follow it as an article or a listing, probe it
(a shape not classified yet: a few pages are fetched, the rest wait), or skip it. Chrome
links (tags, search, login, register, downloads, site information) are recognised by their
text and by words in the URL and never followed.

Pure code: no Scrapy, so the rules can be tested and reused without a crawl.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from pipelines import urls
from pipelines.labels import META_LABELS, SOFT_404_MARKER
from pipelines.urls import path_has_slug, url_shape  # noqa: F401 (part of this module's interface)


class PageClass(enum.StrEnum):
    ARTICLE = "article"
    LISTING = "listing"
    SOFT_404 = "soft_404"
    OTHER = "other"


# -- the page classifier -------------------------------------------------------------------------

TITLE_LINE_RE = re.compile(r"论文_")
BODY_TEXT_MIN_CHARS = 80
"""A text block this long is body text; chrome lines (links, labels, footer) are shorter."""
LISTING_MIN_LINKS = 2
INVISIBLE_TAGS = frozenset({"script", "style", "noscript", "template"})


def page_texts(root: Any) -> Iterator[str]:
    """The stripped, non-empty text nodes of an lxml tree in document order, without script/style."""
    for element in root.iter():
        tag = element.tag
        if isinstance(tag, str) and tag.lower() not in INVISIBLE_TAGS and element.text:
            text = element.text.strip()
            if text:
                yield text
        if element.tail:  # the tail belongs to the parent, which is visible if we got here
            tail = element.tail.strip()
            if tail:
                yield tail


def classify_texts(texts: Iterable[str], title: str, on_site_links: int) -> PageClass:
    """Article, soft 404, listing or other, from the page's text nodes and ``<title>``."""
    labels: set[str] = set()
    longest = 0
    soft_404 = SOFT_404_MARKER in title
    title_line = bool(TITLE_LINE_RE.search(title))
    for text in texts:
        if text[:2] == "论文" and text.startswith(META_LABELS):
            labels.update(label for label in META_LABELS if text.startswith(label))
        longest = max(longest, len(text))
        if not soft_404 and SOFT_404_MARKER in text:
            soft_404 = True
        if not title_line and "论文_" in text:
            title_line = True
    if len(labels) >= 2 or (labels and "论文" in title) or (title_line and longest >= BODY_TEXT_MIN_CHARS):
        return PageClass.ARTICLE
    if soft_404:
        return PageClass.SOFT_404
    if on_site_links >= LISTING_MIN_LINKS:
        return PageClass.LISTING
    return PageClass.OTHER


def classify_page(root: Any, on_site_links: int) -> PageClass:
    """:func:`classify_texts` over a parsed HTML page (an lxml element, e.g. parsel's ``root``)."""
    titles = root.xpath("//title")
    title = "".join(titles[0].itertext()).strip() if titles else ""
    return classify_texts(page_texts(root), title, on_site_links)


# -- chrome links ------------------------------------------------------------------------------------

CHROME_URL_WORDS = {
    "tag": {"tag", "tags", "topic", "topics", "keyword", "keywords", "label", "labels"},
    "search": {"search", "so", "query"},
    "login": {"login", "logon", "signin", "logout", "passport"},
    "register": {"reg", "register", "signup"},
    "download": {"doc", "docx", "pdf", "download", "down", "dl", "attachment", "print"},
    "info": {"about", "aboutus", "contact", "contactus", "help", "faq", "privacy", "copyright",
             "feedback", "guestbook", "links", "ad", "ads", "tougao", "submit", "rss"},
}  # fmt: skip
"""Words in a URL path (split at anything but letters) that name a chrome page."""
CHROME_TEXT_WORDS = {
    "tag": ("标签",),
    "search": ("搜索", "检索"),
    "login": ("登录", "登陆", "退出"),
    "register": ("注册",),
    "download": ("下载",),
    "info": ("关于我们", "联系我们", "投稿", "帮助", "版权", "免责", "友情链接", "广告", "网站地图"),
}
"""What a reader sees on a chrome link (下载Doc文档, 热门标签, 登录, 注册, ...)."""
CHROME_TEXT_MAX_CHARS = 8
"""Longer link texts are titles ("广告设计中的色彩运用"), never chrome labels."""
SEARCH_QUERY_KEYS = frozenset({"q", "wd", "kw", "keyword", "keywords", "query", "search", "s"})
DOWNLOAD_EXTENSIONS = (".doc", ".docx", ".pdf", ".zip", ".rar", ".7z", ".xls", ".xlsx", ".ppt", ".caj")
_LETTERS_RE = re.compile(r"[a-z]+")
TAG_LINE_LINKS_XPATH = (
    "//*[starts-with(normalize-space(text()), '标签')]"
    "/descendant::a | //*[starts-with(normalize-space(text()), '标签') and not(.//a)]"
    "/following-sibling::*[1]/descendant-or-self::a"
)
"""Links of a 标签 line: in the element that starts with the label, or in the cell right after it."""


def chrome_kind(url: str, text: str = "", in_tag_line: bool = False) -> str | None:
    """``"tag"``, ``"search"``, ``"login"``, ``"register"``, ``"download"`` or ``"info"``; None for a content link."""
    if in_tag_line:
        return "tag"
    parts = urlsplit(url)
    path = unquote(parts.path).lower()
    if path.endswith(DOWNLOAD_EXTENSIONS):
        return "download"
    words = set(_LETTERS_RE.findall(path))
    for kind, chrome_words in CHROME_URL_WORDS.items():
        if words & chrome_words:
            return kind
    if set(urls.query_keys(url)) & SEARCH_QUERY_KEYS:
        return "search"
    if text and len(text) <= CHROME_TEXT_MAX_CHARS:
        for kind, text_words in CHROME_TEXT_WORDS.items():
            if any(word in text for word in text_words):
                return kind
    return None


def is_sitemap_url(url: str) -> bool:
    path = urlsplit(url).path.lower()
    return path.endswith((".xml", ".xml.gz")) and "sitemap" in path


# -- what one journal's crawl follows ------------------------------------------------------------


def main_links(links: Sequence[str], chrome: Sequence[str]) -> Sequence[str]:
    """``links`` without the run they share with ``chrome`` at the start and at the end.

    Every page repeats the site's chrome (top bar, navigation, sidebar, footer) around its
    own content; the start page's links are that chrome, whatever the markup.
    """
    if links is chrome:
        return links
    start = 0
    while start < len(links) and start < len(chrome) and links[start] == chrome[start]:
        start += 1
    end = 0
    while end < len(links) - start and end < len(chrome) - start and links[-1 - end] == chrome[-1 - end]:
        end += 1
    return links[start : len(links) - end]


# -- the learner -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A URL to request, and what the learner expects behind it (RawPage.link_kind)."""

    url: str
    kind: str  # "article", "listing" or "probe"
    shape: str


@dataclass
class ShapeState:
    pages: Counter[str] = field(default_factory=Counter)
    """Fetched pages of this shape by class, plus ``"sitemap"`` for sitemap entries."""
    links: int = 0
    probes: int = 0
    pending: int = 0
    parked: list[str] = field(default_factory=list)
    dropped: int = 0
    decided: PageClass | None = None
    probed_ids: set[str] = field(default_factory=set)
    """Digit runs of this shape's article-like probes: article ids only once the shape holds articles."""


class Learner:
    """Learns which URL shapes hold articles and listings, and decides what each new link is.

    ``article_patterns``/``listing_patterns`` (regexes searched in the URL path) pin the
    answer for a known site; with both given nothing else is followed.
    """

    def __init__(
        self, article_patterns: Sequence[str] = (), listing_patterns: Sequence[str] = (),
        probes_per_shape: int = 2, reprobe_rounds: int = 2,
    ) -> None:  # fmt: skip
        self.article_res = [re.compile(p) for p in article_patterns]
        self.listing_res = [re.compile(p) for p in listing_patterns]
        self.pinned_all = bool(self.article_res) and bool(self.listing_res)
        self.probes_per_shape = max(1, probes_per_shape)
        self.reprobe_rounds = reprobe_rounds
        self.shapes: dict[str, ShapeState] = {}
        self.seen_urls: set[str] = set()
        self.article_ids: set[str] = set()
        """Ids of links taken for articles; a probe's id joins when its shape turns out to hold articles."""
        self.chrome_skipped: Counter[str] = Counter()
        self.fetched: Counter[str] = Counter()
        self.duplicate_ids = 0
        self.articles_followed = 0

    def _state(self, shape: str) -> ShapeState:
        return self.shapes.get(shape) or self.shapes.setdefault(shape, ShapeState())

    def _pinned(self, url: str) -> PageClass | None:
        path = urlsplit(url).path
        if any(r.search(path) for r in self.article_res):
            return PageClass.ARTICLE
        if any(r.search(path) for r in self.listing_res):
            return PageClass.LISTING
        return PageClass.OTHER if self.pinned_all else None

    def known(self, shape: str) -> PageClass | None:
        state = self.shapes.get(shape)
        return state.decided if state else None

    def decide(self, url: str, text: str = "", in_tag_line: bool = False) -> Link | None:
        """What to request for a link seen on a page (already absolute, on-site, desktop, untracked).

        None: skip it, it was seen before, or it waits until its shape is classified.
        """
        if url in self.seen_urls:
            return None
        self.seen_urls.add(url)
        shape = url_shape(url)
        pinned = self._pinned(url)
        if pinned is None:
            article_shape = self.known(shape) is PageClass.ARTICLE
            chrome = chrome_kind(url, "" if article_shape else text, in_tag_line)
            if chrome:
                self.chrome_skipped[chrome] += 1
                return None
        state = self._state(shape)
        state.links += 1
        decided = pinned or state.decided
        if decided is None:
            alias = urls.without_first_segment(url)
            if alias and self.known(url_shape(alias)) is PageClass.ARTICLE:
                return self._article(alias, url_shape(alias))  # a mobile copy under an unknown prefix
        if decided is PageClass.ARTICLE:
            return self._article(url, shape)
        if decided is PageClass.LISTING:
            return Link(url, "listing", shape)
        if decided is not None:
            state.dropped += 1
            return None
        if state.probes < self.probes_per_shape:
            return self._probe(url, shape, state)
        state.parked.append(url)
        return None

    def _claimed(self, article_id: str, shape: str) -> bool:
        """Whether an article with this id is already requested: as an article, or probed under the same shape.

        A probe's digits are no article id until its page shows an article: ``/periodical/jcjs/201806``
        (an issue) must not hide ``/periodical/xbjy/201806`` nor an article numbered 201806.
        """
        if article_id in self.article_ids or article_id in self._state(shape).probed_ids:
            self.duplicate_ids += 1
            return True
        return False

    def _article(self, url: str, shape: str) -> Link | None:
        article_id = urls.article_id(url)
        if article_id is not None:
            if self._claimed(article_id, shape):
                return None
            self.article_ids.add(article_id)
        self.articles_followed += 1
        return Link(url, "article", shape)

    def _probe(self, url: str, shape: str, state: ShapeState) -> Link | None:
        if urls.looks_like_article_url(url):
            article_id = urls.article_id(url)
            assert article_id is not None
            if self._claimed(article_id, shape):
                return None
            state.probed_ids.add(article_id)
        state.probes += 1
        state.pending += 1
        return Link(url, "probe", shape)

    def observe(self, url: str, page_class: PageClass, shape: str | None = None, probe: bool = False) -> list[Link]:
        """Learn from a fetched page; returns the parked links its shape's decision releases."""
        state = self._state(shape or url_shape(url))
        state.pages[page_class.value] += 1
        self.fetched[page_class.value] += 1
        if probe:
            state.pending = max(0, state.pending - 1)
        if state.decided is not None:
            return []
        if page_class in (PageClass.ARTICLE, PageClass.LISTING):
            self._decide(state, page_class)
        elif state.pending == 0 and state.probes >= self.probes_per_shape:
            self._decide(state, PageClass.OTHER)
        else:
            return []
        return self._release(state, shape or url_shape(url))

    def _decide(self, state: ShapeState, page_class: PageClass) -> None:
        state.decided = page_class
        if page_class is PageClass.ARTICLE:
            self.article_ids |= state.probed_ids
        state.probed_ids = set()

    def observe_sitemap(self, url: str, follow: bool = True) -> tuple[Link | None, list[Link]]:
        """A sitemap entry: an article (SPEC). Returns its request (if ``follow``) and the links its shape releases."""
        shape = url_shape(url)
        state = self._state(shape)
        state.pages["sitemap"] += 1
        released: list[Link] = []
        if state.decided is None:
            self._decide(state, PageClass.ARTICLE)
            released = self._release(state, shape)
        article_id = urls.article_id(url)
        if not follow or (article_id is not None and self._claimed(article_id, shape)):
            return None, released
        self.seen_urls.add(url)
        return self._article(url, shape), released

    def _release(self, state: ShapeState, shape: str) -> list[Link]:
        parked, state.parked = state.parked, []
        if state.decided is PageClass.ARTICLE:
            return [link for url in parked if (link := self._article(url, shape))]
        if state.decided is PageClass.LISTING:
            return [Link(url, "listing", shape) for url in parked]
        state.dropped += len(parked)
        return []

    def reprobe(self) -> list[Link]:
        """Probes for shapes whose probes never came back (filtered, skipped): the crawl is idle."""
        if self.reprobe_rounds <= 0:
            return []
        self.reprobe_rounds -= 1
        links: list[Link] = []
        for shape, state in self.shapes.items():
            if state.decided is None and state.parked and state.pending == 0:
                state.probes = 0
                while state.parked and state.probes < self.probes_per_shape:
                    if link := self._probe(state.parked.pop(0), shape, state):
                        links.append(link)
        return links

    def learned_articles(self) -> bool:
        return self.articles_followed > 0 or any(s.decided is PageClass.ARTICLE for s in self.shapes.values())

    def summary(self, max_shapes: int = 40) -> dict[str, Any]:
        """What was learned, for the run summary: shapes by class, with their counts."""
        ranked = sorted(self.shapes.items(), key=lambda item: -(item[1].links + sum(item[1].pages.values())))
        return {
            "pinned": bool(self.article_res or self.listing_res),
            "article_shapes": [s for s, st in self.shapes.items() if st.decided is PageClass.ARTICLE],
            "listing_shapes": [s for s, st in self.shapes.items() if st.decided is PageClass.LISTING],
            "pages_by_class": dict(self.fetched),
            "chrome_links_skipped": dict(self.chrome_skipped),
            "duplicate_article_ids": self.duplicate_ids,
            "shapes": {
                shape: {
                    "class": state.decided.value if state.decided else "undecided",
                    "pages": dict(state.pages),
                    "links": state.links,
                    "probes": state.probes,
                    "parked": len(state.parked),
                    "dropped": state.dropped,
                }
                for shape, state in ranked[:max_shapes]
            },
        }

    def describe(self, max_shapes: int = 12) -> str:
        """One line for the alarm: pages fetched by class and the shapes seen."""
        pages = ", ".join(f"{n} {cls}" for cls, n in self.fetched.most_common()) or "none"
        ranked = sorted(self.shapes.items(), key=lambda item: -(item[1].links + sum(item[1].pages.values())))
        shapes = "; ".join(
            f"{shape} ({state.decided.value if state.decided else 'undecided'}, {state.links} links)"
            for shape, state in ranked[:max_shapes]
        )
        return f"pages fetched by class: {pages}; URL shapes seen: {shapes or 'none'}"
