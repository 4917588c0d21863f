"""Per-crawl facts that several components need: the run id and the dataset location."""

from __future__ import annotations

from pathlib import Path

from scrapy.crawler import Crawler
from scrapy.settings import BaseSettings

from pipelines.layout import new_run_id  # the one run-id generator, re-exported for the commands
from pipelines.procs import usable_cpus
from pipelines.segment import SegmentConfig

RUN_ID_STAT = "qikan/run_id"


def crawl_run_id(crawler: Crawler) -> str:
    """The run id of this crawl: ``RUN_ID`` if set, else generated once and kept in the stats."""
    run_id = crawler.stats.get_value(RUN_ID_STAT)
    if run_id is None:
        run_id = crawler.settings.get("RUN_ID") or new_run_id()
        crawler.stats.set_value(RUN_ID_STAT, run_id)
    return run_id


def dataset_dir(settings: BaseSettings) -> str | None:
    """``DATASET_DIR`` as given (a path or a URI); None when writing is switched off."""
    value = settings.get("DATASET_DIR")
    return str(value) if value else None


def segment_config(settings: BaseSettings) -> SegmentConfig | None:
    """Segmentation settings, or None when ``SEGMENT_ENABLED`` is off."""
    if not settings.getbool("SEGMENT_ENABLED"):
        return None
    cache_dir = settings.get("JIEBA_CACHE_DIR")
    if not cache_dir:
        root = dataset_dir(settings)
        # A local dataset keeps its cache; otherwise SegmentConfig's own default (the user's cache folder).
        cache_dir = Path(root) / ".cache" / "jieba" if root and "://" not in root else None
    return SegmentConfig(
        cache_dir=cache_dir,
        user_dicts=tuple(Path(p) for p in settings.getlist("JIEBA_USER_DICTS")),
        keyword_method=settings.get("KEYWORDS_METHOD"),
        top_k=settings.getint("KEYWORDS_TOP_K"),
        engine=settings.get("SEGMENT_ENGINE"),
    )


def process_workers(settings: BaseSettings) -> int:
    """``PROCESS_WORKERS``, default one per usable CPU (:func:`pipelines.procs.usable_cpus`: a container's
    CPU quota counts, not the host's cores) but the one the crawl process itself needs."""
    value = settings.get("PROCESS_WORKERS")
    if value is None or value == "":
        return max(1, usable_cpus() - 1)
    return max(0, int(value))
