"""Rebuild benchmark: pages/s, the ratio to the jieba-only floor, and peak memory.

The floor is what segmentation with pure jieba costs: jieba 0.42.1 as shipped
(its own ``initialize``, plus the bundled user dictionary) over every cleaned
body in one process, white space dropped, divided by the number of cores. The
rebuild segments with the default engine (``SEGMENT_ENGINE`` "fast": jieba's
tokens from jieba-rs), so ``ratio = rebuild seconds / (jieba seconds / cores)``
is what the rebuild costs against pure jieba alone (issue 15's target: at most
0.4). The fast engine goes over the same bodies in the same process: its
bodies/s, how many bodies give exactly jieba's tokens, and its load cost.

The same rebuild with ``SEGMENT_ENABLED=False`` is the ceiling: what the rest of the
pipeline (decode, extract, normalise, write) allows; pages/s is printed against both.

The archive is made from a :mod:`tests.sitegen` site (article pages only,
bodies of ``body_chars`` characters), written with the crawl's own
:class:`~pipelines.archive.WarcArchiveWriter`. The rebuild is the real
``scrapy rebuild`` command, timed as the rebuild reports it and as the whole
command (Scrapy's start-up included). Peak RSS is reported per process (the
high-water mark of the command's process, which is worker 1, and of each
helper), as their sum, and as the largest sum of the whole process tree's RSS
(resource tracker included) sampled every 50 ms from outside:
an upper bound, since pages shared between processes count once per process.

The speed of a shared machine drifts (here the same work took 7.7 to 10.7 CPU seconds in one
night), so the rebuild and jieba alone are timed in alternating rounds (``--repeat``, default 3)
and the median round is reported, with every round's ratio.

Usage: ``python -m tests.bench_rebuild [--pages 3000] [--body-chars 3000] [--workers N] [--dir DIR] [--repeat 3] [--template classic]``
(``make bench`` can call :func:`measure_rebuild`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import jieba

from pipelines.archive import WarcArchiveWriter
from pipelines.procs import usable_cpus
from pipelines.rawpage import RawPage
from pipelines.segment import SegmentConfig, bundled_userdict_path, get_segmenter
from tests.bench_crawlmem import sample_rss_mb
from tests.crawlcmd import REPO
from tests.sitegen import TEMPLATES, build_site

BASE_URL = "http://127.0.0.1:8000"
JOURNALS = 10
ISSUES_PER_JOURNAL = 10


def build_archive(work: Path, pages: int, body_chars: int, template: str = "classic") -> tuple[Path, list[str]]:
    """A WARC of ``pages`` sitegen article pages in ``template``'s markup (reused when already built);
    returns it and the clean bodies."""
    per_issue = max(1, math.ceil(pages / (JOURNALS * ISSUES_PER_JOURNAL)))
    name = f"{pages}-{body_chars}" + ("" if template == "classic" else f"-{template}")
    site = work / f"site-{name}"
    if not (site / "manifest.json").is_file():
        shutil.rmtree(site, ignore_errors=True)
        build_site(site, seed=1, journals=JOURNALS, issues_per_journal=ISSUES_PER_JOURNAL,
                   articles_per_issue=per_issue, body_chars=body_chars, template=template)
    rows = [json.loads(line) for line in (site / "expected.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = sorted(rows, key=lambda r: r["url_path"])[:pages]
    archive = work / f"archive-{name}"
    if not archive.is_dir():
        tmp = work / f".archive-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        start = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
        with WarcArchiveWriter(tmp, "bench") as writer:
            for i, row in enumerate(rows):
                body = (site / "www" / row["url_path"].lstrip("/")).read_bytes()
                writer.write(RawPage(url=BASE_URL + row["url_path"], status=200, headers={"Content-Type": "text/html"},
                                     body=body, fetched_at=start + dt.timedelta(milliseconds=37 * i)))
        tmp.rename(archive)
    return archive / "raw", [r["body"] for r in rows]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def pure_jieba(cache_dir: Path) -> jieba.Tokenizer:
    """jieba 0.42.1 as shipped: loaded by its own ``initialize``, plus the bundled user dictionary."""
    tokenizer = jieba.Tokenizer()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.tmp_dir = str(cache_dir)  # its own cache file goes beside our snapshots
    tokenizer.initialize()
    tokenizer.load_userdict(str(bundled_userdict_path()))
    return tokenizer


def time_jieba(tokenizer: jieba.Tokenizer, bodies: list[str]) -> tuple[float, float, list[list[str]]]:
    """(wall seconds, CPU seconds, tokens) of pure jieba over ``bodies`` in this process: the floor."""
    started, cpu = time.perf_counter(), time.process_time()
    reference = [[t for t in tokenizer.cut(body, HMM=True) if not t.isspace()] for body in bodies]
    return time.perf_counter() - started, time.process_time() - cpu, reference


def compare_engines(bodies: list[str], cache_dir: Path, reference: list[list[str]], jieba_wall: float) -> dict[str, Any]:
    """The fast engine over the same bodies in this process, against pure jieba's tokens and time:
    speed, token equality, the fast segmenter's load cost."""
    rss, started = _rss_mb(), time.perf_counter()
    fast = get_segmenter(SegmentConfig(cache_dir=cache_dir, engine="fast"))  # snapshot, user dictionaries, Rust engine
    load_seconds, load_rss = time.perf_counter() - started, _rss_mb() - rss
    started = time.perf_counter()
    tokens = [fast.tokens(body) for body in bodies]
    fast_wall = time.perf_counter() - started
    identical = sum(ours == theirs for ours, theirs in zip(tokens, reference, strict=True))
    return {
        "bodies": len(bodies),
        "jieba_bodies_per_second": round(len(bodies) / jieba_wall, 1),
        "fast_bodies_per_second": round(len(bodies) / fast_wall, 1),
        "speedup": round(jieba_wall / fast_wall, 2),
        "identical_bodies": identical,
        "tokens": sum(map(len, reference)),
        "fast_load_seconds": round(load_seconds, 3),
        "fast_load_rss_mb": round(load_rss, 1),
    }


