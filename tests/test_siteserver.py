"""Tests of the fixture site generator and of the HTTP server over it.

Two kinds of checks: the server behaves like the SPEC's site over real HTTP
(robots/sitemap with the base URL, soft 404, no charset in Content-Type, GBK
bytes, no path traversal, hit counting), and the committed site is what the
generator makes, carries every quirk of the SPEC, and its gold rows are exact:
a small stdlib reference extractor, written from the SPEC independently of the
generator, reads every article page back into exactly its expected row.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from tests import sitegen
from tests.siteserver import SiteServer

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def fetch(url: str, method: str = "GET") -> tuple[int, http.client.HTTPMessage, bytes]:
    """(status, headers, body) without following redirects or using env proxies."""
    request = urllib.request.Request(url, method=method)
    try:
        with _OPENER.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def raw_get(server: SiteServer, target: str) -> int:
    """Send a request target exactly as given (no client-side normalisation)."""
    host, port = urlsplit(server.base_url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest("GET", target, skip_host=False, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


def test_home_and_directory_index(site_server: SiteServer) -> None:
    status, headers, body = fetch(site_server.base_url + "/")
    assert status == 200
    assert b'<div class="journal-list">' in body
    status, _, body = fetch(site_server.base_url + "/journals/")
    assert status == 200 and "期刊大全".encode() in body
    status, headers, _ = fetch(site_server.base_url + "/journals")
    assert status == 301 and headers["Location"] == "/journals/"


def test_robots_has_base_substituted(site_server: SiteServer) -> None:
    status, headers, body = fetch(site_server.base_url + "/robots.txt")
    text = body.decode("ascii")
    assert status == 200 and headers["Content-Type"] == "text/plain"
    assert "{BASE}" not in text
    assert f"Sitemap: {site_server.base_url}/sitemap.xml" in text.splitlines()
    assert "Disallow: /search.php" in text and "Disallow: /login.html" in text


def test_sitemap_lists_every_article(site_server: SiteServer, manifest: dict[str, Any]) -> None:
    status, headers, body = fetch(site_server.base_url + "/sitemap.xml")
    assert status == 200 and headers["Content-Type"] == "application/xml"
    assert b"{BASE}" not in body
    ns = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    urls = ET.fromstring(body).findall("sm:url", ns)
    locs = [u.findtext("sm:loc", namespaces=ns) for u in urls]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", u.findtext("sm:lastmod", namespaces=ns) or "") for u in urls)
    base = site_server.base_url
    assert sorted(locs) == sorted(base + p for p in manifest["article_paths"] + manifest["soft_404_paths"])


def test_soft_404_is_status_200(site_server: SiteServer, manifest: dict[str, Any]) -> None:
    for path in manifest["soft_404_paths"] + ["/paper/12345678901.html"]:
        status, headers, body = fetch(site_server.base_url + path)
        assert status == 200, path
        assert '<h1 class="title">对不起，您访问的页面不存在</h1>'.encode() in body
        assert headers["Content-Type"] == "text/html"


@pytest.mark.parametrize(
    "path", ["/nope.html", "/paper/abc.html", "/doc/442798.doc", "/search.php?q=x", "/login.html", "/tag/x.html"]
)
def test_unknown_path_is_404(site_server: SiteServer, path: str) -> None:
    status, _, _ = fetch(site_server.base_url + path)
    assert status == 404


def test_html_content_type_has_no_charset(site_server: SiteServer, manifest: dict[str, Any]) -> None:
    for path in ["/", manifest["article_paths"][0], manifest["gbk_article_paths"][0], manifest["list_paths"][-1]]:
        status, headers, body = fetch(site_server.base_url + path)
        assert status == 200
        assert headers["Content-Type"] == "text/html", path
        assert int(headers["Content-Length"]) == len(body)


def test_head_sends_headers_only(site_server: SiteServer, manifest: dict[str, Any]) -> None:
    path = manifest["article_paths"][0]
    _, get_headers, get_body = fetch(site_server.base_url + path)
    status, headers, body = fetch(site_server.base_url + path, method="HEAD")
    assert status == 200 and body == b""
    assert headers["Content-Length"] == str(len(get_body)) == get_headers["Content-Length"]


def test_gbk_pages_are_gbk_bytes(site_server: SiteServer, manifest: dict[str, Any]) -> None:
    assert len(manifest["gbk_article_paths"]) >= 4
    for path in manifest["gbk_article_paths"]:
        _, headers, body = fetch(site_server.base_url + path)
        assert headers["Content-Type"] == "text/html"
        assert b'<meta http-equiv="Content-Type" content="text/html; charset=gb2312" />' in body
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")
        with pytest.raises(UnicodeDecodeError):
            body.decode("gb2312")  # GBK-only characters such as 镕
        text = body.decode("gb18030")
        assert any(c in text for c in "镕喆堃赟"), path


def test_no_charset_pages_are_utf8_without_declaration(site_server: SiteServer, manifest: dict[str, Any]) -> None:
    assert manifest["no_charset_paths"]
    for path in manifest["no_charset_paths"]:
        _, _, body = fetch(site_server.base_url + path)
        assert b"charset" not in body.lower()
        assert "论文".encode() in body and body.decode("utf-8")


@pytest.mark.parametrize(
    "target",
    ["/../manifest.json", "/%2e%2e/manifest.json", "/paper/../../expected.jsonl", "/..%2fmanifest.json",
     "/./index.html", "/paper/..\\..\\manifest.json"],
)
def test_traversal_refused(site_server: SiteServer, target: str) -> None:
    assert raw_get(site_server, target) in (403, 404)


def test_hit_counting(site_server: SiteServer, manifest: dict[str, Any]) -> None:
    path = manifest["article_paths"][0]
    assert sum(site_server.hits.values()) == 0
    fetch(site_server.base_url + path + "?from=related")
    fetch(site_server.base_url + path)
    fetch(site_server.base_url + "/robots.txt", method="HEAD")
    assert site_server.hits[path] == 2
    assert site_server.hits["/robots.txt"] == 1
    assert site_server.hits_with_query[path + "?from=related"] == 1
    assert site_server.hits_with_query[path] == 1
    site_server.reset_hits()
    assert not site_server.hits and not site_server.hits_with_query


def test_fresh_hits_per_test(site_server: SiteServer) -> None:
    assert not site_server.hits


def test_mobile_copy_is_same_bytes_with_root_canonical(site_server: SiteServer, manifest: dict[str, Any]) -> None:
    for mobile in manifest["mobile_paths"]:
        _, _, mobile_body = fetch(site_server.base_url + mobile)
        _, _, desktop_body = fetch(site_server.base_url + mobile.removeprefix("/m"))
        assert mobile_body == desktop_body
        assert f'<link rel="canonical" href="{mobile.removeprefix("/m")}" />'.encode() in mobile_body


def test_faults_hook_answers_instead_of_the_site(fixture_site_dir: Path) -> None:
    def faults(path: str) -> Callable[[Any], None] | None:
        if path != "/robots.txt":
            return None
        return lambda handler: handler.respond(503, b"busy\n", "text/plain", {"Retry-After": "2"})

    with SiteServer(fixture_site_dir / "www", faults=faults) as server:
        status, headers, _ = fetch(server.base_url + "/robots.txt")
        assert status == 503 and headers["Retry-After"] == "2"
        assert fetch(server.base_url + "/")[0] == 200
        assert server.hits["/robots.txt"] == 1


def test_cli_prints_base_url_and_stops_on_sigterm(fixture_site_dir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.siteserver", str(fixture_site_dir / "www"), "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", first), first
        status, _, body = fetch(first + "robots.txt")
        assert status == 200 and f"Sitemap: {first}sitemap.xml".encode() in body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generator_is_deterministic_and_committed_site_is_current(tmp_path: Path, fixture_site_dir: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    sitegen.build_site(first)
    sitegen.build_site(second)
    a = _tree_bytes(first)
    assert a == _tree_bytes(second)
    committed = {k: v for k, v in _tree_bytes(fixture_site_dir).items() if "__pycache__" not in k}
    assert a == committed, "tests/site is stale: run `python -m tests.sitegen tests/site`"


def test_generator_rebuild_replaces_old_output(tmp_path: Path) -> None:
    sitegen.build_site(tmp_path, journals=2, issues_per_journal=2, articles_per_issue=2, body_chars=100)
    (tmp_path / "www" / "stale.html").write_text("x")
    manifest = sitegen.build_site(tmp_path, seed=2, journals=1, issues_per_journal=1, articles_per_issue=1)
    assert not (tmp_path / "www" / "stale.html").exists()
    assert manifest["articles"] == 1
    assert len((tmp_path / "expected.jsonl").read_text(encoding="utf-8").splitlines()) == 1


def test_expected_rows_match_manifest(expected_rows: list[dict[str, Any]], manifest: dict[str, Any]) -> None:
    assert manifest["articles"] == len(expected_rows) > 0
    assert [r["article_id"] for r in expected_rows] == sorted(r["article_id"] for r in expected_rows)
    assert sorted(r["url_path"] for r in expected_rows) == manifest["article_paths"]
    assert all(r["url_path"] == f"/paper/{r['article_id']}.html" for r in expected_rows)
    assert {len(r["article_id"]) for r in expected_rows} == {5, 6, 7}
    keys = ["article_id", "url_path", "title", "authors", "affiliations", "journal", "year", "issue",
            "issue_label", "published_date", "tags", "body"]
    assert all(list(r) == keys for r in expected_rows)


def test_site_is_small(fixture_site_dir: Path) -> None:
    total = sum(p.stat().st_size for p in fixture_site_dir.rglob("*") if p.is_file())
    assert total < 3_000_000


# -- the clean truth, checked by rules written here from the SPEC ---------

CJK = "\u3400-\u9fff\u3000-\u303f\uff00-\uffef\u201c\u201d\u2018\u2019"
_ZW = "\u200b\u200c\u200d\u2060\ufeff"


def spec_normalise(text: str, *, body: bool) -> str:
    """SPEC "Text normalisation" rules 1-5, independent of the generator's copy."""
    text = "".join(c for c in text if c not in _ZW)
    text = re.sub("期刊文章分类查询[，,]尽在期刊图书馆", "", text)
    text = "".join(chr(ord(c) - 0xFEE0) if "０" <= c <= "９" or "Ａ" <= c <= "Ｚ" or "ａ" <= c <= "ｚ" else c
                   for c in text)
    text = " ".join(text.replace("\xa0", " ").replace("\u3000", " ").split())
    if body:
        text = re.sub(f"(?<=[{CJK}]) (?=[{CJK}])", "", text)
    return re.sub(f"(?<=[{CJK}])[,;:?!]", lambda m: chr(ord(m.group()) + 0xFEE0), text)


