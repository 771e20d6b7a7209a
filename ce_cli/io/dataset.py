"""One pass over the input: open the file(s), resolve columns, decide the layout, yield Batches.

With ``--labels FILE`` the labels come from a second file, aligned by row order (both streamed
in lockstep) or joined on a key with ``--on KEY`` (the labels file's keys and labels are held in
memory; the predictions still stream).

``--where`` conditions (``ce_cli.io.where``) filter the aligned pairs, so a condition may name
a column of either file (the main file's first) and row-order alignment and joins see every
row; the kept rows are re-cut to ``batch_size`` and keep their input row numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from ce_cli.core.errors import CEError
from ce_cli.core.limits import MAX_THREADS
from ce_cli.core.progress import Progress
from ce_cli.io.arrays import ArrayRequest, ArraySource
from ce_cli.io.batch import Batch
from ce_cli.io.columns import (
    ID_NAMES,
    PredColumns,
    check_unique,
    find_index,
    find_labels,
    find_optional,
)
from ce_cli.io.compute import pc
from ce_cli.io.convert import combine, numeric
from ce_cli.io.files import MultiSource, expand, open_input
from ce_cli.io.formats import Source
from ce_cli.io.groups import GroupColumn, check_group_type
from ce_cli.io.layout import (
    LabelOptions,
    Layout,
    LayoutRequest,
    decide_layout,
    no_layout_error,
    resolve_preds,
)
from ce_cli.io.where import Condition, RowFilter, filtered, parse

# --batch-size by default: about BATCH_VALUES values per batch, MIN_BATCH_ROWS to
# MAX_BATCH_ROWS rows (a power of two). Measured on 2 cores: 1M × 100 is fastest at 32768 rows
# (394 MiB peak vs 590 MiB at 65536); 50M × 2 (label, logit) at 131072 rows (1.00 s vs 1.30 s;
# past 1 MiB per column array the batches leave L2, past 4 MiB malloc maps them fresh).
# The rows are then capped by bytes: at most MAX_BATCH_BYTES per batch (values × their byte
# width), so 10k or 100k classes hold about as much per batch as 100 do (32768 × 100 float64
# is 26 MiB), down to MIN_WIDE_ROWS rows. K ≥ 2 label columns count as the float64 (n, K)
# target they are decoded to, and such a batch holds no more than half the bytes one with a
# single label column would (1M × 100 multi-label: 4096 rows, 220–236 MiB peak, 2.3–2.5 s;
# 8192: 270–305 MiB, 2.1–2.5 s; 16384: ~370; 32768: ~540 — while CE on the same values, whose
# compiled kernel keeps no float64 copies, peaks at ~280 MiB).
BATCH_VALUES = 262144
MIN_BATCH_ROWS, MAX_BATCH_ROWS = 32768, 131072
MAX_BATCH_BYTES, MIN_WIDE_ROWS = 32 << 20, 16
LIST_VALUES = 8  # a variable-length list column counts as this many values per row
RawBatch = tuple[pa.RecordBatch, pa.RecordBatch, int]
_TEXT_FORMATS = ("csv", "tsv", "jsonl")


@dataclass(frozen=True)
class InputOptions:
    """Where the data is and which columns mean what (the shared input options of every command)."""

    path: str
    labels_path: str | None = None
    more_paths: tuple[str, ...] = ()  # further files of the same input (FILE... on the CLI)
    on: str | None = None
    input_format: str | None = None
    batch_size: int | None = None  # rows per record batch; None: by the columns read
    label_col: str | None = None
    pred_cols: str | None = None
    id_col: str | None = None
    weight_col: str | None = None
    mask_col: str | None = None
    label: LabelOptions = field(default_factory=LabelOptions)
    threads: int = 1  # worker threads (0: every core); --reduction none always uses one
    engine: str = "local"  # local | dask (--engine)
    scheduler: str | None = None  # dask: scheduler address; else $DASK_SCHEDULER_ADDRESS, local
    progress: Progress | None = None  # told how far each pass got (the CLI draws a bar)
    where: tuple[str, ...] = ()  # row filters ('country=de', 'day in 1,2'); all must hold
    group_by: str | None = None  # a column whose values each get a report (--group-by)
    pred_key: str | None = None  # array files: the predictions' key (--pred-key)
    label_key: str | None = None  # array files: the labels' key (--label-key)

    @property
    def display(self) -> str:
        """The input as reports name it."""
        more = f" (+{len(self.more_paths)} more)" if self.more_paths else ""
        return self.path + more


def input_files(options: InputOptions) -> list[str]:
    """Every file the options read (what ``-o`` must never overwrite)."""
    specs = [options.path, *options.more_paths, options.labels_path]
    return [f for spec in specs if spec and spec != "-" for f in expand(spec)]


class Dataset:
    """The input as a stream of ``Batch``es; iterate once.

    ``read_preds``: read and decode the prediction columns (``ce weights`` does not need them,
    but still uses their names for the class set).
    """

    def __init__(self, options: InputOptions, *, read_preds: bool) -> None:
        if options.batch_size is not None and options.batch_size < 1:
            raise CEError(f"--batch-size must be at least 1, not {options.batch_size}")
        if not 0 <= options.threads <= MAX_THREADS:
            raise CEError(
                f"--threads must be in 0 … {MAX_THREADS} (0: every core), not {options.threads}"
            )
        if options.on and not options.labels_path:
            raise CEError("--on KEY joins a --labels FILE; pass --labels too")
        conditions = [parse(text) for text in options.where]
        self.options = options
        self.read_preds = read_preds
        keys = ArrayRequest(options.pred_key, options.label_key, bool(options.labels_path))
        self.main = open_input([options.path, *options.more_paths], options.input_format, keys)
        label_keys = replace(keys, role="labels", preds_of=self.main)
        self.labels = (
            open_input([options.labels_path], None, label_keys) if options.labels_path else None
        )
        for src in (self.main, self.labels) if self.labels else (self.main,):
            _check_names_are_text(src)
        self.row_filter = RowFilter(conditions, self.main, self.labels) if conditions else None
        self._resolve_columns()
        if options.batch_size is None:
            self.options = replace(options, batch_size=self._default_batch_size())
        self._pairs = self._numbered()
        first = next(self._pairs, None)
        if first is None:
            if self.row_filter is not None:
                raise CEError(
                    f"{self.main.path}: no row matches "
                    + " and ".join(f"--where {c.text!r}" for c in conditions)
                )
            raise CEError(f"{self.main.path}: no data rows (the file has only a header or schema)")
        self._first = first
        self.layout: Layout = decide_layout(self._layout_request(conditions))

    def _layout_request(self, conditions: list[Condition]) -> LayoutRequest:
        """What the layout is decided from, with the notes on how the input was read."""
        notes = []
        parts = getattr(self.main, "partition_fields", [])
        if parts:
            notes.append(
                "partition columns from key=value directories: "
                + ", ".join(
                    f"{f.name} ({'integer' if f.type == pa.int64() else 'text'})" for f in parts
                )
            )
        if conditions:
            notes.append(
                "only rows where " + " and ".join(c.text for c in conditions) + " (--where)"
            )
        main_batch, label_batch, _ = self._first
        return LayoutRequest(
            label_file=self.label_source.path,
            label_schema=self.label_source.schema,
            label_cols=self.label_cols,
            first_labels=label_batch,
            preds=self.preds,
            pred_file=self.main.path,
            pred_schema=self.main.schema,
            first_main=main_batch,
            options=self.options.label,
            weight_col=self.weight_col,
            mask_col=self.mask_col,
            id_col=self.id_col,
            reader_notes=tuple(notes),
            hard_col=self.hard_col if self.read_preds else None,
            preds_required=self.read_preds,
            id_from_index=self.id_from_index,
        )

    @property
    def label_source(self) -> Source | MultiSource:
        return self.labels or self.main

    def __iter__(self) -> Iterator[Batch]:
        return map(self.decode, self.pairs())

    def pairs(self) -> Iterator[RawBatch]:
        """The undecoded stream: (main batch, labels batch, 0-based first row); once.

        With ``--where`` the first row may be an ``InputRows``: ``row + i`` is the input row of
        the batch's i-th row either way.
        """
        return itertools.chain([self._first], self._pairs)

    def decode(self, raw: RawBatch) -> Batch:
        """One raw item → ``Batch`` (pure: safe to call from worker threads)."""
        return self.layout.to_batch(raw[0], raw[1], raw[2], read_preds=self.read_preds)

    def first_batch(self) -> Batch:
        """The first batch, decoded (for decisions made before the stream is read)."""
        return self.decode(self._first)

    @property
    def num_rows(self) -> int | None:
        """Rows in the input, when the files say so cheaply (Parquet, IPC); None with
        ``--where`` (the rows kept are not known before reading)."""
        return None if self.row_filter is not None else self.main.num_rows

    def _numbered(self) -> Iterator[RawBatch]:
        main_cols, main_extra = self._columns(self._main_columns(), "main")
        label_cols, label_extra = (
            self._columns(self._label_columns(), "labels") if self.labels else ([], [])
        )
        if self.row_filter is None:
            yield from _count(self._aligned_pairs(main_cols, label_cols))
            return
        if self.labels is None and isinstance(self.main, MultiSource):
            numbered = self._pruned(self.main, self.row_filter, main_cols)
        else:
            numbered = _count(self._aligned_pairs(main_cols, label_cols))
        yield from filtered(numbered, self.row_filter, self.batch_size, main_extra, label_extra)

    def _pruned(
        self, src: MultiSource, row_filter: RowFilter, columns: list[str]
    ) -> Iterator[RawBatch]:
        """Files whose partition values fail a condition are not read, when their row count is
        known (Parquet, IPC), so the row numbers of the files after them stay right."""
        passes = row_filter.files(src.partition_fields, src.partition_values)
        skip = [
            not ok and s.num_rows is not None for ok, s in zip(passes, src.sources, strict=True)
        ]
        row = 0
        for skipped, run in itertools.groupby(range(len(src.sources)), key=lambda i: skip[i]):
            indices = list(run)
            if skipped:
                row += sum(src.sources[i].num_rows or 0 for i in indices)
                continue
            for rb in self._stream(src.subset(indices), columns):
                yield rb, rb, row
                row += rb.num_rows

    # ------------------------------------------------------------------ columns
    def _resolve_columns(self) -> None:
        opts, main_names = self.options, self.main.schema.names
        label_names = self.label_source.schema.names
        self.label_cols = find_labels(label_names, opts.label_col, self.label_source.path)
        candidates = [c for c in main_names if self.labels is not None or c not in self.label_cols]
        self.id_col = find_optional(main_names, opts.id_col, ID_NAMES, "id", self.main.path)
        self.id_from_index = self.id_col is None and not opts.id_col
        if self.id_from_index:
            self.id_col = _pandas_index(self.main.schema) or find_index(main_names)
        self.weight_col = self._either(opts.weight_col, "weight")
        self.mask_col = self._either(opts.mask_col, "mask")
        used = [self.id_col, self.weight_col, self.mask_col, opts.on, opts.group_by]
        self.preds: PredColumns | None
        self.preds, self.hard_col = resolve_preds(
            self.main.schema, candidates, opts.pred_cols, self.main.path, used
        )
        if self.preds is None and self.read_preds:
            if isinstance(self.main, ArraySource):
                raise self.main.no_predictions()
            raise no_layout_error(self.main.path, self.main.schema, self.label_cols)
        self._check_unique_names()
        self.group = self._group_column(opts.group_by) if opts.group_by else None
        if opts.on:
            for src in (self.main, self.label_source):
                if opts.on not in src.schema.names:
                    raise CEError(
                        f"{src.path}: join key column {opts.on!r} not found; the file "
                        f"has columns: {', '.join(src.schema.names)}"
                    )

    def _check_unique_names(self) -> None:
        """Every column read (or named by an option) has one name in its file."""
        opts = self.options
        named = [self.id_col, self.weight_col, self.mask_col, opts.on, opts.group_by]
        named += self.preds.names if self.preds else []
        main_named = named if self.labels else [*self.label_cols, *named]
        check_unique(self.main.schema.names, main_named, self.main.path)
        if self.labels is not None:
            check_unique(self.labels.schema.names, [*self.label_cols, *named], self.labels.path)

    def _group_column(self, name: str) -> GroupColumn:
        """The ``--group-by`` column: from the main file, else from the labels file."""
        for src, in_labels in ((self.main, False), (self.labels, True)):
            if src is not None and name in src.schema.names:
                check_group_type(name, src.schema.field(name).type, src.path)
                return GroupColumn(name, in_labels)
        sides = [s for s in (self.main, self.labels) if s is not None]
        note = getattr(self.main, "partition_note", None)
        raise CEError(
            f"--group-by {name}: no such column"
            + (f" ({note})" if note and f"{name}=" in note else "")
            + "; "
            + "; ".join(f"{s.path} has columns: {', '.join(s.schema.names)}" for s in sides)
        )

    def _either(self, spec: str | None, what: str) -> str | None:
        """A --weight-col / --mask-col from the main file, else from the labels file."""
        if not spec:
            return None
        if self.labels is not None and spec not in self.main.schema.names:
            return find_optional(self.labels.schema.names, spec, (), what, self.labels.path)
        return find_optional(self.main.schema.names, spec, (), what, self.main.path)

    def _main_columns(self) -> list[str]:
        wanted: list[str] = []
        if self.labels is None:
            wanted += self.label_cols
        if self.read_preds and self.preds is not None:
            wanted += self.preds.names
            wanted += [self.hard_col] if self.hard_col else []
        for extra in (self.id_col, self.weight_col, self.mask_col, self.options.on):
            if extra is not None and extra in self.main.schema.names:  # "": pandas' index
                wanted.append(extra)
        if self.group is not None and not self.group.in_labels:
            wanted.append(self.group.name)
        return list(dict.fromkeys(wanted))

    def _default_batch_size(self) -> int:
        """Rows per batch for about BATCH_VALUES values of the columns read, a power of two
        from MIN_BATCH_ROWS to MAX_BATCH_ROWS (few columns: longer batches, less overhead),
        then at most MAX_BATCH_BYTES per batch (many classes: shorter batches, same memory)."""
        sides: list[tuple[Source | MultiSource, list[str], str]] = [
            (self.main, self._main_columns(), "main")
        ]
        if self.labels is not None:
            sides.append((self.labels, self._label_columns(), "labels"))
        types = [
            (src.schema.field(name).type, name)
            for src, wanted, side in sides
            for name in self._columns(wanted, side)[0]
        ]
        values = sum(_values_per_row(t) for t, _ in types)
        # K ≥ 2 label columns are decoded to one float64 (n, K) target: 8 bytes a value
        matrix = set(self.label_cols) if len(self.label_cols) > 1 else set()
        row_bytes = sum(
            _values_per_row(t) * (8 if name in matrix else _value_bytes(t)) for t, name in types
        )
        rows = _power_of_two_below(BATCH_VALUES // max(values, 1))
        rows = min(MAX_BATCH_ROWS, max(MIN_BATCH_ROWS, rows))
        by_bytes = _power_of_two_below(MAX_BATCH_BYTES // max(row_bytes, 1))
        if matrix:  # half the decoded bytes a batch of one int64 label per row would hold
            one_label = row_bytes - 8 * len(matrix) + 8
            by_bytes = min(by_bytes, _power_of_two_below(rows * one_label // (2 * row_bytes)))
        return max(MIN_WIDE_ROWS, min(rows, by_bytes))

    @property
    def batch_size(self) -> int:
        """Rows per record batch (``--batch-size``, else by the columns read)."""
        assert self.options.batch_size is not None
        return self.options.batch_size

    def main_reading(self) -> tuple[list[str], dict[str, pa.DataType] | None, list[str]]:
        """How the main file is read (for engines that read it elsewhere): its columns, the
        types forced at parse time (text formats), and the columns only ``--where`` needs
        (dropped after filtering)."""
        columns, where_only = self._columns(self._main_columns(), "main")
        return columns, self._forced_types(self.main, columns), where_only

    def _forced_types(
        self, src: Source | MultiSource, columns: list[str]
    ) -> dict[str, pa.DataType] | None:
        """Text formats: prediction and weight columns are parsed as float64 (else None)."""
        if src.format not in _TEXT_FORMATS:
            return None
        numeric_cols = list(self.preds.names) if self.preds and src is self.main else []
        numeric_cols += [c for c in (self.weight_col,) if c]
        types = {
            c: pa.float64()
            for c in numeric_cols
            if c in columns and not pa.types.is_list(src.schema.field(c).type)
        }
        return types or None

    def _columns(self, wanted: list[str], side: str) -> tuple[list[str], list[str]]:
        """The columns to read from one side: ``wanted`` and those only ``--where`` needs
        (the second list, dropped after filtering)."""
        if self.row_filter is None:
            return wanted, []
        extra = [c for c in self.row_filter.columns(side) if c not in wanted]
        return wanted + extra, extra

    def _label_columns(self) -> list[str]:
        assert self.labels is not None
        wanted = list(self.label_cols)
        if self.id_col and self.id_col in self.labels.schema.names and not self.options.on:
            wanted.append(self.id_col)  # to check that row-order alignment really lines up
        for extra in (self.weight_col, self.mask_col, self.options.on):
            if extra and extra in self.labels.schema.names and extra not in self.main.schema.names:
                wanted.append(extra)
        if self.options.on:
            wanted.append(self.options.on)
        if self.group is not None and self.group.in_labels:
            wanted.append(self.group.name)
        return list(dict.fromkeys(wanted))

    def _stream(self, src: Source | MultiSource, columns: list[str]) -> Iterator[pa.RecordBatch]:
        types = self._forced_types(src, columns)
        return src.batches(columns, self.batch_size, types, threads=self.options.threads)

    # ------------------------------------------------------------------ alignment
    def _aligned_pairs(
        self, main_cols: list[str], label_cols: list[str]
    ) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]:
        main = self._stream(self.main, main_cols)
        if self.labels is None:
            return ((rb, rb) for rb in main)
        if self.options.on:
            return self._joined(main, label_cols)
        return self._by_row_order(main, self._stream(self.labels, label_cols))

    def _by_row_order(
        self, main: Iterator[pa.RecordBatch], labels: Iterator[pa.RecordBatch]
    ) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]:
        """Both streams yield exact ``batch_size`` batches, so pairs line up until one ends."""
        assert self.labels is not None
        rows = 0
        for pair in itertools.zip_longest(main, labels):
            a, b = pair
            if a is None or b is None or a.num_rows != b.num_rows:
                n_main = (
                    rows
                    + sum(r.num_rows for r in ([a] if a else []))
                    + sum(r.num_rows for r in main)
                )
                n_labels = (
                    rows
                    + sum(r.num_rows for r in ([b] if b else []))
                    + sum(r.num_rows for r in labels)
                )
                raise CEError(
                    f"{self.main.path} has {n_main} rows but {self.labels.path} has {n_labels}; "
                    "row-order alignment needs the same rows in the same order (or join on a key "
                    "with --on KEY)"
                )
            if (
                self.id_col
                and self.id_col in b.schema.names
                and not a.column(self.id_col).equals(b.column(self.id_col))
            ):
                ida, idb = combine(a.column(self.id_col)), combine(b.column(self.id_col))
                r = next(i for i in range(len(ida)) if ida[i] != idb[i])
                raise CEError(
                    f"{self.main.path} and {self.labels.path} are not in the same row order: row "
                    f"{rows + r + 1} has {self.id_col} {ida[r].as_py()!r} in one and "
                    f"{idb[r].as_py()!r} in the other; pass --on {self.id_col} to join on it"
                )
            rows += a.num_rows
            yield a, b

    def _joined(
        self, main: Iterator[pa.RecordBatch], label_cols: list[str]
    ) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]:
        """Each main batch with the labels rows whose key matches, in the main file's order."""
        table, label_keys = self._label_table(label_cols)
        hits = np.zeros(len(label_keys), dtype=np.int64)  # main rows per label row
        for rb in main:
            where = self._key_positions(rb, label_keys, main)
            np.add.at(hits, numeric(where).astype(np.int64), 1)
            yield rb, table.take(where).combine_chunks().to_batches()[0]
        self._check_each_key_once(hits, label_keys)

    def _label_table(self, label_cols: list[str]) -> tuple[pa.Table, pa.Array]:
        """The labels file in memory and its join keys, which must be unique."""
        assert self.labels is not None and self.options.on
        key, lpath = self.options.on, self.labels.path
        batches = list(self._stream(self.labels, label_cols))
        if not batches:
            raise CEError(f"{lpath}: no data rows (the file has only a header or schema)")
        table = pa.Table.from_batches(batches)
        label_keys = _key_array(combine(table.column(key)), lpath, key)
        codes, values = _dictionary(label_keys)
        if len(values) != len(label_keys):
            counts = np.bincount(codes)
            dup = values[int(np.argmax(counts))]
            raise CEError(
                f"{lpath}: join key {key} has {int((counts > 1).sum())} duplicated "
                f"values (e.g. {dup!r} appears {counts.max()} times); keys must be unique"
            )
        return table, label_keys

    def _key_positions(
        self, rb: pa.RecordBatch, label_keys: pa.Array, rest: Iterator[pa.RecordBatch]
    ) -> pa.Array:
        """The labels row of each main row, by key; a key the labels lack is an error that
        counts such rows over the ``rest`` of the stream too."""
        assert self.labels is not None and self.options.on
        key, mpath = self.options.on, self.main.path

        def keys_of(batch: pa.RecordBatch) -> pa.Array:
            return _key_array(combine(batch.column(key)), mpath, key, like=label_keys.type)

        keys = keys_of(rb)
        where = pc.index_in(keys, value_set=label_keys)
        if where.null_count:
            missing = where.null_count + sum(
                pc.index_in(keys_of(r), value_set=label_keys).null_count for r in rest
            )
            first = keys[int(np.flatnonzero(numeric(pc.is_null(where)))[0])].as_py()
            raise CEError(
                f"{mpath}: {missing} rows have a {key} that is not in {self.labels.path} "
                f"(e.g. {first!r}); every row needs a label"
            )
        return where

    def _check_each_key_once(self, hits: np.ndarray, label_keys: pa.Array) -> None:
        """Every label row was matched by exactly one main row."""
        assert self.labels is not None and self.options.on
        key, lpath, mpath = self.options.on, self.labels.path, self.main.path
        if (hits > 1).any():
            dup = label_keys[int(np.flatnonzero(hits > 1)[0])].as_py()
            raise CEError(
                f"{mpath}: {int((hits > 1).sum())} {key} values appear more than once "
                f"(e.g. {dup!r}); keys must be unique to join on them"
            )
        if (hits == 0).any():
            unused = label_keys[int(np.flatnonzero(hits == 0)[0])].as_py()
            raise CEError(
                f"{lpath}: {int((hits == 0).sum())} rows have a {key} that is not in "
                f"{mpath} (e.g. {unused!r}); the two files must hold the same keys"
            )


