"""The build: plan the site from the seed, render it in one template and URL scheme, write gold and manifest."""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from tests.sitegen.adversarial import ADVERSARIAL_TEMPLATES
from tests.sitegen.classic import ClassicTemplate
from tests.sitegen.html5 import Html5Template
from tests.sitegen.markup import SiteContext, SiteTemplate, chunks, encode_page
from tests.sitegen.model import (
    HOME_JOURNALS,
    ISSUE_PAGE_SIZE,
    JOURNAL_PAGE_SIZE,
    Article,
    Journal,
)
from tests.sitegen.plan import listed, plan_site
from tests.sitegen.table import TableTemplate
from tests.sitegen.textrules import check_clean
from tests.sitegen.urls import URL_SCHEMES, UrlScheme, classify_paths
from tests.sitegen.words import ASCII_SENTENCES

TEMPLATES: dict[str, type[SiteTemplate]] = {
    "classic": ClassicTemplate,
    "html5": Html5Template,
    "table": TableTemplate,
    **ADVERSARIAL_TEMPLATES,
}
"""Every look the site can be rendered in (the same articles and visible text in each)."""

NOT_CONTENT_ROLES = ("tag", "download", "search", "login")
"""Link roles a crawler should not follow beyond a small probe."""

_HREF_RE = re.compile(r'href="([^"]*)"')


