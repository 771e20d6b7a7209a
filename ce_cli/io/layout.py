"""Decide once — from the schema, the options and the first batch — what the labels mean.

The ``Layout`` fixes the label encoding, the class set, the task and the target kind before the
stream is read, and then turns every record batch into a ``Batch``. A later batch that
contradicts the decision is an error, never a silent change of meaning.

Class set, first that applies:
  1. ``--classes a,b,c`` (``--num-classes K`` must agree);
  2. ``--num-classes K``: classes named ``0`` … ``K-1``;
  3. the suffixes of the prediction columns (``prob_cat`` → ``cat``); the names of columns named
     as the classes (``0 … 9``, ``malignant, benign``: kept when the first batch's labels name
     them, ``confirm_preds``); the number of ``--pred-cols`` columns (integer labels); or the
     length of a list prediction column;
  4. the suffixes of multi-hot / soft label columns (``label_cat`` → ``cat``);
  5. the labels seen: integers are class indices, so the classes are ``0`` … ``max`` (bounded:
     see ``MIN_OPEN_CLASSES``; a larger label needs ``--num-classes`` or ``--classes``);
     strings and booleans are sorted (``False`` < ``True``; strings by code point), so the
     order never depends on row order, chunking or shards.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from ce_cli.core.errors import CEError
from ce_cli.core.limits import MAX_CLASSES
from ce_cli.core.vocab import TASKS
from ce_cli.io.batch import Batch
from ce_cli.io.blocks import column_block
from ce_cli.io.columns import (
    PredColumns,
    class_named_candidates,
    find_hard_preds,
    find_preds,
    is_index_name,
    show_column,
    show_columns,
    strip_prefix,
)
from ce_cli.io.compute import pc
from ce_cli.io.convert import combine, dictionary_codes, is_numeric, list_offsets, numeric
from ce_cli.io.ids import IdColumn

SOFT_SUM_TOLERANCE = 1e-6  # per class: |Σ_c t_c − 1| ≤ 1e-6·C counts as "sums to 1"
# Integer labels with no class list: label v at input row r (1-based) may imply v + 1 classes
# up to min(MAX_OPEN_CLASSES, max(MIN_OPEN_CLASSES, OPEN_CLASSES_PER_ROW · r)); more needs
# --num-classes or --classes (a label of 999999999 in a 2-row file must not size an array).
MIN_OPEN_CLASSES = 65536
OPEN_CLASSES_PER_ROW = 16
MAX_OPEN_CLASSES = 1 << 20


@dataclass(frozen=True)
class LabelOptions:
    """What the user said about labels and classes."""

    task: str | None = None
    classes: tuple[str, ...] | None = None
    num_classes: int | None = None
    ignore_index: int | None = -100
    label_offset: int = 0  # subtracted from integer labels (1-based labels: 1)


@dataclass(frozen=True)
class Layout:
    """The decisions: columns, encoding, class set, task. Built whole by ``decide_layout``."""

    label_file: str
    label_cols: list[str]
    encoding: str  # int | string | bool | multi-hot | one-hot | soft | list-names | list-hot
    target_kind: str  # index | multi-hot | soft
    classes: tuple[str, ...] | None  # None: open set, discovered from the labels
    task: str | None  # None only while the class set is open
    ignore_index: int | None
    preds: PredColumns | None = None
    pred_file: str = ""
    pred_list_len: int | None = None  # preds in one list column of this length
    weight_col: str | None = None
    mask_col: str | None = None
    id_col: str | None = None
    notes: list[str] = field(default_factory=list)  # how each decision was made, for the report
    # Integer labels whose class names are integers (logit_1 … logit_5): label value → index.
    int_names: dict[int, int] | None = None
    label_offset: int = 0  # subtracted from integer labels after --ignore-index is applied
    hard_col: str | None = None  # y_pred: hard predictions, counted against the argmax

    @property
    def n_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)

    # ------------------------------------------------------------------ per batch
    def to_batch(
        self, main: pa.RecordBatch, labels: pa.RecordBatch, row_start: int, *, read_preds: bool
    ) -> Batch:
        """Decode one aligned pair of record batches (``labels`` is ``main`` without --labels)."""
        n = main.num_rows
        target, codes, values, ignored = self._decode_labels(labels, row_start)
        valid = ~ignored
        n_ignored = int(ignored.sum())
        n_masked = 0
        if self.mask_col is not None:
            mask = (
                _numeric_column(
                    _column(main, labels, self.mask_col), self.mask_col, self.label_file, row_start
                )
                != 0
            )
            n_masked = int((valid & ~mask).sum())
            valid &= mask
        weight = None
        if self.weight_col is not None:
            weight = _numeric_column(
                _column(main, labels, self.weight_col), self.weight_col, self.label_file, row_start
            ).astype(np.float64)
            bad = np.flatnonzero(~np.isfinite(weight) | (weight < 0))
            if bad.size:
                raise CEError(
                    f"{self.label_file}: column {self.weight_col} has {bad.size} negative or "
                    f"non-finite sample weights (first at row {row_start + bad[0] + 1}: "
                    f"{weight[bad[0]]}); sample weights must be finite and >= 0"
                )
        preds = self._decode_preds(main, row_start) if read_preds and self.preds else None
        ids = IdColumn(_column(main, labels, self.id_col)) if self.id_col is not None else None
        hard = None
        if read_preds and self.hard_col is not None and self.hard_col in main.schema.names:
            hard = _hard_index(self, combine(main.column(self.hard_col)))
        return Batch(
            n,
            row_start,
            target,
            valid,
            n_ignored,
            n_masked,
            preds,
            weight,
            ids,
            codes,
            values,
            hard,
        )

    def _decode_labels(
        self, rb: pa.RecordBatch, row_start: int
    ) -> tuple[np.ndarray | None, np.ndarray | None, list[object] | None, np.ndarray]:
        """(target, open-set codes, open-set values, ignored mask)."""
        n = rb.num_rows
        no_ignore = np.zeros(n, dtype=bool)
        if self.encoding in ("multi-hot", "one-hot", "soft"):
            matrix = _label_matrix(rb, self.label_cols, self.label_file, row_start)
            if self.encoding != "soft":
                _check_binary_values(matrix, self.label_cols, self.label_file, row_start)
            if self.encoding == "one-hot":
                return _one_hot_to_index(matrix, self.label_file, row_start), None, None, no_ignore
            # one conversion of the whole (n, K) block; astype keeps its column-major order
            return matrix.astype(np.float64, copy=False), None, None, no_ignore
        col = self.label_cols[0]
        arr = combine(rb.column(col))
        _check_no_nulls(arr, col, self.label_file, row_start, what="label")
        if self.encoding in ("list-names", "list-hot"):
            return self._decode_list(arr, row_start), None, None, no_ignore
        if self.encoding == "string" and self.classes is None:
            codes, values = dictionary_codes(arr)
            return None, codes, values, no_ignore
        if self.encoding == "string":
            codes, values = dictionary_codes(arr)
            return self._names_to_index(codes, values, row_start), None, None, no_ignore
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        labels = _integer_labels(arr, col, self.label_file, row_start)
        low, high = _span(labels)
        ignored = no_ignore
        if self.ignore_index is not None and low <= self.ignore_index <= high:
            ignored = labels == self.ignore_index
        if self.label_offset:
            labels = labels.astype(np.int64) - self.label_offset
        return self._ints_to_index(labels, ignored, row_start), None, None, ignored

    def _ints_to_index(self, labels: np.ndarray, ignored: np.ndarray, row_start: int) -> np.ndarray:
        """Class positions (int64, a new array) of integer labels; ignored rows become 0."""
        if self.int_names is not None:
            index = self._lookup_int_names(labels)
        else:
            index = labels.astype(np.int64)
        limit = self.n_classes
        low, high = _span(index)
        if limit is None and high >= MIN_OPEN_CLASSES:
            self._check_open_classes(labels, index, ignored, row_start)
        if low < 0 or (limit is not None and high >= limit):  # no class, unless ignored
            bad = ~ignored & ((index < 0) | (index >= limit if limit is not None else False))
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                shown = (
                    ", ".join(self.classes)
                    if self.classes and len(self.classes) <= 12
                    else (f"0 … {limit - 1}" if limit else "")
                )
                raise CEError(
                    f"{self.label_file}: column {self.label_cols[0]} has {int(bad.sum())} "
                    f"labels outside the class set (first at row {row_start + r + 1}: "
                    f"{labels[r]}); classes are [{shown}]; pass --num-classes or --classes with "
                    "every class"
                    + (
                        f", or --ignore-index {labels[r]} to leave such rows out"
                        if labels[r] < 0
                        else ""
                    )
                    + (
                        "; labels 1 … C look 1-based: pass --label-offset 1"
                        if limit is not None
                        and labels[r] == limit
                        and not self.label_offset
                        and int(index[~ignored].min()) >= 1
                        else ""
                    )
                )
        if ignored.any():
            index[ignored] = 0
        return index

    def _check_open_classes(
        self, labels: np.ndarray, index: np.ndarray, ignored: np.ndarray, row_start: int
    ) -> None:
        """With no class list, label v at 1-based input row r may imply v + 1 classes only up
        to min(MAX_OPEN_CLASSES, max(MIN_OPEN_CLASSES, OPEN_CLASSES_PER_ROW · r)): the counts
        array grows to the largest label, so the data alone must not size it."""
        rows = row_start + np.arange(index.size) + 1
        allowed = np.minimum(
            MAX_OPEN_CLASSES, np.maximum(MIN_OPEN_CLASSES, OPEN_CLASSES_PER_ROW * rows)
        )
        bad = ~ignored & (index >= allowed)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise CEError(
                f"{self.label_file}: column {self.label_cols[0]} has label {labels[r]} at row "
                f"{rows[r]}, which implies {int(labels[r]) + 1} classes, more than the "
                f"{allowed[r]} allowed there without a class list; pass --num-classes K "
                "(labels 0 … K-1) or --classes with every class"
            )

    def _lookup_int_names(self, labels: np.ndarray) -> np.ndarray:
        """Integer labels → class positions by the classes' integer names (-1: not a class)."""
        assert self.int_names is not None
        values = np.array(sorted(self.int_names), dtype=np.int64)
        positions = np.array([self.int_names[v] for v in values.tolist()], dtype=np.int64)
        if np.array_equal(values, positions):  # names 0 … C-1 in order: the identity
            return labels.astype(np.int64, copy=True)
        where = np.clip(np.searchsorted(values, labels), 0, values.size - 1)
        return np.where(values[where] == labels, positions[where], -1)

    def _names_to_index(
        self, codes: np.ndarray, values: list[object], row_start: int
    ) -> np.ndarray:
        assert self.classes is not None
        position = {name: i for i, name in enumerate(self.classes)}
        lookup = np.array([position.get(str(v), -1) for v in values], dtype=np.int64)
        index = lookup[codes] if lookup.size else codes
        if (index < 0).any():
            r = int(np.flatnonzero(index < 0)[0])
            unknown = sorted({str(v) for v in values} - set(self.classes))
            raise CEError(
                f"{self.label_file}: column {self.label_cols[0]} has label {unknown[0]!r} "
                f"(first at row {row_start + r + 1}) that is not a class "
                f"({', '.join(self.classes)}); pass --classes with every class name"
            )
        return index

    def _decode_list(self, arr: pa.Array, row_start: int) -> np.ndarray:
        """Multi-label targets from a list column: class names / indices, or a 0/1 vector."""
        assert self.classes is not None
        n, c = len(arr), len(self.classes)
        offsets = list_offsets(arr)
        flat = arr.flatten()
        if self.encoding == "list-hot":
            if not np.all(np.diff(offsets) == c):
                r = int(np.flatnonzero(np.diff(offsets) != c)[0])
                raise CEError(
                    f"{self.label_file}: column {self.label_cols[0]} row {row_start + r + 1} has "
                    f"{offsets[r + 1] - offsets[r]} entries; every row needs {c} (one per class)"
                )
            matrix = _numeric_column(flat, self.label_cols[0], self.label_file, row_start)
            matrix = matrix.astype(np.float64).reshape(n, c)
            _check_binary_values(matrix, self.label_cols, self.label_file, row_start)
            return matrix
        rows = np.repeat(np.arange(n), np.diff(offsets))
        if (
            pa.types.is_string(flat.type)
            or pa.types.is_large_string(flat.type)
            or pa.types.is_dictionary(flat.type)
        ):
            codes, values = dictionary_codes(flat)
            cols = self._names_to_index(codes, values, row_start) if len(flat) else codes
        else:
            ints = _integer_labels(flat, self.label_cols[0], self.label_file, row_start)
            cols = self._ints_to_index(ints, np.zeros(len(ints), dtype=bool), row_start)
        matrix = np.zeros((n, c), dtype=np.float64)
        matrix[rows, cols] = 1.0
        return matrix

    def _decode_preds(self, rb: pa.RecordBatch, row_start: int) -> np.ndarray:
        assert self.preds is not None
        if self.pred_list_len is not None:
            name = self.preds.names[0]
            arr = combine(rb.column(name))
            _check_no_nulls(arr, name, self.pred_file, row_start, what="prediction")
            offsets = list_offsets(arr)
            lengths = np.diff(offsets)
            if not np.all(lengths == self.pred_list_len):
                r = int(np.flatnonzero(lengths != self.pred_list_len)[0])
                raise CEError(
                    f"{self.pred_file}: column {name} row {row_start + r + 1} has {lengths[r]} "
                    f"values; the first row had {self.pred_list_len} (one per class)"
                )
            flat = _prediction_column(arr.flatten(), name, self.pred_file)
            return flat.reshape(len(arr), self.pred_list_len)
        # Columns the reader laid out one after another (io/blocks.py) are viewed, not copied.
        block = column_block([rb.column(name) for name in self.preds.names])
        if block is not None:
            return block
        # Stack columns along axis 0 and transpose: an F-ordered (n, K) view, ~10× cheaper
        # than building a C-ordered matrix (DESIGN.md, measured facts). Empty cells become NaN:
        # the scorer decides what invalid predictions mean (--on-invalid).
        cols = [
            _prediction_column(rb.column(name), name, self.pred_file) for name in self.preds.names
        ]
        return np.stack(cols, axis=0).T


