"""Offline rebuild: the dataset again, from the raw archive, without touching the site.

Cleaning rules improve; the pages already fetched are in ``DIR/raw`` (WARC).
:func:`rebuild` sends every archived page through the crawl's own code path
(:func:`pipelines.process.process_pages` in the workers of :mod:`pipelines.pool`,
rows into a :class:`pipelines.sink.Sink`), so the output is the dataset the crawl
would write today: the same rows, ``fetched_at`` from the archive.

Why it looks the way it does:

* This process reads the archive, is worker 1, and sends the other workers' batches to
  N - 1 worker processes; each worker writes its own files through its own sink (worker
  ids ``w1``..``wN``): no shared writer, no lock, no row crosses processes twice. A
  reader that only reads would mostly wait, and cost a process's memory for it.
* All copies of an article (``/paper/x.html``, ``?from=related``, ``/m/paper/x.html``)
  go to one worker, in archive order, so the crawl's rule (the first copy wins; later
  ones are counted, not written) holds per worker. Each archived crawl run is its own
  scope: an archive of several runs gives the rows those runs wrote, and ``scrapy
  compact`` then keeps the newest. The rare page whose canonical link names another id
  comes back from its worker and goes to that id's worker.
* Which worker that is depends on the load: workers do not start together (each loads its
  dictionaries) nor run at one speed (this one also reads the archive), and a fixed split
  leaves a core idle at the end while the slowest finishes. Article ids fall into
  :data:`BUCKETS` buckets by their hash; a bucket's worker is chosen when its first id is
  seen (:func:`pick_worker`: the worker the id hashes to, unless that one has too much work
  waiting, or, near the archive's end, more than its share of what is left, or this process
  has work an idle worker could take), and stays.
* At most :data:`QUEUE_BATCHES` batches wait per worker: the reader is never far
  ahead, so memory does not grow with the archive (only by one id per article, in
  the workers' first-copy tables).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import threading
import time
import traceback
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from pipelines import layout, leases
from pipelines.archive import ArchiveReader
from pipelines.dataset import check_safe_name, write_atomic
from pipelines.pool import (
    InlinePool,
    Item,
    PagePool,
    SinkSpec,
    abort_worker,
    finish_worker,
    key_hash,
    open_pool,
    route_key,
    write_batch,
)
from pipelines.rawpage import RawPage
from pipelines.rebuildprogress import Progress
from pipelines.records import CLEANING_RULES_VERSION, SCHEMA_VERSION
from pipelines.segment import SegmentConfig
from pipelines.sink import WriterOptions
from pipelines.summary import EXIT_INTERRUPTED, RunSummary, prefixed
from pipelines.workers import peak_rss_kb

BATCH_PAGES = 32
"""Pages per task: four times the crawl's :data:`pipelines.pool.BATCH_PAGES`, which keeps a crawl's
pages moving; nothing waits for one page here. Measured, alternating whole rebuilds of 3,000 pages on
2 cores: 0.6-1.0 s less CPU and 0.2-0.6 s less time than with 8, for 13-17 MB more memory."""
QUEUE_BATCHES = 8
"""Batches sent to a worker process and not yet done, at most (about 4 MB of pages): the copies of
articles it owns wait for it beyond that."""
BUSY_PAGES = 4 * BATCH_PAGES
"""A worker process with this many pages waiting (sent or about to be, not done) takes no new article."""
IDLE_PAGES = 2 * BATCH_PAGES
"""A worker process with fewer pages than this waiting takes new articles from this process: enough
to keep it busy while this process works on a batch of its own (about 60 ms)."""
BUCKETS = 1 << 16
"""Buckets of article ids, each with one worker: about 98% of the first 3,000 ids fall into a bucket
of their own, so the load decides for them; the table is 128 KB however many articles there are."""
BUFFER_BYTES = 16 * 1024 * 1024
"""Default Arrow buffer budget of all workers' writers together (``REBUILD_MAX_BUFFER_MB``)."""


class RebuildError(RuntimeError):
    """A worker failed; the rows it had not committed are not in the output."""


class RebuildInterrupted(RuntimeError):
    """SIGTERM or Ctrl-C stopped the rebuild: nothing it wrote is visible; its summary says how far it got."""

    def __init__(self, summary: dict[str, Any]) -> None:
        super().__init__(f"interrupted after {summary['pages_read']} pages")
        self.summary = summary


