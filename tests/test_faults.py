"""Hostile sites, crawled for real: nothing lost, nothing let in.

Two ``scrapy crawl`` subprocesses against the fixture site served on 127.0.0.1
with faults injected (:mod:`tests.faults`):

* the hostile crawl: every fault on its own path (503, 500, reset, timeout,
  slow drip, truncated body, empty 200, redirect loops and chains, redirects to
  another host and to another port, a 30 MB page, gzip bombs, a billion-laughs
  sitemap, lying charsets, a meta refresh, pages whose metadata looks like
  paths), with a second server standing in for "another host" that must never
  be asked anything;
* the flaky crawl: every third article page answers 503 with ``Retry-After: 1``
  once, and every article must still arrive with every field as the gold says.

The flaky crawl is also the memory baseline the hostile crawl is measured against.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest

from pipelines.layout import NULL_YEAR_FOLDER
from tests import faults
from tests.crawlcmd import NO_DELAY, crawl_command
from tests.siteserver import FaultHandler, SiteServer
from tests.test_crawl import GOLD_FIELDS, REPO, SITE, path_of, read_articles, read_rejects

RETRY_TIMES = 2
DOWNLOAD_TIMEOUT = 2
FAST = (
    *NO_DELAY,
    "-s", "PROCESS_WORKERS=2",
    "-s", "RETRY_BACKOFF_BASE=0.05",
    "-s", "LOG_LEVEL=INFO",
)  # fmt: skip
RSS_HEADROOM_MB = 100
"""How much more the hostile crawl's peak RSS may be than the flaky crawl's: a 30 MB page
held, or a gzip bomb inflated past DOWNLOAD_MAXSIZE (4 MiB), would take several times that."""


def paper(n: int) -> str:
    """A path of the hostile site's own (not in the fixture site, listed only in its fault sitemap)."""
    return f"/paper/{90_000_000 + n}.html"


@attrs.frozen
class Case:
    """One fault, where it is served, and what the crawl must make of it."""

    path: str
    fault: FaultHandler
    reason: str | None
    """The reject reason, or None when the page must become an article."""
    detail: str = ""
    """A text the reject's detail must contain."""
    hits: int | range | None = None
    """How often the server must be asked: exactly, or within a range (None: not checked)."""


