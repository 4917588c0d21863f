"""The corpus the articles are written from: topics, journal names, people, places, sentences.

Every sentence is produced already in normalised form (full-width punctuation
after Chinese, one space after an ASCII sentence), so it is a clean truth.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass


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


def sentence(rng: random.Random, t: Topic) -> str:
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


def special_sentence(kind: str, rng: random.Random, t: Topic, gbk_name: str) -> str:
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


def join_sentences(parts: Iterable[str]) -> str:
    """Join sentences; a sentence ending in ASCII is followed by one space."""
    text = ""
    for part in parts:
        if text and text[-1].isascii():
            text += " "
        text += part
    return text

