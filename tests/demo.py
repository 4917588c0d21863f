"""``make demo``: serve the bundled fixture site on loopback, crawl it, show what was written.

The demo dataset goes to ``output/demo`` (``DEMO_DIR`` overrides), which the
demo empties first so that every run shows the same thing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds

from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.siteserver import SiteServer

SITE = REPO / "tests" / "site" / "www"


def main() -> int:
    out = Path(os.environ.get("DEMO_DIR", REPO / "output" / "demo"))
    if out.exists():
        shutil.rmtree(out)
    with SiteServer(SITE) as server:
        print(f"Serving the fixture site at {server.base_url}/")
        command = crawl_command(server.base_url, out, *NO_DELAY, "-s", "LOG_LEVEL=WARNING")
        print("$ " + " ".join(command[2:]).replace("-m scrapy", "scrapy"))
        status = subprocess.call(command, cwd=REPO)
    summaries = sorted((out / "runs").glob("*.json"))
    if status != 0 or not summaries:
        print(f"demo crawl failed (exit {status}); see the log above", file=sys.stderr)
        return status or 1
    summary = json.loads(summaries[-1].read_text(encoding="utf-8"))
    articles = ds.dataset(out / "articles")
    rejects = ds.dataset(out / "rejects")
    print()
    print(f"Run {summary['run_id']}: {summary['pages_fetched']} pages in {summary['duration_seconds']:.1f}s")
    print(f"  articles written: {summary['articles_written']}  (rows in {out / 'articles'}: {articles.count_rows()})")
    print(f"  rejects by reason: {summary['rejects']}  (rows in {out / 'rejects'}: {rejects.count_rows()})")
    print(f"  errors: {summary['errors'] or 'none'}")
    print(f"  summary: {summaries[-1]}")
    sample = articles.head(3, columns=["article_id", "title", "journal", "year", "issue_label"]).to_pylist()
    for row in sample:
        print(f"  {row}")
    rel = os.path.relpath(out, Path.cwd())
    print()
    print("Read it with pandas (or pyarrow, Polars, Hugging Face datasets: see the dataset card):")
    print(f"  .venv/bin/python -c \"import pandas as pd; print(pd.read_parquet('{rel}/articles'))\"")
    print("or with DuckDB:")
    print(
        f"  .venv/bin/python -c \"import duckdb; duckdb.sql(\\\"SELECT journal, year, count(*) AS n "
        f"FROM read_parquet('{rel}/articles/**/*.parquet') GROUP BY ALL ORDER BY ALL\\\").show()\""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
