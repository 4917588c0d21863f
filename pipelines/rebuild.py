"""Offline rebuild: the dataset again, from the raw archive, without touching the site.

Cleaning rules improve; the pages already fetched are in ``DIR/raw`` (WARC).
:func:`rebuild` sends every archived page through
:func:`pipelines.process.process_page`, the crawl's own code path, so the output
is the dataset the crawl would write today: the same rows, ``fetched_at`` from
the archive.

Why it looks the way it does:

* N workers do the CPU work (parse, clean, jieba) and each writes its own files
  (worker ids ``w1``..``wN``): no shared writer, no lock, no row crosses
  processes twice. Worker 1 is this process, which also reads the archive and
  routes pages; workers 2..N are helper processes.
* All copies of an article (``/paper/x.html``, ``?from=related``,
  ``/m/paper/x.html``) go to one worker, chosen when the article id in their
  URL is first seen (the least busy one) and then fixed, so the crawl's
  duplicate rule (the first copy wins; later ones are counted, not written) is
  a plain per-worker set, applied in archive order and per archived crawl run:
  an archive of several runs gives the rows those runs wrote, and ``scrapy
  compact`` then keeps the newest. The rare page whose canonical link names
  another id is routed again, to that id's worker.
* Bounded queues of small batches: the reader is never more than a few batches
  ahead of the workers, so memory does not grow with the archive's pages (only
  by one id per article, in the routing table and the sets of articles seen).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa

from pipelines import layout
from pipelines.archive import ArchiveReader
from pipelines.dataset import DatasetWriter, check_safe_name, write_atomic
from pipelines.process import process_pages
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
from pipelines.workers import main_module_not_inherited, make_analyser, watch_parent

BATCH_PAGES = 8
"""Pages per message to a helper, and per batch a worker parses before it segments
(:func:`~pipelines.process.process_pages`): enough to make queue overhead negligible
and keep jieba's dictionary in the caches, few enough to keep order tight."""
QUEUE_BATCHES = 8
"""Batches a helper's inbox holds at most (a few MB)."""
HELPER_BACKLOG = 4 * BATCH_PAGES
"""Pages a helper should have waiting (half a second of work); beyond it, new articles are this
process's. It must outlast a batch of this process's own (0.15 s), during which the helper's
progress reports wait unread: with 2 batches, a helper sat idle 13% of a rebuild."""
POLL_SECONDS = 0.2
GC_EVERY = 64
"""Items between two collections of the young generations in a worker (a full one every 32 of them)."""
BUFFER_BYTES = 16 * 1024 * 1024
"""Default Arrow buffer budget of all workers' writers together (``REBUILD_MAX_BUFFER_MB``).
8 MB a worker gives row groups of a few hundred rows (``scrapy compact`` makes bigger ones)
and keeps a 2-worker rebuild under 500 MB; 32 MB a worker cost 80 MB more, measured."""


ORPHAN_GRACE_SECONDS = 5.0
"""A helper whose rebuild died removes its unfinished files, and exits after this at the latest."""


class RebuildError(RuntimeError):
    """A worker failed; the rows it had not committed are not in the output."""


class RebuildInterrupted(RuntimeError):
    """SIGTERM or Ctrl-C stopped the rebuild: nothing it wrote is visible; its summary says how far it got."""

    def __init__(self, summary: dict[str, Any]) -> None:
        super().__init__(f"interrupted after {summary['pages_read']} pages")
        self.summary = summary


# -- routing -------------------------------------------------------------------


def route_key(url: str) -> str:
    """The article id in the URL (shared by all its URLs), else the URL itself."""
    return article_id(url) or url


