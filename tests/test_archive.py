"""The raw archive: WARC round trip, crash tolerance, rotation, sources, and the Scrapy adapter."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import logging
import zlib
from pathlib import Path

import pytest
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler import settings as project_settings
from crawler.archiving import RawArchivePipeline
from pipelines.archive import WarcArchiveWriter, iter_raw_pages, list_sources
from pipelines.fixtures import iter_fixtures
from pipelines.rawpage import RawPage

FIXTURES = Path(__file__).parent / "fixtures" / "pages"
T0 = dt.datetime(2026, 11, 25, 8, 30, 15, 123456, tzinfo=dt.UTC)


def sample_pages() -> list[RawPage]:
    """Every fixture (UTF-8, GBK, binary noise, a 503), a redirect, odd headers and failed fetches."""
    pages = []
    for i, fixture in enumerate(iter_fixtures(FIXTURES)):
        raw = fixture.raw
        raw.fetched_at = T0 + dt.timedelta(seconds=i, microseconds=7 * i)
        pages.append(raw)
    pages.append(
        RawPage(
            url="http://127.0.0.1:8000/paper/700001.html",
            request_url="http://127.0.0.1:8000/paper/old-700001.html",
            status=200,
            headers={
                "Content-Type": "text/html; charset=gb2312",
                "Content-Encoding": "gzip",
                "Transfer-Encoding": "chunked",
                "Content-Length": "17",
                "Content-Disposition": 'attachment; filename="论文.doc"',
                "Set-Cookie": "a=1, b=2",
            },
            body="<html><body>镕喆</body></html>".encode("gb18030") + b"\x00\xff\x80",
            fetched_at=T0 + dt.timedelta(microseconds=999),
            link_kind="article",
        )
    )
    pages.append(RawPage(url="http://127.0.0.1:8000/empty.html", status=204, fetched_at=T0))
    pages.append(
        RawPage(
            url="http://127.0.0.1:8000/paper/700002.html",
            status=0,
            error="TimeoutError: User timeout caused connection failure:\nline two, 超时",
            fetched_at=T0 + dt.timedelta(milliseconds=1),
            link_kind="probe",
        )
    )
    pages.append(
        RawPage(
            url="http://127.0.0.1:8000/paper/700003.html",
            request_url="http://127.0.0.1:8000/paper/700003.html?from=related",
            status=0,
            error="filtered: Forbidden by robots.txt",
            fetched_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
    )
    return pages


def write_archive(root: Path, pages: list[RawPage], **kwargs) -> WarcArchiveWriter:
    with WarcArchiveWriter(root, "20261125T083015Z-abc123", **kwargs) as writer:
        for page in pages:
            writer.write(page)
    return writer


def gzip_members(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every gzip member of ``data``."""
    members, start = [], 0
    while start < len(data):
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        decompressor.decompress(data[start:])
        end = len(data) - len(decompressor.unused_data)
        members.append((start, end))
        start = end
    return members


def test_every_field_survives_the_round_trip(tmp_path: Path) -> None:
    pages = sample_pages()
    writer = write_archive(tmp_path, pages)

    back = list(iter_raw_pages([tmp_path / "raw"]))

    assert len(writer.files_written) == 1
    assert back == pages  # attrs equality: url, status, headers (names, values, order), body, fetched_at, request_url, error, link_kind
    for original, read in zip(pages, back, strict=True):
        assert read.fetched_at == original.fetched_at  # to the microsecond
        assert read.fetched_at.tzinfo is not None
        assert type(read.body) is bytes


