"""Leases: crawls and rebuilds hold them, compaction honours them, and a dead run's lease does not block."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines import leases
from pipelines.compact import CompactError, compact
from pipelines.dataset import DatasetWriter
from pipelines.records import ARTICLE_SCHEMA
from tests.test_compact import T2, article, two_runs

RUN = "20261201T100000Z-aaaaaa"
OTHER = "20261201T110000Z-bbbbbb"


def test_a_second_plain_crawl_is_refused_naming_the_first(tmp_path: Path) -> None:
    first = leases.acquire_writer(str(tmp_path), "crawl", RUN)
    with pytest.raises(leases.LeaseConflict) as refused:
        leases.acquire_writer(str(tmp_path), "crawl", OTHER)
    message = str(refused.value)
    assert f"crawl (plain) {RUN}" in message and f"pid {first.record['pid']} on {socket.gethostname()}" in message
    assert "started 20" in message and "Redis mode" in message and "\n" not in message
    assert [p.name for p in (tmp_path / ".leases").iterdir()] == [first.name]  # the refused one left nothing
    first.release()
    assert list((tmp_path / ".leases").iterdir()) == []


def test_redis_workers_share_and_a_plain_crawl_does_not_join_them(tmp_path: Path) -> None:
    one = leases.acquire_writer(str(tmp_path), "crawl", RUN, worker_id="w1", mode="redis")
    two = leases.acquire_writer(str(tmp_path), "crawl", OTHER, worker_id="w2", mode="redis")
    rebuild = leases.acquire_writer(str(tmp_path), "rebuild", "20261201T120000Z-cccccc")
    with pytest.raises(leases.LeaseConflict, match="crawl \\(redis\\)"):
        leases.acquire_writer(str(tmp_path), "crawl", "20261201T130000Z-dddddd")
    for lease in (one, two, rebuild):
        lease.release()


def test_compaction_refuses_while_a_writer_holds_a_lease_and_waits_with_wait(tmp_path: Path) -> None:
    two_runs(tmp_path, n=6)
    writer = leases.acquire_writer(str(tmp_path), "rebuild", RUN)
    with pytest.raises(CompactError, match=f"being written by rebuild {RUN}.*--wait SECONDS.*--force"):
        compact(tmp_path, grace_seconds=0)
    assert len(list((tmp_path / "articles").rglob("*.parquet"))) > 3  # nothing changed

    threading.Timer(1.0, writer.release).start()
    started = time.monotonic()
    summary = compact(tmp_path, grace_seconds=0, wait_seconds=30)
    assert 0.9 < time.monotonic() - started < 10
    assert summary["articles"]["rows_after"] == 6


def test_a_writer_publishes_nothing_while_a_compaction_holds_the_marker(tmp_path: Path) -> None:
    marker = leases.acquire_compaction(str(tmp_path), "20261201T100000Z-compact-aaaaaa")
    writer = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id=RUN, partition_by="year")
    writer.write(article("1", 2019, T2, "t"))
    writer.prepare()
    threading.Timer(1.0, marker.release).start()
    started = time.monotonic()
    (path,) = writer.publish()
    assert time.monotonic() - started >= 0.9
    assert Path(path).is_file()


def test_a_killed_writer_on_this_host_does_not_block_compaction(tmp_path: Path) -> None:
    two_runs(tmp_path, n=6)
    code = ("import sys, time; from pipelines import leases; "
            f"leases.acquire_writer(sys.argv[1], 'crawl', '{RUN}'); print('held', flush=True); time.sleep(60)")
    process = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[1])
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    with pytest.raises(CompactError, match="being written"):
        compact(tmp_path, grace_seconds=0)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert compact(tmp_path, grace_seconds=0)["articles"]["rows_after"] == 6  # its pid is gone: the lease is dead
    assert list((tmp_path / ".leases").iterdir()) == []


def fake_lease(root: Path, host: str, renewed_ago: float) -> Path:
    """A crawl's lease as another machine wrote it, last renewed ``renewed_ago`` seconds ago."""
    path = root / ".leases" / f"crawl-{OTHER}-0badc0de.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "kind": "crawl", "mode": "redis", "run_id": OTHER, "worker_id": "w9", "pid": 4242, "host": host,
        "process_start": None, "started_at": "2026-12-01T11:00:00+00:00", "renewed_at": time.time() - renewed_ago,
        "ttl_seconds": leases.LEASE_SECONDS,
    }))  # fmt: skip
    return path


def test_compact_after_another_machine_crashed_names_force_and_the_age(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    two_runs(tmp_path, n=6)
    fresh = fake_lease(tmp_path, "crawler-7", renewed_ago=20)
    with pytest.raises(CompactError) as refused:
        compact(tmp_path, grace_seconds=0)
    message = str(refused.value)
    assert "pid 4242 on crawler-7" in message and "renewed 20 s ago" in message and "--force" in message
    assert "expire 40 s from now" in message

    fake_lease(tmp_path, "crawler-7", renewed_ago=leases.LEASE_SECONDS + 30)  # never renewed since: dead
    assert compact(tmp_path, grace_seconds=0)["articles"]["rows_after"] == 6
    assert not fresh.exists()
    assert "dead (last renewed 90 s ago)" in caplog.text


def test_a_forced_compaction_goes_on_while_a_writer_lives(tmp_path: Path) -> None:
    two_runs(tmp_path, n=6)
    with leases.acquire_writer(str(tmp_path), "crawl", RUN):
        summary = compact(tmp_path, grace_seconds=0, force=True)
    assert summary["forced"] and summary["articles"]["rows_after"] == 6


def test_a_crawl_into_a_dataset_another_plain_crawl_writes_exits_1_in_one_line(tmp_path: Path) -> None:
    from tests.crawlcmd import NO_DELAY, REPO, crawl_command
    from tests.siteserver import SiteServer
    from tests.test_crawl import SITE

    out = tmp_path / "data"
    with leases.acquire_writer(str(out), "crawl", RUN) as first, SiteServer(SITE / "www") as server:
        result = subprocess.run(crawl_command(server.base_url, out, *NO_DELAY, "-s", "PROCESS_WORKERS=0"), cwd=REPO,
                                capture_output=True, text=True, timeout=300)
        fetched = sum(server.hits.values())
    assert result.returncode == 1, result.stderr[-3000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("scrapy crawl")]
    assert f"crawl (plain) {RUN} (pid {first.record['pid']} on {socket.gethostname()}, started" in line
    assert "REDIS_URL" in line and fetched == 0
    assert not (out / "articles").exists() or not any((out / "articles").rglob("*.parquet"))
