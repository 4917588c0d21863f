"""Interruption, orphans, failures counted, user mistakes in one line (issue 14, items 3, 4, 6, 7).

Every test runs the real command in a subprocess: crawls against the fixture
site on 127.0.0.1, rebuilds of a real archive. Signals are sent once a
condition holds (hits on the server, CPU time spent), never after a sleep.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.extensions import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_START_FAILED, EXIT_USAGE
from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.siteserver import SiteServer
from tests.test_crawl import SITE

SLOW = (
    "-s", "DOWNLOAD_DELAY=0.2", "-s", "DOWNLOAD_DELAY_JITTER=0", "-s", "AUTOTHROTTLE_ENABLED=False",
    "-s", "PROCESS_WORKERS=1", "-s", "SEGMENT_ENABLED=False",
)  # fmt: skip
"""About 5 pages a second: a signal lands mid-crawl; one worker process, so there are helpers to orphan."""


# -- processes ------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc (children of children included)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def running(pids: list[int]) -> list[int]:
    """Those of ``pids`` that still run (a zombie has ended)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(condition: Callable[[], bool], process: subprocess.Popen, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the command ended (exit {process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} after {timeout}s"
        time.sleep(0.02)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts commands in their own session, stderr to a file; whatever is left is killed at the end."""
    processes: list[subprocess.Popen] = []

    def start(command: list[str]) -> subprocess.Popen:
        stderr = (tmp_path / f"stderr-{len(processes)}.txt").open("w", encoding="utf-8")
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        process.stderr_path = Path(stderr.name)  # type: ignore[attr-defined]
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def stderr_of(process: subprocess.Popen) -> str:
    return process.stderr_path.read_text(encoding="utf-8")  # type: ignore[attr-defined]


def article_hits(server: SiteServer) -> int:
    return sum(n for path, n in server.hits.snapshot().items() if path.startswith("/paper/"))


def only_summary(out: Path) -> dict:
    summaries = sorted((out / "runs").glob("*.json"))
    assert len(summaries) == 1, summaries
    return json.loads(summaries[0].read_text(encoding="utf-8"))


# -- 1. interruption is not success ---------------------------------------------------


@pytest.mark.parametrize(("sig", "jobdir"), [(signal.SIGTERM, True), (signal.SIGINT, False)], ids=["sigterm-jobdir", "sigint"])
def test_an_interrupted_crawl_writes_its_summary_and_exits_5(tmp_path: Path, started, sig: int, jobdir: bool) -> None:
    out = tmp_path / "data"
    extra = ("-s", f"JOBDIR={tmp_path / 'job'}") if jobdir else ()
    with SiteServer(SITE / "www") as server:
        crawl = started(crawl_command(server.base_url, out, *SLOW, *extra))
        wait_until(lambda: article_hits(server) >= 5, crawl, "5 article pages fetched")
        crawl.send_signal(sig)
        assert crawl.wait(timeout=60) == EXIT_INTERRUPTED, stderr_of(crawl)[-3000:]
    summary = only_summary(out)
    assert (summary["finish_reason"], summary["interrupted"], summary["resumable"]) == ("shutdown", True, True)
    assert (summary["status"], summary["exit_code"]) == ("interrupted", EXIT_INTERRUPTED)
    assert 5 <= summary["articles_written"] < 48
    assert "crawl interrupted (shutdown)" in stderr_of(crawl)


def test_ctrl_c_twice_still_writes_a_summary_and_fails(tmp_path: Path, started) -> None:
    out = tmp_path / "data"
    with SiteServer(SITE / "www") as server:
        crawl = started(crawl_command(server.base_url, out, *SLOW))
        wait_until(lambda: article_hits(server) >= 5, crawl, "5 article pages fetched")
        crawl.send_signal(signal.SIGINT)
        wait_until(lambda: "shutting down gracefully" in stderr_of(crawl), crawl, "the first Ctrl-C handled")
        crawl.send_signal(signal.SIGINT)
        assert crawl.wait(timeout=60) == EXIT_INTERRUPTED, stderr_of(crawl)[-3000:]
    assert "forcing unclean shutdown" in stderr_of(crawl)
    summary = only_summary(out)
    assert (summary["finish_reason"], summary["interrupted"]) == ("forced_shutdown", True)


# -- 2. no orphans ----------------------------------------------------------------------


def test_a_killed_crawl_leaves_no_process_behind(tmp_path: Path, started) -> None:
    with SiteServer(SITE / "www") as server:
        crawl = started(crawl_command(server.base_url, tmp_path / "data", *SLOW))
        wait_until(lambda: article_hits(server) >= 5, crawl, "5 article pages fetched")
        helpers = descendants(crawl.pid)
        assert len(helpers) >= 2  # resource tracker, worker
        crawl.send_signal(signal.SIGKILL)  # the crawl process alone, as the OOM killer does
        crawl.wait(timeout=10)
        deadline = time.monotonic() + 5
        while running(helpers) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert running(helpers) == []


@pytest.fixture(scope="module")
def long_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture site's WARC, 40 times over (3,300 pages): a rebuild of it takes several seconds."""
    root = tmp_path_factory.mktemp("archive")
    with SiteServer(SITE / "www") as server:
        command = crawl_command(server.base_url, root / "crawl", *NO_DELAY, "-s", "SEGMENT_ENABLED=False")
        subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=120)
    (warc,) = (root / "crawl" / "raw").glob("*.warc.gz")
    for n in range(40):
        shutil.copy(warc, root / f"copy-{n:02d}.warc.gz")
    return root


def rebuild_command(sources: list[Path | str], out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "scrapy", "rebuild", *map(str, sources), "-s", f"DATASET_DIR={out}", *args]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_stopped_rebuild_leaves_no_helper_and_no_half_file(tmp_path: Path, started, long_archive: Path, sig: int) -> None:
    out = tmp_path / "data"
    rebuild = started(rebuild_command(sorted(long_archive.glob("copy-*")), out, "--workers", "2"))
    def busy() -> bool:  # the workers are processing pages: CPU of the whole tree, not the reading process alone
        helpers = descendants(rebuild.pid)
        total = 0.0
        for pid in [rebuild.pid, *helpers]:
            try:
                total += cpu_seconds(pid)
            except OSError:  # ended meanwhile
                pass
        return bool(helpers) and total >= 2  # a forked worker: no resource tracker besides it

    wait_until(busy, rebuild, "pages processed")
    helpers = descendants(rebuild.pid)
    rebuild.send_signal(sig)
    code = rebuild.wait(timeout=60)
    deadline = time.monotonic() + 5
    while running(helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running(helpers) == []
    if sig == signal.SIGTERM:
        assert code == EXIT_INTERRUPTED, stderr_of(rebuild)[-3000:]
        assert "rebuild interrupted (SIGTERM)" in stderr_of(rebuild)
        summary = only_summary(out)
        assert (summary["status"], summary["interrupted"]) == ("interrupted", True)
        assert [p for p in out.rglob("*") if p.name.endswith(".inprogress")] == []


# -- 3. every failure counted ----------------------------------------------------------


def test_a_run_whose_every_page_fails_in_processing_fails_a_check(tmp_path: Path) -> None:
    broken = tmp_path / "broken.dict"
    broken.write_bytes(b"\xff\xfe not utf-8\n")  # the worker processes cannot load it: none starts
    out = tmp_path / "data"
    with SiteServer(SITE / "www") as server:
        command = crawl_command(server.base_url, out, *NO_DELAY, "-s", "PROCESS_WORKERS=1",
                                "-s", f"JIEBA_USER_DICTS={broken}")  # fmt: skip
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert result.returncode == EXIT_CHECK_FAILED, result.stderr[-3000:]
    summary = only_summary(out)
    pages = json.loads((SITE / "manifest.json").read_text(encoding="utf-8"))["every_page_once"]  # each one fails
    assert summary["articles_written"] == 0 and summary["rejects"]["parse_error"] == pages
    assert any(check.startswith(f"parse errors: {pages} of {pages} article pages") for check in summary["failed_checks"])


def write_dedup_archives(folder: Path, base: str) -> tuple[Path, Path]:
    """Two archives as ``wget --warc-dedup`` leaves them: the original response, then a revisit of it."""
    page = sorted((SITE / "www" / "paper").glob("*.html"))[0]
    body, url = page.read_bytes(), f"{base}/paper/{page.name}"
    first, second = folder / "first.warc.gz", folder / "second.warc.gz"
    with first.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        head = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
                                protocol="HTTP/1.1")  # fmt: skip
        original = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=head)
        writer.write_record(original)
    with second.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        head = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        revisit = writer.create_revisit_record(
            url, original.rec_headers.get_header("WARC-Payload-Digest"), url,
            original.rec_headers.get_header("WARC-Date"), http_headers=head,
        )  # fmt: skip
        revisit.rec_headers.add_header("WARC-Refers-To", original.rec_headers.get_header("WARC-Record-ID"))
        writer.write_record(revisit)
    return first, second


