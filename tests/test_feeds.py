"""Feeds (``-o``/``-O``) and ``scrapy export``, with real crawls of the fixture site on 127.0.0.1.

Feeds get article rows only (also without a dataset), a CSV feed's header is the
article columns, a Parquet feed refuses append mode and unknown options before
the crawl starts, and a second (incremental) crawl's empty feed is explained.
``scrapy export`` writes a stored dataset, all or filtered, in three formats;
the expected counts come from the fixture's ``expected.jsonl``.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipelines.records import ARTICLE_SCHEMA, REJECT_SCHEMA
from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.siteserver import SiteServer

SITE = REPO / "tests" / "site"


def crawl(base_url: str, out: Path | str, *args: str) -> subprocess.CompletedProcess:
    command = crawl_command(base_url, out, *NO_DELAY, "-s", "PROCESS_WORKERS=1", *args)
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def export(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "scrapy", "export", *map(str, args)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def gold() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (SITE / "expected.jsonl").read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def server() -> Iterator[SiteServer]:
    with SiteServer(SITE / "www") as site:
        yield site


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory, server: SiteServer) -> dict[str, Any]:
    """A crawl into a dataset with a Parquet feed, then a second (incremental) one with another."""
    work = tmp_path_factory.mktemp("feeds")
    dataset = work / "dataset"
    first = ok(crawl(server.base_url, dataset, "-O", str(work / "first.parquet")))
    second = ok(crawl(server.base_url, dataset, "-O", str(work / "second.parquet")))
    return {"work": work, "dataset": dataset, "first": first, "second": second}


@pytest.fixture(scope="module")
def without_dataset(tmp_path_factory: pytest.TempPathFactory, server: SiteServer) -> dict[str, Any]:
    """``-s DATASET_DIR=`` with a CSV, a JSON Lines and a Parquet feed that picks and renames columns."""
    work = tmp_path_factory.mktemp("nodataset")
    feeds = {str(work / "picked.parquet"): {"format": "parquet", "overwrite": True,
                                            "fields": {"article_id": "id", "year": "year", "title": "title"}}}
    result = ok(crawl(server.base_url, "", "-O", str(work / "feed.csv"), "-O", str(work / "feed.jsonl"),
                      "-s", f"FEEDS={json.dumps(feeds)}"))
    return {"work": work, "result": result}


def test_csv_feed_has_article_columns_and_article_rows_only(without_dataset, gold) -> None:
    with (without_dataset["work"] / "feed.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [dict(zip(header, row, strict=True)) for row in reader]
    assert header == ARTICLE_SCHEMA.names
    assert sorted(r["article_id"] for r in rows) == sorted(g["article_id"] for g in gold)
    by_id = {g["article_id"]: g for g in gold}
    for row in rows:  # list columns are JSON arrays, whole
        assert json.loads(row["authors"]) == by_id[row["article_id"]]["authors"]


def test_jsonl_feed_gets_no_rejects(without_dataset, gold) -> None:
    lines = (without_dataset["work"] / "feed.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == len(gold)
    assert all(set(row) == set(ARTICLE_SCHEMA.names) for row in rows)
    assert not any("reason" in row for row in rows)


def test_parquet_feed_honours_feed_fields(without_dataset, gold) -> None:
    table = pq.read_table(without_dataset["work"] / "picked.parquet")
    assert table.column_names == ["id", "year", "title"]
    assert str(table.schema.field("year").type) == "int32"
    assert sorted(table.column("id").to_pylist()) == sorted(g["article_id"] for g in gold)


def test_parquet_feed_refuses_append(tmp_path: Path, server: SiteServer) -> None:
    target = tmp_path / "x.parquet"
    target.write_bytes(b"not ours to touch")
    result = crawl(server.base_url, tmp_path / "dataset", "-o", str(target))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot be appended" in lines[0] and f"-O {target}" in lines[0]
    assert target.read_bytes() == b"not ours to touch"
    assert not (tmp_path / "dataset").exists()  # refused before anything started


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"FEED_EXPORT_FIELDS": "title,nonsense"}, "nonsense"),
        ({"FEEDS": json.dumps({"OUT": {"format": "parquet", "overwrite": True, "item_export_kwargs": {"bogus": 1}}})},
         "bogus"),
    ],
)
def test_parquet_feed_refuses_unknown_fields_and_options(tmp_path: Path, server: SiteServer, settings, words) -> None:
    target = tmp_path / "x.parquet"
    args = [arg for name, value in settings.items() for arg in ("-s", f"{name}={value.replace('OUT', str(target))}")]
    if "FEEDS" not in settings:
        args += ["-O", str(target)]
    result = crawl(server.base_url, tmp_path / "dataset", *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and words in result.stderr
    assert not target.exists()


def test_first_feed_holds_the_run_rows(stored, gold) -> None:
    table = pq.read_table(stored["work"] / "first.parquet")
    assert sorted(table.column("article_id").to_pylist()) == sorted(g["article_id"] for g in gold)


def test_empty_incremental_feed_is_explained(stored) -> None:
    assert pq.read_table(stored["work"] / "second.parquet").num_rows == 0
    runs = [json.loads(p.read_text()) for p in sorted((stored["dataset"] / "runs").glob("*.json"))]
    second = next(run for run in runs if run["articles_written"] == 0)
    first = next(run for run in runs if run["articles_written"] > 0)
    assert first["feed_note"] is None
    note = second["feed_note"]
    assert "got no rows" in note and "already stored" in note and "scrapy export" in note
    assert str(stored["work"] / "second.parquet") in note
    assert f"WARNING: Run {second['run_id']}: {note}" in stored["second"].stderr


def test_export_all_articles_to_each_format(stored, gold) -> None:
    work, dataset = stored["work"], stored["dataset"]
    ids = sorted(g["article_id"] for g in gold)
    ok(export(dataset, "-O", work / "all.parquet"))
    table = pq.read_table(work / "all.parquet")
    assert table.schema.remove_metadata() == ARTICLE_SCHEMA.remove_metadata()
    assert sorted(table.column("article_id").to_pylist()) == ids
    ok(export(dataset, "-O", work / "all.jsonl"))
    rows = [json.loads(line) for line in (work / "all.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["article_id"] for r in rows) == ids
    ok(export(dataset, "-O", work / "all.txt", "-t", "csv"))
    with (work / "all.txt").open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    assert sorted(r["article_id"] for r in records) == ids
    assert list(records[0]) == ARTICLE_SCHEMA.names
    assert not list(work.glob("*.inprogress"))


def test_export_filters_by_journal_and_year(stored, gold) -> None:
    work, dataset = stored["work"], stored["dataset"]
    journal = gold[0]["journal"]
    years = sorted({g["year"] for g in gold if g["journal"] == journal and g["year"] is not None})[:2]
    wanted = sorted(g["article_id"] for g in gold if g["journal"] == journal and g["year"] in years)
    result = ok(export(dataset, "-O", work / "some.jsonl", "--journal", journal, "--year", ",".join(map(str, years))))
    rows = [json.loads(line) for line in (work / "some.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["article_id"] for r in rows) == wanted and wanted
    assert result.stdout.startswith(f"{len(wanted)} articles")
    other = min({g["journal"] for g in gold} - {journal})
    two = sorted(g["article_id"] for g in gold if g["journal"] in (journal, other) and g["year"] == years[0])
    ok(export(dataset, "-O", work / "two.parquet", "--journal", journal, "--journal", other, "--year", str(years[0])))
    assert sorted(pq.read_table(work / "two.parquet").column("article_id").to_pylist()) == two
    unknown = [g["article_id"] for g in gold if g["year"] is None]
    ok(export(dataset, "-O", work / "noyear.parquet", "--year", "none"))
    assert sorted(pq.read_table(work / "noyear.parquet").column("article_id").to_pylist()) == sorted(unknown)


def test_export_rejects(stored) -> None:
    work, dataset = stored["work"], stored["dataset"]
    ok(export(dataset, "-O", work / "rejects.parquet", "--rejects"))
    table = pq.read_table(work / "rejects.parquet")
    assert table.schema.remove_metadata() == REJECT_SCHEMA.remove_metadata()
    runs = [json.loads(p.read_text()) for p in (dataset / "runs").glob("*.json")]
    assert table.num_rows == sum(run["rejects_written"] for run in runs) > 0


@pytest.mark.parametrize(
    "args, words",
    [
        (["-o", "{work}/all.parquet"], "exists; use -O"),
        (["-O", "{work}/x.xlsx"], "names no export format"),
        (["-O", "{work}/x.csv", "--year", "MMXIX"], "--year takes years"),
        (["-O", "{work}/x.csv", "--rejects", "--journal", "x"], "rejects have neither"),
        (["-O", "{dataset}/articles/x.parquet"], "inside the dataset"),
        ([], "give the file to write"),
    ],
)
def test_export_usage_errors_are_one_line_exit_2(stored, args, words) -> None:
    existing = stored["work"] / "all.parquet"
    if not existing.exists():
        ok(export(stored["dataset"], "-O", existing))
    before = existing.read_bytes()
    result = export(stored["dataset"], *(a.format(work=stored["work"], dataset=stored["dataset"]) for a in args))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and words in result.stderr
    assert existing.read_bytes() == before


def test_export_of_a_missing_dataset_fails(tmp_path: Path) -> None:
    result = export(tmp_path / "nothing", "-O", tmp_path / "x.parquet")
    assert result.returncode == 1
    assert f"no dataset folder at {tmp_path / 'nothing'}" in result.stderr
    assert not (tmp_path / "x.parquet").exists()
