"""Segmentation engines: jieba itself, and a compiled engine that gives exactly jieba's tokens.

jieba 0.42.1 (pure Python) is most of a rebuild's CPU time. ``rjieba`` (the
Rust jieba-rs) runs the same algorithm (prefix dictionary DAG, max-probability
route, HMM for runs of unknown single characters) many times faster (``make bench``
measures by how much), but it is not jieba token for token. :class:`FastEngine` uses it only where it is exact:

* **Same dictionary and total, by construction.** The Rust engine starts empty
  and gets every word of the jieba tokenizer's own prefix dictionary (the
  snapshot plus the user dictionaries, as jieba loaded them) with its frequency.
  jieba's total counts a word twice when a user dictionary (or dict.txt itself)
  repeats it; the Rust engine counts it once, so the difference is added as one
  filler word, a line break, which no text block contains. Route scores
  are ``log(freq) - log(total)``: the total must be equal, not close.
* **jieba's own block split.** jieba cuts text into blocks of
  ``[\\u4E00-\\u9FD5a-zA-Z0-9+#&._%-]`` and emits every other character alone. The
  Rust engine's block class is wider (CJK extension A, compatibility ideographs,
  the supplementary planes; :data:`WIDER_HAN` lists exactly which, a test checks
  every code point). Text with none of those characters is split into the same
  blocks by both, and goes to Rust whole; other text is split here, in Python,
  with jieba's own regexes, and only the blocks go to Rust.
* **One known difference, handed back to jieba.** Inside a run of unknown
  characters jieba's HMM splits ASCII with ``[a-zA-Z0-9]+(?:\\.\\d+)?%?``; jieba-rs
  keeps ``1-4``, ``a_b``, ``v1.2a`` and ``1.5.6`` whole. A block holding an
  alphanumeric run joined by ``.``, ``_`` or ``-`` (other than a plain decimal such
  as ``12.5``) is segmented by jieba itself. Comparing every string of up to six
  characters over two alphabets (ASCII letters, digits, ``+#&._%-``, Han characters
  that make words) found no other difference, and this rule flags every one found.
* **White space splits text the same way for both.** jieba never puts white space into a
  block and emits each white-space character (``\\r\\n`` as one) as a token of its own, so
  the tokens of a text without its white-space tokens are the tokens of the pieces between its
  white space (``str.split()``: the same characters as ``\\s`` and ``str.isspace``), which
  :meth:`FastEngine.words` sends to Rust one by one.
* jieba's HMM also honours ``jieba.finalseg.Force_Split_Words`` (words deleted
  or given frequency 0 anywhere in the process); while that set is not empty,
  all text goes to jieba.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.util
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator
from itertools import compress, repeat
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from pipelines.jiebaimport import jieba
from pipelines.wordtable import JiebaFreq, WordList

if TYPE_CHECKING:
    import rjieba


def _compiled_rjieba() -> ModuleType:
    """rjieba's compiled module without the package's ``__init__``, which builds a default
    dictionary that nothing here uses: 31 MB in every process that imports this module (crawl,
    rebuild, forkserver, each worker). A later ``import rjieba`` reuses the module."""
    if "rjieba.rjieba" in sys.modules:
        return sys.modules["rjieba.rjieba"]
    package = importlib.util.find_spec("rjieba")  # found, not run
    for folder in (package.submodule_search_locations or []) if package else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, f"rjieba{suffix}")
            spec = importlib.util.spec_from_file_location("rjieba.rjieba", path) if os.path.isfile(path) else None
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                sys.modules["rjieba.rjieba"] = module
                spec.loader.exec_module(module)
                return module
    import rjieba  # another packaging of it: the plain import

    return rjieba


_rjieba = _compiled_rjieba()

ENGINES = ("fast", "jieba")
"""Values of ``SegmentConfig.engine`` (the ``SEGMENT_ENGINE`` setting)."""

JIEBA_BLOCK = jieba.re_han_default
"""jieba's block class (what it segments with the dictionary); everything else is emitted a character at a time."""
_JIEBA_BLOCK_CHAR = re.compile(r"[\u4E00-\u9FD5a-zA-Z0-9+#&._%\-]")
_JIEBA_SKIP = jieba.re_skip_default

WIDER_HAN = re.compile(
    "[\u3400-\u4DBF\u9FD6-\u9FFF\uF900-\uFAFF\U00020000-\U0003FFFF\uD800-\uDFFF]"
)
"""Characters the Rust engine would put into a block and jieba would not (rjieba 0.2.2 exactly
covers U+3400-4DBF, 9FD6-9FFF, F900-FAFF, 20000-2A6DF, 2A700-2EBEF, 2F800-2FA1F; the rest of
planes 2 and 3 is margin), and lone surrogates, which Rust strings cannot hold."""

