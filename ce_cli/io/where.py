"""``--where EXPR``: simple row filters, evaluated with ``pyarrow.compute`` before decoding.

Grammar (one condition per ``--where``; all must hold)::

    COL = VALUE    COL == VALUE    COL != VALUE
    COL < VALUE    COL <= VALUE    COL > VALUE    COL >= VALUE
    COL in A,B,C   COL not in A,B,C

The value is read as the column's type: a number for a numeric column (an integer column
compared with ``2.5`` compares as numbers), ``true``/``false`` for a boolean column, text
otherwise (``<`` on text compares by code point). A value may be quoted ('…' or "…") to keep
spaces or commas. A null never matches (SQL's rule, as ``pyarrow.dataset``), also not ``!=``
or ``not in``.

Rows that fail leave the stream, but every batch keeps the input row numbers of its rows:
``row_start`` is then an ``InputRows`` (an ``int``, the first kept row) for which
``row_start + i`` is still the input row of the batch's i-th row, so messages, ``--top`` and
``--reduction none`` name input rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ce_cli.core.errors import CEError
from ce_cli.io.columns import check_unique
from ce_cli.io.compute import pc
from ce_cli.io.convert import numeric

_OPS = ("==", "!=", "<=", ">=", "=", "<", ">")
_IN = re.compile(r"^\s*(?P<col>\S+)\s+(?P<not>not\s+)?in\s+(?P<values>\S.*?)\s*$", re.IGNORECASE)
_CMP = re.compile(r"^\s*(?P<col>[^=!<>]*?)\s*(?P<op>==|!=|<=|>=|=|<|>)\s*(?P<value>.*?)\s*$")
_SYNTAX = "COL=V, COL!=V, COL<V, COL<=V, COL>V, COL>=V or 'COL in A,B,C'"


@dataclass(frozen=True)
class Condition:
    """One parsed ``--where``: ``op`` is one of = != < <= > >= in, not in."""

    text: str
    column: str
    op: str
    values: tuple[str, ...]


def parse(text: str) -> Condition:
    """Parse one ``--where`` expression; a malformed one is a CEError."""
    if (m := _IN.match(text)) and not any(ch in m["col"] for ch in "=!<>"):
        values = tuple(_unquote(v) for v in _split_list(m["values"]))
        if not values or any(v == "" for v in values):
            raise CEError(f"--where {text!r}: an empty value in the list; write {_SYNTAX}")
        return Condition(text, _unquote(m["col"]), "not in" if m["not"] else "in", values)
    m = _CMP.match(text)
    if m is None or not m["col"] or any(op in m["value"] for op in ("<", ">", "!=")):
        raise CEError(f"--where {text!r}: not a condition; write {_SYNTAX}")
    if m["value"] == "":
        raise CEError(
            f"--where {text!r}: no value after {m['op']!r}; write {_SYNTAX} "
            '(quote an empty text: COL="")'
        )
    op = "=" if m["op"] == "==" else m["op"]
    return Condition(text, _unquote(m["col"]), op, (_unquote(m["value"]),))


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _split_list(text: str) -> list[str]:
    """Split on commas outside quotes."""
    return [m.group(0) for m in re.finditer(r"""(?:'[^']*'|"[^"]*"|[^,])+|(?<=,)(?=,|$)""", text)]


