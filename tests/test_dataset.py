"""The Parquet dataset writer: year folders, types, atomic files, unique names, safe paths, failed writes."""

from __future__ import annotations

import datetime as dt
import errno
import os
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipelines.dataset import PENDING_ROWS_TOTAL, DatasetWriteError, DatasetWriter, check_writable
from pipelines.layout import NULL_YEAR_FOLDER, partition_folder
from pipelines.records import ARTICLE_SCHEMA, REJECT_SCHEMA, ArticleRecord, to_row
from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.siteserver import SiteServer

SITE = REPO / "tests" / "site"

FETCHED = dt.datetime(2026, 11, 25, 8, 30, 15, 123456, tzinfo=dt.UTC)


def article(article_id: str, year: int | None, journal: str = "基层建设") -> dict:
    body = f"正文{article_id}"
    return to_row(
        ArticleRecord(
            article_id=article_id,
            url=f"http://127.0.0.1:1/paper/{article_id}.html",
            title="标题",
            authors=["张三", "李四"],
            affiliations=[],
            journal=journal,
            year=year,
            issue=6,
            issue_label="第6期",
            published_date=dt.date(2019, 4, 28),
            body=body,
            tags=[],
            keywords=["正文"],
            tokens=["正文", article_id],
            char_count=len(body),
            content_sha1="0" * 40,
            fetched_at=FETCHED,
        )
    )


def test_rows_land_in_year_partitions_with_spec_types(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id="run1", partition_by="year")
    for i in range(5):
        writer.write(article(str(100 + i), 2019 if i % 2 else 2020))
    writer.write(article("999", None))
    writer.commit()

    dirs = sorted(p.name for p in (tmp_path / "articles").iterdir())
    assert dirs == ["2019", "2020", NULL_YEAR_FOLDER]
    table = ds.dataset(tmp_path / "articles").to_table()  # the default call: year comes from the files
    assert table.num_rows == 6
    assert sorted(table.column("year").to_pylist(), key=str) == [2019, 2019, 2020, 2020, 2020, None]
    for field in ARTICLE_SCHEMA:
        assert table.schema.field(field.name).type == field.type, field.name
    row = table.filter(ds.field("article_id") == "100").to_pylist()[0]
    assert row["published_date"] == dt.date(2019, 4, 28)
    assert row["fetched_at"] == dt.datetime(2026, 11, 25, 8, 30, 15, 123000, tzinfo=dt.UTC)
    assert row["authors"] == ["张三", "李四"]


def test_year_is_kept_inside_the_files(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id="run1", partition_by="year")
    writer.write(article("1", 2018))
    (path,) = writer.commit()
    assert path.endswith("/articles/2018/part-run1-00001.parquet")
    assert pq.read_table(path).column("year").type == pa.int32()


def test_duckdb_reads_it_as_the_spec_says(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id="run1", partition_by="year")
    for i in range(3):
        writer.write(article(str(i), 2019))
    writer.commit()
    glob = f"{tmp_path}/articles/**/*.parquet"
    rows = duckdb.sql(
        f"SELECT count(*), min(year), typeof(min(year)) FROM read_parquet('{glob}')"
    ).fetchall()
    assert rows == [(3, 2019, "INTEGER")]


def test_zstd_row_groups_and_key_value_metadata(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id="run-7", partition_by="year", row_group_rows=1000)
    for i in range(2500):
        writer.write(article(str(i), 2019))
    (path,) = writer.commit()
    metadata = pq.read_metadata(path)
    assert metadata.num_rows == 2500
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [1000, 1000, 500]
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    kv = metadata.metadata
    assert kv[b"qikan.schema_version"] == b"1"
    assert kv[b"qikan.run_id"] == b"run-7"


