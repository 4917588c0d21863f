"""The one sink after processing: crawl, rebuild and compact write rows through it.

What used to be written three times (the crawl's duplicate filter and dataset
pipeline, rebuild's per-worker ``PageSink``, compaction's writer set-up) is here:

* the two writers (``articles`` partitioned by year, ``rejects``), set up once;
* first copy wins, with one key, ``article_id``, within a *scope*: a crawl is one
  scope; a rebuild gives each archived crawl run its own, so that an archive of
  several runs gives the rows those runs wrote (``scrapy compact`` keeps the newest);
* the counters (rows, duplicates, rejects by reason, missing fields, incomplete
  articles), from which :mod:`pipelines.summary` computes the checks;
* the ids written but not yet committed (a distributed crawl records them as
  stored only once their files are renamed into place);
* a storage error rolls back the counts of rows not committed: nothing that is
  not on disk counts as written.

Plain code: no Scrapy. The crawl calls it from one thread off the reactor
(:mod:`crawler.itempipelines`), a rebuild from each worker process.
"""

from __future__ import annotations

import datetime as dt
import importlib.abc
import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs
import pyarrow as pa

from pipelines import layout, urls
from pipelines.dataset import DatasetWriteError, DatasetWriter
from pipelines.records import ARTICLE_SCHEMA, REJECT_SCHEMA, ArticleRecord, RejectReason, RejectRecord, to_row
from pipelines.state import SETTLED_REJECTS

TRACKED_FIELDS = ("title", "authors", "journal", "year", "issue", "published_date")
"""Fields whose absence the run summary counts (a rise means the site changed)."""
QUIET_REJECTS = frozenset({RejectReason.NOT_ARTICLE.value})
"""Reject reasons that are routine (every listing page): logged at DEBUG, not INFO."""


@attrs.define(kw_only=True)
class WriterOptions:
    """How the writers cut files; the same settings for crawl, rebuild and compact."""

    row_group_rows: int = 2000
    max_rows_per_file: int = 100_000
    max_buffer_bytes: int = 64 * 1024 * 1024

    def as_kwargs(self) -> dict[str, int]:
        return attrs.asdict(self)


