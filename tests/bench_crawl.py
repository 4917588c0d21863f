"""Crawl benchmark: pages/s of a real crawl with segmentation on and off.

Serves a generated site (``tests.sitegen``, bodies of ``body_chars``) on
127.0.0.1 and crawls it with no delay, four ways: segmentation on/off, page
processing in the worker pool (the default) or in the crawl process
(``PROCESS_WORKERS=0``). The slowdown of "on" over "off" is what segmentation
costs the crawl; the in-process rows show what the pool buys.

Usage: ``python -m tests.bench_crawl [--articles 500] [--body-chars 3000]``
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.sitegen import build_site
from tests.siteserver import SiteServer

VARIANTS: dict[str, tuple[str, ...]] = {
    "pool, segmentation on": (),
    "pool, segmentation off": ("-s", "SEGMENT_ENABLED=False"),
    "in-process, segmentation on": ("-s", "PROCESS_WORKERS=0"),
    "in-process, segmentation off": ("-s", "PROCESS_WORKERS=0", "-s", "SEGMENT_ENABLED=False"),
}


def crawl_once(base_url: str, out: Path, extra: tuple[str, ...]) -> dict[str, Any]:
    command = crawl_command(base_url, out, *NO_DELAY, "-s", "LOG_LEVEL=WARNING", *extra)
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    (summary,) = (out / "runs").glob("*.json")
    return json.loads(summary.read_text(encoding="utf-8"))


def measure_crawl(articles: int = 500, body_chars: int = 3000, work: Path | None = None) -> list[dict[str, Any]]:
    """One crawl per variant; returns rows of pages, seconds, pages/s and peak RSS (MB, crawl process)."""
    work = work or Path(tempfile.mkdtemp(prefix="qikan-bench-crawl-"))
    site = work / f"site-{articles}-{body_chars}"
    if not (site / "manifest.json").is_file():
        per_issue = max(1, math.ceil(articles / 20))
        build_site(site, seed=1, journals=4, issues_per_journal=5, articles_per_issue=per_issue, body_chars=body_chars)
    rows = []
    with SiteServer(site / "www") as server:
        for name, extra in VARIANTS.items():
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            summary = crawl_once(server.base_url, out, extra)
            rows.append(
                {
                    "variant": name,
                    "pages": summary["pages_fetched"],
                    "articles": summary["articles_written"],
                    "seconds": summary["duration_seconds"],
                    "pages_per_s": summary["pages_per_second"],
                    "peak_rss_mb": summary.get("peak_rss_mb"),
                }
            )
    return rows


def print_crawl(rows: list[dict[str, Any]]) -> None:
    off = {r["variant"].split(",")[0]: r["pages_per_s"] for r in rows if r["variant"].endswith("off")}
    print(f"{'crawl':32} {'pages':>6} {'articles':>8} {'seconds':>8} {'pages/s':>8} {'vs off':>8}")
    for r in rows:
        slowdown = 1 - r["pages_per_s"] / off[r["variant"].split(",")[0]]
        print(f"{r['variant']:32} {r['pages']:>6} {r['articles']:>8} {r['seconds']:>8.1f} {r['pages_per_s']:>8.1f} {-slowdown:>+8.0%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench_crawl", description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--body-chars", type=int, default=3000)
    args = parser.parse_args(argv)
    print_crawl(measure_crawl(args.articles, args.body_chars))
    return 0


if __name__ == "__main__":
    sys.exit(main())
