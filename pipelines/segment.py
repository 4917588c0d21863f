"""Word segmentation and keyword extraction with jieba (the `tokens` and `keywords` columns).

Why it looks the way it does:

* Each distinct dictionary set (cache dir + user dicts) gets its own
  ``jieba.Tokenizer`` instead of mutating the global ``jieba.dt``: loading a user
  dict into the global tokenizer would silently change the segmentation of every
  other user of jieba in the process, and results must not depend on which
  config happened to be built first.
* jieba's prefix-dict cache goes to a project-controlled directory, never the
  shared ``/tmp/jieba.cache`` that other users and jieba versions fight over.
* Keywords are computed from the tokens already made (title and body are each
  segmented once per page): segmentation is the expensive part.
* Every ranking breaks ties by the token itself, so reruns give identical rows.
"""

from __future__ import annotations

import logging
import operator
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import attrs
import jieba

_DATA_DIR = Path(__file__).resolve().parent / "data"

TITLE_WEIGHT = 3
"""How many times a title token counts. A title is the author's own ~15-character summary
of the paper, so a mention there is worth several in a 3,000-character body. On the seed
paper x3 is the smallest weight that brings its title term 基层党建 into the top 10; at x10
plain title words (践行, 夯实) crowd out the body's subject."""

TEXTRANK_WINDOW = 5
"""Tokens co-occur when both fall inside a window of this many consecutive tokens."""
TEXTRANK_DAMPING = 0.85
TEXTRANK_ITERATIONS = 20
"""Fixed, not run-to-convergence, so the float arithmetic (and ties) are reproducible; the
seed paper's top 15 no longer changes after 10."""

_SCORE_DIGITS = 10
"""Scores are rounded before ranking so that float noise never decides a tie; the token does."""


def bundled_userdict_path() -> Path:
    """The domain user dictionary shipped with the package (party-building, administration, forestry, education)."""
    return _DATA_DIR / "userdict.txt"


def bundled_stopwords_path() -> Path:
    """Function words and punctuation that are never keywords."""
    return _DATA_DIR / "stopwords.txt"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qikan-crawler" / "jieba"


def _to_optional_path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value)


def _to_path_tuple(values: Sequence[str | os.PathLike[str]]) -> tuple[Path, ...]:
    return tuple(Path(v) for v in values)


@attrs.frozen
class SegmentConfig:
    """What a Segmenter depends on; hashable, so it keys the per-process cache."""

    cache_dir: Path | None = attrs.field(default=None, converter=_to_optional_path)
    """Where jieba's prefix-dict cache file goes; None means ``$XDG_CACHE_HOME/qikan-crawler/jieba``."""
    user_dicts: tuple[Path, ...] = attrs.field(default=(), converter=_to_path_tuple)
    """Extra user dictionaries ("word freq [tag]" lines), loaded after the bundled one so they can override it."""
    keyword_method: str = attrs.field(default="tfidf", validator=attrs.validators.in_(("tfidf", "textrank")))
    top_k: int = attrs.field(default=10, validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)])


def _quiet_jieba_logger() -> None:
    """jieba prints its load messages on a private stderr handler; route them through
    normal logging instead, where they are DEBUG records like any library's."""
    if jieba.log_console in jieba.default_logger.handlers:  # once: later level changes are the app's
        jieba.default_logger.removeHandler(jieba.log_console)
        jieba.default_logger.setLevel(logging.NOTSET)


def _load_tokenizer(cache_dir: Path, user_dicts: tuple[Path, ...]) -> jieba.Tokenizer:
    cache_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = str(cache_dir)
    # Versioned name: jieba trusts a default-dict cache without checking its age.
    tokenizer.cache_file = f"jieba-{jieba.__version__}.cache"
    tokenizer.initialize()
    for path in (bundled_userdict_path(), *user_dicts):
        tokenizer.load_userdict(str(path))
    return tokenizer


_LOCK = threading.Lock()
_TOKENIZERS: dict[tuple[Path, tuple[Path, ...]], jieba.Tokenizer] = {}
_SEGMENTERS: dict[SegmentConfig, Segmenter] = {}


def _shared_tokenizer(cache_dir: Path, user_dicts: tuple[Path, ...]) -> jieba.Tokenizer:
    """One tokenizer per dictionary set: configs that differ only in keyword settings share it."""
    key = (cache_dir, user_dicts)
    with _LOCK:
        if key not in _TOKENIZERS:
            _quiet_jieba_logger()
            _TOKENIZERS[key] = _load_tokenizer(cache_dir, user_dicts)
        return _TOKENIZERS[key]


def _load_stopwords() -> frozenset[str]:
    lines = bundled_stopwords_path().read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip())


