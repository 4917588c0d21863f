"""``scrapy savefixture`` and ``scrapy replay``, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.siteserver import SiteServer

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "tests" / "site"


def scrapy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scrapy", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_savefixture_then_replay_then_notice_a_change(tmp_path: Path) -> None:
    gold = json.loads((SITE / "expected.jsonl").read_text(encoding="utf-8").splitlines()[0])
    with SiteServer(SITE / "www") as server:
        url = f"{server.base_url}{gold['url_path']}"
        saved = scrapy("savefixture", url, "page-one", "--dir", str(tmp_path), "-s", "ROBOTSTXT_OBEY=False")
        assert saved.returncode == 0, saved.stderr[-3000:]
        assert server.hits[gold["url_path"]] == 1
    folder = tmp_path / "page-one"
    response = json.loads((folder / "response.json").read_text(encoding="utf-8"))
    assert response["url"] == url and response["status"] == 200
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    assert expected["title"] == gold["title"] and expected["body"] == gold["body"]

    replayed = scrapy("replay", "--dir", str(tmp_path))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "ok    page-one" in replayed.stdout

    expected["title"] = "改过的标题"
    (folder / "expected.json").write_text(json.dumps(expected, ensure_ascii=False), encoding="utf-8")
    replayed = scrapy("replay", "--dir", str(tmp_path))
    assert replayed.returncode == 1
    assert "DIFF  page-one" in replayed.stdout
    assert f"title: expected '改过的标题', got '{gold['title']}'" in replayed.stdout
    assert "1 fixtures, 0 match, 1 differ (1 fields)" in replayed.stdout


def test_savefixture_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    result = scrapy("savefixture", "http://127.0.0.1:9/paper/1.html", "taken", "--dir", str(tmp_path))
    assert result.returncode != 0
    assert "exists" in result.stderr


def test_replay_over_the_bundled_fixtures_is_clean() -> None:
    result = scrapy("replay")
    assert result.returncode == 0, result.stdout[-3000:]
    assert " differ (0 fields)" in result.stdout
