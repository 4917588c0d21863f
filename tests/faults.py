"""Fault handlers for :class:`tests.siteserver.SiteServer`'s ``faults`` hook.

The real site is slow, flaky and sometimes broken; these handlers make the
fixture server misbehave in each of those ways, over real sockets, so that
the crawler's answer to every one of them can be tested end to end. Each
factory returns a handler (``handler(request_handler) -> None``) that answers
one request completely; a :class:`FaultPlan` maps paths to handlers and is the
callable the server's hook wants.

Every wait here is bounded and ends early when the client hangs up, so a
misbehaving handler never outlives the crawl that provoked it by much.
"""

from __future__ import annotations

import gzip
import re
import select
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.siteserver import FaultHandler, Faults

MIB = 1024 * 1024
CHUNK = 64 * 1024


# -- small helpers --------------------------------------------------------------


def _client_gone(handler: BaseHTTPRequestHandler, wait: float) -> bool:
    """Wait up to ``wait`` seconds; True as soon as the client has closed its end.

    A readable socket on which ``recv`` returns nothing is a closed one; a client
    that sends more bytes (a pipelined request) counts as still there.
    """
    connection: socket.socket = handler.connection
    readable, _, _ = select.select([connection], [], [], wait)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _write(handler: BaseHTTPRequestHandler, data: bytes) -> bool:
    """Write and flush; False when the client is gone (reset, closed)."""
    try:
        handler.wfile.write(data)
        handler.wfile.flush()
        return True
    except OSError:
        return False


def _headers(handler: BaseHTTPRequestHandler, status: int, headers: Mapping[str, str]) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()


def site_file(handler: BaseHTTPRequestHandler, path: str) -> bytes:
    """The bytes the site itself would serve for ``path`` (templated files as served)."""
    site = handler.server.site  # type: ignore[attr-defined]
    target = site.resolve(path)
    if target is None or not target.is_file():
        raise FileNotFoundError(path)
    return target.read_bytes().replace(b"{BASE}", site.base_url.encode("ascii"))


def base_url(handler: BaseHTTPRequestHandler) -> str:
    return handler.server.site.base_url  # type: ignore[attr-defined]


# -- the faults -----------------------------------------------------------------


def status(code: int, retry_after: str | None = None, body: bytes = b"busy\n") -> FaultHandler:
    """An error status (503, 500, ...), with ``Retry-After`` when given."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        handler.respond(code, body, "text/plain", headers)  # type: ignore[attr-defined]

    return handle


def connection_reset() -> FaultHandler:
    """Read the request, then reset the connection (RST, no response byte)."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The descriptor really closes (with RST, linger 0) once the handler's
        # rfile/wfile are closed by finish(), before the server's graceful shutdown.
        handler.connection.close()

    return handle


