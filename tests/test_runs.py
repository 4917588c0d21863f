"""``scrapy runs``: the summaries that real crawl, rebuild and compact runs wrote, listed as a scheduler needs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crawler.commands.crawl import EXIT_CHECK_FAILED
from pipelines.runlog import read_runs, run_record
from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.siteserver import SiteServer

SITE = REPO / "tests" / "site" / "www"
FAST = (*NO_DELAY, "-s", "PROCESS_WORKERS=1", "-s", "SEGMENT_ENABLED=False", "-s", "LOG_LEVEL=WARNING")


def scrapy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrapy", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def crawl(base_url: str, out: Path) -> subprocess.CompletedProcess:
    command = crawl_command(base_url, out, *FAST)
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def summaries(root: Path) -> dict[str, dict[str, Any]]:
    """The run summaries on disk, by kind (a crawl's has no ``kind`` today)."""
    found = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((root / "runs").glob("*.json"))]
    return {s.get("kind", "crawl"): s for s in found}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A crawl of the fixture site, then a rebuild of its archive into the same folder, then a compaction."""
    root = tmp_path_factory.mktemp("runs") / "data"
    with SiteServer(SITE) as server:
        crawled = crawl(server.base_url, root)
    assert crawled.returncode == 0, crawled.stderr[-3000:]
    rebuilt = scrapy("rebuild", str(root / "raw"), "-s", f"DATASET_DIR={root}", "--workers", "1", "--no-progress",
                     "-s", "SEGMENT_ENABLED=False")  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    compacted = scrapy("compact", str(root))
    assert compacted.returncode == 0, compacted.stderr[-3000:]
    return root


def table_rows(stdout: str) -> list[list[str]]:
    """The data rows of the table (split on runs of spaces), without the header and failed-check lines."""
    lines = stdout.splitlines()
    assert lines[0].split()[:2] == ["run", "kind"]
    return [line.split() for line in lines[1:] if not line.startswith("    ")]


def test_lists_crawl_rebuild_and_compact_newest_first(dataset: Path) -> None:
    runs = summaries(dataset)
    crawl_run, rebuild_run, compact_run = runs["crawl"], runs["rebuild"], runs["compact"]
    result = scrapy("runs", str(dataset), "--fail-on-error")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    rows = table_rows(result.stdout)
    assert [row[:2] for row in rows] == [
        [compact_run["run_id"], "compact"], [rebuild_run["run_id"], "rebuild"], [crawl_run["run_id"], "crawl"],
    ]  # fmt: skip
    # run kind date time duration exit status pages articles rejects errors
    crawl_row = rows[2]
    assert crawl_row[2:4] == crawl_run["started_at"].removesuffix("+00:00").split("T")
    assert crawl_row[5:7] == ["0", "ok"]
    assert crawl_row[7:] == [str(crawl_run["pages_fetched"]), str(crawl_run["articles_written"]),
                             str(crawl_run["rejects_written"]), "0"]  # fmt: skip
    assert crawl_run["articles_written"] > 40 and crawl_run["pages_fetched"] > crawl_run["articles_written"]
    # The rebuild went through the same pages; the compaction merged the two runs' rows back to one per article.
    assert rows[1][7:] == [str(crawl_run["pages_fetched"]), str(crawl_run["articles_written"]),
                           str(crawl_run["rejects_written"]), "0"]  # fmt: skip
    assert rows[0][5:] == ["0", "ok", "-", str(crawl_run["articles_written"]), str(crawl_run["rejects_written"]), "0"]
    assert compact_run["articles"]["rows_before"] == 2 * crawl_run["articles_written"]


def test_json_last_and_kind(dataset: Path) -> None:
    runs = summaries(dataset)
    result = scrapy("runs", str(dataset), "--json", "--last", "2")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [r["kind"] for r in listed] == ["compact", "rebuild"]
    rebuild = listed[1]
    assert rebuild["run_id"] == runs["rebuild"]["run_id"]
    assert rebuild["duration_seconds"] == runs["rebuild"]["duration_seconds"]
    assert (rebuild["pages"], rebuild["articles"], rebuild["rejects"]) == (
        runs["rebuild"]["pages_processed"], runs["rebuild"]["articles_written"], runs["rebuild"]["rejects_written"],
    )  # fmt: skip
    assert (rebuild["exit_code"], rebuild["status"], rebuild["failed_checks"]) == (0, "ok", [])
    assert rebuild["summary_file"] == str(dataset / "runs" / f"{runs['rebuild']['run_id']}.json")

    only_crawls = json.loads(scrapy("runs", str(dataset), "--json", "--kind", "crawl").stdout)
    assert [(r["run_id"], r["finish_reason"]) for r in only_crawls] == [(runs["crawl"]["run_id"], "finished")]


def test_a_crawl_that_failed_a_check_fails_the_scheduled_check(dataset: Path, tmp_path: Path) -> None:
    """A site with no article links: the crawl exits 3, and ``runs --fail-on-error`` says so after the fact."""
    root = tmp_path / "data"
    shutil.copytree(dataset / "runs", root / "runs")  # the earlier, good runs
    empty_site = tmp_path / "www"
    empty_site.mkdir()
    (empty_site / "index.html").write_text("<html><body><p>维护中</p></body></html>", encoding="utf-8")
    with SiteServer(empty_site) as server:
        crawled = crawl(server.base_url, root)
    assert crawled.returncode == EXIT_CHECK_FAILED, crawled.stderr[-3000:]

    listed = scrapy("runs", str(root))
    assert listed.returncode == 0, listed.stderr
    newest = table_rows(listed.stdout)[0]
    failed_run = json.loads((root / "runs" / f"{newest[0]}.json").read_text(encoding="utf-8"))
    assert failed_run["articles_written"] == 0 and failed_run["pages_fetched"] > 0
    assert newest[1] == "crawl"
    assert newest[5:9] == [str(EXIT_CHECK_FAILED), "failed", str(failed_run["pages_fetched"]), "0"]
    assert listed.stdout.splitlines()[2].startswith("    failed check: no articles found: the crawl learned no article URL pattern")

    alert = scrapy("runs", str(root), "--fail-on-error", "--last", "1")
    assert alert.returncode == 1
    assert f"the newest crawl run {newest[0]} failed (exit {EXIT_CHECK_FAILED})" in alert.stderr
    assert str(root / "runs" / f"{newest[0]}.json") in alert.stderr
    # The newest compaction is still fine: a job that checks only its own kind is not alerted.
    assert scrapy("runs", str(root), "--fail-on-error", "--kind", "compact").returncode == 0


def test_no_runs_is_one_line_and_non_zero(dataset: Path, tmp_path: Path) -> None:
    missing = scrapy("runs", str(tmp_path / "nowhere"))
    assert (missing.returncode, missing.stdout) == (2, "")
    assert missing.stderr == f"scrapy runs: no runs recorded: {tmp_path / 'nowhere'} has no runs/ folder (is it a dataset folder?)\n"
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    empty = scrapy("runs", str(tmp_path / "empty"))
    assert (empty.returncode, empty.stderr) == (2, f"scrapy runs: no runs recorded in {tmp_path / 'empty' / 'runs'}\n")
    no_rebuilds = tmp_path / "crawl-only"
    shutil.copytree(dataset / "runs", no_rebuilds / "runs")
    for path in (no_rebuilds / "runs").glob("*.json"):
        if json.loads(path.read_text(encoding="utf-8")).get("kind") == "rebuild":
            path.unlink()
    result = scrapy("runs", str(no_rebuilds), "--kind", "rebuild")
    assert (result.returncode, result.stderr) == (2, f"scrapy runs: no rebuild runs recorded in {no_rebuilds}\n")


def test_an_unreadable_summary_is_named_and_the_rest_listed(dataset: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(dataset / "runs", root / "runs")
    (root / "runs" / "broken.json").write_text('{"run_id": "cut', encoding="utf-8")
    (root / "runs" / ".20990101T000000Z-abcdef.json.inprogress").write_text("{", encoding="utf-8")
    runs, problems = read_runs(root)
    assert [r.kind for r in runs] == ["compact", "rebuild", "crawl"]
    assert len(problems) == 1 and problems[0].startswith(f"skipped {root / 'runs' / 'broken.json'}: unreadable run summary")


def test_an_interrupted_crawl_counts_as_failed(dataset: Path) -> None:
    """A summary written before runs stated their outcome: a crawl stopped by a signal (or a Scrapyd
    cancel) exited 0 but did not finish its work."""
    summary = summaries(dataset)["crawl"]
    assert not run_record(summary).failed
    summary = {k: v for k, v in summary.items() if k not in ("exit_code", "status", "interrupted")}
    stopped = run_record({**summary, "finish_reason": "shutdown"})
    assert (stopped.status, stopped.exit_code, stopped.failed) == ("interrupted", 0, True)
    bounded = run_record({**summary, "finish_reason": "closespider_timeout"})  # a limit the user set: fine
    assert (bounded.status, bounded.failed) == ("ok", False)
    stated = run_record({**summary, "exit_code": 1})  # a summary that states its exit code is believed
    assert (stated.status, stated.exit_code) == ("failed", 1)