class Owners:
    """Which worker handles each route key: chosen when the key is first seen, then fixed.

    Fixed, so that all copies of an article meet in one worker, whose first-copy-wins
    rule then sees them in archive order. Chosen by load, so that no worker waits
    while another has a backlog: a new key goes to the least busy helper unless every
    helper already has ``backlog`` pages waiting, and then to this process. Costs one
    entry per article (about 100 bytes), like the workers' sets of articles seen.
    """

    def __init__(self, helpers: _Helpers, backlog: int) -> None:
        self.helpers = helpers
        self.backlog = backlog
        self.owner: dict[str, int] = {}

    def __call__(self, key: str) -> int:
        worker = self.owner.get(key)
        if worker is None:
            worker = self.owner[key] = self._least_busy()
        return worker

    def _least_busy(self) -> int:
        waiting = self.helpers.waiting
        best = min(self.helpers.indexes, key=waiting, default=0)
        return best if best and waiting(best) < self.backlog else 0


# -- one worker's share --------------------------------------------------------


class PageSink:
    """Processes pages, drops repeated articles and writes rows: what one worker does."""

    def __init__(
        self,
        index: int,
        out_dir: str,
        run_id: str,
        segment_config: SegmentConfig | None,
        writer_options: Mapping[str, Any],
    ) -> None:
        self.analyser = make_analyser(segment_config)
        options = dict(writer_options, run_id=run_id, worker_id=f"w{index + 1}")
        self.articles = DatasetWriter(f"{out_dir}/articles", ARTICLE_SCHEMA, partition_by="year", **options)
        self.rejects = DatasetWriter(f"{out_dir}/rejects", REJECT_SCHEMA, **options)
        self.seen: set[tuple[str, str]] = set()
        self.counts: Counter[str] = Counter()

    def handle(self, items: Sequence[tuple[str, RawPage | ArticleRecord]]) -> list[tuple[str, ArticleRecord]]:
        """Process raw pages (each with the crawl run that archived it) and write routed articles.

        A page whose article id is not the one in its URL (its canonical link names
        another) is returned, not written: it belongs to that id's worker.
        """
        pages = [(run, item) for run, item in items if isinstance(item, RawPage)]
        outcomes = iter(process_pages([raw for _, raw in pages], self.analyser))
        self.counts["pages_processed"] += len(pages)
        routed = []
        for run, item in items:
            outcome = next(outcomes) if isinstance(item, RawPage) else item
            if isinstance(item, RawPage) and isinstance(outcome, ArticleRecord) and outcome.article_id != route_key(item.url):
                routed.append((run, outcome))
            else:
                self._write(run, outcome)
        return routed

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


class _Collector:
    """Garbage collection on a schedule while pages are processed.

    jieba's dictionaries are millions of objects that live as long as the process: they
    are kept out of every later collection, and the pages' short-lived objects are
    collected every GC_EVERY items rather than every few hundred allocations (together
    about a tenth of the time per page).
    """

    def __init__(self) -> None:
        self.items = 0
        self.was_enabled = gc.isenabled()
        gc.freeze()
        gc.disable()

    def tick(self, items: int) -> None:
        before, self.items = self.items, self.items + items
        if before // GC_EVERY != self.items // GC_EVERY:
            gc.collect(2 if before // (GC_EVERY * 32) != self.items // (GC_EVERY * 32) else 1)

    def stop(self) -> None:
        gc.unfreeze()
        if self.was_enabled:
            gc.enable()


@contextlib.contextmanager
def _system_allocator() -> Iterator[None]:
    """Arrow's default allocator (mimalloc) keeps what the row groups freed: 40 MB more per
    process at the end of a rebuild than the system allocator, measured, for no gain in speed."""
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


class _StopBetweenBatches:
    """SIGTERM/SIGINT handler of a helper: stop between two batches, never inside a file write (a
    KeyboardInterrupt there could leave a file that ``abort()`` does not know of); at once while idle."""

    def __init__(self) -> None:
        self.busy = False
        self.requested: str | None = None
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self)

    def __call__(self, signum: int, frame: Any) -> None:
        self.requested = signal.Signals(signum).name
        if not self.busy:
            raise KeyboardInterrupt(self.requested)

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt(self.requested)