_ASCII_RUN = re.compile(r"[a-zA-Z0-9]+(?:[._\-][a-zA-Z0-9]+)+")
"""Alphanumeric runs joined by separators: where jieba-rs's HMM keeps more together than jieba's."""
_RUN_SEPARATORS = "._-"
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_PLAIN_DECIMAL = re.compile(r"[a-zA-Z0-9]+\.[0-9]+")
"""The one such run that both split the same way (``12.5``, ``v1.2``): jieba's ``\\.\\d+``."""

_TOTAL_FILLER = "\n"
"""A word no block contains and no jieba dictionary can hold (jieba reads one word per line):
carries jieba's double-counted frequencies so that the Rust engine's total equals jieba's."""


class Engine(Protocol):
    """What a Segmenter needs from an engine: jieba's precise-mode HMM tokens, with or without white space."""

    def cut(self, text: str) -> list[str]: ...

    def words(self, text: str) -> list[str]:
        """:meth:`cut` without the white-space tokens (a white-space character each, or ``\\r\\n``)."""
        ...


class JiebaEngine:
    """jieba itself: the reference, and the ``SEGMENT_ENGINE = "jieba"`` setting.

    jieba looks words up several times per character, so it gets its own tokenizer
    with the prefix dictionary copied into a dict (its own memory, paid once per process)."""

    def __init__(self, tokenizer: jieba.Tokenizer):
        if not isinstance(tokenizer.FREQ, dict):
            own = jieba.Tokenizer()
            own.FREQ, own.total, own.initialized = dict(tokenizer.FREQ.items()), tokenizer.total, True
            own.user_word_tag_tab = tokenizer.user_word_tag_tab
            tokenizer = own
        self._cut: Callable[..., object] = tokenizer.cut

    def cut(self, text: str) -> list[str]:
        return list(self._cut(text, HMM=True))  # type: ignore[call-overload]

    def words(self, text: str) -> list[str]:
        return [t for t in self.cut(text) if not t.isspace()]


def rust_engine_from(tokenizer: jieba.Tokenizer, words: WordList | None = None) -> rjieba.Jieba:
    """A jieba-rs engine with exactly ``tokenizer``'s words, frequencies and total.

    The 350,000 words go over in bulk (``map`` in C): a Python step per word cost about 0.3 s
    of every process's start. ``words``, the snapshot's words of the tokenizer's table in a few
    pieces, go over with one split per piece; then the user dictionaries' words, whose frequency replaces
    a word's own (jieba-rs's ``add_word`` does that too). Without it, every entry of the table
    is walked and the prefixes (frequency 0) dropped."""
    engine = _rjieba.Jieba.empty()
    add_word = engine.add_word
    freq_table = tokenizer.FREQ
    total = 0
    overlaid = list(freq_table.overlaid()) if words is not None and isinstance(freq_table, JiebaFreq) else None
    if words is not None and overlaid is not None and not any(
        new <= 0 and old for _, new, old in overlaid  # a word deleted (jieba then cuts all text)
    ):
        for base_words, base_freqs in words.columns():
            deque(map(add_word, base_words, base_freqs, repeat(None)), maxlen=0)
            total += sum(base_freqs)
        for word, new, old in overlaid:
            if new < 0:
                raise ValueError(f"jieba dictionary word {word!r} has a negative frequency {new}")
            if new:
                add_word(word, new, None)
                total += new - old
    else:
        columns = freq_table.columns() if isinstance(freq_table, JiebaFreq) else [(list(freq_table), list(freq_table.values()))]
        for column_words, freqs in columns:
            if not column_words:
                continue
            if min(freqs) < 0:
                word, freq = next((w, f) for w, f in zip(column_words, freqs, strict=True) if f < 0)
                raise ValueError(f"jieba dictionary word {word!r} has a negative frequency {freq}")
            total += sum(freqs)
            # 0 marks a prefix of a word, not a word (jieba's DAG skips it too): compress() drops it.
            deque(map(add_word, compress(column_words, freqs), compress(freqs, freqs), repeat(None)), maxlen=0)
    if tokenizer.total < total:
        raise ValueError(f"jieba total {tokenizer.total} is below the sum of its word frequencies {total}")
    if tokenizer.total > total:
        add_word(_TOTAL_FILLER, tokenizer.total - total, None)
    give_back_free_heap()
    return engine


