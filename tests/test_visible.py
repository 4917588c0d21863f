"""Extraction from what a reader sees: visible lines, and the fields read off them.

The pages here are small, hand-written redesigns of one article (the SPEC's seed page): other
tags and classes, labels in cells or joined by ``<br>``, centring by ``align`` or ``<center>``,
the labelled block above the body. Every one must give the same row.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from lxml import etree
from lxml import html as lxml_html

from pipelines.extract import PageClass, classify, html_root, parse_page, read_lines, read_text
from pipelines.visible import BR_MARK, lines_from_html

FIXTURES = Path(__file__).parent / "fixtures"
SEED_TEXT = FIXTURES / "text" / "seed-article.txt"
"""A byte copy of the SPEC's seed-article.txt: the real page as a person copied it from a browser."""
SEED_ROW = json.loads((FIXTURES / "pages" / "seed-site-paper" / "expected.json").read_text(encoding="utf-8"))
FIELDS = ("title", "authors", "affiliations", "journal", "year", "issue", "issue_label", "tags")


def _row(text) -> dict:
    row = {name: getattr(text, name) for name in FIELDS}
    row["published_date"] = text.published_date.isoformat() if text.published_date else None
    row["body"] = "\n".join(text.paragraphs)
    return row


def test_seed_text_as_a_reader_copied_it_gives_the_seed_row() -> None:
    row = _row(read_text(SEED_TEXT.read_text(encoding="utf-8")))
    expected = {name: SEED_ROW[name] for name in row}
    assert row == expected


def _lines(markup: str):
    return lines_from_html(lxml_html.document_fromstring(markup))


def test_lines_follow_blocks_br_runs_cells_and_links() -> None:
    lines = _lines(
        "<body><div>甲<b>乙</b>丙<br>丁<br><br>戊</div><table><tr><td>论文作者</td><td>杨金海</td></tr></table>"
        "<p><a href='/x'>链接</a> | <a href='/y'>另一个</a></p><p style='display:none'>隐藏</p>"
        "<center>（单位）</center><p align='center'>居中</p><div style='text-align: center'><p>也居中</p></div>"
        "<script>var a = '<p>不是文字</p>';</script><h2>小标题</h2></body>"
    )
    assert [line.text for line in lines] == [
        f"甲乙丙{BR_MARK}丁", "戊", "论文作者", "杨金海", "链接 | 另一个", "（单位）", "居中", "也居中", "小标题",
    ]  # fmt: skip
    assert lines[4].link_only and lines[4].links == ("链接", "另一个")
    assert [line.centred for line in lines[5:8]] == [True, True, True]
    assert not lines[0].centred and not lines[0].link_only
    assert lines[8].heading


SEED_BODY = SEED_ROW["body"].split("\n")


def _page(meta: str, content: str, *, title: str = "<h1>论践行“两学一做”夯实基层党建论文_杨金海</h1>") -> str:
    return (
        "<html><head><title>论践行“两学一做”夯实基层党建论文_杨金海 - 期刊图书馆</title></head><body>"
        "<nav><a href='/'>首页</a><a href='/j/'>期刊大全</a></nav>"
        f"<main>{title}{meta}{content}"
        "<p>论践行“两学一做”夯实基层党建论文_杨金海</p><p><a href='/d/1'>下载Doc文档</a></p>"
        "<h3>猜你喜欢</h3><ul><li><a href='/a/2.html'>另一篇论文</a></li></ul></main>"
        "<aside><h3>热门期刊</h3><ul><li><a href='/j/1'>基层建设</a></li><li><a href='/j/2'>读与写</a></li></ul></aside>"
        "<footer>Copyright 期刊图书馆</footer></body></html>"
    )


