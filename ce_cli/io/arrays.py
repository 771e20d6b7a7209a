"""NumPy arrays and tensors (``.npy``, ``.npz``, ``.safetensors``) → record batches.

An array file is read as the columns the conventions name (DESIGN.md, "Columns"), so the
layout and everything above it is unchanged:

- predictions ``[N]`` (binary) → one scalar column ``logit``/``prob``/``score``; ``[N, C]`` and
  ``[N, C, d1, …, dk]`` → one fixed-size list column ``logits``/``probs``/``score`` of the C
  values along axis 1 (PyTorch's K-dimensional cross-entropy: class axis 1, every other
  position a row). The name follows the key or file name (``logits``, ``probs``, …); without
  a hint the values decide, as for columns; ``--inputs`` overrides either.
- labels ``[N]`` or ``[N, d1, …, dk]`` (one class index per position, ``--ignore-index`` as
  usual) → a scalar column ``label``; ``[N, C]`` beside ``[N, C]`` predictions (multi-label or
  soft targets) → a list column ``label``.
- ``sample`` (virtual): the index along the first axis, so ``--group-by sample`` reports
  per image.

Rows are positions in C order: sample ``n``'s positions are rows ``n·D … n·D + D − 1``
(``D = d1·…·dk``). Memory: a batch of rows maps only its own byte range of the file
(``np.memmap`` windows, unmapped when the batch is freed), so resident memory is bounded by
the batches in flight, not by the file. A compressed ``.npz`` member is decompressed forward in
slabs of about ``SLAB_BYTES`` (at least one sample); a Fortran-order array is read correctly but
through one map of the whole array. Object arrays are refused (nothing is ever unpickled).
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ce_cli.core.errors import CEError
from ce_cli.core.listing import shortened
from ce_cli.io.formats import Source

ARRAY_FORMATS = ("npy", "npz", "safetensors")
PRED_KEYS = (
    "logits",
    "logit",
    "probs",
    "prob",
    "probabilities",
    "probability",
    "proba",
    "y_proba",
    "y_prob",
    "y_score",
    "scores",
    "score",
    "predictions",
    "preds",
    "outputs",
    "output",
)
LABEL_KEYS = ("label", "labels", "target", "targets", "y", "y_true", "class", "gt")
SAMPLE_COLUMN = "sample"
SLAB_BYTES = 16 << 20  # bytes decompressed at a time from a compressed .npz member
_MAX_HEADER = 100 << 20  # the largest safetensors JSON header read
_NAMES = {"npy": ".npy", "npz": ".npz", "safetensors": "safetensors"}
_SAFETENSORS_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "<u2",  # widened to float32 when read
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U64": "<u8",
    "U32": "<u4",
    "U16": "<u2",
    "U8": "u1",
    "BOOL": "?",
}


@dataclass(frozen=True)
class ArrayRequest:
    """How an array file is read: the keys named by options, and its role.

    ``labels_file``: the main file's labels come from another file (so it holds predictions).
    ``preds_of``: for the ``--labels`` file, the predictions its labels go with (their shape).
    """

    pred_key: str | None = None
    label_key: str | None = None
    labels_file: bool = False
    preds_of: Any = None  # an ArraySource, or another Source (then ignored)
    role: str = "main"  # main | labels


@dataclass(frozen=True)
class Member:
    """One array of a file: what its bytes hold and where they are."""

    key: str
    dtype: np.dtype | None  # None: a dtype ce does not read (``kind`` says which)
    shape: tuple[int, ...]
    fortran: bool = False
    offset: int | None = None  # byte offset of the data in the file; None: compressed
    zip_name: str | None = None  # the member of a .npz
    bf16: bool = False
    kind: str = ""  # the file's own name of the dtype

    @property
    def sample_bytes(self) -> int:
        assert self.dtype is not None
        return math.prod(self.shape[1:]) * self.dtype.itemsize

    def describe(self) -> str:
        return f"{self.key} {_shape(self.shape)} {self.kind}"


@dataclass(frozen=True)
class Geometry:
    """How the arrays become rows: N samples of D positions; C classes (None: one value)."""

    n: int
    positions: int
    classes: int | None
    label_classes: int | None  # labels [N, C]: a list column of C values


def detect_array_format(path: str) -> str | None:
    ext = os.path.splitext(path.lower())[1].lstrip(".")
    return ext if ext in ARRAY_FORMATS else None


def open_array(path: str, fmt: str, request: ArrayRequest) -> ArraySource:
    """Open a local array file (see the module docstring)."""
    return ArraySource(path, fmt, request)


class ArraySource(Source):
    """An array file read as columns (a ``Source`` for everything that reads one)."""

    def __init__(self, path: str, fmt: str, request: ArrayRequest) -> None:
        self.path, self.format, self.compression = path, fmt, None
        self._fs, self._location, self._pipe, self._owned = None, path, None, None
        self.row_groups, self._group_rows = None, []
        members = _members(path, fmt)
        self._pred, self._label = _choose(path, fmt, members, request)
        like = request.preds_of if isinstance(request.preds_of, ArraySource) else None
        self.geometry = _geometry(self, like)
        self.num_rows = self.geometry.n * self.geometry.positions
        self.pred_name = _pred_name(self._pred, self.geometry, path) if self._pred else None
        self.label_name = _label_name(self._label, path) if self._label else None
        self.schema = self._schema()

    def _schema(self) -> pa.Schema:
        fields = []
        geo = self.geometry
        if self._pred is not None and self.pred_name is not None:
            fields.append(pa.field(self.pred_name, _arrow_type(self._pred, geo.classes)))
        if self._label is not None and self.label_name is not None:
            fields.append(pa.field(self.label_name, _arrow_type(self._label, geo.label_classes)))
        fields.append(pa.field(SAMPLE_COLUMN, pa.int64()))
        return pa.schema(fields)

    def no_predictions(self) -> CEError:
        """The error when a command needs predictions and the file holds none."""
        return CEError(
            f"{self.path}: no predictions array found (looked for "
            f"{', '.join(PRED_KEYS[:8])}, …); the file has arrays: "
            f"{_listing(_members(self.path, self.format))}; pass --pred-key NAME"
        )

    def batches(
        self,
        columns: list[str] | None = None,
        batch_size: int = 65536,
        column_types: dict[str, pa.DataType] | None = None,
        threads: int = 1,
    ) -> Iterator[pa.RecordBatch]:
        """Batches of exactly `batch_size` rows (the last may be shorter); see Source.batches.

        `column_types` may only restate the types the arrays have (no cast)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        names = self._check_columns(columns, None)
        return self._array_batches(names, batch_size)

    def _array_batches(self, names: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        readers: dict[str, _Reader] = {}
        if self.pred_name in names and self._pred is not None:
            readers[self.pred_name] = _reader(self.path, self._pred)
        if self.label_name in names and self._label is not None:
            readers[self.label_name] = _reader(self.path, self._label)
        try:
            total = self.num_rows or 0
            for start in range(0, total, batch_size):
                stop = min(total, start + batch_size)
                arrays = [self._column(name, start, stop, readers) for name in names]
                if not names:  # no column read: a batch of the rows alone
                    yield pa.record_batch([pa.nulls(stop - start)], ["_"]).drop_columns(["_"])
                    continue
                yield pa.RecordBatch.from_arrays(arrays, names=names)
        finally:
            for r in readers.values():
                r.close()

    def _column(self, name: str, start: int, stop: int, readers: dict[str, _Reader]) -> pa.Array:
        d = self.geometry.positions
        if name == SAMPLE_COLUMN:
            return _to_arrow(np.arange(start, stop, dtype=np.int64) // d, None)
        member = self._pred if name == self.pred_name else self._label
        assert member is not None
        first, last = start // d, (stop - 1) // d + 1
        block = readers[name].get(first, last)
        lo, hi = start - first * d, stop - first * d
        if name == self.pred_name and self.geometry.classes is not None:
            rows = _class_rows(block.reshape(last - first, self.geometry.classes, d), lo, hi)
            return _to_arrow(rows, member)
        if name == self.label_name and self.geometry.label_classes is not None:
            return _to_arrow(block.reshape(last - first, -1)[lo:hi], member)
        return _to_arrow(block.reshape(-1)[lo:hi], member)


# ---------------------------------------------------------------------- choosing the arrays
def _choose(
    path: str, fmt: str, members: list[Member], request: ArrayRequest
) -> tuple[Member | None, Member | None]:
    """(predictions, labels) of the file for its role."""
    if fmt == "npy":
        (only,) = members
        if request.role == "labels":
            return None, _checked(path, only, "labels")
        if request.labels_file or only.dtype is None or only.dtype.kind in "fcV" or only.bf16:
            only = _checked(path, only, "predictions")
            if not request.labels_file:
                raise CEError(
                    f"{path}: one array of predictions ({only.describe()}) and no labels; pass "
                    "--labels FILE with the labels (or save both in one .npz)"
                )
            return only, None
        return None, _checked(path, only, "labels")
    pred: Member | None = None
    label: Member | None = None
    if request.role == "main":
        need = request.labels_file or request.pred_key is not None
        pred = _find(path, members, request.pred_key, PRED_KEYS, "predictions", "--pred-key", need)
    if request.role == "labels" or not request.labels_file:
        label = _find(path, members, request.label_key, LABEL_KEYS, "labels", "--label-key", True)
    if pred is not None:
        _checked(path, pred, "predictions")
    if label is not None:
        _checked(path, label, "labels")
    if pred is None and label is None:
        raise CEError(f"{path}: no arrays to read")
    return pred, label


def _find(
    path: str,
    members: list[Member],
    key: str | None,
    conventional: Sequence[str],
    what: str,
    flag: str,
    required: bool = False,
) -> Member | None:
    by_key = {m.key: m for m in members}
    if key is not None:
        if key not in by_key:
            raise CEError(
                f"{path}: no array {key!r} ({flag}); the file has arrays: {_listing(members)}"
            )
        return by_key[key]
    lower = {m.key.lower(): m for m in reversed(members)}
    for name in conventional:
        if name in lower:
            return lower[name]
    if required:
        raise CEError(
            f"{path}: no {what} array found (looked for {', '.join(conventional[:8])}, …); "
            f"the file has arrays: {_listing(members)}; pass {flag} NAME"
        )
    return None


def _checked(path: str, member: Member, what: str) -> Member:
    """``member`` if ce reads its dtype as ``what``; else a one-line error."""
    if member.dtype is not None and member.dtype.hasobject:
        raise CEError(
            f"{path}: array {member.key} holds Python objects, which ce does not read (it never "
            "unpickles); save a numeric array (np.save(path, x.astype(np.float32)))"
        )
    if member.dtype is None or member.dtype.fields is not None:
        raise CEError(
            f"{path}: array {member.key} has dtype {member.kind}, which ce does not read; save "
            f"it as {'float32' if what == 'predictions' else 'int64'}"
        )
    numeric = "f" if what == "predictions" else "biuf"
    if not member.bf16 and member.dtype.kind not in numeric:
        want = "floating point" if what == "predictions" else "integer class indices"
        raise CEError(
            f"{path}: array {member.key} ({member.kind}) cannot be {what}: they must be "
            f"{want}; save it with .astype({'np.float32' if what == 'predictions' else 'np.int64'})"
        )
    if not member.shape:
        raise CEError(f"{path}: array {member.key} is a scalar; {what} need a first axis of N")
    if member.fortran and member.offset is None:
        raise CEError(
            f"{path}: array {member.key} is compressed and in Fortran order, which cannot be "
            "streamed; save it with np.ascontiguousarray (or np.savez, uncompressed)"
        )
    return member


# ---------------------------------------------------------------------- shapes → rows
def _geometry(src: ArraySource, like: ArraySource | None) -> Geometry:
    """Samples, positions and classes from the arrays' shapes (PyTorch's conventions)."""
    pred = src._pred if like is None else like._pred
    label = src._label
    pred_path = src.path if like is None else like.path
    if pred is None:
        assert label is not None
        return Geometry(label.shape[0], math.prod(label.shape[1:]), None, None)
    p = pred.shape
    if len(p) == 1 or (len(p) == 2 and p[1] == 1):
        geo = Geometry(p[0], 1, None, None)
        wanted: list[tuple[int, ...]] = [(p[0],), (p[0], 1)]
    else:
        geo = Geometry(p[0], math.prod(p[2:]), p[1], None)
        wanted = [(p[0], *p[2:])]
        if len(p) == 2:
            wanted.append(p)
    if label is None:
        return geo
    if label.shape[0] != p[0]:
        raise CEError(
            f"{pred_path} has {p[0]} samples ({pred.key} {_shape(p)}) but {src.path} has "
            f"{label.shape[0]} ({label.key} {_shape(label.shape)}); the first axes must match"
        )
    if label.shape not in wanted:
        raise CEError(
            f"{src.path}: labels {label.key} {_shape(label.shape)} do not fit predictions "
            f"{pred.key} {_shape(p)}, which need labels of shape "
            f"{' or '.join(map(_shape, wanted))} (PyTorch: input [N, C, d1…dk], target "
            "[N, d1…dk])"
        )
    if len(p) == 2 and p[1] > 1 and label.shape == p:
        return Geometry(p[0], 1, p[1], p[1])
    return geo


def _class_rows(block: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Rows ``lo … hi − 1`` of the (k·D, C) matrix whose row n·D + j is ``block[n, :, j]``.

    ``block`` is (k, C, D). With D = 1 this is a view; otherwise the positions are copied
    into one C-ordered (hi − lo, C) array: a partial first sample, whole samples, a partial
    last sample.
    """
    k, c, d = block.shape
    if d == 1:
        return block.reshape(k, c)[lo:hi]
    out = np.empty((hi - lo, c), dtype=block.dtype)
    first, a = divmod(lo, d)
    last, b = divmod(hi, d)
    if first == last:
        out[:] = block[first, :, a:b].T
        return out
    at = 0
    if a:
        out[: d - a] = block[first, :, a:].T
        at, first = d - a, first + 1
    whole = last - first
    if whole:
        out[at : at + whole * d].reshape(whole, d, c)[...] = block[first:last].transpose(0, 2, 1)
        at += whole * d
    if b:
        out[at:] = block[last, :, :b].T
    return out


def _pred_name(member: Member, geo: Geometry, path: str) -> str:
    """The column name the predictions get: its own when conventional, else by the hint of
    the key (or, for .npy, the file name): logits, probs, or score (the values decide)."""
    hint = member.key.lower()
    if path.lower().endswith(".npy"):
        hint = os.path.splitext(os.path.basename(path))[0].lower()
    many = geo.classes is not None
    if "logit" in hint:
        return "logits" if many else "logit"
    if "prob" in hint:
        return "probs" if many else "prob"
    return "score"


def _label_name(member: Member, path: str) -> str:
    key = member.key.lower()
    if path.lower().endswith(".npy"):
        key = os.path.splitext(os.path.basename(path))[0].lower()
    return key if key in ("label", "labels", "target", "y", "y_true", "class", "gt") else "label"


# ---------------------------------------------------------------------- numpy → arrow
def _native(values: np.ndarray, member: Member | None) -> np.ndarray:
    if member is not None and member.bf16:
        wide = values.astype(np.uint32) << np.uint32(16)
        return wide.view(np.float32)
    if values.dtype == np.bool_:
        return values.view(np.uint8)
    if not values.dtype.isnative:
        return values.astype(values.dtype.newbyteorder("="))
    return values


def _arrow_type(member: Member, list_size: int | None) -> pa.DataType:
    assert member.dtype is not None
    one = _native(np.zeros(1, dtype=member.dtype), member)
    typ = pa.from_numpy_dtype(one.dtype)
    return pa.list_(typ, list_size) if list_size is not None else typ


def _to_arrow(values: np.ndarray, member: Member | None) -> pa.Array:
    """A 1-d array as a primitive arrow array, a 2-d one as a fixed-size list (zero-copy for
    C-contiguous native data: the arrow buffer keeps the array, and so its map, alive)."""
    values = np.ascontiguousarray(_native(values, member))
    flat = pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype), values.size, [None, pa.py_buffer(values)]
    )
    if values.ndim == 1:
        return flat
    return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])


# ---------------------------------------------------------------------- reading samples
class _Reader:
    """Samples ``[first, last)`` of one array, asked for in non-decreasing order."""

    def get(self, first: int, last: int) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _Mapped(_Reader):
    """A C-order array: each request maps only its own bytes (unmapped when freed)."""

    def __init__(self, path: str, member: Member) -> None:
        self.path, self.member = path, member
        self._whole: np.ndarray | None = None

    def get(self, first: int, last: int) -> np.ndarray:
        m = self.member
        assert m.dtype is not None and m.offset is not None
        if m.fortran:  # one map of the whole array; the rows copied in C order
            if self._whole is None:
                self._whole = np.memmap(
                    self.path, dtype=m.dtype, mode="r", offset=m.offset, shape=m.shape, order="F"
                )
            return np.ascontiguousarray(self._whole[first:last])
        if m.sample_bytes == 0:
            return np.zeros((last - first, *m.shape[1:]), dtype=m.dtype)
        return np.memmap(
            self.path,
            dtype=m.dtype,
            mode="r",
            offset=m.offset + first * m.sample_bytes,
            shape=(last - first, *m.shape[1:]),
        )

    def close(self) -> None:
        self._whole = None


class _Inflated(_Reader):
    """A compressed .npz member, decompressed forward in slabs of whole samples."""

    def __init__(self, path: str, member: Member) -> None:
        self.path, self.member = path, member
        self.per_slab = max(1, SLAB_BYTES // max(1, member.sample_bytes))
        self._zip: zipfile.ZipFile | None = None
        self._stream: Any = None
        self._start = self._stop = 0
        self._slab = np.empty((0, *member.shape[1:]), dtype=member.dtype)

    def _open(self) -> None:
        self.close()
        self._zip = zipfile.ZipFile(self.path)
        assert self.member.zip_name is not None
        self._stream = self._zip.open(self.member.zip_name)
        _npy_header(self._stream, self.path, self.member.key)
        self._start = self._stop = 0

    def _next_slab(self) -> None:
        m = self.member
        assert m.dtype is not None
        count = min(self.per_slab, m.shape[0] - self._stop)
        data = self._stream.read(count * m.sample_bytes)
        if len(data) != count * m.sample_bytes:
            raise CEError(f"{self.path}: array {m.key} is truncated; the file is damaged")
        self._slab = np.frombuffer(data, dtype=m.dtype).reshape(count, *m.shape[1:])
        self._start, self._stop = self._stop, self._stop + count

    def get(self, first: int, last: int) -> np.ndarray:
        if self._stream is None or first < self._start:
            self._open()
        parts = []
        at = first
        while at < last:
            while at >= self._stop:
                self._next_slab()
            upto = min(last, self._stop)
            parts.append(self._slab[at - self._start : upto - self._start])
            at = upto
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._zip is not None:
            self._zip.close()
        self._stream = self._zip = None


def _reader(path: str, member: Member) -> _Reader:
    return _Mapped(path, member) if member.offset is not None else _Inflated(path, member)


# ---------------------------------------------------------------------- file structure
def _members(path: str, fmt: str) -> list[Member]:
    """The arrays of a file, from its headers (no data is read)."""
    size = os.path.getsize(path)
    try:
        if fmt == "npy":
            key = os.path.splitext(os.path.basename(path))[0]
            with open(path, "rb") as f:
                dtype, shape, fortran, kind = _npy_header(f, path, "the file")
                members = [Member(key, dtype, shape, fortran, f.tell(), None, False, kind)]
        elif fmt == "npz":
            members = _npz_members(path)
        else:
            members = _safetensors_members(path, size)
    except (OSError, zipfile.BadZipFile, struct.error, EOFError) as exc:
        raise CEError(
            f"{path}: not a valid {_NAMES[fmt]} file ({' '.join(str(exc).split())})"
        ) from None
    for m in members:
        if m.offset is not None and m.dtype is not None:
            need = m.offset + math.prod(m.shape) * m.dtype.itemsize
            if need > size:
                raise CEError(
                    f"{path}: array {m.key} {_shape(m.shape)} needs {need} bytes but the file "
                    f"has {size}; the file is truncated"
                )
    if not members:
        raise CEError(f"{path}: the file holds no arrays")
    return members


def _npy_header(f: Any, path: str, key: str) -> tuple[np.dtype | None, tuple[int, ...], bool, str]:
    """(dtype, shape, Fortran order, dtype text) of the .npy header at ``f``'s position."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"format version {version[0]}.{version[1]} is not read")
    except ValueError as exc:
        raise CEError(
            f"{path}: {key} is not a NumPy .npy array ({' '.join(str(exc).split())})"
        ) from None
    return dtype, tuple(int(s) for s in shape), bool(fortran), _dtype_text(dtype)


def _npz_members(path: str) -> list[Member]:
    """The .npy members of a zip: stored ones with their data offset, deflated ones without."""
    members = []
    with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
        for info in zf.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.compress_type == zipfile.ZIP_STORED:
                raw.seek(info.header_offset)
                local = raw.read(30)
                if local[:4] != b"PK\x03\x04":
                    raise zipfile.BadZipFile(f"bad local header of {info.filename}")
                name_len, extra_len = struct.unpack("<HH", local[26:30])
                raw.seek(info.header_offset + 30 + name_len + extra_len)
                dtype, shape, fortran, kind = _npy_header(raw, path, key)
                offset: int | None = raw.tell()
            else:
                with zf.open(info) as stream:
                    dtype, shape, fortran, kind = _npy_header(stream, path, key)
                    start = stream.tell()
                offset = None
                size = math.prod(shape) * (dtype.itemsize if dtype is not None else 0)
                if start + size > info.file_size:
                    raise CEError(
                        f"{path}: array {key} {_shape(shape)} needs {size} bytes but the member "
                        f"holds {info.file_size - start}; the file is damaged"
                    )
            members.append(Member(key, dtype, shape, fortran, offset, info.filename, False, kind))
    return members


def _safetensors_members(path: str, size: int) -> list[Member]:
    """The tensors of a safetensors file: an 8-byte little-endian header length, a JSON header
    (name → dtype, shape, data_offsets), then the raw little-endian buffers."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > min(size - 8, _MAX_HEADER):
            raise CEError(f"{path}: not a valid safetensors file (header length {length})")
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CEError(f"{path}: not a valid safetensors file (header: {exc})") from None
    if not isinstance(header, dict):
        raise CEError(f"{path}: not a valid safetensors file (the header is not an object)")
    members = []
    for key, spec in header.items():
        if key == "__metadata__":
            continue
        try:
            kind = str(spec["dtype"])
            shape = tuple(int(s) for s in spec["shape"])
            begin, end = (int(v) for v in spec["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise CEError(f"{path}: not a valid safetensors file (tensor {key!r})") from None
        text = _SAFETENSORS_DTYPES.get(kind)
        dtype = np.dtype(text) if text else None
        if dtype is not None and end - begin != math.prod(shape) * dtype.itemsize:
            raise CEError(
                f"{path}: tensor {key} {_shape(shape)} {kind} has {end - begin} bytes; the file "
                "is damaged"
            )
        offset = 8 + length + begin
        members.append(Member(key, dtype, shape, False, offset, None, kind == "BF16", kind))
    return members


def _dtype_text(dtype: np.dtype) -> str:
    if dtype.hasobject:
        return "object"
    return dtype.name if dtype.isnative and dtype.kind not in "USV" else dtype.str


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _listing(members: list[Member], limit: int = 12) -> str:
    return shortened([_clip(m.describe()) for m in members], limit)


def _clip(text: str, width: int = 60) -> str:
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= width else text[: width - 1] + "…"