# ---------------------------------------------------------------------- decisions
@dataclass(frozen=True)
class LayoutRequest:
    """What ``decide_layout`` looks at: the columns found, the files' schemas, the first batch
    of each side, the user's label options and how the reader read the input."""

    label_file: str
    label_schema: pa.Schema
    label_cols: list[str]
    first_labels: pa.RecordBatch
    preds: PredColumns | None
    pred_file: str
    pred_schema: pa.Schema
    first_main: pa.RecordBatch
    options: LabelOptions = field(default_factory=LabelOptions)
    weight_col: str | None = None
    mask_col: str | None = None
    id_col: str | None = None
    reader_notes: tuple[str, ...] = ()  # partitions, --where: appended to the layout's notes
    hard_col: str | None = None  # y_pred: hard predictions, checked against the argmax
    id_from_index: bool = False  # id_col is pandas' index, found by name or metadata
    preds_required: bool = True  # ce score: class-named columns the labels do not name are an error


def decide_layout(request: LayoutRequest) -> Layout:
    """Fix encoding, class set and task from the schema, the options and the first batch.

    Named steps, in order: prediction columns (a list column's length) → classes the options
    or prediction columns give → label encoding → label columns (a ``label_*`` group) → the
    class set → task → target kind. The ``Layout`` is built once, whole.
    """
    notes: list[str] = []
    request = replace(request, preds=confirm_preds(request, notes))
    pred_list_len = _pred_list_len(request)
    classes = _given_classes(request, pred_list_len, notes)
    encoding = _label_encoding(
        request.label_schema, request.label_cols, request.first_labels, classes, request.label_file
    )
    label_cols, classes = _label_columns(request, classes, notes)
    classes, int_names = _class_set(request, encoding, classes, pred_list_len, notes)
    if encoding == "int":
        check_one_based(request, classes, int_names, notes)
    task, encoding, target_kind = _task_and_target(request, encoding, classes, notes)
    layout = Layout(
        request.label_file,
        label_cols,
        encoding,
        target_kind,
        classes,
        task,
        request.options.ignore_index,
        request.preds,
        request.pred_file,
        pred_list_len,
        request.weight_col,
        request.mask_col,
        index_id(request, notes),
        notes=[*notes, *request.reader_notes],
        int_names=int_names,
        label_offset=request.options.label_offset,
        hard_col=hard_col(request, classes, pred_list_len),
    )
    return layout