PARAGRAPHS = "".join(f"<section>{p}</section>" for p in SEED_BODY)
REDESIGNS = {
    "labels-in-a-list-above-the-body": _page(
        "<ul><li>论文作者: 杨金海</li><li>论文发表刊物: 《基层建设》2019年第6期</li><li>论文发表时间: 2019/4/28</li></ul>",
        "<div>来源：期刊图书馆</div><center>松岭林业局大扬气林场</center>" + PARAGRAPHS
        + "<div>分享到：<a href='#'>微博</a> <a href='#'>微信</a></div><div>标签：;  ;</div>",
    ),
    "labels-in-cells-below-the-body": _page(
        "",
        "<table><tr><td align='center'>松岭林业局大扬气林场</td></tr><tr><td>"
        + "<br><br>".join(SEED_BODY)
        + "</td></tr></table><table><tr><td>论文作者</td><td>杨金海</td></tr>"
        "<tr><td>论文发表刊物</td><td>《基层建设》2019年第6期</td></tr><tr><td>论文发表时间</td><td>2019/4/28</td></tr>"
        "<tr><td>标签</td><td></td></tr></table>",
        title="<table><tr><td><font size='5'>论践行“两学一做”夯实基层党建论文_杨金海</font></td></tr></table>",
    ),
    "labels-joined-by-br": _page(
        "",
        "<div class='x1'><div style='text-align:center'>松岭林业局大扬气林场</div>" + PARAGRAPHS + "</div>"
        "<div>论文作者：杨金海<br>论文发表刊物：《基层建设》2019年第6期<br>论文发表时间：2019/4/28<br>标签：</div>",
    ),
}


@pytest.mark.parametrize("name", REDESIGNS)
def test_redesigned_markup_gives_the_same_row(name: str) -> None:
    page = parse_page(REDESIGNS[name])
    text = read_lines(page.lines, page.document_title)
    assert classify(text, "http://127.0.0.1/a/2019/06/442798.html", "article") is PageClass.ARTICLE
    row = _row(text)
    expected = {name: SEED_ROW[name] for name in row}
    assert row == expected


def test_breadcrumb_list_is_the_fallback_for_journal_and_issue() -> None:
    markup = _page(
        "<ol><li><a href='/'>首页</a></li><li><a href='/j/9/'>基层建设</a></li><li><a href='/j/9/2019-6/'>2019年第6期</a></li>"
        "<li>论践行“两学一做”夯实基层党建论文_杨金海</li></ol>",
        PARAGRAPHS,
    )
    page = parse_page(markup)
    text = read_lines(page.lines, page.document_title)
    assert (text.journal, text.year, text.issue, text.issue_label) == ("基层建设", 2019, 6, "第6期")
    assert text.published_date is None and text.authors == ["杨金海"]


def test_soft_404_listing_and_a_page_without_an_article() -> None:
    gone = parse_page("<html><body><div class='e'><b>抱歉，您访问的页面不存在！</b></div><a href='/'>返回首页</a></body></html>")
    assert classify(read_lines(gone.lines, gone.document_title), "http://h/a/1.html", "article") is PageClass.SOFT_404
    shell = parse_page("<html><head><title>期刊图书馆</title></head><body><div id='app'>正在加载</div></body></html>")
    shell_text = read_lines(shell.lines, shell.document_title)
    assert classify(shell_text, "http://h/a/1.html", "article") is PageClass.TEMPLATE_MISMATCH
    assert classify(shell_text, "http://h/a/1.html", "listing") is PageClass.NOT_ARTICLE
    assert classify(shell_text, "http://h/paper/1.html", None) is PageClass.TEMPLATE_MISMATCH  # no hint: the URL decides
    assert classify(shell_text, "http://h/journal/x/?page=2", None) is PageClass.NOT_ARTICLE


def test_published_date_forms() -> None:
    for line, expected in (("论文发表时间：2019年4月28日", dt.date(2019, 4, 28)), ("论文发表时间 2019-4-28", dt.date(2019, 4, 28))):
        assert read_text(f"某题论文_张三\n{line}\n正文一段。").published_date == expected


def test_a_gzipped_file_is_not_an_article_and_not_undecodable() -> None:
    import gzip

    from pipelines.process import process_page
    from pipelines.rawpage import RawPage

    raw = RawPage(url="http://127.0.0.1:8000/sitemaps/a.xml.gz", status=200, body=gzip.compress(b"<urlset/>"))
    outcome = process_page(raw)
    assert (outcome.reason, outcome.stage) == ("not_article", "classify")


