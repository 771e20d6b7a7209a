"""A batch's id column, decoded to numpy on request (pyarrow stays inside ``io/``).

Only the positions asked for are decoded: the top-K table asks for about ten ids a batch, the
paired comparison of ``ce check`` for every used row. Integer ids (an integer column, or a
dictionary of integers, with no null among the positions asked for) come back as int64 by
value; anything else as Python values (``str``, ``float``, ``None``, …) in an object array.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ce_cli.io.compute import pc
from ce_cli.io.convert import combine, numeric


class IdColumn:
    """The id column of one batch (``--id-col``, or ``id``/``row_id``/… found by name)."""

    def __init__(self, array: pa.Array | pa.ChunkedArray) -> None:
        self._array = combine(array)
        kind = self._array.type
        value_type = kind.value_type if pa.types.is_dictionary(kind) else kind
        self._integer = pa.types.is_integer(value_type)

    def __len__(self) -> int:
        return len(self._array)

    @property
    def type_name(self) -> str:
        """The arrow type as text, e.g. ``int64``, ``string``."""
        return str(self._array.type)

    def arrow(self, positions: np.ndarray) -> pa.Array:
        """The ids at these batch positions as an arrow array (for writers in ``render/``)."""
        return self._array.take(_indices(positions))

    def values(self, positions: np.ndarray) -> np.ndarray:
        """The ids at these batch positions: int64 for integer ids without nulls, else an
        object array of Python values."""
        plain = not pa.types.is_dictionary(self._array.type) and self._array.null_count == 0
        if self._integer and plain:
            return numeric(self._array)[positions].astype(np.int64)
        taken = self.arrow(positions)
        if self._integer and taken.null_count == 0:
            return numeric(_decoded(taken)).astype(np.int64)
        return _objects(taken.to_pylist())

    def codes(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(codes, distinct) with ``distinct[codes[i]]`` the id at ``positions[i]``.

        Text and other ids: ``distinct`` holds each value once (object array), so a caller
        hashes each distinct value once. Integer ids: ``distinct`` is the int64 values
        themselves (``codes`` = 0 … n−1), since hashing an integer costs less than finding
        its duplicates.
        """
        ints = self.values(positions) if self._integer else None
        if ints is not None and ints.dtype == np.int64:
            return np.arange(ints.size, dtype=np.int64), ints
        taken = _decoded(self.arrow(positions))
        try:
            encoded = pc.dictionary_encode(taken, null_encoding="encode")
        except pa.ArrowNotImplementedError:  # lists, structs: no hash kernel; one code a row
            return np.arange(len(taken), dtype=np.int64), _objects(taken.to_pylist())
        codes = numeric(encoded.indices).astype(np.int64)
        return codes, _objects(encoded.dictionary.to_pylist())


def _indices(positions: np.ndarray) -> pa.Array:
    """Positions as an arrow int64 array, built from the buffer (``pa.array`` of a numpy array
    imports pandas)."""
    flat = np.ascontiguousarray(positions, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), flat.size, [None, pa.py_buffer(flat)])


def _decoded(arr: pa.Array) -> pa.Array:
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def _objects(items: list[object]) -> np.ndarray:
    """A 1-D object array of these Python values (a list value stays one element)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out
