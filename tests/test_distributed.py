"""Distributed crawling: real ``scrapy crawl`` workers sharing a real Redis and one fixture server.

Workers are slowed down a little (a download delay, two requests at a time)
so that both get work while they run at the same time; every assertion is on
what the server was asked and what the dataset holds.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import redis

from tests.crawlcmd import crawl_command
from tests.redisserver import redis_url_fixture  # noqa: F401 (the session fixture "redis_url")
from tests.siteserver import SiteServer
from tests.test_crawl import REPO, SITE, crawl, read_articles
from tests.test_incremental import GOLD_IDS, article_hits, assert_complete_and_unique

ARTICLE_PAGES = len(GOLD_IDS) + 2  # every article and the two soft 404s
FILE_RE = re.compile(r"^part-\d{8}T\d{6}Z-[0-9a-f]{6}-(?P<worker>.+)-\d{5}\.parquet$")


@pytest.fixture()
def crawl_id() -> str:
    """A frontier of its own for each test, so that tests never need to flush the server."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture()
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def start_worker(
    base_url: str, out: Path, url: str, crawl_id: str, worker: str, log: Path, *args: str
) -> subprocess.Popen:
    """One worker; ``worker`` is its WORKER_ID, or the name of its log only when it starts with "default"."""
    command = [
        *crawl_command(base_url, out),
        "-s", f"REDIS_URL={url}",
        "-s", f"REDIS_CRAWL_ID={crawl_id}",
        *(() if worker.startswith("default") else ("-s", f"WORKER_ID={worker}")),
        "-s", "DOWNLOAD_DELAY=0.05",
        "-s", "DOWNLOAD_DELAY_JITTER=0",
        "-s", "AUTOTHROTTLE_ENABLED=False",
        "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=2",
        "-s", "PROCESS_WORKERS=1",
        "-s", "SEGMENT_ENABLED=False",
        *args,
    ]  # fmt: skip
    with log.open("wb") as stderr:  # a file, not a pipe: two chatty processes cannot block on a full pipe
        return subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)


def wait_all(processes: dict[str, subprocess.Popen], logs: Path, timeout: float = 120) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    codes = {}
    for name, process in processes.items():
        try:
            codes[name] = process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            for other in processes.values():
                if other.poll() is None:
                    os.killpg(other.pid, signal.SIGKILL)
            raise AssertionError(f"worker {name} still running after {timeout}s:\n{log_tail(logs, name)}") from None
    return codes


def log_text(logs: Path, name: str) -> str:
    return (logs / f"{name}.log").read_text(encoding="utf-8", errors="replace")


def log_tail(logs: Path, name: str) -> str:
    return log_text(logs, name)[-4000:]


def run_workers(server: SiteServer, out: Path, url: str, crawl_id: str, logs: Path, *names: str) -> None:
    """Start the workers at the same time and wait for all of them: each must exit 0."""
    logs.mkdir(parents=True, exist_ok=True)
    processes = {name: start_worker(server.base_url, out, url, crawl_id, name, logs / f"{name}.log") for name in names}
    codes = wait_all(processes, logs)
    for name, code in codes.items():
        assert code == 0, f"worker {name} exited {code}:\n{log_tail(logs, name)}"


def rows_by_worker(out: Path) -> Counter:
    counts: Counter = Counter()
    for path in (out / "articles").rglob("*.parquet"):
        match = FILE_RE.match(path.name)
        assert match, path.name
        counts[match["worker"]] += ds.dataset(path).count_rows()
    return counts


def test_two_workers_share_one_frontier(tmp_path: Path, redis_url: str, crawl_id: str, client: redis.Redis) -> None:
    out = tmp_path / "data"
    with SiteServer(SITE / "www") as server:
        run_workers(server, out, redis_url, crawl_id, tmp_path / "first", "w1", "w2")
        first = article_hits(server)
        server.reset_hits()
        run_workers(server, out, redis_url, crawl_id, tmp_path / "second", "default1", "default2")
        second = article_hits(server)
        listings = Counter({p: n for p, n in server.hits.items() if not p.startswith("/paper/")})

    assert len(first) == ARTICLE_PAGES and set(first.values()) == {1}  # no page fetched by both workers
    assert_complete_and_unique(out)
    by_worker = rows_by_worker(out)
    assert set(by_worker) == {"w1", "w2"} and min(by_worker.values()) > 0, by_worker  # both did work
    summaries = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    worker_ids = Counter(s["worker_id"] for s in summaries)
    defaults = set(worker_ids) - {"w1", "w2"}
    assert len(summaries) == 4 and set(worker_ids.values()) == {1} and len(defaults) == 2, worker_ids
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*-\d+", w) for w in defaults), defaults  # <hostname>-<pid>
    assert {s["redis_crawl_id"] for s in summaries} == {crawl_id}
    assert all(s["failed_checks"] == [] for s in summaries)
    assert sum(s["articles_written"] for s in summaries) == len(GOLD_IDS)

    # The second crawl starts over from the home page; the state in Redis skips every stored article.
    assert second == Counter()
    assert listings["/"] == 1 and listings["/sitemap.xml"] == 1
    # Scrapy's own robots.txt check is per worker; every other page is fetched once
    assert {p: n for p, n in listings.items() if n > 1 and p != "/robots.txt"} == {}
    assert client.hlen(f"{crawl_id}:qikan:stored") == ARTICLE_PAGES
    assert [k.decode() for k in client.keys(f"{crawl_id}:*")] == [f"{crawl_id}:qikan:stored"]  # frontier reset