def _tree_rss_mb(root_pid: int) -> float:
    """Sum of VmRSS over ``root_pid`` and its descendants (Linux /proc).

    The tree is walked through ``/proc/PID/task/TID/children``: a handful of reads per sample.
    Scanning all of /proc (:func:`tests.bench_crawlmem.sample_rss_mb`, the fallback) cost the
    bench about half a CPU second per rebuild, 5% of a core taken from the command it times."""
    total, todo = 0, [root_pid]
    try:
        while todo:
            pid = todo.pop()
            with open(f"/proc/{pid}/stat") as fh:
                total += int(fh.read().rsplit(")", 1)[1].split()[21])
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    todo.extend(int(child) for child in fh.read().split())
    except OSError:  # no children files (a kernel option), or a process ended meanwhile
        return sample_rss_mb(root_pid)[1]
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_rebuild(source: Path, out: Path, workers: int, cache_dir: Path, *extra: str) -> dict[str, Any]:
    """``scrapy rebuild SOURCE -s DATASET_DIR=OUT``, as a user runs it, its process tree's RSS sampled meanwhile."""
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable, "-m", "scrapy.cmdline", "rebuild", str(source), "--workers", str(workers), "--no-progress",
        "-s", f"DATASET_DIR={out}", "-s", f"JIEBA_CACHE_DIR={cache_dir}", "-s", "RUN_ID=bench", "-s", "LOG_LEVEL=WARNING",
        *extra,
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL)
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], _tree_rss_mb(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    process.wait()
    stop.set()
    sampler.join()
    if process.returncode:
        raise RuntimeError(f"rebuild failed with exit code {process.returncode}")
    summary = json.loads((out / "runs" / "bench.json").read_text(encoding="utf-8"))
    summary["process_seconds"] = round(time.perf_counter() - started, 3)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the whole tree's CPU, start-up and exit included
    summary["process_cpu_seconds"] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3)
    summary["peak_rss_mb_by_process"]["sampled_tree_sum"] = round(peak[0], 1)
    return summary


