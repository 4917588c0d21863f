"""End-to-end: a real ``scrapy crawl`` against the fixture site served on 127.0.0.1.

One full crawl (module-scoped) is checked from many sides: every article
exactly once with its gold fields and SPEC types, non-articles and the soft
404 in rejects, what was (not) fetched, the run summary.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipelines.records import ARTICLE_SCHEMA, EXTRACTED_FIELDS
from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.siteserver import SiteServer

SITE = REPO / "tests" / "site"
GOLD_FIELDS = tuple(name for name in EXTRACTED_FIELDS if name not in ("article_id", "url"))
"""What the gold rows give for each article (its id is the key, its URL a path)."""


def crawl(base_url: str, out: Path | str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the spider as a user would, with the fast settings of the issue's check."""
    command = crawl_command(base_url, out, *NO_DELAY, "-s", "PROCESS_WORKERS=2", "-s", "LOG_LEVEL=INFO", *args)
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"crawl exited {result.returncode}:\n{result.stderr[-5000:]}")
    return result


def read_articles(out: Path) -> list[dict[str, Any]]:
    return ds.dataset(out / "articles").to_table().to_pylist()  # the default call: year is in the files


def read_rejects(out: Path) -> list[dict[str, Any]]:
    return ds.dataset(out / "rejects").to_table().to_pylist()


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


@pytest.fixture(scope="module")
def gold() -> dict[str, dict[str, Any]]:
    lines = (SITE / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["article_id"]: row for row in map(json.loads, lines)}