def hostile_cases(offsite: str) -> dict[str, Case]:
    """Every fault on its own path; ``offsite`` is the base URL of the server that must stay untouched."""
    offsite_port = offsite.rsplit(":", 1)[1]
    tries = RETRY_TIMES + 1
    return {
        "503 with Retry-After": Case(paper(1), faults.status(503, retry_after="1"), "http_status", "HTTP 503", tries),
        "500": Case(paper(2), faults.status(500), "http_status", "HTTP 500", tries),
        "connection reset": Case(paper(3), faults.connection_reset(), "fetch_error", "DownloadFailedError"),
        "timeout": Case(paper(4), faults.hang(), "fetch_error", "DownloadTimeoutError", tries),
        "slow drip": Case(paper(5), faults.slow_drip(faults.own_page), "fetch_error", "DownloadTimeoutError", tries),
        "truncated body": Case(
            paper(6), faults.truncated(faults.own_page), "fetch_error", "ResponseDataLossError", tries
        ),
        "empty 200": Case(paper(7), faults.empty_ok(), "empty_body", "empty response body", 1),
        "redirect loop, first": Case(paper(8), faults.redirect(paper(9)), "fetch_error", "redirect loop"),
        "redirect loop, second": Case(paper(9), faults.redirect(paper(8)), "fetch_error", "redirect loop"),
        "redirect to another host": Case(
            paper(10), faults.redirect(f"http://localhost:{offsite_port}/paper/31001.html"),
            "fetch_error", "redirect off site", 1,
        ),
        "redirect to another port": Case(
            paper(11), faults.redirect(f"{offsite}/paper/31001.html"), "fetch_error", "redirect off site", 1
        ),
        "30 MB page": Case(paper(12), faults.huge(30 * faults.MIB), "fetch_error", "DownloadCancelledError", 1),
        # A body whose size shows only while it arrives is cancelled once DOWNLOAD_MAXSIZE bytes are
        # in, unless DOWNLOAD_TIMEOUT comes first: a busy reactor reads 64 KiB per turn, and 4 MiB can
        # take longer than this test's 2 s. Either way: a fetch_error, and never more than 4 MiB held.
        "30 MB page, chunked": Case(
            paper(13), faults.huge(30 * faults.MIB, "chunked"), "fetch_error", "Download", range(1, tries + 1)
        ),
        "30 MB page, ended by close": Case(
            paper(23), faults.huge(30 * faults.MIB, "close"), "fetch_error", "Download", range(1, tries + 1)
        ),
        "gzip bomb": Case(paper(14), faults.gzip_bomb(), "fetch_error", "DOWNLOAD_MAXSIZE", 1),
        "redirect to itself": Case(paper(15), faults.redirect(paper(15)), "fetch_error", "redirect loop", 1),
        "meta refresh to another host": Case(
            paper(16),
            faults.page(faults.article_page(
                str(90_000_016), title="刷新", authors="张三", journal="期刊", year_issue="2019年第6期",
                paragraphs=["正文。"],
                head=f'<meta http-equiv="refresh" content="0;url={offsite}/paper/31001.html">',
            )),
            None, hits=1,
        ),
        "redirect chain": Case(
            paper(20), faults.redirect_chain(25), "fetch_error", "max redirections", 21  # the request and 20 hops
        ),
        "corrupt gzip": Case(paper(21), faults.corrupt_gzip(), "fetch_error", "decompressing", 1),
        "utf-8 declared, GBK sent": Case("/paper/3764117.html", faults.charset_lie(), None, hits=1),
        "GBK, declared nowhere": Case("/paper/559411.html", faults.no_declaration(), None, hits=1),
    }  # fmt: skip


HOSTILE_METADATA = {
    paper(17): dict(title="../../x", authors="../../a", journal="../../x", year_issue="2019/../../年第6期",
                    tags=["../../t", "/etc/passwd"]),
    paper(18): dict(title="a/b\x00c", authors="x\\y", journal="《../../x》", year_issue="2019/../../"),
    paper(19): dict(title="t", authors="x", journal="j/../../../etc", year_issue="../../2019年第6期/../.."),
    paper(22): dict(title="年", authors="y", journal="j\x00k/..", year_issue="99999年第99999999999期"),
}  # fmt: skip
"""Article pages whose journal, title and year text look like paths (or worse)."""


def hostile_metadata_pages() -> dict[str, FaultHandler]:
    return {
        path: faults.page(faults.article_page(Path(path).stem, paragraphs=["正文一段。"], **texts))
        for path, texts in HOSTILE_METADATA.items()
    }


@attrs.frozen
class CrawlRun:
    out: Path
    returncode: int
    stderr: str
    peak_rss_mb: float
    """Peak resident set of the crawl process (and the children it reaped), from wait4."""
    hits: Counter[str]
    summary: dict[str, Any]


def run_crawl(server: SiteServer, out: Path, *settings: str, timeout: float = 120) -> CrawlRun:
    """``scrapy crawl`` as a user runs it, with fast settings; its peak RSS measured by the kernel."""
    command = crawl_command(server.base_url, out, *FAST, *settings)
    stderr_file = out.parent / f"{out.name}.stderr.txt"
    with stderr_file.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
        killer = threading.Timer(timeout, process.kill)  # a hung crawl fails the test instead of hanging it
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
    stderr_text = stderr_file.read_text(encoding="utf-8")
    summaries = list((out / "runs").glob("*.json"))
    if len(summaries) != 1:
        raise AssertionError(
            f"crawl exited {process.returncode} with {len(summaries)} run summaries:\n{stderr_text[-3000:]}"
        )
    return CrawlRun(
        out=out,
        returncode=process.returncode,
        stderr=stderr_text,
        peak_rss_mb=usage.ru_maxrss / 1024,  # Linux reports KiB
        hits=server.hits.snapshot(),
        summary=json.loads(summaries[0].read_text(encoding="utf-8")),
    )


