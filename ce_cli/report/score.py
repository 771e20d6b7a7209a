"""``ce score`` as a library function: the loss PyTorch would report, and where it comes from."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ce_cli.core.errors import CEError
from ce_cli.core.vocab import INPUT_KINDS, LOSSES, REDUCTIONS
from ce_cli.core.weights import class_weights, pos_weights
from ce_cli.engine import runner
from ce_cli.engine.accumulate import ClassCounter
from ce_cli.engine.loss_sums import LossAccumulator, LossSetup, RowTerms
from ce_cli.io.batch import Batch
from ce_cli.io.dataset import Dataset, InputOptions
from ce_cli.io.layout import Layout
from ce_cli.report.groups import (
    GroupEntry,
    attach,
    build_groups,
    grouped_csv,
    groups_dict,
    with_groups,
)
from ce_cli.report.view import SCHEMA_VERSION, Table, View, finite_or_none


@dataclass(frozen=True)
class ScoreOptions:
    """The loss as the user asked for it (``ce score`` options)."""

    loss: str = "auto"
    inputs: str = "auto"
    alpha: str | None = None  # balanced | a,b,c | scalar | weights JSON file
    pos_weight: str | None = None  # balanced | scalar | a,b,c
    label_smoothing: float = 0.0
    temperature: float = 1.0
    gamma: float = 2.0
    reduction: str = "mean"
    top: int = 10
    on_invalid: str = "error"  # error | skip


@dataclass
class ClassLoss:
    name: str
    index: int
    support: float
    mean_loss: float | None
    loss_share: float | None
    recall: float | None


@dataclass
class TopRow:
    row: int  # 1-based
    id: Any
    label: str | None
    predicted: str | None
    p_true: float | None
    loss: float
    worst_label: str | None = None  # multi-label: the label with the largest term


@dataclass
class ScoreReport:
    task: str
    loss_name: str
    reduction: str
    value: float | None  # by the reduction; None for 'none'
    mean: float | None
    total: float
    n_samples: int
    n_used: int
    inputs: str
    inputs_decided_by: str
    target_kind: str
    accuracy: float | None = None
    subset_accuracy: float | None = None
    hamming_loss: float | None = None
    normalized_cross_entropy: float | None = None
    kl_divergence: float | None = None
    other_convention: dict[str, Any] | None = None
    per_class: list[ClassLoss] = field(default_factory=list)
    top: list[TopRow] = field(default_factory=list)
    n_ignored: int = 0
    n_masked: int = 0
    n_invalid_skipped: int = 0
    n_clipped: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    group_by: str | None = None
    groups: list[GroupEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "score",
            "task": self.task,
            "loss": {
                "name": self.loss_name,
                "reduction": self.reduction,
                "value": self.value,
                "mean": self.mean,
                "sum": self.total,
                **({"other_convention": self.other_convention} if self.other_convention else {}),
            },
            "n_samples": self.n_samples,
            "n_used": self.n_used,
            "n_ignored": self.n_ignored,
            "n_masked": self.n_masked,
            "n_invalid_skipped": self.n_invalid_skipped,
            "inputs": {
                "kind": self.inputs,
                "decided_by": self.inputs_decided_by,
                "n_clipped": self.n_clipped,
            },
            "target_kind": self.target_kind,
            "accuracy": self.accuracy,
            "subset_accuracy": self.subset_accuracy,
            "hamming_loss": self.hamming_loss,
            "normalized_cross_entropy": self.normalized_cross_entropy,
            "kl_divergence": self.kl_divergence,
            "parameters": self.parameters,
            "per_class": [vars(c) for c in self.per_class],
            "top": [vars(t) for t in self.top],
            "source": self.source,
            "notes": self.notes,
            "warnings": self.warnings,
            **groups_dict(self),
        }

    def group_row(self) -> dict[str, Any]:
        """This report's line in a table of groups."""
        row: dict[str, Any] = {
            "N": self.n_samples,
            "used": self.n_used,
            f"{self.loss_name} ({'mean' if self.reduction == 'none' else self.reduction})": (
                self.mean if self.value is None else self.value
            ),
        }
        if self.subset_accuracy is not None:
            row["subset accuracy"] = self.subset_accuracy
        else:
            row["accuracy"] = self.accuracy
        row["NCE"] = self.normalized_cross_entropy
        return row

    def view(self) -> View:
        summary: list[tuple[str, Any]] = [
            (
                f"{self.loss_name} ({'mean' if self.reduction == 'none' else self.reduction})",
                self.mean if self.value is None else self.value,
            ),
        ]
        if self.other_convention:
            summary.append((self.other_convention["label"], self.other_convention["value"]))
        summary += [
            ("N", self.n_samples),
            ("used", self.n_used),
            ("", self.task),
            ("inputs", self.inputs),
        ]
        if self.accuracy is not None:
            summary.append(("accuracy", self.accuracy))
        if self.subset_accuracy is not None:
            summary += [("subset accuracy", self.subset_accuracy), ("hamming", self.hamming_loss)]
        summary.append(("NCE", self.normalized_cross_entropy))
        if self.kl_divergence is not None:
            summary.append(("KL", self.kl_divergence))
        tables = [
            Table(
                ["class", "index", "support", "mean loss", "loss share", "recall"],
                [
                    [c.name, c.index, c.support, c.mean_loss, c.loss_share, c.recall]
                    for c in self.per_class
                ],
            )
        ]
        caption = f"top {len(self.top)} rows by loss"
        if self.top and self.target_kind == "multi-hot":
            tables.append(
                Table(
                    ["row", "id", "worst label", "loss (mean over labels)"],
                    [[t.row, t.id, t.worst_label, t.loss] for t in self.top],
                    caption=caption,
                )
            )
        elif self.top:
            tables.append(
                Table(
                    ["row", "id", "label", "predicted", "p_true", "loss"],
                    [[t.row, t.id, t.label, t.predicted, t.p_true, t.loss] for t in self.top],
                    caption=caption,
                )
            )
        title = f"ce score · {self.source.get('file', '')}"
        return with_groups(View(title, summary, tables, self.warnings, self.notes), self)

    def csv_table(self) -> Table:
        return grouped_csv(self, self._class_table())

    def _class_table(self) -> Table:
        return Table(
            ["name", "index", "support", "mean_loss", "loss_share", "recall"],
            [
                [c.name, c.index, c.support, c.mean_loss, c.loss_share, c.recall]
                for c in self.per_class
            ],
        )


