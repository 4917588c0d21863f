"""Offline rebuild: the crawl's rows again, from fixture folders or a WARC archive, in parallel."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from pipelines.archive import ArchiveReader, WarcArchiveWriter
from pipelines.compact import compact
from pipelines.fixtures import FIELDS, compare, iter_fixtures, load_fixture
from pipelines.pool import SinkSpec, finish_worker, key_hash, open_pool, route_key, shard_of
from pipelines.process import process_page
from pipelines.rawpage import RawPage
from pipelines.rebuild import BUCKETS, BUSY_PAGES, IDLE_PAGES, RebuildError, _Feeder, pick_worker, rebuild
from pipelines.records import ARTICLE_SCHEMA, REJECT_SCHEMA, ArticleRecord, to_row
from pipelines.segment import SegmentConfig, get_segmenter
from pipelines.sink import WriterOptions

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT / "tests" / "fixtures" / "pages"
ALL = list(iter_fixtures(FIXTURES))
BASE = "http://127.0.0.1:8000"
T0 = dt.datetime(2026, 11, 25, 8, 30, 15, 123456, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def segment_config(tmp_path_factory: pytest.TempPathFactory) -> SegmentConfig:
    return SegmentConfig(cache_dir=tmp_path_factory.mktemp("jieba-cache"))


def to_ms(moment: dt.datetime) -> dt.datetime:
    """What a timestamp[ms] column keeps of a fetch time."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def read(root: Path, name: str) -> pa.Table:
    if name == "articles":
        table = ds.dataset(root / name).to_table()
        return table.select(ARTICLE_SCHEMA.names).sort_by("article_id")
    return ds.dataset(root / name, format="parquet").to_table().select(REJECT_SCHEMA.names).sort_by("url")


def archive(root: Path, pages: list[RawPage], run_id: str = "20261125T083015Z-crawl1") -> Path:
    with WarcArchiveWriter(root, run_id) as writer:
        for page in pages:
            writer.write(page)
    return root / "raw"


def test_fixture_folders_rebuild_to_their_expected_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    summary = rebuild([FIXTURES], tmp_path, workers=2, segment_config=None, run_id="20261125T000000Z-fixtur",
                      progress=True)

    articles = read(tmp_path, "articles").to_pylist()
    expected = {f.expected["article_id"]: f.expected for f in ALL if "reject" not in f.expected}
    assert [row["article_id"] for row in articles] == sorted(expected)  # one row per article
    for row in articles:
        actual = {name: row[name] for name in FIELDS}
        actual["published_date"] = row["published_date"] and row["published_date"].isoformat()
        assert compare(expected[row["article_id"]], actual) == [], row["article_id"]
    rejects = {(r["url"], r["reason"]) for r in read(tmp_path, "rejects").to_pylist()}
    assert rejects == {(f.raw.url, f.expected["reject"]) for f in ALL if "reject" in f.expected}

    article_fixtures = sum("reject" not in f.expected for f in ALL)
    assert summary["pages_processed"] == len(ALL)
    assert summary["articles_written"] == len(expected)
    assert summary["duplicate_articles"] == article_fixtures - len(expected)  # the mobile twin of the seed paper
    assert summary["rejects_written"] == len(rejects)
    assert json.loads((tmp_path / "runs" / "20261125T000000Z-fixtur.json").read_text())["kind"] == "rebuild"
    assert "pages/s" in capsys.readouterr().err