def _worker_main(index: int, inbox: Any, outbox: Any, parent_pid: int, out_dir: str, run_id: str,
                 segment_config: SegmentConfig | None, writer_options: Mapping[str, Any]) -> None:
    """Helper process: batches in, progress (and the odd article to route) out, its own files on disk.

    SIGTERM (``terminate()``, or the rebuild's death seen by :func:`watch_parent`) ends it
    through ``abort()``, so that no unfinished file stays behind.
    """
    sink = None
    orphaned = threading.Event()

    def parent_died() -> None:
        orphaned.set()
        signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)  # wakes a blocking inbox.get()
        time.sleep(ORPHAN_GRACE_SECONDS)
        os._exit(1)

    stopper = _StopBetweenBatches()
    watch_parent(parent_pid, parent_died)
    try:
        with _system_allocator():
            sink = PageSink(index, out_dir, run_id, segment_config, writer_options)
            collector = _Collector()
            while True:
                stopper.busy = False
                stopper.check()
                batch = inbox.get()
                stopper.busy = True
                if batch is None:
                    break
                pages = sum(isinstance(item, RawPage) for _, item in batch)
                for routed in sink.handle(batch):
                    outbox.put(("returned", index, routed))
                outbox.put(("progress", index, len(batch), pages))
                collector.tick(len(batch))
            outbox.put(("done", index, sink.commit()))
    except BaseException:  # noqa: BLE001 - report anything, including KeyboardInterrupt, then stop
        if sink is not None:
            sink.abort()
        if orphaned.is_set():
            os._exit(1)  # nobody reads the outbox any more: do not wait on its pipe
        outbox.put(("error", index, traceback.format_exc()))


# -- the helpers -------------------------------------------------------------------


