"""Page processing in worker processes.

jieba segmentation is CPU-bound and holds the GIL; done in the crawl process it
would stall the reactor (and so every download). The crawl's pipeline and the
offline rebuild both run :func:`process_page` here, in processes that
initialise jieba once, before their first page.
"""

from __future__ import annotations

import multiprocessing
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