def _pred_list_len(request: LayoutRequest) -> int | None:
    """The length of the one list prediction column (a fixed-size list type, else the first
    row), or None for scalar prediction columns."""
    preds = request.preds
    if preds is None or len(preds.names) != 1:
        return None
    pred_type = request.pred_schema.field(preds.names[0]).type
    if not _is_list(pred_type):
        return None
    if pa.types.is_fixed_size_list(pred_type):
        return int(pred_type.list_size)
    if preds.names[0] not in request.first_main.schema.names:
        return None
    lengths = np.diff(list_offsets(combine(request.first_main.column(preds.names[0]))))
    return int(lengths[0]) if lengths.size else None


def _given_classes(
    request: LayoutRequest, pred_list_len: int | None, notes: list[str]
) -> tuple[str, ...] | None:
    """Classes from ``--classes``/``--num-classes``, else from the prediction columns."""
    classes = _classes_from_options(request.options, request.label_file)
    preds = request.preds
    if classes is not None:
        notes.append("classes from --classes/--num-classes")
    elif preds is not None and preds.class_names is not None and len(preds.names) >= 2:
        classes = preds.class_names
        if preds.prefix is not None:
            notes.append(f"classes from the prediction columns {preds.prefix}*")
    elif preds is not None and pred_list_len is not None:
        classes = tuple(str(i) for i in range(pred_list_len))
        notes.append(f"{pred_list_len} classes from the length of list column {preds.names[0]}")
    elif preds is not None and len(preds.names) == 1:
        notes.append(f"one prediction column ({preds.names[0]}): binary")
    return classes