RowSink = Callable[[Batch, RowTerms, tuple[str, ...], str], None]


def compute_score(
    options: InputOptions, score: ScoreOptions = ScoreOptions(), row_sink: RowSink | None = None
) -> ScoreReport:
    """Stream the file once (twice for ``balanced`` weights) and return the score report.

    ``row_sink`` receives each batch's per-row terms (``--reduction none``).
    """
    _check_options(score)
    dataset = Dataset(options, read_preds=True)
    layout = dataset.layout
    classes = class_set(layout)
    setup, decided_by, notes = _setup(layout, classes, dataset.first_batch(), score, options)

    def work(acc: LossAccumulator, batch: Batch) -> None:
        terms = acc.update(batch)
        if terms is not None and row_sink is not None:
            row_sink(batch, terms, classes, layout.task or "")

    if row_sink is not None:
        runner.require_local(options, "--reduction none (or a paired --baseline)")
    if options.group_by is not None:
        if row_sink is not None:
            raise CEError(
                f"--group-by {options.group_by} sums per group; --reduction none (or a paired "
                "--baseline) needs every row: drop one of them"
            )
        by = runner.accumulate_by_group(
            dataset, lambda: LossAccumulator(setup), LossAccumulator.update, options, "scoring"
        )

        def build(acc: LossAccumulator) -> ScoreReport:
            return _report(acc, layout, classes, score, options, decided_by, list(notes))

        report = build(by.total())
        attach(report, options.group_by, build_groups(by, build))
        return report
    acc = runner.accumulate(
        dataset,
        lambda: LossAccumulator(setup),
        work if row_sink is not None else LossAccumulator.update,
        options,
        "scoring",
        threads=1 if row_sink is not None else None,
    )
    return _report(acc, layout, classes, score, options, decided_by, notes)