def give_back_free_heap() -> None:
    """Building the Rust dictionary grows and frees C heap, which glibc keeps in the process
    unless asked. Elsewhere: nothing to do."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class FastEngine:
    """jieba's tokens from jieba-rs, with jieba's own code for the parts where the two differ."""

    def __init__(self, tokenizer: jieba.Tokenizer, words: WordList | None = None):
        self._tokenizer = tokenizer
        self._rust_cut = rust_engine_from(tokenizer, words).cut
        self._whole_text_engine: JiebaEngine | None = None

    def _jieba_cut(self, block: str) -> list[str]:
        """jieba's own code on one block, over the tokenizer's (compact) dictionary: a few per page at most."""
        return list(self._tokenizer.cut(block, HMM=True))

    def cut(self, text: str) -> list[str]:
        return self._segment(text, keep_white_space=True)

    def words(self, text: str) -> list[str]:
        return self._segment(text, keep_white_space=False)

    def _rust_all(self, text: str) -> list[str]:
        return self._rust_cut(text, True)

    def _rust_words(self, text: str) -> list[str]:
        """Rust's tokens of ``text`` but its white space, one piece between white space at a time:
        cheaper than filtering 1,600 tokens for the few white-space ones (see the module docstring)."""
        pieces = text.split()
        if len(pieces) == 1:
            return self._rust_cut(pieces[0], True)
        tokens: list[str] = []
        for piece in pieces:
            tokens += self._rust_cut(piece, True)
        return tokens

    def _segment(self, text: str, keep_white_space: bool) -> list[str]:
        """jieba's tokens of ``text``, its white-space ones included or not."""
        if jieba.finalseg.Force_Split_Words:
            if self._whole_text_engine is None:
                self._whole_text_engine = JiebaEngine(self._tokenizer)
            engine = self._whole_text_engine
            return engine.cut(text) if keep_white_space else engine.words(text)
        if WIDER_HAN.search(text):
            tokens = self._cut_blocks(text)
            return tokens if keep_white_space else [t for t in tokens if not t.isspace()]
        rust_cut = self._rust_all if keep_white_space else self._rust_words
        tokens = []
        done = 0
        for run in _joined_runs(text):
            if run.start() < done or _PLAIN_DECIMAL.fullmatch(run.group()):
                continue
            start, end = _block_around(text, run.start(), run.end())
            if start > done:
                tokens += rust_cut(text[done:start])
            tokens += self._jieba_cut(text[start:end])  # a block: no white space in it
            done = end
        if not done:
            return rust_cut(text)  # the usual page: Rust's own list, not a copy
        if done < len(text):
            tokens += rust_cut(text[done:])
        return tokens

    def _cut_blocks(self, text: str) -> list[str]:
        """jieba's ``Tokenizer.cut`` loop, with the blocks that are safe sent to Rust one by one."""
        tokens: list[str] = []
        for piece in JIEBA_BLOCK.split(text):
            if not piece:
                continue
            if JIEBA_BLOCK.match(piece):
                tokens += self._jieba_cut(piece) if _needs_jieba(piece) else self._rust_cut(piece, True)
            else:
                for part in _JIEBA_SKIP.split(piece):
                    if _JIEBA_SKIP.match(part):
                        tokens.append(part)
                    else:
                        tokens.extend(part)
        return tokens


def _needs_jieba(block: str) -> bool:
    return any(not _PLAIN_DECIMAL.fullmatch(run.group()) for run in _joined_runs(block))


def _joined_runs(text: str) -> Iterator[re.Match[str]]:
    """The matches of ``_ASCII_RUN.finditer(text)``, found from their separators.

    The regex tries every character of a page (0.03 ms per 3,000 characters); ``str.find``
    jumps to the few separators. Each match is the regex's own, started where finditer
    would start it: the first separator (at or after the previous match's end + 1) with an
    ASCII letter or digit on both sides, walked back over the letters and digits before it
    (not past the previous match's end). A test compares the two on 50,000 generated strings."""
    separators = []
    for separator in _RUN_SEPARATORS:
        at = text.find(separator, 1)
        while at >= 0:
            separators.append(at)
            at = text.find(separator, at + 1)
    if not separators:
        return
    separators.sort()
    alnum, last, done = _ASCII_ALNUM, len(text) - 1, 0
    for at in separators:
        if at <= done or at >= last or text[at - 1] not in alnum or text[at + 1] not in alnum:
            continue
        start = at - 1
        while start > done and text[start - 1] in alnum:
            start -= 1
        run = _ASCII_RUN.match(text, start)
        if run is None:  # cannot happen: text[start:at + 2] is a run already
            raise AssertionError(f"no joined run at {start} in {text[start:at + 2]!r}")
        yield run
        done = run.end()


def _block_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The jieba block that contains ``text[start:end]`` (a run of block characters)."""
    is_block_char = _JIEBA_BLOCK_CHAR.match
    while start > 0 and is_block_char(text, start - 1):
        start -= 1
    while end < len(text) and is_block_char(text, end):
        end += 1
    return start, end


def make_engine(name: str, tokenizer: jieba.Tokenizer, words: WordList | None = None) -> Engine:
    """The engine called ``name`` (one of :data:`ENGINES`) over ``tokenizer``'s dictionaries
    (``words``: its table's words in bulk, see :func:`rust_engine_from`)."""
    if name == "fast":
        return FastEngine(tokenizer, words)
    if name == "jieba":
        return JiebaEngine(tokenizer)
    raise ValueError(f"unknown segmentation engine {name!r}; expected one of {ENGINES}")