def _label_columns(
    request: LayoutRequest, classes: tuple[str, ...] | None, notes: list[str]
) -> tuple[list[str], tuple[str, ...] | None]:
    """A ``label_*`` group names the classes (when nothing else did) and is put in the class
    order; a single label column is kept as it is."""
    label_cols, file = request.label_cols, request.label_file
    if len(label_cols) < 2:
        return label_cols, classes
    stripped = strip_prefix(label_cols)
    label_names = stripped[1] if stripped else tuple(label_cols)
    if classes is None:
        notes.append("classes from the label column names")
        return label_cols, label_names
    if len(classes) != len(label_names):
        raise CEError(
            f"{file}: {len(label_cols)} label columns ({', '.join(label_cols)}) but "
            f"{len(classes)} classes ({', '.join(classes)}); they must match one to one"
        )
    if set(label_names) == set(classes) and label_names != classes:
        by_name = dict(zip(label_names, label_cols, strict=True))
        notes.append("label columns reordered to the prediction columns' class order")
        return [by_name[c] for c in classes], classes
    return label_cols, classes


def _class_set(
    request: LayoutRequest,
    encoding: str,
    classes: tuple[str, ...] | None,
    pred_list_len: int | None,
    notes: list[str],
) -> tuple[tuple[str, ...] | None, dict[int, int] | None]:
    """(classes, integer names): the defaults booleans and one binary column imply, and the map
    from integer labels to the integer-named prediction columns (``logit_1`` … ``logit_5``)."""
    preds = request.preds
    if encoding == "list-names" and classes is None:
        raise CEError(
            f"{request.label_file}: column {request.label_cols[0]} holds lists of labels but the "
            "class set is unknown; pass --classes a,b,c (or --num-classes K for integer labels)"
        )
    int_names = None
    named = preds is not None and preds.class_names is not None
    if encoding == "int" and classes is not None and named and all(map(_is_int, classes)):
        int_names = {int(c): i for i, c in enumerate(classes)}
        notes.append("integer labels matched to the integer suffixes of the prediction columns")
    if encoding == "bool" and classes is None:
        classes = ("False", "True")
    one_binary_column = preds is not None and len(preds.names) == 1 and pred_list_len is None
    if encoding == "int" and classes is None and one_binary_column:
        classes = ("0", "1")
    return classes, int_names


def _task_and_target(
    request: LayoutRequest, encoding: str, classes: tuple[str, ...] | None, notes: list[str]
) -> tuple[str | None, str, str]:
    """(task, encoding, target kind); ``--task binary/multiclass`` reads one-hot label columns
    as class indices."""
    target_kind = _TARGET_KINDS.get(encoding, "index")
    requested, file, label_cols = request.options.task, request.label_file, request.label_cols
    task = _decide_task(target_kind, classes, requested, file, label_cols)
    if task in ("binary", "multiclass") and target_kind == "multi-hot":
        if encoding != "multi-hot":
            raise CEError(
                f"{file}: --task {task} needs one label per row, "
                f"but column {label_cols[0]} holds lists"
            )
        encoding, target_kind = "one-hot", "index"
        notes.append(f"one-hot label columns read as class indices (--task {task})")
    if requested:
        notes.append(f"task from --task {requested}")
    return task, encoding, target_kind


_TARGET_KINDS = {
    "multi-hot": "multi-hot",
    "list-names": "multi-hot",
    "list-hot": "multi-hot",
    "soft": "soft",
}  # by label encoding; any other encoding is "index"


