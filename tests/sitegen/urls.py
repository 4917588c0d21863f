"""URL schemes: where each kind of page of the site lives.

``classic`` is today's site (SPEC "The site"); ``dated`` is a redesign that moves
every page type at once (SPEC "When the site changes"): articles under a dated
path, journals and issues under ``/qikan/``, listings paginated with ``?page=N``,
no canonical links, mobile copies under ``/wap/``, tags under ``/topic/``,
downloads under ``/download/`` and a sitemap that only robots.txt names.
``slashed`` and ``bare`` are redesigns meant to break what the first two share
(see :mod:`tests.sitegen.adversarial`). The schemes only spell paths; which
pages exist is decided by the build.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class UrlScheme:
    """Paths of one URL scheme; ``patterns`` classify a site's links by role (for the manifest).

    Each page type's path is a ``str.format`` spelling, so a scheme is data, not a subclass.
    """

    name: str
    canonical: bool
    """Whether article pages carry ``<link rel="canonical">``."""
    sitemap: str
    home_more: str
    """The journal index (page 1)."""
    tags_index: str
    login: str
    register: str
    search_base: str
    help: str
    about: str
    contact: str
    patterns: tuple[tuple[str, str], ...]
    """(role, regex over path and query), first match wins."""
    article_path: str
    """An article's path from ``{id}``, ``{year}``, ``{month}``."""
    mobile_prefix: str
    """What the mobile copy of a page puts before the page's path."""
    journal_path: str
    """A journal's path from ``{slug}`` or ``{letters}`` (the slug's digits spelled as letters)."""
    issue_path: str
    """An issue's path from ``{journal}`` (its journal's path), ``{year}``, ``{number}`` or ``{issue_no}``."""
    page_path: str
    """Page ``{page}`` (2 and later) of the listing whose page 1 is ``{path}``."""
    tag_path: str
    """A tag page's path from ``{md5}`` (8 hex digits) or ``{quoted}`` (the tag percent-encoded)."""
    download_path: str
    """A download's path from ``{id}`` (the article's)."""
    disallow: tuple[str, ...]
    """robots.txt's Disallow lines."""
    soft_404_files: bool = False
    """Whether each dead link gets the soft 404 as a file of its own (the test server only
    answers today's and the dated article shapes with it)."""
    gzip_sitemap: bool = False
    """Whether ``sitemap`` is an index naming :data:`GZIP_SITEMAP`, which holds the URLs."""

    # -- per page ---------------------------------------------------------

    def article(self, article_id: str, year: int, month: int) -> str:
        return self.article_path.format(id=article_id, year=year, month=month)

    def mobile(self, article_path: str) -> str:
        return self.mobile_prefix + article_path

    def journal(self, slug: str) -> str:
        return self.journal_path.format(slug=slug, letters=_letters(slug))

    def issue(self, journal_path: str, year: int, number: int) -> str:
        issue_no = issue_number(journal_path, year, number)
        return self.issue_path.format(journal=journal_path, year=year, number=number, issue_no=issue_no)

    def paged(self, path: str, page: int) -> str:
        """Page ``page`` of the listing whose first page is ``path``."""
        return path if page == 1 else self.page_path.format(path=path, page=page)

    def tag(self, tag: str) -> str:
        return self.tag_path.format(md5=hashlib.md5(tag.encode("utf-8")).hexdigest()[:8], quoted=quote(tag))

    def download(self, article_id: str) -> str:
        return self.download_path.format(id=article_id)

    def search(self, query: str) -> str:
        return f"{self.search_base}{quote(query)}"

    def robots_txt(self) -> str:
        disallow = "".join(f"Disallow: {p}\n" for p in self.disallow)
        return f"User-agent: *\n{disallow}Sitemap: {{BASE}}{self.sitemap}\n"

    def sitemap_files(self, urlset: str) -> dict[str, bytes | str]:
        """Path -> content of the sitemap files (``{BASE}`` in them is the server's base URL)."""
        if not self.gzip_sitemap:
            return {self.sitemap: urlset}
        index = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{{BASE}}{GZIP_SITEMAP}</loc><lastmod>2020-01-01</lastmod></sitemap></sitemapindex>\n"
        )
        return {self.sitemap: index, GZIP_SITEMAP: gzip.compress(urlset.encode("utf-8"), mtime=0)}

    def role(self, target: str) -> str:
        """The role of a link target (path with query) on this scheme's site."""
        for role, pattern in self.patterns:
            if re.fullmatch(pattern, target):
                return role
        return "other"


def _letters(slug: str) -> str:
    """``qk012`` → ``qkabc``: a journal slug of letters only (digits would make it a number)."""
    return slug.translate(str.maketrans("0123456789", "abcdefghij"))


def issue_number(journal_path: str, year: int, number: int) -> str:
    """A stable 5- or 6-digit issue number, in the same range as article ids."""
    digest = int(hashlib.md5(f"{journal_path}{year}{number}".encode()).hexdigest()[:8], 16)
    return str(10000 + digest % 900000)


GZIP_SITEMAP = "/sitemaps/articles-1.xml.gz"


def classify_paths(scheme: UrlScheme, targets: set[str]) -> dict[str, list[str]]:
    """Distinct link targets grouped by role, each group sorted."""
    out: dict[str, list[str]] = {}
    for target in sorted(targets):
        out.setdefault(scheme.role(target), []).append(target)
    return out


