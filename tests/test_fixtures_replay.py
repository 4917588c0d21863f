"""Every saved page, replayed through the crawl's own code path, gives its expected row."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.fixtures import iter_fixtures, replay

FIXTURES = Path(__file__).parent / "fixtures" / "pages"
ALL = list(iter_fixtures(FIXTURES))


def test_there_are_enough_fixtures() -> None:
    articles = [f for f in ALL if "reject" not in f.expected]
    assert len(ALL) >= 18 and len(articles) >= 15


@pytest.mark.parametrize("fixture", ALL, ids=[f.name for f in ALL])
def test_fixture_replays_to_its_expected_row(fixture) -> None:
    diffs = replay(fixture)
    assert not diffs, f"{fixture.name} ({fixture.raw.url}):\n" + "\n".join(d.render() for d in diffs)
