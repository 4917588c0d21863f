"""The one worker model of crawl and rebuild: batches of pages, sharded by article, in worker processes.

* **Sharded.** Worker ``i`` is a process of its own (a one-process executor), and every
  copy of an article goes to one worker, in the order it was sent: the one its id hashes
  to (:meth:`PagePool.shard`) in a crawl, where nothing is reordered across copies; the one
  the load picked when its id was first seen in a rebuild (:func:`pipelines.rebuild.pick_worker`),
  where first-copy-wins is then a plain per-worker rule.
* **Batched.** A task is a batch of pages: a worker parses the whole batch, then segments
  it (:func:`~pipelines.process.process_pages`), which keeps the dictionary in the caches,
  and the cost of a task (pickling, a pipe round trip) is paid once per batch.
* **Started as cheaply as is safe.** A crawl's workers are spawned without the parent's
  ``__main__`` (the ``scrapy`` script): they import this module only, no Twisted, no Scrapy
  (the crawl process runs Twisted's threads, which a fork would copy mid-step). A rebuild's
  are forked from the rebuild process once it has loaded its segmenter, while it runs no
  other thread (:func:`_can_fork`): a spawned one spent about 0.4 s importing and 0.5 s
  loading the same dictionaries, on a core the rebuild needs.
* **Two uses.** The crawl gets outcomes back (:func:`process_batch`) and writes them in its
  own :class:`~pipelines.sink.Sink`; a rebuild gives each worker a sink of its own
  (:func:`write_batch`), so rows never cross processes twice.

:class:`InlinePool` has the same API and runs everything in the calling process
(``PROCESS_WORKERS=0``, ``--workers 1``); a rebuild's own process is its worker 1.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import threading
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import attrs

from pipelines.process import Analyser, Outcome, process_pages
from pipelines.rawpage import RawPage
from pipelines.records import ArticleRecord, RejectRecord
from pipelines.segment import SegmentConfig
from pipelines.sink import Sink, WriterOptions, tune_arrow_for_writing
from pipelines.urls import article_id
from pipelines.workers import main_module_not_inherited, make_analyser, peak_rss_kb, watch_parent

BATCH_PAGES = 8
"""Pages per task in a crawl: enough to make task overhead negligible and keep the dictionary in the
caches, few enough to keep a crawl's pages moving (a rebuild sends larger batches:
:data:`pipelines.rebuild.BATCH_PAGES`)."""

GC_THRESHOLD = 20_000
"""Allocations between two young-generation collections in a worker (Python's default: 700)."""

Item = tuple[str, RawPage | ArticleRecord]
"""(scope, page or already processed article) sent to a rebuild worker; the scope is the archived crawl run."""


def route_key(url: str) -> str:
    """The article id in the URL (shared by all its URLs), else the URL itself."""
    return article_id(url) or url


def key_hash(key: str) -> int:
    """A hash of an article key that is stable across processes and runs (unlike ``hash``)."""
    return zlib.crc32(key.encode("utf-8"))


def shard_of(key: str, workers: int) -> int:
    """The worker ``key`` hashes to."""
    return key_hash(key) % workers if workers > 1 else 0


@attrs.frozen
class SinkSpec:
    """What a rebuild worker needs to open its own sink (its worker id is ``w<index + 1>``)."""

    root: str
    run_id: str
    options: WriterOptions


# -- in the worker process ---------------------------------------------------------

_analyser: Analyser | None = None
_sink: Sink | None = None
_pages_done = 0


def init_worker(config: SegmentConfig | None, parent_pid: int | None, index: int = 0,
                sink: SinkSpec | None = None) -> None:
    """Pool initializer: end with the parent, load the segmenter once, open this worker's sink."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker has the rebuild's handler: ends as a spawned one
    if parent_pid is not None:
        watch_parent(parent_pid, _orphaned)
    if sink is not None:
        tune_arrow_for_writing()
    _setup(config, index, sink)
    # The dictionaries are millions of objects that live as long as the process: out of every
    # later collection; and a page's many short-lived objects collected less often (a tenth of
    # the time per page went to collections with the defaults).
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


def _setup(config: SegmentConfig | None, index: int, sink: SinkSpec | None) -> None:
    """This process's segmenter and (rebuild) sink: in a worker, or in the caller (:class:`InlinePool`)."""
    global _analyser, _sink, _pages_done
    _pages_done = 0
    _analyser = make_analyser(config)
    _sink = None
    if sink is not None:
        _sink = Sink(sink.root, sink.run_id, worker_id=f"w{index + 1}", options=sink.options)


def _orphaned() -> None:
    """The parent died (SIGKILL, the OOM killer): drop unfinished files, best effort, and exit."""
    try:
        if _sink is not None:
            _sink.abort()
    finally:
        os._exit(1)


def process_batch(pages: Sequence[RawPage]) -> list[Outcome]:
    """Crawl task: the outcomes, in order, back to the crawl process."""
    return process_pages(pages, _analyser)


def write_batch(items: Sequence[Item]) -> list[tuple[str, ArticleRecord]]:
    """Rebuild task: process the pages and write what this worker owns into its sink.

    Returns the articles this worker may not own: a page was sent here for the id in its URL,
    so one whose canonical link names another id goes back to the parent, which sends it to
    that id's worker (which sees it after that id's earlier copies).
    """
    global _pages_done
    assert _sink is not None, "write_batch needs a worker started with a SinkSpec"
    pages = [item for _, item in items if isinstance(item, RawPage)]
    outcomes = iter(process_pages(pages, _analyser))
    _pages_done += len(pages)
    routed = []
    for scope, item in items:
        outcome: ArticleRecord | RejectRecord = next(outcomes) if isinstance(item, RawPage) else item
        if isinstance(outcome, ArticleRecord) and isinstance(item, RawPage) and outcome.article_id != route_key(item.url):
            routed.append((scope, outcome))
        else:
            _sink.write(outcome, scope)
    return routed


def finish_worker() -> dict[str, Any]:
    """Rebuild task, last: commit this worker's files; its counters, files, peak memory and CPU time."""
    assert _sink is not None
    _sink.commit()
    times = os.times()
    return {"counts": {**_sink.counts, "pages_processed": _pages_done}, "files": _sink.files_written,
            "max_rss_kb": peak_rss_kb(), "cpu_seconds": round(times.user + times.system, 3)}


def abort_worker() -> None:
    """Rebuild task on interrupt: drop this worker's unfinished files."""
    if _sink is not None:
        _sink.abort()


# -- in the parent -----------------------------------------------------------------


def _context(fork: bool) -> multiprocessing.context.BaseContext:
    """Fork (a rebuild, when :func:`_can_fork`), else spawn: workers start clean, without a forkserver.

    A forkserver would start each spawned worker faster, but it is one more process of about
    95 MB resident (it imports what workers need), alive as long as they are; workers start
    once per run, so the process tree is lighter without it."""
    return multiprocessing.get_context("fork" if fork else "spawn")


def _can_fork() -> bool:
    """Whether a worker may start as a copy of this process: on Linux (elsewhere fork is missing or,
    on macOS, unsafe), while no other Python thread runs. A thread that holds a lock when the
    process forks leaves that lock held for good in the copy."""
    return sys.platform == "linux" and threading.active_count() == 1


def _first_task(executor: ProcessPoolExecutor) -> None:
    """Start ``executor``'s process now, not when the first batch is ready (spawned: without ``__main__``)."""
    with main_module_not_inherited():
        executor.submit(int).add_done_callback(_ignore)


def _run_here(fn: Callable[..., Any], *args: Any) -> Future:
    """``fn(*args)`` in this process, now, as a finished future (what a worker would return)."""
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, as a process pool does
        future.set_exception(exc)
    return future


class PagePool:
    """``workers`` shards; task ``fn(*args)`` runs in the worker ``shard`` names, in submission order.

    Every shard is a process of its own, except shard 0 with ``caller_is_first`` (rebuild):
    the calling process is that worker, between reading pages. It would otherwise mostly wait
    for the workers, while holding a Python, the archive reader and the page queue: one
    process fewer keeps a rebuild's memory down for the same time.
    """

    def __init__(self, workers: int, config: SegmentConfig | None, sink: SinkSpec | None = None, *,
                 caller_is_first: bool = False) -> None:
        self.workers = max(workers, 1)
        self.config = config
        self.sink = sink
        self.caller_is_first = caller_is_first
        self.saved_gc = gc.get_threshold()
        self.fork = caller_is_first and _can_fork()
        if self.fork:  # the copies start with the segmenter loaded; frozen, the collector leaves its pages shared
            make_analyser(config)
            gc.freeze()
        first = 1 if caller_is_first else 0
        self.start_methods: dict[int, str] = {}
        """How each worker process started, by shard: ``fork`` or ``spawn``."""
        # Every fork before any executor's first task: from then on each executor runs threads of its own.
        self.executors: list[ProcessPoolExecutor | None] = [None] * first + [
            self._new_executor(i) for i in range(first, self.workers)]
        for executor in self.executors:
            if executor is not None:
                _first_task(executor)
        if caller_is_first:  # after the processes started: spawned ones load their segmenters meanwhile
            _setup_caller(config, sink)

    def _new_executor(self, index: int) -> ProcessPoolExecutor:
        """Shard ``index``'s executor; a forked one has its process already (a spawned one starts at its first task)."""
        fork = self.fork and _can_fork()
        executor = ProcessPoolExecutor(max_workers=1, mp_context=_context(fork), initializer=init_worker,
                                       initargs=(self.config, os.getpid(), index, self.sink))
        if fork:
            # CPython's own step of the first task (it refuses once the executor's thread runs), taken
            # now, while this process runs no other thread. A Python without it forks at the first task,
            # after which no other executor may fork.
            launch = getattr(executor, "_launch_processes", None)
            if launch is not None:
                launch()
            else:
                self.fork = False
        self.start_methods[index] = "fork" if fork else "spawn"
        return executor

    def shard(self, key: str) -> int:
        return shard_of(key, self.workers)

    def submit(self, shard: int, fn: Callable[..., Any], *args: Any) -> Future:
        executor = self.executors[shard]
        return _run_here(fn, *args) if executor is None else executor.submit(fn, *args)

    def replace(self, shard: int, broken: ProcessPoolExecutor | None = None) -> None:
        """A worker died (killed, out of memory): a fresh one takes its shard. Only the first caller
        that saw ``broken`` replaces it."""
        executor = self.executors[shard]
        if executor is None or (broken is not None and executor is not broken):
            return
        executor.shutdown(wait=False, cancel_futures=True)
        self.executors[shard] = replacement = self._new_executor(shard)
        _first_task(replacement)

    def close(self, cancel: bool = False) -> None:
        global _sink
        for executor in self.executors:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=cancel)
        if self.caller_is_first:
            _sink = None
            gc.set_threshold(*self.saved_gc)