def _check_names_are_text(src: Source | MultiSource) -> None:
    """Column names must be UTF-8 text (a CSV header of other bytes cannot name a column)."""
    try:
        src.schema.names  # noqa: B018 (decodes every name)
    except UnicodeDecodeError as err:
        raise CEError(
            f"{src.path}: the column names are not UTF-8 text (byte {err.object[err.start]:#x} "
            "in a name); save the file as UTF-8"
        ) from None


def _power_of_two_below(n: int) -> int:
    """The largest power of two <= n (1 for n < 1)."""
    return 1 << max(0, n.bit_length() - 1)


def _value_bytes(typ: pa.DataType) -> int:
    """Bytes of one value of ``typ`` (a list's values; 8 for strings and other variable widths)."""
    while pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        typ = typ.value_type
    if pa.types.is_dictionary(typ):
        typ = typ.index_type
    try:
        return max(1, typ.bit_width // 8)
    except ValueError:  # variable width (strings, binary): count a pointer-sized value
        return 8


def _values_per_row(typ: pa.DataType) -> int:
    if pa.types.is_fixed_size_list(typ):
        return int(typ.list_size)
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return LIST_VALUES
    return 1


def _count(
    pairs: Iterator[tuple[pa.RecordBatch, pa.RecordBatch]],
) -> Iterator[RawBatch]:
    row = 0
    for main_rb, label_rb in pairs:
        yield main_rb, label_rb, row
        row += main_rb.num_rows


def _key_array(arr: pa.Array, file: str, key: str, like: pa.DataType | None = None) -> pa.Array:
    if arr.null_count:
        first = int(np.flatnonzero(numeric(pc.is_null(arr)))[0])
        raise CEError(
            f"{file}: join key {key} has {arr.null_count} empty values (first at row "
            f"{first + 1}); every row needs a key"
        )
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if like is not None and arr.type != like:
        arr = (
            pc.cast(pc.cast(arr, pa.string()), like)
            if pa.types.is_string(like)
            else pc.cast(arr, like, safe=True)
        )
    return arr


def _dictionary(arr: pa.Array) -> tuple[np.ndarray, list[object]]:
    encoded = pc.dictionary_encode(arr)
    return numeric(encoded.indices).astype(np.int64), encoded.dictionary.to_pylist()


def _pandas_index(schema: pa.Schema) -> str | None:
    """The column holding a stored pandas index (``df.to_parquet()`` of a frame whose index is
    not a plain 0…N-1 range), used as the row id when no id column is named or found."""
    try:
        meta = schema.pandas_metadata or {}
    except (AttributeError, ValueError):
        return None
    stored = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
    return stored[0] if len(stored) == 1 and stored[0] in schema.names else None
