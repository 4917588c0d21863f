"""Retries wait: exponential backoff, ``Retry-After`` honoured, both capped by ``RETRY_BACKOFF_MAX``.

A real crawl of a one-page site whose page answers 503 a few times; the server notes when each
request for it arrives. Only lower bounds are asserted for the waits (a wait is never shorter
than asked), so a slow machine cannot make the test fail, and a crawler without the backoff does.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

from tests import faults
from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.siteserver import FaultHandler, SiteServer


class FlakyPage:
    """``/`` answers ``fault`` to its first ``failures`` requests, then the site's page; arrival times kept."""

    def __init__(self, failures: int, fault: FaultHandler) -> None:
        self.failures = failures
        self.fault = fault
        self.arrivals: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, path: str) -> FaultHandler | None:
        if path != "/":
            return None
        with self._lock:
            self.arrivals.append(time.monotonic())
            failing = len(self.arrivals) <= self.failures
        return self.fault if failing else None

    def gaps(self) -> list[float]:
        return [later - earlier for earlier, later in zip(self.arrivals, self.arrivals[1:], strict=False)]


def crawl_flaky_home(tmp_path: Path, flaky: FlakyPage, *settings: str) -> subprocess.CompletedProcess[str]:
    www = tmp_path / "www"
    www.mkdir(parents=True)
    (www / "index.html").write_text("<html><body><p>home</p></body></html>", encoding="utf-8")
    (www / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
    with SiteServer(www, faults=flaky) as server:
        command = crawl_command(server.base_url, tmp_path / "data", *NO_DELAY, "-s", "PROCESS_WORKERS=0",
                                "-s", "SEGMENT_ENABLED=False", "-s", "RETRY_TIMES=3", *settings)
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 3), result.stderr[-3000:]  # 3: a one-page site fails the drift check, fine here
    return result


def test_backoff_doubles_between_retries(tmp_path: Path) -> None:
    base = 0.4
    flaky = FlakyPage(2, faults.status(503))
    crawl_flaky_home(tmp_path, flaky, "-s", f"RETRY_BACKOFF_BASE={base}", "-s", "RETRY_BACKOFF_MAX=60")
    assert len(flaky.arrivals) == 3  # two 503s, then the page
    first, second = flaky.gaps()
    assert first >= base * 0.5  # base × 2^0, jittered by 0.5–1
    assert second >= base * 2 * 0.5  # base × 2^1, jittered


def test_retry_after_is_honoured_and_capped(tmp_path: Path) -> None:
    flaky = FlakyPage(1, faults.status(503, retry_after="1"))
    crawl_flaky_home(tmp_path / "honoured", flaky, "-s", "RETRY_BACKOFF_BASE=0.01")
    assert len(flaky.arrivals) == 2
    assert flaky.gaps()[0] >= 1.0  # the server's wait, not the 0.01 s backoff

    capped = FlakyPage(1, faults.status(503, retry_after="3600"))
    result = crawl_flaky_home(tmp_path / "capped", capped, "-s", "RETRY_BACKOFF_BASE=0.01", "-s", "RETRY_BACKOFF_MAX=0.5")
    assert len(capped.arrivals) == 2, result.stderr[-2000:]
    assert capped.gaps()[0] >= 0.5  # capped at RETRY_BACKOFF_MAX: the crawl did not wait an hour (timeout 120 s)