def measure_rebuild(pages: int = 3000, body_chars: int = 3000, workers: int | None = None,
                    work_dir: Path | None = None, repeat: int = 1, template: str = "classic") -> dict[str, Any]:
    """Build (or reuse) an archive, then ``repeat`` rounds of a rebuild of it followed by jieba alone
    over the same bodies (so that each ratio compares the two under the same conditions; on a
    shared machine the speed drifts); returns the numbers of the median round, and every ratio."""
    cores = usable_cpus()
    workers = cores if workers is None else workers
    load = os.getloadavg()[0]
    work = work_dir or Path(tempfile.gettempdir()) / "qikan-bench"
    work.mkdir(parents=True, exist_ok=True)
    cache_dir = work / "jieba-cache"
    source, bodies = build_archive(work, pages, body_chars, template)
    tokenizer = pure_jieba(cache_dir)
    rounds = []
    for _ in range(max(repeat, 1)):
        summary = run_rebuild(source, work / f"out-{pages}-{template}", workers, cache_dir)
        floor, floor_cpu, reference = time_jieba(tokenizer, bodies)
        rounds.append((summary["duration_seconds"] / (floor / cores), summary, floor, floor_cpu))
    ratio, summary, floor, floor_cpu = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
    ceiling = run_rebuild(source, work / f"out-{pages}-{template}-ceiling", workers, cache_dir, "-s", "SEGMENT_ENABLED=False")
    engines = compare_engines(bodies, cache_dir, reference, floor)
    seconds = summary["duration_seconds"]
    cpu = summary["cpu_seconds"]["main"] + sum(summary["cpu_seconds"]["helpers"])
    return {
        "pages": summary["pages_processed"],
        "template": template,
        "articles": summary["articles_written"],
        "mean_body_chars": round(sum(map(len, bodies)) / len(bodies)),
        "cores": cores,
        "workers": workers,
        "rounds": len(rounds),
        "ratios": [round(r[0], 3) for r in rounds],
        "ratios_whole_process": [round(r[1]["process_seconds"] / (r[2] / cores), 3) for r in rounds],
        "rebuild_seconds": seconds,
        "process_seconds": summary["process_seconds"],
        "pages_per_second": summary["pages_per_second"],
        "jieba_seconds_one_core": round(floor, 3),
        "floor_seconds": round(floor / cores, 3),
        "ratio": round(ratio, 3),
        "floor_pages_per_second": round(summary["pages_processed"] / (floor / cores), 1),
        "ceiling_seconds": ceiling["duration_seconds"],
        "ceiling_pages_per_second": ceiling["pages_per_second"],
        "share_of_ceiling": round(summary["pages_per_second"] / ceiling["pages_per_second"], 3),
        "ratio_whole_process": round(summary["process_seconds"] / (floor / cores), 3),
        "jieba_cpu_seconds": round(floor_cpu, 3),
        "rebuild_cpu_seconds": round(cpu, 3),
        "process_cpu_seconds": summary["process_cpu_seconds"],
        "cpu_ratio": round(cpu / floor_cpu, 3),
        "load_before": load,
        "peak_rss_mb": max(r[1]["peak_rss_mb"] for r in rounds),
        "peak_rss_mb_by_process": summary["peak_rss_mb_by_process"],
        "engines": engines,
        "load_after": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m tests.bench_rebuild", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[3000])
    parser.add_argument("--body-chars", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (sites and archives are reused)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of rebuild then jieba; the median round is printed")
    parser.add_argument("--template", choices=sorted(TEMPLATES), default="classic",
                        help="the generated site's markup (tests.sitegen): extraction's cost depends on the page around the body")
    args = parser.parse_args(argv)
    for pages in args.pages:
        result = measure_rebuild(pages, args.body_chars, args.workers, args.dir, args.repeat, args.template)
        rss = result["peak_rss_mb_by_process"]
        print(
            f"rebuild {result['pages']} {result['template']} pages ({result['mean_body_chars']} chars): {result['rebuild_seconds']:.1f} s, "
            f"{result['pages_per_second']:.1f} pages/s with {result['workers']} workers; jieba alone "
            f"{result['jieba_seconds_one_core']:.1f} s on one core -> floor {result['floor_seconds']:.1f} s on "
            f"{result['cores']}; ratio {result['ratio']:.2f} (whole command {result['ratio_whole_process']:.2f}; median of "
            f"{result['rounds']} rounds: {'/'.join(f'{r:.2f}' for r in result['ratios'])}, whole "
            f"{'/'.join(f'{r:.2f}' for r in result['ratios_whole_process'])}); "
            f"peak RSS main {rss['main']:.0f} MB + helpers {'+'.join(f'{w:.0f}' for w in rss['helpers'])} MB = "
            f"{result['peak_rss_mb']:.0f} MB (process tree sampled {rss['sampled_tree_sum']:.0f} MB); CPU {result['rebuild_cpu_seconds']:.1f} s "
            f"(whole command {result['process_cpu_seconds']:.1f} s, {result['process_seconds']:.1f} s wall) "
            f"vs jieba {result['jieba_cpu_seconds']:.1f} s (cpu ratio {result['cpu_ratio']:.2f}); load before {result['load_before']:.2f}"
        )
        print(
            f"pages/s: {result['pages_per_second']:.0f} against the pure-jieba floor's {result['floor_pages_per_second']:.0f} "
            f"(x{result['floor_seconds'] / result['rebuild_seconds']:.1f}) and the no-segmentation ceiling's "
            f"{result['ceiling_pages_per_second']:.0f} (SEGMENT_ENABLED=False, {result['ceiling_seconds']:.1f} s; "
            f"{result['share_of_ceiling']:.0%} of it)"
        )
        e = result["engines"]
        print(
            f"engines over the same {e['bodies']} bodies: jieba {e['jieba_bodies_per_second']:.0f} bodies/s, fast "
            f"{e['fast_bodies_per_second']:.0f} bodies/s (x{e['speedup']:.1f}); {e['identical_bodies']} of {e['bodies']} "
            f"bodies identical ({e['tokens']} tokens); fast segmenter loaded in {e['fast_load_seconds']:.2f} s, "
            f"+{e['fast_load_rss_mb']:.0f} MB RSS; load after {result['load_after']:.2f}"
        )
        print(json.dumps(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