def test_records_are_plain_warc_that_other_tools_read(tmp_path: Path) -> None:
    pages = sample_pages()
    writer = write_archive(tmp_path, pages)
    path = Path(writer.files_written[0])
    assert path.name == "20261125T083015Z-abc123-00001.warc.gz"

    with path.open("rb") as fh:
        records = list(_plain_records(fh))
    assert [r["type"] for r in records] == ["warcinfo"] + ["metadata" if p.error else "response" for p in pages]
    for record, page in zip(records[1:], pages, strict=True):
        assert record["version"] == "WARC/1.1"
        assert record["target"] == page.url
        assert record["date"] == page.fetched_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if page.error is None:
            # Scrapy decoded the body: the stored HTTP block must not claim an encoding or another length.
            assert record["http"].get_header("Content-Length") == str(len(page.body))
            assert record["http"].get_header("Content-Encoding") is None
            assert record["http"].get_header("Transfer-Encoding") is None
            assert record["payload"] == page.body
        assert record["request_uri"] == page.request_url
    # One gzip member per record, so each can be read (and lost) on its own.
    assert len(gzip_members(path.read_bytes())) == len(records)


def _plain_records(fh):
    records = ArchiveIterator(fh, check_digests=True)
    for record in records:
        payload = record.content_stream().read()
        records.read_to_end()
        assert record.digest_checker.passed is not False, record.digest_checker.problems  # valid WARC digests
        yield {
            "type": record.rec_type,
            "version": record.rec_headers.protocol,
            "target": record.rec_headers.get_header("WARC-Target-URI"),
            "date": record.rec_headers.get_header("WARC-Date"),
            "request_uri": record.rec_headers.get_header("WARC-Qikan-Request-URI"),
            "http": record.http_headers,
            "payload": payload,
        }


def test_a_cut_file_still_yields_every_complete_record(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pages = sample_pages()[:6]
    writer = write_archive(tmp_path / "full", pages)
    data = Path(writer.files_written[0]).read_bytes()
    members = gzip_members(data)  # warcinfo, then one member per page
    assert len(members) == len(pages) + 1

    for complete in range(len(pages)):
        start, end = members[complete + 1]  # the member of page number `complete`
        for cut in (start + 1, start + 40, (start + end) // 2, end - 1):
            path = tmp_path / f"cut-{complete}-{cut}.warc.gz"
            path.write_bytes(data[:cut])
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="pipelines.archive"):
                got = list(iter_raw_pages([path]))
            # Only the gzip trailer missing (end - 1): every byte of the record arrived, so it is used.
            assert got == pages[: complete + (cut == end - 1)], (complete, cut)
            if cut == (start + end) // 2:  # a record cut in the middle is reported, with the file and where
                assert any(str(path) in r.getMessage() and f"offset {start}" in r.getMessage() for r in caplog.records)

    # ... and the next file of the archive is still read after a cut one.
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "a.warc.gz").write_bytes(data[: members[3][0] + 50])  # cut inside the third page
    (tmp_path / "two" / "b.warc.gz").write_bytes(data)
    assert list(iter_raw_pages([tmp_path / "two"])) == pages[:2] + pages


def test_files_rotate_by_size_and_never_overwrite(tmp_path: Path) -> None:
    pages = sample_pages()
    writer = write_archive(tmp_path, pages, max_bytes=20_000)

    names = [Path(p).name for p in writer.files_written]
    assert len(names) >= 3
    assert names == sorted(names)
    assert names[0] == "20261125T083015Z-abc123-00001.warc.gz"
    for path in writer.files_written[:-1]:
        assert Path(path).stat().st_size >= 20_000
    assert list(iter_raw_pages([tmp_path / "raw"])) == pages

    # A second writer with the same run id (a rerun with RUN_ID set) adds files after them.
    again = write_archive(tmp_path, pages[:1], max_bytes=20_000)
    assert Path(again.files_written[0]).name == f"20261125T083015Z-abc123-{len(names) + 1:05d}.warc.gz"
    worker = WarcArchiveWriter(tmp_path, "20261125T083015Z-abc123", worker_id="w2")
    worker.write(pages[0])
    worker.close()
    assert Path(worker.files_written[0]).name == "20261125T083015Z-abc123-w2-00001.warc.gz"
    assert len(list(iter_raw_pages([tmp_path / "raw"]))) == len(pages) + 2