# ---------------------------------------------------------------------- decisions
def _check_options(s: ScoreOptions) -> None:
    for name, value, allowed in (
        ("--loss", s.loss, LOSSES),
        ("--inputs", s.inputs, INPUT_KINDS),
        ("--reduction", s.reduction, REDUCTIONS),
        ("--on-invalid", s.on_invalid, ("error", "skip")),
    ):
        if value not in allowed:
            raise CEError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    if not s.gamma >= 0:
        raise CEError(f"--gamma must be >= 0, not {s.gamma}")
    if not s.temperature > 0 or not math.isfinite(s.temperature):
        raise CEError(f"--temperature must be > 0, not {s.temperature}")
    if not 0 <= s.label_smoothing < 1:
        raise CEError(f"--label-smoothing must be in [0, 1), not {s.label_smoothing}")
    if s.top < 0:
        raise CEError(f"--top must be >= 0, not {s.top}")


def class_set(layout: Layout) -> tuple[str, ...]:
    if layout.classes is None:
        raise CEError(
            f"{layout.label_file}: the class set is unknown (string labels and one prediction "
            "column); pass --classes NEG,POS to say which class the column scores"
        )
    return layout.classes


def _geometry(layout: Layout, k: int, c: int, loss: str) -> tuple[str, str, str]:
    """(loss name reported, internal loss, geometry) for this task and column count."""
    file = layout.pred_file
    if layout.target_kind == "multi-hot":
        if loss == "ce":
            raise CEError(
                "--loss ce is a softmax over classes; multi-label data needs --loss "
                "bce or focal (one sigmoid per label)"
            )
        if k != c:
            raise CEError(f"{file}: {k} prediction columns for {c} labels; they must match")
        name = "bce" if loss == "auto" else loss
        return name, name, "sigmoid"
    if k == 1:
        if c != 2:
            raise CEError(
                f"{file}: one prediction column but {c} classes; a single column "
                "scores binary data (pass one column per class)"
            )
        if layout.target_kind == "soft":
            raise CEError(f"{file}: soft targets need one prediction column per class")
        name = {"auto": "bce"}.get(loss, loss)
        return name, "focal" if loss == "focal" else "bce", "sigmoid"
    if k != c:
        raise CEError(
            f"{file}: {k} prediction columns for {c} classes "
            f"({', '.join(layout.classes or ())}); they must match one to one"
        )
    if loss == "bce":
        return "bce", "bce", "sigmoid"
    name = "ce" if loss == "auto" else loss
    return name, name, "softmax"


