"""Arrow arrays → numpy without pyarrow's hidden pandas import.

``pa.Array.to_numpy`` and ``pa.array`` import pandas on first use (~0.4 s); these helpers
view the data buffers directly instead.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ce_cli.io.compute import pc

_NUMPY_TYPES: dict[pa.DataType, type[np.generic]] = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
    pa.float16(): np.float16,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}


def combine(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array from a chunked one (zero-copy when it has a single chunk)."""
    if isinstance(arr, pa.ChunkedArray):
        return arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    return arr


def is_numeric(dtype: pa.DataType) -> bool:
    return dtype in _NUMPY_TYPES or pa.types.is_boolean(dtype)


def numeric(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric or boolean array without nulls as a numpy array (a view where possible).

    Null slots are not checked here: callers test ``arr.null_count`` first.
    """
    arr = combine(arr)
    if pa.types.is_boolean(arr.type):
        arr = pc.cast(arr, pa.uint8())
    dtype = _NUMPY_TYPES.get(arr.type)
    if dtype is None:
        raise TypeError(f"not a numeric arrow type: {arr.type}")
    data = arr.buffers()[1]
    if data is None:  # an all-null or empty array
        return np.zeros(len(arr), dtype=dtype)
    return np.frombuffer(
        data, dtype=dtype, count=len(arr), offset=arr.offset * np.dtype(dtype).itemsize
    )


def dictionary_codes(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list[object]]:
    """(codes, values) with ``values[codes[i]]`` = row i; for strings, categoricals, any type."""
    arr = combine(arr)
    encoded = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
    codes = numeric(encoded.indices).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def list_offsets(arr: pa.Array) -> np.ndarray:
    """Row boundaries of a list array: row i holds values[offsets[i]:offsets[i+1]]."""
    if pa.types.is_fixed_size_list(arr.type):
        return np.arange(len(arr) + 1, dtype=np.int64) * arr.type.list_size
    offsets = numeric(arr.offsets).astype(np.int64)
    return offsets - offsets[0]
