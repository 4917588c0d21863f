"""Deterministic fixture site for the crawler's tests, with its own gold rows.

The generator writes each article's *clean truth* first (already in the form
the SPEC's "Text normalisation" rules produce) and only then renders the page,
injecting noise that those rules undo exactly: half-width punctuation after
Chinese, stray spaces between Chinese characters, zero-width characters,
full-width letters and digits, indents, the glued-on watermark, old-template
``<br>`` bodies and so on. ``expected.jsonl`` is therefore an independent gold:
nothing here imports the project's ``pipelines`` or ``crawler`` packages, and a
small reference implementation of the rules checks at build time that the
truth is a fixed point and that every injected text normalises back to it.

The same seed renders the same articles in several looks (``template``:
classic, html5, table) and URL schemes (``url_scheme``: classic, dated), the
redesigns of SPEC "When the site changes"; only ``url_path`` in the gold
follows the scheme.

Modules: ``textrules`` (fixed strings, reference normaliser), ``noise``,
``words`` (corpus), ``model``, ``plan`` (the truth), ``urls`` (schemes),
``markup`` and ``pieces`` (shared rendering), ``classic``/``html5``/``table``
(templates), ``adversarial`` (the ``portal``/``flat`` templates of the ``slashed``/``bare``
schemes, written to break our assumptions), ``build`` (files, gold, manifest), ``__main__`` (CLI).
"""

from tests.sitegen.build import NOT_CONTENT_ROLES, TEMPLATES, build_site, file_for
from tests.sitegen.model import HOME_JOURNALS, ISSUE_PAGE_SIZE, JOURNAL_PAGE_SIZE, TAG_SLOTS
from tests.sitegen.noise import Noise, inject_noise
from tests.sitegen.textrules import (
    CJK_CLASS,
    GBK_ONLY_CHARS,
    SOFT_404_H1,
    WATERMARK_FULL,
    WATERMARK_HALF,
    ZERO_WIDTH_CHARS,
    clean_violations,
    normalise,
)
from tests.sitegen.urls import URL_SCHEMES
from tests.sitegen.words import AUTHOR_SEP_NAMES

__all__ = [
    "AUTHOR_SEP_NAMES", "CJK_CLASS", "GBK_ONLY_CHARS", "HOME_JOURNALS", "ISSUE_PAGE_SIZE", "JOURNAL_PAGE_SIZE",
    "NOT_CONTENT_ROLES", "SOFT_404_H1", "TAG_SLOTS", "TEMPLATES", "URL_SCHEMES", "WATERMARK_FULL", "WATERMARK_HALF",
    "ZERO_WIDTH_CHARS", "Noise", "build_site", "clean_violations", "file_for", "inject_noise", "normalise",
]  # fmt: skip