@pytest.fixture(scope="module")
def gold() -> dict[str, dict[str, Any]]:
    lines = (SITE / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["article_id"]: row for row in map(json.loads, lines)}


@pytest.fixture(scope="module")
def article_paths() -> list[str]:
    return json.loads((SITE / "manifest.json").read_text(encoding="utf-8"))["article_paths"]


@attrs.frozen
class HostileRun:
    run: CrawlRun
    cases: dict[str, Case]
    offsite_hits: Counter[str]
    root: Path
    """The directory that holds DATASET_DIR (a few levels down) and nothing else."""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    root = tmp_path_factory.mktemp("hostile")
    out = root / "a" / "b" / "c" / "dataset"  # so that ../../x from DATASET_DIR would still land inside root
    out.parent.mkdir(parents=True)
    with SiteServer(SITE / "www") as offsite:
        cases = hostile_cases(offsite.base_url)
        plan = faults.FaultPlan({
            **{case.path: case.fault for case in cases.values()},
            **hostile_metadata_pages(),
            "/robots.txt": faults.robots_with_sitemaps(
                ["/sitemap-faults.xml", "/sitemap-entities.xml", "/sitemap.xml.gz"]
            ),
            "/sitemap-faults.xml": faults.sitemap(
                [case.path for case in cases.values() if case.path.startswith("/paper/9")] + list(HOSTILE_METADATA)
            ),
            "/sitemap-entities.xml": faults.entity_bomb_sitemap(remote=f"{offsite.base_url}/xxe"),
            "/sitemap.xml.gz": faults.gzip_bomb(as_content_encoding=False),
        })  # fmt: skip
        with SiteServer(SITE / "www", faults=plan) as server:
            limits = ("-s", f"RETRY_TIMES={RETRY_TIMES}", "-s", f"DOWNLOAD_TIMEOUT={DOWNLOAD_TIMEOUT}")
            run = run_crawl(server, out, *limits)
        offsite_hits = offsite.hits.snapshot()
    return HostileRun(run=run, cases=cases, offsite_hits=offsite_hits, root=root)


@pytest.fixture(scope="module")
def flaky(tmp_path_factory: pytest.TempPathFactory, article_paths: list[str]) -> tuple[CrawlRun, list[str]]:
    failing = faults.every_third_article_503_once(article_paths)
    with SiteServer(SITE / "www", faults=failing) as server:
        run = run_crawl(server, tmp_path_factory.mktemp("flaky") / "dataset")
    return run, sorted(failing.failed)