class _NoPandas(importlib.abc.MetaPathFinder):
    """An import finder that says pandas is not installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is not needed to write rows")
        return None


def arrow_without_pandas() -> None:
    """Let pyarrow decide, once, that this process has no pandas.

    The first time pyarrow turns a Python list into an array it imports pandas (28 MB of
    resident memory, 0.25 s) only to ask whether the list is a pandas object; rows never hold
    one. pandas stays importable: pyarrow tries again when someone asks it for pandas
    (``to_pandas``), and so does an array built without a type."""
    if "pandas" in sys.modules:
        return
    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        pa.lib._pandas_api.have_pandas  # noqa: B018 - the property records the (failed) import
    finally:
        sys.meta_path.remove(blocker)


def tune_arrow_for_writing() -> None:
    """Call once in a process that writes rows: Arrow allocates with malloc, and imports no pandas.

    Arrow's default allocator (mimalloc) keeps what freed row groups held: measured, 30 MB more
    at the end of a 3,000-article crawl and 40 MB more per rebuild worker than with the system
    allocator, for no measurable gain in speed. For pandas see :func:`arrow_without_pandas`."""
    pa.set_memory_pool(pa.system_memory_pool())
    arrow_without_pandas()


def open_writers(root: str, run_id: str, worker_id: str | None, options: WriterOptions,
                 metadata: Mapping[str, str] | None = None, *,
                 honour_compaction: bool = True) -> tuple[DatasetWriter, DatasetWriter]:
    """The articles and rejects writers of a run under ``root`` (the one place they are set up, for
    crawl, rebuild and compact; compaction writes into its own staging root and does not wait for itself)."""
    base = root.rstrip("/")
    common: dict[str, Any] = dict(run_id=run_id, worker_id=worker_id, metadata=metadata,
                                  honour_compaction=honour_compaction, **options.as_kwargs())
    articles = DatasetWriter(f"{base}/{layout.ARTICLES}", ARTICLE_SCHEMA, partition_by="year", **common)
    rejects = DatasetWriter(f"{base}/{layout.REJECTS}", REJECT_SCHEMA, **common)
    return articles, rejects


class Sink:
    """First copy wins, counters, and (with ``root``) the dataset's two writers.

    ``write`` returns what became of an outcome: ``"article"``, ``"duplicate"`` or ``"reject"``.
    Without ``root`` (``DATASET_DIR`` empty) nothing is stored, but duplicates are still
    dropped and everything is counted: feeds and the run summary need both.
    """

    def __init__(self, root: str | None, run_id: str, *, worker_id: str | None = None,
                 options: WriterOptions | None = None) -> None:
        self.root = root.rstrip("/") if root else None
        self.writers = open_writers(self.root, run_id, worker_id, options or WriterOptions()) if self.root else None
        self.first_scope: dict[str, str] = {}
        """article_id → the scope whose copy was written: one entry per article, about 100 bytes."""
        self.counts: Counter[str] = Counter()
        self.pending: Counter[str] = Counter()
        """Counts of rows written since the last commit: taken back if the commit fails."""
        self.uncommitted: list[tuple[str, dt.datetime]] = []
        self.failure: DatasetWriteError | None = None

    # -- rows --------------------------------------------------------------------------

    def write(self, outcome: ArticleRecord | RejectRecord, scope: str = "") -> str:
        """Store one outcome (raises DatasetWriteError; then call :meth:`fail`)."""
        if isinstance(outcome, ArticleRecord):
            if self.first_scope.get(outcome.article_id, None) == scope:
                self.counts["duplicate_articles"] += 1
                return "duplicate"
            self.first_scope[outcome.article_id] = scope
            if self.writers is not None:  # the writer packs the token list into one string (pipelines.arrowrows)
                self.writers[0].write(to_row(outcome))
                self.uncommitted.append((outcome.article_id, outcome.fetched_at))
            self._count("articles_written")
            for name in TRACKED_FIELDS:
                if getattr(outcome, name) in (None, []):
                    self.counts[f"missing/{name}"] += 1
            if outcome.title is None or outcome.journal is None:
                self.counts["articles_incomplete"] += 1
            return "article"
        if self.writers is not None:
            self.writers[1].write(to_row(outcome))
            if outcome.reason in SETTLED_REJECTS and (article_id := urls.article_id(outcome.url)):
                self.uncommitted.append((article_id, outcome.fetched_at))
        self._count("rejects_written")
        self._count(f"rejects/{outcome.reason}")
        return "reject"

    def _count(self, key: str) -> None:
        self.counts[key] += 1
        if self.writers is not None:
            self.pending[key] += 1

    # -- commits -----------------------------------------------------------------------

    def prepare(self) -> None:
        """The slow half of a commit (write, close, fsync) for both writers: run it off any event loop."""
        if self.writers is not None and self.failure is None:
            for writer in self.writers:
                writer.prepare()

    def publish(self) -> list[tuple[str, dt.datetime]]:
        """The fast half: both writers' renames, within moments of each other; returns the ids now stored."""
        if self.writers is None or self.failure is not None:
            return []
        for writer in self.writers:
            writer.publish()
        stored, self.uncommitted = self.uncommitted, []
        self.pending.clear()
        return stored

    def commit(self) -> list[tuple[str, dt.datetime]]:
        self.prepare()
        return self.publish()

    def fail(self, error: DatasetWriteError) -> int:
        """After a storage error: drop what is not committed, take back its counts; returns the rows lost."""
        self.failure = error
        self.abort()
        lost = self.pending["articles_written"] + self.pending["rejects_written"]
        self.counts.subtract(self.pending)
        self.counts["rows_not_stored"] = lost
        self.pending.clear()
        self.uncommitted = []
        return lost

    def abort(self) -> None:
        """Drop open files and buffered rows (an interrupted or failed run)."""
        if self.writers is not None:
            for writer in self.writers:
                writer.abort()

    @property
    def files_written(self) -> int:
        return sum(len(w.files_written) for w in self.writers) if self.writers is not None else 0
