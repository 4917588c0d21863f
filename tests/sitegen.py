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

Usage: ``python -m tests.sitegen OUT [--seed S] [--journals J] [--issues I]
[--articles-per-issue A] [--body-chars C]``. The output is
``OUT/www`` (the static site; ``{BASE}`` in robots.txt and sitemap.xml is
replaced by :mod:`tests.siteserver`), ``OUT/expected.jsonl`` and
``OUT/manifest.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import html
import json
import random
import re
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

# --------------------------------------------------------------------------
# Constants of the site
# --------------------------------------------------------------------------

WATERMARK_FULL = "期刊文章分类查询，尽在期刊图书馆"
WATERMARK_HALF = "期刊文章分类查询,尽在期刊图书馆"
SOFT_404_H1 = "对不起，您访问的页面不存在"
GBK_ONLY_CHARS = "镕喆堃赟"
ZERO_WIDTH_CHARS = "\u200b\u200c\u200d\u2060\ufeff"
ISSUE_PAGE_SIZE = 3
"""Articles per issue page; a fourth article goes to ``index_2.html``."""
JOURNAL_PAGE_SIZE = 3
HOME_JOURNALS = 2
"""Journals linked from the home page and the sidebar: the rest are reachable
only through the paginated journal index, so pagination must be followed."""
TAG_SLOTS = 8

_BR = "\x00"
"""Sentinel for a single ``<br />`` inside a text (survives html.escape)."""
_NBSP = "\x01"
"""Sentinel for an ``&nbsp;`` entity inside a text."""

# --------------------------------------------------------------------------
# Reference normalisation (SPEC "Text normalisation"), for self-checks only
# --------------------------------------------------------------------------

CJK_CLASS = "\u3400-\u9fff\u3000-\u303f\uff00-\uffef\u201c\u201d\u2018\u2019"
_ZW_RE = re.compile("[\u200b-\u200d\u2060\ufeff]")
_WATERMARK_RE = re.compile("期刊文章分类查询[，,]尽在期刊图书馆")
_FULLWIDTH_ALNUM = {
    **{0xFF10 + i: 0x30 + i for i in range(10)},
    **{0xFF21 + i: 0x41 + i for i in range(26)},
    **{0xFF41 + i: 0x61 + i for i in range(26)},
}
_TO_FULLWIDTH = {v: k for k, v in _FULLWIDTH_ALNUM.items()}
_WS_RE = re.compile(r"\s+")
_SPACE_BETWEEN_CJK_RE = re.compile(f"(?<=[{CJK_CLASS}]) (?=[{CJK_CLASS}])")
_HALF_AFTER_CJK_RE = re.compile(f"(?<=[{CJK_CLASS}])[,;:?!]")
_HALF_TO_FULL = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！"}
_FULL_TO_HALF = {v: k for k, v in _HALF_TO_FULL.items()}
_FULL_PUNCT_AFTER_CJK_RE = re.compile(f"(?<=[{CJK_CLASS}])[，；：？！]")
_ALNUM_RE = re.compile("[0-9A-Za-z]")
_FULLWIDTH_ALNUM_RE = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")


def normalise(text: str, *, body: bool) -> str:
    """Rules 1-5 of the SPEC (rule 4 only for body paragraphs)."""
    text = _WATERMARK_RE.sub("", _ZW_RE.sub("", text))
    text = text.translate(_FULLWIDTH_ALNUM)
    text = _WS_RE.sub(" ", text).strip()
    if body:
        text = _SPACE_BETWEEN_CJK_RE.sub("", text)
    return _HALF_AFTER_CJK_RE.sub(lambda m: _HALF_TO_FULL[m.group()], text)


def clean_violations(text: str, *, body: bool) -> list[str]:
    """Why ``text`` is not already in normalised form (empty list: it is).

    Spelled out rule by rule so a failing build says what is wrong, on top of
    the plain fixed-point test ``normalise(text) == text``.
    """
    problems = []
    if _ZW_RE.search(text):
        problems.append("zero-width character")
    if _WATERMARK_RE.search(text):
        problems.append("watermark")
    if _FULLWIDTH_ALNUM_RE.search(text):
        problems.append("full-width letter or digit")
    if re.search(r"[^\S ]", text):
        problems.append("white space other than a plain space")
    if "  " in text or text != text.strip():
        problems.append("double or edge space")
    if body and _SPACE_BETWEEN_CJK_RE.search(text):
        problems.append("space between CJK characters")
    if _HALF_AFTER_CJK_RE.search(text):
        problems.append("ASCII , ; : ? ! right after CJK")
    if not text:
        problems.append("empty")
    if normalise(text, body=body) != text:
        problems.append("not a fixed point of the rules")
    return problems


def _check_clean(text: str, *, body: bool, what: str) -> None:
    problems = clean_violations(text, body=body)
    if problems:
        raise AssertionError(f"clean truth {what} {text!r}: {', '.join(problems)}")


def _check_roundtrip(noisy: str, clean: str, *, body: bool, what: str) -> None:
    """The injected text must normalise back to the truth, exactly."""
    as_text = noisy.replace(_BR, " ").replace(_NBSP, "\xa0")
    got = normalise(as_text, body=body)
    if got != clean:
        raise AssertionError(f"noise on {what} is not undone: {noisy!r} -> {got!r} != {clean!r}")


# --------------------------------------------------------------------------
# Noise injection
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Noise:
    """How many of each kind of noise to inject into one text."""

    punct: int = 0
    """Full-width ，；：？！ after a CJK character written half-width."""
    spaces: int = 0
    """Stray white space between two CJK characters (body paragraphs only)."""
    zero_width: int = 0
    fullwidth: int = 0
    """ASCII letters or digits written full-width."""
    widen: int = 0
    """Existing spaces written as runs, NBSP or U+3000."""
    br: int = 0
    """Single ``<br />`` where white space is harmless (body paragraphs only)."""
    br_on_space: bool = False
    """Put the ``<br />`` where the truth has a space (else between CJK characters)."""


_STRAY_SPACES = (" ", " ", "  ", "\u3000", _NBSP, "\n")
_WIDE_SPACES = ("  ", _NBSP, "\u3000", " \u3000", "   ")


