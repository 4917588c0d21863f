"""Offline rebuild: the dataset again, from the raw archive, without touching the site.

Cleaning rules improve; the pages already fetched are in ``DIR/raw`` (WARC).
:func:`rebuild` sends every archived page through
:func:`pipelines.process.process_page`, the crawl's own code path, so the output
is the dataset the crawl would write today: the same rows, ``fetched_at`` from
the archive.

Why it looks the way it does:

* The main process only reads the archive and routes pages; N worker processes
  do the CPU work (parse, clean, jieba) and each writes its own files (worker
  ids ``w1``..``wN``): no shared writer, no lock, no row crosses processes twice.
* All copies of an article (``/paper/x.html``, ``?from=related``,
  ``/m/paper/x.html``) go to the worker chosen by the article id in their URL,
  so the crawl's duplicate rule (the first copy wins; later ones are counted,
  not written) is a plain per-worker set, applied in archive order and per
  archived crawl run: an archive of several runs gives the rows those runs
  wrote, and ``scrapy compact`` then keeps the newest. The rare page whose
  canonical link names another id is handed to that id's worker.
* Bounded queues of small batches: the reader is never more than a few batches
  ahead of the workers, so memory does not grow with the archive.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import multiprocessing
import os
import queue
import sys
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa

from pipelines.archive import ArchiveReader
from pipelines.dataset import DatasetWriter, check_safe_name, write_atomic
from pipelines.process import process_page
from pipelines.rawpage import RawPage
from pipelines.records import (
    ARTICLE_SCHEMA,
    CLEANING_RULES_VERSION,
    REJECT_SCHEMA,
    SCHEMA_VERSION,
    ArticleRecord,
    RejectRecord,
    to_row,
)
from pipelines.segment import SegmentConfig
from pipelines.urls import article_id
from pipelines.workers import main_module_not_inherited, make_analyser

BATCH_PAGES = 8
"""Pages per message to a worker: enough to make queue overhead negligible, few enough to keep order tight."""
QUEUE_BATCHES = 8
"""Batches waiting per worker: ~64 pages (a few MB), enough to ride out uneven routing."""
POLL_SECONDS = 0.2
GC_EVERY = 64
"""Items between two collections of the young generations in a worker (a full one every 32 of them)."""
BUFFER_BYTES = 64 * 1024 * 1024
"""Default Arrow buffer budget of all writers together (``DATASET_MAX_BUFFER_MB``)."""


class RebuildError(RuntimeError):
    """A worker failed; the rows it had not committed are not in the output."""


# -- routing -------------------------------------------------------------------


def route_key(url: str) -> str:
    """The article id in the URL (shared by all its URLs), else the URL itself."""
    return article_id(url) or url


def owner(key: str, workers: int) -> int:
    """The worker (0-based) that handles ``key``: stable across processes and runs, unlike ``hash()``."""
    return zlib.crc32(key.encode("utf-8")) % workers


# -- one worker's share --------------------------------------------------------


class PageSink:
    """Processes pages, drops repeated articles and writes rows: what one worker does."""

    def __init__(
        self,
        index: int,
        workers: int,
        out_dir: str,
        run_id: str,
        segment_config: SegmentConfig | None,
        writer_options: Mapping[str, Any],
    ) -> None:
        self.index = index
        self.workers = workers
        self.analyser = make_analyser(segment_config)
        options = dict(writer_options, run_id=run_id, worker_id=f"w{index + 1}")
        self.articles = DatasetWriter(f"{out_dir}/articles", ARTICLE_SCHEMA, partition_by="year", **options)
        self.rejects = DatasetWriter(f"{out_dir}/rejects", REJECT_SCHEMA, **options)
        self.seen: set[tuple[str, str]] = set()
        self.counts: Counter[str] = Counter()

    def handle(self, run: str, item: RawPage | ArticleRecord) -> ArticleRecord | None:
        """Process a raw page that ``run`` archived (or take a forwarded article); returns an article another worker owns."""
        if isinstance(item, RawPage):
            self.counts["pages_processed"] += 1
            outcome = process_page(item, self.analyser)
            if isinstance(outcome, ArticleRecord) and owner(outcome.article_id, self.workers) != self.index:
                return outcome
        else:
            outcome = item
        self._write(run, outcome)
        return None

    def _write(self, run: str, outcome: ArticleRecord | RejectRecord) -> None:
        if isinstance(outcome, ArticleRecord):
            # Each crawl kept the first copy of an article it fetched; an archive of several
            # crawls gives one row per crawl, as they wrote them (`scrapy compact` keeps the newest).
            key = (run, outcome.article_id)
            if key in self.seen:
                self.counts["duplicate_articles"] += 1
                return
            self.seen.add(key)
            row = to_row(outcome)
            # The writer keeps up to PENDING_ROWS rows per partition as Python objects; most tokens
            # repeat (的, 党员, ...), and one shared string per distinct token makes such a row
            # about 20 KB instead of 140 KB, for 0.16 ms a page.
            row["tokens"] = list(map(sys.intern, row["tokens"]))
            self.articles.write(row)
            self.counts["articles_written"] += 1
        else:
            self.rejects.write(to_row(outcome))
            self.counts["rejects_written"] += 1
            self.counts[f"rejects/{outcome.reason}"] += 1

    def commit(self) -> dict[str, Any]:
        files = self.articles.commit() + self.rejects.commit()
        return {
            "counts": dict(self.counts),
            "files": len(self.articles.files_written) + len(self.rejects.files_written),
            "committed_now": len(files),
            "max_rss_kb": peak_rss_kb(),
            "cpu_seconds": _cpu_seconds(),
        }

    def abort(self) -> None:
        self.articles.abort()
        self.rejects.abort()


def _worker_main(index: int, workers: int, inbox: Any, outbox: Any, out_dir: str, run_id: str,
                 segment_config: SegmentConfig | None, writer_options: Mapping[str, Any]) -> None:
    """Worker process: batches in, progress (and the odd foreign article) out, its own files on disk."""
    sink = None
    try:
        # Arrow's default allocator (mimalloc) keeps what the row groups freed: 40 MB more per
        # worker at the end of a rebuild than the system allocator, measured, for no gain in speed.
        pa.set_memory_pool(pa.system_memory_pool())
        sink = PageSink(index, workers, out_dir, run_id, segment_config, writer_options)
        # jieba's dictionaries are millions of objects that live as long as the process: keep them
        # out of every later collection, and collect the pages' short-lived objects on a schedule
        # rather than every few hundred allocations (together about a tenth of the time per page).
        gc.freeze()
        gc.disable()
        handled = 0
        while True:
            batch = inbox.get()
            if batch is None:
                break
            pages = 0
            for run, item in batch:
                pages += isinstance(item, RawPage)
                foreign = sink.handle(run, item)
                if foreign is not None:
                    outbox.put(("forward", index, (run, foreign)))
            outbox.put(("progress", index, len(batch), pages))
            handled += len(batch)
            if handled % GC_EVERY < len(batch):
                gc.collect(1 if handled % (GC_EVERY * 32) >= len(batch) else 2)
        outbox.put(("done", index, sink.commit()))
    except BaseException:  # noqa: BLE001 - report anything, including KeyboardInterrupt, then stop
        if sink is not None:
            sink.abort()
        outbox.put(("error", index, traceback.format_exc()))


# -- the pool --------------------------------------------------------------------


def _context() -> multiprocessing.context.BaseContext:
    """A forkserver, or spawn where there is none: workers start clean, not as copies of this process.

    Nothing is preloaded in the server: the workers import in parallel what it would
    import alone, and the server itself stays small (it lives as long as the rebuild).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


