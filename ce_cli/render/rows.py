"""``--reduction none``: one output row per scored input row, streamed batch by batch.

Columns: ``row`` (1-based input row), ``id`` (when the input has one), ``label``,
``predicted``, ``p_true``, ``loss``; for multi-label data ``loss`` is the row's mean over
labels and ``loss_<class>`` holds each label's term. Rows left out by ``--ignore-index``,
``--mask-col`` or ``--on-invalid skip`` are not written.
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
from ce_cli.render.formats import publish


def rows_batch(batch: Batch, terms: RowTerms, classes: tuple[str, ...]) -> pa.RecordBatch:
    """The per-row output of one batch as an arrow record batch."""
    columns: dict[str, Any] = {"row": pa.array(terms.rows + 1)}
    if batch.ids is not None:
        columns["id"] = batch.ids.take(pa.array(terms.batch_positions))  # type: ignore[attr-defined]
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


class RowWriter:
    """Writes row batches to a CSV stream, or to a CSV/Parquet file atomically."""

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
        if path is not None:
            target = Path(path)
            suffix = target.suffix.lower()
            if suffix not in (".csv", ".parquet", ".pq"):
                raise CEError(
                    f"-o {path}: per-row output (--reduction none) is written as .csv or .parquet"
                )
            self.kind = "csv" if suffix == ".csv" else "parquet"
            for src in inputs or []:
                if (
                    target.exists()
                    and Path(src).exists()
                    and target.resolve() == Path(src).resolve()
                ):
                    raise CEError(f"-o {path}: refusing to write over the input file {src}")
            if not target.parent.exists():
                raise CEError(f"-o {path}: directory {target.parent} does not exist")
            fd, self.tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            os.close(fd)

    def __call__(self, batch: Batch, terms: RowTerms, classes: tuple[str, ...], task: str) -> None:
        rb = rows_batch(batch, terms, classes)
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
        """Finish the file (rename the temp file into place)."""
        if self.writer is not None:
            self.writer.close()
        if self.tmp is not None and self.path is not None:
            if self.writer is None:
                Path(self.tmp).unlink(missing_ok=True)
                return
            publish(self.tmp, Path(self.path))

    def abort(self) -> None:
        """Drop a partial file: no half-written output."""
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
        if self.tmp is not None:
            Path(self.tmp).unlink(missing_ok=True)


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
