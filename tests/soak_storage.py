"""Issue 14's storage checks on a generated 3,000-article site, by hand (minutes, so not in ``make test``).

    .venv/bin/python -m tests.soak_storage [--articles-per-issue 30] [--only compact_during_crawl ...]

Each case prints one JSON line with what it measured. The disk cases mount a tmpfs
(root only). Everything runs on loopback, in a temporary folder removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.siteserver import SiteServer

SCRAPY = [sys.executable, "-m", "scrapy.cmdline"]


def command(base_url: str, out: Path, *args: str) -> list[str]:
    return crawl_command(base_url, out, *NO_DELAY, "-s", "PROCESS_WORKERS=1", "-s", "LOG_LEVEL=INFO", *args)


def run(cmd: list[str], log: Path, timeout: float = 1800) -> tuple[int, float]:
    started = time.monotonic()
    with log.open("wb") as handle:
        code = subprocess.run(cmd, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout).returncode
    return code, round(time.monotonic() - started, 1)


def stored_ids(out: Path) -> set[str]:
    ids: set[str] = set()
    for path in (out / "articles").rglob("*.parquet"):
        if not any(part.startswith(".") for part in path.relative_to(out).parts):
            ids.update(pq.read_table(path, columns=["article_id"]).column(0).to_pylist())
    return ids


def unreadable(out: Path) -> list[str]:
    bad = []
    for path in out.rglob("*.parquet"):
        if any(part.startswith(".") for part in path.relative_to(out).parts):
            continue
        try:
            pq.read_metadata(path)
        except (OSError, ValueError):
            bad.append(str(path))
    return bad


def tmpfs(where: Path, size: str) -> Path:
    where.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    return where


def full_disk(base: str, work: Path, expected: int) -> dict:
    disk = tmpfs(work / "disk", "3m")
    try:
        code, seconds = run(command(base, disk / "ds", "-s", "DATASET_COMMIT_SECONDS=1"), work / "full.log")
        return {"exit": code, "seconds": seconds, "unreadable_visible_parquet": len(unreadable(disk / "ds")),
                "log_bytes": (work / "full.log").stat().st_size, "stored": len(stored_ids(disk / "ds")),
                "inprogress_left": len(list((disk / "ds").rglob("*.inprogress")))}
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def read_only(base: str, work: Path, expected: int) -> dict:
    disk = tmpfs(work / "ro", "16m")
    try:
        (disk / "ds" / "articles").mkdir(parents=True)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        code, seconds = run(command(base, disk / "ds"), work / "ro.log")
        return {"exit": code, "seconds": seconds, "log_lines": len((work / "ro.log").read_text().splitlines())}
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def compact_during_crawl(base: str, work: Path, expected: int, *, force: bool = False) -> dict:
    """``scrapy compact`` every 2 s while a crawl commits every second, and a reader reads the whole
    dataset in a loop (list, then open every file); every read's failure is counted."""
    out = work / ("ds-force" if force else "ds-compact")
    log = (work / "crawl-compact.log").open("wb")
    crawl = subprocess.Popen(command(base, out, "-s", "DATASET_COMMIT_SECONDS=1"), cwd=REPO, stdout=log,
                             stderr=subprocess.STDOUT)
    reads = {"ok": 0, "failed": 0}
    failures: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            if not (out / "articles").is_dir():
                time.sleep(0.1)
                continue
            try:
                pq.read_table(out / "articles", columns=["article_id"])
                reads["ok"] += 1
            except (OSError, ValueError) as exc:
                reads["failed"] += 1
                failures.append(repr(exc)[:200])

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    codes: dict[int, int] = {}
    started = time.monotonic()
    while crawl.poll() is None:
        time.sleep(2)
        if not (out / "articles").is_dir():
            continue
        extra = ["--force"] if force else []
        code = subprocess.run([*SCRAPY, "compact", str(out), *extra], cwd=REPO, capture_output=True).returncode
        codes[code] = codes.get(code, 0) + 1
    crawl_exit = crawl.wait()
    final = subprocess.run([*SCRAPY, "compact", str(out)], cwd=REPO, capture_output=True).returncode
    done.set()
    thread.join()
    return {"crawl_exit": crawl_exit, "crawl_seconds": round(time.monotonic() - started, 1), "compact_exits": codes,
            "final_compact_exit": final, "stored": len(stored_ids(out)), "expected": expected,
            "reads": reads, "first_failures": failures[:3]}