def hang(max_seconds: float = 30.0) -> FaultHandler:
    """Accept the request and never answer: the client's timeout must end it."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        _client_gone(handler, max_seconds)

    return handle


def slow_drip(
    body_of: Callable[[BaseHTTPRequestHandler], bytes], chunk: int = 16, interval: float = 0.1
) -> FaultHandler:
    """A complete, correct response sent ``chunk`` bytes every ``interval`` seconds.

    Each byte arrives in time, so only a limit on the whole download ends it.
    Stops when the client hangs up (or the body is done).
    """

    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        body = body_of(handler)
        _headers(handler, 200, {"Content-Type": "text/html", "Content-Length": str(len(body))})
        handler.wfile.flush()
        for start in range(0, len(body), chunk):
            if not _write(handler, body[start : start + chunk]) or _client_gone(handler, interval):
                return

    return handle


def truncated(body_of: Callable[[BaseHTTPRequestHandler], bytes], missing: int = 1000) -> FaultHandler:
    """``Content-Length`` promises ``missing`` bytes more than are sent; then the connection closes."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        body = body_of(handler)
        cut = body[: max(0, len(body) // 2)]
        _headers(handler, 200, {"Content-Type": "text/html", "Content-Length": str(len(cut) + missing)})
        _write(handler, cut)

    return handle


def empty_ok() -> FaultHandler:
    """200 with an empty body."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.respond(200, b"", "text/html")  # type: ignore[attr-defined]

    return handle


def redirect(location: str | Callable[[BaseHTTPRequestHandler], str], code: int = 302) -> FaultHandler:
    """A redirect to ``location`` (a URL, or a function of the request handler)."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        target = location(handler) if callable(location) else location
        handler.respond(code, b"", "text/html", {"Location": target})  # type: ignore[attr-defined]

    return handle


def redirect_chain(hops: int = 25) -> FaultHandler:
    """``path?hop=N`` redirects to ``path?hop=N+1``, ``hops`` times: a chain of distinct URLs, longer than any limit."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        match = re.search(r"[?&]hop=(\d+)", handler.path)
        hop = int(match.group(1)) if match else 0
        if hop >= hops:
            handler.respond(200, b"", "text/html")  # type: ignore[attr-defined]
            return
        location = f"{_path(handler)}?hop={hop + 1}"
        handler.respond(302, b"", "text/html", {"Location": location})  # type: ignore[attr-defined]

    return handle


def huge(size: int = 30 * MIB, framing: str = "length") -> FaultHandler:
    """A page of ``size`` bytes, framed by ``Content-Length`` ("length"), chunked ("chunked"),
    or by closing the connection ("close"): in the last two its size shows only while it arrives."""
    if framing not in ("length", "chunked", "close"):
        raise ValueError(f"framing must be length, chunked or close, not {framing!r}")

    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        headers = {"Content-Type": "text/html"}
        if framing == "length":
            headers["Content-Length"] = str(size)
        elif framing == "chunked":
            headers["Transfer-Encoding"] = "chunked"
        _headers(handler, 200, headers)
        block = b"<p>" + "大".encode() * ((CHUNK - 7) // 3) + b"</p>\n"
        sent = 0
        while sent < size:  # bounded by size; stops early when the client cancels
            piece = block[: size - sent]
            if not _write(handler, b"%x\r\n%b\r\n" % (len(piece), piece) if framing == "chunked" else piece):
                return
            sent += len(piece)
        if framing == "chunked":
            _write(handler, b"0\r\n\r\n")

    return handle


@lru_cache(maxsize=4)
def gzip_bomb_bytes(expanded: int = 256 * MIB) -> bytes:
    """A gzip stream of ``expanded`` zero bytes, about 1/1000 of that on the wire.

    Built as one member of 1 MiB of zeros repeated: a gzip stream may hold many
    members (RFC 1952), and every gzip reader must inflate all of them, so the
    bomb costs nothing to make however large it expands.
    """
    member = gzip.compress(bytes(MIB), compresslevel=9, mtime=0)
    return member * max(1, expanded // MIB)


def gzip_bomb(expanded: int = 256 * MIB, as_content_encoding: bool = True) -> FaultHandler:
    """A small gzip body that expands to ``expanded`` bytes.

    With ``as_content_encoding`` it is a page sent ``Content-Encoding: gzip``
    (the HTTP layer decompresses it); otherwise a ``.gz`` file (a gzipped sitemap).
    """

    def handle(handler: BaseHTTPRequestHandler) -> None:
        body = gzip_bomb_bytes(expanded)
        if as_content_encoding:
            handler.respond(200, body, "text/html", {"Content-Encoding": "gzip"})  # type: ignore[attr-defined]
        else:
            handler.respond(200, body, "application/x-gzip")  # type: ignore[attr-defined]

    return handle


def corrupt_gzip() -> FaultHandler:
    """``Content-Encoding: gzip`` over bytes that only start like gzip."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        body = b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4
        handler.respond(200, body, "text/html", {"Content-Encoding": "gzip"})  # type: ignore[attr-defined]

    return handle


def entity_bomb_sitemap_bytes(
    base: str, levels: int = 10, fanout: int = 10, extra_urls: Iterable[str] = (), remote: str = "http://localhost:9/"
) -> bytes:
    """A sitemap with a billion-laughs DTD (``fanout ** levels`` copies of "lol" if expanded)
    and external entities naming a local file and ``remote`` (another host); the entity
    references sit in ``<loc>``, after the plain ``extra_urls``."""
    entities = ['<!ENTITY lol0 "lol">']
    for level in range(1, levels):
        entities.append(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * fanout}">')
    entities.append('<!ENTITY xxe SYSTEM "file:///etc/passwd">')
    entities.append(f'<!ENTITY remote SYSTEM "{remote}">')
    urls = "".join(f"<url><loc>{base}{path}</loc></url>\n" for path in extra_urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<!DOCTYPE urlset [\n{chr(10).join(entities)}\n]>\n"
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{urls}"
        f"<url><loc>{base}/paper/&lol{levels - 1};.html</loc></url>\n"
        f"<url><loc>{base}/paper/&xxe;.html</loc></url>\n"
        f"<url><loc>{base}/paper/&remote;.html</loc></url>\n"
        "</urlset>\n"
    ).encode()


def entity_bomb_sitemap(extra_urls: Iterable[str] = (), remote: str = "http://localhost:9/") -> FaultHandler:
    """Serve :func:`entity_bomb_sitemap_bytes` for the server's own base URL."""
    extra = tuple(extra_urls)

    def handle(handler: BaseHTTPRequestHandler) -> None:
        body = entity_bomb_sitemap_bytes(base_url(handler), extra_urls=extra, remote=remote)
        handler.respond(200, body, "application/xml")  # type: ignore[attr-defined]

    return handle


def sitemap(paths: Iterable[str]) -> FaultHandler:
    """A plain sitemap listing ``paths`` on the server's own base URL."""
    listed = tuple(paths)

    def handle(handler: BaseHTTPRequestHandler) -> None:
        base = base_url(handler)
        entries = "".join(f"<url><loc>{base}{path}</loc></url>\n" for path in listed)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</urlset>\n'
        ).encode()
        handler.respond(200, body, "application/xml")  # type: ignore[attr-defined]

    return handle


def robots_with_sitemaps(paths: Iterable[str]) -> FaultHandler:
    """The site's robots.txt with more ``Sitemap:`` lines appended."""
    listed = tuple(paths)

    def handle(handler: BaseHTTPRequestHandler) -> None:
        base = base_url(handler)
        body = site_file(handler, "/robots.txt").rstrip(b"\n") + b"\n"
        body += "".join(f"Sitemap: {base}{path}\n" for path in listed).encode("ascii")
        handler.respond(200, body, "text/plain")  # type: ignore[attr-defined]

    return handle


META_CHARSET_RE = re.compile(rb"<meta[^>]*charset[^>]*>", re.I)


def charset_lie(path: str | None = None) -> FaultHandler:
    """The page's bytes as they are (e.g. GBK), declared as utf-8 in the header and in ``<meta>``."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        body = site_file(handler, path or _path(handler))
        body = META_CHARSET_RE.sub(b'<meta charset="utf-8" />', body, count=1)
        handler.respond(200, body, "text/html; charset=utf-8")  # type: ignore[attr-defined]

    return handle


def no_declaration(path: str | None = None) -> FaultHandler:
    """The page's bytes with every charset declaration removed (header and ``<meta>``)."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        body = META_CHARSET_RE.sub(b"", site_file(handler, path or _path(handler)))
        handler.respond(200, body, "text/html")  # type: ignore[attr-defined]

    return handle


def page(body: bytes, content_type: str = "text/html") -> FaultHandler:
    """Fixed bytes with status 200 (a hand-made page)."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.respond(200, body, content_type)  # type: ignore[attr-defined]

    return handle


def _path(handler: BaseHTTPRequestHandler) -> str:
    return handler.path.split("?", 1)[0]


def own_page(handler: BaseHTTPRequestHandler) -> bytes:
    """Body source for :func:`slow_drip` and :func:`truncated`: the requested page itself,
    or the first article of the site when the path is not a file."""
    try:
        return site_file(handler, _path(handler))
    except FileNotFoundError:
        site = handler.server.site  # type: ignore[attr-defined]
        first = min((site.root / "paper").glob("*.html"))
        return first.read_bytes()


# -- choosing faults per path ------------------------------------------------------


class FaultPlan:
    """Path → fault handler, usable as ``SiteServer(faults=plan)``.

    ``fallbacks`` are further hooks consulted, in order, for paths the plan
    does not name (for instance :class:`FailFirstRequest`).
    """

    def __init__(self, by_path: Mapping[str, FaultHandler] | None = None, *fallbacks: Faults) -> None:
        self.by_path = dict(by_path or {})
        self.fallbacks = fallbacks

    def __call__(self, path: str) -> FaultHandler | None:
        handler = self.by_path.get(path)
        if handler is not None:
            return handler
        for hook in self.fallbacks:
            handler = hook(path)
            if handler is not None:
                return handler
        return None


class FailFirstRequest:
    """The first request for each chosen path gets ``fault``; every later one is served normally.

    Thread-safe: the server answers on many threads, and exactly one request per
    path must see the fault however the requests interleave.
    """

    def __init__(self, paths: Iterable[str], fault: FaultHandler) -> None:
        self.paths = frozenset(paths)
        self.fault = fault
        self.failed: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, path: str) -> FaultHandler | None:
        if path not in self.paths:
            return None
        with self._lock:
            if path in self.failed:
                return None
            self.failed.add(path)
        return self.fault


def every_third(paths: Iterable[str]) -> list[str]:
    """The 3rd, 6th, 9th, ... of ``paths`` ordered by article id (numerically), then path.

    Deterministic whatever order the crawler asks in.
    """

    def key(path: str) -> tuple[int, str]:
        digits = re.sub(r"\D", "", Path(path).stem)
        return (int(digits) if digits else -1, path)

    ordered = sorted(set(paths), key=key)
    return ordered[2::3]


def every_third_article_503_once(article_paths: Iterable[str], retry_after: str = "1") -> FailFirstRequest:
    """Every third article page answers 503 with ``Retry-After`` once, then succeeds."""
    return FailFirstRequest(every_third(article_paths), status(503, retry_after=retry_after))


# -- hand-made article pages ---------------------------------------------------------


def article_page(
    article_id: str,
    *,
    title: str,
    authors: str,
    journal: str,
    year_issue: str,
    paragraphs: Iterable[str],
    date: str = "2019/4/28",
    tags: Iterable[str] = (),
    head: str = "",
) -> bytes:
    """An article page in the SPEC's layout with the given texts inserted verbatim (not escaped).

    For pages whose metadata is hostile: the texts go where the site prints them,
    in the title, breadcrumb, ``h1``, "论文发表刊物" line and tags.
    """
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    tag_links = ";".join(f'<a href="/tag/{i}.html">{t}</a>' for i, t in enumerate(tags))
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />\n'
        f"<title>{title}论文_{authors} - 期刊图书馆</title>\n"
        f'<link rel="canonical" href="/paper/{article_id}.html" />\n{head}</head>\n<body>\n'
        '<div class="position">当前位置：<a href="/">首页</a> &gt; '
        f'<a href="/journal/qk000/">{journal}</a> &gt; '
        f"{year_issue} &gt; {title}论文_{authors}</div>\n"
        f'<div class="article">\n<h1 class="title">{title}论文_{authors}</h1>\n'
        f'<div class="content" id="content">\n{body}</div>\n'
        f'<div class="paper-info"><p>论文作者：{authors}</p>'
        f"<p>论文发表刊物：《{journal}》{year_issue}</p><p>论文发表时间：{date}</p></div>\n"
        f'<div class="tags">标签：{tag_links}</div>\n'
        "</div>\n</body>\n</html>\n"
    ).encode()