class RowFilter:
    """The conditions, bound to the columns of the main and (optional) labels file.

    A column is looked up in the main file first (partition columns included), then in the
    labels file, as ``--weight-col`` and ``--mask-col`` are.
    """

    def __init__(
        self,
        conditions: Sequence[Condition],
        main: Any,
        labels: Any | None,
    ) -> None:
        self.conditions = list(conditions)
        self.side: dict[str, str] = {}  # column -> "main" | "labels"
        self._values: dict[tuple[int, pa.DataType], pa.Array] = {}
        for i, cond in enumerate(self.conditions):
            if cond.column in main.schema.names:
                self.side[cond.column], src = "main", main
            elif labels is not None and cond.column in labels.schema.names:
                self.side[cond.column], src = "labels", labels
            else:
                raise CEError(_unknown(cond, main, labels))
            check_unique(src.schema.names, [cond.column], src.path)
            self._typed(i, cond, src.schema.field(cond.column).type)  # bad values fail now

    def columns(self, side: str) -> list[str]:
        """The columns the conditions need from the 'main' or 'labels' batches."""
        return [c for c, s in self.side.items() if s == side]

    def files(self, fields: Sequence[pa.Field], values: Sequence[Sequence[object]]) -> list[bool]:
        """Per file: False when its partition values already fail a condition."""
        names = {f.name for f in fields}
        on_parts = [i for i, c in enumerate(self.conditions) if c.column in names]
        if not on_parts:
            return [True] * len(values)
        from ce_cli.io.files import constant

        out = []
        for row in values:
            arrays = [constant(v, f.type, 1) for f, v in zip(fields, row, strict=True)]
            batch = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
            out.append(bool(self.mask(batch, batch, on_parts).true_count))
        return out

    def mask(
        self, main: pa.RecordBatch, labels: pa.RecordBatch, only: Sequence[int] | None = None
    ) -> pa.Array:
        """A boolean array, true on rows that meet every condition (or those in ``only``),
        never null."""
        result: pa.Array | None = None
        for i, cond in enumerate(self.conditions):
            if only is not None and i not in only:
                continue
            col = (main if self.side[cond.column] == "main" else labels).column(cond.column)
            if pa.types.is_dictionary(col.type):
                col = col.dictionary_decode()
            values = self._typed(i, cond, col.type)
            try:
                if cond.op in ("in", "not in"):
                    hit = pc.is_in(col, value_set=values)
                    if cond.op == "not in":
                        hit = pc.and_(pc.invert(hit), pc.is_valid(col))
                else:
                    hit = getattr(pc, _COMPARE[cond.op])(col, values[0])
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise CEError(
                    f"--where {cond.text!r}: cannot compare column {cond.column} ({col.type}) "
                    f"with {', '.join(map(repr, cond.values))} ({' '.join(str(exc).split())})"
                ) from None
            result = hit if result is None else pc.and_(result, hit)
        assert result is not None
        return pc.and_kleene(result, pc.is_valid(result))  # null → false (no python scalar)

    def _typed(self, i: int, cond: Condition, typ: pa.DataType) -> pa.Array:
        """The condition's values as an array the column can be compared with."""
        key = (i, typ)
        if key in self._values:
            return self._values[key]
        from ce_cli.io.files import string_array

        text = string_array(cond.values)
        if pa.types.is_dictionary(typ):
            typ = typ.value_type
        if pa.types.is_string(typ) or pa.types.is_large_string(typ) or _is_string_view(typ):
            values = text
        elif pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
            values = _cast_numbers(text, pa.int64() if pa.types.is_integer(typ) else pa.float64())
            if values is None:
                bad = next(v for v in cond.values if _cast_numbers(string_array([v])) is None)
                raise CEError(
                    f"--where {cond.text!r}: {bad!r} is not a number, and column "
                    f"{cond.column} is numeric ({typ})"
                )
        else:
            if pa.types.is_boolean(typ):
                text = string_array([v.lower() for v in cond.values])
            try:
                values = pc.cast(text, typ)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise CEError(
                    f"--where {cond.text!r}: cannot compare column {cond.column} ({typ}) with "
                    f"{', '.join(map(repr, cond.values))} ({' '.join(str(exc).split())})"
                ) from None
        self._values[key] = values
        return values


def _is_string_view(typ: pa.DataType) -> bool:
    return bool(getattr(pa.types, "is_string_view", lambda _: False)(typ))


def _cast_numbers(text: pa.Array, first: pa.DataType | None = None) -> pa.Array | None:
    """Text → int64 (when asked and every value is an integer) or float64; None if not numbers."""
    for typ in dict.fromkeys([first or pa.float64(), pa.float64()]):
        try:
            return pc.cast(text, typ)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return None


_COMPARE = {  # pyarrow.compute's function for each operator
    "=": "equal",
    "!=": "not_equal",
    "<": "less",
    "<=": "less_equal",
    ">": "greater",
    ">=": "greater_equal",
}