def in_hand(client: redis.Redis, crawl_id: str, worker: str) -> set[str]:
    """URL paths of the requests ``worker`` has taken and not yet committed."""
    values = [*client.hvals(f"{crawl_id}:qikan:inflight:{worker}"), *client.hvals(f"{crawl_id}:qikan:written:{worker}")]
    return {"/" + pickle.loads(v)["url"].split("/", 3)[3] for v in values}


def committed_rows(out: Path, worker: str) -> int:
    return sum(ds.dataset(p).count_rows() for p in (out / "articles").rglob(f"*-{worker}-*.parquet"))


def test_a_killed_worker_loses_nothing(tmp_path: Path, redis_url: str, crawl_id: str, client: redis.Redis) -> None:
    out, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    args = ("-s", "REDIS_WORKER_TIMEOUT=2", "-s", "DATASET_COMMIT_SECONDS=0.5")
    with SiteServer(SITE / "www") as server:
        victim = start_worker(server.base_url, out, redis_url, crawl_id, "victim", logs / "victim.log", *args)
        survivor = start_worker(server.base_url, out, redis_url, crawl_id, "survivor", logs / "survivor.log", *args)
        deadline = time.monotonic() + 60
        while True:  # kill it mid-crawl: some rows committed, some requests in hand
            assert victim.poll() is None, f"the victim ended before it could be killed:\n{log_tail(logs, 'victim')}"
            assert time.monotonic() < deadline, "the victim never had committed rows and requests in hand"
            if (out / "articles").is_dir() and committed_rows(out, "victim") >= 3 and in_hand(client, crawl_id, "victim"):
                break
            time.sleep(0.02)
        os.killpg(victim.pid, signal.SIGKILL)  # with its processing worker
        victim.wait(timeout=30)
        lost_with_it = in_hand(client, crawl_id, "victim")
        assert survivor.poll() is None, "the survivor ended while the victim still held requests"
        codes = wait_all({"survivor": survivor}, logs)
        hits = article_hits(server)

    assert codes["survivor"] == 0, log_tail(logs, "survivor")
    assert_complete_and_unique(out)
    assert len(hits) == ARTICLE_PAGES
    fetched_again = {p for p, n in hits.items() if n > 1}
    assert max(hits.values()) <= 2 and fetched_again <= lost_with_it, (fetched_again, lost_with_it)
    assert re.search(r"Worker victim stopped \(no heartbeat for 2s\): \d+ of its requests", log_text(logs, "survivor"))
    assert client.keys(f"{crawl_id}:qikan:*victim*") == []


def test_stopped_workers_resume_from_the_queue_in_redis(tmp_path: Path, redis_url: str, crawl_id: str) -> None:
    out, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    args = ("-s", "DATASET_COMMIT_SECONDS=0.5")
    with SiteServer(SITE / "www") as server:
        workers = {
            name: start_worker(server.base_url, out, redis_url, crawl_id, name, logs / f"{name}.log", *args)
            for name in ("w1", "w2")
        }
        deadline = time.monotonic() + 60
        while not ((out / "articles").is_dir() and sum(committed_rows(out, name) for name in workers) >= 5):
            assert all(p.poll() is None for p in workers.values()), "a worker ended before it could be stopped"
            assert time.monotonic() < deadline, "no rows committed"
            time.sleep(0.02)
        for process in workers.values():
            process.send_signal(signal.SIGTERM)  # Ctrl-C: finish and commit what is in hand, leave the queue
        assert wait_all(workers, logs) == {"w1": 5, "w2": 5}  # interrupted, resumable
        assert len(read_articles(out)) < len(GOLD_IDS)
        run_workers(server, out, redis_url, crawl_id, logs, "w3")
        hits = article_hits(server)
    assert_complete_and_unique(out)
    assert len(hits) == ARTICLE_PAGES and set(hits.values()) == {1}


def test_switching_to_redis_keeps_history_and_a_plain_crawl_imports_no_redis(
    tmp_path: Path, redis_url: str, crawl_id: str, client: redis.Redis
) -> None:
    out = tmp_path / "data"
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('REDIS_MODULES', sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('redis', 'scrapy_redis')), file=sys.stderr))\n"
        "from scrapy.cmdline import execute\n"
        "execute(sys.argv)\n"
    )
    with SiteServer(SITE / "www") as server:
        command = [
            sys.executable, "-c", probe, "crawl", "qikan", "-a", f"start_url={server.base_url}/",
            "-s", f"DATASET_DIR={out}", "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False",
            "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16", "-s", "PROCESS_WORKERS=1", "-s", "SEGMENT_ENABLED=False",
        ]  # fmt: skip
        plain = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert plain.returncode == 0, plain.stderr[-3000:]
        assert "REDIS_MODULES []" in plain.stderr
        server.reset_hits()
        run_workers(server, out, redis_url, crawl_id, tmp_path / "logs", "w1")
        hits = article_hits(server)
    assert hits == Counter()  # the state was seeded from the dataset
    assert client.hlen(f"{crawl_id}:qikan:stored") == ARTICLE_PAGES
    assert_complete_and_unique(out)


def test_a_worker_id_in_use_is_refused(tmp_path: Path, redis_url: str, crawl_id: str, client: redis.Redis) -> None:
    client.set(f"{crawl_id}:qikan:worker:w1", "another-run", px=60_000)
    with SiteServer(SITE / "www") as server:
        result = crawl(
            server.base_url, tmp_path / "data", "-s", f"REDIS_URL={redis_url}", "-s", f"REDIS_CRAWL_ID={crawl_id}",
            "-s", "WORKER_ID=w1", check=False,
        )  # fmt: skip
        assert server.hits == Counter()
    assert result.returncode != 0
    assert "WORKER_ID 'w1' is in use" in result.stderr
    assert client.get(f"{crawl_id}:qikan:worker:w1") == b"another-run"
