"""Offline generation end to end: crawl → raw archive → rebuild gives the crawl's rows; compact dedupes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds

from tests.siteserver import SiteServer
from tests.test_crawl import REPO, SITE, crawl, read_articles, read_rejects

GOLD_IDS = sorted(json.loads(line)["article_id"] for line in (SITE / "expected.jsonl").read_text().splitlines())


def scrapy(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "scrapy", *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def by_key(rows: list[dict], key: str) -> dict:
    return {row[key]: row for row in rows}


def test_rebuild_of_a_crawl_archive_gives_exactly_the_crawl_rows(tmp_path: Path) -> None:
    crawled, rebuilt = tmp_path / "crawled", tmp_path / "rebuilt"
    with SiteServer(SITE / "www") as server:
        crawl(server.base_url, crawled)
    assert list((crawled / "raw").glob("*.warc.gz"))
    scrapy("rebuild", str(crawled / "raw"), "-s", f"DATASET_DIR={rebuilt}")

    articles, again = by_key(read_articles(crawled), "article_id"), by_key(read_articles(rebuilt), "article_id")
    assert sorted(again) == GOLD_IDS
    for article_id, row in articles.items():
        assert again[article_id] == row, article_id  # every column, tokens, keywords and fetched_at included
    rejects = Counter(tuple(sorted(r.items())) for r in read_rejects(crawled))
    assert Counter(tuple(sorted(r.items())) for r in read_rejects(rebuilt)) == rejects
    assert (rebuilt / "README.md").is_file() and (crawled / "README.md").is_file()


def test_two_runs_compact_to_one_row_per_article(tmp_path: Path) -> None:
    out = tmp_path / "data"
    with SiteServer(SITE / "www") as server:
        crawl(server.base_url, out, "-s", "SEGMENT_ENABLED=False")
        crawl(server.base_url, out, "-s", "SEGMENT_ENABLED=False", "-a", "refetch=all")
    before = read_articles(out)
    assert len(before) == 2 * len(GOLD_IDS)
    newest = {}
    for row in before:
        if row["article_id"] not in newest or row["fetched_at"] > newest[row["article_id"]]:
            newest[row["article_id"]] = row["fetched_at"]
    files = ds.dataset(out / "articles").files
    result = scrapy("compact", str(out))  # in place: the first crawl's files are left with no rows
    after = read_articles(out)
    assert sorted(r["article_id"] for r in after) == GOLD_IDS
    assert {r["article_id"]: r["fetched_at"] for r in after} == newest
    assert ds.dataset(out / "articles").files == files
    assert f"articles: {2 * len(GOLD_IDS)} rows -> {len(GOLD_IDS)}, " in result.stdout and "rewritten in place" in result.stdout
    assert "README.md" in {p.name for p in out.iterdir()}

    merged = scrapy("compact", str(out), "--merge", "-s", "COMPACT_GRACE_SECONDS=0")
    assert sorted(r["article_id"] for r in read_articles(out)) == GOLD_IDS
    files = ds.dataset(out / "articles").files
    assert len(files) == len({Path(f).parent for f in files})  # one file per partition
    assert f"articles: {len(GOLD_IDS)} rows -> {len(GOLD_IDS)}, {2 * len(files)} files -> {len(files)}" in merged.stdout
