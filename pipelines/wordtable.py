"""jieba's dictionaries in a few flat strings: a few MB per process where dicts take 70.

jieba's prefix dictionary (500,000 words and word prefixes) and its IDF table
(270,000 words) as Python dicts cost about 67 MB in every worker process. With the
Rust engine doing the segmenting, Python only looks words up now and then: for the
user dictionaries at start-up, for the rare block handed back to jieba, and for a
page's keyword candidates (cached). A :class:`WordTable` answers those lookups from
one string per first character (``"\\nword1\\nword2\\n"``, searched with
``str.find``: a few microseconds) and one array of values, which marshal writes
and reads in one piece. No dictionary word contains a line break (jieba reads them
one per line).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

_MISSING: Any = object()


def _check_key(key: str) -> None:
    """Keys are stored between line breaks: an empty one, or one holding a line break, cannot be."""
    if not key or "\n" in key:
        raise ValueError(f"cannot hold the key {key!r}")


class WordTable:
    """A read-only ``str -> number`` table: words grouped by their first character."""

    __slots__ = ("_buckets", "_values")

    def __init__(self, buckets: dict[str, tuple[str, int]], values: memoryview):
        self._buckets = buckets
        """first character -> ("\\n"-separated words with a "\\n" at each end, index of the first one's value)"""
        self._values = values

    @classmethod
    def build(cls, items: Mapping[str, Any], typecode: str) -> WordTable:
        """``typecode``: "q" for int64 values, "d" for float64."""
        groups: dict[str, list[str]] = {}
        for key in items:
            _check_key(key)
            groups.setdefault(key[0], []).append(key)
        buckets, values, start = {}, array(typecode), 0
        for first, keys in groups.items():
            buckets[first] = ("\n" + "\n".join(keys) + "\n", start)
            values.extend(items[key] for key in keys)
            start += len(keys)
        return cls(buckets, memoryview(values))

    def dump(self) -> tuple[dict[str, tuple[str, int]], str, bytes]:
        """What :meth:`load` takes back: plain dicts, str and bytes, which marshal stores as they are."""
        return self._buckets, self._values.format, self._values.tobytes()

    @classmethod
    def load(cls, dumped: tuple[dict[str, tuple[str, int]], str, bytes]) -> WordTable:
        buckets, typecode, values = dumped
        return cls(buckets, memoryview(values).cast(typecode))  # type: ignore[call-overload]

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: str, default: Any = None) -> Any:
        bucket = self._buckets.get(key[:1])
        if bucket is None or "\n" in key:
            return default
        text, start = bucket
        at = text.find("\n" + key + "\n")
        return default if at < 0 else self._values[start + text.count("\n", 0, at)]

    def items(self) -> Iterator[tuple[str, Any]]:
        values = self._values
        for text, start in self._buckets.values():
            for i, key in enumerate(text[1:-1].split("\n"), start):
                yield key, values[i]

    def buckets(self) -> Iterator[tuple[str, list[str], memoryview]]:
        """(first character, its words, their values), bucket by bucket: :meth:`items` in bulk."""
        for first, (text, start) in self._buckets.items():
            words = text[1:-1].split("\n")
            yield first, words, self._values[start : start + len(words)]


class WordList:
    """Words and their numbers as a few ``"\\n"``-joined strings and one array: a whole dictionary
    copied elsewhere (into the Rust engine) a chunk at a time, one split per chunk and no per-word
    step in Python. Chunks, not one string: splitting all 350,000 words at once raised a process's
    peak by 30 MB."""

    __slots__ = ("_chunks", "_values")

    CHUNK_WORDS = 8192

    def __init__(self, chunks: list[str], values: memoryview):
        self._chunks = chunks
        self._values = values

    @classmethod
    def build(cls, items: Iterable[tuple[str, Any]], typecode: str) -> WordList:
        words, values = [], array(typecode)
        for key, value in items:
            _check_key(key)
            words.append(key)
            values.append(value)
        size = cls.CHUNK_WORDS
        return cls(["\n".join(words[i : i + size]) for i in range(0, len(words), size)], memoryview(values))

    def dump(self) -> tuple[list[str], str, bytes]:
        return self._chunks, self._values.format, self._values.tobytes()

    @classmethod
    def load(cls, dumped: tuple[list[str], str, bytes]) -> WordList:
        chunks, typecode, values = dumped
        return cls(chunks, memoryview(values).cast(typecode))  # type: ignore[call-overload]

    def columns(self) -> Iterator[tuple[list[str], memoryview]]:
        """(words, their numbers), a chunk at a time, in the order built."""
        start = 0
        for chunk in self._chunks:
            words = chunk.split("\n")
            yield words, self._values[start : start + len(words)]
            start += len(words)


class JiebaFreq(MutableMapping[str, int]):
    """What ``jieba.Tokenizer.FREQ`` is used as (``in``, ``[]``, ``get``, ``[]=``), over a WordTable.

    Words that jieba's ``add_word`` sets (user dictionaries) go into a small overlay dict; answers
    are remembered (jieba asks about the same characters and prefixes again and again)."""

    CACHE_SIZE = 50_000

    def __init__(self, table: WordTable):
        self._table = table
        self._overlay: dict[str, int] = {}
        self._cache: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        value = self._cache.get(key, _MISSING)
        if value is _MISSING:
            value = self._overlay.get(key, _MISSING)
            if value is _MISSING:
                value = self._table.get(key, _MISSING)
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = value
        return default if value is _MISSING else value

    def __getitem__(self, key: str) -> int:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def __setitem__(self, key: str, value: int) -> None:
        self._overlay[key] = value
        self._cache.pop(key, None)

    def __delitem__(self, key: str) -> None:
        raise TypeError("jieba never deletes from its prefix dictionary (del_word sets a frequency of 0)")

    def items(self) -> Iterator[tuple[str, int]]:  # type: ignore[override]
        """Every entry once, the overlay's value where it has one: one pass, no lookups."""
        overlay = self._overlay
        for key, value in self._table.items():
            yield key, overlay.get(key, value)
        table_get = self._table.get
        for key, value in overlay.items():
            if table_get(key, _MISSING) is _MISSING:
                yield key, value

    def columns(self) -> Iterator[tuple[list[str], Sequence[int]]]:
        """:meth:`items` as (words, values) in bulk, in the same order: copying the whole
        dictionary (into the Rust engine) then runs in C, not a Python step per word."""
        overlay = self._overlay
        overlaid = {key[:1] for key in overlay}
        for first, words, values in self._table.buckets():
            yield words, ([overlay.get(w, v) for w, v in zip(words, values, strict=True)] if first in overlaid else values)
        table_get = self._table.get
        extra = [key for key in overlay if table_get(key, _MISSING) is _MISSING]
        yield extra, [overlay[key] for key in extra]

    def overlaid(self) -> Iterator[tuple[str, int, int]]:
        """(word, its value, the table's value or 0) for every word set over the table (user dictionaries)."""
        table_get = self._table.get
        for key, value in self._overlay.items():
            yield key, value, table_get(key, 0)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self.items())

    def __len__(self) -> int:
        return len(self._table) + sum(1 for key in self._overlay if self._table.get(key, _MISSING) is _MISSING)