def test_files_appear_only_when_complete(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id="run1", partition_by="year", row_group_rows=10)
    for i in range(25):
        writer.write(article(str(i), 2019))
    # Being written: in DIR/.staging, outside articles/, and no *.parquet glob matches it.
    staged = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert staged == [".staging/articles/2019/part-run1-00001.parquet.inprogress"]
    assert duckdb.sql(f"SELECT count(*) FROM glob('{tmp_path}/**/*.parquet')").fetchall() == [(0,)]
    writer.commit()
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet")] == ["articles/2019/part-run1-00001.parquet"]
    assert list((tmp_path / ".staging").rglob("*.inprogress")) == []
    assert ds.dataset(tmp_path / "articles").count_rows() == 25


def test_a_second_run_adds_files_and_never_overwrites(tmp_path: Path) -> None:
    for run_id in ("runA", "runB"):
        writer = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id=run_id, partition_by="year")
        writer.write(article("1", 2019))
        writer.commit()
    names = sorted(p.name for p in tmp_path.rglob("*.parquet"))
    assert names == ["part-runA-00001.parquet", "part-runB-00001.parquet"]


def test_files_rotate_at_max_rows(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id="r", partition_by="year", row_group_rows=10, max_rows_per_file=20)
    for i in range(45):
        writer.write(article(str(i), 2019))
    writer.commit()
    counts = sorted(pq.read_metadata(p).num_rows for p in tmp_path.rglob("*.parquet"))
    assert counts == [5, 20, 20]


def test_buffer_limit_flushes_largest_partition(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id="r", partition_by="year", max_buffer_bytes=1)
    for i in range(1200):
        writer.write(article(str(i), 2000 + i % 3))
    assert writer.buffered_rows < 1200  # rows went to disk before any partition reached a full row group
    writer.commit()
    assert ds.dataset(tmp_path / "articles").count_rows() == 1200


def test_rows_spread_over_many_partitions_are_not_all_kept_as_python_objects(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id="r", partition_by="year")
    most = 0
    for i in range(2000):
        writer.write(article(str(i), 1950 + i % 60))  # 60 years: under PENDING_ROWS each
        most = max(most, writer._pending_rows, sum(map(len, writer._pending.values())))
    assert most == PENDING_ROWS_TOTAL - 1
    assert writer.buffered_rows == 2000  # converted to Arrow, not written: row groups stay whole
    writer.commit()
    assert ds.dataset(tmp_path / "articles").count_rows() == 2000


def test_unpartitioned_rejects(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "rejects", REJECT_SCHEMA, run_id="r")
    writer.write(dict(url="http://x/paper/9.html", reason="soft_404", stage="classify", detail="d", status=200, fetched_at=FETCHED))
    writer.commit()
    table = ds.dataset(tmp_path / "rejects").to_table()
    assert table.to_pylist()[0]["reason"] == "soft_404"


@pytest.mark.parametrize("value", ["../../x", "2019/../../etc", "2019\x00", 2019.0, True])
def test_partition_values_must_be_integers(value: object) -> None:
    with pytest.raises(TypeError):
        partition_folder(value)


@pytest.mark.parametrize("run_id", ["../x", "a/b", "", ".hidden", "a\x00b"])
def test_run_ids_that_could_escape_are_refused(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(ValueError):
        DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id=run_id)


def test_a_journal_that_looks_like_a_path_is_just_a_string(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id="r", partition_by="year")
    writer.write(article("1", 2019, journal="../../x\x00/y"))
    writer.commit()
    files = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert files == ["articles/2019/part-r-00001.parquet"]
    assert pq.read_table(tmp_path / files[0]).column("journal").to_pylist() == ["../../x\x00/y"]


def test_a_rerun_with_the_same_run_id_adds_files(tmp_path: Path) -> None:
    for _ in range(2):
        writer = DatasetWriter(tmp_path / "articles", ARTICLE_SCHEMA, run_id="fixed", partition_by="year")
        writer.write(article("1", 2019))
        writer.commit()
    names = sorted(p.name for p in tmp_path.rglob("*.parquet"))
    assert names == ["part-fixed-00001.parquet", "part-fixed-00002.parquet"]