def finalize_task(layout: Layout, n_classes: int) -> str:
    """The task once the class set is final (an open set is only known after counting)."""
    if layout.task == "binary" and n_classes > 2:
        raise CEError(f"{layout.label_file}: --task binary but there are {n_classes} classes")
    if layout.task is not None:
        return layout.task
    if layout.target_kind == "multi-hot":
        return "multilabel"
    return "binary" if n_classes <= 2 else "multiclass"


def _decide_task(
    target_kind: str,
    classes: tuple[str, ...] | None,
    requested: str | None,
    file: str,
    label_cols: list[str],
) -> str | None:
    if requested is not None and requested not in TASKS:
        raise CEError(f"--task must be one of {', '.join(TASKS)}, not {requested!r}")
    if requested == "multilabel":
        if target_kind != "multi-hot":
            raise CEError(
                f"{file}: --task multilabel needs multi-hot label columns (label_*) or a list "
                f"column, but {', '.join(label_cols)} holds one label per row"
            )
        return requested
    if requested == "binary" and classes is not None and len(classes) > 2:
        raise CEError(
            f"{file}: --task binary but there are {len(classes)} classes "
            f"({', '.join(classes[:6])}{' …' if len(classes) > 6 else ''})"
        )
    if requested is not None:
        return requested
    if target_kind == "multi-hot":
        return "multilabel"
    if classes is None:
        return None
    return "binary" if len(classes) <= 2 else "multiclass"


def _classes_from_options(options: LabelOptions, file: str) -> tuple[str, ...] | None:
    if options.classes is not None:
        classes = tuple(options.classes)
        if len(set(classes)) != len(classes):
            dup = next(c for c in classes if classes.count(c) > 1)
            raise CEError(f"--classes names {dup!r} twice")
        if options.num_classes is not None and options.num_classes != len(classes):
            raise CEError(
                f"--num-classes {options.num_classes} disagrees with --classes, "
                f"which names {len(classes)} classes"
            )
        return classes
    if options.num_classes is not None:
        if not 1 <= options.num_classes <= MAX_CLASSES:
            raise CEError(f"--num-classes must be in 1 … {MAX_CLASSES}, not {options.num_classes}")
        return tuple(str(i) for i in range(options.num_classes))
    return None


def _label_encoding(
    schema: pa.Schema,
    cols: list[str],
    first: pa.RecordBatch,
    classes: tuple[str, ...] | None,
    file: str,
) -> str:
    """int | string | bool | multi-hot | soft | list-names | list-hot, from types and values."""
    if len(cols) >= 2:
        return _columns_encoding(schema, cols, first, file)
    dtype = schema.field(cols[0]).type
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
        return "int"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "string"
    if _is_list(dtype):
        return _list_encoding(dtype, combine(first.column(cols[0])), classes)
    raise CEError(
        f"{file}: label column {cols[0]} has type {dtype}, which is not a label "
        "(expected integers, strings, booleans or a list)"
    )


def _columns_encoding(schema: pa.Schema, cols: list[str], first: pa.RecordBatch, file: str) -> str:
    """multi-hot (every value 0/1) or soft (rows sum to 1 within C·SOFT_SUM_TOLERANCE) for a
    group of label columns, by the first batch."""
    for name in cols:
        if not is_numeric(schema.field(name).type):
            raise CEError(
                f"{file}: label column {name} has type {schema.field(name).type}; "
                "multi-label columns must hold 0/1 (or class probabilities)"
            )
    if first.num_rows == 0:
        return "multi-hot"
    matrix = np.stack([numeric(first.column(c)).astype(np.float64) for c in cols], axis=1)
    finite = matrix[np.isfinite(matrix)]
    if np.all((finite == 0) | (finite == 1)):
        return "multi-hot"
    sums = matrix.sum(axis=1)
    off = (np.abs(sums - 1) > SOFT_SUM_TOLERANCE * len(cols)) | (matrix < 0).any(axis=1)
    # A NaN row is neither: decoding names its column and row ("has 1 NaN values").
    if not off.any():
        return "soft"
    r = int(np.flatnonzero(off)[0])
    raise CEError(
        f"{file}: label columns {cols[0]} … {cols[-1]} are neither 0/1 (multi-label) nor "
        f"class probabilities summing to 1 (row {r + 1} sums to {sums[r]:.6g}, smallest "
        f"value {matrix[r].min():.6g}); fix the labels or pass the right --label-col"
    )


def _list_encoding(dtype: pa.DataType, first: pa.Array, classes: tuple[str, ...] | None) -> str:
    """list-hot (rows of one 0/1 per class, of one fixed length ≥ 2) or list-names (class names
    or indices), by the first batch."""
    value_type = dtype.value_type
    if pa.types.is_string(value_type) or pa.types.is_large_string(value_type):
        return "list-names"
    lengths = np.diff(list_offsets(first))
    values = numeric(first.flatten()) if is_numeric(value_type) else np.array([])
    fixed = lengths.size > 0 and np.all(lengths == lengths[0]) and lengths[0] >= 2
    zero_one = np.all((values == 0) | (values == 1))
    if fixed and zero_one and (classes is None or lengths[0] == len(classes)):
        return "list-hot"
    return "list-names"