def inject_noise(clean: str, rng: random.Random, noise: Noise, *, body: bool) -> tuple[str, Counter[str]]:
    """Return ``clean`` with noise that normalisation removes, and what was done.

    Positions are chosen so that the noise kinds never interact: a stray space
    is only put between two characters that are still CJK after rules 1-2
    (never next to a half-width comma we wrote), so rule 4 takes it out again.
    """
    out = list(clean)
    before: dict[int, str] = {}  # text inserted before position p (p == len: at the end)
    done: Counter[str] = Counter()

    converted: set[int] = set()
    punct_sites = [m.start() for m in _FULL_PUNCT_AFTER_CJK_RE.finditer(clean)]
    for i in _pick(rng, punct_sites, noise.punct):
        out[i] = _FULL_TO_HALF[clean[i]]
        converted.add(i)
        done["punct"] += 1

    alnum_sites = [m.start() for m in _ALNUM_RE.finditer(clean)]
    for i in _pick(rng, alnum_sites, noise.fullwidth):
        out[i] = chr(_TO_FULLWIDTH[ord(clean[i])])
        done["fullwidth"] += 1

    space_sites = [m.start() for m in re.finditer(" ", clean)]
    spaces_taken: list[int] = []
    if body and noise.br:
        sites = space_sites if noise.br_on_space else _cjk_gaps(rng, clean, converted, noise.br)
        for pos in _pick(rng, sites, noise.br):
            if noise.br_on_space:
                out[pos] = _BR
                spaces_taken.append(pos)
                done["br_space"] += 1
            else:
                before[pos] = before.get(pos, "") + _BR
                done["br_gap"] += 1
    for i in _pick(rng, [i for i in space_sites if i not in spaces_taken], noise.widen):
        out[i] = rng.choice(_WIDE_SPACES)
        done["widen"] += 1

    if body and noise.spaces:
        for p in _cjk_gaps(rng, clean, converted, noise.spaces):
            before[p] = before.get(p, "") + rng.choice(_STRAY_SPACES)
            done["stray_space"] += 1

    if noise.zero_width and len(clean) > 1:
        for p in _pick(rng, range(1, len(clean)), noise.zero_width):
            before[p] = before.get(p, "") + rng.choice(ZERO_WIDTH_CHARS)
            done["zero_width"] += 1

    for p, inserted in before.items():
        out[p] = inserted + out[p]
    return "".join(out), done


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x3400 <= o <= 0x9FFF or 0x3000 <= o <= 0x303F or 0xFF00 <= o <= 0xFFEF or ch in "“”‘’"


def _cjk_gaps(rng: random.Random, clean: str, converted: set[int], k: int) -> list[int]:
    """Up to ``k`` positions p with clean[p-1] and clean[p] both CJK and neither
    written half-width; found by rejection sampling, which is cheap because
    Chinese text is mostly such gaps."""
    chosen: set[int] = set()
    if len(clean) < 2:
        return []
    for _ in range(20 * k + 20):
        if len(chosen) >= k:
            break
        p = rng.randrange(1, len(clean))
        if (_is_cjk(clean[p - 1]) and _is_cjk(clean[p]) and p - 1 not in converted and p not in converted):
            chosen.add(p)
    return sorted(chosen)


def _pick(rng: random.Random, items: Sequence[Any], k: int) -> list[Any]:
    """Up to ``k`` distinct items in their original order (deterministic)."""
    if k <= 0 or not items:
        return []
    chosen = rng.sample(range(len(items)), min(k, len(items)))
    return [items[i] for i in sorted(chosen)]


def _html_text(noisy: str) -> str:
    """Escape a (noisy) text for HTML and turn the sentinels into markup."""
    return html.escape(noisy, quote=False).replace(_BR, "<br />").replace(_NBSP, "&nbsp;")


# --------------------------------------------------------------------------
# Text pools
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """Phrase lists for one subject area; sentences are built from these."""

    subjects: tuple[str, ...]
    actions: tuple[str, ...]
    goals: tuple[str, ...]
    fields: tuple[str, ...]
    nouns: tuple[str, ...]
    tags: tuple[str, ...]
    orgs: tuple[str, ...]


TOPICS: dict[str, Topic] = {
    "party": Topic(
        subjects=("党支部", "基层党组织", "各级党组织", "党员干部", "领导班子", "林场党委", "社区党支部", "机关党委"),
        actions=(
            "落实“三会一课”制度",
            "开展“两学一做”学习教育",
            "推进全面从严治党",
            "加强党风廉政建设",
            "深化理想信念教育",
            "落实“一岗双责”",
            "开展主题党日活动",
            "推进精准扶贫工作",
            "服务乡村振兴战略",
            "规范党内组织生活",
            "强化党员日常教育管理",
            "开展批评与自我批评",
        ),
        goals=(
            "夯实基层党建基础",
            "发挥党员先锋模范作用",
            "增强基层党组织的凝聚力和战斗力",
            "提高党员干部的政治素养",
            "推动党建工作与业务工作深度融合",
            "营造风清气正的良好政治生态",
        ),
        fields=("党建", "精准扶贫", "乡村振兴", "组织建设", "宣传思想"),
        nouns=("基层党建", "党员教育", "“两学一做”学习教育", "“三会一课”制度", "党风廉政建设", "党员干部队伍建设"),
        tags=("两学一做", "基层党建", "党员教育", "三会一课", "乡村振兴", "精准扶贫"),
        orgs=("松岭林业局大扬气林场", "中共临江市委党校", "大兴安岭林业集团公司松岭林业局", "中共伊春市委组织部"),
    ),
    "forestry": Topic(
        subjects=("林场", "林业局", "护林员", "管护站", "森林防火指挥部", "营林技术人员"),
        actions=(
            "开展春季森林防火宣传",
            "落实天然林保护工程",
            "推进林区转型发展",
            "加强森林资源管护",
            "实施退耕还林工程",
            "组织沙棘种植",
            "发展林下经济",
            "开展森林病虫害监测",
        ),
        goals=(
            "保障森林资源安全",
            "提高森林覆盖率",
            "促进林区经济社会全面发展",
            "增强居民的防火意识",
            "实现生态效益和经济效益双赢",
        ),
        fields=("森林防火", "营林生产", "林下经济", "生态保护", "资源管护"),
        nouns=("森林防火", "天然林保护", "林下经济", "森林资源管护", "营林生产", "林区转型"),
        tags=("森林防火", "宣传教育", "GIS", "天然林保护", "林下经济", "生态保护"),
        orgs=("大兴安岭林业集团公司松岭林业局", "伊春林业管理局带岭林业实验局", "黑龙江省森林工业总局", "加格达奇林业局"),
    ),
    "education": Topic(
        subjects=("学校", "教师", "班主任", "高校", "教研组", "任课教师"),
        actions=(
            "推进课堂教学改革",
            "开展分层教学",
            "培育学生核心素养",
            "加强师德师风建设",
            "开展信息化教学",
            "落实立德树人根本任务",
            "开展家校合作",
        ),
        goals=(
            "提高课堂教学效率",
            "激发学生的学习兴趣",
            "促进学生全面发展",
            "提升教师专业能力",
            "形成良好的育人氛围",
        ),
        fields=("课堂教学", "德育", "教研", "家校共育", "职业教育"),
        nouns=("小学语文朗读教学", "初中数学分层教学", "高校思想政治教育", "信息化教学", "班级管理", "职业教育"),
        tags=("课堂教学", "核心素养", "分层教学", "师德师风", "信息化教学"),
        orgs=("东北师范大学教育学部", "哈尔滨市第三中学", "长春市实验小学", "黑龙江职业学院"),
    ),
    "health": Topic(
        subjects=("医院", "护理人员", "临床科室", "社区卫生服务中心", "医务人员"),
        actions=(
            "实施优质护理服务",
            "开展健康教育",
            "落实分级诊疗制度",
            "规范抗菌药物使用",
            "加强院内感染防控",
            "推行临床路径管理",
        ),
        goals=(
            "提高患者满意度",
            "降低并发症发生率",
            "保障医疗质量和安全",
            "改善患者的生活质量",
            "缓解群众看病难问题",
        ),
        fields=("临床护理", "健康管理", "院感防控", "公共卫生", "医院管理"),
        nouns=("优质护理服务", "健康教育", "分级诊疗", "临床路径管理", "院内感染防控", "慢性病管理"),
        tags=("护理质量", "健康教育", "分级诊疗", "PDCA", "院感防控"),
        orgs=("哈尔滨医科大学附属第一医院", "吉林大学白求恩第一医院", "加格达奇区人民医院", "松岭区社区卫生服务中心"),
    ),
    "engineering": Topic(
        subjects=("施工单位", "项目部", "设计院", "监理单位", "技术人员"),
        actions=(
            "推广BIM技术",
            "加强施工质量管理",
            "优化施工组织设计",
            "落实安全生产责任制",
            "开展质量通病防治",
            "推行装配式建筑",
        ),
        goals=(
            "确保工程质量和施工安全",
            "缩短工期并降低成本",
            "提高项目管理水平",
            "实现绿色施工",
        ),
        fields=("施工管理", "质量控制", "安全生产", "造价管理", "工程设计"),
        nouns=("BIM技术", "装配式建筑", "施工质量管理", "深基坑支护", "绿色施工", "工程造价控制"),
        tags=("BIM技术", "施工管理", "质量控制", "安全生产", "装配式建筑"),
        orgs=("中国建筑第八工程局有限公司", "黑龙江省建筑设计研究院", "中铁九局集团有限公司", "大兴安岭地区公路管理局"),
    ),
}

