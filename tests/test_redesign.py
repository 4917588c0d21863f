"""The crawl survives a redesign: the same articles in other templates and URL schemes (issue 12).

Each variant of the generated site (``tests.sitegen``: same seed, so the same
articles, visible text and gold rows; only markup and URL shapes change) is
served over real HTTP and crawled with ``scrapy crawl qikan -a start_url=URL``
and nothing but the no-delay settings, as the issue's check does. Every gold
field must come back exact, every article exactly once, the soft 404 must be a
reject, and the crawl must cost at most 1.5x "every page once".
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.dataset as ds
import pytest

from tests import sitegen
from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.siteserver import SiteServer

VARIANTS = [("classic", "dated"), ("html5", "classic"), ("html5", "dated"), ("table", "dated"), ("table", "classic")]
"""(template, URL scheme); classic+classic is tests/site, crawled by test_crawl."""

GOLD_FIELDS = (
    "title", "authors", "affiliations", "journal", "year", "issue",
    "issue_label", "published_date", "tags", "body",
)  # fmt: skip
REQUEST_BUDGET = 1.5
"""At most this many times the requests of a crawl that fetches every page once."""
PROBES = 3
"""Tag, download, search and login pages a crawler may fetch to find out what they are."""


def read_rows(out: Path, kind: str) -> list[dict[str, Any]]:
    """The ``articles`` or ``rejects`` of a dataset (the one place that knows the layout)."""
    return ds.dataset(out / kind, format="parquet", partitioning="hive").to_table().to_pylist()


def article_id_of(url: str) -> str:
    """SPEC ``article_id``: the last run of digits in the URL's path."""
    return re.findall(r"\d+", urlsplit(url).path)[-1]


@dataclass
class Crawl:
    """One variant's site and the crawl over it."""

    name: str
    site: Path
    out: Path
    returncode: int
    stderr: str
    hits: Counter[str]
    hits_with_query: Counter[str]

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.site / "manifest.json").read_text(encoding="utf-8"))

    @property
    def gold(self) -> dict[str, dict[str, Any]]:
        lines = (self.site / "expected.jsonl").read_text(encoding="utf-8").splitlines()
        return {row["article_id"]: row for row in map(json.loads, lines)}

    def articles(self) -> list[dict[str, Any]]:
        assert (self.out / "articles").is_dir(), f"{self.name}: no articles written; stderr:\n{self.stderr[-3000:]}"
        return read_rows(self.out, "articles")

    def rejects(self) -> list[dict[str, Any]]:
        assert (self.out / "rejects").is_dir(), f"{self.name}: no rejects written; stderr:\n{self.stderr[-3000:]}"
        return read_rows(self.out, "rejects")


@pytest.fixture(scope="module", params=VARIANTS, ids=[f"{t}-{u}" for t, u in VARIANTS])
def crawl(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Crawl:
    template, url_scheme = request.param
    root = tmp_path_factory.mktemp(f"redesign-{template}-{url_scheme}")
    sitegen.build_site(root / "site", template=template, url_scheme=url_scheme)
    with SiteServer(root / "site" / "www") as server:
        command = crawl_command(server.base_url, root / "dataset", *NO_DELAY)
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
        return Crawl(f"{template}-{url_scheme}", root / "site", root / "dataset", result.returncode,
                     result.stderr, server.hits.snapshot(), server.hits_with_query.snapshot())


def test_crawl_exits_0(crawl: Crawl) -> None:
    assert crawl.returncode == 0, f"{crawl.name}: exit {crawl.returncode}\n{crawl.stderr[-3000:]}"


def test_every_gold_article_exactly_once(crawl: Crawl) -> None:
    ids = [row["article_id"] for row in crawl.articles()]
    gold = crawl.gold
    twice = sorted(i for i, n in Counter(ids).items() if n > 1)
    missing = sorted(set(gold) - set(ids))
    extra = sorted(set(ids) - set(gold))
    assert not (twice or missing or extra), (
        f"{crawl.name}: {len(set(ids) & set(gold))}/{len(gold)} gold articles; "
        f"twice {twice[:5]}, missing {len(missing)} {missing[:5]}, extra {extra[:5]}"
    )


def test_soft_404_is_rejected(crawl: Crawl) -> None:
    reasons = {urlsplit(r["url"]).path: r["reason"] for r in crawl.rejects()}
    for path in crawl.manifest["soft_404_paths"]:
        assert reasons.get(path) == "soft_404", f"{crawl.name}: {path} -> {reasons.get(path)}"


def test_every_field_exact(crawl: Crawl) -> None:
    gold = crawl.gold
    rows = {row["article_id"]: row for row in crawl.articles() if row["article_id"] in gold}
    wrong: dict[str, list[str]] = {f: [] for f in GOLD_FIELDS}
    for aid, row in sorted(rows.items()):
        for field in GOLD_FIELDS:
            if comparable(row[field]) != gold[aid][field]:
                wrong[field].append(aid)
    if any(wrong.values()):
        pytest.fail(f"{crawl.name}: {len(rows)} rows compared\n" + field_diff(wrong, rows, gold), pytrace=False)


def comparable(value: Any) -> Any:
    """A dataset value as the gold spells it (dates as ISO strings)."""
    return value.isoformat() if isinstance(value, datetime.date) else value


def field_diff(wrong: dict[str, list[str]], rows: dict[str, Any], gold: dict[str, Any]) -> str:
    """One line per wrong field: how many rows, and the first one's got/want (shortened)."""
    lines = []
    for field, ids in wrong.items():
        if ids:
            got, want = str(comparable(rows[ids[0]][field])), str(gold[ids[0]][field])
            at = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
            start = max(0, at - 20)
            lines.append(f"  {field}: {len(ids)} wrong, e.g. {ids[0]} ({gold[ids[0]]['url_path']}), from char {at}: "
                         f"got {got[start:at + 40]!r}, want {want[start:at + 40]!r}")
    return "\n".join(lines)


def test_requests_within_budget(crawl: Crawl) -> None:
    once = crawl.manifest["every_page_once"]
    total = sum(crawl.hits_with_query.values())
    assert total <= REQUEST_BUDGET * once, (
        f"{crawl.name}: {total} requests > {REQUEST_BUDGET} x {once}; most fetched: "
        f"{Counter({p: n for p, n in crawl.hits_with_query.items()}).most_common(5)}; "
        f"by role: {Counter(role_of(crawl, p) for p in crawl.hits_with_query.elements())}"
    )


def test_no_tag_download_search_or_login_pages_beyond_probes(crawl: Crawl) -> None:
    for role, pattern in crawl.manifest["not_content_patterns"].items():
        fetched = [p for p in crawl.hits_with_query if re.fullmatch(pattern, p)]
        assert len(fetched) <= PROBES, f"{crawl.name}: {len(fetched)} {role} pages fetched: {fetched[:5]}"


def role_of(crawl: Crawl, target: str) -> str:
    return sitegen.URL_SCHEMES[crawl.manifest["url_scheme"]].role(target)