def test_clean_truth_is_a_fixed_point(expected_rows: list[dict[str, Any]]) -> None:
    for row in expected_rows:
        values = [row["title"], row["journal"], *row["authors"], *row["affiliations"], *row["tags"]]
        for value in values:
            assert spec_normalise(value, body=False) == value, (row["url_path"], value)
            assert not sitegen.clean_violations(value, body=False)
        for para in row["body"].split("\n"):
            assert para and spec_normalise(para, body=True) == para, (row["url_path"], para)
            assert not sitegen.clean_violations(para, body=True)
            assert not re.search(f"[{CJK}][,;:?!]", para)
            assert not re.search(f"[{CJK}] [{CJK}]", para)
            assert "  " not in para


def test_gold_keeps_what_the_rules_leave_alone(expected_rows: list[dict[str, Any]]) -> None:
    bodies = "\n".join(r["body"] for r in expected_rows)
    for kept in ("1,000", "2019/4/28", "(文章);", "The results show a clear trend.", "SPSS 22.0"):
        assert kept in bodies, kept
    assert any(" " in r["title"] for r in expected_rows)
    assert any(" " in a for r in expected_rows for a in r["affiliations"])
    assert any(r["year"] is None for r in expected_rows)
    assert any(r["published_date"] is None for r in expected_rows)
    assert {"第6期(上)", "第12期(下)"} & {r["issue_label"] for r in expected_rows} or any(
        (r["issue_label"] or "").endswith(("(上)", "(下)")) for r in expected_rows
    )


