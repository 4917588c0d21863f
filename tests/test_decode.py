"""Decoding as the SPEC says: GB2312/GBK read as GB18030, undeclared pages detected, not guessed."""

from __future__ import annotations

import pytest

from pipelines.decode import UndecodableError, decode_body

TEXT = "<p>春季是森林火灾的高发期，林区防火宣传工作直接关系到森林资源安全。作者：王镕、李喆，大兴安岭林业集团公司。</p>" * 8


def page(charset: str | None, text: str = TEXT) -> str:
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset={charset}" />' if charset else ""
    return f"<html><head>{meta}<title>林区</title></head><body>{text}</body></html>"


@pytest.mark.parametrize("declared", ["gb2312", "GBK", "gb_2312-80"])
def test_gb_declarations_decode_as_gb18030_and_keep_gbk_only_characters(declared: str) -> None:
    body = page(declared).encode("gb18030")
    with pytest.raises(UnicodeEncodeError):
        "镕".encode("gb2312")
    decoded = decode_body(body, "text/html")
    assert decoded.encoding == "gb18030" and decoded.how == "meta"
    assert "王镕、李喆" in decoded.text


def test_http_header_charset_wins_over_meta() -> None:
    body = page("utf-8").encode("gb18030")
    assert decode_body(body, "text/html; charset=GBK").how == "header"


def test_undeclared_utf8() -> None:
    decoded = decode_body(page(None).encode("utf-8"), "text/html")
    assert decoded.encoding == "utf-8" and "王镕" in decoded.text


def test_undeclared_gbk_is_detected_not_read_as_cp1252() -> None:
    decoded = decode_body(page(None).encode("gb18030"), "text/html")
    assert decoded.how == "detected"
    assert "森林火灾的高发期" in decoded.text


def test_declared_utf8_that_is_really_gbk_is_detected() -> None:
    decoded = decode_body(page("utf-8").encode("gb18030"), None)
    assert decoded.how == "detected"
    assert "林区防火宣传工作" in decoded.text


def test_a_cut_multibyte_character_at_the_end_is_tolerated() -> None:
    body = page("utf-8").encode("utf-8") + "镕".encode()[:2]
    decoded = decode_body(body, "text/html")
    assert decoded.text.endswith("\ufffd") and "王镕" in decoded.text


def test_byte_order_mark() -> None:
    decoded = decode_body("\ufeff".encode("utf-8") + page(None).encode("utf-8"), "text/html; charset=latin-1")
    assert decoded.how == "bom" and decoded.text.startswith("<html>")


def test_binary_noise_is_undecodable() -> None:
    noise = bytes((i * 131 + 7) % 256 for i in range(4096)).replace(b"\x00", b"\xff")
    with pytest.raises(UndecodableError):
        decode_body(b'<meta charset="utf-8">' + noise, "text/html")