def rejects_by_path(out: Path) -> dict[str, list[dict[str, Any]]]:
    """Rejects keyed by URL path, query dropped (a failed redirect chain is recorded at its last hop)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for row in read_rejects(out):
        found.setdefault(urlsplit(row["url"]).path, []).append(row)
    return found


def assert_rows_match_gold(rows: list[dict[str, Any]], gold: dict[str, dict[str, Any]]) -> None:
    mismatches = []
    for row in rows:
        expected = gold[row["article_id"]]
        if path_of(row["url"]) != expected["url_path"]:
            mismatches.append(f"{row['article_id']} url: {row['url']}")
        for field in GOLD_FIELDS:
            value = row[field].isoformat() if field == "published_date" and row[field] else row[field]
            if value != expected[field]:
                mismatches.append(f"{row['article_id']} {field}: expected {expected[field]!r}, got {value!r}")
    assert not mismatches, "\n".join(mismatches)


# -- every third article fails once ------------------------------------------------------


def test_flaky_site_still_gives_every_article_with_gold_fields(flaky, gold) -> None:
    run, failed = flaky
    assert run.returncode == 0, run.stderr[-3000:]
    rows = read_articles(run.out)
    ids = [row["article_id"] for row in rows]
    assert sorted(ids) == sorted(gold) and len(ids) == len(set(ids))
    assert_rows_match_gold(rows, gold)


def test_flaky_site_each_failed_page_is_asked_twice_and_counted(flaky, article_paths) -> None:
    run, failed = flaky
    assert len(failed) == len(article_paths) // 3
    assert failed == sorted(faults.every_third(article_paths))  # the same pages on every run
    assert {path: run.hits[path] for path in article_paths} == {
        path: 2 if path in failed else 1 for path in article_paths
    }
    assert run.summary["errors"]["retry/503"] == len(failed)
    assert "retry/gave_up" not in run.summary["errors"]
    assert "http_status" not in run.summary["rejects"]
    assert run.summary["failed_checks"] == []


# -- the hostile site ------------------------------------------------------------------


def test_hostile_crawl_finishes_cleanly(hostile: HostileRun) -> None:
    run = hostile.run
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.summary["finish_reason"] == "finished"
    assert run.summary["failed_checks"] == []
    # Nothing raises inside the spider: the gzip-bombed and the entity-bomb sitemaps are counted instead.
    assert [k for k in run.summary["errors"] if k.startswith("spider/")] == []
    assert run.summary["errors"]["sitemap_unreadable"] >= 2


@pytest.mark.parametrize(
    "name",
    [
        "503 with Retry-After", "500", "connection reset", "timeout", "slow drip", "truncated body", "empty 200",
        "redirect loop, first", "redirect loop, second", "redirect to another host", "redirect to another port",
        "30 MB page", "30 MB page, chunked", "30 MB page, ended by close", "gzip bomb", "redirect to itself", "redirect chain", "corrupt gzip",
    ],
)  # fmt: skip
def test_each_fault_is_recorded_with_its_reason(hostile: HostileRun, name: str) -> None:
    case = hostile.cases[name]
    rejects = rejects_by_path(hostile.run.out).get(case.path, [])
    assert [r["reason"] for r in rejects] == [case.reason], rejects
    assert case.detail in rejects[0]["detail"], rejects[0]
    if isinstance(case.hits, range):
        assert hostile.run.hits[case.path] in case.hits
    elif case.hits is not None:
        assert hostile.run.hits[case.path] == case.hits


def test_transient_faults_are_retried_and_permanent_ones_are_not(hostile: HostileRun) -> None:
    hits, cases = hostile.run.hits, hostile.cases
    for name in ("503 with Retry-After", "500", "timeout", "slow drip", "truncated body"):
        assert hits[cases[name].path] == RETRY_TIMES + 1, name
    # Twisted's HTTP client itself retries a request once when a reused connection drops.
    assert RETRY_TIMES + 1 <= hits[cases["connection reset"].path] <= 2 * (RETRY_TIMES + 1)
    for name in ("empty 200", "30 MB page", "gzip bomb", "corrupt gzip", "redirect to itself"):
        assert hits[cases[name].path] == 1, name


def test_run_summary_counts_each_class(hostile: HostileRun) -> None:
    errors, rejects = hostile.run.summary["errors"], hostile.run.summary["rejects"]
    tries = RETRY_TIMES + 1
    assert errors["retry/503"] == RETRY_TIMES and errors["retry/500"] == RETRY_TIMES
    assert errors["download/scrapy.exceptions.DownloadTimeoutError"] >= 2 * tries  # the hang and the drip
    assert errors["download/scrapy.exceptions.ResponseDataLossError"] == tries
    assert errors["download/scrapy.exceptions.DownloadFailedError"] >= tries  # the reset
    assert errors["download/scrapy.exceptions.DownloadCancelledError"] >= 1  # the 30 MB pages
    assert errors["retry/gave_up"] >= 6  # 503, 500, reset, hang, drip, truncation
    assert errors["offsite_redirect"] == 2
    assert errors["redirect_loop"] == 3  # each side of the pair, and the page that redirects to itself
    assert errors["redirect_limit"] == 1
    assert errors["decompression_limit"] == 1 and errors["decompression_error"] == 1
    assert rejects["http_status"] == 2 and rejects["empty_body"] == 1
    expected_fetch_errors = sum(1 for c in hostile.cases.values() if c.reason == "fetch_error")
    assert rejects["fetch_error"] == expected_fetch_errors


def test_nothing_is_ever_asked_of_another_host_or_port(hostile: HostileRun) -> None:
    """Redirects, a meta refresh and external XML entities all point at the second server."""
    assert hostile.offsite_hits == Counter()
    site = urlsplit(hostile.run.summary["start_url"]).netloc
    rows = read_articles(hostile.run.out) + read_rejects(hostile.run.out)
    assert {urlsplit(row["url"]).netloc for row in rows} == {site}


def test_a_meta_refresh_is_content_not_a_redirect(hostile: HostileRun) -> None:
    case = hostile.cases["meta refresh to another host"]
    (row,) = [r for r in read_articles(hostile.run.out) if path_of(r["url"]) == case.path]
    assert row["body"] == "正文。"


def test_lying_or_missing_charsets_still_give_the_gold_rows(hostile: HostileRun, gold) -> None:
    """Every fixture article is stored as the gold says, the two served with charset faults among them."""
    rows = [row for row in read_articles(hostile.run.out) if row["article_id"] in gold]
    assert sorted(row["article_id"] for row in rows) == sorted(gold)
    assert_rows_match_gold(rows, gold)
    assert hostile.cases["utf-8 declared, GBK sent"].path in {path_of(r["url"]) for r in rows}


def test_bombs_keep_memory_bounded(hostile: HostileRun, flaky) -> None:
    """30 MB pages, 256 MiB gzip bombs and a billion-laughs sitemap cost no more than headroom over a plain crawl."""
    baseline, _ = flaky
    assert hostile.run.peak_rss_mb < baseline.peak_rss_mb + RSS_HEADROOM_MB, (
        hostile.run.peak_rss_mb,
        baseline.peak_rss_mb,
    )
    sitemaps = rejects_by_path(hostile.run.out)
    assert [r["reason"] for r in sitemaps["/sitemap-entities.xml"]] == ["not_article"]
    assert "/sitemap.xml.gz" in sitemaps  # the gzipped bomb: recorded, and inflated no further than DOWNLOAD_MAXSIZE


def test_external_entities_are_never_read(hostile: HostileRun) -> None:
    rows = read_rejects(hostile.run.out) + read_articles(hostile.run.out)
    text = "\n".join(json.dumps(row, default=str) for row in rows)
    assert "root:" not in text  # /etc/passwd


# -- nothing from a page decides a path on disk ------------------------------------------------

SAFE_PART_RE = re.compile(r"^\.?[A-Za-z0-9][A-Za-z0-9_.=-]*$")


def test_hostile_metadata_is_just_strings_in_columns(hostile: HostileRun) -> None:
    rows = {path_of(r["url"]): r for r in read_articles(hostile.run.out)}
    for path in HOSTILE_METADATA:
        row = rows[path]
        assert row["year"] is None or (type(row["year"]) is int and 1000 <= row["year"] <= 9999), row
    assert rows[paper(17)]["journal"] == "../../x" and rows[paper(17)]["title"] == "../../x"
    assert rows[paper(17)]["tags"] == ["../../t", "/etc/passwd"]
    assert rows[paper(17)]["year"] is None  # "2019/../../年" is no year
    assert rows[paper(19)]["journal"] == "j/../../../etc"
    assert rows[paper(22)]["year"] is None and rows[paper(22)]["issue"] is None  # 99999年, 99999999999期


def test_nothing_lands_outside_the_dataset_dir(hostile: HostileRun) -> None:
    out, root = hostile.run.out, hostile.root

    def ours(path: Path) -> bool:
        return path.is_relative_to(out) or path in out.parents or path.name.endswith(".stderr.txt")

    stray = [p for p in root.rglob("*") if not ours(p)]
    assert stray == []
    run_id = hostile.run.summary["run_id"]
    for path in out.rglob("*"):
        relative = path.relative_to(out)
        assert all(SAFE_PART_RE.match(part) for part in relative.parts), relative
        if relative.parts[0] == "articles" and path.is_file():
            partition, name = relative.parts[1:]
            assert re.fullmatch(rf"\d{{4}}|{NULL_YEAR_FOLDER}", partition), relative
            assert name.startswith(f"part-{run_id}"), relative