def pick_worker(hashed: int, waiting: Sequence[int], left: float = math.inf) -> int:
    """The worker of an article seen for the first time, given its hashed worker and the load.

    ``waiting[i]`` is the number of pages waiting for worker ``i``; worker 0 is this process,
    which works on its batches as soon as they are full. A busy worker's new articles go to
    the idlest other process, this one included; this process's go to an idle worker.

    ``left`` is what this process would still work on if it kept every page not yet read (its
    open batch and the unread pages). Near the archive's end a worker counts as busy once it
    has its share of all that is left: the processes then run out together, where a backlog of
    :data:`BUSY_PAGES` kept this process waiting 0.1-0.3 s for the last batches.
    """
    share = (sum(waiting[1:]) + left) / len(waiting)
    idlest = min(range(1, len(waiting)), key=waiting.__getitem__, default=0)
    if hashed == 0 or waiting[hashed] >= min(BUSY_PAGES, share):
        return idlest if idlest and waiting[idlest] < min(IDLE_PAGES, share) else 0
    return hashed


class _Feeder:
    """Sends batches to the workers, at most QUEUE_BATCHES each in flight, and forwards returned articles."""

    def __init__(self, pool: PagePool | InlinePool, unread: Callable[[], float] | None = None) -> None:
        self.pool = pool
        self.unread = unread
        """An estimate of the pages still to be read (:meth:`ArchiveReader.pages_left`), or None."""
        self.pending: list[list[Item]] = [[] for _ in range(pool.workers)]
        self.inflight: list[deque[tuple[Future, int]]] = [deque() for _ in range(pool.workers)]
        self.waiting = [0] * pool.workers
        """Pages pending or in flight, per worker."""
        self.bucket_workers = array("H", bytes(2 * BUCKETS))
        """The worker of each bucket of article ids, plus one; 0 while none is chosen."""
        self.pages_done = 0

    def worker_of(self, key: str) -> int:
        """The worker of every copy of the article ``key``: its bucket's, chosen when the bucket is first seen."""
        if self.pool.workers == 1:
            return 0
        code = key_hash(key)
        bucket = code % BUCKETS
        chosen = self.bucket_workers[bucket]
        if chosen:
            return chosen - 1
        for shard in range(1, self.pool.workers):  # results that are in: the load as it is now
            waiting = self.inflight[shard]
            while waiting and waiting[0][0].done():
                self.collect(shard, *waiting.popleft())
        left = math.inf if self.unread is None else len(self.pending[0]) + self.unread()
        worker = pick_worker(code % self.pool.workers, self.waiting, left)  # code % workers: shard_of(key)
        self.bucket_workers[bucket] = worker + 1
        return worker

    def add(self, scope: str, item: Any) -> None:
        shard = self.worker_of(route_key(item.url))
        batch = self.pending[shard]
        batch.append((scope, item))
        self.waiting[shard] += 1
        if len(batch) >= BATCH_PAGES:
            self.pending[shard] = []
            self.send(shard, batch)

    def send(self, shard: int, batch: list[Item]) -> None:
        waiting = self.inflight[shard]
        while len(waiting) >= QUEUE_BATCHES:
            self.collect(shard, *waiting.popleft())
        pages = sum(isinstance(item, RawPage) for _, item in batch)
        waiting.append((self.pool.submit(shard, write_batch, batch), pages))

    def collect(self, shard: int, future: Future, pages: int) -> None:
        self.waiting[shard] -= pages
        self.pages_done += pages
        for scope, record in _result(shard, future):
            self.send(self.worker_of(record.article_id), [(scope, record)])

    def drain(self) -> None:
        for shard in reversed(range(len(self.pending))):  # the other workers' last batches out before this one's
            if batch := self.pending[shard]:
                self.send(shard, batch)
        self.pending = [[] for _ in self.pending]
        while any(self.inflight):
            for shard, waiting in enumerate(self.inflight):
                if waiting:
                    self.collect(shard, *waiting.popleft())

    def cancel(self) -> None:
        for waiting in self.inflight:
            for future, _ in waiting:
                future.cancel()


