"""``ce weights`` as a library function: class frequencies and weights → ``WeightsReport``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ce_cli.core.errors import CEError
from ce_cli.core.weights import (
    SCHEMES,
    class_weights,
    imbalance_ratio,
    normalized_entropy,
    pos_weights,
)
from ce_cli.engine import runner
from ce_cli.engine.accumulate import ClassCounter, ClassCounts
from ce_cli.io.dataset import Dataset, InputOptions
from ce_cli.io.layout import Layout, finalize_task
from ce_cli.report.groups import (
    GroupEntry,
    attach,
    build_groups,
    grouped_csv,
    groups_dict,
    with_groups,
)
from ce_cli.report.view import SCHEMA_VERSION, Table, View, finite_or_none

GROUP_TABLE_CLASSES = 8  # --group-by: a frequency column per class up to this many classes


@dataclass
class ClassWeight:
    name: str
    index: int
    count: float
    frequency: float | None
    weight: float | None
    pos_weight: float | None


@dataclass
class WeightsReport:
    task: str
    target_kind: str
    scheme: str
    beta: float | None
    n_samples: int
    total_weight: float
    classes: list[ClassWeight]
    imbalance_ratio: float | None
    normalized_entropy: float | None
    n_ignored: int = 0
    n_masked: int = 0
    inputs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    group_by: str | None = None
    groups: list[GroupEntry] = field(default_factory=list)

    @property
    def zero_count_classes(self) -> list[str]:
        return [c.name for c in self.classes if c.count == 0]

    @property
    def weights(self) -> list[float | None]:
        return [c.weight for c in self.classes]

    def to_dict(self) -> dict[str, Any]:
        with_pos = self.task in ("binary", "multilabel")
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "weights",
            "task": self.task,
            "target_kind": self.target_kind,
            "n_samples": self.n_samples,
            "total_weight": self.total_weight,
            "n_classes": len(self.classes),
            "scheme": self.scheme,
            "beta": self.beta,
            "weights": self.weights,
            "pos_weight": [c.pos_weight for c in self.classes] if with_pos else None,
            "classes": [
                {
                    "name": c.name,
                    "index": c.index,
                    "count": c.count,
                    "frequency": c.frequency,
                    "weight": c.weight,
                    **({"pos_weight": c.pos_weight} if with_pos else {}),
                }
                for c in self.classes
            ],
            "imbalance_ratio": self.imbalance_ratio,
            "normalized_entropy": self.normalized_entropy,
            "zero_count_classes": self.zero_count_classes,
            "n_ignored": self.n_ignored,
            "n_masked": self.n_masked,
            "inputs": self.inputs,
            "notes": self.notes,
            "warnings": self.warnings,
            **groups_dict(self),
        }

    def group_row(self) -> dict[str, Any]:
        """This report's line in a table of groups: N, imbalance, entropy and, for up to
        ``GROUP_TABLE_CLASSES`` classes, each class's frequency."""
        row: dict[str, Any] = {
            "N": self.n_samples,
            "imbalance": self.imbalance_ratio,
            "entropy": self.normalized_entropy,
        }
        if len(self.classes) <= GROUP_TABLE_CLASSES:
            row.update({f"freq {c.name}": c.frequency for c in self.classes})
        return row

    def _columns(self) -> list[str]:
        cols = ["class", "index", "count", "frequency", "weight"]
        return cols + (["pos_weight"] if self.task in ("binary", "multilabel") else [])

    def _rows(self) -> list[list[Any]]:
        with_pos = self.task in ("binary", "multilabel")
        return [
            [c.name, c.index, c.count, c.frequency, c.weight] + ([c.pos_weight] if with_pos else [])
            for c in self.classes
        ]

    def view(self) -> View:
        scheme = f"{self.scheme} (β={self.beta:g})" if self.beta is not None else self.scheme
        summary: list[tuple[str, Any]] = [
            ("N", self.n_samples),
            ("C", len(self.classes)),
            ("", self.task),
            ("scheme", scheme),
            ("imbalance", self.imbalance_ratio),
            ("entropy", self.normalized_entropy),
        ]
        if self.total_weight != self.n_samples:
            summary.insert(1, ("Σweight", self.total_weight))
        if self.zero_count_classes:
            summary.append(("zero-count", ", ".join(self.zero_count_classes)))
        title = f"ce weights · {self.inputs.get('file', '')}"
        view = View(
            title,
            summary,
            [Table(self._columns(), self._rows(), optional=("index", "frequency"))],
            self.warnings,
            self.notes,
        )
        return with_groups(view, self)

    def csv_table(self) -> Table:
        return grouped_csv(self, Table(["name", *self._columns()[1:]], self._rows()))


