"""Compaction: one row per article (the newest), in place or merged, no committed row lost, no reader failing."""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipelines import compact as compaction
from pipelines import leases
from pipelines.card import write_dataset_card
from pipelines.compact import CompactError, data_files
from pipelines.dataset import DatasetWriter
from pipelines.records import ARTICLE_SCHEMA, REJECT_SCHEMA, ArticleRecord, RejectRecord, to_row
from pipelines.state import StoredArticles

PROJECT = Path(__file__).resolve().parents[1]
BASE = "http://127.0.0.1:8000"
T1 = dt.datetime(2026, 11, 1, 8, 0, 0, 123000, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 11, 8, 8, 0, 0, 456000, tzinfo=dt.UTC)
RUN_A = "20261101T080000Z-aaaaaa"
RUN_B = "20261108T080000Z-bbbbbb"
YEARS = (2018, 2019, None)
compact = functools.partial(compaction.compact, grace_seconds=0)
"""No grace period where no reader runs: the tests that read during a compaction give one."""


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
    return ds.dataset(root / "articles").to_table().to_pylist()


def files_per_partition(root: Path) -> Counter[str]:
    return Counter(p.parent.name for p in data_files(root / "articles"))


def two_runs(root: Path, n: int = 30) -> None:
    write_run(root, RUN_A, [article(str(100 + i), YEARS[i % 3], T1, "old") for i in range(n)])
    write_run(root, RUN_B, [article(str(100 + i), YEARS[i % 3], T2, "new") for i in range(n)])


def three_runs(root: Path) -> None:
    """Two full runs, plus articles that only one run has or that moved from one year to another."""
    two_runs(root)
    write_run(root, RUN_A, [article("1", 2018, T1, "only in A"), article("2", 2018, T1, "moves to 2019"),
                            article("3", 2020, T1, "moves to 2018")], worker="x")
    write_run(root, RUN_B, [article("2", 2019, T2, "new year"), article("3", 2018, T2, "older year")], worker="x")


def assert_newest_rows(root: Path) -> None:
    rows = read_articles(root)
    assert Counter(r["article_id"] for r in rows).most_common(1)[0][1] == 1
    by_id = {r["article_id"]: r for r in rows}
    assert len(by_id) == 33
    assert all(by_id[str(100 + i)]["title"] == "new" and by_id[str(100 + i)]["fetched_at"] == T2 for i in range(30))
    assert by_id["1"]["title"] == "only in A"
    assert (by_id["2"]["year"], by_id["3"]["year"]) == (2019, 2018)  # newest copy, wherever it sits


def assert_nothing_left_behind(root: Path, summary: dict) -> None:
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".")) == [".leases", ".staging"]
    assert [p for p in (root / ".staging").rglob("*") if p.is_file()] == []
    assert list((root / ".leases").iterdir()) == []  # the compaction marker is gone
    assert (root / "runs" / f"{summary['run_id']}.json").is_file()