class InlinePool:
    """:class:`PagePool`'s API in this process: for ``PROCESS_WORKERS=0`` and ``--workers 1``."""

    workers = 1

    def __init__(self, workers: int, config: SegmentConfig | None, sink: SinkSpec | None = None) -> None:
        self.saved_gc = gc.get_threshold()
        if sink is not None:  # a rebuild: this process is its only worker
            _setup_caller(config, sink)
        else:  # a crawl's own process, which does more than pages
            _setup(config, 0, sink)
        self.executors: list[Any] = [None]

    def shard(self, key: str) -> int:
        return 0

    def submit(self, shard: int, fn: Callable[..., Any], *args: Any) -> Future:
        return _run_here(fn, *args)

    def replace(self, shard: int, broken: Any = None) -> None:
        pass

    def close(self, cancel: bool = False) -> None:
        global _sink
        _sink = None
        gc.set_threshold(*self.saved_gc)


def _setup_caller(config: SegmentConfig | None, sink: SinkSpec | None) -> None:
    """A rebuild's own process as its worker 1, tuned as :func:`init_worker` tunes a worker."""
    _setup(config, 0, sink)
    if sink is not None:
        tune_arrow_for_writing()
    gc.freeze()  # the dictionaries stay out of every collection
    gc.set_threshold(GC_THRESHOLD, 20, 20)


def open_pool(workers: int, config: SegmentConfig | None, sink: SinkSpec | None = None) -> PagePool | InlinePool:
    """Worker processes when ``workers`` > 0 (crawl: the crawl process only reads their outcomes);
    0: everything in this process. A rebuild (``sink`` given) is worker 1 itself and starts
    ``workers - 1`` processes."""
    if workers <= 0 or (sink is not None and workers == 1):
        return InlinePool(workers, config, sink)
    return PagePool(workers, config, sink, caller_is_first=sink is not None)


def _ignore(future: Future) -> None:
    future.exception()  # a worker that cannot start shows on the first real task