JOURNAL_POOL: tuple[tuple[str, str], ...] = (
    ("基层建设", "party"),
    ("林业科技情报", "forestry"),
    ("教育研究与实践", "education"),
    ("中国卫生产业", "health"),
    ("建筑工程技术与设计", "engineering"),
    ("党建与人才", "party"),
    ("防护林科技", "forestry"),
    ("现代职业教育", "education"),
    ("中国医学前沿", "health"),
    ("工程建设与设计", "engineering"),
)
JOURNAL_PREFIXES = ("", "现代", "当代", "华夏", "东北", "中外", "新编", "实用")

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红玲峰建国海金福春梅晓东文辉宇志鹏新亮林琳金海"
GBK_NAMES = ("王镕", "李喆", "张堃", "陈赟", "赵镕", "周喆", "刘堃", "孙赟")

PLACES = (
    ("黑龙江", "加格达奇", "165012"),
    ("黑龙江", "哈尔滨", "150001"),
    ("吉林", "长春", "130021"),
    ("黑龙江", "伊春", "153000"),
    ("北京", "", "100190"),
)

PLAIN_TITLES = (
    "新时期{N}工作的实践与思考",
    "浅谈{N}在{F}工作中的作用",
    "关于加强{N}的几点思考",
    "以{N}推动{F}工作高质量发展",
    "{N}存在的问题及对策分析",
    "{N}的现状与对策",
    "试论{N}的创新路径",
    "{F}视角下{N}的探索",
)
SPECIAL_TITLES: dict[str, tuple[str, ...]] = {
    "ends_lunwen": ("如何写好一篇{F}科技论文", "浅谈{F}专业本科毕业论文", "基层{F}工作者如何撰写学术论文"),
    "space": ("清水出芙蓉 天然去雕饰", "守初心 担使命 推进{N}", "不忘初心 牢记使命——{N}的实践与思考"),
    "fullwidth": ("基于GIS的森林防火监测系统设计", "BIM技术在{F}中的应用", "PDCA循环在{N}中的应用", "2019年{N}工作综述"),
    "punct": ("党建引领，乡村振兴", "{N}何以出实效？", "{N}：问题与对策"),
}
ASCII_SENTENCES = (
    "The results show a clear trend.",
    "Data were collected from 12 sites.",
    "Is the approach effective? The answer is yes.",
)


def _sentence(rng: random.Random, t: Topic) -> str:
    """One plain sentence in normalised form (full-width punctuation after Chinese)."""
    s, s2 = rng.sample(t.subjects, 2)
    a, a2 = rng.sample(t.actions, 2)
    g = rng.choice(t.goals)
    f, f2 = rng.sample(t.fields, 2)
    kind = rng.randrange(11)
    if kind == 0:
        return f"{s}要始终坚持{a}，{a2}，切实{g}。"
    if kind == 1:
        return f"通过{a}，{s}进一步{g}，取得了较好成效。"
    if kind == 2:
        return f"在{f}工作中，{s}{a}；在{f2}方面，{s2}{a2}。"
    if kind == 3:
        return f"{s}必须把{a}作为重要抓手，做到常抓不懈、久久为功。"
    if kind == 4:
        return (
            f"据统计，全年共{a}{rng.randint(3, 40)}次，覆盖群众{rng.randint(1, 9)},{rng.randint(100, 999)}余人，"
            f"同比增长{rng.randint(2, 40)}.{rng.randint(1, 9)}%。"
        )
    if kind == 5:
        return f"如何{a}？这是当前{f}工作面临的重要课题。"
    if kind == 6:
        return f"主要做法如下：{a}，{a2}。"
    if kind == 7:
        return f"必须{a}，决不能走过场！"
    if kind == 8:
        return f"实践证明，{s}只有{a}，才能{g}。"
    if kind == 9:
        return f"{s}坚持问题导向，带着问题学，针对问题改，在解决问题中{g}。"
    return f"“{f}”工作既要{a}，又要{a2}，二者缺一不可。"


