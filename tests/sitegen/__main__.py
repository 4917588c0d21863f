"""``python -m tests.sitegen OUT [--seed S] [--journals J] [--issues I] [--articles-per-issue A]
[--body-chars C] [--template classic|html5|table] [--url-scheme classic|dated]``.

Writes ``OUT/www`` (the static site; ``{BASE}`` in robots.txt and the sitemap is
replaced by :mod:`tests.siteserver`), ``OUT/expected.jsonl`` and ``OUT/manifest.json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.sitegen.build import TEMPLATES, build_site
from tests.sitegen.urls import URL_SCHEMES


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sitegen", description="Generate a fixture site and its gold.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--journals", type=int, default=4)
    parser.add_argument("--issues", type=int, default=3, dest="issues_per_journal")
    parser.add_argument("--articles-per-issue", type=int, default=4)
    parser.add_argument("--body-chars", type=int, default=800)
    parser.add_argument("--template", choices=sorted(TEMPLATES), default="classic")
    parser.add_argument("--url-scheme", choices=sorted(URL_SCHEMES), default="classic")
    args = parser.parse_args(argv)
    manifest = build_site(
        args.out, seed=args.seed, journals=args.journals, issues_per_journal=args.issues_per_journal,
        articles_per_issue=args.articles_per_issue, body_chars=args.body_chars,
        template=args.template, url_scheme=args.url_scheme,
    )
    print(
        f"{args.out}: {manifest['articles']} articles, {len(manifest['list_paths'])} list pages, "
        f"{len(manifest['gbk_article_paths'])} GBK pages ({args.template} template, {args.url_scheme} URLs; "
        f"every page once = {manifest['every_page_once']} requests)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