# -- a reference extractor: every page reads back into its gold row --------


class _Node:
    def __init__(self, tag: str, attrs: dict[str, str]):
        self.tag, self.attrs = tag, attrs
        self.children: list[_Node | str] = []

    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    def find_all(self, pred: Callable[[_Node], bool]) -> list[_Node]:
        found = [self] if pred(self) else []
        for child in self.children:
            if isinstance(child, _Node):
                found += child.find_all(pred)
        return found

    def find_class(self, cls: str) -> _Node | None:
        found = self.find_all(lambda n: cls in n.classes())
        return found[0] if found else None

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children
                       if isinstance(c, str) or c.tag not in ("script", "style"))


class _TreeBuilder(HTMLParser):
    VOID = {"br", "img", "meta", "link", "input", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(_Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        while len(self.stack) > 1:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _parse(html_text: str) -> _Node:
    builder = _TreeBuilder()
    builder.feed(html_text)
    builder.close()
    return builder.root


def _block_paragraphs(node: _Node) -> list[str]:
    """A body block's paragraphs: split on two or more <br> in a row; one <br> is white space."""
    tokens: list[str | None] = []  # None = <br>

    def walk(n: _Node) -> None:
        for c in n.children:
            if isinstance(c, str):
                tokens.append(c)
            elif c.tag == "br":
                tokens.append(None)
            elif c.tag not in ("script", "style"):
                walk(c)

    walk(node)
    paragraphs, current, run, pending_ws = [], "", 0, ""
    for tok in tokens:
        if tok is None:
            run += 1
            continue
        if run and not tok.strip():
            pending_ws += tok
            continue
        if run >= 2:
            paragraphs.append(current)
            current = ""
        elif run == 1:
            current += " " + pending_ws
        run, pending_ws = 0, ""
        current += tok
    paragraphs.append(current)
    return paragraphs


def _parse_date(text: str) -> str | None:
    m = re.fullmatch(r"(\d{4})[/\-年](\d{1,2})[/\-月](\d{1,2})日?", text.strip())
    return f"{int(m[1]):04d}-{int(m[2]):02d}-{int(m[3]):02d}" if m else None


def reference_extract(html_text: str, url_path: str) -> dict[str, Any]:
    """The SPEC's article row, read from one page with the stdlib only."""
    root = _parse(html_text)
    h1 = spec_normalise(root.find_all(lambda n: n.tag == "h1")[0].text(), body=False)
    if "论文_" in h1:
        title, h1_authors = h1.rsplit("论文_", 1)
    else:
        title, h1_authors = h1.removesuffix("论文"), ""

    content = root.find_class("content")
    assert content is not None
    affiliations, paragraphs = [], []
    for child in content.children:
        if isinstance(child, str):
            assert not child.strip(), child
            continue
        if child.tag in ("script", "style") or "ad" in child.classes():
            continue
        if child.tag == "p" and "text-align:center" in child.attrs.get("style", "") and not paragraphs:
            aff = spec_normalise(child.text(), body=False)
            if aff[:1] in "（(" and aff[-1:] in "）)":
                aff = aff[1:-1]
            affiliations.append(aff)
            continue
        paragraphs += _block_paragraphs(child)
    body = [p for p in (spec_normalise(p, body=True) for p in paragraphs) if p]

    info = {}
    for p in root.find_class("paper-info").find_all(lambda n: n.tag == "p"):  # type: ignore[union-attr]
        key, _, value = p.text().partition("：")
        info[key] = value
    if "论文作者" in info:
        authors = [spec_normalise(a, body=False) for a in re.split(r"[\s,，、;；]+", info["论文作者"])]
    else:
        authors = spec_normalise(h1_authors, body=False).split()
    authors = [a for a in authors if a]

    journal = year = issue = label = None
    if "论文发表刊物" in info:
        m = re.fullmatch(r"《(.+)》(\d{4})年(.+)", spec_normalise(info["论文发表刊物"], body=False))
        assert m, info["论文发表刊物"]
        journal, year, label = m[1], int(m[2]), m[3]
    else:
        crumbs = root.find_class("position").find_all(lambda n: n.tag == "a")  # type: ignore[union-attr]
        for a in crumbs:
            if re.fullmatch(r"/journal/[^/]+/", a.attrs["href"]):
                journal = spec_normalise(a.text(), body=False)
            m = re.fullmatch(r"(\d{4})年(第\d+期)", a.text())
            if m:
                year, label = int(m[1]), m[2]
    if label is not None:
        issue = int(re.search(r"\d+", label)[0])  # type: ignore[index]

    tags_div = root.find_class("tags")
    assert tags_div is not None
    tag_texts = (spec_normalise(a.text(), body=False) for a in tags_div.find_all(lambda n: n.tag == "a"))
    tags = [t for t in tag_texts if t]
    return {
        "article_id": url_path.removeprefix("/paper/").removesuffix(".html"),
        "url_path": url_path,
        "title": spec_normalise(title, body=False),
        "authors": authors,
        "affiliations": affiliations,
        "journal": journal,
        "year": year,
        "issue": issue,
        "issue_label": label,
        "published_date": _parse_date(info["论文发表时间"]) if "论文发表时间" in info else None,
        "tags": tags,
        "body": "\n".join(body),
    }


def read_page(www: Path, path: str) -> str:
    """Decode a page the way the SPEC says: gb2312 declarations are read as GB18030."""
    file = www / path.lstrip("/")
    raw = (file / "index.html" if file.is_dir() else file).read_bytes()  # extensionless pages live in a folder
    head = raw[:1024].lower()
    return raw.decode("gb18030" if re.search(rb"charset=[\"']?(gb2312|gbk)", head) else "utf-8")


def test_reference_extraction_reproduces_every_gold_row(
    fixture_site_dir: Path, expected_rows: list[dict[str, Any]]
) -> None:
    www = fixture_site_dir / "www"
    for row in expected_rows:
        got = reference_extract(read_page(www, row["url_path"]), row["url_path"])
        assert got == row, row["url_path"]


@pytest.mark.parametrize(
    ("seed", "shape", "count"),
    [(2, {}, 48), (7, {"journals": 5, "issues_per_journal": 4, "articles_per_issue": 5, "body_chars": 1500}, 100)],
)
def test_reference_extraction_on_other_seeds(tmp_path: Path, seed: int, shape: dict[str, int], count: int) -> None:
    """Other seeds and shapes: the gold must stay exact, not just for the committed site."""
    sitegen.build_site(tmp_path, seed=seed, **shape)
    rows = [json.loads(line) for line in (tmp_path / "expected.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == count
    for row in rows:
        assert reference_extract(read_page(tmp_path / "www", row["url_path"]), row["url_path"]) == row


# -- links: what a crawler can reach ---------------------------------------


def _links(www: Path, path: str) -> list[str]:
    """Absolute paths (query dropped) of every href on a page."""
    html_text = read_page(www, path if not path.endswith("/") else path + "index.html")
    return [urlsplit(urljoin("http://site" + path, h)).path for h in re.findall(r'href="([^"]*)"', html_text)]


def _exists(www: Path, path: str) -> bool:
    return (www / (path.lstrip("/") + ("index.html" if path.endswith("/") else ""))).is_file()


def _crawl(www: Path, skip: set[str] = frozenset()) -> tuple[set[str], dict[str, set[str]]]:
    """Breadth-first over the site's files from "/", not entering ``skip``: (reached, linked_from)."""
    linked_from: dict[str, set[str]] = {}
    seen, queue = {"/"}, ["/"]
    while queue:
        page = queue.pop()
        for target in _links(www, page):
            linked_from.setdefault(target, set()).add(page)
            if target in seen or target in skip or not _exists(www, target):
                continue
            if target.endswith(("/", ".html")):
                seen.add(target)
                queue.append(target)
    return seen, linked_from


def test_link_structure(fixture_site_dir: Path, manifest: dict[str, Any]) -> None:
    www = fixture_site_dir / "www"
    seen, linked_from = _crawl(www)
    articles = set(manifest["article_paths"])
    orphans = set(manifest["orphan_article_paths"])
    assert orphans and orphans <= articles
    assert {p for p in seen if p.startswith("/paper/")} == articles - orphans
    assert not orphans & set(linked_from)
    assert set(manifest["mobile_paths"]) <= seen
    assert len(set(manifest["mobile_paths"]) & set(_links(www, "/"))) == 1
    assert {p for p in seen if not p.startswith(("/paper/", "/m/"))} == set(manifest["list_paths"])
    for soft in manifest["soft_404_paths"]:
        assert not _exists(www, soft)
        assert any(re.fullmatch(r"/journal/[^/]+/\d{4}-\d{2}/(index_\d+\.html)?", p) for p in linked_from[soft])

    # Pagination matters: without the later journal index pages the last journal
    # is out of reach, and without later issue pages so are the articles on them.
    later_journal_pages = {p for p in manifest["list_paths"] if re.fullmatch(r"/journals/index_\d+\.html", p)}
    assert later_journal_pages
    reached, _ = _crawl(www, skip=later_journal_pages)
    assert f"/journal/{manifest['journals'][-1]['slug']}/" not in reached
    later_issue_pages = {p for p in manifest["list_paths"] if re.search(r"/\d{4}-\d{2}/index_\d+\.html$", p)}
    on_later_pages = {
        href for page in later_issue_pages
        for href in re.findall(r'href="([^"]+)"', _part(read_page(www, page), '<ul class="article-list">', "</ul>"))
        if href in articles
    }
    assert on_later_pages
    reached, _ = _crawl(www, skip=later_issue_pages)
    assert not on_later_pages & reached

    # Chrome links that are never articles are on every list page.
    for page in manifest["list_paths"]:
        targets = set(_links(www, page))
        assert {"/login.html", "/reg.html", "/search.php", "/tag/", "/sitemap.xml"} <= targets
        assert any(t.startswith("/doc/") for t in targets)


# -- every quirk of the SPEC is on the committed site -----------------------

_ZW_RE = re.compile("[\u200b-\u200d\u2060\ufeff]|&#(8203|8204|8205|8288|65279);")
_FW_RE = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_HAN = "\u4e00-\u9fff"


def _part(h: str, start: str, end: str) -> str:
    i = h.index(start)
    return h[i : h.index(end, i)]


def _content(h: str) -> str:
    return _part(h, '<div class="content" id="content">', '<div class="paper-info">')


def _h1(h: str) -> str:
    return _part(h, '<h1 class="title">', "</h1>")


def _info(h: str) -> str:
    return _part(h, '<div class="paper-info">', '<div class="tags">')


def _tags(h: str) -> str:
    return _part(h, '<div class="tags">', "</div>")


def _single_brs(h: str) -> list[tuple[str, str]]:
    """(char before, char after) of every lone <br> between two characters of body text."""
    c = _content(h)
    return [(c[m.start() - 1], c[m.end()]) for m in re.finditer(r"(?:<br\s*/?>\s*)+", c)
            if m.group().count("<br") == 1 and c[m.start() - 1] != ">" and c[m.end()] != "<"]


def _cjk(ch: str) -> bool:
    return bool(re.fullmatch(f"[{CJK}]", ch))


def _affiliations(n: int) -> Callable[[str, dict[str, Any]], bool]:
    def check(h: str, r: dict[str, Any]) -> bool:
        return len(r["affiliations"]) == n and _content(h).count('<p style="text-align:center;">') == n

    return check


def _watermark(place: str, comma: str) -> Callable[[str, dict[str, Any]], bool]:
    sentence = sitegen.WATERMARK_FULL if comma == "full" else sitegen.WATERMARK_HALF

    def check(h: str, r: dict[str, Any]) -> bool:
        c = _content(h)
        if place == "span":
            return f'<span style="display:none">{sentence}</span>' in c
        if place == "font":
            return f'<font color="#ffffff">{sentence}</font>' in c
        return any(not c[: m.start()].endswith(('none">', 'ffffff">')) for m in re.finditer(sentence, c))

    return check


def _author_sep(sep: str) -> Callable[[str, dict[str, Any]], bool]:
    def check(h: str, r: dict[str, Any]) -> bool:
        line = re.search("<p>论文作者：(.*)</p>", h)
        return bool(line) and len(r["authors"]) > 1 and _ZW_RE.sub("", line[1]) == sep.join(r["authors"])

    return check


QUIRKS: dict[str, Callable[[str, dict[str, Any]], bool]] = {
    "title_ends_lunwen": lambda h, r: r["title"].endswith("论文") and "论文论文" in _h1(h),
    "no_authors": lambda h, r: r["authors"] == [] and "论文作者" not in h and "_" not in _h1(h),
    "title_space": lambda h, r: " " in r["title"] and re.search(f"[{_HAN}](?: |\u3000|&nbsp;)+[{_HAN}]", _h1(h)),
    "multi_author": lambda h, r: len(r["authors"]) > 1
    and _ZW_RE.sub("", _h1(h)).endswith("_" + " ".join(r["authors"])),
    **{f"author_sep_{name}": _author_sep(sep) for sep, name in sitegen.AUTHOR_SEP_NAMES.items()},
    "authors_from_title": lambda h, r: "论文作者" not in h and r["authors"] and "_" in _h1(h),
    **{f"watermark_{p}_{c}": _watermark(p, c) for p in ("bare", "span", "font") for c in ("full", "half")},
    **{f"affiliations_{n}": _affiliations(n) for n in (0, 1, 2)},
    "affiliation_paren_full": lambda h, r: '<p style="text-align:center;">（' in h,
    "affiliation_paren_half": lambda h, r: '<p style="text-align:center;">(' in h,
    "affiliation_paren_none": lambda h, r: re.search('<p style="text-align:center;">[^（(]', h),
    "affiliation_space": lambda h, r: any(re.search(f"[{_HAN}] [{_HAN}]", a) for a in r["affiliations"]),
    "affiliation_punct": lambda h, r: re.search(f'<p style="text-align:center;">[^<]*[{_HAN}],', h),
    "indent_nbsp": lambda h, r: re.search(r"(<p>|<br\s*/?>\s*|<div>)&nbsp;&nbsp;", _content(h)),
    "indent_ideo": lambda h, r: re.search("(<p>|<br\\s*/?>\\s*|<div>)\u3000\u3000", _content(h)),
    "body_punct": lambda h, r: re.search(f"[{CJK}][,;:?!]", _content(h)),
    "body_stray_space": lambda h, r: re.search(f"[{_HAN}](?: |\u3000|&nbsp;|\n)+[{_HAN}]", _content(h)),
    "body_zero_width": lambda h, r: _ZW_RE.search(_content(h)),
    "body_fullwidth": lambda h, r: _FW_RE.search(_content(h)),
    "title_fullwidth": lambda h, r: _FW_RE.search(_h1(h)) and re.search("[A-Za-z0-9]", r["title"]),
    "title_punct": lambda h, r: re.search(f"[{CJK}][,;:?!]", _h1(h)),
    "title_zero_width": lambda h, r: _ZW_RE.search(_h1(h).split("论文")[0]),
    "author_zero_width": lambda h, r: _ZW_RE.search(_h1(h).rpartition("_")[2] + _info(h)),
    "tag_fullwidth": lambda h, r: _FW_RE.search(_tags(h)),
    "template_old_p": lambda h, r: re.search(r"<p>(?:(?!</p>).)*<br\s*/?>\s*<br", _content(h), re.S),
    "template_old_div": lambda h, r: re.search(r"<div>(?:(?!</div>).)*<br\s*/?>\s*<br", _content(h), re.S),
    "old_sep_triple": lambda h, r: re.search(r"(<br\s*/?>){3}", _content(h)),
    "old_sep_ws": lambda h, r: re.search(r"<br\s*/?>\s+<br", _content(h)),
    "old_trailing_br": lambda h, r: re.search(r"<br\s*/?><br\s*/?></(p|div)>", _content(h)),
    "br_single": lambda h, r: _single_brs(h),
    "body_br_gap": lambda h, r: any(_cjk(a) and _cjk(b) for a, b in _single_brs(h)),
    "body_br_space": lambda h, r: any(not (_cjk(a) and _cjk(b)) for a, b in _single_brs(h)),
    "content_ad": lambda h, r: '<div class="ad"><script' in _content(h) and "（广告）" in _content(h),
    "content_img": lambda h, r: re.search(r"<p><img [^>]*/></p>", _content(h)),
    "content_empty_p": lambda h, r: "<p></p>" in _content(h) and "<p>&nbsp;</p>" in _content(h),
    "content_script": lambda h, r: "<script" in _content(h).replace('<div class="ad"><script', ""),
    "content_style": lambda h, r: "<style" in _content(h),
    "missing_journal_line": lambda h, r: "论文发表刊物" not in h and r["issue_label"] == f"第{r['issue']}期",
    "missing_date_line": lambda h, r: "论文发表时间" not in h and r["published_date"] is None,
    "null_year": lambda h, r: "论文发表刊物" not in h
    and r["year"] is None
    and not re.search(r"\d{4}年第\d+期", _part(h, 'class="position"', "</div>")),
    "issue_bare": lambda h, r: re.search(r"》\d{4}年\d+期<", h) and r["issue_label"] == f"{r['issue']}期",
    "issue_di0": lambda h, r: re.search(r"》\d{4}年第0\d期<", h) and r["issue_label"] == f"第{r['issue']:02d}期",
    "issue_half": lambda h, r: re.search(r"》\d{4}年第\d+期\([上下]\)<", h) and r["issue_label"].endswith(")"),
    "issue_di": lambda h, r: re.search(r"》\d{4}年第[1-9]\d*期<", h) and r["issue_label"] == f"第{r['issue']}期",
    "date_slash": lambda h, r: re.search(r"论文发表时间：\d{4}/\d{1,2}/\d{1,2}<", h),
    "date_dash": lambda h, r: re.search(r"论文发表时间：\d{4}-\d{1,2}-\d{1,2}<", h),
    "date_cn": lambda h, r: re.search(r"论文发表时间：\d{4}年\d{1,2}月\d{1,2}日<", h),
    "tags_links": lambda h, r: r["tags"] and re.search(r'<a href="/tag/[0-9a-f]+\.html">[^<]+</a>', _tags(h)),
    "tags_empty_links": lambda h, r: re.search(r'<a href="/tag/[0-9a-f]+\.html"></a>', _tags(h)),
    "tags_none": lambda h, r: r["tags"] == [] and "<a" not in _tags(h) and _tags(h).count(";") == 8,
    "encoding_gbk": lambda h, r: 'charset=gb2312" />' in h and any(c in h for c in sitegen.GBK_ONLY_CHARS),
    "encoding_utf-8-nometa": lambda h, r: "charset" not in h,
    "canonical_root": lambda h, r: f'<link rel="canonical" href="{r["url_path"]}" />' in h,
    "canonical_bare": lambda h, r: f'<link rel="canonical" href="{r["article_id"]}.html" />' in h,
    "canonical_dotdot": lambda h, r: f'<link rel="canonical" href="..{r["url_path"]}" />' in h,
    "related_query": lambda h, r: re.search(r'<div class="related">.*href="/paper/\d+\.html\?from=related"', h),
    "sentence_number_comma": lambda h, r: "1,000" in r["body"],
    "sentence_date_slash": lambda h, r: "2019/4/28" in r["body"],
    "sentence_paren_ascii": lambda h, r: "(文章);" in r["body"],
    "sentence_ascii_trend": lambda h, r: "The results show a clear trend." in r["body"],
}
"""Quirk -> a concrete check of the page's HTML (and its gold row)."""

ROLE_QUIRKS = {"orphan", "mobile"}
"""Checked by the link-structure and server tests instead."""


def test_every_quirk_occurs_on_the_committed_site(
    fixture_site_dir: Path, manifest: dict[str, Any], expected_rows: list[dict[str, Any]]
) -> None:
    www = fixture_site_dir / "www"
    rows = {r["url_path"]: r for r in expected_rows}
    quirks = manifest["quirks"]
    missing = sorted(set(QUIRKS) - set(quirks))
    assert not missing, f"quirks not on the site: {missing}"
    for name, check in QUIRKS.items():
        for path in quirks[name]:
            assert check(read_page(www, path), rows[path]), f"{name} not visible on {path}"
    assert ROLE_QUIRKS <= set(quirks)
    assert manifest["authors_from_title_paths"] == quirks["authors_from_title"]
    assert len(manifest["gbk_article_paths"]) >= 4


# -- redesigned variants: the same articles in other templates and URL schemes --

VARIANTS = [(t, u) for t in sitegen.TEMPLATES for u in sitegen.URL_SCHEMES if (t, u) != ("classic", "classic")]
SMALL = {"journals": 4, "issues_per_journal": 2, "articles_per_issue": 4, "body_chars": 300}
_BLOCKS = {"p", "div", "section", "article", "header", "footer", "nav", "aside", "main", "li", "ul", "td", "tr",
           "table", "center", "h1", "h2", "h3", "br", "form"}


class _VisibleText(HTMLParser):
    """What a reader sees in ``<body>``: text with a newline at every block boundary, no script/style."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_body |= tag == "body"
        self.skip += tag in ("script", "style")
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("script", "style")
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_body and not self.skip:
            self.parts.append(data)


def visible_lines(html_text: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(html_text)
    parser.close()
    return [line for line in (spec_normalise(x, body=False) for x in "".join(parser.parts).split("\n")) if line]


def _variant_site(tmp_path_factory: pytest.TempPathFactory, template: str, scheme: str) -> Path:
    out = tmp_path_factory.mktemp(f"{template}-{scheme}")
    sitegen.build_site(out, template=template, url_scheme=scheme, **SMALL)
    return out


def _rows(site: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (site / "expected.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(("template", "scheme"), VARIANTS, ids=[f"{t}-{u}" for t, u in VARIANTS])
def test_variant_has_the_same_gold_and_visible_text(
    tmp_path_factory: pytest.TempPathFactory, template: str, scheme: str
) -> None:
    """Same seed, same truth: only url_path follows the scheme, and each page shows every gold value."""
    base = _rows(_variant_site(tmp_path_factory, "classic", "classic"))
    site = _variant_site(tmp_path_factory, template, scheme)
    rows = _rows(site)
    assert [{**r, "url_path": ""} for r in rows] == [{**r, "url_path": ""} for r in base]
    assert all(re.findall(r"[0-9]+", r["url_path"])[-1] == r["article_id"] for r in rows)  # SPEC: the last digit run
    for row in rows:
        html_text = read_page(site / "www", row["url_path"])
        lines = visible_lines(html_text)
        flat = spec_normalise(" ".join(lines), body=True)
        assert flat.count(spec_normalise(row["title"], body=True)) >= 2, row["url_path"]
        for para in row["body"].split("\n"):
            assert para in flat, (row["url_path"], para)
        values = row["affiliations"] + row["authors"] + row["tags"] + [row["journal"]]
        for value in values:
            assert spec_normalise(value, body=True) in flat, (row["url_path"], value)
        if row["published_date"]:
            y, m, d = (int(x) for x in row["published_date"].split("-"))
            assert {f"{y}/{m}/{d}", f"{y}-{m}-{d}", f"{y}年{m}月{d}日"} & set(re.findall(r"[\d/年月日-]+", flat))
        if scheme in ("classic", "dated"):
            assert ("canonical" in html_text) == (scheme == "classic"), row["url_path"]
        if template == "html5":
            assert not re.search(r'class="(title|content|paper-info|position|tags)"', html_text), row["url_path"]
            assert "来源：期刊图书馆" in lines and "分享到：微博 微信 QQ空间" in lines
        if template == "table":
            assert not re.search(r"<(p|div) ", html_text.split("<body", 1)[1]) and "<td>" in html_text
    soft = (site / "www" / "404.html").read_bytes().decode("utf-8")
    assert "您访问的页面不存在" in "".join(visible_lines(soft))


def test_dated_scheme_over_http(tmp_path_factory: pytest.TempPathFactory) -> None:
    site = _variant_site(tmp_path_factory, "html5", "dated")
    manifest = json.loads((site / "manifest.json").read_text(encoding="utf-8"))
    with SiteServer(site / "www") as server:
        base = server.base_url
        status, _, robots = fetch(f"{base}/robots.txt")
        assert status == 200 and f"Sitemap: {base}/sitemaps/qikan-articles.xml".encode() in robots
        _, _, sitemap = fetch(f"{base}/sitemaps/qikan-articles.xml")
        locs = {urlsplit(e.text or "").path for e in ET.fromstring(sitemap).iter() if e.tag.endswith("loc")}
        assert set(manifest["article_paths"]) | set(manifest["soft_404_paths"]) == locs
        paged = [p for p in manifest["list_paths"] if "?page=" in p]
        assert any(p.startswith("/qikan/?page=") for p in paged) and any(".html?page=" in p for p in paged)
        for target in paged:
            first, second = fetch(f"{base}{target.split('?')[0]}")[2], fetch(f"{base}{target}")
            assert second[0] == 200 and second[2] != first, target
        assert fetch(f"{base}/qikan/?page=99")[0] == 404
        article = manifest["article_paths"][0]
        server.reset_hits()
        status, _, body = fetch(f"{base}{article}?from=related")
        assert status == 200 and server.hits[article] == 1 and server.hits_with_query[f"{article}?from=related"] == 1
        for soft in manifest["soft_404_paths"]:
            status, _, body = fetch(f"{base}{soft}")
            assert status == 200 and "您访问的页面不存在".encode() in body
        for mobile in manifest["mobile_paths"]:
            assert mobile.startswith("/wap/a/") and fetch(f"{base}{mobile}")[2] == fetch(f"{base}{mobile[4:]}")[2]
    pages = manifest["pages"]
    assert manifest["every_page_once"] == sum(pages[k] for k in ("articles", "soft_404", "listings", "robots", "sitemaps"))
    assert pages["linked_tag"] > 0 and pages["linked_download"] == pages["articles"]
    assert re.fullmatch(manifest["not_content_patterns"]["tag"], "/topic/%E5%85%9A/")