def test_in_place_keeps_every_path_and_the_newest_row_per_article(tmp_path: Path) -> None:
    three_runs(tmp_path)
    old_files = data_files(tmp_path / "articles")
    run_a = [p for p in old_files if RUN_A in p.name]
    one_only = next(p for p in run_a if "1" in pq.read_table(p, columns=["article_id"]).column(0).to_pylist())
    mtimes = {p: p.stat().st_mtime_ns for p in old_files}

    summary = compact(tmp_path)

    assert_newest_rows(tmp_path)
    assert data_files(tmp_path / "articles") == old_files  # no path a reader listed went away
    rows_per_file = {p: pq.read_metadata(p).num_rows for p in old_files}
    assert all(rows_per_file[p] == 0 for p in run_a if p != one_only) and rows_per_file[one_only] == 1
    untouched = {p for p in old_files if p.stat().st_mtime_ns == mtimes[p]}  # files that lost no row
    assert untouched == {p for p in old_files if RUN_B in p.name} | {one_only}
    assert pq.read_schema(run_a[0]).metadata[b"qikan.run_id"] == RUN_A.encode()  # still that run's file
    assert_nothing_left_behind(tmp_path, summary)
    part = summary["articles"]
    assert (part["rows_before"], part["rows_after"], part["files_before"]) == (65, 33, len(old_files))
    assert part["files_rewritten"] == part["files_emptied"] == len(run_a) - 1
    assert part["files_after"] == len(old_files) - part["files_emptied"]
    assert part["runs_merged"] == [RUN_A, RUN_B] and summary["mode"] == "in_place"

    # Every default reader opens a dataset with files of no rows.
    assert len(pd.read_parquet(tmp_path / "articles")) == 33
    assert duckdb.sql(f"select count(*) from read_parquet('{tmp_path}/articles/*/*.parquet')").fetchall() == [(33,)]
    assert pl.read_parquet(tmp_path / "articles" / "*" / "*.parquet").height == 33

    again = compact(tmp_path)  # nothing left to drop: nothing is rewritten
    assert again["articles"]["rows_after"] == 33 and again["articles"]["files_rewritten"] == 0


def test_merge_folds_each_partition_into_one_file(tmp_path: Path) -> None:
    three_runs(tmp_path)
    compact(tmp_path)  # in place first: merging also drops the files left with no rows
    old_files = data_files(tmp_path / "articles")
    assert max(files_per_partition(tmp_path).values()) > 2

    summary = compact(tmp_path, merge=True)

    assert_newest_rows(tmp_path)
    assert set(files_per_partition(tmp_path).values()) == {1}
    assert not any(p.exists() for p in old_files)
    assert all(summary["run_id"] in p.name for p in data_files(tmp_path / "articles"))
    assert_nothing_left_behind(tmp_path, summary)
    assert summary["articles"]["rows_before"] == 33 and summary["articles"]["rows_after"] == 33
    assert summary["articles"]["files_after"] == 3  # 2018, 2019 and null: nothing is left in 2020
    assert summary["articles"]["runs_merged"] == [RUN_A, RUN_B] and summary["mode"] == "merge"

    # Merging again changes nothing but the file names.
    again = compact(tmp_path, merge=True)
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
    assert summary["rejects"]["rows_before"] == 4 and summary["rejects"]["rows_after"] == 2
    assert summary["rejects"]["files_after"] == 2  # in place: a kept row stays in its own file


def read_in_a_loop_during(tmp_path: Path, run: Callable[[], dict]
                          ) -> tuple[list[int], list[tuple[Exception, float, float]], dict]:
    """The issue's reader (list the folder, then open every file) in a tight loop while ``run`` compacts;
    every read must hold every article. Returns the row counts read, the failed reads (with when each
    started and ended, ``time.monotonic()``) and the summary."""
    ids = set(r["article_id"] for r in read_articles(tmp_path))
    counts: list[int] = []
    errors: list[tuple[Exception, float, float]] = []
    started, finished = threading.Event(), threading.Event()

    def reader() -> None:
        after = 0
        while after < 3 and len(counts) < 20000:  # ends a few reads after the compaction
            began = time.monotonic()
            try:
                table = pq.read_table(tmp_path / "articles", columns=["article_id"])
            except (OSError, ValueError) as exc:
                errors.append((exc, began, time.monotonic()))
                continue
            assert set(table.column("article_id").to_pylist()) == ids
            counts.append(table.num_rows)
            started.set()
            after += finished.is_set()

    thread = threading.Thread(target=reader)
    thread.start()
    assert started.wait(timeout=60)
    summary = run()
    finished.set()
    thread.join(timeout=60)
    assert not thread.is_alive()
    return counts, errors, summary