def _special_sentence(kind: str, rng: random.Random, t: Topic, gbk_name: str) -> str:
    """Sentences that carry text the rules must leave alone (or GBK-only characters)."""
    a = rng.choice(t.actions)
    s = rng.choice(t.subjects)
    if kind == "number_comma":
        return f"全年累计投入资金1,000万元，用于{a}。"
    if kind == "date_slash":
        return f"调查时间为2019/4/28，共回收有效问卷{rng.randint(1, 9)},{rng.randint(100, 999)}份。"
    if kind == "paren_ascii":
        return "即：每天读一篇报纸(文章);每天写一篇心得；每周开展一次集中学习。"
    if kind == "ascii_trend":
        return ASCII_SENTENCES[0]
    if kind == "ascii_any":
        return rng.choice(ASCII_SENTENCES)
    if kind == "latin_terms":
        return rng.choice(
            (
                f"运用PDCA循环管理方法，{s}{a}。",
                "采用SPSS 22.0软件进行统计分析，P<0.05为差异有统计学意义。",
                f"借助GIS和BIM等信息化手段，{s}{a}。",
            )
        )
    if kind == "gbk":
        return f"据{gbk_name}同志介绍，{s}{a}。"
    raise ValueError(kind)


SPECIAL_SENTENCES = ("number_comma", "date_slash", "paren_ascii", "ascii_any", "latin_terms")
ORDINALS = "一二三四五六七八九十"
AUTHOR_SEP_NAMES = {
    " ": "space",
    ",": "comma",
    "，": "fullcomma",
    "、": "dunhao",
    ";": "semicolon",
    "；": "fullsemicolon",
    ", ": "comma_space",
}
"""Separators of the 论文作者 line, by quirk name."""


def _join_sentences(parts: Iterable[str]) -> str:
    """Join sentences; a sentence ending in ASCII is followed by one space."""
    text = ""
    for part in parts:
        if text and text[-1].isascii():
            text += " "
        text += part
    return text


# --------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------


@dataclass
class Style:
    """How one article page is rendered; every field is a quirk of the SPEC."""

    template: str = "modern"  # modern | old_p | old_div
    old_sep: str = "double"  # double | triple | ws
    old_trailing_br: bool = False
    encoding: str = "utf-8"  # utf-8 | utf-8-nometa | gbk
    canonical: str = "root"  # root (/paper/ID.html) | bare (ID.html) | dotdot (../paper/ID.html)
    title_kind: str = "plain"  # plain | ends_lunwen | space | fullwidth | punct
    n_authors: int = 1
    author_sep: str = "，"
    authors_line: bool = True
    n_aff: int = 1
    aff_wrap: str = "full"  # full （） | half () | none
    aff_space: bool = False
    watermark: tuple[str, str] | None = None  # (bare | span | font, full | half)
    indent: str | None = None  # nbsp | ideo
    br_single: bool = False
    br_at_space: bool = False
    journal_line: bool = True
    date_line: bool = True
    issue_spelling: str = "di"  # di 第6期 | bare 6期 | di0 第06期 | half 第6期(上)
    date_spelling: str = "slash"  # slash | dash | cn
    tags: str = "none"  # none | links | empty_links
    ad: bool = False
    img: bool = False
    empty_p: bool = False
    script: bool = False
    style_el: bool = False
    sentences: tuple[str, ...] = ()
    title_zw: bool = False
    author_zw: bool = False


FORCED_STYLES: tuple[dict[str, Any], ...] = (
    {"title_kind": "ends_lunwen"},
    {"n_authors": 0},
    {"title_kind": "space"},
    {"n_authors": 3, "author_sep": " "},
    {"n_authors": 2, "author_sep": ","},
    {"n_authors": 2, "author_sep": "，"},
    {"n_authors": 3, "author_sep": "、"},
    {"n_authors": 2, "author_sep": ";"},
    {"n_authors": 2, "author_sep": "；"},
    {"n_authors": 2, "authors_line": False},
    {"watermark": ("bare", "full"), "indent": "nbsp"},
    {"watermark": ("bare", "half"), "indent": "ideo"},
    {"watermark": ("span", "full")},
    {"watermark": ("span", "half")},
    {"watermark": ("font", "full")},
    {"watermark": ("font", "half")},
    {"n_aff": 0},
    {"n_aff": 1, "aff_wrap": "full", "aff_space": True},
    {"n_aff": 2, "aff_wrap": "half"},
    {"n_aff": 1, "aff_wrap": "none", "aff_space": True},
    {"template": "old_p", "old_sep": "double", "br_single": True},
    {"template": "old_div", "old_sep": "triple", "old_trailing_br": True},
    {"template": "old_div", "old_sep": "ws"},
    {"template": "modern", "br_single": True, "br_at_space": True, "sentences": ("ascii_trend",)},
    {"template": "modern", "br_single": True, "br_at_space": False},
    {"journal_line": False},
    {"date_line": False},
    {"issue_spelling": "bare", "date_spelling": "slash"},
    {"issue_spelling": "di0", "date_spelling": "dash"},
    {"issue_spelling": "half", "date_spelling": "cn"},
    {"issue_spelling": "di", "date_spelling": "slash"},
    {"tags": "links", "canonical": "bare"},
    {"tags": "empty_links", "canonical": "dotdot"},
    {"tags": "none", "canonical": "root"},
    {"encoding": "utf-8-nometa"},
    {"title_kind": "fullwidth"},
    {"title_kind": "punct", "title_zw": True, "author_zw": True},
    {"template": "modern", "ad": True, "img": True, "empty_p": True, "script": True, "style_el": True},
    {"sentences": ("paren_ascii", "number_comma", "date_slash", "ascii_trend", "latin_terms")},
)
"""One override per article (spread over the site) so that every quirk occurs
at least once whenever the site has enough articles. GBK and orphan articles
are skipped: their role already fixes part of their style."""


@dataclass
class Journal:
    """A journal and its issues (oldest first); ``slug`` names its folder."""

    index: int
    slug: str
    name: str
    topic: str
    issues: list[Issue] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/journal/{self.slug}/"


@dataclass
class Issue:
    """One issue: its articles in list order, plus dead links listed with them."""

    journal: Journal
    year: int
    number: int
    articles: list[Article] = field(default_factory=list)
    soft_404_ids: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"{self.journal.path}{self.year}-{self.number:02d}/"

    @property
    def crumb(self) -> str:
        """The issue as the breadcrumb and the issue lists print it."""
        return f"{self.year}年第{self.number}期"