def _context() -> multiprocessing.context.BaseContext:
    """A forkserver, or spawn where there is none: helpers start clean, not as copies of this process.

    Nothing is preloaded in the server: the helpers import in parallel what it would
    import alone, and the server itself stays small (it lives as long as the rebuild).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


class _Helpers:
    """Workers 2..N as processes (this process is worker 1): bounded inboxes, one shared outbox."""

    def __init__(self, workers: int, args: tuple, stop: threading.Event | None = None) -> None:
        self.stop = stop
        """Set by the command on SIGTERM/Ctrl-C: checked between pages, where stopping leaves no half file."""
        self.indexes = range(1, workers)
        self.sent = [0] * workers
        self.done = [0] * workers
        self.pages_done = 0
        self.returned: list[tuple[str, ArticleRecord]] = []
        self.results: dict[int, dict[str, Any]] = {}
        self.processes: dict[int, multiprocessing.process.BaseProcess] = {}
        self.inboxes: dict[int, Any] = {}
        self.outbox: Any = None
        if not self.indexes:
            return
        context = _context()
        self.outbox = context.Queue()
        for i in self.indexes:
            self.inboxes[i] = context.Queue(maxsize=QUEUE_BATCHES)
            self.processes[i] = context.Process(
                target=_worker_main,
                args=(i, self.inboxes[i], self.outbox, os.getpid(), *args),
                name=f"rebuild-w{i + 1}",
                daemon=True,
            )
        with main_module_not_inherited():
            for process in self.processes.values():
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

    def poll(self, timeout: float) -> None:
        """Handle the messages that have arrived (waiting up to ``timeout`` for the first)."""
        if self.outbox is None:
            return
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
            elif kind == "returned":
                self.returned.append(rest[0])
            elif kind == "done":
                self.results[worker] = rest[0]
            elif kind == "error":
                raise RebuildError(f"worker w{worker + 1} failed:\n{rest[0]}")

    def check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise KeyboardInterrupt(getattr(self.stop, "reason", "") or "stop requested")

    def check_alive(self) -> None:
        self.check_stop()
        for i, process in self.processes.items():
            if process.exitcode is not None and i not in self.results and process.exitcode != 0:
                self.poll(timeout=0)  # an error message may be waiting
                raise RebuildError(f"worker w{i + 1} died (exit code {process.exitcode})")

    def waiting(self, worker: int) -> int:
        """Items sent to a helper that it has not finished yet."""
        return self.sent[worker] - self.done[worker]

    def busy(self) -> bool:
        """Are items still waiting in, or being processed by, a helper?"""
        return any(map(self.waiting, self.indexes))

    def finish(self) -> dict[int, dict[str, Any]]:
        """No more pages: let the helpers commit their files, and collect their results."""
        for inbox in self.inboxes.values():
            inbox.put(None)
        while len(self.results) < len(self.processes):
            self.poll(timeout=POLL_SECONDS)
            self.check_alive()
        for process in self.processes.values():
            process.join()
        return self.results

    def close(self) -> None:
        for process in self.processes.values():
            if process.is_alive():
                process.terminate()
        for process in self.processes.values():
            process.join(timeout=5)
            if process.is_alive():  # stuck past its abort: no helper outlives the rebuild
                process.kill()
                process.join(timeout=5)
        for q in (*self.inboxes.values(), *([self.outbox] if self.outbox is not None else [])):
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
    stop: threading.Event | None = None,
    writer_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Turn archived pages into ``out_dir/articles`` and ``out_dir/rejects``; returns the run summary.

    ``workers`` processes share the pages, this one included (as ``w1``; 0 counts
    as 1). The summary is also written to ``out_dir/runs/<run_id>.json``. ``stop``, once set,
    ends the rebuild between two pages: unfinished files are dropped, the summary says
    ``interrupted`` and RebuildInterrupted is raised.
    Raises FileNotFoundError for a missing source, RebuildError when a worker fails.
    """
    check_safe_name(run_id, "run id")
    try:  # never mix rows into a folder that holds other things (a project folder, a home)
        layout.check_dataset_target(out_dir)
    except layout.LayoutError as exc:
        raise RebuildError(str(exc)) from None
    sources = [str(s) for s in sources]
    reader = ArchiveReader(sources)
    out = str(out_dir).rstrip("/")
    options = dict(writer_options or {})
    # The writers' Arrow buffer budget is for the whole rebuild, shared by the workers.
    options["max_buffer_bytes"] = max(options.get("max_buffer_bytes", BUFFER_BYTES) // max(workers, 1), 1 << 20)
    started_at = dt.datetime.now(dt.timezone.utc)
    started = time.monotonic()
    bar = Progress(reader, progress)
    workers = max(workers, 1)
    try:
        results = _rebuild_in_processes(reader, out, run_id, segment_config, options, bar, workers, stop)
    except KeyboardInterrupt as exc:  # Ctrl-C, or ``stop`` set (the command's SIGTERM/SIGINT handler)
        summary = {
            "run_id": run_id, "kind": "rebuild", "sources": sources, "dataset_dir": out, "workers": workers,
            "started_at": started_at.isoformat(timespec="seconds"),
            "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "duration_seconds": round(time.monotonic() - started, 3),
            "finish_reason": f"interrupted ({exc or 'SIGINT'})", "interrupted": True, "resumable": False,
            "status": "interrupted", "exit_code": 5, "pages_read": reader.pages_read,
            "note": "unfinished files were dropped (only files that reached DATASET_MAX_ROWS_PER_FILE stay): "
                    "run the same command again, then `scrapy compact` if files of this run remain",
        }  # fmt: skip
        write_atomic(out, f"runs/{run_id}.json", json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8"))
        raise RebuildInterrupted(summary) from None
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
        "revisit_records": {"resolved": reader.revisits.resolved, "without_original": len(reader.revisits.unresolved)},
        "dataset_dir": out,
        "files_written": sum(r["files"] for r in results.values()),
        "schema_version": SCHEMA_VERSION,
        "cleaning_rules_version": CLEANING_RULES_VERSION,
        **_rss_summary(results),
        "cpu_seconds": {
            "main": _cpu_seconds(),
            "helpers": [results[i]["cpu_seconds"] for i in sorted(results) if i > 0],
        },
    }
    write_atomic(out, f"runs/{run_id}.json", json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8"))
    return summary


def _rebuild_in_processes(reader: ArchiveReader, out: str, run_id: str, config: SegmentConfig | None,
                          options: dict[str, Any], bar: Progress, workers: int,
                          stop: threading.Event | None = None) -> dict[int, dict[str, Any]]:
    """This process reads the archive and is worker 1; ``workers - 1`` helper processes take the
    other shares. Doing a share here rather than only routing pages saves a whole process
    (its interpreter, libraries and dictionaries: 190 MB) and the pickling of half the pages."""
    helpers = _Helpers(workers, (out, run_id, config, options), stop)
    try:
        with _system_allocator():
            sink = _own_share(lambda: PageSink(0, out, run_id, config, options))
            collector = _Collector()
            try:
                return _route(reader, sink, helpers, bar, collector)
            finally:
                collector.stop()
    finally:
        helpers.close()


def _route(reader: ArchiveReader, sink: PageSink, helpers: _Helpers, bar: Progress,
           collector: _Collector) -> dict[int, dict[str, Any]]:
    owners = Owners(helpers, backlog=HELPER_BACKLOG)
    pending: dict[int, list[tuple[str, RawPage | ArticleRecord]]] = {i: [] for i in helpers.indexes}

    own: list[tuple[str, RawPage | ArticleRecord]] = []

    def take_own() -> None:
        """Process this process's pending share; route the articles another worker may own."""
        batch = own[:]
        own.clear()
        for run, record in _own_share(lambda: sink.handle(batch)):
            give(run, record, owners(record.article_id))
        collector.tick(len(batch))

    def give(run: str, item: RawPage | ArticleRecord, worker: int) -> None:
        if worker == 0:
            own.append((run, item))
            if len(own) >= BATCH_PAGES or not isinstance(item, RawPage):
                take_own()
        elif isinstance(item, RawPage):
            pending[worker].append((run, item))
            if len(pending[worker]) >= BATCH_PAGES:
                helpers.send(worker, pending[worker])
                pending[worker] = []
        else:
            helpers.send(worker, [(run, item)])

    def route_returned() -> None:
        helpers.poll(timeout=0)
        while helpers.returned:
            run, record = helpers.returned.pop(0)
            give(run, record, owners(record.article_id))

    try:
        for raw in reader:
            helpers.check_stop()
            give(reader.run_id, raw, owners(route_key(raw.url)))
            route_returned()
            bar.update(sink.counts["pages_processed"] + helpers.pages_done)
        for worker, batch in pending.items():
            if batch:
                helpers.send(worker, batch)
        take_own()
        while helpers.busy() or helpers.returned:
            route_returned()
            helpers.poll(timeout=POLL_SECONDS)
            helpers.check_alive()
            bar.update(sink.counts["pages_processed"] + helpers.pages_done)
        results = helpers.finish()
    except BaseException:
        sink.abort()
        raise
    results[0] = _own_share(sink.commit)
    return results


def _own_share(step: Callable[[], Any]) -> Any:
    """Run a step of this process's share; a failure is a worker's failure, as in a helper."""
    try:
        return step()
    except Exception as exc:
        raise RebuildError(f"worker w1 failed:\n{traceback.format_exc()}") from exc


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


def _rss_summary(results: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """Peak resident memory in MiB: the sum, and this process (worker 1) and each helper (their own peaks).

    The sum over-counts pages the processes share, so it is an upper bound of
    what the rebuild held at any one moment.
    """
    main = peak_rss_kb() / 1024
    helpers = [round(results[i]["max_rss_kb"] / 1024, 1) for i in sorted(results) if i > 0]
    return {
        "peak_rss_mb": round(main + sum(helpers), 1),
        "peak_rss_mb_by_process": {"main": round(main, 1), "helpers": helpers},
    }
