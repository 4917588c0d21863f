"""Discovery without fixed URL shapes (issue 12): page classes, URL shapes, the learner, and
crawls of redesigned sites judged by what the crawler fetched."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import HtmlResponse

from pipelines import urls
from pipelines.discovery import (
    Learner,
    PageClass,
    chrome_kind,
    classify_page,
    classify_texts,
    main_links,
    path_has_slug,
    url_shape,
)
from tests import sitegen
from tests.siteserver import SiteServer
from tests.test_crawl import SITE, crawl, read_articles

BASE = "http://127.0.0.1:8000"


def page_class_of(path: Path) -> PageClass:
    response = HtmlResponse(url=f"{BASE}/x", body=path.read_bytes(), headers={"Content-Type": "text/html"})
    return classify_page(response.selector.root, on_site_links=10)


# -- the classifier ---------------------------------------------------------------------------------


def test_every_page_of_todays_site_gets_its_class() -> None:
    www = SITE / "www"
    assert {page_class_of(p) for p in (www / "paper").glob("*.html")} == {PageClass.ARTICLE}
    assert {page_class_of(p) for p in (www / "journal").rglob("*.html")} == {PageClass.LISTING}
    assert page_class_of(www / "index.html") is PageClass.LISTING
    assert page_class_of(www / "404.html") is PageClass.SOFT_404


@pytest.mark.parametrize(
    ("texts", "title", "expected"),
    [
        (["论文作者", "张三", "论文发表刊物", "《基层建设》2019年第6期"], "", PageClass.ARTICLE),  # labels in cells
        (["论文发表时间:2019-4-28"], "某研究论文 - 期刊图书馆", PageClass.ARTICLE),  # no authors, one label
        (["某研究论文_张三", "正文" * 50], "期刊图书馆", PageClass.ARTICLE),  # title line and body text
        (["对不起，您访问的页面不存在"], "提示", PageClass.SOFT_404),
        (["该页面不存在或已删除"], "", PageClass.SOFT_404),  # reworded, still 页面不存在
        (["基层建设", "2019年第6期"], "基层建设 - 期刊图书馆", PageClass.LISTING),
        (["维护中"], "", PageClass.OTHER),
    ],
)
def test_classify_texts(texts: list[str], title: str, expected: PageClass) -> None:
    links = 0 if expected is PageClass.OTHER else 5
    assert classify_texts(texts, title, links) is expected


# -- shapes and chrome links ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paths", "shape"),
    [
        (["/paper/442798.html", "/paper/1.html"], "/paper/{n}.html"),
        (["/a/2019/06/442798.html", "/a/2020/11/3.html"], "/a/{n}/{n}/{n}.html"),
        (["/journal/qk000/", "/journal/qk003/"], "/journal/{s}/"),
        (["/journal/qk000/2019-06/", "/journal/qk001/2016-12/"], "/journal/{s}/{s}/"),
        (["/qikan/qk000/2019-06.html?page=2", "/qikan/qk001/2016-06.html?page=3&from=x"], "/qikan/{s}/{s}.html?page"),
        (["/tag/d5a8bcb4.html", "/tag/0123abcd.html"], "/tag/{s}.html"),
        (["/topic/%E4%B8%A4%E5%AD%A6/", "/topic/%E6%9E%97%E4%B8%9A/"], "/topic/{s}/"),
    ],
)
def test_pages_of_one_kind_share_one_shape(paths: list[str], shape: str) -> None:
    assert {url_shape(BASE + p) for p in paths} == {shape}


def test_words_stay_words_in_a_shape() -> None:
    assert url_shape(f"{BASE}/help.html") != url_shape(f"{BASE}/journals.html")
    assert url_shape(f"{BASE}/journals/") == "/journals/"


@pytest.mark.parametrize(
    ("path", "text", "in_tag_line", "kind"),
    [
        ("/tag/d5a8bcb4.html", "两学一做", False, "tag"),
        ("/x/9f8e.html", "两学一做", True, "tag"),  # a link of the 标签 line, whatever its URL
        ("/topic/gis/", "GIS", False, "tag"),
        ("/doc/442798.doc", "下载Doc文档", False, "download"),
        ("/files/442798", "下载Doc文档", False, "download"),  # by what a reader sees
        ("/download/442798", "", False, "download"),
        ("/search.php?q=x", "", False, "search"),
        ("/so/?q=x", "", False, "search"),
        ("/login.html", "登录", False, "login"),
        ("/user/register", "注册", False, "register"),
        ("/about/contact/", "联系我们", False, "info"),
        ("/paper/1.html", "广告设计中的色彩运用论文", False, None),  # a title is no chrome label
        ("/journal/qk000/", "基层建设", False, None),
    ],
)
def test_chrome_links(path: str, text: str, in_tag_line: bool, kind: str | None) -> None:
    assert chrome_kind(BASE + path, text, in_tag_line) == kind


# -- the learner ---------------------------------------------------------------------------------------


def test_unknown_shape_is_probed_then_released_as_articles() -> None:
    learner = Learner(probes_per_shape=2)
    decided = [learner.decide(f"{BASE}/a/2019/06/{i}.html") for i in range(1, 6)]
    assert [d.kind if d else None for d in decided] == ["probe", "probe", None, None, None]
    assert learner.observe(f"{BASE}/a/2019/06/1.html", PageClass.SOFT_404, probe=True) == []  # no decision yet
    released = learner.observe(f"{BASE}/a/2019/06/2.html", PageClass.ARTICLE, probe=True)
    assert [(link.url, link.kind) for link in released] == [(f"{BASE}/a/2019/06/{i}.html", "article") for i in (3, 4, 5)]
    assert learner.summary()["article_shapes"] == ["/a/{n}/{n}/{n}.html"]


def test_a_shape_of_no_use_is_dropped_after_its_probes() -> None:
    learner = Learner(probes_per_shape=1)
    assert learner.decide(f"{BASE}/go/a1b2") is not None
    assert learner.decide(f"{BASE}/go/c3d4") is None
    assert learner.observe(f"{BASE}/go/a1b2", PageClass.OTHER, probe=True) == []
    assert learner.decide(f"{BASE}/go/e5f6") is None
    assert learner.summary()["shapes"]["/go/{s}"] == {
        "class": "other", "pages": {"other": 1}, "links": 3, "probes": 1, "parked": 0, "dropped": 2,
    }  # fmt: skip


def test_sitemap_decides_a_shape_and_each_article_id_is_requested_once() -> None:
    learner = Learner()
    own, released = learner.observe_sitemap(f"{BASE}/paper/7.html")
    assert own is not None and own.kind == "article" and released == []
    assert learner.decide(f"{BASE}/paper/7.html") is None  # the same URL
    assert learner.decide(f"{BASE}/m/paper/7.html") is None  # an alias under an unknown prefix, same id
    link = learner.decide(f"{BASE}/touch2/paper/8.html")  # alias: the rest of the path is a known article shape
    assert link is not None and (link.url, link.kind) == (f"{BASE}/paper/8.html", "article")


def test_a_probes_digits_are_no_article_id_until_its_shape_shows_articles() -> None:
    """Issues at ``/periodical/<letters>/<yyyymm>``: every journal is a shape of its own, and the same
    digits recur across journals, on page 2 (``?page=2``) and in article ids."""
    learner = Learner()
    first, second = (learner.decide(f"{BASE}/periodical/{slug}/201806") for slug in ("jcjs", "xbjy"))
    assert first is not None and second is not None and (first.kind, second.kind) == ("probe", "probe")
    learner.observe(first.url, PageClass.LISTING, probe=True)
    page_2 = learner.decide(f"{BASE}/periodical/jcjs/201806?page=2")
    assert page_2 is not None and page_2.kind == "probe"
    own, _ = learner.observe_sitemap(f"{BASE}/article/detail/201806")
    assert own is not None and own.kind == "article"
    assert learner.duplicate_ids == 0
    assert learner.decide(f"{BASE}/article/detail/201806?from=related") is None  # the article again


def test_a_probe_that_shows_an_article_claims_its_id() -> None:
    learner = Learner()
    probe = learner.decide(f"{BASE}/p/7/")
    assert probe is not None and probe.kind == "probe"
    assert learner.observe_sitemap(f"{BASE}/p/7/")[0] is None  # the same page, already on its way
    learner.observe(probe.url, PageClass.ARTICLE, probe=True)
    assert learner.decide(f"{BASE}/mobile2/p/7/") is None  # an alias of a known article
    assert learner.decide(f"{BASE}/p/8/") is not None


@pytest.mark.parametrize(
    ("path", "kind", "expected"),
    [
        ("/article/detail/442798", "article", "442798"),
        ("/p/442798/", "probe", "442798"),
        ("/issue/12345/", "listing", None),  # a listing's number is no article id
        ("/issue/12345/list_2.html", "probe", None),  # nor a probe whose last segment is no number
        ("/paper/1.html", None, None),
    ],
)
def test_only_article_requests_carry_an_article_id(path: str, kind: str | None, expected: str | None) -> None:
    assert urls.requested_article_id(BASE + path, kind) == expected


def test_listing_pages_with_query_are_different_pages() -> None:
    learner = Learner()
    first = learner.decide(f"{BASE}/qikan/?page=2")
    assert first is not None and first.kind == "probe"
    learner.observe(first.url, PageClass.LISTING, probe=True)
    second = learner.decide(f"{BASE}/qikan/?page=3")
    assert second is not None and (second.url, second.kind) == (f"{BASE}/qikan/?page=3", "listing")


def test_pinned_patterns_need_no_learning() -> None:
    learner = Learner(article_patterns=[r"^/p/\d+$"], listing_patterns=[r"^/list/"])
    assert learner.decide(f"{BASE}/p/12").kind == "article"  # type: ignore[union-attr]
    assert learner.decide(f"{BASE}/list/qk000/").kind == "listing"  # type: ignore[union-attr]
    assert learner.decide(f"{BASE}/else/1.html") is None  # both pinned: nothing else is followed
    assert learner.learned_articles()


def test_the_alarm_text_says_what_was_seen() -> None:
    learner = Learner()
    learner.observe(f"{BASE}/", PageClass.OTHER)
    assert not learner.learned_articles()
    assert learner.describe() == "pages fetched by class: 1 other; URL shapes seen: / (undecided, 0 links)"


def test_main_links_cut_the_chrome_every_page_repeats() -> None:
    chrome = ["/login", "/", "/journals/", "/j/a/", "/j/b/", "/p/1", "/about"]
    issue = ["/login", "/", "/journals/", "/j/b/", "/p/7", "/p/1", "/j/b/2/", "/j/a/", "/j/b/", "/p/1", "/about"]
    assert main_links(issue, chrome) == ["/j/b/", "/p/7", "/p/1", "/j/b/2/"]
    assert path_has_slug(f"{BASE}/qikan/qk000/2019-06.html?page=2", "qk000")
    assert not path_has_slug(f"{BASE}/qikan/qk0001/", "qk000")


# -- crawls of redesigned sites -------------------------------------------------------------------


@pytest.fixture(scope="module")
def dated_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A redesign: new markup (html5) and new URL shapes (dated articles, /qikan/ listings, ?page=N, /wap/)."""
    root = tmp_path_factory.mktemp("dated")
    manifest = sitegen.build_site(root, template="html5", url_scheme="dated", journals=2, issues_per_journal=2)
    return root / "www", manifest