@dataclass
class Article:
    """One article: its clean truth plus how its page is rendered."""

    id: str
    issue: Issue
    style: Style
    title: str = ""
    authors: list[str] = field(default_factory=list)
    affiliations: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    date: tuple[int, int, int] = (2019, 1, 1)
    orphan: bool = False
    null_year: bool = False
    mobile: bool = False
    quirks: set[str] = field(default_factory=set)
    related: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/paper/{self.id}.html"

    @property
    def journal(self) -> Journal:
        return self.issue.journal

    @property
    def issue_label(self) -> str:
        n = self.issue.number
        spelling = self.style.issue_spelling
        if spelling == "bare":
            return f"{n}期"
        if spelling == "di0":
            return f"第{n:02d}期"
        if spelling == "half":
            return f"第{n}期({'上' if n % 2 else '下'})"
        return f"第{n}期"

    @property
    def iso_date(self) -> str:
        y, m, d = self.date
        return f"{y:04d}-{m:02d}-{d:02d}"

    def expected(self) -> dict[str, Any]:
        """The dataset row the crawler must produce (SPEC "The dataset")."""
        if self.null_year:
            year = issue = label = None
        elif self.style.journal_line:
            year, issue, label = self.issue.year, self.issue.number, self.issue_label
        else:  # from the breadcrumb, which prints {year}年第{issue}期
            year, issue, label = self.issue.year, self.issue.number, f"第{self.issue.number}期"
        return {
            "article_id": self.id,
            "url_path": self.path,
            "title": self.title,
            "authors": list(self.authors),
            "affiliations": list(self.affiliations),
            "journal": self.journal.name,
            "year": year,
            "issue": issue,
            "issue_label": label,
            "published_date": self.iso_date if self.style.date_line else None,
            "tags": list(self.tags),
            "body": "\n".join(self.paragraphs),
        }


# --------------------------------------------------------------------------
# Building the clean truth
# --------------------------------------------------------------------------


def _unique_ids(rng: random.Random, n: int, lengths: Sequence[int], taken: set[str]) -> list[str]:
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
            sentences.append(_sentence(rng, t))
        paragraphs.append(sentences)
    extra = list(specials) + (["gbk"] if gbk_name else [])
    for kind in extra:
        paragraphs[rng.randrange(n)].insert(0 if kind == "gbk" else 10**6, _special_sentence(kind, rng, t, gbk_name))
    return [_join_sentences(p) for p in paragraphs]


def _make_tags(rng: random.Random, t: Topic) -> list[str]:
    return rng.sample(t.tags, rng.randint(1, 3))


def _tag_href(tag: str) -> str:
    return f"/tag/{hashlib.md5(tag.encode('utf-8')).hexdigest()[:8]}.html"


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------

_DOCTYPE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml">\n<head>\n'
)
_HEAD_TAIL = (
    '<link href="/static/css/style.css" rel="stylesheet" type="text/css" />\n'
    '<script type="text/javascript" src="/static/js/jquery.min.js"></script>\n'
    '<script>var _hmt = _hmt || [];(function() {var hm = document.createElement("script");'
    'hm.src = "/static/js/stat.js";var s = document.getElementsByTagName("script")[0];'
    "s.parentNode.insertBefore(hm, s);})();</script>\n"
    "</head>\n<body>\n"
)
_TOP = (
    '<div class="topbar"><div class="wrap">欢迎来到期刊图书馆！ <a href="/login.html">登录</a> | '
    '<a href="/reg.html">注册</a> | <a href="/help.html">投稿指南</a></div></div>\n'
    '<div class="header"><div class="logo"><a href="/"><img src="/static/img/logo.png" alt="期刊图书馆" /></a></div>\n'
    '<form class="search" action="/search.php" method="get"><input type="text" name="q" value="" '
    'placeholder="输入论文标题或关键词" /><button type="submit">搜索</button></form></div>\n'
    '<div class="nav"><ul><li><a href="/">首页</a></li><li><a href="/journals/">期刊大全</a></li>'
    '<li><a href="/tag/">热门标签</a></li><li><a href="/help.html">投稿须知</a></li>'
    '<li><a href="/about.html">关于我们</a></li></ul></div>\n'
    '<div class="wrap">\n'
)
_FOOT = (
    "</div>\n"
    '<div class="footer"><p><a href="/about.html">关于我们</a> | <a href="/contact.html">联系我们</a> | '
    '<a href="/sitemap.xml">网站地图</a></p>\n'
    "<p>Copyright &copy; 2012-2019 期刊图书馆 版权所有 本站部分文章来自网络，如有侵权请联系删除</p>"
    "<p>备案号：京ICP备00000000号-1</p></div>\n"
    "<script>show_ad('float_r');</script>\n"
    "</body>\n</html>\n"
)


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _page(title: str, main: str, *, charset: str | None = "utf-8", head_extra: str = "") -> str:
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset={charset}" />\n' if charset else ""
    return f"{_DOCTYPE}{meta}<title>{title}</title>\n{head_extra}{_HEAD_TAIL}{_TOP}{main}{_FOOT}"


@dataclass
class SiteContext:
    """What every page's chrome links to (the same sidebar everywhere)."""

    journals: list[Journal]
    latest: list[Article]
    doc_article: Article

    @functools.cached_property
    def sidebar(self) -> str:
        hot = "".join(f'<li><a href="{j.path}">{_esc(j.name)}</a></li>' for j in self.journals[:HOME_JOURNALS])
        latest = "".join(f'<li><a href="{a.path}">{_esc(a.title)}论文</a></li>' for a in self.latest)
        searches = "".join(
            f'<li><a href="/search.php?q={quote(q)}">{_esc(q)}</a></li>' for q in ("两学一做", "乡村振兴")
        )
        first_tag = "两学一做"
        return (
            f'<div class="main-right"><div class="box"><h3>热门期刊</h3><ul>{hot}</ul></div>\n'
            f'<div class="box"><h3>最新论文</h3><ul>{latest}</ul></div>\n'
            f'<div class="box"><h3>热门搜索</h3><ul>{searches}'
            f'<li><a href="{_tag_href(first_tag)}">{first_tag}</a></li>'
            f'<li><a href="/doc/{self.doc_article.id}.doc" rel="nofollow">下载：{_esc(self.doc_article.title)}</a></li>'
            "</ul></div>\n"
            '<div class="box ad"><script>show_ad(\'side_1\');</script><a href="/help.html">'
            '<img src="/static/img/ad1.jpg" alt="论文发表咨询" /></a></div></div>\n'
        )


def _pages_div(page: int, total: int, url_of: Callable[[int], str] | None) -> str:
    """Pagination links; ``a.next`` (下一页) only when a next page exists."""
    if total <= 1 or url_of is None:
        return '<div class="pages"><span class="cur">当前页</span></div>'
    parts = []
    if page > 1:
        parts.append(f'<a class="prev" href="{url_of(page - 1)}">上一页</a>')
    for p in range(1, total + 1):
        parts.append(f'<span class="cur">{p}</span>' if p == page else f'<a href="{url_of(p)}">{p}</a>')
    if page < total:
        parts.append(f'<a class="next" href="{url_of(page + 1)}">下一页</a>')
    return f'<div class="pages">{"".join(parts)}</div>'


