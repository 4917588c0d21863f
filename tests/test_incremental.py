"""Scheduled runs: incremental by default, resumable, and loud when something is wrong.

Every test counts what the fixture server was asked, and checks the dataset
for completeness and duplicates.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.crawlcmd import crawl_command
from tests.siteserver import SiteServer
from tests.test_crawl import REPO, SITE, crawl, read_articles

GOLD_IDS = sorted(json.loads(line)["article_id"] for line in (SITE / "expected.jsonl").read_text().splitlines())


def article_hits(server: SiteServer) -> Counter:
    return Counter({p: n for p, n in server.hits.items() if p.startswith("/paper/")})


def assert_complete_and_unique(out: Path) -> None:
    ids = [row["article_id"] for row in read_articles(out)]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert sorted(ids) == GOLD_IDS


@pytest.fixture()
def site_copy(tmp_path: Path) -> Path:
    www = tmp_path / "www"
    shutil.copytree(SITE / "www", www)
    return www


def test_second_crawl_fetches_no_article_page(tmp_path: Path) -> None:
    out = tmp_path / "data"
    with SiteServer(SITE / "www") as server:
        crawl(server.base_url, out)
        first = article_hits(server)
        server.reset_hits()
        crawl(server.base_url, out)
        second = article_hits(server)
        listings = server.hits["/"], server.hits["/sitemap.xml"], server.hits["/journals/"]
    assert len(first) == len(GOLD_IDS) + 2  # every article and the two soft 404s
    assert second == Counter()
    assert listings == (1, 1, 1)  # listings and the sitemap are always fetched again
    assert_complete_and_unique(out)
    summaries = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    assert [s["articles_written"] for s in summaries] == [len(GOLD_IDS), 0]
    assert summaries[1]["failed_checks"] == []


def remove_articles(www: Path, ids: list[str]) -> None:
    """Make the site as it was before these papers were published: no page, no link, no sitemap entry."""
    for article_id in ids:
        (www / "paper" / f"{article_id}.html").unlink()
        (www / "m" / "paper" / f"{article_id}.html").unlink(missing_ok=True)
    link = re.compile(rb'<a [^>]*href="[^"]*/(?:%s)\.html[^"]*"[^>]*>.*?</a>' % b"|".join(i.encode() for i in ids))
    entry = re.compile(rb"<url>(?:(?!</url>).)*?/paper/(?:%s)\.html.*?</url>" % b"|".join(i.encode() for i in ids), re.S)
    for page in www.rglob("*"):
        if page.suffix in (".html", ".xml") and page.is_file():
            page.write_bytes(entry.sub(b"", link.sub(b"", page.read_bytes())))


def test_only_new_articles_are_fetched(tmp_path: Path, site_copy: Path) -> None:
    new = GOLD_IDS[:3]
    remove_articles(site_copy, new)
    out = tmp_path / "data"
    with SiteServer(site_copy) as server:
        crawl(server.base_url, out)
        assert not {f"/paper/{i}.html" for i in new} & set(server.hits)
    shutil.rmtree(site_copy)
    shutil.copytree(SITE / "www", site_copy)  # the papers are published
    with SiteServer(site_copy) as server:
        crawl(server.base_url, out)
        assert article_hits(server) == Counter({f"/paper/{i}.html": 1 for i in new})
    assert_complete_and_unique(out)


def test_newer_lastmod_and_refetch_all_fetch_again(tmp_path: Path, site_copy: Path) -> None:
    out = tmp_path / "data"
    changed = GOLD_IDS[5]
    with SiteServer(site_copy) as server:
        crawl(server.base_url, out)
        sitemap = (site_copy / "sitemap.xml").read_text(encoding="utf-8")
        sitemap = re.sub(
            rf"(/paper/{changed}\.html</loc><lastmod>)[^<]+", r"\g<1>2099-01-01", sitemap
        )
        (site_copy / "sitemap.xml").write_text(sitemap, encoding="utf-8")
        server.reset_hits()
        crawl(server.base_url, out)
        assert article_hits(server) == Counter({f"/paper/{changed}.html": 1})
        server.reset_hits()
        crawl(server.base_url, out, "-a", "refetch=all")
        assert len(article_hits(server)) == len(GOLD_IDS) + 2
    rows = read_articles(out)
    assert Counter(r["article_id"] for r in rows)[changed] == 3  # compact keeps the newest


def start_crawl(base_url: str, out: Path, *args: str) -> subprocess.Popen:
    command = [
        *crawl_command(base_url, out),
        "-s", "DOWNLOAD_DELAY=0.1",
        "-s", "DOWNLOAD_DELAY_JITTER=0",
        "-s", "AUTOTHROTTLE_ENABLED=False",
        "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1",
        "-s", "DATASET_COMMIT_SECONDS=0",
        "-s", "PROCESS_WORKERS=1",
        "-s", "SEGMENT_ENABLED=False",
        *args,
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


def wait_for_committed_rows(out: Path, process: subprocess.Popen, rows: int, timeout: float = 120) -> None:
    """Poll until ``rows`` article rows are committed; the crawl must still be running then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the crawl ended before it could be interrupted"
        committed = (out / "articles").is_dir() and ds.dataset(out / "articles").count_rows()
        if committed and committed >= rows:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {rows} rows committed after {timeout}s")


@pytest.mark.parametrize("jobdir", [False, True], ids=["no-jobdir", "jobdir"])
def test_sigkill_then_rerun_completes_without_duplicates(tmp_path: Path, jobdir: bool) -> None:
    out = tmp_path / "data"
    extra = ("-s", f"JOBDIR={tmp_path / 'job'}") if jobdir else ()
    with SiteServer(SITE / "www") as server:
        process = start_crawl(server.base_url, out, *extra)
        wait_for_committed_rows(out, process, 5)
        os.killpg(process.pid, signal.SIGKILL)  # the whole job, worker processes included
        process.wait(timeout=30)
        crawl(server.base_url, out, *extra)
    assert_complete_and_unique(out)


def test_sigterm_with_jobdir_resumes_and_fetches_each_article_once(tmp_path: Path) -> None:
    out, job = tmp_path / "data", tmp_path / "job"
    with SiteServer(SITE / "www") as server:
        process = start_crawl(server.base_url, out, "-s", f"JOBDIR={job}")
        wait_for_committed_rows(out, process, 5)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 5, stderr.decode()[-3000:]  # interrupted: not taken for a complete run
        assert b"shutting down gracefully" in stderr
        assert len(read_articles(out)) < len(GOLD_IDS)
        assert (job / "requests.queue").is_dir() and not (job / "qikan.running").exists()
        crawl(server.base_url, out, "-s", f"JOBDIR={job}")
        hits = article_hits(server)
    assert_complete_and_unique(out)
    assert {p: n for p, n in hits.items() if n != 1} == {}


def test_exit_code_when_a_site_has_no_articles(tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("<html><body><p>维护中</p></body></html>", encoding="utf-8")
    with SiteServer(www) as server:
        result = crawl(server.base_url, tmp_path / "data", check=False)
    assert result.returncode == 3
    assert "no articles found" in result.stderr


def test_exit_code_when_errors_exceed_the_limit(tmp_path: Path) -> None:
    def broken_papers(path: str):
        if path.startswith("/paper/"):
            return lambda handler: handler.respond(500, b"oops", "text/html")
        return None

    with SiteServer(SITE / "www", faults=broken_papers) as server:
        result = crawl(server.base_url, tmp_path / "data", "-s", "RETRY_TIMES=0", check=False)
    assert result.returncode == 3, result.stderr[-2000:]
    assert "error rate" in result.stderr
