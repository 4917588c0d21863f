"""Crawl one generated variant of the site and judge it as the redesign checks do (issue 12).

:mod:`tests.test_redesign` (our own redesigns) and :mod:`tests.test_adversarial` (redesigns
written to break us) crawl the same articles in other looks and URL schemes; what they share is
here: the crawl over real HTTP, reading the dataset, and the checks, so that both judge alike.
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

from tests import sitegen
from tests.crawlcmd import NO_DELAY, REPO, crawl_command
from tests.siteserver import Faults, SiteServer

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


def crawl_variant(root: Path, template: str, url_scheme: str, faults: Faults | None = None) -> Crawl:
    """Generate the variant under ``root/site``, serve it on loopback, crawl it into ``root/dataset``
    with ``scrapy crawl qikan -a start_url=URL`` and the no-delay settings only (as the issue's check)."""
    sitegen.build_site(root / "site", template=template, url_scheme=url_scheme)
    with SiteServer(root / "site" / "www", faults=faults) as server:
        command = crawl_command(server.base_url, root / "dataset", *NO_DELAY)
        result = subprocess.run(command, check=False, cwd=REPO, capture_output=True, text=True, timeout=600)
        return Crawl(f"{template}-{url_scheme}", root / "site", root / "dataset", result.returncode,
                     result.stderr, server.hits.snapshot(), server.hits_with_query.snapshot())


def assert_exit_0(crawl: Crawl) -> None:
    assert crawl.returncode == 0, f"{crawl.name}: exit {crawl.returncode}\n{crawl.stderr[-3000:]}"


def assert_every_gold_article_once(crawl: Crawl) -> None:
    """Each gold article exactly once, and no row that is not a gold article."""
    ids = [row["article_id"] for row in crawl.articles()]
    gold = crawl.gold
    twice = sorted(i for i, n in Counter(ids).items() if n > 1)
    missing = sorted(set(gold) - set(ids))
    extra = sorted(set(ids) - set(gold))
    assert not (twice or missing or extra), (
        f"{crawl.name}: {len(set(ids) & set(gold))}/{len(gold)} gold articles; "
        f"twice {twice[:5]}, missing {len(missing)} {missing[:5]}, extra {extra[:5]}"
    )


def assert_soft_404s_rejected(crawl: Crawl) -> list[dict[str, Any]]:
    """Every soft 404 of the manifest is a ``soft_404`` reject; returns the rejects for further checks."""
    rejects = crawl.rejects()
    reasons = {urlsplit(r["url"]).path: r["reason"] for r in rejects}
    for path in crawl.manifest["soft_404_paths"]:
        assert reasons.get(path) == "soft_404", f"{crawl.name}: {path} -> {reasons.get(path)}"
    return rejects


def wrong_fields(crawl: Crawl) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """The gold articles' rows by id, and per gold field the ids whose value differs from the gold."""
    gold = crawl.gold
    rows = {row["article_id"]: row for row in crawl.articles() if row["article_id"] in gold}
    wrong: dict[str, list[str]] = {f: [] for f in GOLD_FIELDS}
    for aid, row in sorted(rows.items()):
        for field in GOLD_FIELDS:
            if comparable(row[field]) != gold[aid][field]:
                wrong[field].append(aid)
    return rows, wrong


def comparable(value: Any) -> Any:
    """A dataset value as the gold spells it (dates as ISO strings)."""
    return value.isoformat() if isinstance(value, datetime.date) else value


def field_diff(crawl: Crawl, wrong: dict[str, list[str]], rows: dict[str, Any]) -> str:
    """How many rows were compared, then one line per wrong field: how many rows, and the first
    one's got/want (shortened)."""
    gold = crawl.gold
    lines = [f"{crawl.name}: {len(rows)} rows compared"]
    for field, ids in wrong.items():
        if ids:
            got, want = str(comparable(rows[ids[0]][field])), str(gold[ids[0]][field])
            at = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w), min(len(got), len(want)))
            start = max(0, at - 20)
            lines.append(f"  {field}: {len(ids)} wrong, e.g. {ids[0]} ({gold[ids[0]]['url_path']}), from char {at}: "
                         f"got {got[start:at + 40]!r}, want {want[start:at + 40]!r}")
    return "\n".join(lines)


def assert_requests_within_budget(crawl: Crawl) -> None:
    once = crawl.manifest["every_page_once"]
    total = sum(crawl.hits_with_query.values())
    scheme = sitegen.URL_SCHEMES[crawl.manifest["url_scheme"]]
    assert total <= REQUEST_BUDGET * once, (
        f"{crawl.name}: {total} requests > {REQUEST_BUDGET} x {once}; most fetched: "
        f"{crawl.hits_with_query.most_common(5)}; "
        f"by role: {Counter(scheme.role(p) for p in crawl.hits_with_query.elements())}"
    )


def assert_few_not_content_pages(crawl: Crawl) -> None:
    """No more than :data:`PROBES` tag, download, search or login pages fetched."""
    for role, pattern in crawl.manifest["not_content_patterns"].items():
        fetched = [p for p in crawl.hits_with_query if re.fullmatch(pattern, p)]
        assert len(fetched) <= PROBES, f"{crawl.name}: {len(fetched)} {role} pages fetched: {fetched[:5]}"
