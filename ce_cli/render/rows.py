"""``--reduction none``: one output row per scored input row, streamed batch by batch.

Columns: ``row`` (the 0-based position of the input row, as pandas' ``iloc``), ``id`` (when
the input has one), ``label``, ``predicted``, ``p_true``, ``loss``; for multi-label data
``loss`` is the row's mean over labels and ``loss_<class>`` holds each label's term. Rows left
out by ``--ignore-index``, ``--mask-col`` or ``--on-invalid skip`` are not written.

CSV is text a terminal or CI log may show: its column names and text values go through
``escape.one_line``, so no line of it can start a GitHub workflow command. Parquet
keeps every value exactly (ids must still join with the input).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa

from ce_cli.core.errors import CEError
from ce_cli.engine.loss_sums import RowTerms
from ce_cli.io.batch import Batch
from ce_cli.render.escape import one_line
from ce_cli.render.formats import publish
from ce_cli.render.signals import SignalGuard

# RE2 (pyarrow.compute) spelling of escape.CONTROL, without surrogates (not in UTF-8 text)
_CONTROL_RE2 = (
    r"[\x00-\x1f\x7f-\x{9f}\x{61c}\x{200e}\x{200f}\x{2028}\x{2029}\x{202a}-\x{202e}"
    r"\x{2066}-\x{2069}\x{fffe}\x{ffff}]"
)


def rows_batch(batch: Batch, terms: RowTerms, classes: tuple[str, ...]) -> pa.RecordBatch:
    """The per-row output of one batch as an arrow record batch."""
    columns: dict[str, Any] = {"row": pa.array(terms.rows)}
    if batch.ids is not None:
        columns["id"] = batch.ids.arrow(terms.batch_positions)
    names = np.array(classes, dtype=object)
    single_label = terms.label.size == 0 or terms.label.min() >= 0
    if single_label:
        columns["label"] = pa.array(names[terms.label].tolist(), pa.string())
        columns["predicted"] = pa.array(names[terms.predicted].tolist(), pa.string())
        columns["p_true"] = pa.array(terms.p_true)
    columns["loss"] = pa.array(terms.loss)
    if not single_label and terms.elements is not None:
        for j, name in enumerate(classes):
            columns[f"loss_{name}"] = pa.array(terms.elements[:, j])
    return pa.RecordBatch.from_pydict(columns)


def escape_text(rb: pa.RecordBatch) -> pa.RecordBatch:
    """``rb`` with column names and string values through ``one_line`` (for CSV)."""
    names = [one_line(name) for name in rb.schema.names]
    columns = rb.columns
    arrays = [_escape_strings(array) for array in columns]
    if names == rb.schema.names and all(a is b for a, b in zip(arrays, columns, strict=True)):
        return rb
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _escape_strings(array: pa.Array) -> pa.Array:
    """A text array with control characters escaped (the same array when it has none);
    dictionary values escaped in the dictionary; bytes as text (``\\xff`` for non-UTF-8)."""
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        values = _escape_strings(array.dictionary)
        if values is array.dictionary:
            return array
        return pa.DictionaryArray.from_arrays(array.indices, values)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        texts = [
            None if v is None else v.decode("utf-8", "backslashreplace") for v in array.to_pylist()
        ]
        return pa.array([None if v is None else one_line(v) for v in texts], pa.string())
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return array
    if not pc.any(pc.match_substring_regex(array, _CONTROL_RE2)).as_py():
        return array
    return pa.array([None if v is None else one_line(v) for v in array.to_pylist()], kind)


class RowWriter:
    """Writes row batches to a CSV stream, or to a CSV/Parquet file atomically.

    From the temp file's creation to ``close``/``abort``, SIGTERM and SIGHUP unwind through
    the caller's cleanup (``signals.SignalGuard``), so ``abort`` removes the temp file."""

    progress_label = "scoring, writing rows"  # the progress bar of the pass that feeds it

    def __init__(
        self,
        *,
        path: str | None = None,
        stream: IO[bytes] | None = None,
        inputs: list[str] | None = None,
    ) -> None:
        self.path = path
        self.stream = stream
        self.writer: Any = None
        self.tmp: str | None = None
        self.kind = "csv"
        self.signals = SignalGuard()
        if path is not None:
            self.kind = _check_target(path, inputs or [])
            self.signals.install()
            fd, self.tmp = tempfile.mkstemp(prefix=f".{Path(path).name}.", dir=Path(path).parent)
            os.close(fd)

    def __call__(self, batch: Batch, terms: RowTerms, classes: tuple[str, ...], task: str) -> None:
        rb = rows_batch(batch, terms, classes)
        if self.kind == "csv":
            rb = escape_text(rb)
        if self.writer is None:
            self.writer = self._open(rb.schema)
        self.writer.write_batch(rb)

    def _open(self, schema: pa.Schema) -> Any:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        sink: Any = self.tmp if self.tmp is not None else self.stream
        if self.kind == "parquet":
            return pq.ParquetWriter(sink, schema)
        return pacsv.CSVWriter(sink, schema)

    def close(self) -> None:
        """Finish the file (rename the temp file into place); on any failure remove it."""
        try:
            if self.writer is not None:
                self.writer.close()
            if self.tmp is not None and self.path is not None and self.writer is not None:
                publish(self.tmp, Path(self.path))
                self.tmp = None
        finally:
            if self.tmp is not None:  # no rows, or the close failed: nothing half-written stays
                Path(self.tmp).unlink(missing_ok=True)
            self.signals.restore()

    def abort(self) -> None:
        """Drop a partial file: no half-written output."""
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
        if self.tmp is not None:
            Path(self.tmp).unlink(missing_ok=True)
        self.signals.restore()


def _check_target(path: str, inputs: list[str]) -> str:
    """The kind of a per-row ``-o`` file ("csv" or "parquet"); errors before anything is made."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise CEError(
            f"-o {path}: per-row output (--reduction none) is written as .csv or .parquet"
        )
    for src in inputs:
        if target.exists() and Path(src).exists() and target.resolve() == Path(src).resolve():
            raise CEError(f"-o {path}: refusing to write over the input file {src}")
    if not target.parent.exists():
        raise CEError(f"-o {path}: directory {target.parent} does not exist")
    return "csv" if suffix == ".csv" else "parquet"


class RowHead:
    """Keeps the first ``n`` output rows, for a terminal table."""

    def __init__(self, n: int = 20) -> None:
        self.n = n
        self.batches: list[pa.RecordBatch] = []
        self.count = 0

    def __call__(self, batch: Batch, terms: RowTerms, classes: tuple[str, ...], task: str) -> None:
        if self.count >= self.n:
            return
        rb = rows_batch(batch, terms, classes).slice(0, self.n - self.count)
        self.batches.append(rb)
        self.count += rb.num_rows

    def table(self) -> tuple[list[str], list[list[Any]]]:
        if not self.batches:
            return [], []
        table = pa.Table.from_batches(self.batches)
        return table.column_names, [list(r.values()) for r in table.to_pylist()]
