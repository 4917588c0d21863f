"""Buffered rows to Arrow record batches, column by column: what the dataset writers convert.

Why not ``pa.RecordBatch.from_pylist`` over the row dicts: a page's ``tokens`` are about
1,600 Python strings, which pyarrow converts one at a time, and which, while a row waits
in a writer, are an object of 50-odd bytes each. So a row's lists of strings are *packed*
when it is buffered: joined by a line break into one string (a fraction of the memory, one
C call), and split back by Arrow's own ``split_pattern`` kernel when the batch is built.
Packing is lossless or not done: an empty list, ``None``, or a list with an element that
holds a line break or is not a string stays as it is and converts the usual way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow._compute as _compute  # the kernels alone: pyarrow.compute's wrappers take 50 ms to import

SEPARATOR = "\n"
STRING_LIST = pa.list_(pa.string())
_SPLIT = _compute.SplitPatternOptions(SEPARATOR)


class Packed(str):
    """A non-empty list of strings joined by :data:`SEPARATOR`, none of which holds it."""

    __slots__ = ()


def pack_list(value: Any) -> Any:
    """``value`` as a :class:`Packed` string when that is lossless, else ``value`` itself."""
    if type(value) is not list or not value:
        return value
    try:
        joined = SEPARATOR.join(value)
    except TypeError:  # not all strings: Arrow reports it when the batch is built
        return value
    return Packed(joined) if joined.count(SEPARATOR) == len(value) - 1 else value


class RowConverter:
    """Packs rows of one schema as they are buffered, and turns a list of them into a record batch."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.packed_columns = tuple(f.name for f in schema if f.type == STRING_LIST)

    def pack(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``row`` to keep in a buffer, its lists of strings packed."""
        kept = dict(row)
        for name in self.packed_columns:
            if name in kept:
                kept[name] = pack_list(kept[name])
        return kept

    def to_batch(self, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        """The rows (packed or not) as one batch; a missing key is null, as with ``from_pylist``."""
        arrays = []
        for field in self.schema:
            values = [row.get(field.name) for row in rows]
            if field.name in self.packed_columns:
                arrays.append(_string_lists(values))
            else:
                arrays.append(pa.array(values, type=field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _string_lists(values: list[Any]) -> pa.Array:
    """A ``list<string>`` column: split by Arrow when every value is packed or null, else converted."""
    if all(type(v) is Packed or v is None for v in values):
        return _compute.call_function("split_pattern", [pa.array(values, pa.string())], _SPLIT)
    unpacked = [v.split(SEPARATOR) if type(v) is Packed else v for v in values]
    return pa.array(unpacked, type=STRING_LIST)