def test_comment_tails_leaf_and_nested_links_and_a_link_around_a_block() -> None:
    page = parse_page(
        "<html><head><!-- c --></head><body><div>甲<!-- note -->乙<a href=/x>链<b>接</b></a>丙</div>"
        "<p><a href=/y>只有链接</a></p><div><a href=/z><div>块中</div></a></div><p>正<span>文</span><a>x</a></p>"
        "</body></html>"
    )
    assert [(line.text, line.link_only, line.links) for line in page.lines] == [
        ("甲乙链接丙", False, ("链接",)),  # a comment's tail is text; a link's label includes its children
        ("只有链接", True, ("只有链接",)),
        ("块中", True, ()),  # the block inside the link ends the line the link's label was on
        ("正文x", False, ("x",)),
    ]


def test_white_space_before_a_line_and_labels_joined_by_what_rule1_removes() -> None:
    page = parse_page(
        "<body><div>\n <br><span> </span>甲</div><p>论文\u200b作者：杨金海</p>"
        "<p>论文期刊文章分类查询，尽在期刊图书馆发表时间：2020-01-02</p><p>正文期刊文章分类查询，尽在期刊图书馆。</p></body>"
    )
    assert page.lines[0].text == "甲"  # white space and a <br> before the first text are no part of the line
    text = read_lines(page.lines)
    # a zero-width character or the watermark inside a label is removed before labels are read
    assert (text.authors, text.published_date, text.labelled) == (["杨金海"], dt.date(2020, 1, 2), 2)


@pytest.mark.parametrize(
    ("markup", "title", "canonical"),
    [
        # the first <title> in document order, wherever it is; rel tokens split at XPath white space
        ('<html><body><svg><title>图</title></svg></body><link rel="alternate\tcanonical" href="/b"></html>', "图", "/b"),
        # NBSP is no XPath white space; a link without href does not count; an empty href does
        ('<head><link rel="canonical\u00a0x" href="/a"><link rel="canonical"><link rel=" canonical " href=""></head>',
         None, ""),
        ('<head><title>题<b>目</b></title><link rel="Canonical" href="/u"></head>', "题<b>目</b>", None),
    ],
)
def test_title_and_canonical_link_as_the_xpath_finds_them(markup: str, title: str | None, canonical: str | None) -> None:
    page = parse_page(markup)
    assert (page.document_title, page.canonical_href) == (title, canonical)


def test_the_reused_parser_builds_what_a_fresh_one_builds() -> None:
    """html_root keeps one parser per thread: a broken page must leave nothing behind for the next."""
    pages = [
        "<html><body><p>第一段<b>粗",
        "",
        "  \n ",
        "<p>a\x00b</p><!-- unclosed",
        "<?xml version='1.0' encoding='gbk'?><p>é</p>",
        "<html><head><meta charset='gbk'><title>题</title></head><body><div>正文</div></body></html>",
    ]
    for html in pages * 2:
        fresh = etree.HTMLParser(recover=True, encoding="utf-8", huge_tree=True)
        expected = etree.fromstring(html.strip().replace("\x00", "").encode("utf-8") or b"<html/>", parser=fresh)
        if expected is None:
            expected = etree.fromstring(b"<html/>", parser=fresh)
        assert etree.tostring(html_root(html), encoding="unicode") == etree.tostring(expected, encoding="unicode")
    assert html_root("").tag == "html" and len(html_root("")) == 0
    assert "".join(html_root("<meta charset='gbk'><p>正文</p>").itertext()) == "正文"  # the text is decoded already


def test_the_label_word_prefilter_agrees_with_the_regex() -> None:
    from pipelines.labels import _LABEL_WORD_RE, _LABEL_WORDS, _names_a_label

    assert all(word.startswith("论文") or word == "标签" for word in _LABEL_WORDS)  # what the prefilter assumes
    texts = [f"{a}{w}{b}" for w in (*_LABEL_WORDS, "论文", "标", "论文发表", "") for a in ("", "正文，") for b in ("", "：x")]
    for text in texts:
        assert _names_a_label(text) == (_LABEL_WORD_RE.search(text) is not None), text
