"""Compaction: one row per article (the newest), few files, an atomic swap that readers never see half of."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from pipelines.card import write_dataset_card, year_partitioning
from pipelines.compact import CompactError, compact, data_files
from pipelines.dataset import DatasetWriter
from pipelines.records import ARTICLE_SCHEMA, REJECT_SCHEMA, ArticleRecord, RejectRecord, to_row

PROJECT = Path(__file__).resolve().parents[1]
BASE = "http://127.0.0.1:8000"
T1 = dt.datetime(2026, 11, 1, 8, 0, 0, 123000, tzinfo=dt.timezone.utc)
T2 = dt.datetime(2026, 11, 8, 8, 0, 0, 456000, tzinfo=dt.timezone.utc)
RUN_A = "20261101T080000Z-aaaaaa"
RUN_B = "20261108T080000Z-bbbbbb"
YEARS = (2018, 2019, None)


def article(article_id: str, year: int | None, fetched_at: dt.datetime, title: str) -> dict:
    body = f"正文{article_id}{title}"
    return to_row(
        ArticleRecord(
            article_id=article_id, url=f"{BASE}/paper/{article_id}.html", title=title, authors=["张三"],
            affiliations=[], journal="基层建设", year=year, issue=6, issue_label="第6期",
            published_date=dt.date(2019, 4, 28), body=body, tags=[], keywords=["正文"], tokens=["正文", article_id],
            char_count=len(body), content_sha1="0" * 40, fetched_at=fetched_at,
        )
    )


def reject(url: str, reason: str, fetched_at: dt.datetime) -> dict:
    return to_row(RejectRecord(url=url, reason=reason, stage="fetch", detail=reason, status=503, fetched_at=fetched_at))


def write_run(root: Path, run_id: str, articles: list[dict], rejects: list[dict] = (), worker: str = "w") -> None:
    """What a crawl with two workers and tiny files leaves: several files per partition."""
    for name, schema, rows, partition in (("articles", ARTICLE_SCHEMA, articles, "year"),
                                          ("rejects", REJECT_SCHEMA, rejects, None)):
        writers = [DatasetWriter(root / name, schema, run_id=run_id, worker_id=f"{worker}{i}", partition_by=partition,
                                 row_group_rows=5, max_rows_per_file=7) for i in (1, 2)]
        for i, row in enumerate(rows):
            writers[i % 2].write(row)
        for writer in writers:
            writer.commit()


def read_articles(root: Path) -> list[dict]:
    return ds.dataset(root / "articles", format="parquet", partitioning=year_partitioning()).to_table().to_pylist()


def files_per_partition(root: Path) -> Counter[str]:
    return Counter(p.parent.name for p in data_files(root / "articles"))


def two_runs(root: Path, n: int = 30) -> None:
    write_run(root, RUN_A, [article(str(100 + i), YEARS[i % 3], T1, "old") for i in range(n)])
    write_run(root, RUN_B, [article(str(100 + i), YEARS[i % 3], T2, "new") for i in range(n)])


def test_two_runs_compact_to_one_row_per_article_the_newest(tmp_path: Path) -> None:
    two_runs(tmp_path)
    write_run(tmp_path, RUN_A, [article("1", 2018, T1, "only in A"), article("2", 2018, T1, "moves to 2019"),
                                article("3", 2020, T1, "moves to 2018")], worker="x")
    write_run(tmp_path, RUN_B, [article("2", 2019, T2, "new year"), article("3", 2018, T2, "older year")], worker="x")
    old_files = data_files(tmp_path / "articles")
    assert max(files_per_partition(tmp_path).values()) > 2

    summary = compact(tmp_path)

    rows = read_articles(tmp_path)
    assert Counter(r["article_id"] for r in rows).most_common(1)[0][1] == 1
    by_id = {r["article_id"]: r for r in rows}
    assert len(by_id) == 33
    assert all(by_id[str(100 + i)]["title"] == "new" and by_id[str(100 + i)]["fetched_at"] == T2 for i in range(30))
    assert by_id["1"]["title"] == "only in A"
    assert (by_id["2"]["year"], by_id["3"]["year"]) == (2019, 2018)  # newest copy, wherever it sits
    assert set(files_per_partition(tmp_path).values()) == {1}
    assert not any(p.exists() for p in old_files)
    assert all(summary["run_id"] in p.name for p in data_files(tmp_path / "articles"))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".compact.lock"]
    assert summary["articles"]["rows_before"] == 65 and summary["articles"]["rows_after"] == 33
    assert summary["articles"]["files_after"] == 3  # 2018, 2019 and null: nothing is left in 2020
    assert summary["articles"]["runs_merged"] == [RUN_A, RUN_B]
    assert (tmp_path / "runs" / f"{summary['run_id']}.json").is_file()

    # Compacting again changes nothing but the file names.
    again = compact(tmp_path)
    assert again["articles"]["rows_after"] == 33 and again["articles"]["files_before"] == 3


def test_ties_go_to_the_newest_run(tmp_path: Path) -> None:
    write_run(tmp_path, RUN_B, [article("7", 2019, T1, "rebuilt with new rules")])
    write_run(tmp_path, RUN_A, [article("7", 2019, T1, "first crawl")])
    compact(tmp_path)
    (row,) = read_articles(tmp_path)
    assert row["title"] == "rebuilt with new rules"


def test_rejects_keep_the_newest_per_url_and_drop_pages_now_in_articles(tmp_path: Path) -> None:
    write_run(tmp_path, RUN_A, [article("5", 2019, T1, "a")],
              [reject(f"{BASE}/journal/x/", "http_status", T1), reject(f"{BASE}/m/paper/6.html", "http_status", T1),
               reject(f"{BASE}/paper/999.html", "soft_404", T1)])
    write_run(tmp_path, RUN_B, [article("6", 2019, T2, "b")], [reject(f"{BASE}/journal/x/", "not_article", T2)])

    summary = compact(tmp_path)

    rejects = ds.dataset(tmp_path / "rejects", format="parquet").to_table().sort_by("url").to_pylist()
    assert [(r["url"], r["reason"]) for r in rejects] == [
        (f"{BASE}/journal/x/", "not_article"),
        (f"{BASE}/paper/999.html", "soft_404"),
    ]
    assert summary["rejects"]["rows_before"] == 4 and summary["rejects"]["files_after"] == 1


def test_a_concurrent_reader_sees_the_old_rows_or_the_new_ones_only(tmp_path: Path) -> None:
    two_runs(tmp_path, n=60)
    old_ids = Counter(r["article_id"] for r in read_articles(tmp_path))
    new_ids = Counter(set(old_ids))
    seen: list[str] = []
    failures = Counter()
    started, finished = threading.Event(), threading.Event()

    def reader() -> None:
        after = 0
        for _ in range(5000):  # bounded; ends a few reads after the compaction
            try:
                table = ds.dataset(tmp_path / "articles", format="parquet",
                                   partitioning=year_partitioning()).to_table(columns=["article_id"])
            except FileNotFoundError as exc:  # a file listed before the swap is gone after it: read again
                failures[type(exc).__name__] += 1
                continue
            ids = Counter(table.column("article_id").to_pylist())
            seen.append("old" if ids == old_ids else "new" if ids == new_ids else f"MIXED {sum(ids.values())} rows")
            started.set()
            if finished.is_set():
                after += 1
                if after >= 3:
                    return

    thread = threading.Thread(target=reader)
    thread.start()
    assert started.wait(timeout=60)
    compact(tmp_path)
    finished.set()
    thread.join(timeout=60)

    assert not thread.is_alive()
    assert set(seen) <= {"old", "new"}, Counter(seen)
    assert seen[0] == "old" and seen[-1] == "new"


def test_refuses_while_a_writer_is_active_and_cleans_up_after_a_crash(tmp_path: Path) -> None:
    two_runs(tmp_path, n=6)
    active = tmp_path / "articles" / "year=2019" / ".part-20261125T000000Z-live01-00001.parquet.inprogress"
    active.write_bytes(b"PAR1")
    leftover = tmp_path / ".articles.compact-20261101T000000Z-compact-dead01"
    (leftover / "year=2019").mkdir(parents=True)

    with pytest.raises(CompactError, match="being written"):
        compact(tmp_path)
    assert len(read_articles(tmp_path)) == 12  # nothing changed

    old = os.stat(active).st_mtime - 3600
    os.utime(active, (old, old))  # an hour old: a crashed writer's leftover, not a live one
    compact(tmp_path)
    assert len(read_articles(tmp_path)) == 6
    assert not active.exists() and not leftover.exists()


def test_compact_command_and_card(tmp_path: Path) -> None:
    two_runs(tmp_path)
    done = subprocess.run([sys.executable, "-m", "scrapy.cmdline", "compact", str(tmp_path)], cwd=PROJECT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "articles: 60 rows -> 30" in done.stdout

    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "| articles (rows) | 30 |" in card
    assert f"`{RUN_A}`" in card and "compact" in card
    # The card's DuckDB query works as printed, from the dataset folder.
    sql = card.split("```sql\n", 1)[1].split("```", 1)[0]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        rows = duckdb.sql(sql).fetchall()
    finally:
        os.chdir(cwd)
    assert sorted(rows, key=str) == sorted([("基层建设", 2018, 10), ("基层建设", 2019, 10), ("基层建设", None, 10)], key=str)
    assert write_dataset_card(tmp_path) == str(tmp_path / "README.md")