# ---------------------------------------------------------------------- the files people write
def resolve_preds(
    schema: pa.Schema,
    candidates: list[str],
    spec: str | None,
    file: str,
    used: list[str | None],
) -> tuple[PredColumns | None, str | None]:
    """(prediction columns, hard-prediction column): the conventions (``columns.find_preds``),
    else two or more numeric columns that may be named as the classes (``confirm_preds``
    keeps those the labels name)."""
    preds = find_preds(candidates, spec, file)
    if spec is None and (preds is None or preds.found_as == "hard"):
        types = dict(zip(schema.names, schema.types, strict=True))
        named = [c for c in class_named_candidates(candidates, used) if _is_score(types[c])]
        if len(named) >= 2:
            preds = PredColumns(tuple(named), None, None, "class-names")
    return preds, find_hard_preds(candidates, preds)


def confirm_preds(request: LayoutRequest, notes: list[str]) -> PredColumns | None:
    """Columns named as the classes (``0 … 9``, ``malignant, benign``) are prediction columns
    when the labels' values (or ``--classes``) name them; ``--pred-cols`` without a common
    prefix and integer labels: as many classes as columns; ``y_pred`` alone: hard predictions,
    an error (a loss needs scores) unless it holds fractions."""
    preds = request.preds
    if preds is None or preds.found_as == "hard":
        return _hard_only(request, preds, notes)
    if preds.found_as not in ("class-names", "option") or len(preds.names) < 2:
        return preds
    given = _classes_from_options(request.options, request.label_file)
    if given is not None:
        return _named_by_option(request, preds, given, notes)
    kind, values = _first_label_values(request)
    names = preds.names
    if preds.found_as == "class-names":
        names = tuple(c for c in names if (_is_int(c) if kind == "int" else c in values))
    if len(names) >= 2 and values and set(values) <= set(names) and _covers(request, names, values):
        notes.append(
            f"classes from the names of the prediction columns {_few(names)} (the labels of "
            f"column {request.label_cols[0]} name them)"
        )
        return PredColumns(names, None, names, preds.found_as)
    if kind == "int" and preds.found_as == "option":
        k = len(names)
        notes.append(
            f"{k} classes from the {k} --pred-cols columns (integer labels 0 … {k - 1} index "
            "them in order)"
        )
        return PredColumns(names, None, tuple(map(str, range(k))), "option")
    _check_shifted(request, kind, values, names)
    if preds.found_as == "class-names":
        if not request.preds_required:
            return None
        saw = f"{kind} labels {_few(values)}" if values else f"labels of type {kind}"
        raise no_layout_error(
            request.pred_file,
            request.pred_schema,
            request.label_cols,
            f"(column {request.label_cols[0]} holds {saw}, which name no set of columns)",
        )
    raise CEError(
        f"{request.label_file}: the {kind} labels of column {request.label_cols[0]} "
        f"({_few(values)}) are not the names of the {len(names)} --pred-cols columns "
        f"({_few(names)}); pass --classes with the class of each column, in column order"
    )


def _covers(request: LayoutRequest, names: tuple[str, ...], values: list[str]) -> bool:
    """Columns named as the classes are the classes when the first batch's labels name every
    one, or (a class absent there) when they hold probabilities: rows summing to 1. So a
    feature frame with columns ``0 … 99`` and labels ``0 … 9`` is not read as 100 classes."""
    if len(set(values)) == len(names) or request.preds is None:
        return True
    if request.preds.found_as != "class-names":
        return True  # --pred-cols: the user named them
    if any(n not in request.first_main.schema.names for n in names):
        return False
    rows = np.stack([numeric(combine(request.first_main.column(n))) for n in names], axis=1)
    sums = rows.astype(np.float64).sum(axis=1)
    return bool(np.all(np.abs(sums - 1) <= SOFT_SUM_TOLERANCE * len(names)))


def _named_by_option(
    request: LayoutRequest, preds: PredColumns, given: tuple[str, ...], notes: list[str]
) -> PredColumns | None:
    """``--classes`` with columns named as the classes: put the columns in its order."""
    names = preds.names
    if set(given) <= set(names) and (preds.found_as == "class-names" or set(given) == set(names)):
        if tuple(names) != given:
            notes.append("prediction columns taken in the --classes order")
        notes.append("prediction columns named as the classes (--classes)")
        return PredColumns(given, None, given, preds.found_as)
    if preds.found_as == "option":
        return preds  # --classes names the --pred-cols columns in their order
    if not request.preds_required:
        return None
    raise no_layout_error(
        request.pred_file,
        request.pred_schema,
        request.label_cols,
        f"(--classes {_few(given)} names no set of columns)",
    )


def _hard_only(
    request: LayoutRequest, preds: PredColumns | None, notes: list[str]
) -> PredColumns | None:
    """``y_pred`` as the only prediction column: scores when it holds fractions, else hard
    predictions — an error for ``ce score`` (a loss needs scores), none for ``ce weights``."""
    if preds is None or preds.names[0] not in request.first_main.schema.names:
        return None  # ce weights reads no prediction column
    name = preds.names[0]
    arr = combine(request.first_main.column(name))
    if pa.types.is_floating(arr.type):
        values = numeric(pc.drop_null(arr))
        if values.size and not np.all(values == np.round(values)):
            notes.append(f"column {name} holds fractions: read as scores")
            return PredColumns(preds.names, None, None, "single")
    if not request.preds_required:
        return None
    values = pc.unique(pc.drop_null(arr)).to_pylist()
    shown = _few([f"{v:g}" if isinstance(v, float) else str(v) for v in values])
    raise CEError(
        f"{request.pred_file}: column {name} holds hard predictions (class ids or names: "
        f"{shown}), not scores, and a loss needs scores; write model.predict_proba(X) (as "
        "proba_<class> columns) or decision_function(X) beside it, or pass --pred-cols with "
        "the score columns"
    )