def test_sources_are_files_folders_and_fixture_folders(tmp_path: Path) -> None:
    pages = sample_pages()
    write_archive(tmp_path / "b", pages[:2])
    write_archive(tmp_path / "a" / "deeper", pages[2:4])
    (tmp_path / "a" / ".hidden").mkdir()
    (tmp_path / "a" / ".hidden" / "x.warc.gz").write_bytes(b"not read")
    plain = tmp_path / "plain.warc"
    with gzip.open(next((tmp_path / "b" / "raw").iterdir()), "rb") as fh:
        plain.write_bytes(fh.read())  # an uncompressed WARC works too

    assert list(iter_raw_pages([tmp_path / "a", tmp_path / "b"])) == pages[2:4] + pages[:2]
    assert list(iter_raw_pages([tmp_path])) == pages[2:4] + pages[:2] + pages[:2]  # sorted: a/, b/, plain.warc
    assert list(iter_raw_pages([plain])) == pages[:2]

    fixtures = [f.raw for f in iter_fixtures(FIXTURES)]
    assert list(iter_raw_pages([FIXTURES])) == fixtures
    (seed,) = iter_raw_pages([FIXTURES / "seed-site-paper"])
    assert seed.url == "http://127.0.0.1:8000/paper/442798.html" and seed in fixtures

    with pytest.raises(FileNotFoundError):
        list_sources([tmp_path / "missing"])
    readme = tmp_path / "README.md"
    readme.write_text("# not an archive\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a WARC file"):
        list_sources([readme])
    renamed = tmp_path / "crawl.bak"
    renamed.write_bytes(b"WARC/1.1\r\n")
    assert list_sources([renamed]) == [renamed]  # named otherwise, shaped like one


def test_warc_from_another_tool_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "other.warc.gz"
    html = "<html><body>期刊</body></html>".encode()
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], protocol="HTTP/1.1")
        payload = gzip.compress(html)
        record = writer.create_warc_record("http://example.test/paper/1.html", "response",
                                           payload=io.BytesIO(payload), length=len(payload), http_headers=http)
        writer.write_record(record)

    (page,) = iter_raw_pages([path])
    assert page.body == html
    assert page.status == 200
    assert page.header("Content-Encoding") is None
    assert page.header("Content-Type") == "text/html"


def project_crawler(**overrides: object) -> Crawler:
    """A crawler with the project's settings: their defaults live only in ``crawler/settings.py``."""
    defaults = {name: getattr(project_settings, name) for name in dir(project_settings) if name.isupper()}
    return get_crawler(settings_dict={**defaults, **overrides})


def test_scrapy_pipeline_archives_every_raw_page_unchanged(tmp_path: Path) -> None:
    pages = sample_pages()[:3]
    crawler = project_crawler(DATASET_DIR=str(tmp_path), RUN_ID="20261125T083015Z-pipe01", WORKER_ID="w3",
                              RAW_ARCHIVE_MAX_MB=1)
    pipeline = RawArchivePipeline.from_crawler(crawler)
    pipeline.open_spider()
    assert [pipeline.process_item(p) for p in pages] == pages
    assert pipeline.process_item({"not": "a page"}) == {"not": "a page"}
    pipeline.close_spider()

    assert [p.name for p in (tmp_path / "raw").iterdir()] == ["20261125T083015Z-pipe01-w3-00001.warc.gz"]
    assert list(iter_raw_pages([tmp_path / "raw"])) == pages
    assert crawler.stats.get_value("qikan/raw_archived") == 3

    with pytest.raises(NotConfigured):
        RawArchivePipeline.from_crawler(project_crawler(DATASET_DIR=str(tmp_path), RAW_ARCHIVE_ENABLED=False))
    with pytest.raises(NotConfigured):
        RawArchivePipeline.from_crawler(project_crawler(DATASET_DIR=""))
