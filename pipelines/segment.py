"""Word segmentation and keyword extraction with jieba (the `tokens` and `keywords` columns).

Why it looks the way it does:

* The tokens are jieba 0.42.1's (precise mode, HMM), but by default they are made by
  :class:`pipelines.engines.FastEngine`, which gets exactly those tokens from the Rust
  jieba-rs many times faster (``make bench`` measures it); ``engine="jieba"`` runs jieba itself (the reference).

* Each distinct dictionary set (cache dir + user dicts) gets its own
  ``jieba.Tokenizer`` instead of mutating the global ``jieba.dt``: loading a user
  dict into the global tokenizer would silently change the segmentation of every
  other user of jieba in the process, and results must not depend on which
  config happened to be built first.
* jieba's dictionaries load from our own snapshot (see below), read from the
  environment (``make install`` prebuilds it) or built in a project-controlled
  directory, never the shared ``/tmp/jieba.cache`` that other users and jieba
  versions fight over.
* Keywords are computed from the tokens already made (title and body are each
  segmented once per page): segmentation is the expensive part.
* Every ranking breaks ties by the token itself, so reruns give identical rows.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import marshal
import math
import operator
import os
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import compress, repeat
from pathlib import Path

import attrs

from pipelines.engines import ENGINES, Engine, give_back_free_heap, make_engine
from pipelines.jiebaimport import jieba
from pipelines.wordtable import JiebaFreq, WordList, WordTable

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
_CANDIDATE_CACHE_SIZE = 50_000
"""Distinct tokens whose keyword eligibility is remembered (about 6 MB at most; then it starts again)."""


def _rounding_margin(score: float) -> float:
    """More than twice what ``round(x, _SCORE_DIGITS)`` can move a score near ``score``
    (half a unit in the 10th decimal place plus half an ulp): a score further below ``score``
    than this rounds strictly below it, so it cannot reach the top_k."""
    return 1e-9 * (1 + abs(score))


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
    """Where the dictionary snapshot is built when none is prebuilt; None means ``$XDG_CACHE_HOME/qikan-crawler/jieba``."""
    user_dicts: tuple[Path, ...] = attrs.field(default=(), converter=_to_path_tuple)
    """Extra user dictionaries ("word freq [tag]" lines), loaded after the bundled one so they can override it."""
    keyword_method: str = attrs.field(default="tfidf", validator=attrs.validators.in_(("tfidf", "textrank")))
    top_k: int = attrs.field(default=10, validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)])
    engine: str = attrs.field(default="fast", validator=attrs.validators.in_(ENGINES))
    """Who segments: "fast" (jieba's exact tokens from jieba-rs) or "jieba" (jieba itself, the reference)."""


def _quiet_jieba_logger() -> None:
    """jieba prints its load messages on a private stderr handler; route them through
    normal logging instead, where they are DEBUG records like any library's."""
    if jieba.log_console in jieba.default_logger.handlers:  # once: later level changes are the app's
        jieba.default_logger.removeHandler(jieba.log_console)
        jieba.default_logger.setLevel(logging.NOTSET)


# -- the dictionary snapshot -------------------------------------------------------
#
# Every worker process needs jieba's prefix dictionary (about half a million entries) and
# its IDF table. Loaded the usual way, that is jieba's ``initialize`` (its cache is
# unmarshalled straight from the file object, in many small reads) plus parsing idf.txt,
# each held as a dict of Python objects: seconds and a hundred-odd MB per worker. The snapshot
# holds both as WordTables (pipelines.wordtable: a string per first character and an array
# of values), one marshal blob that loads an order of magnitude faster into a fraction of
# the memory. Python only looks words up now and then (the Rust engine segments); the
# "jieba" engine, which looks up several times per character, copies the prefix
# dictionary into a dict. The prefix dictionary's words (frequency > 0) are also kept as a
# WordList, which the Rust engine copies in bulk: a few splits instead of walking every entry.

SNAPSHOT_FORMAT = 3
"""Bump when the snapshot's layout changes: its file name changes with it."""
PREBUILT_DIR = Path(sys.prefix) / "share" / "qikan-crawler"
"""Where ``python -m pipelines.segment`` (run by ``make install``) puts a snapshot, so that a
run with a fresh DATASET_DIR does not spend seconds per worker building one."""


def _jieba_dict_path() -> Path:
    return Path(jieba.__file__).resolve().parent / "dict.txt"


def _jieba_idf_path() -> Path:
    return Path(jieba.__file__).resolve().parent / "analyse" / "idf.txt"


@functools.cache
def snapshot_name() -> str:
    """Keyed by jieba's version and its dictionary and IDF files' bytes: a new jieba makes a new file.
    The files do not change under a running process, so they are hashed once per process."""
    digest = hashlib.sha1()
    for path in (_jieba_dict_path(), _jieba_idf_path()):
        digest.update(path.read_bytes())
    return f"qikan-jieba-{jieba.__version__}-s{SNAPSHOT_FORMAT}-{digest.hexdigest()[:16]}.marshal"


def build_snapshot() -> bytes:
    """jieba's prefix dictionary, its total, the IDF table and its median, and the dictionary's words, as one marshal blob.

    The IDF table is read from jieba's idf.txt rather than taken from ``jieba.analyse``:
    importing that also loads the part-of-speech tables (tens of MB per process), which
    keywords never use."""
    tokenizer = jieba.Tokenizer()
    freq, total = tokenizer.gen_pfdict(tokenizer.get_dict_file())
    idf: dict[str, float] = {}
    with _jieba_idf_path().open(encoding="utf-8") as lines:
        for line in lines:
            word, _, value = line.strip().partition(" ")
            if value:
                idf[word] = float(value)
    values = sorted(idf.values())
    median = values[len(values) // 2]  # as jieba.analyse.TFIDF computes it
    table = WordTable.build(freq, "q")
    # In the table's order (words grouped by their first character): jieba-rs's trie, filled in
    # dict.txt's order instead, came out 4 MB larger.
    words = WordList.build(((word, count) for word, count in table.items() if count), "q")
    return marshal.dumps((SNAPSHOT_FORMAT, table.dump(), total, WordTable.build(idf, "d").dump(), median, words.dump()))


def write_snapshot(directory: Path) -> Path:
    """Build the snapshot into ``directory`` (atomically: concurrent builders each rename a whole file)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / snapshot_name()
    temp = directory / f".{path.name}.{os.getpid()}.tmp"
    temp.write_bytes(build_snapshot())
    os.replace(temp, path)
    return path


@attrs.define
class _Dictionaries:
    tokenizer: jieba.Tokenizer
    """jieba's, with the prefix dictionary in a WordTable (``JiebaFreq``) and the user dictionaries loaded."""
    idf: WordTable
    median_idf: float
    words: WordList | None
    """The prefix dictionary's words in bulk, until the first Rust engine has copied them."""
    engines: dict[str, Engine] = attrs.Factory(dict)
    """Built on first use: a process that only runs jieba never builds the Rust dictionary."""


def _load_dictionaries(cache_dir: Path, user_dicts: tuple[Path, ...]) -> _Dictionaries:
    """The snapshot from ``cache_dir`` or the prebuilt one (building it into ``cache_dir`` when
    neither exists), then the bundled and the configured user dictionaries on top."""
    name = snapshot_name()
    path = next((p for p in (cache_dir / name, PREBUILT_DIR / name) if p.is_file()), None)
    if path is None:
        jieba.default_logger.debug("Building the dictionary snapshot in %s", cache_dir)
        path = write_snapshot(cache_dir)
    jieba.default_logger.debug("Loading the dictionary snapshot %s", path)
    layout, *parts = marshal.loads(path.read_bytes())
    if layout != SNAPSHOT_FORMAT:
        raise ValueError(f"{path} has snapshot format {layout}, expected {SNAPSHOT_FORMAT}")
    freq, total, idf, median, words = parts
    tokenizer = jieba.Tokenizer()
    # What jieba's own initialize() sets after reading its cache.
    tokenizer.FREQ, tokenizer.total, tokenizer.initialized = JiebaFreq(WordTable.load(freq)), total, True
    for user_dict in (bundled_userdict_path(), *user_dicts):
        tokenizer.load_userdict(str(user_dict))
    return _Dictionaries(tokenizer, WordTable.load(idf), median, WordList.load(words))


_LOCK = threading.Lock()
_DICTIONARIES: dict[tuple[Path, tuple[Path, ...]], _Dictionaries] = {}
_SEGMENTERS: dict[SegmentConfig, Segmenter] = {}


def _shared_dictionaries(cache_dir: Path, user_dicts: tuple[Path, ...]) -> _Dictionaries:
    """One set of dictionaries per dictionary set: configs that differ only in keyword settings share it."""
    key = (cache_dir, user_dicts)
    with _LOCK:
        if key not in _DICTIONARIES:
            _quiet_jieba_logger()
            _DICTIONARIES[key] = _load_dictionaries(cache_dir, user_dicts)
        return _DICTIONARIES[key]


def _shared_engine(dictionaries: _Dictionaries, name: str) -> Engine:
    """One engine of each kind per dictionary set, over the same jieba tokenizer."""
    with _LOCK:
        if name not in dictionaries.engines:
            dictionaries.engines[name] = make_engine(name, dictionaries.tokenizer, dictionaries.words)
            if name == "fast" and dictionaries.words is not None:
                dictionaries.words = None  # copied into the engine: its 6 MB back to the system
                give_back_free_heap()
        return dictionaries.engines[name]


def _load_stopwords() -> frozenset[str]:
    lines = bundled_stopwords_path().read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip())


class Segmenter:
    """Segments text and extracts keywords for one SegmentConfig."""

    def __init__(self, config: SegmentConfig):
        self.config = config
        dictionaries = _shared_dictionaries(config.cache_dir or _default_cache_dir(), config.user_dicts)
        self._tokenizer = dictionaries.tokenizer
        engine = _shared_engine(dictionaries, config.engine)
        self._cut, self._words = engine.cut, engine.words
        self._idf, self._median_idf = dictionaries.idf, dictionaries.median_idf
        self._stopwords = _load_stopwords()
        self._candidates: dict[str, bool] = {}
        self._tfidf_weights: dict[str, float | None] = {}

    def tokens(self, text: str) -> list[str]:
        """jieba precise mode with HMM; whitespace tokens dropped, all else kept verbatim,
        so ``"".join(tokens)`` is the text without its white space."""
        return self._words(text)

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
        if self.config.keyword_method == "tfidf":
            return self._tfidf_keywords(title_tokens, body_tokens)
        body_counts = Counter(body_tokens)
        candidates = {t for t in body_counts.keys() | set(title_tokens) if self._candidate(t)}
        scores = self._textrank(title_tokens, body_tokens, candidates)
        ranked = sorted(scores.items(), key=lambda kv: (-round(kv[1], _SCORE_DIGITS), kv[0]))
        return [token for token, _ in ranked[: self.config.top_k]]

    def _candidate(self, token: str) -> bool:
        """:meth:`is_candidate`, remembered: a page has ~600 distinct tokens, nearly all seen before."""
        known = self._candidates.get(token)
        if known is None:
            if len(self._candidates) >= _CANDIDATE_CACHE_SIZE:
                self._candidates.clear()
            known = self._candidates[token] = self.is_candidate(token)
        return known

    def analyse(self, title: str | None, body: str) -> tuple[list[str], list[str]]:
        """(body tokens, keywords), segmenting the title and the body once each."""
        title_tokens = self.tokens(title) if title else []
        body_tokens = self.tokens(body)
        return body_tokens, self.keywords(title_tokens, body_tokens)

    def _tfidf_keywords(self, title_tokens: Sequence[str], body_tokens: Sequence[str]) -> list[str]:
        """Candidates ranked by count * IDF (title tokens count TITLE_WEIGHT times), ties by the token.

        TF is count / total, but the total is the same for every token: ranking needs only
        count * IDF. A page's ~150 distinct tokens are looked up once (a cache miss each: the
        table is large) and the ~45 candidates scored with ``map`` and ``compress``, in C.
        Rounding (0.3 us each) is needed only near the top_k-th score: a score more than
        :func:`_rounding_margin` below it rounds below it too, so it cannot reach the top_k."""
        counts = Counter(body_tokens)
        for token in title_tokens:  # non-candidates among them are dropped below
            counts[token] += TITLE_WEIGHT
        weights = self._tfidf_weights
        if not counts.keys() <= weights.keys():
            unknown = counts.keys() - weights.keys()
            if len(weights) + len(unknown) > _CANDIDATE_CACHE_SIZE:  # start again, keeping this page's
                weights.clear()
                unknown = set(counts)
            for token in unknown:
                weights[token] = self._tfidf_weight(token)
        idfs = list(map(weights.__getitem__, counts))
        is_candidate = list(map(operator.is_not, idfs, repeat(None)))
        candidates = list(compress(counts, is_candidate))
        scores = list(map(operator.mul, compress(counts.values(), is_candidate), compress(idfs, is_candidate)))
        top_k = self.config.top_k
        if len(scores) > top_k:
            kth = sorted(scores, reverse=True)[top_k - 1]
            floor = kth - _rounding_margin(kth)
        else:
            floor = -math.inf
        ranked = sorted(
            (-round(score, _SCORE_DIGITS), token) for score, token in zip(scores, candidates, strict=True) if score >= floor
        )
        return [token for _, token in ranked[:top_k]]

    def _tfidf_weight(self, token: str) -> float | None:
        """jieba's IDF of a candidate (the median when it has none), None for a non-candidate."""
        return self._idf.get(token, self._median_idf) if self.is_candidate(token) else None

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
                for src, share in zip(sources, shares, strict=True)
            ]
        return dict(zip(nodes, score, strict=True))


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


if __name__ == "__main__":  # `python -m pipelines.segment [DIR]`: prebuild the snapshot (make install does)
    written = write_snapshot(Path(sys.argv[1]) if len(sys.argv) > 1 else PREBUILT_DIR)
    for stale in written.parent.glob("qikan-jieba-*.marshal"):  # other jieba versions' and formats': ours, unused
        if stale != written:
            stale.unlink()
    print(written)
