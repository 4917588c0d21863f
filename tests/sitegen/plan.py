"""Deciding the whole site before anything is rendered: journals, issues, articles and their truth.

Everything that ends up in ``expected.jsonl`` is decided here, from the seed
alone, so every template and URL scheme renders the same articles.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from typing import Any

from tests.sitegen.model import FORCED_STYLES, Article, Issue, Journal, Style
from tests.sitegen.words import (
    GBK_NAMES,
    GIVEN,
    JOURNAL_POOL,
    JOURNAL_PREFIXES,
    ORDINALS,
    PLACES,
    PLAIN_TITLES,
    SPECIAL_SENTENCES,
    SPECIAL_TITLES,
    SURNAMES,
    TOPICS,
    Topic,
    join_sentences,
    sentence,
    special_sentence,
)


def unique_ids(rng: random.Random, n: int, lengths: Sequence[int], taken: set[str]) -> list[str]:
    ids: list[str] = []
    while len(ids) < n:
        length = rng.choice(lengths)
        candidate = str(rng.randrange(10 ** (length - 1), 10**length))
        if candidate not in taken:
            taken.add(candidate)
            ids.append(candidate)
    return ids


def _journal_name(j: int) -> tuple[str, str]:
    base, topic = JOURNAL_POOL[j % len(JOURNAL_POOL)]
    rnd = j // len(JOURNAL_POOL)
    prefix = JOURNAL_PREFIXES[rnd % len(JOURNAL_PREFIXES)]
    suffix = "" if rnd < len(JOURNAL_PREFIXES) else f"{rnd // len(JOURNAL_PREFIXES) + 1}"
    return prefix + base + suffix, topic


def _is_gbk_issue(journal_index: int, issue_index: int) -> bool:
    """Older journals (every fourth, from the second) publish their oldest issue as GBK."""
    return journal_index % 4 == 1 and issue_index == 0


def _random_style(rng: random.Random, gbk: bool) -> Style:
    def weighted(options: Sequence[tuple[Any, float]]) -> Any:
        return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]

    old = rng.random() < (0.5 if gbk else 0.2)
    return Style(
        template=rng.choice(("old_p", "old_div", "old_div")) if old else "modern",
        old_sep=weighted((("double", 0.6), ("triple", 0.2), ("ws", 0.2))),
        old_trailing_br=rng.random() < 0.2,
        encoding="gbk" if gbk else ("utf-8-nometa" if rng.random() < 0.05 else "utf-8"),
        canonical=weighted((("root", 0.8), ("bare", 0.1), ("dotdot", 0.1))),
        title_kind=weighted(
            (("plain", 0.8), ("ends_lunwen", 0.04), ("space", 0.05), ("fullwidth", 0.06), ("punct", 0.05))
        ),
        n_authors=weighted(((0, 0.05), (1, 0.45), (2, 0.3), (3, 0.15), (4, 0.05))),
        author_sep=rng.choice((" ", ",", "，", "、", ";", "；", ", ")),
        authors_line=rng.random() < 0.95,
        n_aff=weighted(((0, 0.25), (1, 0.55), (2, 0.2))),
        aff_wrap=weighted((("full", 0.45), ("half", 0.2), ("none", 0.35))),
        aff_space=rng.random() < 0.5,
        watermark=None if rng.random() < 0.4 else (rng.choice(("bare", "span", "font")), rng.choice(("full", "half"))),
        indent=weighted(((None, 0.5), ("nbsp", 0.25), ("ideo", 0.25))),
        br_single=rng.random() < 0.1,
        br_at_space=rng.random() < 0.5,
        journal_line=rng.random() < 0.9,
        date_line=rng.random() < 0.9,
        issue_spelling=weighted((("di", 0.55), ("bare", 0.15), ("di0", 0.15), ("half", 0.15))),
        date_spelling=weighted((("slash", 0.5), ("dash", 0.25), ("cn", 0.25))),
        tags=weighted((("none", 0.4), ("links", 0.4), ("empty_links", 0.2))),
        ad=rng.random() < 0.4,
        img=rng.random() < 0.2,
        empty_p=rng.random() < 0.3,
        script=rng.random() < 0.15,
        style_el=rng.random() < 0.1,
        sentences=tuple(s for s in SPECIAL_SENTENCES if rng.random() < 0.12),
        title_zw=rng.random() < 0.15,
        author_zw=rng.random() < 0.1,
    )


def _make_title(rng: random.Random, t: Topic, kind: str) -> str:
    template = rng.choice(SPECIAL_TITLES.get(kind, PLAIN_TITLES))
    noun = rng.choice(t.nouns)
    topic_field = rng.choice([f for f in t.fields if f not in noun] or t.fields)
    return template.format(N=noun, F=topic_field)


def _make_authors(rng: random.Random, n: int, gbk: bool) -> list[str]:
    names: list[str] = [rng.choice(GBK_NAMES)] if gbk and n else []
    while len(names) < n:
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        if name not in names:
            names.append(name)
    return names


def _make_affiliations(rng: random.Random, t: Topic, n: int, with_space: bool) -> list[str]:
    affs = []
    for org in rng.sample(t.orgs, n):
        if with_space:
            prov, city, zipcode = rng.choice(PLACES)
            affs.append(f"{org}，{' '.join(p for p in (prov, city, zipcode) if p)}")
        else:
            affs.append(org)
    return affs


def _make_body(
    rng: random.Random, t: Topic, body_chars: int, specials: Sequence[str], gbk_name: str
) -> list[str]:
    n = rng.randint(3, 8)
    target = max(20, body_chars // n)
    ordinal = rng.random() < 0.4
    paragraphs = []
    for i in range(n):
        sentences = []
        if ordinal and 1 <= i <= len(ORDINALS):
            sentences.append(f"{ORDINALS[i - 1]}是{rng.choice(t.actions)}，{rng.choice(t.goals)}。")
        while sum(map(len, sentences)) < target:
            sentences.append(sentence(rng, t))
        paragraphs.append(sentences)
    extra = list(specials) + (["gbk"] if gbk_name else [])
    for kind in extra:
        paragraphs[rng.randrange(n)].insert(0 if kind == "gbk" else 10**6, special_sentence(kind, rng, t, gbk_name))
    return [join_sentences(p) for p in paragraphs]


def _make_tags(rng: random.Random, t: Topic) -> list[str]:
    return rng.sample(t.tags, rng.randint(1, 3))


def plan_site(
    rng: random.Random, *, journals: int, issues_per_journal: int, articles_per_issue: int, body_chars: int
) -> tuple[list[Journal], list[Article], list[str]]:
    """Decide the whole site: journals, issues, articles (truth + style), soft 404s."""
    taken: set[str] = set()
    js: list[Journal] = []
    articles: list[Article] = []
    for j in range(journals):
        name, topic = _journal_name(j)
        journal = Journal(index=j, slug=f"qk{j:03d}", name=name, topic=topic)
        years = range(2016, 2019) if j % 4 == 1 else range(2018, 2021)
        combos = [(y, n) for y in years for n in range(1, 13)]
        if issues_per_journal > len(combos):
            combos = [(y, n) for y in range(2000, 2021) for n in range(1, 13)]
        for i, (year, number) in enumerate(sorted(rng.sample(combos, issues_per_journal))):
            issue = Issue(journal=journal, year=year, number=number)
            journal.issues.append(issue)
            for aid in unique_ids(rng, articles_per_issue, (5, 6, 6, 7), taken):
                style = _random_style(rng, gbk=_is_gbk_issue(j, i))
                art = Article(id=aid, issue=issue, style=style)
                art.date = (year, number, rng.randint(1, 28))
                issue.articles.append(art)
                articles.append(art)
        js.append(journal)

    # Structural roles: an orphan (sitemap only) and an orphan without issue (null year).
    def last_of(journal_index: int, issue_index: int) -> Article | None:
        if journal_index >= len(js):
            return None
        iss = js[journal_index].issues[issue_index]
        return iss.articles[-1] if len(iss.articles) > 1 else None

    orphan = last_of(1 % len(js), -1)
    null_orphan = last_of(2 % len(js), 0)
    for art in (orphan, null_orphan):
        if art is not None:
            art.orphan = True

    # Forced quirks: one override per eligible article, spread with a stride.
    eligible = [a for a in articles if not a.orphan and a.style.encoding != "gbk"]
    if len(eligible) >= len(FORCED_STYLES):
        used: set[int] = set()
        for k, overrides in enumerate(FORCED_STYLES):
            idx = (k * 7 + 3) % len(eligible)
            while idx in used:
                idx = (idx + 1) % len(eligible)
            used.add(idx)
            eligible[idx].style = dataclasses.replace(eligible[idx].style, **overrides)

    if null_orphan is not None and null_orphan is not orphan:
        null_orphan.null_year = True
        null_orphan.style.journal_line = False

    for art in articles:
        st = art.style
        gbk = st.encoding == "gbk"
        topic = TOPICS[art.journal.topic]
        art.title = _make_title(rng, topic, st.title_kind)
        art.authors = _make_authors(rng, st.n_authors, gbk)
        if not st.authors_line and not art.authors:
            st.authors_line = True
        art.affiliations = _make_affiliations(rng, topic, min(st.n_aff, len(topic.orgs)), st.aff_space)
        art.tags = [] if st.tags == "none" else _make_tags(rng, topic)
        gbk_name = rng.choice(GBK_NAMES) if gbk else ""
        art.paragraphs = _make_body(rng, topic, body_chars, st.sentences, gbk_name)

    soft_ids = unique_ids(rng, sum(1 for j in js if j.index % 2 == 0 and j.issues), (9,), taken)
    soft_iter = iter(soft_ids)
    for journal in js:
        if journal.index % 2 == 0 and journal.issues:
            journal.issues[0].soft_404_ids.append(next(soft_iter))
    return js, articles, soft_ids


def listed(issue: Issue, soft_404_path: Callable[[str], str]) -> list[tuple[str, str, str]]:
    """An issue list's entries: (href, text, authors) incl. the soft-404 link."""
    entries = [(a.path, a.title, " ".join(a.authors)) for a in issue.articles if not a.orphan]
    entries += [(soft_404_path(sid), "（已删除）", "") for sid in issue.soft_404_ids]
    return entries
