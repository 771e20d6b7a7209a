"""Many files as one input: several paths, a directory, or a glob, read in order.

Files are read one after another (sorted paths; a directory is walked recursively), each with
its own streaming reader, so memory stays bounded by the batch size. Batches are re-cut to
exactly ``batch_size`` rows across file boundaries. Every file must hold the columns that are
read; a file whose column has another type is cast to the first file's type, and a file
where that fails or a column is missing is an error naming the file.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence

import pyarrow as pa

from ce_cli.errors import CEError
from ce_cli.io.formats import Source, detect_format, open_source, rechunk

_GLOB_CHARS = "*?["


def expand(spec: str, input_format: str | None = None) -> list[str]:
    """The data files a path, directory or glob names, in sorted order."""
    if spec == "-":
        return [spec]
    if any(ch in spec for ch in _GLOB_CHARS):
        files = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
        if not files:
            raise CEError(f"{spec}: no file matches this pattern")
        return files
    if os.path.isdir(spec):
        files = sorted(_data_files(spec, input_format))
        if not files:
            raise CEError(
                f"{spec}: the directory holds no data file (.csv, .parquet, .arrow, .jsonl, …)"
            )
        return files
    return [spec]


def _data_files(directory: str, input_format: str | None) -> Iterator[str]:
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for name in names:
            if name.startswith((".", "_")):
                continue
            path = os.path.join(root, name)
            try:
                detect_format(path, input_format)
            except CEError:
                continue
            yield path


def open_input(specs: Sequence[str], input_format: str | None = None) -> Source | MultiSource:
    """One Source for a single file; a MultiSource for several files."""
    files = [f for spec in specs for f in expand(spec, input_format)]
    if len(files) == 1:
        return open_source(files[0], input_format)
    if "-" in files:
        raise CEError("stdin ('-') cannot be combined with other inputs")
    return MultiSource([open_source(f, input_format) for f in files], display=" ".join(specs))


class MultiSource:
    """Several Sources read as one, with the first file's schema."""

    def __init__(self, sources: list[Source], display: str) -> None:
        self.sources = sources
        self.path = display
        self.format = sources[0].format
        self.schema = sources[0].schema
        counts = [s.num_rows for s in sources]
        self.num_rows = None if None in counts else sum(c for c in counts if c is not None)

    def batches(
        self,
        columns: list[str] | None = None,
        batch_size: int = 65536,
        column_types: dict[str, pa.DataType] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        return rechunk(self._all(columns, batch_size, column_types), batch_size)

    def _all(
        self,
        columns: list[str] | None,
        batch_size: int,
        column_types: dict[str, pa.DataType] | None,
    ) -> Iterator[pa.RecordBatch]:
        first = self.sources[0]
        names = list(columns) if columns is not None else first.schema.names
        for src in self.sources:
            missing = [c for c in names if c not in src.schema.names]
            if missing:
                raise CEError(
                    f"{src.path}: no column {missing[0]!r}, which {first.path} has; "
                    "every file of one input must hold the same columns"
                )
            target: pa.Schema | None = None
            for rb in src.batches(names, batch_size, column_types):
                if target is None:
                    target = pa.schema(
                        [self._field(rb.schema.field(c), column_types) for c in names]
                    )
                yield rb if rb.schema.equals(target) else _cast(rb, target, src.path)

    def _field(self, field: pa.Field, column_types: dict[str, pa.DataType] | None) -> pa.Field:
        """The type every file's column is cast to: the forced one, else the first file's."""
        forced = (column_types or {}).get(field.name)
        first = self.schema.field(field.name).type
        if forced is not None:
            return field.with_type(forced)
        return field if first == pa.null() else field.with_type(first)


def _cast(rb: pa.RecordBatch, target: pa.Schema, path: str) -> pa.RecordBatch:
    """Cast column by column, so that a failure names its column."""
    import pyarrow.compute as pc

    arrays = []
    for field in target:
        arr = rb.column(field.name)
        if arr.type != field.type:
            try:
                arr = pc.cast(arr, field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise CEError(
                    f"{path}: column {field.name} has type {arr.type}, but the first file has "
                    f"{field.type} ({exc}); every file of one input must agree"
                ) from None
        arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, schema=target)
