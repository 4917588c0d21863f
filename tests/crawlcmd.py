"""The one way the tests, the demo and the benchmarks start a crawl: ``scrapy crawl qikan`` in a subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""Where scrapy.cfg is: the crawl runs from here, as a user would."""

NO_DELAY = (
    "-s", "DOWNLOAD_DELAY=0",
    "-s", "AUTOTHROTTLE_ENABLED=False",
    "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16",
)  # fmt: skip
"""The settings of the issues' checks: a loopback fixture site needs no politeness."""


def crawl_command(base_url: str, dataset_dir: Path | str, *args: str) -> list[str]:
    """``scrapy crawl qikan`` of the site at ``base_url`` into ``dataset_dir``, plus ``args``."""
    return [
        sys.executable, "-m", "scrapy", "crawl", "qikan",
        "-a", f"start_url={base_url}/",
        "-s", f"DATASET_DIR={dataset_dir}",
        *args,
    ]  # fmt: skip
