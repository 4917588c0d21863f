"""The noisy pieces of one article page, independent of the markup around them.

Every template asks for the same pieces (title line, affiliations, body
paragraphs, labelled lines, tags, related links); each piece injects noise that
the SPEC's rules undo, checks that they do, and records the quirk it carries.
The classic template asks for them in its historical order, which keeps the
committed site byte-identical.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from tests.sitegen.markup import SiteContext, esc, lines
from tests.sitegen.model import TAG_SLOTS, Article
from tests.sitegen.noise import Noise, html_text, inject_noise
from tests.sitegen.textrules import (
    SPACE_BETWEEN_CJK_RE,
    WATERMARK_FULL,
    WATERMARK_HALF,
    check_roundtrip,
)
from tests.sitegen.words import AUTHOR_SEP_NAMES


class ArticlePieces:
    """Noisy inline HTML for each part of one article page; markup around it is the template's."""

    def __init__(self, article: Article, rng: random.Random, ctx: SiteContext, by_id: dict[str, Article]):
        self.a = article
        self.rng = rng
        self.ctx = ctx
        self.urls = ctx.urls
        self.by_id = by_id
        self.q = article.quirks

    def noisy(self, clean: str, noise: Noise, *, body: bool, what: str) -> str:
        text, done = inject_noise(clean, self.rng, noise, body=body)
        check_roundtrip(text, clean, body=body, what=f"{what} of {self.a.path}")
        for kind in done:
            self.q.add(f"{what}_{kind}")
        return text

    def title_line(self) -> str:
        """``{title}论文_{authors}`` as inline HTML (the h1 and the repeated title)."""
        a, st, rng = self.a, self.a.style, self.rng
        title_noise = Noise(
            punct=1 if st.title_kind == "punct" else 0,
            fullwidth=rng.randint(1, 3) if st.title_kind == "fullwidth" else 0,
            widen=1 if st.title_kind == "space" and rng.random() < 0.5 else 0,
            zero_width=1 if st.title_zw else 0,
        )
        title = self.noisy(a.title, title_noise, body=False, what="title")
        h1_authors = [
            self.noisy(n, Noise(zero_width=1 if st.author_zw and i == 0 else 0), body=False, what="author")
            for i, n in enumerate(a.authors)
        ]
        return html_text(title) + "论文" + ("_" + " ".join(map(html_text, h1_authors)) if a.authors else "")

    def affiliations(self) -> list[tuple[str, str, str]]:
        """Each affiliation as (opening paren, noisy inline HTML, closing paren)."""
        out = []
        for aff in self.a.affiliations:
            noisy = self.noisy(
                aff,
                Noise(punct=self.rng.randint(0, 1), zero_width=int(self.rng.random() < 0.2),
                      fullwidth=self.rng.randint(0, 2), widen=int(self.rng.random() < 0.3)),
                body=False,
                what="affiliation",
            )
            wrap = self.a.style.aff_wrap
            opened, closed = {"full": ("（", "）"), "half": ("(", ")"), "none": ("", "")}[wrap]
            self.q.add(f"affiliation_paren_{wrap}")
            if SPACE_BETWEEN_CJK_RE.search(aff):  # a space that rule 4 must not touch here
                self.q.add("affiliation_space")
            out.append((opened, html_text(noisy), closed))
        self.q.add(f"affiliations_{len(self.a.affiliations)}")
        return out

    def paragraphs(self) -> list[str]:
        """Each body paragraph as inline HTML (indent, watermark, noisy text)."""
        a, st, rng = self.a, self.a.style, self.rng
        n = len(a.paragraphs)
        wm_index = rng.randrange(1, n) if st.watermark and n > 1 else (0 if st.watermark else -1)
        with_space = [i for i, p in enumerate(a.paragraphs) if " " in p]
        br_on_space = st.br_single and st.br_at_space and bool(with_space)
        br_index = (rng.choice(with_space) if br_on_space else rng.randrange(n)) if st.br_single else -1
        indent = {"nbsp": "&nbsp;&nbsp;&nbsp;&nbsp;", "ideo": "\u3000\u3000", None: ""}[st.indent]
        if st.indent:
            self.q.add(f"indent_{st.indent}")
        out = []
        for i, para in enumerate(a.paragraphs):
            noise = Noise(
                punct=rng.randint(0, 3),
                spaces=rng.choice((0, 0, 1, 1, 2)),
                zero_width=rng.choice((0, 0, 0, 1)),
                fullwidth=rng.choice((0, 1, 2)),
                widen=rng.choice((0, 1)),
                br=1 if i == br_index else 0,
                br_on_space=br_on_space,
            )
            text = self.noisy(para, noise, body=True, what="body")
            wm = ""
            if i == wm_index and st.watermark:
                place, comma = st.watermark
                sentence = WATERMARK_FULL if comma == "full" else WATERMARK_HALF
                wm = {
                    "bare": sentence,
                    "span": f'<span style="display:none">{sentence}</span>',
                    "font": f'<font color="#ffffff">{sentence}</font>',
                }[place]
                self.q.add(f"watermark_{place}_{comma}")
                check_roundtrip(sentence + text, para, body=True, what=f"watermarked paragraph of {a.path}")
            out.append(f"{indent}{wm}{html_text(text)}")
        return out

    def extras(self) -> list[str]:
        """Content children that are not body text: ads, images, empty paragraphs, script, style."""
        st, a = self.a.style, self.a
        items = []
        if st.ad:
            items.append(
                '<div class="ad"><script type="text/javascript">show_ad("art_in");</script>'
                f'<a href="{self.urls.help}">（广告）论文发表、期刊投稿咨询</a></div>'
            )
            self.q.add("content_ad")
        if st.img:
            items.append(f'<p><img src="/uploads/allimg/{a.id}-1.jpg" alt="" /></p>')
            self.q.add("content_img")
        if st.empty_p:
            items += ["<p></p>", "<p>&nbsp;</p>", self.rng.choice(("<p>\u3000</p>", "<p><br /></p>", "<p>\u200b</p>"))]
            self.q.add("content_empty_p")
        if st.script:
            items.append('<script type="text/javascript">var tip = "本文由期刊图书馆整理发布";</script>')
            self.q.add("content_script")
        if st.style_el:
            items.append('<style type="text/css">.content p{text-indent:2em;} .hide{display:none;}</style>')
            self.q.add("content_style")
        return items

    def old_separators(self) -> tuple[str, ...]:
        """The ``<br>`` runs an old-template body puts between paragraphs (quirk recorded)."""
        st = self.a.style
        self.q.add(f"old_sep_{st.old_sep}")
        return {
            "double": ("<br /><br />",),
            "triple": ("<br /><br /><br />", "<br><br><br>"),
            "ws": ("<br />\n<br />", "<br/> <br/>", "<br />\n\n<br />\n"),
        }[st.old_sep]

    def scatter(self, blocks: list[str], extras: Sequence[str]) -> list[str]:
        """``blocks`` with each extra put between them (never first) where the draws say."""
        for extra in extras:
            blocks.insert(self.rng.randint(1, len(blocks)), extra)
        return blocks

    def joined(self, segments: Sequence[str], separators: Sequence[str]) -> str:
        """The segments with one of ``separators`` (drawn each time) between each two."""
        return segments[0] + "".join(self.rng.choice(separators) + s for s in segments[1:])

    def trailing_br(self) -> str:
        """The ``<br>`` run some old bodies end with (quirk recorded), or nothing."""
        if not self.a.style.old_trailing_br:
            return ""
        self.q.add("old_trailing_br")
        return "<br /><br />"

    def old_body(self, paragraphs: Sequence[str], extras: Sequence[str]) -> str:
        """An old template's body: one ``<p>`` or ``<div>`` of ``<br>``-split paragraphs, the extras after it."""
        template = self.a.style.template
        self.q.add(f"template_{template}")
        text = self.joined(paragraphs, self.old_separators()) + self.trailing_br()
        tag = "p" if template == "old_p" else "div"
        return f"<{tag}>{text}</{tag}>\n" + lines(extras)

    def labelled(self) -> list[tuple[str, str]]:
        """The 论文作者 / 论文发表刊物 / 论文发表时间 lines present on this page, as (label, value HTML)."""
        a, st, rng = self.a, self.a.style, self.rng
        lines = []
        if st.authors_line and a.authors:
            names = [
                self.noisy(n, Noise(zero_width=1 if st.author_zw and i == len(a.authors) - 1 else 0),
                           body=False, what="author")
                for i, n in enumerate(a.authors)
            ]
            lines.append(("论文作者", html_text(st.author_sep.join(names))))
            if len(a.authors) > 1:
                self.q.add(f"author_sep_{AUTHOR_SEP_NAMES[st.author_sep]}")
        elif a.authors:
            self.q.add("authors_from_title")
        else:
            self.q.add("no_authors")
        if st.journal_line and not a.null_year:
            journal = self.noisy(a.journal.name, Noise(zero_width=int(rng.random() < 0.2)), body=False, what="journal")
            lines.append(("论文发表刊物", f"《{html_text(journal)}》{a.issue.year}年{a.issue_label}"))
            zero_padded = st.issue_spelling == "di0" and a.issue.number < 10
            self.q.add(f"issue_{'di' if st.issue_spelling == 'di0' and not zero_padded else st.issue_spelling}")
        elif a.null_year:
            self.q.add("null_year")
        else:
            self.q.add("missing_journal_line")
        if st.date_line:
            y, m, d = a.date
            spelled = {"slash": f"{y}/{m}/{d}", "dash": f"{y}-{m}-{d}", "cn": f"{y}年{m}月{d}日"}[st.date_spelling]
            lines.append(("论文发表时间", spelled))
            self.q.add(f"date_{st.date_spelling}")
        else:
            self.q.add("missing_date_line")
        return lines

    def tag_slots(self) -> list[str]:
        """The 标签 line's slots: tag links (noisy), empty links, padding of two spaces."""
        st, rng = self.a.style, self.rng
        slots = []
        for tag in self.a.tags:
            noise = Noise(fullwidth=len(tag), zero_width=int(rng.random() < 0.2))
            noisy = self.noisy(tag, noise, body=False, what="tag")
            slots.append(f'<a href="{self.urls.tag(tag)}">{html_text(noisy)}</a>')
        if st.tags == "empty_links":
            for k in range(rng.randint(1, 2)):
                slots.insert(rng.randint(0, len(slots)), f'<a href="{self.urls.tag(f"{self.a.id}-{k}")}"></a>')
        self.q.add(f"tags_{st.tags}")
        return slots + ["  "] * max(0, TAG_SLOTS - len(slots))

    def related(self) -> list[tuple[str, str]]:
        """猜你喜欢: (href with a tracking query, title as HTML) of related articles."""
        items = [(f"{self.by_id[rid].path}?from=related", esc(self.by_id[rid].title)) for rid in self.a.related]
        if items:
            self.q.add("related_query")
        return items