def test_rebuild_of_an_archive_equals_processing_each_page(tmp_path: Path, segment_config: SegmentConfig) -> None:
    pages = [f.raw for f in ALL]
    for i, page in enumerate(pages):
        page.fetched_at = T0 + dt.timedelta(seconds=i, microseconds=654_321 * i % 1_000_000)
    pages.append(RawPage(url=f"{BASE}/paper/700002.html", status=0, error="TimeoutError: took too long", fetched_at=T0))
    source = archive(tmp_path / "crawl", pages)

    # One worker: jieba loads in it and in this process only (two workers are tested below without jieba).
    summary = rebuild([source], tmp_path / "out", workers=1, segment_config=segment_config,
                      run_id="20261125T090000Z-again1")

    # What the crawl's pipelines make of the same pages: process_page, the first copy of an article wins.
    analyser = get_segmenter(segment_config)
    outcomes, fetched = [], {}
    for page in pages:
        outcome = process_page(page, analyser)
        key = outcome.article_id if isinstance(outcome, ArticleRecord) else outcome.url
        if isinstance(outcome, ArticleRecord) and key in fetched:
            continue
        fetched[key] = page.fetched_at
        outcomes.append(outcome)
    want_articles = pa.Table.from_pylist(
        [to_row(o) for o in outcomes if isinstance(o, ArticleRecord)], schema=ARTICLE_SCHEMA
    ).sort_by("article_id")
    want_rejects = pa.Table.from_pylist(
        [to_row(o) for o in outcomes if not isinstance(o, ArticleRecord)], schema=REJECT_SCHEMA
    ).sort_by("url")

    got_articles, got_rejects = read(tmp_path / "out", "articles"), read(tmp_path / "out", "rejects")
    assert got_articles.to_pylist() == want_articles.to_pylist()  # every column, fetched_at included
    assert got_rejects.to_pylist() == want_rejects.to_pylist()
    assert all(row["tokens"] and row["keywords"] for row in got_articles.to_pylist())
    # fetched_at is the archive's, to the millisecond (the column's precision).
    for row in got_articles.to_pylist() + got_rejects.to_pylist():
        assert row["fetched_at"] == to_ms(fetched[row.get("article_id") or row["url"]])
    assert summary["rejects"]["fetch_error"] == 1


def test_two_workers_write_their_own_files_and_each_article_once(tmp_path: Path) -> None:
    seed = load_fixture(FIXTURES / "seed-site-paper").raw
    others = [f.raw for f in ALL if "reject" not in f.expected and f.expected["article_id"] != "442798"]
    stray_id = "900001"
    urls = [
        f"{BASE}/paper/442798.html",
        f"{BASE}/paper/442798.html?from=related",
        f"{BASE}/m/paper/442798.html",
        f"{BASE}/paper/{stray_id}.html",  # a page whose canonical link names 442798: routed again after processing
    ]
    copies = [RawPage(url=u, status=200, headers=seed.headers, body=seed.body) for u in urls]
    pages = [copies[0], *others[:10], copies[1], *others[10:], copies[2], copies[3]]
    for i, page in enumerate(pages):
        page.fetched_at = T0 + dt.timedelta(milliseconds=1001 * i)

    summary = rebuild([archive(tmp_path / "crawl", pages)], tmp_path / "out", workers=2, segment_config=None,
                      run_id="20261125T090000Z-twowk1")

    names = [p.name for p in (tmp_path / "out" / "articles").rglob("*.parquet")]
    assert all(re.fullmatch(r"part-20261125T090000Z-twowk1-w[12]-\d{5}\.parquet", n) for n in names)
    assert names and {n.split("-")[3] for n in names} <= {"w1", "w2"}  # who does what depends on load
    articles = read(tmp_path / "out", "articles")
    ids = articles.column("article_id").to_pylist()
    assert len(ids) == len(set(ids)) == len(others) + 1
    seed_row = articles.filter(pa.compute.equal(articles.column("article_id"), "442798")).to_pylist()[0]
    assert seed_row["fetched_at"] == to_ms(copies[0].fetched_at)  # the first copy in archive order wins
    assert seed_row["url"] == f"{BASE}/paper/442798.html"
    assert summary["duplicate_articles"] == 3
    assert summary["articles_written"] == len(ids)


FORKED_REBUILD = """
import json, sys
from pathlib import Path
from pipelines.rebuild import rebuild
from pipelines.segment import SegmentConfig
summary = rebuild([Path(sys.argv[1])], Path(sys.argv[2]), workers=3, run_id="20261125T090000Z-start1",
                  segment_config=SegmentConfig(cache_dir=Path(sys.argv[3])))
print(json.dumps(summary["helpers_started_by"]))
"""