def decide_inputs(layout: Layout, first: Batch, requested: str) -> tuple[str, str]:
    """(logits | probs, how it was decided) — once, before the first batch is scored."""
    if requested != "auto":
        return requested, f"--inputs {requested}"
    assert layout.preds is not None
    hint = layout.preds.kind_hint
    if hint is not None:
        named = f"{layout.preds.prefix}*" if layout.preds.prefix else layout.preds.names[0]
        return hint, f"the column name {named}"
    preds = first.preds
    assert preds is not None
    finite = preds[np.isfinite(preds)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        return "logits", "values outside [0, 1] in the first batch"
    return "probs", "every value of the first batch in [0, 1]"


def _setup(
    layout: Layout,
    classes: tuple[str, ...],
    first: Batch,
    score: ScoreOptions,
    options: InputOptions,
) -> tuple[LossSetup, str, list[str]]:
    assert first.preds is not None and layout.preds is not None
    k, c = first.preds.shape[1], len(classes)
    name, loss, geometry = _geometry(layout, k, c, score.loss)
    inputs, decided_by = decide_inputs(layout, first, score.inputs)
    notes = [*list(layout.notes), f"inputs: {inputs} (from {decided_by})"]
    if layout.target_kind == "soft":
        notes.append("soft targets: CE = −Σ p log q (PyTorch's probability-target mode)")
    if loss == "focal" and score.label_smoothing:
        raise CEError("--label-smoothing is not defined for --loss focal")
    if loss == "focal" and score.pos_weight:
        raise CEError("--pos-weight applies to --loss bce only")
    if geometry == "softmax" and score.pos_weight:
        raise CEError("--pos-weight applies to --loss bce only (binary / multi-label)")
    if layout.target_kind == "multi-hot" and score.label_smoothing and geometry == "softmax":
        raise CEError("--label-smoothing with multi-label data applies to --loss bce")
    counts = _label_counts(options, score)
    n_weights = k if geometry == "sigmoid" else c
    focal_alpha: float | None = None
    class_weight = None
    if loss == "focal" and geometry == "sigmoid":
        focal_alpha = _focal_alpha(score.alpha)
        notes.append(
            f"sigmoid focal loss (torchvision): α = {focal_alpha} weights positives"
            if focal_alpha is not None
            else "sigmoid focal loss (torchvision), no α"
        )
    elif score.alpha is not None:
        class_weight = _class_weights(score.alpha, classes, n_weights, counts, geometry, k)
    pos_weight = None
    if score.pos_weight is not None:
        pos_weight = _pos_weight(score.pos_weight, k, counts, classes)
    setup = LossSetup(
        loss=loss,
        geometry=geometry,
        inputs=inputs,
        n_classes=c,
        n_cols=k,
        target_kind=layout.target_kind,
        class_weight=class_weight,
        pos_weight=pos_weight,
        label_smoothing=score.label_smoothing,
        temperature=score.temperature,
        gamma=score.gamma,
        focal_alpha=focal_alpha,
        top_k=score.top,
        on_invalid=score.on_invalid,
        name=name,
        file=layout.pred_file,
        columns=layout.preds.names,
    )
    return setup, decided_by, [*notes, f"loss: {name} ({geometry})"]


def _label_counts(options: InputOptions, score: ScoreOptions) -> tuple[np.ndarray, float] | None:
    """(counts per class, N) from a first pass over the labels, for ``balanced`` weights."""
    if "balanced" not in (score.alpha, score.pos_weight):
        return None
    if options.path == "-":
        raise CEError(
            "'balanced' weights need two passes over the file; stdin can be read "
            "once: save it to a file, or pass the weights (ce weights -o w.json)"
        )
    dataset = Dataset(options, read_preds=False)
    classes = dataset.layout.classes
    counter = runner.accumulate(
        dataset, lambda: ClassCounter(classes), ClassCounter.update, options, "counting"
    )
    counts = counter.compute()
    return counts.counts, counts.total


def _numbers(spec: str, what: str) -> list[float]:
    try:
        return [float(v) for v in spec.split(",")]
    except ValueError:
        raise CEError(
            f"{what} {spec!r}: expected a number, a comma list of numbers, "
            "'balanced' or a weights JSON file"
        ) from None


def _class_weights(
    spec: str,
    classes: tuple[str, ...],
    n: int,
    counts: tuple[np.ndarray, float] | None,
    geometry: str,
    k: int,
) -> np.ndarray:
    if spec == "balanced":
        assert counts is not None
        weights = class_weights(counts[0], counts[1], "balanced")
        if geometry == "sigmoid" and k == 1:
            raise CEError(
                "--alpha balanced on a single-column binary file: use --pos-weight "
                "balanced (PyTorch's pos_weight) instead"
            )
        missing = [classes[i] for i in np.flatnonzero(np.isnan(weights))]
        if missing:
            raise CEError(
                f"--alpha balanced: class {missing[0]!r} has no rows, so its weight "
                "is undefined; pass the weights explicitly"
            )
        return weights
    values = _weights_file(spec, classes) if Path(spec).is_file() else _numbers(spec, "--alpha")
    if len(values) == 1 and n > 1:
        raise CEError(
            f"--alpha {spec}: one weight for {n} classes; give one per class "
            f"({', '.join(classes)}), or 'balanced' (a scalar α is for --loss focal on "
            "binary / multi-label data)"
        )
    if len(values) != n:
        raise CEError(
            f"--alpha has {len(values)} weights for {n} classes "
            f"({', '.join(classes)}); give one per class"
        )
    weights = np.array(values)
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise CEError(f"--alpha {spec}: class weights must be finite and >= 0")
    return weights


def _weights_file(path: str, classes: tuple[str, ...]) -> list[float]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        names = [c["name"] for c in data["classes"]]
        weights = data["weights"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CEError(
            f"--alpha {path}: not a weights file written by 'ce weights -o' ({exc})"
        ) from None
    if tuple(names) != classes:
        raise CEError(
            f"--alpha {path}: its classes ({', '.join(names)}) differ from this "
            f"file's ({', '.join(classes)})"
        )
    undefined = [n for n, w in zip(names, weights, strict=True) if w is None]
    if undefined:
        raise CEError(
            f"--alpha {path}: class {undefined[0]!r} has no weight (null); edit "
            "the file or pass the weights explicitly"
        )
    return [float(w) for w in weights]


def _focal_alpha(spec: str | None) -> float | None:
    if spec is None:
        return 0.25  # torchvision's default
    if spec in ("none", "-1"):
        return None
    value = _numbers(spec, "--alpha")
    if len(value) != 1 or not 0 <= value[0] <= 1:
        raise CEError(
            f"--alpha {spec}: the sigmoid focal loss takes one α in [0, 1] (the "
            "weight of positives; 'none' or -1 turns it off)"
        )
    return value[0]


def _pos_weight(
    spec: str, k: int, counts: tuple[np.ndarray, float] | None, classes: tuple[str, ...]
) -> np.ndarray:
    if spec == "balanced":
        assert counts is not None
        pos_counts = counts[0][1:2] if k == 1 else counts[0]
        weights = pos_weights(pos_counts, counts[1])
        if np.isnan(weights).any():
            raise CEError(
                "--pos-weight balanced: a class has no positives, so its pos_weight "
                "is undefined; pass the values explicitly"
            )
        return weights
    values = _numbers(spec, "--pos-weight")
    if len(values) == 1:
        values = values * k
    if len(values) != k:
        raise CEError(
            f"--pos-weight has {len(values)} values for {k} prediction columns; give "
            "one, or one per column"
        )
    weights = np.array(values)
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise CEError(f"--pos-weight {spec}: values must be finite and >= 0")
    return weights


# ---------------------------------------------------------------------- the report
def _report(
    acc: LossAccumulator,
    layout: Layout,
    classes: tuple[str, ...],
    score: ScoreOptions,
    options: InputOptions,
    decided_by: str,
    notes: list[str],
) -> ScoreReport:
    s = acc.setup
    if acc.n_invalid and s.on_invalid == "error":
        assert acc.first_invalid is not None
        row, col = acc.first_invalid
        raise CEError(
            f"{layout.pred_file}: {acc.n_invalid} rows have NaN or infinite predictions (first "
            f"at row {row + 1}, column {s.columns[col] if len(s.columns) > col else col}); fix "
            "them, or pass --on-invalid skip to leave such rows out"
        )
    if acc.n_used == 0 or acc.denom_sum == 0:
        why = (
            "every row was left out (--ignore-index / --mask-col / --on-invalid skip)"
            if acc.n_used == 0
            else "every used row has class weight 0"
        )
        raise CEError(f"{layout.pred_file}: the mean loss is undefined: {why}")
    name = s.name
    mean = acc.loss_sum / acc.denom_sum
    value = {"mean": mean, "sum": acc.loss_sum, "none": None}[score.reduction]
    task = layout.task or ("binary" if len(classes) <= 2 else "multiclass")
    sample_weighted = layout.weight_col is not None
    other = None
    if s.weighted or sample_weighted:
        if s.geometry == "softmax" and s.loss == "ce" and s.target_kind == "index":
            other = {"label": "Σw·l/N", "value": acc.loss_sum / acc.sample_mass}
            notes.append("mean: Σw·l/Σw (PyTorch's CrossEntropyLoss with weight)")
        else:
            other = {
                "label": "Σw·l/Σw",
                "value": acc.loss_sum / acc.weight_mass
                if s.geometry == "sigmoid"
                else acc.loss_sum / acc.sample_mass,
            }
            notes.append("mean: Σw·l/N (PyTorch: weights only multiply)")
    report = ScoreReport(
        task=task,
        loss_name=name,
        reduction=score.reduction,
        value=finite_or_none(value),
        mean=finite_or_none(mean),
        total=acc.loss_sum,
        n_samples=acc.n_rows,
        n_used=acc.n_used,
        inputs=s.inputs,
        inputs_decided_by=decided_by,
        target_kind=s.target_kind,
        n_ignored=acc.n_ignored,
        n_masked=acc.n_masked,
        n_invalid_skipped=acc.n_invalid if s.on_invalid == "skip" else 0,
        n_clipped=acc.n_clipped,
        other_convention=other,
        parameters=_parameters(s),
        notes=notes,
        source={"file": options.display, "labels_file": options.labels_path},
    )
    mass = acc.sample_mass
    if s.target_kind == "multi-hot":
        report.subset_accuracy = acc.correct / mass
        report.hamming_loss = acc.label_errors / (mass * s.n_cols)
    else:
        report.accuracy = acc.correct / mass
    report.normalized_cross_entropy = finite_or_none(_nce(acc))
    if s.target_kind == "soft":
        report.kl_divergence = (acc.plain_sum - acc.entropy_sum) / mass
    report.per_class = _per_class(acc, classes)
    report.top = _top_rows(acc, classes)
    report.warnings = _pitfalls(acc, layout, classes, report)
    return report


def _parameters(s: LossSetup) -> dict[str, Any]:
    return {
        "class_weight": None if s.class_weight is None else s.class_weight.tolist(),
        "pos_weight": None if s.pos_weight is None else s.pos_weight.tolist(),
        "label_smoothing": s.label_smoothing,
        "temperature": s.temperature,
        **({"gamma": s.gamma} if s.loss == "focal" else {}),
        **({"alpha": s.focal_alpha} if s.loss == "focal" and s.geometry == "sigmoid" else {}),
    }


def _nce(acc: LossAccumulator) -> float:
    """Normalized cross-entropy (He et al. 2014): the plain NLL / entropy of the label prior."""
    s, mass = acc.setup, acc.sample_mass
    prior = acc.prior / mass
    if s.geometry == "sigmoid":
        p = np.clip(prior, 0, 1)
        h = -(_xlogx(p) + _xlogx(1 - p))
        entropy = float(h.mean())
        nll = acc.plain_sum / (mass * s.n_cols)
    else:
        entropy = float(-_xlogx(prior).sum())
        nll = acc.plain_sum / mass
    return nll / entropy if entropy > 0 else math.nan


def _xlogx(p: np.ndarray) -> np.ndarray:
    return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)


def _per_class(acc: LossAccumulator, classes: tuple[str, ...]) -> list[ClassLoss]:
    rows = []
    multilabel = acc.setup.target_kind == "multi-hot"
    for i, name in enumerate(classes):
        support = float(acc.support[i])
        loss = float(acc.class_loss[i])
        mean = loss / acc.sample_mass if multilabel else (loss / support if support else math.nan)
        rows.append(
            ClassLoss(
                name,
                i,
                support,
                finite_or_none(mean),
                finite_or_none(loss / acc.loss_sum) if acc.loss_sum else None,
                finite_or_none(acc.class_hits[i] / support) if support else None,
            )
        )
    return rows


def _top_rows(acc: LossAccumulator, classes: tuple[str, ...]) -> list[TopRow]:
    top = acc.top
    out = []
    for j, row in enumerate(top.rows.tolist()):
        label = int(top.payload["label"][j])
        predicted = int(top.payload["predicted"][j])
        out.append(
            TopRow(
                row=row + 1,
                id=acc.top_ids.get(row),
                label=classes[label] if label >= 0 else None,
                predicted=classes[predicted] if predicted >= 0 else None,
                p_true=finite_or_none(float(top.payload["p_true"][j])),
                loss=float(top.keys[j]),
                worst_label=classes[worst]
                if (worst := int(top.payload["worst"][j])) >= 0
                else None,
            )
        )
    return out


def _pitfalls(
    acc: LossAccumulator, layout: Layout, classes: tuple[str, ...], report: ScoreReport
) -> list[str]:
    """What the data alone says is probably wrong (reference/losses.md §5)."""
    s, out = acc.setup, []
    c = len(classes)
    all_unit = acc.pred_min >= 0 and acc.pred_max <= 1
    if s.inputs == "logits" and all_unit and acc.rows_on_simplex == acc.n_used and s.n_cols > 1:
        floor = math.log(math.e + c - 1) - 1
        out.append(
            f"the predictions look like probabilities (all in [0, 1], rows sum to 1) but "
            f"are scored as logits: softmax is applied twice and the loss cannot go below "
            f"{floor:.4f}; pass --inputs probs"
        )
    elif s.inputs == "logits" and all_unit:
        out.append(
            "every prediction is in [0, 1] but they are scored as logits (sigmoid/softmax "
            "applied twice?); pass --inputs probs if these are probabilities"
        )
    if s.target_kind == "multi-hot" and s.n_cols > 1 and acc.rows_on_simplex == acc.n_used:
        out.append(
            "multi-label targets but every prediction row sums to 1: softmax outputs "
            "on a multi-label task? use one sigmoid per label"
        )
    if s.inputs == "probs" and s.n_cols > 1:
        low, high = 1 / (math.e + c - 1), math.e / (math.e + c - 1)
        if acc.pred_min >= low and acc.pred_max <= high and c > 2:
            out.append(
                f"every probability lies in [{low:.4f}, {high:.4f}] = softmax of values in "
                "[0, 1]: softmax applied twice?"
            )
    if s.inputs == "probs" and acc.pred_min >= 0.5 and acc.pred_max <= 1 / (1 + math.exp(-1)):
        out.append(
            "every probability lies in [0.5, 0.7311] = sigmoid of values in [0, 1]: "
            "sigmoid applied twice?"
        )
    if (
        s.inputs == "probs"
        and acc.rows_off_simplex
        and s.geometry == "softmax"
        and s.target_kind != "multi-hot"
    ):
        out.append(
            f"{acc.rows_off_simplex} probability rows do not sum to 1; they are not "
            "renormalised (as scikit-learn >= 1.5)"
        )
    if acc.n_exact_true:
        out.append(
            f"{acc.n_exact_true} rows give the true class a probability of exactly 0 or "
            f"1: the loss there depends on the clip (eps = {np.finfo(float).eps:.3g}, "
            "at most 36.04 per value)"
        )
    if (
        layout.encoding == "int"
        and s.target_kind == "index"
        and c > 2
        and acc.support[0] == 0
        and (acc.support[1:] > 0).all()
    ):
        out.append(
            "class 0 has no rows and every other class has some: are the labels "
            "1-based? subtract 1 from the labels"
        )
    if s.n_cols == 1 and acc.pos_score[1] and acc.neg_score[1]:
        pos_mean = acc.pos_score[0] / acc.pos_score[1]
        neg_mean = acc.neg_score[0] / acc.neg_score[1]
        if pos_mean < neg_mean:
            out.append(
                "positives score lower than negatives on average: is the column "
                "P(negative), or the logit's sign flipped?"
            )
    if s.on_invalid == "skip" and acc.n_invalid:
        out.append(
            f"{acc.n_invalid} rows with NaN or infinite predictions were skipped "
            "(--on-invalid skip)"
        )
    if acc.n_ignored:
        out.append(
            f"{acc.n_ignored} rows with label {layout.ignore_index} (--ignore-index) were left out"
        )
    if acc.n_masked:
        out.append(f"{acc.n_masked} rows with a false {layout.mask_col} were left out")
    zero = [classes[i] for i in range(len(classes)) if acc.support[i] == 0]
    if zero and s.target_kind != "soft":
        out.append(f"classes with no rows: {', '.join(zero)} (their recall is undefined)")
    return out