def compute_weights(
    options: InputOptions, scheme: str = "balanced", beta: float = 0.999
) -> WeightsReport:
    """Read the labels (streaming) and return class frequencies and weights.

    Nothing counted (every row left out, or every sample weight 0) is an error: every weight
    would be undefined. With ``--group-by`` an empty group only gets a warning.
    """
    _check(scheme, beta)
    dataset = Dataset(options, read_preds=False)
    layout, classes = dataset.layout, dataset.layout.classes
    inputs = {
        "file": options.display,
        "labels_file": options.labels_path,
        "label_columns": layout.label_cols,
    }

    def build(counts: ClassCounts) -> WeightsReport:
        return build_report(counts, layout, scheme, beta, inputs)

    def make() -> ClassCounter:
        return ClassCounter(classes)

    if options.group_by is None:
        counter = runner.accumulate(dataset, make, ClassCounter.update, options, "counting")
        return build(_counted(counter.compute(), layout))
    by = runner.accumulate_by_group(dataset, make, ClassCounter.update, options, "counting")
    counts = _counted(by.total().compute(), layout)
    report = build(counts)
    groups = build_groups(by, lambda counter: build(counter.compute().aligned(counts.names)))
    attach(report, options.group_by, groups)
    return report


def _check(scheme: str, beta: float) -> None:
    """The options a library caller could get wrong (the CLI's types check them first)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if not 0 <= beta < 1:
        raise CEError(f"--beta must be in [0, 1), not {beta}")


def _counted(counts: ClassCounts, layout: Layout) -> ClassCounts:
    """``counts``, unless nothing was counted: then every weight is undefined, an error."""
    if counts.n_rows == 0:
        why = "every row was left out: " + "; ".join(_left_out(counts, layout))
    elif counts.total == 0:
        why = f"every used row has sample weight 0 (--weight-col {layout.weight_col})"
    else:
        return counts
    raise CEError(f"{layout.label_file}: no class counts, so no class weights: {why}")


def _left_out(counts: ClassCounts, layout: Layout) -> list[str]:
    """What left the rows out, with the options that did it."""
    out = []
    if counts.n_ignored:
        out.append(f"{counts.n_ignored} rows with label {layout.ignore_index} (--ignore-index)")
    if counts.n_masked:
        out.append(f"{counts.n_masked} rows with a false {layout.mask_col} (--mask-col)")
    return out or ["no row passed --where"]


def build_report(
    counts: ClassCounts, layout: Layout, scheme: str, beta: float, inputs: dict[str, Any]
) -> WeightsReport:
    """Weights and warnings from merged class counts (pure: no I/O)."""
    task = finalize_task(layout, len(counts.names))
    multilabel = task == "multilabel"
    report = WeightsReport(
        task=task,
        target_kind=layout.target_kind,
        scheme=scheme,
        beta=beta if scheme == "effective" else None,
        n_samples=counts.n_rows,
        total_weight=counts.total,
        classes=_class_rows(counts, task, scheme, beta),
        imbalance_ratio=finite_or_none(imbalance_ratio(counts.counts)),
        normalized_entropy=finite_or_none(
            normalized_entropy(counts.counts, counts.total, multilabel)
        ),
        n_ignored=counts.n_ignored,
        n_masked=counts.n_masked,
        inputs=inputs,
        notes=list(layout.notes)
        + (
            ["soft targets: counts are sums of the label probabilities"]
            if layout.target_kind == "soft"
            else []
        ),
    )
    report.warnings = _warnings(report, counts, layout)
    return report


def _class_rows(counts: ClassCounts, task: str, scheme: str, beta: float) -> list[ClassWeight]:
    """Count, frequency, weight and pos_weight of every class (None where undefined)."""
    multilabel = task == "multilabel"
    weights = class_weights(counts.counts, counts.total, scheme, beta)
    pos = pos_weights(counts.counts, counts.total)
    denom = counts.total if multilabel else counts.counts.sum()
    rows = []
    for i, name in enumerate(counts.names):
        freq = counts.counts[i] / denom if denom > 0 else float("nan")
        # Binary: pos_weight applies to the positive class (index 1) only, as PyTorch takes it.
        pw = pos[i] if multilabel or (task == "binary" and i == 1) else float("nan")
        rows.append(
            ClassWeight(
                name,
                i,
                float(counts.counts[i]),
                finite_or_none(freq),
                finite_or_none(weights[i]),
                finite_or_none(pw),
            )
        )
    return rows


def _warnings(report: WeightsReport, counts: ClassCounts, layout: Layout) -> list[str]:
    out = []
    if report.n_samples == 0:
        out.append("no rows left after --ignore-index/--mask-col: every weight is undefined")
    for name in report.zero_count_classes:
        what = "positives" if report.task == "multilabel" else "rows"
        out.append(
            f"class {name!r} has no {what}: its weight is undefined (— in tables, null "
            "in JSON); drop the class or set its weight by hand"
        )
    if (
        layout.encoding == "int"
        and layout.classes is None
        and counts.counts.size > 2
        and counts.counts[0] == 0
    ):
        out.append(
            f"labels look 1-based (min 1, max {counts.counts.size - 1}): class 0 has no "
            "rows; subtract 1 from the labels, or pass --classes if 0 is a real class"
        )
    present = int((counts.counts > 0).sum())
    if present == 1 and report.task != "multilabel":
        out.append("only one class has rows: weights balance nothing")
    if counts.n_ignored:
        out.append(
            f"{counts.n_ignored} rows with label {layout.ignore_index} (--ignore-index) "
            "were left out"
        )
    if counts.n_masked:
        out.append(
            f"{counts.n_masked} rows with a false {layout.mask_col} (--mask-col) were left out"
        )
    return out
