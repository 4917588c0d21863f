"""The raw page: what the spider fetched, before any parsing.

A raw page is the one hand-off between fetching and cleaning. The live crawl,
fixture replay and offline rebuilds all produce raw pages and feed them to
:func:`pipelines.process.process_page`, so every cleaning rule has one home.
"""

from __future__ import annotations

import datetime as dt

import attrs


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.define(kw_only=True)
class RawPage:
    """One HTTP response exactly as received (or a fetch that failed)."""

    url: str
    """The URL of the response (after redirects)."""

    status: int
    """HTTP status; 0 when no response arrived (see ``error``)."""

    headers: dict[str, str] = attrs.field(factory=dict)
    """Response headers, one value per name (names as sent)."""

    body: bytes = attrs.field(default=b"", repr=lambda body: f"<{len(body)} bytes>")
    """Body bytes exactly as served, undecoded. Its repr is only its size: a page's bytes never end up
    in a log line or a traceback's locals (a soft 404 alone is 3 KB)."""

    fetched_at: dt.datetime = attrs.field(factory=_utc_now)
    """When the response arrived, timezone-aware UTC."""

    request_url: str | None = None
    """The URL that was requested, when it differs from ``url``."""

    error: str | None = None
    """Why no usable response arrived (exception class and message), else None."""

    link_kind: str | None = None
    """What the spider expected behind the URL when it asked for it: ``"article"`` when the URL
    matched a learned article pattern or came from the sitemap, ``"listing"``, ``"probe"``
    (a URL of a shape not yet learned) or ``"start"``; None where nobody knows (a saved page,
    a foreign archive). The classifier calls an ``"article"`` page that shows no article a
    template mismatch (the drift alarm), any other such page simply not an article."""

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return None