def _first_label_values(request: LayoutRequest) -> tuple[str, list[str]]:
    """(int | string | other, the distinct values as text) of a single label column in the
    first batch; integers without ``--ignore-index`` and after ``--label-offset``."""
    if len(request.label_cols) != 1:
        return "other", []
    name = request.label_cols[0]
    arr = combine(request.first_labels.column(name))
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.null_count:
        return "other", []  # decoding names the row
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return "string", sorted(str(v) for v in pc.unique(arr).to_pylist())
    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        return "other", []
    ints = np.sort(_integer_labels(arr, name, request.label_file, 0))
    if ints.size:  # distinct values (np.unique would import numpy.ma: ~10-30 ms at start-up)
        ints = ints[np.concatenate(([True], ints[1:] != ints[:-1]))]
    if request.options.ignore_index is not None:
        ints = ints[ints != request.options.ignore_index]
    return "int", [str(int(v) - request.options.label_offset) for v in ints]


def check_one_based(
    request: LayoutRequest,
    classes: tuple[str, ...] | None,
    int_names: dict[int, int] | None,
    notes: list[str],
) -> None:
    """Integer labels 1 … C (none at 0) with C prediction columns for classes 0 … C-1: the
    labels are 1-based; say so, with the fix (never shift them silently)."""
    if request.preds is None or classes is None or len(classes) < 2:
        return
    if int_names is not None and any(k != v for k, v in int_names.items()):
        return
    kind, values = _first_label_values(request)
    if request.options.label_offset:
        notes.append(f"integer labels shifted by −{request.options.label_offset} (--label-offset)")
    elif kind == "int":
        _check_shifted(request, kind, values, classes)


def _check_shifted(
    request: LayoutRequest, kind: str, values: list[str], names: tuple[str, ...]
) -> None:
    ints = sorted(int(v) for v in values) if kind == "int" else []
    if request.options.label_offset or not ints or not all(map(_is_int, names)):
        return
    c = len(names)
    if ints[0] >= 1 and ints[-1] == c and [int(n) for n in names] == list(range(c)):
        raise CEError(
            f"{request.label_file}: column {request.label_cols[0]} holds labels {ints[0]} … "
            f"{c} with none at 0, but the {c} prediction columns are classes 0 … {c - 1}: the "
            "labels look 1-based; pass --label-offset 1"
        )


def index_id(request: LayoutRequest, notes: list[str]) -> str | None:
    """pandas' index column is the row id when its first batch's values are unique (a 0 … N-1
    range or a split's shuffled index); else it is not used."""
    col = request.id_col
    if col is None or not request.id_from_index:
        return col
    batch = request.first_main if col in request.first_main.schema.names else request.first_labels
    arr = combine(batch.column(col))
    shown = show_column(col)
    if arr.null_count or pc.count_distinct(arr).as_py() != len(arr):
        notes.append(f"pandas' index column {shown} is not the row id: its values repeat")
        return None
    ints = is_numeric(arr.type) and not pa.types.is_floating(arr.type)
    ranged = ints and np.array_equal(numeric(arr), np.arange(len(arr)))
    what = "a 0 … N-1 range" if ranged else "unique"
    notes.append(f"row id from pandas' index column {shown}: {what} in the first batch")
    return col


def hard_col(
    request: LayoutRequest, classes: tuple[str, ...] | None, pred_list_len: int | None
) -> str | None:
    """The hard-prediction column (``y_pred``) whose agreement with the argmax of the scores
    ``ce score`` counts over every row — when there are scalar score columns and a class set."""
    col = request.hard_col
    if col is None or request.preds is None or classes is None or pred_list_len is not None:
        return None
    return col if col in request.first_main.schema.names else None


def _hard_index(layout: Layout, arr: pa.Array) -> np.ndarray | None:
    """Class positions of hard predictions (-1: not a class), or None when they are not
    class ids or names."""
    assert layout.classes is not None
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar("", pa.string()) if pa.types.is_string(arr.type) else -1)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        position = {name: i for i, name in enumerate(layout.classes)}
        codes, values = dictionary_codes(arr)
        lookup = np.array([position.get(str(v), -1) for v in values], dtype=np.int64)
        return lookup[codes] if lookup.size else codes.astype(np.int64)
    if not is_numeric(arr.type) or pa.types.is_boolean(arr.type):
        return None
    floats = numeric(arr).astype(np.float64)
    if not np.all(floats == np.round(floats)):
        return None
    ints = floats.astype(np.int64) - layout.label_offset
    if layout.int_names is not None:
        ints = layout._lookup_int_names(ints)
    return np.where((ints >= 0) & (ints < len(layout.classes)), ints, -1)


def no_layout_error(file: str, schema: pa.Schema, label_cols: list[str], saw: str = "") -> CEError:
    """No prediction columns: one line naming the columns found (with their types) and the
    layouts that would work, each with the flag that selects it."""
    found = ", ".join(
        f"{show_column(n)} ({_type_word(t)})"
        for n, t in zip(schema.names, schema.types, strict=True)
    )
    scores = [
        n
        for n, t in zip(schema.names, schema.types, strict=True)
        if _is_score(t) and n not in label_cols and not is_index_name(n)
    ]
    cols = ",".join(scores[:4]) + (",…" if len(scores) > 4 else "") if scores else "A,B"
    return CEError(
        f"{file}: no prediction columns found {saw + ' ' if saw else ''}(looked for logit_*, "
        f"prob_*, proba_*, decision_function_*, … or columns named as the classes); the file "
        f"has columns: {found}; layouts that work: one score column per class, in class order: "
        f"--pred-cols {cols}; columns named as the classes: --classes {cols}; or name them "
        "logit_<class> / prob_<class> (no flag)"
    )


