"""What a URL says about a page, with no knowledge of the site's URL shapes.

SPEC: an article's id is the last run of ASCII digits in its URL path, whatever the site's
layout; tracking parameters and mobile copies never make a different page. Everything that
depends on a site's particular shapes is learned at crawl time (:mod:`pipelines.discovery`).
The spider and the cleaning code both name articles through :func:`article_id`, so the rule
lives here only.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

DIGIT_RUN_RE = re.compile(r"[0-9]+")
"""ASCII digits only: ``\\d`` would also take "١٢٣" from a page's canonical link as an article id."""
ARTICLE_SEGMENT_RE = re.compile(r"^[0-9]+(?:\.[A-Za-z0-9]{1,6})?$")
"""``123.html``, ``123``: the last path segment of an article URL on every shape seen so far."""

TRACKING_PARAMS = frozenset(
    {"from", "ref", "referer", "referrer", "source", "src", "spm", "share", "shareid", "fr", "scene",
     "gclid", "fbclid", "msclkid", "yclid", "isappinstalled", "timestamp", "_t"}
)  # fmt: skip
"""Query parameters that say where a reader came from, never which page they see."""
TRACKING_PREFIXES = ("utm_",)

MOBILE_PATH_PREFIXES = frozenset({"m", "wap", "mobile", "touch", "3g", "h5"})
"""A first path segment that marks a mobile copy of the desktop page under the rest of the path."""
MOBILE_HOST_PREFIXES = ("m.", "wap.", "mobile.", "touch.", "3g.")


def article_id(url: str) -> str | None:
    """The last run of ASCII digits in the URL's path, else None (SPEC: ``article_id``)."""
    runs = DIGIT_RUN_RE.findall(urlsplit(url).path)
    return runs[-1] if runs else None


def looks_like_article_url(url: str) -> bool:
    """True when the last non-empty path segment is a digit run with an optional extension.

    The fallback for a page whose ``link_kind`` nobody recorded (a saved page, a foreign archive).
    """
    segments = [s for s in urlsplit(url).path.split("/") if s]
    return bool(segments) and ARTICLE_SEGMENT_RE.match(segments[-1]) is not None


def requested_article_id(url: str, link_kind: str | None) -> str | None:
    """The article id of a request the spider made for an article (or an article-like probe), else None.

    Only such links carry an article id: a listing such as ``/issue/12345/`` also ends in digits,
    and taking its number for an article's would skip or drop that article.
    """
    if link_kind == "article" or (link_kind == "probe" and looks_like_article_url(url)):
        return article_id(url)
    return None


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def strip_tracking(url: str) -> str:
    """The URL without its fragment and tracking parameters; any other query is part of the page."""
    parts = urlsplit(url)
    query = parts.query
    if query:
        kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not is_tracking_param(k)]
        query = urlencode(kept)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def query_keys(url: str) -> list[str]:
    """Sorted names of the query parameters that make a different page (``page`` of ``?page=2``)."""
    return sorted({k for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True) if not is_tracking_param(k)})


def without_first_segment(url: str) -> str | None:
    """The URL with its first path segment removed (``/m/paper/1.html`` → ``/paper/1.html``), if it has two."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    if len(segments) < 3 or not segments[1]:
        return None
    return urlunsplit(parts._replace(path="/" + "/".join(segments[2:])))


def desktop_url(url: str, site: str) -> str:
    """The desktop copy of a mobile URL of ``site`` (``m.``/``wap.`` host, ``/m/``-like prefix), else ``url``.

    A mobile copy is the same article to a reader, so it must not become a second row.
    """
    parts = urlsplit(url)
    site_netloc = urlsplit(site).netloc.lower()
    netloc = parts.netloc.lower()
    base = site_netloc.removeprefix("www.")
    if any(netloc == prefix + base for prefix in MOBILE_HOST_PREFIXES):
        parts = parts._replace(netloc=urlsplit(site).netloc)
    segments = parts.path.split("/")
    mobile = 0  # every leading prefix (``/m/m/paper/1.html``): the result is desktop, and stays so when asked again
    while len(segments) - mobile >= 3 and segments[1 + mobile].lower() in MOBILE_PATH_PREFIXES:
        mobile += 1
    if mobile:
        parts = parts._replace(path="/" + "/".join(segments[1 + mobile :]))
    return urlunsplit(parts)


def canonical_article_url(url: str) -> str | None:
    """Any URL of an article without tracking query, fragment and mobile path prefix; None without an id."""
    if article_id(url) is None:
        return None
    return strip_tracking(desktop_url(url, url))


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


# -- URL shapes: what the pages of one kind share (pipelines.discovery learns their classes) --

_EXTENSION_RE = re.compile(r"^(.*?)(\.[A-Za-z][A-Za-z0-9]{0,5})?$")
_WORD_RE = re.compile(r"^[a-z][a-z_-]{0,23}$")


def _segment_shape(segment: str) -> str:
    match = _EXTENSION_RE.match(segment)
    assert match is not None
    name, extension = match.group(1), (match.group(2) or "").lower()
    if not name:
        return extension
    if name.isascii() and name.isdigit():
        return "{n}" + extension
    if _WORD_RE.match(name.lower()):
        return name.lower() + extension  # a word names a section: /journal/, /paper/, /help.html
    return "{s}" + extension  # digits, hex, pinyin slugs, percent-encoded names


def url_shape(url: str) -> str:
    """The URL's path with digit runs as ``{n}`` and slug-like segments as ``{s}``, plus query names.

    ``/paper/442798.html`` → ``/paper/{n}.html``; ``/journal/qk000/2019-06/`` → ``/journal/{s}/{s}/``;
    ``/list/?page=2`` → ``/list/?page``. Every article of a site shares one shape, every tag page another.
    """
    path = urlsplit(url).path or "/"
    shape = "/".join(_segment_shape(segment) for segment in path.split("/"))
    keys = query_keys(url)
    return shape + ("?" + "&".join(keys) if keys else "")


def path_has_slug(url: str, slug: str) -> bool:
    """True when a path segment (without extension) or a query value is the journal's slug."""
    parts = urlsplit(url)
    names = {_EXTENSION_RE.match(s).group(1) for s in parts.path.split("/") if s}  # type: ignore[union-attr]
    return slug in names or f"={slug}" in parts.query