def _result(shard: int, future: Future) -> Any:
    """A task's result; a worker's failure as RebuildError, with the worker's traceback."""
    try:
        return future.result()
    except BrokenProcessPool as exc:
        raise RebuildError(f"worker w{shard + 1} died: {exc}") from exc
    except Exception as exc:
        raise RebuildError(f"worker w{shard + 1} failed:\n{''.join(traceback.format_exception(exc))}") from exc


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

    ``workers`` processes share the pages (1 or 0: this process alone). The summary is also
    written to ``out_dir/runs/<run_id>.json``. ``stop``, once set, ends the rebuild between two
    pages: unfinished files are dropped, the summary says ``interrupted`` and
    RebuildInterrupted is raised. Raises FileNotFoundError for a missing source, RebuildError
    when a worker fails.
    """
    check_safe_name(run_id, "run id")
    try:  # never mix rows into a folder that holds other things (a project folder, a home)
        layout.check_dataset_target(out_dir)
    except layout.LayoutError as exc:
        raise RebuildError(str(exc)) from None
    sources = [str(s) for s in sources]
    reader = ArchiveReader(sources)
    out = str(out_dir).rstrip("/")
    workers = max(workers, 1)
    options = dict(writer_options or {})
    # The writers' Arrow buffer budget is for the whole rebuild, shared by the workers.
    options["max_buffer_bytes"] = max(options.get("max_buffer_bytes", BUFFER_BYTES) // workers, 1 << 20)
    spec = SinkSpec(root=out, run_id=run_id, options=WriterOptions(**options))
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    bar = Progress(reader, progress)
    try:  # storage (helper S): held for the whole run; a compaction waits for it, it waits for a compaction
        lease = leases.acquire_writer(out, "rebuild", run_id, renewing=False)
    except leases.LeaseConflict as exc:
        raise RebuildError(str(exc)) from None
    try:  # the worker processes are forked while this process has no other thread: renewal starts after
        pool = open_pool(workers if workers > 1 else 0, segment_config, spec)
    except BaseException:
        lease.release()
        raise
    lease.start_renewing()
    try:
        results = _run(reader, pool, bar, stop)
    except KeyboardInterrupt as exc:  # Ctrl-C, or ``stop`` set (the command's SIGTERM/SIGINT handler)
        summary = RunSummary(
            run_id=run_id, kind="rebuild", started_at=started_at.isoformat(timespec="seconds"),
            finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            duration_seconds=round(time.monotonic() - started, 3), finish_reason=f"interrupted ({exc or 'SIGINT'})",
            interrupted=True, dataset_dir=out,
            details={"sources": sources, "workers": workers, "resumable": False, "pages_read": reader.pages_read,
                     "note": "unfinished files were dropped (only files that reached DATASET_MAX_ROWS_PER_FILE "
                             "stay): run the same command again, then `scrapy compact` if files of this run remain"},
        ).to_json()  # fmt: skip
        assert summary["exit_code"] == EXIT_INTERRUPTED
        write_atomic(out, f"runs/{run_id}.json", json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8"))
        raise RebuildInterrupted(summary) from None
    finally:
        pool.close(cancel=True)
        lease.release()
    seconds = time.monotonic() - started
    counts: Counter[str] = Counter()
    for result in results:
        counts.update(result["counts"])
    bar.update(counts["pages_processed"], final=True)
    helpers = results[1:] if isinstance(pool, PagePool) else []  # results[0]: this process, worker 1
    main_mb = peak_rss_kb() / 1024
    helper_mb = [round(r["max_rss_kb"] / 1024, 1) for r in helpers]
    times = os.times()
    summary = RunSummary(
        run_id=run_id,
        kind="rebuild",
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        duration_seconds=round(seconds, 3),
        finish_reason="finished",
        pages=counts["pages_processed"],
        articles_written=counts["articles_written"],
        duplicate_articles=counts["duplicate_articles"],
        rejects_written=counts["rejects_written"],
        rejects=prefixed(counts, "rejects/"),
        missing_fields=prefixed(counts, "missing/"),
        files_written=sum(r["files"] for r in results),
        dataset_dir=out,
        # An upper bound of what the rebuild held at once: pages the processes share count once each.
        peak_rss_mb=round(main_mb + sum(helper_mb), 1),
        details={
            "sources": sources,
            "archive_entries": len(reader.entries),
            "archive_runs": sorted(reader.run_ids),
            "workers": workers,
            "truncated_archive_files": reader.truncated_files,
            "revisit_records": {"resolved": reader.revisits.resolved,
                                "without_original": len(reader.revisits.unresolved)},
            "schema_version": SCHEMA_VERSION,
            "cleaning_rules_version": CLEANING_RULES_VERSION,
            "peak_rss_mb_by_process": {"main": round(main_mb, 1), "helpers": helper_mb},
            "helpers_started_by": list(pool.start_methods.values()) if isinstance(pool, PagePool) else [],
            "cpu_seconds": {"main": round(times.user + times.system, 3), "helpers": [r["cpu_seconds"] for r in helpers]},
        },
    ).to_json()
    write_atomic(out, f"runs/{run_id}.json", json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8"))
    return summary


def _run(reader: ArchiveReader, pool: PagePool | InlinePool, bar: Progress,
         stop: threading.Event | None) -> list[dict[str, Any]]:
    """Read, send, drain, then let every worker commit; on any failure or interrupt, every worker aborts."""
    feeder = _Feeder(pool, reader.pages_left)
    try:
        for raw in reader:
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt(getattr(stop, "reason", "") or "stop requested")
            feeder.add(reader.run_id, raw)
            bar.update(feeder.pages_done)
        feeder.drain()
        # The worker processes commit first: this process (worker 1) commits while they do.
        finishing = {shard: pool.submit(shard, finish_worker) for shard in reversed(range(pool.workers))}
        return [_result(shard, finishing[shard]) for shard in range(pool.workers)]
    except BaseException:
        feeder.cancel()
        for shard in range(pool.workers):  # after its current batch: no half file stays behind
            try:
                pool.submit(shard, abort_worker).result(timeout=60)
            except Exception:  # noqa: BLE001 - a dead worker has nothing left to abort
                pass
        raise