def compact_force_during_crawl(base: str, work: Path, expected: int) -> dict:
    return compact_during_crawl(base, work, expected, force=True)


def children_of(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc), to see which outlive it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def interrupted(base: str, work: Path, expected: int, *, sig: int = signal.SIGTERM) -> dict:
    out = work / f"ds-sig{sig}"
    log = (work / f"sig{sig}.log").open("wb")
    crawl = subprocess.Popen(command(base, out, "-s", f"JOBDIR={work / f'job{sig}'}", "-s", "PROCESS_WORKERS=2"),
                             cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    wait_for(lambda: len(children_of(crawl.pid)) >= 2 and (out / ".leases").is_dir(), 120)
    time.sleep(5)  # mid-crawl
    helpers = children_of(crawl.pid)
    crawl.send_signal(sig)
    code = crawl.wait(timeout=300)
    killed_at = time.monotonic()
    time.sleep(5)
    alive = [p for p in helpers if Path(f"/proc/{p}").exists()]
    return {"signal": signal.Signals(sig).name, "exit": code, "helpers": len(helpers),
            "helpers_alive_5s_later": len(alive), "seconds_waited": round(time.monotonic() - killed_at, 1)}


def sigkill(base: str, work: Path, expected: int) -> dict:
    return interrupted(base, work, expected, sig=signal.SIGKILL)


def readme_only(base: str, work: Path, expected: int) -> dict:
    folder = work / "project"
    folder.mkdir()
    (folder / "README.md").write_text("# my project\n")
    done = subprocess.run([*SCRAPY, "compact", str(folder)], cwd=REPO, capture_output=True, text=True)
    return {"exit": done.returncode, "unchanged": [p.name for p in folder.iterdir()] == ["README.md"]
            and (folder / "README.md").read_text() == "# my project\n", "stderr": done.stderr.strip()}


def two_plain_crawls(base: str, work: Path, expected: int) -> dict:
    out = work / "ds-two"
    first = subprocess.Popen(command(base, out), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: (out / ".leases").is_dir() and any((out / ".leases").iterdir()), 120)
    second = subprocess.run(command(base, out), cwd=REPO, capture_output=True, text=True, timeout=300)
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=300)
    lines = [line for line in second.stderr.splitlines() if "scrapy crawl" in line]
    return {"second_exit": second.returncode, "message": lines[-1] if lines else second.stderr[-300:]}


CASES = {f.__name__: f for f in (readme_only, two_plain_crawls, full_disk, read_only, compact_during_crawl,
                                 compact_force_during_crawl, interrupted, sigkill)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journals", type=int, default=10)
    parser.add_argument("--issues", type=int, default=10)
    parser.add_argument("--articles-per-issue", type=int, default=30)
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), default=sorted(CASES))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qikan-soak-"))
    try:
        subprocess.run([sys.executable, "-m", "tests.sitegen", str(work / "site"), "--journals", str(args.journals),
                        "--issues", str(args.issues), "--articles-per-issue", str(args.articles_per_issue)],
                       cwd=REPO, check=True, capture_output=True)
        expected = len((work / "site" / "expected.jsonl").read_text().splitlines())
        with SiteServer(work / "site" / "www") as server:
            for name in args.only:
                result = CASES[name](server.base_url, work, expected)
                print(json.dumps({"case": name, **result}, ensure_ascii=False), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
