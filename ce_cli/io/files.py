"""Many files as one input: several paths, a directory, or a glob, read in order.

Files are read one after another (sorted paths; a directory is walked recursively), each with
its own streaming reader, so memory stays bounded by the batch size. Batches are re-cut to
exactly ``batch_size`` rows across file boundaries. Every file must hold the columns that are
read; a file whose column has another type is cast to the first file's type, and a file
where that fails or a column is missing is an error naming the file.

A path may also be a URI (``s3://``, ``gs://``, ``hdfs://``, ``file://``, …): see
``ce_cli.io.remote``. Local paths never go through pyarrow's filesystems.

Hive-style partition directories (``…/country=de/day=3/part.parquet``) become columns, constant
per file, appended after the file's own columns: ``day`` is int64 when every file's value parses
as an integer, else (like ``country``) a string; ``__HIVE_DEFAULT_PARTITION__`` is null. The
directories counted are those below the directory or glob base that was given (for a plain
file path, its directories as written). Only when every file has the same keys in the same
order; a key that is also a column of the files is left to the files' column.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

import numpy as np
import pyarrow as pa

from ce_cli.core.errors import CEError
from ce_cli.io import remote
from ce_cli.io.arrays import ARRAY_FORMATS, ArrayRequest, detect_array_format, open_array
from ce_cli.io.formats import Source, detect_format, open_remote, open_source, rechunk

_GLOB_CHARS = "*?["
_HIVE_PART = re.compile(r"^([^=]+)=(.*)$")
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_INT = re.compile(r"^[+-]?[0-9]+$")


@dataclass(frozen=True)
class DataFile:
    """One file of an input: a local path (or '-'), or a file on a pyarrow filesystem."""

    name: str  # the local path or the URI, as messages name it
    remote: remote.RemoteFile | None
    parents: tuple[str, ...]  # directory parts that may hold partitions (``key=value``)

    @property
    def local_path(self) -> str | None:
        """The path on this machine (local paths and ``file://`` URIs)."""
        if self.remote is None:
            return self.name
        return self.remote.path if remote.scheme_of(self.name) == "file" else None


def resolve(spec: str, input_format: str | None = None) -> list[DataFile]:
    """The data files a path, directory, glob or URI names, in sorted order."""
    if spec == "-":
        return [DataFile(spec, None, ())]
    if remote.is_uri(spec):
        return [
            DataFile(f.display, f, f.rel[:-1])
            for f in remote.resolve(spec, lambda path: _is_data_file(path, input_format))
        ]
    if any(ch in spec for ch in _GLOB_CHARS):
        files = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
        if not files:
            raise CEError(f"{spec}: no file matches this pattern")
        base = _glob_base(spec)
        return [DataFile(f, None, _parents(os.path.relpath(f, base))) for f in files]
    if os.path.isdir(spec):
        files = sorted(_data_files(spec, input_format))
        if not files:
            raise CEError(
                f"{spec}: the directory holds no data file (.csv, .parquet, .arrow, .jsonl, …)"
            )
        return [DataFile(f, None, _parents(os.path.relpath(f, spec))) for f in files]
    return [DataFile(spec, None, _parents(spec))]


def expand(spec: str, input_format: str | None = None) -> list[str]:
    """The files on this machine a spec names (what no output may overwrite), sorted; a remote
    URI (not ``file://``) is returned as it is, without listing it."""
    if remote.is_uri(spec) and remote.scheme_of(spec) != "file":
        return [spec]
    return [f.local_path or f.name for f in resolve(spec, input_format)]


def _parents(path: str) -> tuple[str, ...]:
    head = os.path.dirname(os.path.normpath(path))
    return tuple(p for p in head.split(os.sep) if p and p not in (".", ".."))


def _glob_base(spec: str) -> str:
    parts = spec.split(os.sep)
    fixed = next(i for i, p in enumerate(parts) if any(ch in p for ch in _GLOB_CHARS))
    return os.sep.join(parts[:fixed]) or (os.sep if spec.startswith(os.sep) else ".")


def _is_data_file(path: str, input_format: str | None) -> bool:
    if _is_array(path, input_format) is not None:
        return True
    try:
        detect_format(path, input_format)
    except CEError:
        return False
    return True


def _data_files(directory: str, input_format: str | None) -> Iterator[str]:
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for name in names:
            if name.startswith((".", "_")):
                continue
            path = os.path.join(root, name)
            if _is_data_file(path, input_format):
                yield path


def open_input(
    specs: Sequence[str], input_format: str | None = None, arrays: ArrayRequest | None = None
) -> Source | MultiSource:
    """One Source for a single file; a MultiSource for several files or partitions.

    ``arrays``: how array files (.npy, .npz, .safetensors) are read (``ce_cli.io.arrays``)."""
    files = [f for spec in specs for f in resolve(spec, input_format)]
    fields, values, note = partitions(files)
    if len(files) == 1 and not fields:
        return _open(files[0], input_format, arrays)
    if any(f.name == "-" for f in files):
        raise CEError("stdin ('-') cannot be combined with other inputs")
    multi = MultiSource(
        [_open(f, input_format, arrays) for f in files],
        display=" ".join(specs),
        partition_fields=fields,
        partition_values=values,
    )
    multi.partition_note = note
    return multi


def _open(file: DataFile, input_format: str | None, arrays: ArrayRequest | None = None) -> Source:
    fmt = None if file.name == "-" else _is_array(file.name, input_format)
    if fmt is not None:
        if file.remote is not None and file.local_path is None:
            raise CEError(f"{file.name}: array files are read from local paths only; copy it here")
        path = file.local_path or file.name
        if not os.path.exists(path):
            raise CEError(f"{path}: no such file")
        if not os.path.isfile(path):
            raise CEError(f"{path}: an array file must be a regular file (not a directory or pipe)")
        if not os.access(path, os.R_OK):
            raise CEError(f"{path}: permission denied")
        return open_array(path, fmt, arrays or ArrayRequest())
    if file.remote is not None:
        return open_remote(file.remote, input_format)
    return open_source(file.name, input_format)


def _is_array(path: str, input_format: str | None) -> str | None:
    """The array format of ``path`` (by --input-format, else the extension), or None."""
    if input_format is not None:
        return input_format if input_format in ARRAY_FORMATS else None
    return detect_array_format(path)


def partitions(
    files: Sequence[DataFile],
) -> tuple[list[pa.Field], list[list[object]], str | None]:
    """The hive partition columns every file shares, each file's values for them, and a note
    when the files' partition directories disagree (so there are none)."""
    pairs = [
        [(unquote(m[1]), unquote(m[2])) for p in f.parents if (m := _HIVE_PART.match(p))]
        for f in files
    ]
    keys = [k for k, _ in pairs[0]] if pairs else []
    for f, p in zip(files, pairs, strict=True):
        if [k for k, _ in p] != keys:
            shown = ", ".join(f"{k}=" for k, _ in p) or "no key=value directory"
            first = ", ".join(f"{k}=" for k in keys) or "no key=value directory"
            return (
                [],
                [],
                (
                    f"partition directories differ between files ({files[0].name} has {first}, "
                    f"{f.name} has {shown}), so they are not columns"
                ),
            )
    if not keys or len(set(keys)) != len(keys):
        return [], [], None
    fields: list[pa.Field] = []
    columns: list[list[object]] = []
    for j, key in enumerate(keys):
        raw = [None if p[j][1] == _HIVE_NULL else p[j][1] for p in pairs]
        present = [v for v in raw if v is not None]
        if present and all(_INT.match(v) and -(2**63) <= int(v) < 2**63 for v in present):
            fields.append(pa.field(key, pa.int64()))
            columns.append([None if v is None else int(v) for v in raw])
        else:
            fields.append(pa.field(key, pa.string()))
            columns.append(list(raw))
    return fields, [list(row) for row in zip(*columns, strict=True)], None


def string_array(values: Sequence[str]) -> pa.Array:
    """A pa.string() array built from its buffers (``pa.array`` would import pandas)."""
    data = [v.encode() for v in values]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
    )