class _Pool:
    """N worker processes with bounded inboxes and one shared outbox."""

    def __init__(self, workers: int, args: tuple, progress: Progress) -> None:
        context = _context()
        self.workers = workers
        self.progress = progress
        self.inboxes = [context.Queue(maxsize=QUEUE_BATCHES) for _ in range(workers)]
        self.outbox = context.Queue()
        self.processes = [
            context.Process(
                target=_worker_main,
                args=(i, workers, self.inboxes[i], self.outbox, *args),
                name=f"rebuild-w{i + 1}",
                daemon=True,
            )
            for i in range(workers)
        ]
        self.sent = [0] * workers
        self.done = [0] * workers
        self.pages_done = 0
        self.forwards: list[tuple[str, ArticleRecord]] = []
        self.results: dict[int, dict[str, Any]] = {}
        with main_module_not_inherited():
            for process in self.processes:
                process.start()

    def send(self, worker: int, batch: list) -> None:
        while True:
            try:
                self.inboxes[worker].put(batch, timeout=POLL_SECONDS)
                break
            except queue.Full:
                self.poll(timeout=0)
                self.check_alive()
        self.sent[worker] += len(batch)
        self.poll(timeout=0)

    def poll(self, timeout: float) -> None:
        """Handle the messages that have arrived (waiting up to ``timeout`` for the first)."""
        block = timeout > 0
        while True:
            try:
                message = self.outbox.get(timeout=timeout) if block else self.outbox.get_nowait()
            except queue.Empty:
                return
            block = False
            kind, worker, *rest = message
            if kind == "progress":
                self.done[worker] += rest[0]
                self.pages_done += rest[1]
                self.progress.update(self.pages_done)
            elif kind == "forward":
                self.forwards.append(rest[0])
            elif kind == "done":
                self.results[worker] = rest[0]
            elif kind == "error":
                raise RebuildError(f"worker w{worker + 1} failed:\n{rest[0]}")

    def check_alive(self) -> None:
        for i, process in enumerate(self.processes):
            if process.exitcode is not None and i not in self.results and process.exitcode != 0:
                self.poll(timeout=0)  # an error message may be waiting
                raise RebuildError(f"worker w{i + 1} died (exit code {process.exitcode})")

    def drain(self) -> None:
        """Wait until every batch sent (and every forwarded article) is processed."""
        while self.forwards or any(d < s for d, s in zip(self.done, self.sent)):
            while self.forwards:
                run, record = self.forwards.pop(0)
                self.send(owner(record.article_id, self.workers), [(run, record)])
            self.poll(timeout=POLL_SECONDS)
            self.check_alive()

    def finish(self) -> dict[int, dict[str, Any]]:
        self.drain()
        for inbox in self.inboxes:
            inbox.put(None)
        while len(self.results) < self.workers:
            self.poll(timeout=POLL_SECONDS)
            self.check_alive()
        for process in self.processes:
            process.join()
        return self.results

    def close(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(timeout=5)
        for q in (*self.inboxes, self.outbox):
            q.cancel_join_thread()
            q.close()


# -- progress --------------------------------------------------------------------


class Progress:
    """One line on stderr: pages, pages/s, share of the archive read, ETA. Silent when disabled."""

    def __init__(self, reader: ArchiveReader, enabled: bool, stream: TextIO | None = None) -> None:
        self.reader = reader
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = self.enabled and self.stream.isatty()
        self.started = time.monotonic()
        self.last = 0.0
        self.interval = 0.25 if self.tty else 10.0

    def update(self, pages: int, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last < self.interval:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        line = f"rebuild: {pages} pages, {pages / elapsed:.1f} pages/s"
        total = self.reader.bytes_total
        if total and not final:
            share = min(self.reader.bytes_done / total, 1.0)
            line += f", {share:.0%} of the archive read"
            if share > 0.01:
                line += f", ETA {_clock(elapsed * (1 - share) / share)}"
        elif final:
            line += f", done in {_clock(elapsed)}"
        if self.tty:
            self.stream.write("\r" + line.ljust(78) + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# -- the driver ------------------------------------------------------------------


def rebuild(
    sources: Iterable[str | Path],
    out_dir: str | Path,
    *,
    workers: int,
    segment_config: SegmentConfig | None,
    run_id: str,
    progress: bool = False,
    writer_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Turn archived pages into ``out_dir/articles`` and ``out_dir/rejects``; returns the run summary.

    ``workers=0`` processes in this process (one writer, ``w1``); otherwise N
    worker processes. The summary is also written to ``out_dir/runs/<run_id>.json``.
    Raises FileNotFoundError for a missing source, RebuildError when a worker fails.
    """
    check_safe_name(run_id, "run id")
    sources = [str(s) for s in sources]
    reader = ArchiveReader(sources)
    out = str(out_dir).rstrip("/")
    options = dict(writer_options or {})
    # The writers' Arrow buffer budget is for the whole rebuild, shared by the workers.
    options["max_buffer_bytes"] = max(options.get("max_buffer_bytes", BUFFER_BYTES) // max(workers, 1), 1 << 20)
    started_at = dt.datetime.now(dt.timezone.utc)
    started = time.monotonic()
    bar = Progress(reader, progress)
    if workers <= 0:
        results = _rebuild_here(reader, out, run_id, segment_config, options, bar)
    else:
        results = _rebuild_in_pool(reader, out, run_id, segment_config, options, bar, workers)
    seconds = time.monotonic() - started
    counts: Counter[str] = Counter()
    for result in results.values():
        counts.update(result["counts"])
    bar.update(counts["pages_processed"], final=True)
    summary = {
        "run_id": run_id,
        "kind": "rebuild",
        "sources": sources,
        "archive_entries": len(reader.entries),
        "archive_runs": sorted(reader.run_ids),
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_seconds": round(seconds, 3),
        "workers": workers,
        "pages_processed": counts["pages_processed"],
        "pages_per_second": round(counts["pages_processed"] / seconds, 2) if seconds > 0 else None,
        "articles_written": counts["articles_written"],
        "duplicate_articles": counts["duplicate_articles"],
        "rejects_written": counts["rejects_written"],
        "rejects": {k.split("/", 1)[1]: v for k, v in sorted(counts.items()) if k.startswith("rejects/")},
        "truncated_archive_files": reader.truncated_files,
        "dataset_dir": out,
        "files_written": sum(r["files"] for r in results.values()),
        "schema_version": SCHEMA_VERSION,
        "cleaning_rules_version": CLEANING_RULES_VERSION,
        **_rss_summary(results, in_process=workers <= 0),
        "cpu_seconds": {
            "main": _cpu_seconds(),
            "workers": [] if workers <= 0 else [results[i]["cpu_seconds"] for i in sorted(results)],
        },
    }
    write_atomic(out, f"runs/{run_id}.json", json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8"))
    return summary


def _rebuild_here(reader: ArchiveReader, out: str, run_id: str, config: SegmentConfig | None,
                  options: dict[str, Any], bar: Progress) -> dict[int, dict[str, Any]]:
    sink = PageSink(0, 1, out, run_id, config, options)
    try:
        for raw in reader:
            sink.handle(reader.run_id, raw)
            bar.update(sink.counts["pages_processed"])
    except BaseException:
        sink.abort()
        raise
    return {0: sink.commit()}


def _rebuild_in_pool(reader: ArchiveReader, out: str, run_id: str, config: SegmentConfig | None,
                     options: dict[str, Any], bar: Progress, workers: int) -> dict[int, dict[str, Any]]:
    pool = _Pool(workers, (out, run_id, config, options), bar)
    try:
        pending: list[list[tuple[str, RawPage]]] = [[] for _ in range(workers)]
        for raw in reader:
            worker = owner(route_key(raw.url), workers)
            pending[worker].append((reader.run_id, raw))
            if len(pending[worker]) >= BATCH_PAGES:
                pool.send(worker, pending[worker])
                pending[worker] = []
        for worker, batch in enumerate(pending):
            if batch:
                pool.send(worker, batch)
        return pool.finish()
    finally:
        pool.close()


def peak_rss_kb() -> int:
    """This process's peak resident memory in KiB.

    Linux's VmHWM belongs to the address space, which ``exec`` replaces;
    ``ru_maxrss`` survives ``exec``, so a process started by a big parent would
    report the parent's size instead of its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu_seconds() -> float:
    times = os.times()
    return round(times.user + times.system, 3)


def _rss_summary(results: Mapping[int, Mapping[str, Any]], in_process: bool) -> dict[str, Any]:
    """Peak resident memory in MiB: the sum, and this process and each worker (their own peaks).

    The sum over-counts pages the processes share, so it is an upper bound of
    what the rebuild held at any one moment.
    """
    main = peak_rss_kb() / 1024
    workers = [] if in_process else [round(results[i]["max_rss_kb"] / 1024, 1) for i in sorted(results)]
    return {
        "peak_rss_mb": round(main + sum(workers), 1),
        "peak_rss_mb_by_process": {"main": round(main, 1), "workers": workers},
    }
