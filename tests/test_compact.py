"""Compaction: one row per article (the newest), few files, no committed row lost, no reader failing."""

from __future__ import annotations

import datetime as dt
import functools
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
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
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".leases", ".staging"]
    assert [p for p in (tmp_path / ".staging").rglob("*") if p.is_file()] == []
    assert list((tmp_path / ".leases").iterdir()) == []  # the compaction marker is gone
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


def test_readers_in_a_loop_never_miss_a_row_during_compaction(tmp_path: Path) -> None:
    """Every read sees every article (twice for a while: old and new files side by side). A read that
    lists the folder and opens a file after compaction deleted it fails with FileNotFoundError, at the
    one instant when the replaced files go (a limit of reading by listing: see README), and the next
    read succeeds."""
    two_runs(tmp_path, n=60)
    replaced = {str(p) for p in data_files(tmp_path / "articles")}
    ids = set(r["article_id"] for r in read_articles(tmp_path))
    counts: list[int] = []
    errors: list[FileNotFoundError] = []
    started, finished = threading.Event(), threading.Event()

    def reader() -> None:
        after = 0
        while after < 3 and len(counts) < 20000:  # ends a few reads after the compaction
            try:  # the issue's reader: list the folder, then open every file
                table = pq.read_table(tmp_path / "articles", columns=["article_id"])
            except FileNotFoundError as exc:
                errors.append(exc)
                continue
            assert set(table.column("article_id").to_pylist()) == ids
            counts.append(table.num_rows)
            started.set()
            after += finished.is_set()

    thread = threading.Thread(target=reader)
    thread.start()
    assert started.wait(timeout=60)
    summary = compaction.compact(tmp_path, grace_seconds=1.0)
    finished.set()
    thread.join(timeout=60)

    assert not thread.is_alive()
    assert counts[0] == 120 and counts[-1] == 60  # two rows per article before, one after
    assert 180 in counts and set(counts) <= set(range(60, 181)) and len(counts) > 10
    names = {Path(path).name for path in replaced}
    assert len(errors) <= 2 and all(any(name in str(e) for name in names) for e in errors), errors
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
    compaction deletes only the files it indexed, so that file and its rows stay."""
    two_runs(tmp_path, n=9)
    lease = leases.acquire_writer(str(tmp_path), "crawl", "20261201T000000Z-late01")
    late = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id="20261201T000000Z-late01", partition_by="year",
                         honour_compaction=False)
    late.write(article("900", 2019, T2, "committed during the compaction"))
    late.prepare()

    def publish_during_grace(seconds: float) -> None:
        late.publish()

    summary = compaction.compact(tmp_path, force=True, grace_seconds=0.01, sleep=publish_during_grace)
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
