"""A real HTTP server over a generated fixture site (see :mod:`tests.sitegen`).

The crawler is tested against real sockets rather than mocked responses, so
that Scrapy's downloader, robots.txt handling, redirects and encodings all run
for real. The server behaves like the SPEC's site: ``Content-Type: text/html``
without a charset (pages declare their own encoding, or nothing), a missing
article URL (``/paper/<digits>.html``, or ``/a/YYYY/MM/<digits>.html`` in the
dated URL scheme) is a soft 404 (status 200 with ``404.html``), and ``{BASE}``
in robots.txt and every ``.xml`` file (the sitemaps) becomes the server's own
base URL. ``?page=N`` (N > 1) on a listing serves the generator's sibling file
``<name>~pageN.<suffix>`` (see ``tests.sitegen.file_for``); any other query
string is ignored, as the site ignores tracking parameters.

It counts every request path in :attr:`SiteServer.hits` so tests can assert
what the crawler did (and did not) fetch. A ``faults`` hook lets a later test
answer some requests differently (503, Retry-After, truncation) without
touching the static serving code.

CLI: ``python -m tests.siteserver ROOT [--host H] [--port P]`` prints the base
URL followed by "/" on its first stdout line, then serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from urllib.parse import unquote, urlsplit

SOFT_404_PATH_RE = re.compile(r"^/(?:paper|a/\d{4}/\d{2})/\d+\.html$")
"""Missing article URLs that get the soft 404 (status 200) instead of a real 404."""

CONTENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".xml": "application/xml",
    ".txt": "text/plain",
    ".css": "text/css",
    ".js": "application/javascript",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".doc": "application/msword",
}
"""By suffix; HTML deliberately without charset, as the real site sends it."""

BASE_PLACEHOLDER = b"{BASE}"
TEMPLATED_SUFFIXES = frozenset({".txt", ".xml"})
"""robots.txt and sitemaps (wherever robots.txt says they are) carry ``{BASE}``."""
PAGE_QUERY_RE = re.compile(r"page=(\d+)")

FaultHandler = Callable[[BaseHTTPRequestHandler], None]
"""Answers one request completely (status, headers, body) in place of the site."""
Faults = Callable[[str], FaultHandler | None]
"""Given a request path (without query), a handler to use instead, or None."""


class HitCounter(Counter[str]):
    """A Counter whose updates from the server threads are serialised."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        with self._lock:
            self[key] += 1

    def reset(self) -> None:
        with self._lock:
            self.clear()

    def snapshot(self) -> Counter[str]:
        """A plain copy, consistent even while requests are still arriving."""
        with self._lock:
            return Counter(self)


class _Handler(BaseHTTPRequestHandler):
    """Serves files from the site root; all state lives on the :class:`SiteServer`."""

    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection does not hold a thread forever

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._serve(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(send_body=False)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: tests and crawls would otherwise flood stderr."""

    # ------------------------------------------------------------------

    def _serve(self, *, send_body: bool) -> None:
        site = self.server.site
        parts = urlsplit(self.path)
        path = unquote(parts.path) or "/"
        site.hits.hit(path)
        site.hits_with_query.hit(self.path)
        self._send_body = send_body

        fault = site.faults(path) if site.faults else None
        if fault is not None:
            fault(self)
            return

        target = site.resolve(path, parts.query)
        if target is None:
            self.respond(403, b"Forbidden\n", "text/plain")
            return
        if target.is_dir():
            self.send_response(301)
            self.send_header("Location", path + "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if target.is_file():
            body = target.read_bytes()
            if target.suffix in TEMPLATED_SUFFIXES:
                body = body.replace(BASE_PLACEHOLDER, site.base_url.encode("ascii"))
            self.respond(200, body, content_type_for(target))
            return
        if SOFT_404_PATH_RE.match(path) and site.soft_404.is_file():
            self.respond(200, site.soft_404.read_bytes(), "text/html")
            return
        self.respond(404, b"Not Found\n", "text/plain")

    def respond(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        """Send a complete response (HEAD: headers only). Fault handlers use this too."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if getattr(self, "_send_body", True):
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    site: SiteServer


def content_type_for(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


class SiteServer:
    """A threaded HTTP server over ``root`` (a generated site's ``www``).

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, *, faults: Faults | None = None):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"site root {self.root} is not a directory")
        self.soft_404 = self.root / "404.html"
        self.hits = HitCounter()
        """Request paths without query string (percent-decoded) -> count."""
        self.hits_with_query = HitCounter()
        """Request targets exactly as sent (path and query) -> count."""
        self.faults = faults
        self._httpd = _Server((host, port), _Handler)
        self._httpd.site = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def resolve(self, path: str, query: str = "") -> Path | None:
        """The file a URL path (and ``page=N`` query) names, or None when it would leave the root."""
        if "\\" in path or "\x00" in path or not path.startswith("/"):
            return None
        parts = path.split("/")
        if any(part in ("..", ".") for part in parts):
            return None
        relative = path.lstrip("/")
        if path.endswith("/"):
            relative += "index.html"
        page = PAGE_QUERY_RE.fullmatch(query)
        if page and int(page[1]) > 1:
            stem, dot, suffix = relative.rpartition(".")
            if not dot:
                return None
            relative = f"{stem}~page{int(page[1])}.{suffix}"
        target = (self.root / relative).resolve()
        if not target.is_relative_to(self.root):
            return None
        return target

    def reset_hits(self) -> None:
        self.hits.reset()
        self.hits_with_query.reset()

    def start(self) -> SiteServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},  # quick shutdown: tests start one server each
                name=f"siteserver-{self.base_url}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.siteserver", description="Serve a generated fixture site.")
    parser.add_argument("root", type=Path, help="the site's www directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with SiteServer(args.root, args.host, args.port) as server:
        print(f"{server.base_url}/", flush=True)
        while not stopping.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