def constant(value: object, typ: pa.DataType, n: int) -> pa.Array:
    """``n`` copies of ``value`` (None: nulls) of type int64 or string, without pandas."""
    if value is None:
        return pa.nulls(n, typ)
    if pa.types.is_integer(typ):
        one = pa.Array.from_buffers(
            pa.int64(), 1, [None, pa.py_buffer(np.array([value], dtype=np.int64))]
        )
    else:
        one = string_array([str(value)])
    return pa.repeat(one[0], n)


class MultiSource:
    """Several Sources read as one, with the first file's schema (and partition columns)."""

    def __init__(
        self,
        sources: list[Source],
        display: str,
        partition_fields: Sequence[pa.Field] = (),
        partition_values: Sequence[Sequence[object]] = (),
    ) -> None:
        self.sources = sources
        self._first = sources[0]  # whose schema (and types) every file is read with
        self.path = display
        self.format = sources[0].format
        first = sources[0].schema
        # A partition key that is a column of the files themselves is left to that column.
        keep = [j for j, f in enumerate(partition_fields) if first.get_field_index(f.name) < 0]
        self.partition_fields = [partition_fields[j] for j in keep]
        self.partition_values = [[row[j] for j in keep] for row in partition_values] or [
            [] for _ in sources
        ]
        schema = first
        for f in self.partition_fields:
            schema = schema.append(f)
        self.schema = schema
        self.partition_note: str | None = None
        counts = [s.num_rows for s in sources]
        self.num_rows = None if None in counts else sum(c for c in counts if c is not None)

    def subset(self, indices: Sequence[int]) -> MultiSource:
        """Some of the files, read as this input is (same schema, same casts)."""
        part = MultiSource.__new__(MultiSource)
        part.__dict__.update(self.__dict__)
        part.sources = [self.sources[i] for i in indices]
        part.partition_values = [self.partition_values[i] for i in indices]
        counts = [s.num_rows for s in part.sources]
        part.num_rows = None if None in counts else sum(c for c in counts if c is not None)
        return part

    def batches(
        self,
        columns: list[str] | None = None,
        batch_size: int = 65536,
        column_types: dict[str, pa.DataType] | None = None,
        threads: int = 1,
    ) -> Iterator[pa.RecordBatch]:
        """The files' batches in order, as ``Source.batches`` (`threads` parse each text file)."""
        return rechunk(self._all(columns, batch_size, column_types, threads), batch_size)

    def _all(
        self,
        columns: list[str] | None,
        batch_size: int,
        column_types: dict[str, pa.DataType] | None,
        threads: int,
    ) -> Iterator[pa.RecordBatch]:
        first = self._first
        names = list(columns) if columns is not None else self.schema.names
        part_index = {f.name: j for j, f in enumerate(self.partition_fields)}
        in_file = [c for c in names if c not in part_index]
        file_types = {c: t for c, t in (column_types or {}).items() if c not in part_index}
        for src, values in zip(self.sources, self.partition_values, strict=True):
            missing = [c for c in in_file if c not in src.schema.names]
            if missing:
                raise CEError(
                    f"{src.path}: no column {missing[0]!r}, which {first.path} has; "
                    "every file of one input must hold the same columns"
                )
            target: pa.Schema | None = None
            consts: dict[str, pa.Array] = {}
            for rb in src.batches(in_file, batch_size, file_types or None, threads):
                if target is None:
                    target = pa.schema(
                        [self._field(rb.schema.field(c), column_types) for c in in_file]
                    )
                rb = rb if rb.schema.equals(target) else _cast(rb, target, src.path)
                if part_index:
                    rb = self._with_partitions(rb, names, values, part_index, column_types, consts)
                yield rb

    def _with_partitions(
        self,
        rb: pa.RecordBatch,
        names: list[str],
        values: Sequence[object],
        part_index: dict[str, int],
        column_types: dict[str, pa.DataType] | None,
        consts: dict[str, pa.Array],
    ) -> pa.RecordBatch:
        """``rb`` with the file's constant partition columns, in the order of ``names``."""
        n = rb.num_rows
        arrays, fields = [], []
        for name in names:
            j = part_index.get(name)
            if j is None:
                arrays.append(rb.column(name))
                fields.append(rb.schema.field(name))
                continue
            field = self.partition_fields[j]
            typ = (column_types or {}).get(name, field.type)
            const = consts.get(name)
            if const is None or len(const) < n:
                const = constant(values[j], field.type, n)
                if typ != field.type:
                    const = _cast_partition(const, typ, name, values[j])
                consts[name] = const
            arrays.append(const.slice(0, n))
            fields.append(field.with_type(typ))
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))

    def _field(self, field: pa.Field, column_types: dict[str, pa.DataType] | None) -> pa.Field:
        """The type every file's column is cast to: the forced one, else the first file's."""
        forced = (column_types or {}).get(field.name)
        first = self.schema.field(field.name).type
        if forced is not None:
            return field.with_type(forced)
        return field if first == pa.null() else field.with_type(first)


def _cast_partition(arr: pa.Array, typ: pa.DataType, name: str, value: object) -> pa.Array:
    import pyarrow.compute as pc

    try:
        return pc.cast(arr, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise CEError(
            f"partition column {name}: value {value!r} (from the directory {name}={value}) "
            f"cannot be read as {typ}"
        ) from None


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
