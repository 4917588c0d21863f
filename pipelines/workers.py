"""Page processing in worker processes.

jieba segmentation is CPU-bound and holds the GIL; done in the crawl process it
would stall the reactor (and so every download). The crawl's pipeline and the
offline rebuild both run :func:`process_page` here, in processes that
initialise jieba once, before their first page.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from pipelines.process import Analyser, Outcome, process_page
from pipelines.rawpage import RawPage
from pipelines.segment import SegmentConfig, get_segmenter

_analyser: Analyser | None = None


def make_analyser(config: SegmentConfig | None) -> Analyser | None:
    """The process's segmenter for ``config`` (None: segmentation off)."""
    return get_segmenter(config) if config is not None else None


def init_worker(config: SegmentConfig | None) -> None:
    """Pool initializer: load jieba and the dictionaries once per worker process."""
    global _analyser
    _analyser = make_analyser(config)


def process_in_worker(raw: RawPage) -> Outcome:
    return process_page(raw, _analyser)


def start_pool(workers: int, config: SegmentConfig | None) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes started from a clean forkserver, not forked from the reactor."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["pipelines.workers"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init_worker, initargs=(config,))


@contextlib.contextmanager
def main_module_not_inherited() -> Iterator[None]:
    """Start processes (spawn or forkserver) that do not run the parent's ``__main__`` again.

    multiprocessing re-imports the parent's main script in every such child, as
    ``__mp_main__``. Under the ``scrapy`` command that script imports Scrapy and
    Twisted: 48 MB and 0.4 s per worker, for nothing, since every worker target
    here lives in an importable module. The child decides from ``__main__``'s
    ``__spec__`` and ``__file__`` when the process starts; they are restored after.
    """
    main = sys.modules["__main__"]
    saved = {name: main.__dict__[name] for name in ("__spec__", "__file__") if name in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)