def _paged(path: str, page: int) -> str:
    return path if page == 1 else f"{path}index_{page}.html"


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [items[:0]]


class _Renderer:
    """Renders one article page from its truth, injecting noise and recording quirks."""

    def __init__(self, article: Article, rng: random.Random, ctx: SiteContext, by_id: dict[str, Article]):
        self.a = article
        self.rng = rng
        self.ctx = ctx
        self.by_id = by_id
        self.q = article.quirks

    def noisy(self, clean: str, noise: Noise, *, body: bool, what: str) -> str:
        text, done = inject_noise(clean, self.rng, noise, body=body)
        _check_roundtrip(text, clean, body=body, what=f"{what} of {self.a.path}")
        for kind in done:
            self.q.add(f"{what}_{kind}")
        return text

    def render(self) -> str:
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
        h1 = _html_text(title) + "论文" + ("_" + " ".join(map(_html_text, h1_authors)) if a.authors else "")

        canonical = {"root": a.path, "bare": f"{a.id}.html", "dotdot": f"../paper/{a.id}.html"}[st.canonical]
        body_html, first_para = self.content()
        description = first_para.replace(_BR, "").replace(_NBSP, " ")[:60] + "..."
        head_extra = (
            f'<link rel="canonical" href="{canonical}" />\n'
            f'<meta name="keywords" content="{_attr(a.title)},{_attr(",".join(a.tags))}" />\n'
            f'<meta name="description" content="{_attr(description)}" />\n'
        )
        j, iss = a.journal, a.issue
        issue_crumb = "" if a.null_year else f' &gt; <a href="{iss.path}">{iss.crumb}</a>'
        main = (
            f'<div class="position">当前位置：<a href="/">首页</a> &gt; <a href="{j.path}">{_esc(j.name)}</a>'
            f"{issue_crumb} &gt; {h1}</div>\n"
            '<div class="main-left"><div class="article">\n'
            f'<h1 class="title">{h1}</h1>\n'
            "<div class=\"ad ad-top\"><script type=\"text/javascript\">show_ad('art_top');</script></div>\n"
            f'<div class="content" id="content">\n{body_html}</div>\n'
            f'<div class="paper-info">\n{self.paper_info()}</div>\n'
            f'<div class="tags">标签：{self.tags()}</div>\n'
            f'<div class="bottom-title">{h1}</div>\n'
            f'<div class="down"><a href="/doc/{a.id}.doc" rel="nofollow">下载Doc文档</a></div>\n'
            f'<div class="related"><h3>猜你喜欢</h3><ul>{self.related()}</ul></div>\n'
            "</div></div>\n"
            f"{self.ctx.sidebar}"
        )
        charset = {"utf-8": "utf-8", "gbk": "gb2312", "utf-8-nometa": None}[st.encoding]
        return _page(f"{h1} - 期刊图书馆", main, charset=charset, head_extra=head_extra)

    # -- pieces ---------------------------------------------------------

    def affiliations_html(self) -> str:
        out = []
        for i, aff in enumerate(self.a.affiliations):
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
            if _SPACE_BETWEEN_CJK_RE.search(aff):  # a space that rule 4 must not touch here
                self.q.add("affiliation_space")
            out.append(f'<p style="text-align:center;">{opened}{_html_text(noisy)}{closed}</p>\n')
        self.q.add(f"affiliations_{len(self.a.affiliations)}")
        return "".join(out)

    def paragraphs_html(self) -> list[str]:
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
                _check_roundtrip(sentence + text, para, body=True, what=f"watermarked paragraph of {a.path}")
            out.append(f"{indent}{wm}{_html_text(text)}")
        return out

    def extras(self) -> list[str]:
        """Content children that are not body text: ads, images, empty paragraphs, script, style."""
        st, a = self.a.style, self.a
        items = []
        if st.ad:
            items.append(
                '<div class="ad"><script type="text/javascript">show_ad("art_in");</script>'
                '<a href="/help.html">（广告）论文发表、期刊投稿咨询</a></div>'
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

    def content(self) -> tuple[str, str]:
        st, rng = self.a.style, self.rng
        paras = self.paragraphs_html()
        extras = self.extras()
        html_out = self.affiliations_html()
        if st.template == "modern":
            blocks = [f"<p>{p}</p>" for p in paras]
            for extra in extras:
                blocks.insert(rng.randint(1, len(blocks)), extra)
            html_out += "".join(f"{b}\n" for b in blocks)
        else:
            tag = "p" if st.template == "old_p" else "div"
            self.q.add(f"template_{st.template}")
            seps = {
                "double": ("<br /><br />",),
                "triple": ("<br /><br /><br />", "<br><br><br>"),
                "ws": ("<br />\n<br />", "<br/> <br/>", "<br />\n\n<br />\n"),
            }[st.old_sep]
            self.q.add(f"old_sep_{st.old_sep}")
            joined = paras[0]
            for p in paras[1:]:
                joined += rng.choice(seps) + p
            if st.old_trailing_br:
                joined += "<br /><br />"
                self.q.add("old_trailing_br")
            html_out += f"<{tag}>{joined}</{tag}>\n" + "".join(f"{e}\n" for e in extras)
        return html_out, self.a.paragraphs[0]

    def paper_info(self) -> str:
        a, st, rng = self.a, self.a.style, self.rng
        lines = []
        if st.authors_line and a.authors:
            names = [
                self.noisy(n, Noise(zero_width=1 if st.author_zw and i == len(a.authors) - 1 else 0),
                           body=False, what="author")
                for i, n in enumerate(a.authors)
            ]
            lines.append(f"<p>论文作者：{_html_text(st.author_sep.join(names))}</p>")
            if len(a.authors) > 1:
                self.q.add(f"author_sep_{AUTHOR_SEP_NAMES[st.author_sep]}")
        elif a.authors:
            self.q.add("authors_from_title")
        else:
            self.q.add("no_authors")
        if st.journal_line and not a.null_year:
            journal = self.noisy(a.journal.name, Noise(zero_width=int(rng.random() < 0.2)), body=False, what="journal")
            lines.append(f"<p>论文发表刊物：《{_html_text(journal)}》{a.issue.year}年{a.issue_label}</p>")
            zero_padded = st.issue_spelling == "di0" and a.issue.number < 10
            self.q.add(f"issue_{'di' if st.issue_spelling == 'di0' and not zero_padded else st.issue_spelling}")
        elif a.null_year:
            self.q.add("null_year")
        else:
            self.q.add("missing_journal_line")
        if st.date_line:
            y, m, d = a.date
            spelled = {"slash": f"{y}/{m}/{d}", "dash": f"{y}-{m}-{d}", "cn": f"{y}年{m}月{d}日"}[st.date_spelling]
            lines.append(f"<p>论文发表时间：{spelled}</p>")
            self.q.add(f"date_{st.date_spelling}")
        else:
            self.q.add("missing_date_line")
        return "".join(f"{line}\n" for line in lines)

    def tags(self) -> str:
        st, rng = self.a.style, self.rng
        slots = []
        for tag in self.a.tags:
            noise = Noise(fullwidth=len(tag), zero_width=int(rng.random() < 0.2))
            noisy = self.noisy(tag, noise, body=False, what="tag")
            slots.append(f'<a href="{_tag_href(tag)}">{_html_text(noisy)}</a>')
        if st.tags == "empty_links":
            for k in range(rng.randint(1, 2)):
                slots.insert(rng.randint(0, len(slots)), f'<a href="{_tag_href(f"{self.a.id}-{k}")}"></a>')
        self.q.add(f"tags_{st.tags}")
        slots += ["  "] * max(0, TAG_SLOTS - len(slots))
        return "".join(f"{s};" for s in slots)

    def related(self) -> str:
        items = "".join(
            f'<li><a href="/paper/{rid}.html?from=related">{_esc(self.by_id[rid].title)}</a></li>'
            for rid in self.a.related
        )
        if items:
            self.q.add("related_query")
        return items


def _render_soft_404() -> str:
    main = f'<div class="main-left"><h1 class="title">{SOFT_404_H1}</h1><p><a href="/">返回首页</a></p></div>\n'
    return _page("页面不存在 - 期刊图书馆", main)


def _list_page(ctx: SiteContext, title: str, position: str, left: str) -> str:
    main = (
        f'<div class="position">当前位置：<a href="/">首页</a> &gt; {position}</div>'
        f'<div class="main-left">{left}</div>{ctx.sidebar}'
    )
    return _page(title, main)


def _encode_page(text: str, encoding: str) -> bytes:
    """UTF-8, or GBK with character references for what GBK lacks (NBSP, zero-width)."""
    if _BR in text or _NBSP in text:
        raise AssertionError("a noise sentinel leaked into a page")
    if encoding != "gbk":
        return text.encode("utf-8")
    out = []
    for ch in text:
        try:
            out.append(ch.encode("gbk"))
        except UnicodeEncodeError:
            out.append(f"&#{ord(ch)};".encode("ascii"))
    data = b"".join(out)
    if not any(c in text for c in GBK_ONLY_CHARS):
        raise AssertionError("GBK page without a GBK-only character")
    return data


# --------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------


def _plan(
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
            for aid in _unique_ids(rng, articles_per_issue, (5, 6, 6, 7), taken):
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

    soft_ids = _unique_ids(rng, sum(1 for j in js if j.index % 2 == 0 and j.issues), (9,), taken)
    soft_iter = iter(soft_ids)
    for journal in js:
        if journal.index % 2 == 0 and journal.issues:
            journal.issues[0].soft_404_ids.append(next(soft_iter))
    return js, articles, soft_ids


def _listed(issue: Issue) -> list[tuple[str, str, str]]:
    """An issue list's entries: (href, text, authors) incl. the soft-404 link."""
    entries = [(a.path, a.title, " ".join(a.authors)) for a in issue.articles if not a.orphan]
    entries += [(f"/paper/{sid}.html", "（已删除）", "") for sid in issue.soft_404_ids]
    return entries


def build_site(
    out: Path,
    *,
    seed: int = 1,
    journals: int = 4,
    issues_per_journal: int = 3,
    articles_per_issue: int = 4,
    body_chars: int = 800,
) -> dict[str, Any]:
    """(Re)create ``out/www``, ``out/expected.jsonl`` and ``out/manifest.json``; return the manifest."""
    if journals < 1 or issues_per_journal < 1 or articles_per_issue < 1:
        raise ValueError("need at least one journal, issue and article")
    out = Path(out)
    rng = random.Random(seed)
    js, articles, soft_ids = _plan(
        rng, journals=journals, issues_per_journal=issues_per_journal,
        articles_per_issue=articles_per_issue, body_chars=body_chars,
    )
    by_id = {a.id: a for a in articles}

    for art in articles:
        for value, what in (
            [(art.title, "title"), (art.journal.name, "journal")]
            + [(x, "author") for x in art.authors]
            + [(x, "affiliation") for x in art.affiliations]
            + [(x, "tag") for x in art.tags]
        ):
            _check_clean(value, body=False, what=f"{what} of {art.path}")
        for para in art.paragraphs:
            _check_clean(para, body=True, what=f"paragraph of {art.path}")

    # Cross links (sidebar, related, mobile) only point at page-1 entries of issues of
    # journals on the first journal index page: later issue pages and later journal
    # index pages must then be reached by following "下一页".
    page_one = [
        a
        for j in js[:JOURNAL_PAGE_SIZE]
        for iss in j.issues
        for a in iss.articles
        if not a.orphan and any(a.path == e[0] for e in _listed(iss)[:ISSUE_PAGE_SIZE])
    ]
    linkable = [a for a in page_one if a.style.encoding != "gbk" and a.style.canonical == "root"]
    mobile = rng.sample(linkable, min(3, len(linkable))) if linkable else []
    mobile.sort(key=lambda a: articles.index(a))
    for art in mobile:
        art.mobile = True  # same bytes under /m/paper/: only a root-relative canonical resolves right there
    latest = rng.sample(page_one, min(5, len(page_one))) if page_one else []
    for art in articles:
        pool = [a for a in page_one if a is not art]
        if pool and rng.random() < 0.75:
            art.related = [a.id for a in rng.sample(pool, min(len(pool), rng.randint(1, 4)))]
    ctx = SiteContext(journals=js, latest=latest, doc_article=(latest or articles)[0])

    www = out / "www"
    for stale in (www, out / "expected.jsonl", out / "manifest.json"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    www.mkdir(parents=True)

    def write(path: str, data: bytes | str) -> None:
        target = www / path.lstrip("/")
        if path.endswith("/"):
            target = target / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)

    list_paths: list[str] = []

    # Article pages (and their mobile copies).
    for art in articles:
        page = _encode_page(_Renderer(art, rng, ctx, by_id).render(), art.style.encoding)
        write(art.path, page)
        if art.mobile:
            write(f"/m{art.path}", page)
        _record_structural_quirks(art)

    # Home and journal index.
    home_left = (
        '<div class="journal-list">'
        + "".join(f'<a href="{j.path}">{_esc(j.name)}</a>' for j in js[:HOME_JOURNALS])
        + '</div><p><a href="/journals/">更多期刊</a></p>'
        + (f'<p class="mobile"><a href="/m{mobile[0].path}">手机版：{_esc(mobile[0].title)}</a></p>' if mobile else "")
        + _pages_div(1, 1, None)
    )
    write("/", _list_page(ctx, "期刊图书馆 - 期刊论文在线阅读", "首页", home_left))
    list_paths.append("/")
    jpages = _chunks(js, JOURNAL_PAGE_SIZE)
    for p, chunk in enumerate(jpages, start=1):
        left = (
            '<div class="journal-list">'
            + "".join(f'<a href="{j.path}">{_esc(j.name)}</a>' for j in chunk)
            + "</div>"
            + _pages_div(p, len(jpages), lambda k: _paged("/journals/", k))
        )
        title = "期刊大全 - 期刊图书馆" if p == 1 else f"期刊大全 第{p}页 - 期刊图书馆"
        write(_paged("/journals/", p), _list_page(ctx, title, "期刊大全", left))
        list_paths.append(_paged("/journals/", p))

    # Journal and issue pages.
    for j in js:
        issues_html = "".join(f'<li><a href="{iss.path}">{iss.crumb}</a></li>' for iss in reversed(j.issues))
        left = f'<h2>{_esc(j.name)}</h2><ul class="issue-list">{issues_html}</ul>{_pages_div(1, 1, None)}'
        write(j.path, _list_page(ctx, f"{_esc(j.name)} - 期刊图书馆", _esc(j.name), left))
        list_paths.append(j.path)
        for iss in j.issues:
            pages = _chunks(_listed(iss), ISSUE_PAGE_SIZE)
            mobiles = [a for a in iss.articles if a.mobile and a is not (mobile[0] if mobile else None)]
            for p, chunk in enumerate(pages, start=1):
                items = "".join(
                    f'<li><a href="{href}">{_esc(text)}</a>' + (f"<span>{_esc(who)}</span>" if who else "") + "</li>"
                    for href, text, who in chunk
                )
                left = f'<ul class="article-list">{items}</ul>'
                if p == 1:
                    left += "".join(
                        f'<p class="mobile"><a href="/m{a.path}">手机版：{_esc(a.title)}</a></p>' for a in mobiles
                    )
                left += _pages_div(p, len(pages), lambda k, base=iss.path: _paged(base, k))
                title = f"{_esc(j.name)}{iss.crumb}" + ("" if p == 1 else f" 第{p}页") + " - 期刊图书馆"
                position = f'<a href="{j.path}">{_esc(j.name)}</a> &gt; {iss.crumb}'
                write(_paged(iss.path, p), _list_page(ctx, title, position, left))
                list_paths.append(_paged(iss.path, p))

    # Soft 404, robots, sitemap.
    write("/404.html", _render_soft_404())
    write(
        "/robots.txt",
        "User-agent: *\nDisallow: /search.php\nDisallow: /login.html\nSitemap: {BASE}/sitemap.xml\n",
    )
    urls = [(a.path, a.iso_date) for a in articles] + [(f"/paper/{sid}.html", "2019-01-01") for sid in soft_ids]
    write(
        "/sitemap.xml",
        '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{{BASE}}{path}</loc><lastmod>{lastmod}</lastmod></url>\n" for path, lastmod in urls)
        + "</urlset>\n",
    )

    rows = sorted((a.expected() for a in articles), key=lambda r: r["article_id"])
    (out / "expected.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    manifest = _manifest(js, articles, soft_ids, list_paths, seed=seed, params={
        "journals": journals, "issues_per_journal": issues_per_journal,
        "articles_per_issue": articles_per_issue, "body_chars": body_chars,
    })
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return manifest


def _record_structural_quirks(art: Article) -> None:
    """Quirks that follow from the page's role and style rather than from rendering."""
    st = art.style
    q = art.quirks
    q.add(f"encoding_{st.encoding}")
    q.add(f"canonical_{st.canonical}")
    if st.title_kind != "plain":
        q.add(f"title_{st.title_kind}")
    if len(art.authors) > 1:
        q.add("multi_author")
    if art.orphan:
        q.add("orphan")
    if art.mobile:
        q.add("mobile")
    for kind in st.sentences:
        q.add(f"sentence_{kind}")
    body = "\n".join(art.paragraphs)
    for needle, name in (("1,000", "sentence_number_comma"), ("2019/4/28", "sentence_date_slash"),
                         ("(文章)", "sentence_paren_ascii"), (ASCII_SENTENCES[0], "sentence_ascii_trend")):
        if needle in body:
            q.add(name)
    if st.br_single:
        q.add("br_single")


def _manifest(
    js: list[Journal], articles: list[Article], soft_ids: list[str], list_paths: list[str], *,
    seed: int, params: dict[str, int],
) -> dict[str, Any]:
    quirks: dict[str, list[str]] = {}
    for art in articles:
        for name in art.quirks:
            quirks.setdefault(name, []).append(art.path)
    return {
        "seed": seed,
        "params": params,
        "articles": len(articles),
        "article_paths": sorted(a.path for a in articles),
        "soft_404_paths": sorted(f"/paper/{sid}.html" for sid in soft_ids),
        "mobile_paths": sorted(f"/m{a.path}" for a in articles if a.mobile),
        "orphan_article_paths": sorted(a.path for a in articles if a.orphan),
        "null_year_paths": sorted(a.path for a in articles if a.null_year),
        "journals": [{"slug": j.slug, "name": j.name} for j in js],
        "list_paths": list_paths,
        "gbk_article_paths": sorted(a.path for a in articles if a.style.encoding == "gbk"),
        "no_charset_paths": sorted(a.path for a in articles if a.style.encoding == "utf-8-nometa"),
        "authors_from_title_paths": sorted(a.path for a in articles if "authors_from_title" in a.quirks),
        "quirks": {name: sorted(paths) for name, paths in sorted(quirks.items())},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sitegen", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--journals", type=int, default=4)
    parser.add_argument("--issues", type=int, default=3, dest="issues_per_journal")
    parser.add_argument("--articles-per-issue", type=int, default=4)
    parser.add_argument("--body-chars", type=int, default=800)
    args = parser.parse_args(argv)
    manifest = build_site(
        args.out, seed=args.seed, journals=args.journals, issues_per_journal=args.issues_per_journal,
        articles_per_issue=args.articles_per_issue, body_chars=args.body_chars,
    )
    print(
        f"{args.out}: {manifest['articles']} articles, {len(manifest['list_paths'])} list pages, "
        f"{len(manifest['gbk_article_paths'])} GBK pages",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