def _type_word(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return "string" if pa.types.is_large_string(t) else str(t)


def _is_score(t: pa.DataType) -> bool:
    return is_numeric(t) and not pa.types.is_boolean(t)


def _few(values: tuple[str, ...] | list[str], limit: int = 6) -> str:
    shown = show_columns(values[:limit])
    return shown + (f", … ({len(values)} in all)" if len(values) > limit else "")


# ---------------------------------------------------------------------- helpers
def _is_list(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_list(dtype)
        or pa.types.is_large_list(dtype)
        or pa.types.is_fixed_size_list(dtype)
    )


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _column(main: pa.RecordBatch, labels: pa.RecordBatch, name: str) -> pa.Array:
    """A column from the main file, else from the labels file."""
    if name in main.schema.names:
        return main.column(name)
    return labels.column(name)


def _check_no_nulls(arr: pa.Array, col: str, file: str, row_start: int, *, what: str) -> None:
    if arr.null_count:
        first = int(np.flatnonzero(numeric(pc.is_null(arr)))[0])
        raise CEError(
            f"{file}: column {col} has {arr.null_count} empty (null) {what} values (first at row "
            f"{row_start + first + 1}); fill or drop those rows"
        )


def _numeric_column(
    arr: pa.Array | pa.ChunkedArray, col: str, file: str, row_start: int
) -> np.ndarray:
    """A numeric column as numpy; nulls and NaN are errors naming the row."""
    arr = combine(arr)
    if not is_numeric(arr.type):
        raise CEError(f"{file}: column {col} has type {arr.type}, expected numbers")
    _check_no_nulls(arr, col, file, row_start, what="numeric")
    values = numeric(arr)
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        if nan.any():
            first = int(np.flatnonzero(nan)[0])
            raise CEError(
                f"{file}: column {col} has {int(nan.sum())} NaN values (first at row "
                f"{row_start + first + 1}); fill or drop those rows"
            )
    return values


def _prediction_column(arr: pa.Array | pa.ChunkedArray, col: str, file: str) -> np.ndarray:
    """A prediction column as numpy; empty (null) cells become NaN."""
    arr = combine(arr)
    if not is_numeric(arr.type) or pa.types.is_boolean(arr.type):
        raise CEError(
            f"{file}: prediction column {col} has type {arr.type}, expected numbers; "
            "pass the right --pred-cols"
        )
    if arr.null_count:
        if not pa.types.is_floating(arr.type):
            arr = pc.cast(arr, pa.float64())
        arr = pc.fill_null(arr, pa.scalar(float("nan"), arr.type))
    return numeric(arr)


def _span(values: np.ndarray) -> tuple[int, int]:
    """(min, max) of integers by two reductions, no temporaries; (0, -1) when empty."""
    return (int(values.min()), int(values.max())) if values.size else (0, -1)


def _integer_labels(arr: pa.Array, col: str, file: str, row_start: int) -> np.ndarray:
    """Class-index labels as integers: the column's own integer type (a view), or int64 from
    floats, which must be whole numbers (CSV "1.0" is class 1)."""
    values = _numeric_column(arr, col, file, row_start)
    if values.dtype.kind != "f":
        return values
    whole = values == np.round(values)
    if not whole.all():
        r = int(np.flatnonzero(~whole)[0])
        raise CEError(
            f"{file}: column {col} has non-integer label {values[r]} at row "
            f"{row_start + r + 1}; class labels must be integers or names "
            "(soft targets go in one column per class, label_*)"
        )
    huge = ~(np.abs(values) < 2.0**53)  # inf, or beyond exact float integers
    if huge.any():
        r = int(np.flatnonzero(huge)[0])
        raise CEError(
            f"{file}: column {col} has label {values[r]:g} at row {row_start + r + 1}, too "
            "large to be a class index; class labels must be integers 0 … C-1 or names"
        )
    return values.astype(np.int64)


def _label_matrix(rb: pa.RecordBatch, cols: list[str], file: str, row_start: int) -> np.ndarray:
    """Label columns as one (n, K) array of their common type, column-major: the columns are
    stacked as the rows of a (K, n) array (one contiguous copy each) and transposed."""
    values = [_numeric_column(rb.column(name), name, file, row_start) for name in cols]
    return np.stack(values, axis=0).T


def _check_binary_values(matrix: np.ndarray, cols: list[str], file: str, row_start: int) -> None:
    if matrix.dtype.kind in "biu":
        low, high = _span(matrix)
        if low >= 0 and high <= 1:
            return  # integers: two reductions, no temporaries
    bad = (matrix != 0) & (matrix != 1)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        name = cols[c] if len(cols) > 1 else cols[0]
        raise CEError(
            f"{file}: column {name} has value {matrix[r, c]:g} at row "
            f"{row_start + r + 1}; multi-label targets must be 0 or 1"
        )


def _one_hot_to_index(matrix: np.ndarray, file: str, row_start: int) -> np.ndarray:
    counts = matrix.sum(axis=1)
    if not np.all(counts == 1):
        r = int(np.flatnonzero(counts != 1)[0])
        raise CEError(
            f"{file}: row {row_start + r + 1} has {int(counts[r])} positive label columns;"
            " one-hot labels need exactly one"
        )
    return np.argmax(matrix, axis=1).astype(np.int64)
