"""The site's URL shapes: what a URL is, and the one true URL of an article.

The spider uses these to decide what to follow; the cleaning code uses them to
name an article. Both must agree, so the rules live here only.
"""

from __future__ import annotations

import enum
import re
from urllib.parse import urljoin, urlsplit, urlunsplit

ARTICLE_PATH_RE = re.compile(r"^/(?:m/)?paper/([0-9]+)\.html$")
"""ASCII digits only: ``\\d`` would also take "١٢٣" from a page's canonical link as an article id."""
JOURNAL_INDEX_PATH_RE = re.compile(r"^/journals/(?:index(?:_\d+)?\.html)?$")
JOURNAL_PATH_RE = re.compile(r"^/journal/([^/]+)/(?:index(?:_\d+)?\.html)?$")
ISSUE_PATH_RE = re.compile(r"^/journal/([^/]+)/(\d{4})-(\d{1,3})/(?:index(?:_\d+)?\.html)?$")
EXCLUDED_PATH_RE = re.compile(r"^/(?:tag/|doc/|search\.php|login\.html|reg\.html)")
"""Tag, doc, search, login and register pages are chrome, never articles."""


class PageKind(enum.Enum):
    HOME = "home"
    JOURNAL_INDEX = "journal_index"
    JOURNAL = "journal"
    ISSUE = "issue"
    ARTICLE = "article"
    SITEMAP = "sitemap"
    ROBOTS = "robots"
    EXCLUDED = "excluded"
    OTHER = "other"

    @property
    def is_listing(self) -> bool:
        """Pages that only link to other pages and are fetched again on every run."""
        return self in {PageKind.HOME, PageKind.JOURNAL_INDEX, PageKind.JOURNAL, PageKind.ISSUE}


def page_kind(url: str) -> PageKind:
    """Classify a URL by its path alone."""
    path = urlsplit(url).path or "/"
    if path == "/" or path == "/index.html":
        return PageKind.HOME
    if ARTICLE_PATH_RE.match(path):
        return PageKind.ARTICLE
    if EXCLUDED_PATH_RE.match(path):
        return PageKind.EXCLUDED
    if ISSUE_PATH_RE.match(path):
        return PageKind.ISSUE
    if JOURNAL_PATH_RE.match(path):
        return PageKind.JOURNAL
    if JOURNAL_INDEX_PATH_RE.match(path):
        return PageKind.JOURNAL_INDEX
    if path == "/robots.txt":
        return PageKind.ROBOTS
    if path.endswith(".xml") and "sitemap" in path:
        return PageKind.SITEMAP
    return PageKind.OTHER


def article_id(url: str) -> str | None:
    """The digits of ``/paper/<id>.html`` (or its mobile twin), else None."""
    match = ARTICLE_PATH_RE.match(urlsplit(url).path)
    return match.group(1) if match else None


def canonical_article_url(url: str) -> str | None:
    """``scheme://host/paper/<id>.html`` for any URL of an article: query, fragment and ``/m/`` dropped."""
    parts = urlsplit(url)
    match = ARTICLE_PATH_RE.match(parts.path)
    if not match:
        return None
    return urlunsplit((parts.scheme, parts.netloc, f"/paper/{match.group(1)}.html", "", ""))


def journal_slug(url: str) -> str | None:
    """The ``<slug>`` of a journal or issue URL."""
    path = urlsplit(url).path
    match = ISSUE_PATH_RE.match(path) or JOURNAL_PATH_RE.match(path)
    return match.group(1) if match else None


def resolve(base: str, href: str) -> str:
    """Absolute URL of ``href`` on the page at ``base``, without its fragment.

    An href that is no URL at all (``http://[::1``: urllib raises) resolves to
    "", which is no page of any kind: one bad link must not cost the page.
    """
    try:
        joined = urljoin(base, href.strip())
        return urlunsplit(urlsplit(joined)._replace(fragment=""))
    except ValueError:
        return ""


def same_site(url: str, site: str) -> bool:
    """True when ``url`` has the scheme-less host and port of ``site``."""
    return urlsplit(url).netloc.lower() == urlsplit(site).netloc.lower()