def test_readers_never_fail_nor_miss_a_row_during_a_forced_compaction(tmp_path: Path) -> None:
    """In place, every path stays and each is renamed over atomically: no read fails, every read
    sees every article (once or twice: old and rewritten files side by side)."""
    two_runs(tmp_path, n=60)
    writer = leases.acquire_writer(str(tmp_path), "crawl", "20261201T000000Z-live01")  # a crawl is running: --force
    counts, errors, summary = read_in_a_loop_during(tmp_path, lambda: compaction.compact(tmp_path, force=True))
    writer.release()

    assert errors == []
    assert counts[0] == 120 and counts[-1] == 60 and set(counts) <= set(range(60, 121)) and len(counts) > 3
    assert summary["forced"] and summary["articles"]["files_emptied"] == summary["articles"]["files_rewritten"]


def test_readers_during_a_merge_see_every_row_and_fail_at_most_at_the_deletion(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Merging publishes the merged files next to the old ones, then deletes the old ones: a read that
    lists the folder and opens a file after that deletion fails with FileNotFoundError (a limit of
    reading by listing, see README: merge when nobody reads), and the next read succeeds."""
    two_runs(tmp_path, n=60)
    replaced = {p.name for p in data_files(tmp_path / "articles")}
    deletion: list[float] = []  # when the old files' deletion started and ended
    retire = compaction._retire

    def timed_retire(*args: Any) -> None:
        deletion.append(time.monotonic())
        retire(*args)
        deletion.append(time.monotonic())

    monkeypatch.setattr(compaction, "_retire", timed_retire)
    counts, errors, summary = read_in_a_loop_during(
        tmp_path, lambda: compaction.compact(tmp_path, merge=True, grace_seconds=1.0))

    assert counts[0] == 120 and counts[-1] == 60  # two rows per article before, one after
    assert 180 in counts and set(counts) <= set(range(60, 181)) and len(counts) > 10
    assert all(isinstance(e, FileNotFoundError) for e, _, _ in errors), errors
    assert all(any(name in str(e) for name in replaced) for e, _, _ in errors), errors
    # Only a read that overlapped the deletion of the old files fails (how many do depends on the
    # scheduler: one per file deleted at most); every read that started after it succeeded.
    assert all(began <= max(deletion) and ended >= min(deletion) for _, began, ended in errors), (errors, deletion)
    assert len(errors) <= len(replaced), errors
    assert summary["grace_seconds"] == 1.0


@pytest.mark.parametrize("where", ["staging", "older layout"])
def test_refuses_while_a_writer_is_active_and_cleans_up_after_a_crash(tmp_path: Path, where: str) -> None:
    two_runs(tmp_path, n=6)
    name = "part-20261125T000000Z-live01-00001.parquet"
    if where == "staging":
        active = tmp_path / ".staging" / "articles" / "2019" / f"{name}.inprogress"
    else:  # a writer of the older layout wrote dot-files next to the committed ones
        active = tmp_path / "articles" / "year=2019" / f".{name}.inprogress"
    active.parent.mkdir(parents=True, exist_ok=True)
    active.write_bytes(b"PAR1")
    leftover = tmp_path / ".articles.compact-20261101T000000Z-compact-dead01"
    (leftover / "2019").mkdir(parents=True)

    with pytest.raises(CompactError, match="being written.*--force"):
        compact(tmp_path)
    assert len(read_articles(tmp_path)) == 12  # nothing changed

    old = os.stat(active).st_mtime - 7200
    os.utime(active, (old, old))  # two hours old: a crashed writer's leftover, not a live one
    compact(tmp_path)
    assert len(read_articles(tmp_path)) == 6
    assert not active.exists() and not leftover.exists()


def test_a_file_committed_during_a_compaction_is_kept(tmp_path: Path) -> None:
    """A writer that checked for the compaction marker just before it was taken still publishes:
    a merge deletes only the files it indexed, so that file and its rows stay (in place, nothing
    is deleted at all)."""
    two_runs(tmp_path, n=9)
    lease = leases.acquire_writer(str(tmp_path), "crawl", "20261201T000000Z-late01")
    late = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id="20261201T000000Z-late01", partition_by="year",
                         honour_compaction=False)
    late.write(article("900", 2019, T2, "committed during the compaction"))
    late.prepare()

    def publish_during_grace(seconds: float) -> None:
        late.publish()

    summary = compaction.compact(tmp_path, merge=True, force=True, grace_seconds=0.01, sleep=publish_during_grace)
    lease.release()

    rows = {r["article_id"]: r for r in read_articles(tmp_path)}
    assert len(rows) == 10 and rows["900"]["title"] == "committed during the compaction"
    assert summary["articles"]["files_committed_meanwhile"] == 1
    assert compact(tmp_path)["articles"]["rows_after"] == 10


def to_legacy_layout(root: Path) -> None:
    """Rename year folders to the ``year=NNNN`` form that crawls wrote before the current layout."""
    for folder in list((root / "articles").iterdir()):
        legacy = "__HIVE_DEFAULT_PARTITION__" if folder.name == "no-year" else folder.name
        folder.rename(folder.with_name(f"year={legacy}"))


def test_compact_migrates_the_older_year_equals_layout(tmp_path: Path) -> None:
    two_runs(tmp_path, n=9)
    to_legacy_layout(tmp_path)
    (tmp_path / "README.md").write_text("# qikan: Chinese journal articles\n\nan older card\n", encoding="utf-8")
    assert sorted(p.name for p in (tmp_path / "articles").iterdir())[0].startswith("year=")
    with pytest.raises(pa.ArrowTypeError):  # what users hit: the folder's year against the file's
        pd.read_parquet(tmp_path / "articles")
    stored = StoredArticles.from_dataset(str(tmp_path))  # the incremental state reads the older layout
    assert len(stored) == 9 and stored.fetched_at("100") == T2

    compact(tmp_path)
    write_dataset_card(tmp_path)

    assert sorted(p.name for p in (tmp_path / "articles").iterdir()) == ["2018", "2019", "no-year"]
    frame = pd.read_parquet(tmp_path / "articles")
    assert len(frame) == 9 and str(frame["year"].dtype) == "Int32"
    assert (tmp_path / "README.md").read_text(encoding="utf-8").startswith("---\nqikan_dataset_card: 1\n")


def test_compact_refuses_a_folder_that_holds_no_dataset(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# My project\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "scrapy.cmdline", "compact", str(tmp_path)], cwd=PROJECT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "holds no dataset" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]
    assert readme.read_text(encoding="utf-8") == "# My project\n"


def test_the_card_never_replaces_a_readme_it_did_not_write(tmp_path: Path) -> None:
    two_runs(tmp_path, n=3)
    (tmp_path / "README.md").write_text("# notes\n", encoding="utf-8")
    assert write_dataset_card(tmp_path) is None
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == "# notes\n"


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


def scrapy_compact(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrapy.cmdline", "compact", str(root), *args], cwd=PROJECT,
                          capture_output=True, text=True, timeout=120)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "articles").rglob("*")) if p.is_file()}


@pytest.mark.parametrize("storage", ["full", "read-only"])
def test_a_compaction_that_cannot_write_exits_4_and_changes_nothing(small_disk: Path, storage: str) -> None:
    """On a real 1 MB filesystem: the rewritten files cannot be written (ENOSPC) or nothing can (EROFS)."""
    two_runs(small_disk, n=30)
    before = snapshot(small_disk)
    if storage == "full":
        filler = small_disk / "filler"
        with filler.open("wb") as out:  # leaves the few KB a lease needs, not what a rewritten file does
            while shutil.disk_usage(small_disk).free > 8192:
                out.write(b"\0" * 4096)
                out.flush()
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

    done = scrapy_compact(small_disk)

    assert done.returncode == 4, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    reason = "No space left on device" if storage == "full" else "Read-only file system"
    assert done.stderr.startswith(f"scrapy compact: cannot compact {small_disk}") and reason in done.stderr
    assert snapshot(small_disk) == before
    assert [p for p in small_disk.rglob("*") if p.is_file() and ".staging" in p.parts] == []
