"""Crawl memory benchmark: RSS of the crawl process and of its whole process tree, sampled from /proc.

Serves a generated site (``tests.sitegen``) on 127.0.0.1 and runs the real ``scrapy crawl``
with default settings plus :data:`tests.crawlcmd.NO_DELAY`; every 0.2 s it reads the RSS of
the crawl process and the sum over its process tree (page workers, resource tracker).
Reported: both peaks, and the crawl process's RSS at a quarter, half, three quarters and the end
of the crawl, so that growth with crawl length shows (issue 15: < 300 MB, flat).

``--probe FILE`` adds :class:`MemoryProbe` to the crawl (test code, loaded with
``-s EXTENSIONS=...``): every few seconds it writes the sizes of Scrapy's structures and, with
``--tracemalloc``, the top allocation sites to ``FILE``: what holds the memory.

Usage: ``python -m tests.bench_crawlmem [--articles 3000] [--body-chars 3000] [--probe FILE] [--tracemalloc]``
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa

from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.siteserver import SiteServer

SAMPLE_SECONDS = 0.2
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _process_table() -> tuple[dict[int, list[int]], dict[int, int]]:
    """(children by parent pid, RSS pages by pid) of every process, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21])
    return children, rss


def sample_rss_mb(root_pid: int) -> tuple[float, float]:
    """(RSS of ``root_pid``, RSS summed over it and its descendants), in MB."""
    children, rss = _process_table()
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return rss.get(root_pid, 0) * PAGE_SIZE / 2**20, total * PAGE_SIZE / 2**20


def ensure_site(work: Path, articles: int, body_chars: int) -> Path:
    """The generated site of ``articles`` articles (10 journals x 10 issues), built once per size."""
    from tests.sitegen import build_site

    site = work / f"site-mem-{articles}-{body_chars}"
    if not (site / "manifest.json").is_file():
        shutil.rmtree(site, ignore_errors=True)
        build_site(site, seed=1, journals=10, issues_per_journal=10,
                   articles_per_issue=max(1, math.ceil(articles / 100)), body_chars=body_chars)
    return site / "www"


def measure_crawl_memory(www: Path, out: Path, extra: tuple[str, ...] = (), probe: Path | None = None,
                         trace: bool = False) -> dict[str, Any]:
    """One ``scrapy crawl`` of the site at ``www`` into ``out``; RSS peaks and the crawl process's curve."""
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ)
    args = list(extra)
    if probe is not None:
        from crawler import settings as project_settings  # the project's extensions, plus the probe

        extensions = {**project_settings.EXTENSIONS, "tests.bench_crawlmem.MemoryProbe": 900}
        args += ["-s", "EXTENSIONS=" + json.dumps(extensions)]
        env["QIKAN_MEMPROBE"] = str(probe)
        env["QIKAN_MEMPROBE_TRACE"] = "1" if trace else ""
    samples: list[tuple[float, float, float]] = []
    with SiteServer(www) as server:
        command = crawl_command(server.base_url, out, *NO_DELAY, "-s", "LOG_LEVEL=WARNING", *args)
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, env=env)
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(SAMPLE_SECONDS):
                own, tree = sample_rss_mb(process.pid)
                if own:
                    samples.append((time.monotonic() - started, own, tree))

        sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        sampler.start()
        process.wait()
        stop.set()
        sampler.join()
    if process.returncode:
        raise RuntimeError(f"crawl of {www} failed with exit code {process.returncode}")
    (summary_file,) = (out / "runs").glob("*.json")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    curve = [max((s[1] for s in samples if s[0] <= samples[-1][0] * q), default=0.0) for q in (0.25, 0.5, 0.75, 1.0)]
    return {
        "pages": summary["pages_fetched"],
        "articles": summary["articles_written"],
        "seconds": summary["duration_seconds"],
        "pages_per_s": summary["pages_per_second"],
        "crawl_peak_mb": round(max(s[1] for s in samples), 1),
        "tree_peak_mb": round(max(s[2] for s in samples), 1),
        "crawl_curve_mb": [round(c, 1) for c in curve],
        "samples": len(samples),
    }


def print_memory(result: dict[str, Any], label: str = "") -> None:
    curve = " -> ".join(f"{c:.0f}" for c in result["crawl_curve_mb"])
    print(f"crawl {label}{result['pages']} pages ({result['articles']} articles) in {result['seconds']:.1f} s, "
          f"{result['pages_per_s']:.1f} pages/s: crawl process peak {result['crawl_peak_mb']:.0f} MB "
          f"(by quarter {curve}), process tree peak {result['tree_peak_mb']:.0f} MB")


# -- inside the crawl process ----------------------------------------------------------


def _status_mb() -> dict[str, float]:
    """This process's anonymous and file-backed resident memory (MB), and its thread count."""
    found: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("RssAnon", "RssFile"):
                found[name] = round(int(value.split()[0]) / 1024, 1)
            elif name == "Threads":
                found[name] = int(value)
    return found


def _anon_mappings_mb() -> dict[str, float]:
    """Resident anonymous memory by kind of mapping: the brk heap, and other anonymous mappings by size
    (glibc thread arenas are 64 MB reservations, pymalloc arenas 1 MB, big buffers their own size)."""
    kinds: dict[str, float] = {}
    name, size = "", 0
    with open("/proc/self/smaps", encoding="ascii", errors="replace") as smaps:
        for line in smaps:
            head = line.split()
            if not line[0].isupper() or "-" in head[0] and len(head) >= 5:
                start, _, end = head[0].partition("-")
                size = (int(end, 16) - int(start, 16)) >> 20
                name = head[5] if len(head) > 5 else ""
            elif head[0] == "Anonymous:" and int(head[1]):
                kind = name or ("anon>=60MB" if size >= 60 else "anon 2-59MB" if size >= 2 else "anon<2MB")
                if kind.startswith("/"):
                    kind = "file-backed"
                kinds[kind] = kinds.get(kind, 0.0) + int(head[1]) / 1024
    return {k: round(v, 1) for k, v in sorted(kinds.items())}