# -- storage errors, for real: a small tmpfs (the tests run as root, as CI does) -----------------


def bulky(i: int) -> dict:
    """A row of about 20 KB that zstd cannot shrink much: a few of them fill the small disk."""
    row = article(str(i), 2019)
    row["body"] = os.urandom(10_000).hex()
    return row


def test_a_full_disk_never_leaves_a_visible_half_file_and_the_writer_goes_on_after(small_disk: Path) -> None:
    writer = DatasetWriter(small_disk / "articles", ARTICLE_SCHEMA, run_id="r", partition_by="year", row_group_rows=5)
    written = 0
    with pytest.raises(DatasetWriteError) as caught:
        for i in range(1000):
            writer.write(bulky(i))
            written += 1
            if written % 10 == 0:
                writer.commit()
    assert caught.value.errno == errno.ENOSPC
    assert str(small_disk / "articles") in caught.value.path and "No space left on device" in str(caught.value)
    visible = sorted(str(p) for p in small_disk.rglob("*.parquet"))
    assert visible == sorted(writer.files_written)  # every visible file is one reported as committed ...
    assert sum(pq.read_metadata(p).num_rows for p in visible) == 10 * len(visible)  # ... and whole
    assert list(small_disk.rglob("*.inprogress")) == []  # the half file was removed
    assert writer.buffered_rows == 0  # the failed rows are gone from the writer, not waiting to be retried

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    writer.write(bulky(5000))
    (path,) = writer.commit()
    assert pq.read_table(path).column("article_id").to_pylist() == ["5000"]


def test_a_read_only_dataset_folder_is_known_at_start_and_refused_on_write(small_disk: Path) -> None:
    (small_disk / "articles").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(DatasetWriteError) as caught:
        check_writable(small_disk)
    assert caught.value.errno == errno.EROFS
    writer = DatasetWriter(small_disk / "articles", ARTICLE_SCHEMA, run_id="r", partition_by="year")
    writer.write(article("1", 2019))
    with pytest.raises(DatasetWriteError) as caught:
        writer.commit()
    assert caught.value.errno == errno.EROFS and writer.files_written == []
    assert [p for p in small_disk.rglob("*") if p.is_file()] == []


def test_a_crawl_onto_a_full_disk_stops_with_exit_4_and_one_error_line(small_disk: Path) -> None:
    out = small_disk / "dataset"
    with SiteServer(SITE / "www") as server:
        command = crawl_command(server.base_url, out, *NO_DELAY, "-s", "PROCESS_WORKERS=1", "-s", "LOG_LEVEL=INFO",
                                "-s", "DATASET_COMMIT_SECONDS=0", "-s", "RAW_ARCHIVE_ENABLED=False")
        subprocess.run(["mount", "-o", "remount,size=150k", str(small_disk)], check=True)
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 4, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "Dataset write failed" in line]
    assert len(errors) == 1 and "No space left on device" in errors[0], errors
    for path in out.rglob("*.parquet"):
        if ".staging" not in path.parts:
            pq.read_metadata(path)  # every visible file is readable
    assert list(out.rglob("*.inprogress")) == []


def test_a_crawl_into_a_read_only_dataset_says_so_at_start_and_exits_4(small_disk: Path) -> None:
    out = small_disk / "dataset"
    (out / "articles").mkdir(parents=True)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with SiteServer(SITE / "www") as server:
        command = crawl_command(server.base_url, out, *NO_DELAY, "-s", "PROCESS_WORKERS=1", "-s", "LOG_LEVEL=INFO")
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
        fetched = sum(server.hits.values())
    assert result.returncode == 4, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if " ERROR: " in line]
    assert len(errors) == 1 and "at start" in errors[0] and "Read-only file system" in errors[0], errors
    assert fetched <= 2  # robots.txt and the start page at most: it stopped before crawling
