"""Record batches joined column-major: the rows of several batches become one batch whose columns
of each fixed-width numeric type lie one after another in one buffer, so K such columns are
already the (n, K) column-major array a ``Batch`` holds (``column_block``: a view, no copy).

A CSV batch of 32,768 rows is ~33 parsed 1 MiB blocks. ``pa.concat_batches`` copied them into
one array per column, and the decode stacked those into the (n, K) array: two copies of every
value. ``join`` copies once — one ``pa.concat_arrays`` per type, of every column of that type
piece by piece (column 0 of every piece, then column 1, …) — and the decode views the result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def _laid_out(dtype: pa.DataType) -> bool:
    """Numbers of a fixed width: the columns ``join`` lays out one after another."""
    return pa.types.is_integer(dtype) or pa.types.is_floating(dtype)


def _numpy_dtype(dtype: pa.DataType) -> np.dtype:
    """The numpy dtype of an Arrow integer or float type."""
    kind = "f" if pa.types.is_floating(dtype) else "i" if pa.types.is_signed_integer(dtype) else "u"
    return np.dtype(f"{kind}{dtype.bit_width // 8}")


def join(pieces: Sequence[pa.RecordBatch]) -> pa.RecordBatch:
    """The rows of `pieces` (same schema, at least one) in order, as one batch.

    The columns of each integer or float type are one array of n·k values (k columns, n rows),
    column j its slice [j·n, (j+1)·n); other columns are joined as ``pa.concat_batches`` does.
    """
    if len(pieces) == 1:
        return pieces[0]
    schema = pieces[0].schema
    if not schema:  # no columns: only the row count (which from_arrays cannot carry)
        return pa.concat_batches(pieces)
    n = sum(p.num_rows for p in pieces)
    by_type: dict[pa.DataType, list[int]] = {}
    others: list[int] = []
    for i, f in enumerate(schema):
        (by_type.setdefault(f.type, []) if _laid_out(f.type) else others).append(i)
    arrays: list[pa.Array | None] = [None] * len(schema)
    columns = [p.columns for p in pieces]
    for indices in by_type.values():
        values = pa.concat_arrays([cols[i] for i in indices for cols in columns])
        for j, i in enumerate(indices):
            arrays[i] = values.slice(j * n, n)
    if others:
        rest = pa.concat_batches([p.select(others) for p in pieces])
        for j, i in enumerate(others):
            arrays[i] = rest.column(j)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def column_block(arrays: Sequence[pa.Array]) -> np.ndarray | None:
    """The (n, K) column-major numpy view of K arrays laid one after another in one buffer (as
    ``join`` lays them out): same integer or float type, no nulls, array k at offset
    offset₀ + k·n of the same buffer. None when they are not; read-only.

    Equal to ``np.stack([numeric(a) for a in arrays], axis=0).T`` whenever it is not None.
    """
    if not arrays or not all(isinstance(a, pa.Array) for a in arrays):
        return None
    first = arrays[0]
    dtype, n = first.type, len(first)
    if not _laid_out(dtype) or n == 0:
        return None
    data = first.buffers()[1]
    if data is None:
        return None
    for k, arr in enumerate(arrays):
        if (
            arr.type != dtype
            or len(arr) != n
            or arr.null_count
            or arr.offset != first.offset + k * n
        ):
            return None
        if k and (
            (b := arr.buffers()[1]) is None or (b.address, b.size) != (data.address, data.size)
        ):
            return None
    numpy_type = _numpy_dtype(dtype)
    if (first.offset + len(arrays) * n) * numpy_type.itemsize > data.size:
        return None
    flat = np.frombuffer(data, numpy_type, len(arrays) * n, first.offset * numpy_type.itemsize)
    view = flat.reshape(len(arrays), n).T
    view.flags.writeable = False
    return view
