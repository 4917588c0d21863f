"""The crawl survives a redesign: the same articles in other templates and URL schemes (issue 12).

Each variant of the generated site (``tests.sitegen``: same seed, so the same
articles, visible text and gold rows; only markup and URL shapes change) is
served over real HTTP and crawled with ``scrapy crawl qikan -a start_url=URL``
and nothing but the no-delay settings, as the issue's check does. Every gold
field must come back exact, every article exactly once, the soft 404 must be a
reject, and the crawl must cost at most 1.5x "every page once".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import redesigncheck as check

VARIANTS = [("classic", "dated"), ("html5", "classic"), ("html5", "dated"), ("table", "dated"), ("table", "classic")]
"""(template, URL scheme); classic+classic is tests/site, crawled by test_crawl."""


@pytest.fixture(scope="module", params=VARIANTS, ids=[f"{t}-{u}" for t, u in VARIANTS])
def crawl(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> check.Crawl:
    template, url_scheme = request.param
    root: Path = tmp_path_factory.mktemp(f"redesign-{template}-{url_scheme}")
    return check.crawl_variant(root, template, url_scheme)


def test_crawl_exits_0(crawl: check.Crawl) -> None:
    check.assert_exit_0(crawl)


def test_every_gold_article_exactly_once(crawl: check.Crawl) -> None:
    check.assert_every_gold_article_once(crawl)


def test_soft_404_is_rejected(crawl: check.Crawl) -> None:
    check.assert_soft_404s_rejected(crawl)


def test_every_field_exact(crawl: check.Crawl) -> None:
    rows, wrong = check.wrong_fields(crawl)
    if any(wrong.values()):
        pytest.fail(check.field_diff(crawl, wrong, rows), pytrace=False)


def test_requests_within_budget(crawl: check.Crawl) -> None:
    check.assert_requests_within_budget(crawl)


def test_no_tag_download_search_or_login_pages_beyond_probes(crawl: check.Crawl) -> None:
    check.assert_few_not_content_pages(crawl)