def fetched(hits: Counter) -> set[str]:
    return set(hits)


def test_redesigned_site_every_page_once_and_no_chrome(tmp_path: Path, dated_site) -> None:
    www, manifest = dated_site
    with SiteServer(www) as server:
        crawl(server.base_url, tmp_path / "out")
        hits = Counter(server.hits_with_query)
    pages = set(manifest["article_paths"]) | set(manifest["soft_404_paths"]) | set(manifest["list_paths"])
    assert {p: n for p, n in hits.items() if n != 1 and p != "/robots.txt"} == {}
    assert fetched(hits) - {"/robots.txt", *manifest["sitemap_paths"]} == pages
    summary = json.loads(next((tmp_path / "out" / "runs").glob("*.json")).read_text(encoding="utf-8"))
    assert summary["discovery"]["article_shapes"] == ["/a/{n}/{n}/{n}.html"]
    assert "/qikan/{s}/{s}.html?page" in summary["discovery"]["listing_shapes"]
    assert summary["pages_by_kind"]["soft_404"] == len(manifest["soft_404_paths"])


def test_redesigned_site_without_sitemap_is_learned_from_pages(tmp_path: Path, dated_site) -> None:
    www, manifest = tmp_path / "www", dated_site[1]
    shutil.copytree(dated_site[0], www)
    (www / "robots.txt").write_text("User-agent: *\nDisallow: /so/\n", encoding="utf-8")
    for sitemap in manifest["sitemap_paths"]:
        (www / sitemap.lstrip("/")).unlink(missing_ok=True)
    with SiteServer(www) as server:
        crawl(server.base_url, tmp_path / "out")
        hits = Counter(server.hits_with_query)
    linked = set(manifest["article_paths"]) - set(manifest["orphan_article_paths"])  # orphans: sitemap only
    assert linked <= fetched(hits)
    assert not [p for p in hits if p.startswith(("/wap/", "/topic/", "/download/", "/so/", "/user/"))]
    assert {p: n for p, n in hits.items() if n != 1 and p != "/robots.txt"} == {}