@pytest.fixture(scope="module")
def site_manifest() -> dict[str, Any]:
    return json.loads((SITE / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def full_crawl(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("crawl") / "dataset"
    with SiteServer(SITE / "www") as server:
        result = crawl(server.base_url, out)
        hits = Counter(server.hits)
        hits_with_query = Counter(server.hits_with_query)
    return out, result, hits, hits_with_query


def test_every_expected_article_exactly_once(full_crawl, gold) -> None:
    out, *_ = full_crawl
    ids = [row["article_id"] for row in read_articles(out)]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    assert sorted(ids) == sorted(gold)


def test_every_field_matches_the_gold(full_crawl, gold) -> None:
    out, *_ = full_crawl
    mismatches = []
    for row in read_articles(out):
        expected = gold[row["article_id"]]
        assert path_of(row["url"]) == expected["url_path"]
        for field in GOLD_FIELDS:
            value = row[field].isoformat() if field == "published_date" and row[field] else row[field]
            if value != expected[field]:
                mismatches.append(f"{row['article_id']} {field}: expected {expected[field]!r}, got {value!r}")
    assert not mismatches, "\n".join(mismatches)


def test_columns_have_the_spec_types(full_crawl) -> None:
    out, *_ = full_crawl
    schema = ds.dataset(out / "articles").schema
    for field in ARTICLE_SCHEMA:
        assert schema.field(field.name).type == field.type, field.name
    assert schema.field("year").type == pa.int32()
    assert not [p for p in (out / "articles").iterdir() if "=" in p.name]  # no hive folders next to the column
    for path in (out / "articles").rglob("*.parquet"):
        metadata = pq.read_metadata(path)
        assert metadata.metadata[b"qikan.schema_version"] == b"1"
        assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_tokens_and_keywords(full_crawl) -> None:
    out, *_ = full_crawl
    for row in read_articles(out):
        assert "".join(row["tokens"]) == "".join(row["body"].split()), row["article_id"]
        assert row["keywords"], row["article_id"]
        assert row["char_count"] == len(row["body"].replace("\n", ""))


def test_soft_404_and_non_articles_are_rejects(full_crawl, site_manifest) -> None:
    out, *_ = full_crawl
    reasons = {path_of(r["url"]): r["reason"] for r in read_rejects(out)}
    for path in site_manifest["soft_404_paths"]:
        assert reasons.get(path) == "soft_404", path
    for path in site_manifest["list_paths"]:
        assert reasons.get(path) == "not_article", path
    assert reasons.get("/sitemap.xml") == "not_article"


def test_each_article_is_fetched_once_under_its_canonical_url(full_crawl, site_manifest) -> None:
    _, _, hits, hits_with_query = full_crawl
    for path in site_manifest["article_paths"]:
        assert hits[path] == 1, path
    assert not [p for p in hits if p.startswith("/m/")]
    assert not [p for p in hits_with_query if p.startswith("/paper/") and "?" in p]


def test_chrome_links_are_never_fetched(full_crawl) -> None:
    _, _, hits, _ = full_crawl
    never = ("/tag/", "/doc/", "/search.php", "/login.html", "/reg.html")
    assert not [p for p in hits if p.startswith(never)]


def test_pagination_sitemap_and_robots(full_crawl, site_manifest) -> None:
    out, _, hits, _ = full_crawl
    assert hits["/robots.txt"] >= 1 and hits["/sitemap.xml"] == 1
    assert [p for p in site_manifest["list_paths"] if "index_2" in p], "fixture site must paginate"
    for path in site_manifest["list_paths"]:
        assert hits[path] == 1, path
    ids = {row["article_id"] for row in read_articles(out)}
    for path in site_manifest["orphan_article_paths"]:  # reachable only through the sitemap
        assert path.split("/")[-1].removesuffix(".html") in ids


def test_run_summary(full_crawl, gold, site_manifest) -> None:
    out, result, *_ = full_crawl
    (summary_file,) = (out / "runs").glob("*.json")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    assert summary["articles_written"] == len(gold)
    assert summary["rejects"]["soft_404"] == len(site_manifest["soft_404_paths"])
    assert summary["failed_checks"] == []
    assert summary["pages_fetched"] == summary["articles_written"] + summary["rejects_written"]
    assert summary["dataset_dir"] == str(out)
    assert f"Run {summary['run_id']}:" in result.stderr


def test_one_journal(tmp_path: Path, site_manifest, gold) -> None:
    journal = site_manifest["journals"][1]
    with SiteServer(SITE / "www") as server:
        crawl(server.base_url, tmp_path, "-a", f"journal={journal['slug']}")
        hits = Counter(server.hits)
    rows = read_articles(tmp_path)
    assert rows
    assert {row["journal"] for row in rows} <= {journal["name"], None}
    expected = {i for i, row in gold.items() if row["journal"] == journal["name"]}
    assert expected - {path.split("/")[-1].removesuffix(".html") for path in site_manifest["orphan_article_paths"]} <= {
        row["article_id"] for row in rows
    }
    other = [p for p in hits if p.startswith("/journal/") and not p.startswith(f"/journal/{journal['slug']}/")]
    assert other == []


def test_parquet_feed_export(tmp_path: Path, gold) -> None:
    target = tmp_path / "articles.parquet"
    with SiteServer(SITE / "www") as server:
        crawl(server.base_url, "", "-O", str(target))
    table = pq.read_table(target)
    assert table.schema.remove_metadata() == ARTICLE_SCHEMA.remove_metadata()
    assert sorted(table.column("article_id").to_pylist()) == sorted(gold)


def test_template_drift_fails_the_run(tmp_path: Path) -> None:
    broken = tmp_path / "www"
    shutil.copytree(SITE / "www", broken)
    shell = (
        '<html><head><meta charset="utf-8"><title>期刊图书馆</title></head><body>'
        '<div id="app">正在加载，请稍候</div><script src="/static/app.js"></script></body></html>'
    ).encode()
    for page in (broken / "paper").glob("*.html"):
        # a redesign that renders articles in the browser: the pages no longer show an article at all
        page.write_bytes(shell)
    with SiteServer(broken) as server:
        result = crawl(server.base_url, tmp_path / "out", check=False)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "template drift" in result.stderr
    (summary_file,) = (tmp_path / "out" / "runs").glob("*.json")
    assert json.loads(summary_file.read_text(encoding="utf-8"))["template_drift"]["failed"] is True
