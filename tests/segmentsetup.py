"""What the segmentation tests share: the real seed paper and module-scoped segmenters.

:mod:`tests.test_segment` (the columns) and :mod:`tests.test_engine` (the fast engine against
jieba) both build segmenters over one fresh jieba cache per module; the fixtures come from here so
that both set them up alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.segment import SegmentConfig, Segmenter, get_segmenter

SEED_TITLE, SEED_BODY = (
    (Path(__file__).resolve().parent / "data" / "seed_article.txt").read_text(encoding="utf-8").rstrip("\n").split("\n", 1)
)
"""The real seed paper as the cleaning stage gives it: the title, then the body (paragraphs joined by "\\n")."""


def jieba_cache_fixture() -> Any:
    """A module-scoped fixture (assign it to ``cache_dir``): a fresh jieba cache directory for the module."""

    @pytest.fixture(scope="module")
    def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return tmp_path_factory.mktemp("jieba-cache")

    return cache_dir


def segmenter_fixture(**options: Any) -> Any:
    """A module-scoped fixture: the shared segmenter of ``SegmentConfig(**options)`` over the module's
    ``cache_dir`` (pytest names it after the module attribute it is assigned to)."""

    @pytest.fixture(scope="module")
    def segmenter(cache_dir: Path) -> Segmenter:
        return get_segmenter(SegmentConfig(cache_dir=cache_dir, **options))

    return segmenter
