"""Object storage for real: the dataset on ``s3://`` against a SeaweedFS server started on loopback.

Crawl, incremental recrawl, rebuild, compact, the card, the state and the leases all work on
``s3://bucket/prefix``; the endpoint and keys come from the environment, as pyarrow reads them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from pipelines import layout, leases
from pipelines.card import write_dataset_card
from pipelines.compact import compact
from pipelines.dataset import DatasetWriter, write_atomic
from pipelines.records import ARTICLE_SCHEMA
from pipelines.state import StoredArticles
from tests.crawlcmd import REPO
from tests.s3server import BUCKET, S3Server, s3_server  # noqa: F401 (the session fixture)
from tests.siteserver import SiteServer
from tests.test_compact import RUN_A, RUN_B, T1, T2, YEARS, article
from tests.test_crawl import SITE, crawl
from tests.test_incremental import GOLD_IDS, article_hits

S3_CRAWL = ("-s", "RAW_ARCHIVE_ENABLED=False")


@pytest.fixture()
def location(s3_server: S3Server) -> str:  # noqa: F811
    """A fresh prefix in the test bucket for each test."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"


def s3_rows(location: str, name: str = "articles") -> list[dict]:
    filesystem, base = layout.open_filesystem(location)
    files = layout.list_data_files(filesystem, f"{base}/{name}")
    return ds.dataset(files, filesystem=filesystem, format="parquet").to_table().to_pylist() if files else []


def test_the_bytes_read_back_are_the_bytes_written(location: str, s3_server: S3Server) -> None:  # noqa: F811
    blob = os.urandom(7 * 1024 * 1024 + 13)  # several upload parts
    write_atomic(location, "runs/blob.bin", blob)
    raw = s3_server.filesystem()  # a second client, not the one that wrote
    with raw.open_input_stream(f"{location[5:]}/runs/blob.bin") as handle:
        assert handle.read() == blob

    rows = [article(str(i), YEARS[i % 3], T1, "标题" * (i % 50)) for i in range(600)]
    writer = DatasetWriter(f"{location}/articles", ARTICLE_SCHEMA, run_id=RUN_A, partition_by="year", row_group_rows=100)
    for row in rows:
        writer.write(row)
    files = writer.commit()
    assert len(files) == 3 and all(f.startswith(f"{location[5:]}/articles/") for f in files)
    back = {r["article_id"]: r for r in s3_rows(location)}
    assert len(back) == 600 and all(back[r["article_id"]]["title"] == r["title"] for r in rows)
    for path in files:  # every footer is intact: the length in the trailer matches the object
        assert pq.ParquetFile(raw.open_input_file(path)).metadata.num_rows > 0
    staging = raw.get_file_info(pafs.FileSelector(f"{location[5:]}/.staging", recursive=True, allow_not_found=True))
    assert [i.path for i in staging if i.type == pafs.FileType.File] == []


def test_compact_card_and_state_on_object_storage(location: str) -> None:
    for run, when, title in ((RUN_A, T1, "old"), (RUN_B, T2, "new")):
        writer = DatasetWriter(f"{location}/articles", ARTICLE_SCHEMA, run_id=run, partition_by="year",
                               row_group_rows=5, max_rows_per_file=7)
        for i in range(30):
            writer.write(article(str(100 + i), YEARS[i % 3], when, title))
        writer.commit()
    assert len(StoredArticles.from_dataset(location)) == 30

    filesystem, base = layout.open_filesystem(location)
    before = layout.list_data_files(filesystem, f"{base}/articles")

    summary = compact(location)  # in place: every object stays, run A's are rewritten with no rows

    rows = s3_rows(location)
    assert len(rows) == 30 and {r["title"] for r in rows} == {"new"}
    assert layout.list_data_files(filesystem, f"{base}/articles") == before and len(before) == 6
    assert summary["articles"]["files_rewritten"] == 3 and summary["articles"]["files_emptied"] == 3
    assert [pq.read_metadata(p, filesystem=filesystem).num_rows for p in before if RUN_A in p] == [0, 0, 0]
    left = filesystem.get_file_info(pafs.FileSelector(f"{base}/.staging", allow_not_found=True, recursive=True))
    assert [i.path for i in left if i.type == pafs.FileType.File or "compact-" in i.path] == []

    merged = compact(location, merge=True, grace_seconds=0)  # merged: one object per partition, the empty ones gone

    assert len(s3_rows(location)) == 30
    assert merged["articles"]["files_before"] == 6 and merged["articles"]["files_after"] == 3
    assert len(layout.list_data_files(filesystem, f"{base}/articles")) == 3
    assert filesystem.get_file_info(f"{base}/runs/{summary['run_id']}.json").type == pafs.FileType.File
    assert [i for i in filesystem.get_file_info(pafs.FileSelector(f"{base}/.leases", allow_not_found=True))
            if i.type == pafs.FileType.File] == []
    card = write_dataset_card(location)
    text = layout.read_card(filesystem, base)
    assert card and text is not None and layout.is_our_card(text) and "| articles (rows) | 30 |" in text


def test_leases_work_on_object_storage(location: str) -> None:
    first = leases.acquire_writer(location, "crawl", RUN_A)
    with pytest.raises(leases.LeaseConflict, match=f"crawl \\(plain\\) {RUN_A}.*Redis mode"):
        leases.acquire_writer(location, "crawl", RUN_B)
    first.release()
    leases.acquire_writer(location, "crawl", RUN_B).release()


def test_crawl_recrawl_rebuild_and_compact_on_object_storage(location: str, tmp_path: Path) -> None:
    with SiteServer(SITE / "www") as server:
        crawl(server.base_url, location, *S3_CRAWL)
        first = article_hits(server)
        ids = [r["article_id"] for r in s3_rows(location)]
        assert sorted(ids) == GOLD_IDS and len(ids) == len(set(ids))
        server.hits.clear()
        crawl(server.base_url, location, *S3_CRAWL)  # incremental: the state is read from S3
        assert article_hits(server) == Counter() and sum(first.values()) >= len(GOLD_IDS)
        crawl(server.base_url, tmp_path / "local")  # a local crawl, for its raw archive
    assert len(s3_rows(location)) == len(GOLD_IDS)

    rebuilt = subprocess.run([sys.executable, "-m", "scrapy.cmdline", "rebuild", str(tmp_path / "local" / "raw"),
                              "-s", f"DATASET_DIR={location}", "--workers", "2"],
                             cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert len(s3_rows(location)) == 2 * len(GOLD_IDS)

    done = subprocess.run([sys.executable, "-m", "scrapy.cmdline", "compact", location, "-s", "COMPACT_GRACE_SECONDS=0"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"articles: {2 * len(GOLD_IDS)} rows -> {len(GOLD_IDS)}" in done.stdout
    assert sorted(r["article_id"] for r in s3_rows(location)) == GOLD_IDS
    filesystem, base = layout.open_filesystem(location)
    assert layout.is_our_card(layout.read_card(filesystem, base) or "")


def test_a_raw_archive_on_object_storage_is_refused_in_one_line(location: str) -> None:
    with SiteServer(SITE / "www") as server:
        result = crawl(server.base_url, location, check=False)
    assert result.returncode == 2
    assert "RAW_ARCHIVE_ENABLED=True needs a local DATASET_DIR" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