_STATIC = r"/(static|uploads)/.*"

CLASSIC = UrlScheme(
    name="classic",
    canonical=True,
    sitemap="/sitemap.xml",
    home_more="/journals/",
    tags_index="/tag/",
    login="/login.html",
    register="/reg.html",
    search_base="/search.php?q=",
    help="/help.html",
    about="/about.html",
    contact="/contact.html",
    patterns=(
        ("article", r"/paper/\d+\.html(\?.*)?"),
        ("mobile", r"/m/paper/\d+\.html"),
        ("listing", r"/|/journals/(index_\d+\.html)?|/journal/[^/]+/(\d{4}-\d{2}/(index_\d+\.html)?)?"),
        ("tag", r"/tag/.*"),
        ("download", r"/doc/.*"),
        ("search", r"/search\.php.*"),
        ("login", r"/(login|reg)\.html"),
        ("sitemap", r"/sitemap\.xml"),
        ("static", _STATIC),
    ),
    article_path="/paper/{id}.html", mobile_prefix="/m", journal_path="/journal/{slug}/",
    issue_path="{journal}{year}-{number:02d}/", page_path="{path}index_{page}.html", tag_path="/tag/{md5}.html",
    download_path="/doc/{id}.doc", disallow=("/search.php", "/login.html"),
)  # fmt: skip

DATED = UrlScheme(
    name="dated",
    canonical=False,
    sitemap="/sitemaps/qikan-articles.xml",
    home_more="/qikan/",
    tags_index="/topic/",
    login="/user/login",
    register="/user/register",
    search_base="/so/?q=",
    help="/help/",
    about="/about/",
    contact="/about/contact/",
    patterns=(
        ("article", r"/a/\d{4}/\d{2}/\d+\.html(\?.*)?"),
        ("mobile", r"/wap/a/\d{4}/\d{2}/\d+\.html"),
        ("listing", r"/|/qikan/(\?page=\d+)?|/qikan/[^/?]+/|/qikan/[^/?]+/\d{4}-\d{2}\.html(\?page=\d+)?"),
        ("tag", r"/topic/.*"),
        ("download", r"/download/.*"),
        ("search", r"/so/.*"),
        ("login", r"/user/.*"),
        ("sitemap", r"/sitemaps/.*\.xml"),
        ("static", _STATIC),
    ),
    article_path="/a/{year}/{month:02d}/{id}.html", mobile_prefix="/wap", journal_path="/qikan/{slug}/",
    issue_path="{journal}{year}-{number:02d}.html", page_path="{path}?page={page}", tag_path="/topic/{quoted}/",
    download_path="/download/{id}", disallow=("/so/", "/user/"),
)  # fmt: skip


SLASHED = UrlScheme(
    name="slashed", canonical=True, sitemap="/sitemap_index.xml", home_more="/periodicals/",
    tags_index="/tags/", login="/account/login/", register="/account/register/", search_base="/search/?q=",
    help="/help/", about="/about/", contact="/contact/",
    patterns=(
        ("article", r"/p/\d+/(\?.*)?"),
        ("mobile", r"/mobile/p/\d+/"),
        ("listing", r"/|/periodicals/(list_\d+\.html)?|/journal/[a-z]+/|/issue/\d+/(list_\d+\.html)?"),
        ("tag", r"/tags/.*"),
        ("download", r"/p/\d+/download/"),
        ("search", r"/search/.*"),
        ("login", r"/account/.*"),
        ("sitemap", r"/sitemap.*"),
        ("static", _STATIC),
    ),
    article_path="/p/{id}/", mobile_prefix="/mobile", journal_path="/journal/{letters}/",
    issue_path="/issue/{issue_no}/", page_path="{path}list_{page}.html", tag_path="/tags/{quoted}/",
    download_path="/p/{id}/download/", disallow=("/account/",), soft_404_files=True, gzip_sitemap=True,
)  # fmt: skip
BARE = UrlScheme(
    name="bare", canonical=False, sitemap="/data/articles.xml", home_more="/periodical/",
    tags_index="/label/", login="/user/login", register="/user/register", search_base="/search?q=",
    help="/service/guide", about="/service/about", contact="/service/contact",
    patterns=(
        ("article", r"/article/detail/\d+(\?.*)?"),
        ("mobile", r"/m/article/detail/\d+"),
        ("listing", r"/|/periodical/(\?page=\d+)?|/periodical/[a-z]+(/\d{6}(\?page=\d+)?)?"),
        ("tag", r"/label/.*"),
        ("download", r"/article/download/.*"),
        ("search", r"/search.*"),
        ("login", r"/user/.*"),
        ("sitemap", r"/data/articles\.xml"),
        ("static", _STATIC),
    ),
    article_path="/article/detail/{id}", mobile_prefix="/m", journal_path="/periodical/{letters}",
    issue_path="{journal}/{year}{number:02d}", page_path="{path}?page={page}", tag_path="/label/{quoted}",
    download_path="/article/download/{id}", disallow=("/user/",), soft_404_files=True,
)  # fmt: skip


URL_SCHEMES: dict[str, UrlScheme] = {"classic": CLASSIC, "dated": DATED, "slashed": SLASHED, "bare": BARE}