def build_site(
    out: Path,
    *,
    seed: int = 1,
    journals: int = 4,
    issues_per_journal: int = 3,
    articles_per_issue: int = 4,
    body_chars: int = 800,
    template: str = "classic",
    url_scheme: str = "classic",
) -> dict[str, Any]:
    """(Re)create ``out/www``, ``out/expected.jsonl`` and ``out/manifest.json``; return the manifest.

    The seed alone decides the articles and their truth; ``template`` and
    ``url_scheme`` only change markup and paths (``url_path`` in the gold).
    """
    if journals < 1 or issues_per_journal < 1 or articles_per_issue < 1:
        raise ValueError("need at least one journal, issue and article")
    if template not in TEMPLATES or url_scheme not in URL_SCHEMES:
        raise ValueError(f"unknown template {template!r} or URL scheme {url_scheme!r}")
    urls = URL_SCHEMES[url_scheme]
    out = Path(out)
    rng = random.Random(seed)
    js, articles, soft_ids = plan_site(
        rng, journals=journals, issues_per_journal=issues_per_journal,
        articles_per_issue=articles_per_issue, body_chars=body_chars,
    )
    soft_paths = _assign_paths(js, urls)
    by_id = {a.id: a for a in articles}

    for art in articles:
        for value, what in (
            [(art.title, "title"), (art.journal.name, "journal")]
            + [(x, "author") for x in art.authors]
            + [(x, "affiliation") for x in art.affiliations]
            + [(x, "tag") for x in art.tags]
        ):
            check_clean(value, body=False, what=f"{what} of {art.path}")
        for para in art.paragraphs:
            check_clean(para, body=True, what=f"paragraph of {art.path}")

    # Cross links (sidebar, related, mobile) only point at page-1 entries of issues of
    # journals on the first journal index page: later issue pages and later journal
    # index pages must then be reached by following "下一页".
    page_one = [
        a
        for j in js[:JOURNAL_PAGE_SIZE]
        for iss in j.issues
        for a in iss.articles
        if not a.orphan and any(a.path == e[0] for e in listed(iss, soft_paths.__getitem__)[:ISSUE_PAGE_SIZE])
    ]
    linkable = [a for a in page_one if a.style.encoding != "gbk" and a.style.canonical == "root"]
    mobile = rng.sample(linkable, min(3, len(linkable))) if linkable else []
    mobile.sort(key=lambda a: articles.index(a))
    for art in mobile:
        art.mobile = True  # same bytes under the mobile prefix: only a root-relative canonical resolves right there
    latest = rng.sample(page_one, min(5, len(page_one))) if page_one else []
    for art in articles:
        pool = [a for a in page_one if a is not art]
        if pool and rng.random() < 0.75:
            art.related = [a.id for a in rng.sample(pool, min(len(pool), rng.randint(1, 4)))]
    look = TEMPLATES[template](SiteContext(journals=js, latest=latest, doc_article=(latest or articles)[0], urls=urls))

    www = out / "www"
    for stale in (www, out / "expected.jsonl", out / "manifest.json"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    www.mkdir(parents=True)
    links: set[str] = set()

    def write(path: str, data: bytes | str, *, text: str | None = None) -> None:
        """Write the page for URL ``path`` (``?page=N`` goes to a sibling file, see siteserver)."""
        target = www / file_for(path).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        page_text = text if text is not None else (data if isinstance(data, str) else "")
        for href in _HREF_RE.findall(page_text):
            resolved = urlsplit(urljoin("http://site" + path, href))
            if resolved.netloc == "site":
                links.add(resolved.path + (f"?{resolved.query}" if resolved.query else ""))

    list_paths: list[str] = []

    # Article pages (and their mobile copies).
    for art in articles:
        html_text = look.article_page(art, rng, by_id)
        page = encode_page(html_text, art.style.encoding)
        write(art.path, page, text=html_text)
        if art.mobile:
            write(urls.mobile(art.path), page)
        _record_structural_quirks(art, canonical=urls.canonical)

    # Home, journal index, journal and issue pages.
    write("/", look.home(js[:HOME_JOURNALS], mobile[0] if mobile else None))
    list_paths.append("/")
    jpages = chunks(js, JOURNAL_PAGE_SIZE)
    for p, chunk in enumerate(jpages, start=1):
        write(urls.paged(urls.home_more, p), look.journal_index(chunk, p, len(jpages)))
        list_paths.append(urls.paged(urls.home_more, p))
    for j in js:
        write(j.path, look.journal_page(j))
        list_paths.append(j.path)
        for iss in j.issues:
            pages = chunks(listed(iss, soft_paths.__getitem__), ISSUE_PAGE_SIZE)
            mobiles = [a for a in iss.articles if a.mobile and a is not (mobile[0] if mobile else None)]
            for p, entries in enumerate(pages, start=1):
                write(urls.paged(iss.path, p), look.issue_page(iss, entries, mobiles, p, len(pages)))
                list_paths.append(urls.paged(iss.path, p))

    # Soft 404, robots, sitemap.
    write("/404.html", look.soft_404())
    if urls.soft_404_files:
        for sid in soft_ids:
            write(soft_paths[sid], look.soft_404())
    write("/robots.txt", urls.robots_txt())
    sitemap_urls = [(a.path, a.iso_date) for a in articles] + [(soft_paths[sid], "2019-01-01") for sid in soft_ids]
    sitemap_files = urls.sitemap_files(
        '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{{BASE}}{path}</loc><lastmod>{lastmod}</lastmod></url>\n" for path, lastmod in sitemap_urls)
        + "</urlset>\n",
    )
    for sitemap_path, sitemap_data in sitemap_files.items():
        write(sitemap_path, sitemap_data)

    rows = sorted((a.expected() for a in articles), key=lambda r: r["article_id"])
    (out / "expected.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    mobile_paths = [urls.mobile(a.path) for a in articles if a.mobile]
    manifest = _manifest(js, articles, [soft_paths[s] for s in soft_ids], mobile_paths, list_paths, seed=seed, params={
        "journals": journals, "issues_per_journal": issues_per_journal,
        "articles_per_issue": articles_per_issue, "body_chars": body_chars,
    })
    manifest.update(_census(manifest, urls, links, template=template, sitemaps=sorted(sitemap_files)))
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return manifest


def file_for(url_path: str) -> str:
    """The file under ``www`` that serves ``url_path`` (the server does the same mapping).

    ``/x/`` and an extensionless ``/x`` are ``/x/index.html`` (served as HTML by
    ``adversarial.serve_like_a_real_site``); ``?page=N`` (N > 1) is ``~pageN`` before the suffix:
    ``/qikan/a/2019-06.html?page=2`` is ``/qikan/a/2019-06~page2.html``.
    """
    path, _, query = url_path.partition("?")
    if path.endswith("/") or "." not in path.rsplit("/", 1)[-1]:
        path = path.rstrip("/") + "/index.html"  # an extensionless page is a folder's index (see adversarial)
    m = re.fullmatch(r"page=(\d+)", query)
    if m and int(m[1]) > 1:
        stem, dot, suffix = path.rpartition(".")
        path = f"{stem}~page{int(m[1])}{dot}{suffix}"
    return path


def _assign_paths(js: Sequence[Journal], urls: UrlScheme) -> dict[str, str]:
    """Give journals, issues and articles their paths; return soft-404 id -> path."""
    soft_paths: dict[str, str] = {}
    for j in js:
        j.path = urls.journal(j.slug)
        for iss in j.issues:
            iss.path = urls.issue(j.path, iss.year, iss.number)
            for art in iss.articles:
                art.path = urls.article(art.id, iss.year, iss.number)
            for sid in iss.soft_404_ids:
                soft_paths[sid] = urls.article(sid, iss.year, iss.number)
    return soft_paths


def _record_structural_quirks(art: Article, *, canonical: bool) -> None:
    """Quirks that follow from the page's role and style rather than from rendering."""
    st = art.style
    q = art.quirks
    q.add(f"encoding_{st.encoding}")
    q.add(f"canonical_{st.canonical}" if canonical else "canonical_none")
    if st.title_kind != "plain":
        q.add(f"title_{st.title_kind}")
    if len(art.authors) > 1:
        q.add("multi_author")
    if art.orphan:
        q.add("orphan")
    if art.mobile:
        q.add("mobile")
    for kind in st.sentences:
        q.add(f"sentence_{kind}")
    body = "\n".join(art.paragraphs)
    for needle, name in (("1,000", "sentence_number_comma"), ("2019/4/28", "sentence_date_slash"),
                         ("(文章)", "sentence_paren_ascii"), (ASCII_SENTENCES[0], "sentence_ascii_trend")):
        if needle in body:
            q.add(name)
    if st.br_single:
        q.add("br_single")


def _manifest(
    js: list[Journal], articles: list[Article], soft_paths: list[str], mobile_paths: list[str], list_paths: list[str],
    *,
    seed: int, params: dict[str, int],
) -> dict[str, Any]:
    quirks: dict[str, list[str]] = {}
    for art in articles:
        for name in art.quirks:
            quirks.setdefault(name, []).append(art.path)
    return {
        "seed": seed,
        "params": params,
        "articles": len(articles),
        "article_paths": sorted(a.path for a in articles),
        "soft_404_paths": sorted(soft_paths),
        "mobile_paths": sorted(mobile_paths),
        "orphan_article_paths": sorted(a.path for a in articles if a.orphan),
        "null_year_paths": sorted(a.path for a in articles if a.null_year),
        "journals": [{"slug": j.slug, "name": j.name} for j in js],
        "list_paths": list_paths,
        "gbk_article_paths": sorted(a.path for a in articles if a.style.encoding == "gbk"),
        "no_charset_paths": sorted(a.path for a in articles if a.style.encoding == "utf-8-nometa"),
        "authors_from_title_paths": sorted(a.path for a in articles if "authors_from_title" in a.quirks),
        "quirks": {name: sorted(paths) for name, paths in sorted(quirks.items())},
    }


def _census(
    manifest: dict[str, Any], urls: UrlScheme, links: set[str], *, template: str, sitemaps: list[str]
) -> dict[str, Any]:
    """How many distinct pages the site has, and what "every page once" costs a crawler."""
    by_role = classify_paths(urls, links)
    pages = {
        "articles": manifest["articles"],
        "soft_404": len(manifest["soft_404_paths"]),
        "listings": len(manifest["list_paths"]),
        "robots": 1,
        "sitemaps": len(sitemaps),
        "mobile": len(manifest["mobile_paths"]),
        **{f"linked_{role}": len(targets) for role, targets in sorted(by_role.items())},
    }
    return {
        "template": template,
        "url_scheme": urls.name,
        "sitemap_paths": sitemaps,
        "pages": pages,
        "every_page_once": sum(pages[k] for k in ("articles", "soft_404", "listings", "robots", "sitemaps")),
        "not_content_patterns": {role: pattern for role, pattern in urls.patterns if role in NOT_CONTENT_ROLES},
    }