def _idf_table() -> tuple[dict[str, float], float]:
    """jieba's IDF table, read from its file: importing ``jieba.analyse`` would also load the
    part-of-speech tables (about 95 MB per process, measured), which keywords never use."""
    path = Path(jieba.__file__).resolve().parent / "analyse" / "idf.txt"
    idf: dict[str, float] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            word, _, value = line.strip().partition(" ")
            if value:
                idf[word] = float(value)
    values = sorted(idf.values())
    return idf, values[len(values) // 2]  # the median, as jieba.analyse.TFIDF computes it


class Segmenter:
    """Segments text and extracts keywords for one SegmentConfig."""

    def __init__(self, config: SegmentConfig):
        self.config = config
        self._tokenizer = _shared_tokenizer(config.cache_dir or _default_cache_dir(), config.user_dicts)
        self._stopwords = _load_stopwords()
        self._idf, self._median_idf = _idf_table()

    def tokens(self, text: str) -> list[str]:
        """jieba precise mode with HMM; whitespace tokens dropped, all else kept verbatim,
        so ``"".join(tokens)`` is the text without its white space."""
        return [t for t in self._tokenizer.cut(text, HMM=True) if not t.isspace()]

    def is_candidate(self, token: str) -> bool:
        """Could this token be a keyword? Not a stop word, 1-char token, number or punctuation."""
        return (
            len(token) >= 2
            and not token.isnumeric()
            and any(ch.isalpha() for ch in token)
            and token.lower() not in self._stopwords
        )

    def keywords(self, title_tokens: Sequence[str], body_tokens: Sequence[str]) -> list[str]:
        """The top_k keywords of a page, from its already segmented title and body."""
        candidates = {t for t in {*title_tokens, *body_tokens} if self.is_candidate(t)}
        rank = self._textrank if self.config.keyword_method == "textrank" else self._tfidf
        scores = rank(title_tokens, body_tokens, candidates)
        ranked = sorted(scores.items(), key=lambda kv: (-round(kv[1], _SCORE_DIGITS), kv[0]))
        return [token for token, _ in ranked[: self.config.top_k]]

    def analyse(self, title: str | None, body: str) -> tuple[list[str], list[str]]:
        """(body tokens, keywords), segmenting the title and the body once each."""
        title_tokens = self.tokens(title) if title else []
        body_tokens = self.tokens(body)
        return body_tokens, self.keywords(title_tokens, body_tokens)

    def _tfidf(self, title_tokens: Sequence[str], body_tokens: Sequence[str], candidates: set[str]) -> dict[str, float]:
        counts: Counter[str] = Counter(t for t in body_tokens if t in candidates)
        for t in title_tokens:
            if t in candidates:
                counts[t] += TITLE_WEIGHT
        # TF is count / total, but the total is the same for every token: ranking needs only count * IDF.
        return {t: n * self._idf.get(t, self._median_idf) for t, n in counts.items()}

    def _textrank(self, title_tokens: Sequence[str], body_tokens: Sequence[str], candidates: set[str]) -> dict[str, float]:
        """Weighted PageRank over the co-occurrence graph of candidate tokens, as jieba's TextRank
        does, but over our tokens. Title and body are separate sequences (no window spans both);
        title co-occurrences count TITLE_WEIGHT times."""
        graph: dict[str, defaultdict[str, float]] = {t: defaultdict(float) for t in sorted(candidates)}
        for seq, weight in ((title_tokens, TITLE_WEIGHT), (body_tokens, 1)):
            for i, a in enumerate(seq):
                if a not in candidates:
                    continue
                for b in seq[i + 1 : i + TEXTRANK_WINDOW]:
                    if b in candidates and b != a:
                        graph[a][b] += weight
                        graph[b][a] += weight
        nodes = list(graph)
        index = {t: i for i, t in enumerate(nodes)}
        out_weight = [sum(graph[t].values()) for t in nodes]
        # For each node: its neighbours' indexes and the share of each neighbour's out-weight it receives.
        sources = [[index[nb] for nb in graph[t]] for t in nodes]
        shares = [[w / out_weight[index[nb]] for nb, w in graph[t].items()] for t in nodes]
        d = TEXTRANK_DAMPING
        score = [1.0] * len(nodes)
        for _ in range(TEXTRANK_ITERATIONS):
            score = [
                (1 - d) + d * sum(map(operator.mul, share, map(score.__getitem__, src)))
                for src, share in zip(sources, shares)
            ]
        return dict(zip(nodes, score))


def get_segmenter(config: SegmentConfig) -> Segmenter:
    """The process's Segmenter for this config: jieba loads its dictionaries once per process
    (about a second), so call this at start-up, before the first page."""
    with _LOCK:
        segmenter = _SEGMENTERS.get(config)
    if segmenter is None:
        segmenter = Segmenter(config)  # outside the lock: it takes the lock itself for the tokenizer
        with _LOCK:
            segmenter = _SEGMENTERS.setdefault(config, segmenter)
    return segmenter
