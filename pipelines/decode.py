"""Turn a page's bytes into text, the way the SPEC says.

Order of evidence: a byte-order mark, the HTTP ``Content-Type`` charset, the
page's own ``<meta>`` declaration. GB2312 and GBK declarations are read as
GB18030 (w3lib's translation table does that), because old pages carry
GBK-only characters such as 镕. A page that declares nothing, or whose bytes
contradict its declaration, is detected with charset-normalizer rather than
guessed as cp1252.
"""

from __future__ import annotations

import attrs
from charset_normalizer import from_bytes
from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)

MAX_REPLACEMENT_SHARE = 0.001
MAX_REPLACEMENTS_ALWAYS_OK = 2
"""A declared encoding that fails on at most this share of characters, or on at
most two (a cut multi-byte sequence at the end of a truncated page), is still
used, with U+FFFD where the bytes were bad."""


class UndecodableError(ValueError):
    """The bytes are text in no encoding we can establish."""


@attrs.frozen
class Decoded:
    text: str
    encoding: str
    """Python codec name actually used."""
    how: str
    """Where the encoding came from: bom, header, meta, utf-8, detected, lenient."""


def declared_encoding(body: bytes, content_type: str | None) -> tuple[str | None, str]:
    """The encoding the response claims, resolved to a Python codec, and where it was found."""
    bom_encoding, _ = read_bom(body)
    if bom_encoding:
        return resolve_encoding(bom_encoding), "bom"
    if content_type:
        from_header = http_content_type_encoding(content_type)
        if from_header:
            return resolve_encoding(from_header), "header"
    from_meta = html_body_declared_encoding(body[:4096])
    if from_meta:
        return resolve_encoding(from_meta), "meta"
    return None, ""


def decode_body(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode ``body``; raise :class:`UndecodableError` when no encoding fits."""
    encoding, source = declared_encoding(body, content_type)
    if encoding:
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            pass
        else:
            return Decoded(_strip_bom(text), encoding, source)
    try:
        return Decoded(_strip_bom(body.decode("utf-8")), "utf-8", "utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(body).best()
    if best is not None and best.encoding:
        detected = resolve_encoding(best.encoding) or best.encoding
        try:
            return Decoded(_strip_bom(body.decode(detected)), detected, "detected")
        except (UnicodeDecodeError, LookupError):
            pass
    if encoding:
        try:
            text = body.decode(encoding, errors="replace")
        except LookupError:
            text = ""
        bad = text.count("\ufffd")
        if text and bad <= max(MAX_REPLACEMENTS_ALWAYS_OK, MAX_REPLACEMENT_SHARE * len(text)):
            return Decoded(_strip_bom(text), encoding, "lenient")
    raise UndecodableError(
        f"no encoding fits (declared {encoding or 'nothing'}, {len(body)} bytes)"
    )


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text