def test_one_journal_on_a_redesigned_site(tmp_path: Path, dated_site) -> None:
    www, manifest = dated_site
    journal = manifest["journals"][1]
    with SiteServer(www) as server:
        crawl(server.base_url, tmp_path / "out", "-a", f"journal={journal['slug']}")
        hits = Counter(server.hits_with_query)
    others = [j["slug"] for j in manifest["journals"] if j["slug"] != journal["slug"]]
    assert not [p for p in hits if any(f"/{slug}/" in p for slug in others)]
    rows = read_articles(tmp_path / "out")
    assert rows and {row["journal"] for row in rows} <= {journal["name"], None}


def test_a_site_with_no_articles_raises_the_alarm_with_what_it_saw(tmp_path: Path) -> None:
    www = tmp_path / "www"
    (www / "about").mkdir(parents=True)
    (www / "index.html").write_text('<html><body><a href="/about/">关于我们</a><a href="/x/1a">?</a></body></html>')
    (www / "about" / "index.html").write_text("<html><body><p>维护中</p></body></html>", encoding="utf-8")
    with SiteServer(www) as server:
        result = crawl(server.base_url, tmp_path / "out", check=False)
    assert result.returncode == 3
    assert "no articles found: the crawl learned no article URL pattern; pages fetched by class:" in result.stderr
    assert "/x/{s} (undecided, 1 links)" in result.stderr  # probed once: a 404 is not enough to drop a shape