def test_revisit_records_are_resolved_or_counted(tmp_path: Path) -> None:
    first, second = write_dedup_archives(tmp_path, "http://127.0.0.1:9")
    alone = subprocess.run(rebuild_command([second], tmp_path / "alone", "--workers", "1", "--no-progress"),
                           cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert "warning: 1 revisit records (deduplicated responses) have no original" in alone.stderr
    assert only_summary(tmp_path / "alone")["revisit_records"] == {"resolved": 0, "without_original": 1}
    both = subprocess.run(rebuild_command([second, first], tmp_path / "both", "--workers", "1", "--no-progress"),
                          cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert both.returncode == 0, both.stderr[-3000:]
    summary = only_summary(tmp_path / "both")
    assert summary["revisit_records"] == {"resolved": 1, "without_original": 0}
    assert summary["pages_processed"] == 2 and summary["articles_written"] == 1 and summary["duplicate_articles"] == 1


# -- 4. user mistakes end in one line -----------------------------------------------------


def scrapy(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrapy", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("crawl", "qikan"), "needs -a start_url=URL"),
        (("crawl", "qikan", "-a", "start_url=ftp://x/"), "start_url must be an http(s) URL"),
        (("crawl", "qikan", "-a", "start_url=http://127.0.0.1:9/", "-s", "PROCESS_WORKERS=-3"), "PROCESS_WORKERS='-3'"),
        (("crawl", "qikan", "-a", "start_url=http://127.0.0.1:9/", "-s", "DATASET_ROW_GROUP_ROWS=0"),
         "DATASET_ROW_GROUP_ROWS='0' must be a whole number >= 1"),
        (("crawl", "qikan", "-a", "start_url=http://127.0.0.1:9/", "-s", "DATASET_ROW_GROUP_ROWS=-5"),
         "DATASET_ROW_GROUP_ROWS='-5'"),
        (("crawl", "qikan", "-a", "start_url=http://127.0.0.1:9/", "-s", "ERROR_MAX_SHARE=lots"), "ERROR_MAX_SHARE"),
        (("rebuild", "tests/fixtures/pages", "--workers", "-2"), "--workers: must be a whole number >= 1"),
        (("compact", "-s", "DATASET_MAX_BUFFER_MB=0"), "DATASET_MAX_BUFFER_MB='0'"),
    ],
    ids=["no-start-url", "bad-start-url", "workers", "row-group-0", "row-group-neg", "share", "rebuild-workers", "compact-buffer"],
)
def test_a_usage_mistake_is_one_line_and_exit_2(args: tuple[str, ...], names: str) -> None:
    result = scrapy(*args)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.count("\n") == 1 and names in result.stderr, result.stderr[-2000:]


def corrupt_dataset(tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "data"
    (out / "articles").mkdir(parents=True)
    bad = out / "articles" / "part-x-00001.parquet"
    bad.write_bytes(b"not a parquet file")
    return out, bad


def test_an_unreadable_dataset_file_is_named_in_one_line(tmp_path: Path) -> None:
    out, bad = corrupt_dataset(tmp_path)
    crawl = scrapy("crawl", "qikan", "-a", "start_url=http://127.0.0.1:9/", "-s", f"DATASET_DIR={out}")
    assert crawl.returncode == EXIT_START_FAILED
    error_lines = [line for line in crawl.stderr.splitlines() if str(bad) in line]
    assert len(error_lines) == 1 and error_lines[0].startswith("scrapy crawl: could not start: "), crawl.stderr[-3000:]
    assert "Traceback" not in crawl.stderr and "never retrieved" not in crawl.stderr
    compacted = scrapy("compact", str(out))
    assert compacted.returncode != 0
    assert f"scrapy compact: cannot read {bad}:" in compacted.stderr and "Traceback" not in compacted.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_start_url_names_the_connection_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/"  # nothing listens there once the probe is closed
    result = scrapy("crawl", "qikan", "-a", f"start_url={url}", "-s", f"DATASET_DIR={tmp_path / 'data'}", *NO_DELAY,
                    "-s", "RETRY_TIMES=0")  # fmt: skip
    assert result.returncode == EXIT_CHECK_FAILED
    checks = [line for line in result.stderr.splitlines() if line.startswith("crawl failed a check")]
    assert len(checks) == 1 and f"start page not fetched: {url}" in checks[0] and "refused" in checks[0], checks
    assert "no articles found" not in result.stderr
