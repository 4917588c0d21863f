"""Quiet, useful logs, checked on real crawls of the fixture site on 127.0.0.1.

A reject is one short DEBUG line (URL, reason, stage); no line carries page
bytes or exceeds :data:`MAX_LINE`; a progress line replaces Scrapy's LogStats
line, and on a terminal it is a live bar, cleared at the end. The crawls are
held at robots.txt (which every other request waits for) until the first
progress output was seen, so the progress output is certain, not a matter of
timing.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pyarrow.dataset as ds

from crawler.logformatter import QuietLogFormatter
from pipelines.rawpage import RawPage
from pipelines.records import RejectRecord
from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.faults import site_file
from tests.siteserver import SiteServer

SITE = REPO / "tests" / "site"
MAX_LINE = 500
PROGRESS_RE = re.compile(r"\d+ pages \(\d+/min\), \d+ articles, \d+ rejects.*, queue (\d+|\?), missing: ")
BAR_RE = re.compile(r"\d+ pages \(\d+/min\), \d+ articles")
"""The start of a bar: a narrow terminal cuts off the rest."""
FAST_PROGRESS = ("-s", "LOGSTATS_INTERVAL=0.2", "-s", "PROCESS_WORKERS=1")
HOLD_SECONDS = 25.0
"""Longest robots.txt is held (below DOWNLOAD_TIMEOUT): a crawl that never shows progress fails, never hangs."""


def held_robots(released: threading.Event) -> Callable[[str], Callable[[BaseHTTPRequestHandler], None] | None]:
    """Faults for the site server: robots.txt is answered once ``released`` is set."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        released.wait(HOLD_SECONDS)
        handler.respond(200, site_file(handler, "/robots.txt"), "text/plain")  # type: ignore[attr-defined]

    return lambda path: answer if path == "/robots.txt" else None


def run_until(command: list[str], seen: Callable[[str], bool], released: threading.Event) -> tuple[int, str]:
    """Run ``command``, reading its stderr; set ``released`` once ``seen`` is true of what it wrote."""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return _drain(process, process.stderr.fileno(), seen, released)  # type: ignore[union-attr]


def _drain(process: subprocess.Popen, reader: int, seen: Callable[[str], bool],
           released: threading.Event) -> tuple[int, str]:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(reader, 65536)
        except OSError:  # a pty's master reads EIO once the child closed it
            chunk = b""
        if not chunk:
            break
        chunks.append(chunk)
        if not released.is_set() and seen(b"".join(chunks).decode("utf-8", "replace")):
            released.set()
    released.set()
    return process.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


def test_rejects_are_short_debug_lines_and_progress_is_logged(tmp_path: Path) -> None:
    released = threading.Event()
    with SiteServer(SITE / "www", faults=held_robots(released)) as server:
        command = crawl_command(server.base_url, tmp_path / "dataset", *NO_DELAY, *FAST_PROGRESS, "-s", "LOG_LEVEL=DEBUG")
        code, log = run_until(command, lambda text: "Progress: " in text, released)
    assert code == 0, log[-4000:]
    lines = log.splitlines()
    assert max(map(len, lines)) <= MAX_LINE
    assert not [line for line in lines if "body=" in line or "Dropped:" in line]
    rejects = ds.dataset(tmp_path / "dataset" / "rejects").to_table().to_pylist()
    reject_lines = [line for line in lines if "] DEBUG: Rejected " in line]
    assert len(reject_lines) == len(rejects) > 0
    for row in rejects:
        assert any(f"Rejected {row['url']}: {row['reason']} at {row['stage']}" in line for line in reject_lines)
    assert not [line for line in lines if "Rejected " in line and "DEBUG" not in line.split("Rejected ")[0]]
    progress = [line for line in lines if "[crawler.progress] INFO: Progress: " in line]
    assert progress and all(PROGRESS_RE.search(line) for line in progress)
    assert not [line for line in lines if "[scrapy.extensions.logstats]" in line]


def test_progress_is_a_live_bar_on_a_terminal(tmp_path: Path) -> None:
    released = threading.Event()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 300, 0, 0))  # 300 columns
    with SiteServer(SITE / "www", faults=held_robots(released)) as server:
        command = crawl_command(server.base_url, tmp_path / "dataset", *NO_DELAY, *FAST_PROGRESS)
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        try:
            code, output = _drain(process, master, lambda text: bool(re.search(r"\r\x1b\[K\d+ pages", text)), released)
        finally:
            os.close(master)
    assert code == 0, output[-4000:]
    bars = re.findall(r"\r\x1b\[K(\d+ pages[^\r\n]*)", output)
    assert bars and all(BAR_RE.match(bar) for bar in bars), [b for b in bars if not BAR_RE.match(b)]
    assert any(PROGRESS_RE.search(bar) for bar in bars)  # the pty is wide enough for a whole one
    assert "Progress: " not in output  # the bar replaces the progress log line
    # Every bar is cleared before the next log line, and the last one at the end.
    for match in re.finditer(r"\r\x1b\[K\d+ pages[^\r\n]*", output):
        assert output[match.end():].startswith("\r\x1b[K")


def test_log_formatter_never_prints_an_item() -> None:
    formatter = QuietLogFormatter()
    page = RawPage(url="http://127.0.0.1:1/paper/1.html", status=200, body="正文".encode() * 5000)
    assert "\\x" not in repr(page) and f"body=<{len(page.body)} bytes>" in repr(page) and len(repr(page)) < 300
    reject = RejectRecord(url=page.url, reason="soft_404", stage="classify", detail="x" * 5000, status=200,
                          fetched_at=page.fetched_at)
    for item in (page, reject):
        exception = Exception(f"Rejected {page.url}: soft_404 at classify ({'y' * 5000})")
        entry = formatter.dropped(item, exception, None, None)
        line = entry["msg"] % entry["args"]
        assert entry["level"] == 10 and page.url in line and "soft_404" in line and len(line) < MAX_LINE
    scraped = formatter.scraped(page, None, None)
    assert len(scraped["msg"] % scraped["args"]) < MAX_LINE