def test_worker_processes_are_forked_with_the_segmenter_unless_a_thread_runs(tmp_path: Path,
                                                                            segment_config: SegmentConfig) -> None:
    """A rebuild forks its worker processes once its segmenter is loaded, so they start with it (every one:
    they are forked before any executor runs a thread); with another thread running here, which a fork
    would copy mid-step, the worker is spawned. Same rows."""
    forked = subprocess.run([sys.executable, "-c", FORKED_REBUILD, str(FIXTURES), str(tmp_path / "forked"),
                             str(segment_config.cache_dir)], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert forked.returncode == 0, forked.stderr[-3000:]
    assert json.loads(forked.stdout.splitlines()[-1]) == ["fork", "fork"]

    held = threading.Event()
    thread = threading.Thread(target=held.wait, name="held-by-the-test", daemon=True)
    thread.start()
    try:
        spawned = rebuild([FIXTURES], tmp_path / "spawned", workers=2, segment_config=segment_config,
                          run_id="20261125T090000Z-start1")
    finally:
        held.set()
        thread.join()
    assert spawned["helpers_started_by"] == ["spawn"]

    for name in ("articles", "rejects"):
        got = read(tmp_path / "forked", name).to_pylist()
        assert got == read(tmp_path / "spawned", name).to_pylist()
    assert len(got) == len([f for f in ALL if "reject" in f.expected])  # got: the rejects
    assert all(row["tokens"] and row["keywords"] for row in read(tmp_path / "forked", "articles").to_pylist())


def test_every_copy_of_an_article_has_one_worker() -> None:
    copies = [f"{BASE}/paper/442798.html", f"{BASE}/paper/442798.html?from=related", f"{BASE}/m/paper/442798.html"]
    assert {route_key(url) for url in copies} == {"442798"}
    for workers in (2, 3, 8):
        assert shard_of("442798", workers) == shard_of(route_key(copies[2]), workers)
        shards = [shard_of(str(n), workers) for n in range(400_000, 400_400)]
        assert set(shards) == set(range(workers))  # the ids spread over every worker ...
        assert max(map(shards.count, set(shards))) < 2 * 400 / workers  # ... roughly evenly
    assert route_key(f"{BASE}/about.html") == f"{BASE}/about.html"  # no id: the URL is its own key
    assert shard_of("anything", 1) == 0


def test_new_articles_go_where_the_load_allows() -> None:
    busy, idle, between = BUSY_PAGES, IDLE_PAGES - 1, IDLE_PAGES
    assert pick_worker(1, [0, between]) == 1  # its hashed worker, when that one is neither busy nor idle
    assert pick_worker(1, [0, busy]) == 0  # a busy worker's article: to this process ...
    assert pick_worker(1, [0, busy, idle]) == 2  # ... or to an idle worker
    assert pick_worker(0, [0, idle]) == 1  # this process's article, to an idle worker
    assert pick_worker(0, [0, between, busy]) == 0
    assert pick_worker(0, [0]) == 0  # alone


def test_near_the_end_a_worker_takes_no_more_than_its_share_of_what_is_left() -> None:
    assert pick_worker(1, [0, 10], left=40) == 1  # share (10 + 40) / 2 = 25: it has less
    assert pick_worker(1, [0, 30], left=20) == 0  # share 25: it has more, though far from BUSY_PAGES
    assert pick_worker(1, [0, 30]) == 1  # with nothing known of what is left: BUSY_PAGES decides
    assert pick_worker(0, [0, 10], left=5) == 0  # idle, but this process's own 5 pages take as long
    assert pick_worker(0, [0, 10]) == 1
    assert pick_worker(1, [0, 20, 0], left=10) == 2  # share (20 + 0 + 10) / 3 = 10: to the idle one
    assert pick_worker(1, [0, 20, 16], left=10) == 0  # share 15.3: both have more


def test_the_reader_estimates_the_pages_it_has_left(tmp_path: Path) -> None:
    seed = load_fixture(FIXTURES / "seed-site-paper").raw
    ids = [str(n) for n in range(500_000, 500_300)]
    reader = ArchiveReader([archive(tmp_path, [
        RawPage(url=f"{BASE}/paper/{article}.html", status=200, headers=seed.headers,
                body=seed.body.replace(b"442798", article.encode()), fetched_at=T0) for article in ids])])
    assert reader.pages_left() == math.inf  # nothing read: no bytes per page yet
    estimates = [(len(ids) - read, reader.pages_left()) for read, _ in enumerate(reader, 1)]
    assert estimates[-1] == (0, 0)
    assert all(abs(estimate - left) <= 15 for left, estimate in estimates[50:])  # read-ahead blurs the first ones


def _held_until_written(fifo: str) -> list:
    """A task that holds its worker process until the test writes to ``fifo``."""
    with open(fifo, "rb") as pipe:
        pipe.read(1)
    return []


def test_a_busy_worker_s_new_articles_go_elsewhere_and_their_copies_follow(tmp_path: Path) -> None:
    seed = load_fixture(FIXTURES / "seed-site-paper").raw
    ids = [str(n) for n in range(500_000, 500_200)]

    def page(article: str, i: int, query: str = "") -> RawPage:
        return RawPage(url=f"{BASE}/paper/{article}.html{query}", status=200, headers=seed.headers,
                       body=seed.body.replace(b"442798", article.encode()), fetched_at=T0 + dt.timedelta(seconds=i))

    spec = SinkSpec(root=str(tmp_path), run_id="20261202T000000Z-moved1", options=WriterOptions())
    fifo = tmp_path / "release"
    os.mkfifo(fifo)
    pool = open_pool(2, None, spec)
    released = False
    try:
        feeder = _Feeder(pool)
        feeder.inflight[1].append((pool.submit(1, _held_until_written, str(fifo)), 0))  # worker 2 is busy
        for i, article in enumerate(ids):
            feeder.add("run", page(article, i))
        expected: dict[str, int] = {}  # the rule, replayed: worker 2 finishes nothing meanwhile
        buckets: dict[int, int] = {}
        for article in ids:
            bucket = key_hash(article) % BUCKETS
            if bucket not in buckets:
                buckets[bucket] = pick_worker(shard_of(article, 2), [0, sum(expected.values())])
            expected[article] = buckets[bucket]
        assert [feeder.worker_of(a) for a in ids] == list(expected.values())
        hashed = {a: shard_of(a, 2) for a in ids}
        assert any(expected[a] == 1 != hashed[a] for a in ids)  # to worker 2 while it had little waiting
        assert any(expected[a] == 0 != hashed[a] for a in ids)  # from it once it had too much
        with open(fifo, "wb") as pipe:
            pipe.write(b"go")
        released = True
        for i, article in enumerate(ids):  # a second copy of every article, once worker 2 is free again
            feeder.add("run", page(article, 1000 + i, "?from=related"))
        assert [feeder.worker_of(a) for a in ids] == list(expected.values())  # no article changes worker
        feeder.drain()
        results = [pool.submit(shard, finish_worker).result() for shard in (1, 0)]
    finally:
        if not released:  # a failed assertion must not leave worker 2 waiting
            with open(fifo, "wb") as pipe:
                pipe.write(b"go")
        pool.close()
    assert sum(r["counts"]["articles_written"] for r in results) == 200
    assert sum(r["counts"]["duplicate_articles"] for r in results) == 200
    for worker in ("w1", "w2"):
        table = ds.dataset([str(p) for p in tmp_path.rglob(f"part-*-{worker}-*.parquet")], format="parquet").to_table()
        owner = 0 if worker == "w1" else 1
        assert set(table.column("article_id").to_pylist()) == {a for a in ids if expected[a] == owner}
        assert not any("from=related" in url for url in table.column("url").to_pylist())  # the first copy won


def test_an_archive_of_two_crawls_gives_their_rows_and_compacts_to_the_newest(tmp_path: Path) -> None:
    seed = load_fixture(FIXTURES / "seed-site-paper").raw
    first = [RawPage(url=f"{BASE}/paper/442798.html", status=200, headers=seed.headers, body=seed.body, fetched_at=T0),
             RawPage(url=f"{BASE}/m/paper/442798.html", status=200, headers=seed.headers, body=seed.body,
                     fetched_at=T0 + dt.timedelta(seconds=1))]
    later = T0 + dt.timedelta(days=7)
    second = [RawPage(url=f"{BASE}/paper/442798.html", status=200, headers=seed.headers, body=seed.body, fetched_at=later)]
    archive(tmp_path / "data", first, run_id="20261101T000000Z-first1")
    archive(tmp_path / "data", second, run_id="20261108T000000Z-secnd2")

    summary = rebuild([tmp_path / "data" / "raw"], tmp_path / "data", workers=2, segment_config=None,
                      run_id="20261125T000000Z-rebld3")

    assert summary["archive_runs"] == ["20261101T000000Z-first1", "20261108T000000Z-secnd2"]
    assert summary["articles_written"] == 2 and summary["duplicate_articles"] == 1  # one row per crawl, as written
    assert sorted(read(tmp_path / "data", "articles").column("fetched_at").to_pylist()) == [to_ms(T0), to_ms(later)]

    compact(tmp_path / "data")
    (row,) = read(tmp_path / "data", "articles").to_pylist()
    assert row["fetched_at"] == to_ms(later)


def test_a_failing_worker_fails_the_rebuild(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)  # a dataset folder, whose articles/ is a file: every writer fails
    (out / "articles").write_text("a file where the articles folder should go")
    with pytest.raises(RebuildError, match=r"worker w[12] failed(.|\n)*NotADirectoryError"):
        rebuild([FIXTURES / "seed-site-paper"], out, workers=2, segment_config=None, run_id="20261125T090000Z-fail01")
    with pytest.raises(FileNotFoundError):
        rebuild([tmp_path / "missing"], tmp_path / "out", workers=0, segment_config=None, run_id="20261125T090000Z-miss01")


def test_rebuild_refuses_a_folder_that_holds_no_dataset(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# My project\n", encoding="utf-8")
    with pytest.raises(RebuildError, match="holds no dataset"):
        rebuild([FIXTURES / "seed-site-paper"], tmp_path, workers=0, segment_config=None, run_id="20261125T090000Z-proj01")
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == "# My project\n"


def test_rebuild_command(tmp_path: Path) -> None:
    def scrapy(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "scrapy.cmdline", "rebuild", *args], cwd=PROJECT,
                              capture_output=True, text=True, timeout=120)

    missing = scrapy(str(tmp_path / "missing"), "-s", f"DATASET_DIR={tmp_path / 'out'}")
    assert missing.returncode == 2 and "no such source" in missing.stderr

    done = scrapy(str(FIXTURES), "--workers", "1", "--no-progress", "-s", f"DATASET_DIR={tmp_path / 'out'}",
                  "-s", "SEGMENT_ENABLED=False", "-s", "RUN_ID=20261125T090000Z-cmd001")
    assert done.returncode == 0, done.stderr
    expected = [json.loads((f / "expected.json").read_text(encoding="utf-8")) for f in sorted(FIXTURES.iterdir()) if f.is_dir()]
    rows = [row for row in expected if "reject" not in row]
    ids = [row["article_id"] for row in rows]
    summary = f"{len(set(ids))} articles, {len(ids) - len(set(ids))} duplicates, {len(expected) - len(rows)} rejects"
    assert summary in done.stdout
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "20261125T090000Z-cmd001" in card and f"| articles (rows) | {len(set(ids))} |" in card
    assert (tmp_path / "out" / "runs" / "20261125T090000Z-cmd001.json").is_file()
