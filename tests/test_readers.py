"""A crawled dataset opens with every common reader's default call: all rows, SPEC types, `year` an integer.

What issue 13 found users typing first: pandas, pyarrow.parquet, pyarrow.dataset,
Polars and DuckDB on ``DIR/articles``, and Hugging Face ``datasets.load_dataset(DIR)``
with ``articles`` the default configuration and ``rejects`` a second one (from the
card's YAML header). ``datasets`` runs offline in a subprocess, its cache in tmp.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipelines.records import ARTICLE_SCHEMA
from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.siteserver import SiteServer

SITE = REPO / "tests" / "site"


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A real crawl of the fixture site; the dataset folder and its run summary."""
    out = tmp_path_factory.mktemp("readers") / "dataset"
    with SiteServer(SITE / "www") as server:
        command = crawl_command(server.base_url, out, *NO_DELAY, "-s", "PROCESS_WORKERS=1", "-s", "LOG_LEVEL=WARNING")
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-5000:]
    (summary_file,) = (out / "runs").glob("*.json")
    return out, json.loads(summary_file.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def gold_years() -> dict[str, int | None]:
    lines = (SITE / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["article_id"]: row["year"] for row in map(json.loads, lines)}


def test_the_layout_has_no_hive_folders_and_nothing_half_written(crawled) -> None:
    out, _ = crawled
    folders = {p.name for p in (out / "articles").iterdir()}
    assert folders and all(name.isdigit() or name == "no-year" for name in folders), folders
    visible = [p for p in out.rglob("*.parquet") if not any(part.startswith(".") for part in p.relative_to(out).parts)]
    assert all(p.relative_to(out).parts[0] in ("articles", "rejects") for p in visible)
    assert list(out.rglob("*.inprogress")) == []


def test_pandas(crawled, gold_years) -> None:
    out, _ = crawled
    frame = pd.read_parquet(out / "articles")
    assert len(frame) == len(gold_years)
    assert str(frame["year"].dtype) == "Int32"  # nullable integer, not float64
    years = {a: (None if pd.isna(y) else int(y)) for a, y in zip(frame["article_id"], frame["year"], strict=True)}
    assert years == gold_years


def test_pyarrow_parquet_and_dataset(crawled, gold_years) -> None:
    out, summary = crawled
    for table in (pq.read_table(out / "articles"), ds.dataset(out / "articles").to_table()):
        assert table.num_rows == len(gold_years)
        for field in ARTICLE_SCHEMA:
            assert table.schema.field(field.name).type == field.type, field.name
        assert dict(zip(table["article_id"].to_pylist(), table["year"].to_pylist(), strict=True)) == gold_years
    assert pq.read_table(out / "rejects").num_rows == summary["rejects_written"]
    # Pruning by year still works, by the column (the folders name the same year).
    some_year = next(y for y in gold_years.values() if y is not None)
    pruned = ds.dataset(out / "articles").to_table(filter=ds.field("year") == some_year)
    assert pruned.num_rows == sum(1 for y in gold_years.values() if y == some_year)


def test_polars(crawled, gold_years) -> None:
    out, _ = crawled
    frame = pl.read_parquet(f"{out}/articles/**/*.parquet")
    assert frame.height == len(gold_years)
    assert frame.schema["year"] == pl.Int32
    assert frame["year"].null_count() == sum(1 for y in gold_years.values() if y is None)


def test_duckdb(crawled, gold_years) -> None:
    out, summary = crawled
    ((rows, year_type, nulls),) = duckdb.sql(
        f"SELECT count(*), any_value(typeof(year)), count(*) - count(year) FROM read_parquet('{out}/articles/**/*.parquet')"
    ).fetchall()
    assert (rows, year_type, nulls) == (len(gold_years), "INTEGER", sum(1 for y in gold_years.values() if y is None))
    ((rejects,),) = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/rejects/**/*.parquet')").fetchall()
    assert rejects == summary["rejects_written"]


LOAD_DATASET = """
import json, sys
import datasets, huggingface_hub
root = sys.argv[1]
result = {}
for config in (None, "rejects"):
    split = datasets.load_dataset(root, config, split="train")
    result[config or "default"] = {"rows": split.num_rows, "columns": split.column_names,
                                   "year": str(split.features.get("year", "")),
                                   "nulls": sum(1 for y in split["year"] if y is None) if "year" in split.column_names else 0}
card = huggingface_hub.DatasetCard.load(f"{root}/README.md").data  # the Hub's own parser of the header
result["card"] = {"license": card.license, "configs": [c["config_name"] for c in card.configs]}
print(json.dumps(result))
"""


def test_hugging_face_datasets_offline(crawled, gold_years, tmp_path: Path) -> None:
    out, summary = crawled
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and ":class:" not in card and ":func:" not in card
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets"),
    }
    done = subprocess.run([sys.executable, "-c", LOAD_DATASET, str(out)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-5000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    articles, rejects = result["default"], result["rejects"]
    assert articles["rows"] == len(gold_years)
    assert articles["columns"] == ARTICLE_SCHEMA.names
    assert "int32" in articles["year"]
    assert articles["nulls"] == sum(1 for y in gold_years.values() if y is None)
    assert rejects["rows"] == summary["rejects_written"]
    assert "reason" in rejects["columns"] and "title" not in rejects["columns"]  # two configurations, not merged
    assert result["card"] == {"license": "other", "configs": ["articles", "rejects"]}
