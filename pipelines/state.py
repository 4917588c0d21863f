"""What a dataset already holds: the incremental-crawl state.

The state is read from the committed Parquet files themselves (``article_id``
and ``fetched_at`` of ``DIR/articles``), not kept in a second store. A row is
therefore "recorded" exactly when its file is renamed into place: a crash
before that loses the buffered rows *and* their record, so the next run
fetches those articles again — none lost, none stored twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from pipelines import layout, urls

if TYPE_CHECKING:  # pyarrow.dataset imports pandas (28 MB): only a process that reads the state pays for it
    import pyarrow.dataset as ds

SETTLED_REJECTS = ("soft_404",)
"""Reject reasons that settle an article URL like a row does: the site said the paper does
not exist, so a daily run need not ask again (``-a refetch=all`` does). Transient failures
(HTTP errors, timeouts) are not settled and are retried by the next run."""


class StoredArticles:
    """article_id → newest ``fetched_at`` of the rows (and settled rejects) already stored."""

    def __init__(self, newest: dict[str, dt.datetime] | None = None) -> None:
        self._newest: dict[str, dt.datetime] = dict(newest or {})

    @classmethod
    def from_dataset(cls, root: str, attempts: int = 3) -> StoredArticles:
        """Read the committed files of ``root/articles`` and ``root/rejects``, in either layout
        (``2019/`` or the older ``year=2019/`` folders); files being written are never among them.

        A compaction may delete a file between the listing and its reading (its rows are in
        the compacted files by then): the state is read again from a fresh listing."""
        for attempt in range(attempts):
            try:
                return cls._read(root)
            except FileNotFoundError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _read(cls, root: str) -> StoredArticles:
        stored = cls()
        for batch in _batches(f"{root.rstrip('/')}/{layout.ARTICLES}", ["article_id", "fetched_at"]):
            stored._add_batch(batch.column(0).to_pylist(), batch.column(1))
        rejects = f"{root.rstrip('/')}/{layout.REJECTS}"
        import pyarrow.compute as pc  # here: 50 ms to import, and a rebuild worker imports this module

        settled = pc.field("reason").isin(pa.array(sorted(SETTLED_REJECTS), pa.string()))  # typed: no pandas check
        for batch in _batches(rejects, ["url", "fetched_at"], settled):
            stored._add_batch([urls.article_id(u) for u in batch.column(0).to_pylist()], batch.column(1))
        return stored

    def _add_batch(self, ids: list[str | None], times: pa.Array) -> None:
        import pyarrow.compute as pc

        for article_id, fetched_at in zip(ids, pc.cast(times, pa.timestamp("ms", tz="UTC")).to_pylist(), strict=True):
            if article_id is not None:
                self.add(article_id, fetched_at)

    def __len__(self) -> int:
        return len(self._newest)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._newest

    def fetched_at(self, article_id: str) -> dt.datetime | None:
        return self._newest.get(article_id)

    def add(self, article_id: str, fetched_at: dt.datetime) -> None:
        current = self._newest.get(article_id)
        if current is None or fetched_at > current:
            self._newest[article_id] = fetched_at

    def ids(self) -> Iterable[str]:
        return self._newest.keys()


def _batches(location: str, columns: list[str], where: ds.Expression | None = None) -> Iterator[pa.RecordBatch]:
    """The columns of every committed file; folder names are not read (``year`` is inside the files)."""
    filesystem, path = layout.open_filesystem(location)
    files = layout.list_data_files(filesystem, path)
    if not files:  # no folder, or a writer that has committed nothing yet (killed, or still running)
        return
    import pyarrow.dataset as ds

    yield from ds.dataset(files, filesystem=filesystem, format="parquet").to_batches(columns=columns, filter=where)


def parse_lastmod(value: str | None) -> dt.datetime | None:
    """A sitemap ``<lastmod>`` (W3C date or datetime) as aware UTC; a bare date means its start."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = dt.datetime.combine(dt.date.fromisoformat(text[:10]), dt.time())
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)
