"""``make bench``: speed and memory, printed so that runs can be compared.

1. The offline pipeline (decode, extract, normalise, segment, write), as
   ``scrapy rebuild`` of a generated archive: pages/s, peak RSS, and pure jieba
   segmentation alone over the same bodies (the floor), with the fast engine's
   bodies/s and token equality over the same bodies.
2. A real crawl of a generated site on 127.0.0.1 with segmentation on and off.
3. The crawl's memory: a 3,000-article site crawled with default settings plus no delay,
   the crawl process's and its process tree's peak RSS (:mod:`tests.bench_crawlmem`).

Nothing is asserted: numbers depend on the machine and its load (printed too).
``BENCH_PAGES`` (default "2000 3000"), ``BENCH_CRAWL_ARTICLES`` (default 500) and
``BENCH_MEMORY_ARTICLES`` (default "1000 3000") change the sizes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from pipelines.procs import usable_cpus
from tests import bench_crawl, bench_crawlmem, bench_rebuild


def main() -> int:
    work = Path(os.environ.get("BENCH_DIR") or Path(tempfile.gettempdir()) / "qikan-bench")
    pages = os.environ.get("BENCH_PAGES", "2000 3000").split()
    articles = int(os.environ.get("BENCH_CRAWL_ARTICLES", "500"))
    print(f"usable CPUs {usable_cpus()}, load {os.getloadavg()[0]:.2f}; work folder {work}")
    print("\n== offline pipeline (scrapy rebuild of a WARC archive, bodies of ~3,000 characters)")
    bench_rebuild.main(["--pages", *pages, "--dir", str(work)])
    print(f"\n== crawl of a {articles}-article site on 127.0.0.1, no delay")
    bench_crawl.print_crawl(bench_crawl.measure_crawl(articles, 3000, work))
    print("\n== crawl memory (default settings plus no delay; RSS sampled every 0.2 s)")
    for size in os.environ.get("BENCH_MEMORY_ARTICLES", "1000 3000").split():
        www = bench_crawlmem.ensure_site(work, int(size), 3000)
        bench_crawlmem.print_memory(bench_crawlmem.measure_crawl_memory(www, work / "out-crawlmem"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
