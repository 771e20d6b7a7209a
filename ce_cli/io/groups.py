"""``--group-by COL``: cut each aligned pair of record batches into one piece per value of COL.

The pieces keep their input row numbers (a plain ``int`` when a piece's rows are consecutive,
else an ``InputRows``), so messages, ``--top`` and row numbers in a per-group report name input
rows exactly as without grouping. A null is a group of its own (key ``None``).

Group keys are Python values (``str``, ``int``, ``bool``, a date…), so partial results from
threads or dask workers merge by key. Floating-point columns are refused: a float key is rarely
meant (``0.1 + 0.2``) and NaN is not equal to itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ce_cli.core.errors import CEError
from ce_cli.io.compute import pc
from ce_cli.io.convert import combine, numeric
from ce_cli.io.where import row_start

RawBatch = tuple[pa.RecordBatch, pa.RecordBatch, int]


@dataclass(frozen=True)
class GroupColumn:
    """The ``--group-by`` column and the side it is read from (the labels file when only it
    has the column)."""

    name: str
    in_labels: bool = False


def check_group_type(name: str, typ: pa.DataType, file: str) -> None:
    """A CEError unless ``typ`` can key a group (text, integer, boolean, date/time, decimal)."""
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if pa.types.is_floating(typ) or pa.types.is_nested(typ) or pa.types.is_null(typ):
        raise CEError(
            f"{file}: --group-by column {name} is {typ}; group by a text, integer, boolean or "
            "date column (e.g. a hive partition country=de), or bin the values into one first"
        )


def split(raw: RawBatch, group: GroupColumn) -> Iterator[tuple[Any, RawBatch]]:
    """(group key, the rows of ``raw`` with that key) for every key in ``raw``, in first-seen
    order; one piece with no copy when every row has the same key (hive partitions).

    Otherwise the rows are put in key order once (one stable ``take`` of the batch) and each
    key's rows are a zero-copy slice of that.
    """
    main, labels, row = raw
    source = labels if group.in_labels else main
    values = combine(source.column(group.name))
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    keys = encoded.dictionary.to_pylist()
    if len(keys) == 1:
        yield keys[0], raw
        return
    codes = numeric(encoded.indices)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(keys) + 1))
    take = pa.array(order)
    sorted_main = main.take(take)
    sorted_labels = sorted_main if labels is main else labels.take(take)
    for code, key in enumerate(keys):
        lo, hi = int(starts[code]), int(starts[code + 1])
        piece_main = sorted_main.slice(lo, hi - lo)
        piece_labels = piece_main if labels is main else sorted_labels.slice(lo, hi - lo)
        yield key, (piece_main, piece_labels, row_start(np.asarray(row + order[lo:hi])))