class MemoryProbe:
    """Scrapy extension (test code): what the crawl process holds, written to ``$QIKAN_MEMPROBE``."""

    INTERVAL = 5.0

    def __init__(self, crawler: Any, path: str, trace: bool) -> None:
        self.crawler = crawler
        self.stream: TextIO = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed at spider_closed
        self.trace = trace
        self.started = time.monotonic()
        self.task: Any = None
        if trace:
            tracemalloc.start(8)

    @classmethod
    def from_crawler(cls, crawler: Any) -> MemoryProbe:
        from scrapy import signals
        from scrapy.exceptions import NotConfigured

        path = os.environ.get("QIKAN_MEMPROBE")
        if not path:
            raise NotConfigured("QIKAN_MEMPROBE is not set")
        probe = cls(crawler, path, bool(os.environ.get("QIKAN_MEMPROBE_TRACE")))
        crawler.signals.connect(probe.opened, signal=signals.spider_opened)
        crawler.signals.connect(probe.closed, signal=signals.spider_closed)
        return probe

    def opened(self, spider: Any) -> None:
        from twisted.internet import task

        self.task = task.LoopingCall(self.report, spider)
        self.task.start(self.INTERVAL, now=True)

    def closed(self, spider: Any) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        self.report(spider)
        self.stream.close()

    def report(self, spider: Any) -> None:
        engine = self.crawler.engine
        sizes: dict[str, Any] = {"t": round(time.monotonic() - self.started, 1),
                                 "pages": self.crawler.stats.get_value("response_received_count", 0),
                                 "rss_mb": round(sample_rss_mb(os.getpid())[0], 1),
                                 **_status_mb(), "anon": _anon_mappings_mb(),
                                 "arrow_mb": round(pa.total_allocated_bytes() / 2**20, 1),
                                 "arrow_pool": pa.default_memory_pool().backend_name}
        try:
            slot = engine._slot
            scheduler = slot.scheduler if slot is not None else None
            sizes["scheduler"] = len(scheduler) if scheduler is not None else None
            dupefilter = getattr(scheduler, "df", None)
            sizes["dupefilter"] = len(getattr(dupefilter, "_fingerprints", ()))  # the set itself (a private name)
            sizes["engine_inprogress"] = len(slot.inprogress) if slot is not None else None
            sizes["downloader_active"] = len(engine.downloader.active)
            scraper = engine.scraper.slot
            sizes["scraper_active"] = len(scraper.active) if scraper else None
            sizes["scraper_active_mb"] = round(scraper.active_size / 2**20, 1) if scraper else None
            sizes["scraper_queue"] = len(scraper.queue) if scraper else None
            sizes["itemproc"] = scraper.itemproc_size if scraper else None
        except AttributeError as exc:
            sizes["introspection_error"] = repr(exc)
        learner = getattr(spider, "discovery", None)
        if learner is not None:
            sizes["learner_seen_urls"] = len(learner.seen_urls)
            sizes["learner_article_ids"] = len(learner.article_ids)
        counts = {"Response": 0, "Request": 0, "RawPage": 0, "Selector": 0, "Deferred": 0, "Future": 0}
        for obj in gc.get_objects():
            name = type(obj).__name__
            for key in counts:
                if name.endswith(key):
                    counts[key] += 1
        sizes["objects"] = counts
        self.stream.write(json.dumps(sizes) + "\n")
        if self.trace:
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)])
            total = sum(stat.size for stat in snapshot.statistics("filename"))
            self.stream.write(f"  tracemalloc total {total / 2**20:.1f} MB; top by line:\n")
            for stat in snapshot.statistics("lineno")[:15]:
                frame = stat.traceback[0]
                self.stream.write(f"    {stat.size / 2**20:7.1f} MB {stat.count:8d} {frame.filename}:{frame.lineno}\n")
            self.stream.write("  top by traceback:\n")
            for stat in snapshot.statistics("traceback")[:4]:
                self.stream.write(f"    {stat.size / 2**20:7.1f} MB {stat.count:8d}\n")
                for line in stat.traceback.format()[-12:]:
                    self.stream.write(f"       {line}\n")
        self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench_crawlmem", description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, nargs="+", default=[3000])
    parser.add_argument("--body-chars", type=int, default=3000)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (sites are reused)")
    parser.add_argument("--probe", type=Path, default=None, help="write what the crawl process holds here")
    parser.add_argument("--tracemalloc", action="store_true", help="with --probe: top allocation sites too")
    parser.add_argument("-s", dest="settings", action="append", default=[], help="extra crawl setting NAME=VALUE")
    args = parser.parse_args(argv)
    work = args.dir or Path(tempfile.gettempdir()) / "qikan-bench"
    work.mkdir(parents=True, exist_ok=True)
    extra = tuple(x for setting in args.settings for x in ("-s", setting))
    for articles in args.articles:
        www = ensure_site(work, articles, args.body_chars)
        result = measure_crawl_memory(www, work / "out-crawlmem", extra, args.probe, args.tracemalloc)
        print_memory(result)
        print(json.dumps(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