def _unknown(cond: Condition, main: Any, labels: Any | None) -> str:
    names = list(main.schema.names)
    where = f"{main.path} has columns: {', '.join(names)}"
    if labels is not None:
        where += f"; {labels.path} has: {', '.join(labels.schema.names)}"
    note = getattr(main, "partition_note", None)
    extra = f" ({note})" if note and f"{cond.column}=" in note else ""
    return f"--where {cond.text!r}: no column {cond.column!r}{extra}; {where}"


# ---------------------------------------------------------------------- rows
class InputRows(int):
    """The 0-based input rows of a filtered batch, usable wherever a ``row_start`` is.

    Its int value is the first row; ``rows + i`` is the input row of the batch's i-th row
    (an int for an integer i, an array for an integer array), so ``row_start + i + 1`` in a
    message still names the input row. Only ``row_start + …`` is meaningful (not ``i + …``
    with a numpy integer on the left).
    """

    rows: np.ndarray

    def __new__(cls, rows: np.ndarray) -> InputRows:
        self = super().__new__(cls, int(rows[0]))
        self.rows = rows
        return self

    def __add__(self, other: Any) -> Any:
        if isinstance(other, np.ndarray):
            return self.rows[other]
        if isinstance(other, (int, np.integer)):
            i = int(other)
            n = len(self.rows)
            return int(self.rows[i]) if 0 <= i < n else int(self.rows[-1]) + i - n + 1
        return NotImplemented

    __radd__ = __add__

    def __reduce__(self) -> Any:
        return (InputRows, (self.rows,))

    def __repr__(self) -> str:
        return f"InputRows({int(self)}, n={len(self.rows)})"


def filtered(
    numbered: Iterable[tuple[pa.RecordBatch, pa.RecordBatch, int]],
    row_filter: RowFilter,
    batch_size: int,
    drop_main: Sequence[str] = (),
    drop_labels: Sequence[str] = (),
) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch, int]]:
    """Aligned (main, labels, first input row) → the rows kept, re-cut to ``batch_size`` rows,
    with their input rows (a plain int when a batch's rows are consecutive). ``drop_*``:
    columns read only for the conditions, removed after filtering."""
    pending: list[tuple[pa.RecordBatch, pa.RecordBatch, np.ndarray]] = []
    have = 0
    for main, labels, row in numbered:
        n = main.num_rows
        mask = row_filter.mask(main, labels)
        kept = mask.true_count
        if kept:
            same = labels is main
            if drop_main:
                main = main.drop_columns(list(drop_main))
            if same:
                labels = main
            elif drop_labels:
                labels = labels.drop_columns(list(drop_labels))
            if kept < n:
                main = main.filter(mask)
                labels = main if same else labels.filter(mask)
                rows = np.flatnonzero(numeric(mask)) + row
            else:
                rows = np.arange(row, row + n, dtype=np.int64)
            start = 0
            while start < kept:
                take = min(batch_size - have, kept - start)
                piece_main = main.slice(start, take)
                piece_labels = piece_main if same else labels.slice(start, take)
                pending.append((piece_main, piece_labels, rows[start : start + take]))
                have += take
                start += take
                if have == batch_size:
                    yield _join(pending)
                    pending, have = [], 0
    if pending:
        yield _join(pending)


def _join(
    pieces: list[tuple[pa.RecordBatch, pa.RecordBatch, np.ndarray]],
) -> tuple[pa.RecordBatch, pa.RecordBatch, int]:
    if len(pieces) == 1:
        main, labels, rows = pieces[0]
    else:
        main = pa.concat_batches([p[0] for p in pieces])
        same = all(p[1] is p[0] for p in pieces)
        labels = main if same else pa.concat_batches([p[1] for p in pieces])
        rows = np.concatenate([p[2] for p in pieces])
    return main, labels, row_start(rows)


def row_start(rows: np.ndarray) -> int:
    """The ``row_start`` of a batch of these input rows (increasing): a plain int when they
    are consecutive, else an ``InputRows``."""
    if int(rows[-1]) - int(rows[0]) == len(rows) - 1:
        return int(rows[0])
    return InputRows(rows)
