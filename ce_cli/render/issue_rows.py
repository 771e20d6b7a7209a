"""``ce label-issues -o rows.csv|.parquet``: every flagged row, streamed batch by batch.

Columns: ``row`` (0-based input row, as cleanlab's indices), ``id`` (when the input has one),
``given``, ``suggested`` (class names), ``p_suggested``, ``quality`` (the ``--rank-by`` score).
CSV text goes through ``escape.one_line`` (``rows.escape_text``); Parquet keeps values exact.

Multi-label rows have ``given``, ``suggested`` and ``issue_labels`` (the labels flagged) as
lists of label names (Parquet ``list<string>``; CSV: the names joined by ``,``) and no
``p_suggested``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ce_cli.core.errors import CEError
from ce_cli.io.ids import IdColumn
from ce_cli.render.rows import RowWriter, escape_text

ROW_SUFFIXES = (".csv", ".parquet", ".pq")


def is_rows_target(path: str | None) -> bool:
    """``-o`` names a per-row file (.csv / .parquet), not a report (.json / .md / .txt)."""
    return path is not None and Path(path).suffix.lower() in ROW_SUFFIXES


def issue_batch(
    rows: dict[str, np.ndarray], ids: IdColumn | None, classes: tuple[str, ...]
) -> pa.RecordBatch:
    names = np.array(classes, dtype=object)
    columns: dict[str, Any] = {"row": pa.array(rows["row"], pa.int64())}
    if ids is not None:
        columns["id"] = ids.arrow(rows["position"])
    if rows["given"].ndim == 2:  # multi-label: 0/1 rows → lists of names
        for key, name in (
            ("given", "given"),
            ("suggested", "suggested"),
            ("issue", "issue_labels"),
        ):
            lists = [names[hot].tolist() for hot in rows[key]]
            columns[name] = pa.array(lists, pa.list_(pa.string()))
    else:
        columns["given"] = pa.array(names[rows["given"]].tolist(), pa.string())
        columns["suggested"] = pa.array(names[rows["suggested"]].tolist(), pa.string())
        columns["p_suggested"] = pa.array(rows["p_suggested"], pa.float64())
    columns["quality"] = pa.array(rows["quality"], pa.float64())
    return pa.RecordBatch.from_pydict(columns)


def _joined(rb: pa.RecordBatch) -> pa.RecordBatch:
    """List columns as text, the names joined by ``,`` (CSV has no lists)."""
    arrays = [
        pa.array([",".join(v) for v in a.to_pylist()], pa.string())
        if pa.types.is_list(a.type)
        else a
        for a in rb.columns
    ]
    return pa.RecordBatch.from_arrays(arrays, names=rb.schema.names)


class IssueRowWriter(RowWriter):
    """A ``RowWriter`` fed flagged rows (``FlaggedRows``' sink) instead of loss terms."""

    def __init__(self, path: str, classes: tuple[str, ...], inputs: list[str]) -> None:
        if not is_rows_target(path):
            raise CEError(f"-o {path}: the flagged rows are written as .csv or .parquet")
        super().__init__(path=path, inputs=inputs)
        self.classes = classes

    def write(self, rows: dict[str, np.ndarray], ids: IdColumn | None, positions: Any) -> None:
        rb = issue_batch(rows, ids, self.classes)
        if self.kind == "csv":
            rb = escape_text(_joined(rb))
        if self.writer is None:
            self.writer = self._open(rb.schema)
        self.writer.write_batch(rb)
