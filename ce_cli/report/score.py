"""``ce score`` as a library function: the loss PyTorch would report, and where it comes from."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ce_cli.core.errors import CEError
from ce_cli.core.loss_table import LossParam, check_params, choose_loss, parameter_block
from ce_cli.core.vocab import (
    Geometry,
    InputKind,
    Loss,
    OnInvalid,
    Reduction,
    SmoothingSpread,
    TargetKind,
    Task,
)
from ce_cli.engine import runner
from ce_cli.engine.loss_sums import LossAccumulator, LossSetup, RowTerms
from ce_cli.io.batch import Batch
from ce_cli.io.dataset import Dataset, InputOptions
from ce_cli.io.layout import Layout
from ce_cli.report import classification as metrics
from ce_cli.report.decisions import class_set, data_shape, decide_inputs
from ce_cli.report.groups import (
    GroupEntry,
    attach,
    build_groups,
    grouped_csv,
    groups_dict,
    with_groups,
)
from ce_cli.report.pitfalls import pitfalls
from ce_cli.report.ranking import (
    add_auc,
    add_auc_columns,
    auc_setup,
    auc_summary,
    check_auc_budget,
    check_auc_options,
)
from ce_cli.report.score_weights import label_counts, loss_params, smoothing_of
from ce_cli.report.view import SCHEMA_VERSION, Table, View, finite_or_none


@dataclass(frozen=True)
class ScoreOptions:
    """The loss as the user asked for it (``ce score`` options)."""

    loss: str = Loss.AUTO
    inputs: str = InputKind.AUTO
    alpha: str | None = None  # balanced | a,b,c | scalar | weights JSON file
    pos_weight: str | None = None  # balanced | scalar | a,b,c
    label_smoothing: float = 0.0
    smoothing_spread: str = SmoothingSpread.ALL  # all (PyTorch) | others (the seed)
    temperature: float = 1.0
    gamma: float = 2.0
    reduction: str = Reduction.MEAN
    top: int = 10
    on_invalid: str = OnInvalid.ERROR  # error | skip
    auc: bool = False  # --auc: exact ROC-AUC and average precision (keeps every score)
    threshold: float | None = None  # --threshold t: positive when p ≥ t (None: 0.5 / argmax)
    top_k_accuracy: int | None = None  # --top-k-accuracy K
    confusion: bool = False  # --confusion: every confused pair, the whole matrix in the table
    auc_bins: int | None = None  # --auc-bins B: from B-bin histograms, with an error bound
    confusion_pairs: tuple[str, ...] = ()  # ce check's confusion[A,B] 'A,B': counted at any C


@dataclass
class ClassLoss:
    name: str
    index: int
    support: float
    mean_loss: float | None
    loss_share: float | None
    recall: float | None
    precision: float | None = None  # tp / predicted (null when never predicted)
    f1: float | None = None  # 2·tp / (predicted + support)
    predicted: float | None = None  # Σ s of rows predicted as the class (multi-label: positives)
    roc_auc: float | None = None  # one-vs-rest, with --auc / --auc-bins
    average_precision: float | None = None


@dataclass
class TopRow:
    row: int  # 0-based position in the input (as pandas' iloc / numpy)
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
    classification: dict[str, Any] | None = None  # macro-F1, kappa, MCC, confusion, …
    show_confusion: bool = False  # --confusion: the whole matrix in the table (not in JSON)
    other_conventions: list[dict[str, Any]] = field(default_factory=list)  # {label, value}
    per_class: list[ClassLoss] = field(default_factory=list)
    top: list[TopRow] = field(default_factory=list)
    n_ignored: int = 0
    n_masked: int = 0
    n_invalid_skipped: int = 0
    n_clipped: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    hard_predictions: dict[str, Any] | None = None  # y_pred vs the argmax: column, rows, agree
    auc: dict[str, Any] | None = None  # ROC-AUC / AP (--auc, --auc-bins): report.ranking
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
                **self._other_conventions(),
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
            "classification": self.classification,
            "parameters": self.parameters,
            "auc": self.auc,
            "per_class": [vars(c) for c in self.per_class],
            "top": [vars(t) for t in self.top],
            "source": self.source,
            **({"hard_predictions": self.hard_predictions} if self.hard_predictions else {}),
            "notes": self.notes,
            "warnings": self.warnings,
            **groups_dict(self),
        }

    @property
    def other_convention(self) -> dict[str, Any] | None:
        """The first other mean (``ce``: Σw·l/N; sigmoid losses: Σw·l/Σw; sample weights:
        Σs·l/N)."""
        return self.other_conventions[0] if self.other_conventions else None

    def _other_conventions(self) -> dict[str, Any]:
        if not self.other_conventions:
            return {}
        return {
            "other_convention": self.other_conventions[0],
            "other_conventions": self.other_conventions,
        }

    def headline(self) -> tuple[str, float | None]:
        """("ce (mean)", its value): the reduction's value; for ``--reduction none`` (which has
        no single value) the mean, saying so: "ce (none; mean)"."""
        if self.reduction == Reduction.NONE:
            return f"{self.loss_name} ({Reduction.NONE}; {Reduction.MEAN})", self.mean
        return f"{self.loss_name} ({self.reduction})", self.value

    def group_row(self) -> dict[str, Any]:
        """This report's line in a table of groups."""
        label, value = self.headline()
        row: dict[str, Any] = {"N": self.n_samples, "used": self.n_used, label: value}
        if self.subset_accuracy is not None:
            row["subset accuracy"] = self.subset_accuracy
        else:
            row["accuracy"] = self.accuracy
        row["NCE"] = self.normalized_cross_entropy
        if self.auc is not None:
            row["ROC-AUC"] = self.auc["roc_auc_macro"]
        return row

    def view(self) -> View:
        summary: list[tuple[str, Any]] = [self.headline()]
        summary += [(other["label"], other["value"]) for other in self.other_conventions]
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
        summary += metrics.summary_items(self.classification)
        summary += auc_summary(self.auc, self.task)
        tables = [
            Table(
                ["class", "index", "support", "mean loss", "loss share", "recall"],
                [
                    [c.name, c.index, c.support, c.mean_loss, c.loss_share, c.recall]
                    for c in self.per_class
                ],
                optional=("index", "loss share", "support"),
            )
        ]
        add_auc_columns(tables[0], self.per_class, self.auc)
        tables += self._metric_tables()
        if self.top:
            tables.append(self._top_table())
        title = f"ce score · {self.source.get('file', '')}"
        notes = list(self.notes)
        if self.show_confusion and (note := metrics.matrix_note(self.classification)):
            notes.append(note)
        return with_groups(View(title, summary, tables, self.warnings, notes), self)

    def _metric_tables(self) -> list[Table]:
        """Precision / recall / F1 per class, the most confused pairs, and with --confusion
        the whole matrix (small class sets)."""
        block = self.classification
        if block is None:
            return []
        values = [(c.precision, c.f1, c.predicted) for c in self.per_class]
        names = [c.name for c in self.per_class]
        tables = [metrics.class_table(names, values, [c.recall for c in self.per_class])]
        pairs = metrics.pair_table(block)
        matrix = metrics.matrix_table(block) if self.show_confusion else None
        return tables + [t for t in (pairs, matrix) if t is not None]

    def _top_table(self) -> Table:
        """The top-K rows: ``row`` is the 0-based position (``df.iloc[row]``); ``id`` the id
        column or stored pandas index, only when the input has one."""
        multi = self.target_kind == TargetKind.MULTI_HOT
        columns = ["row (0-based)", "id"]
        columns += (
            ["worst label", "loss (mean over labels)"]
            if multi
            else ["label", "predicted", "p_true", "loss"]
        )
        rows = [
            [t.row, t.id, t.worst_label, t.loss]
            if multi
            else [t.row, t.id, t.label, t.predicted, t.p_true, t.loss]
            for t in self.top
        ]
        if all(t.id is None for t in self.top):
            columns, rows = [columns[0], *columns[2:]], [[r[0], *r[2:]] for r in rows]
        caption = f"top {len(self.top)} rows by loss"
        return Table(columns, rows, caption=caption, optional=("p_true", "predicted"))

    def csv_table(self) -> Table:
        table = self._class_table()
        add_auc_columns(table, self.per_class, self.auc, csv=True)
        return grouped_csv(self, table)

    def _class_table(self) -> Table:
        columns = ["name", "index", "support", "mean_loss", "loss_share", "recall"]
        extra = ["precision", "f1", "predicted"] if self.classification is not None else []
        return Table(
            columns + extra,
            [
                [c.name, c.index, c.support, c.mean_loss, c.loss_share, c.recall]
                + [getattr(c, name) for name in extra]
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
    if row_sink is not None:  # multi-label: the sink reads the (n, K) terms and decisions
        setup = dataclasses.replace(setup, row_terms=True)
    check_auc_budget(setup, dataset.num_rows, options.weight_col is not None)

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
        getattr(row_sink, "progress_label", "scoring"),  # RowWriter: "scoring, writing rows"
        threads=1 if row_sink is not None else None,
    )
    return _report(acc, layout, classes, score, options, decided_by, notes)


# ---------------------------------------------------------------------- decisions
def _check_options(s: ScoreOptions) -> None:
    Loss.parse(s.loss, "--loss")
    InputKind.parse(s.inputs, "--inputs")
    Reduction.parse(s.reduction, "--reduction")
    OnInvalid.parse(s.on_invalid, "--on-invalid")
    SmoothingSpread.parse(s.smoothing_spread, "--smoothing-spread")
    if not s.gamma >= 0:
        raise CEError(f"--gamma must be >= 0, not {s.gamma}")
    if not s.temperature > 0 or not math.isfinite(s.temperature):
        raise CEError(f"--temperature must be > 0, not {s.temperature}")
    if not 0 <= s.label_smoothing < 1:
        raise CEError(f"--label-smoothing must be in [0, 1), not {s.label_smoothing}")
    if s.top < 0:
        raise CEError(f"--top must be >= 0, not {s.top}")
    if s.threshold is not None and not 0 < s.threshold < 1:
        raise CEError(f"--threshold must be in (0, 1), not {s.threshold}")
    if s.top_k_accuracy is not None and s.top_k_accuracy < 1:
        raise CEError(f"--top-k-accuracy must be >= 1, not {s.top_k_accuracy}")
    check_auc_options(s.auc, s.auc_bins)


def _given(score: ScoreOptions) -> dict[LossParam, bool]:
    """Which loss options the user set (γ has a default every loss ignores if it has none)."""
    return {
        LossParam.POS_WEIGHT: score.pos_weight is not None,
        LossParam.LABEL_SMOOTHING: bool(score.label_smoothing),
    }


def _setup(
    layout: Layout,
    classes: tuple[str, ...],
    first: Batch,
    score: ScoreOptions,
    options: InputOptions,
) -> tuple[LossSetup, str, list[str]]:
    """The loss (from the table), the input kind and the parameters, before the first batch."""
    assert first.preds is not None and layout.preds is not None
    k, c = first.preds.shape[1], len(classes)
    shape = data_shape(layout, k, c)
    choice = choose_loss(score.loss, shape)
    inputs, decided_by = decide_inputs(layout, first, score.inputs)
    check_params(choice.scored, _given(score))
    counts = label_counts(options, score.alpha, score.pos_weight)
    params, param_notes = loss_params(
        choice,
        score.alpha,
        score.pos_weight,
        score.label_smoothing,
        score.gamma,
        classes,
        k,
        counts,
    )
    smoothing, smooth_notes = smoothing_of(
        choice, shape, score.label_smoothing, score.smoothing_spread, c
    )
    notes = [*list(layout.notes), f"inputs: {inputs} (from {decided_by})"]
    if layout.target_kind == TargetKind.SOFT:
        notes.append("soft targets: CE = −Σ p log q (PyTorch's probability-target mode)")
    name = str(choice.reported.name)
    setup = LossSetup(
        loss=choice.scored.name,
        geometry=choice.geometry,
        inputs=inputs,
        n_classes=c,
        n_cols=k,
        target_kind=layout.target_kind,
        class_weight=params.class_weight,
        pos_weight=params.pos_weight,
        label_smoothing=smoothing,
        temperature=score.temperature,
        gamma=params.gamma,
        focal_alpha=params.focal_alpha,
        top_k=score.top,
        on_invalid=score.on_invalid,
        threshold=score.threshold,
        top_k_accuracy=score.top_k_accuracy,
        confusion_pairs=_confusion_pairs(score.confusion_pairs, classes),
        name=name,
        file=layout.pred_file,
        columns=layout.preds.names,
        **auc_setup(score.auc, score.auc_bins, layout.target_kind),
    )
    loss_note = _loss_note(name, str(choice.geometry), inputs)
    return setup, decided_by, [*notes, *param_notes, *smooth_notes, loss_note]


def _loss_note(name: str, geometry: str, inputs: str) -> str:
    """``loss: ce (softmax)`` for logits; probabilities are not passed through a softmax or a
    sigmoid again: ``loss: ce (−log of the given probabilities, clipped)``."""
    if inputs == InputKind.PROBS:
        return f"loss: {name} (−log of the given probabilities, clipped to [ε, 1−ε])"
    return f"loss: {name} ({geometry})"


# ---------------------------------------------------------------------- the report
def _check_scored(acc: LossAccumulator, layout: Layout) -> None:
    """A one-line error when the loss cannot be reported: invalid rows, or nothing to divide by."""
    s = acc.setup
    if acc.n_invalid and s.on_invalid == OnInvalid.ERROR:
        assert acc.first_invalid is not None
        row, col = acc.first_invalid
        raise CEError(
            f"{layout.pred_file}: {acc.n_invalid} rows have NaN or infinite predictions (first "
            f"at row {row + 1}, column {s.columns[col] if len(s.columns) > col else col}); fix "
            "them, or pass --on-invalid skip to leave such rows out"
        )
    if acc.n_used == 0:
        raise CEError(
            f"{layout.pred_file}: the mean loss is undefined: every row was left out "
            "(--ignore-index / --mask-col / --on-invalid skip)"
        )
    if acc.sample_mass == 0:
        raise CEError(
            f"{layout.label_file}: column {layout.weight_col}: every used row has sample weight "
            "0 (--weight-col), so the mean loss is undefined; check the column or drop "
            "--weight-col"
        )
    if acc.denom_sum == 0:
        raise CEError(
            f"{layout.pred_file}: the mean loss is undefined: every used row has class weight 0"
        )


def _report(
    acc: LossAccumulator,
    layout: Layout,
    classes: tuple[str, ...],
    score: ScoreOptions,
    options: InputOptions,
    decided_by: str,
    notes: list[str],
) -> ScoreReport:
    _check_scored(acc, layout)
    s = acc.setup
    mean = acc.loss_sum / acc.denom_sum
    value = {Reduction.MEAN: mean, Reduction.SUM: acc.loss_sum, Reduction.NONE: None}[
        Reduction(score.reduction)
    ]
    mean_note, others = conventions(acc)
    report = ScoreReport(
        task=layout.task or (Task.BINARY if len(classes) <= 2 else Task.MULTICLASS),
        loss_name=s.name,
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
        n_invalid_skipped=acc.n_invalid if s.on_invalid == OnInvalid.SKIP else 0,
        n_clipped=acc.n_clipped,
        other_conventions=others,
        parameters=parameter_block(
            s.spec,
            Geometry(s.geometry),
            s.params,
            s.temperature,
            (score.label_smoothing, score.smoothing_spread)
            if s.spec.takes(LossParam.LABEL_SMOOTHING)
            else None,
        ),
        notes=notes + ([mean_note] if mean_note else []) + metrics.notes(s, acc.metrics),
        source={"file": options.display, "labels_file": options.labels_path},
        show_confusion=score.confusion,
    )
    _add_metrics(report, acc)
    report.classification = metrics.classification_block(
        acc.metrics, s, classes, all_pairs=score.confusion
    )
    report.per_class = _per_class(acc, classes)
    report.top = _top_rows(acc, classes)
    report.warnings = pitfalls(acc, layout, classes)
    _add_hard_predictions(report, acc, layout.hard_col)
    add_auc(report, acc.ranking, classes)
    return report


def _add_hard_predictions(report: ScoreReport, acc: LossAccumulator, col: str | None) -> None:
    """How often the hard predictions (``y_pred``) equal the argmax of the scores, over every
    used row: a note, and a warning when any differ (other scores, or another threshold?)."""
    if col is None or not acc.hard_rows:
        return
    n, agree = acc.hard_rows, acc.hard_agree
    report.hard_predictions = {"column": col, "rows": n, "agree": agree, "differ": n - agree}
    report.notes.append(
        f"hard predictions {col}: agree with the argmax of the scores in {agree} of {n} rows "
        f"({n - agree} differ); not scored"
    )
    if agree < n:
        report.warnings.append(
            f"hard predictions {col} differ from the argmax of the scores in {n - agree} of "
            f"{n} rows: were they made from other scores, or with another threshold?"
        )


def _add_metrics(report: ScoreReport, acc: LossAccumulator) -> None:
    """Accuracy (subset accuracy and Hamming loss for multi-label), NCE and the KL."""
    s, mass = acc.setup, acc.sample_mass
    if s.target_kind == TargetKind.MULTI_HOT:
        report.subset_accuracy = acc.correct / mass
        report.hamming_loss = acc.label_errors / (mass * s.n_cols)
    else:
        report.accuracy = acc.correct / mass
    report.normalized_cross_entropy = finite_or_none(_nce(acc))
    if s.target_kind == TargetKind.SOFT:
        report.kl_divergence = (acc.plain_sum - acc.entropy_sum) / mass


def conventions(acc: LossAccumulator) -> tuple[str | None, list[dict[str, Any]]]:
    """(a note saying which mean is reported, the other means) — whenever a weight is not 1.

    With L = Σ s·l (l already class-weighted), three denominators are in use: N terms (rows,
    or rows·K elements for sigmoids), Σ s per term (sample weights as replication counts) and
    Σ s·ω (ω the class weight of the row / element). PyTorch's mean is L / Σ s·w_y for ``ce``
    (its weights normalise) and L / Σ s per term otherwise (weights only multiply); the others
    are listed, each once, labelled by its formula."""
    s = acc.setup
    class_weighted, sample_weighted = s.weighted, acc.n_reweighted > 0
    if not (class_weighted or sample_weighted):
        return None, []
    per_row = s.n_cols if s.geometry == Geometry.SIGMOID else 1
    sw = "s·" if sample_weighted else ""
    loss = f"Σ{sw}{'w·' if class_weighted else ''}l"
    count = "N" if per_row == 1 else "(N·K)"
    samples = ("Σs" if per_row == 1 else "Σ(s·K)") if sample_weighted else count
    weights = f"Σ{sw}w" if class_weighted else samples
    by_weights = s.spec.weights_normalise and s.target_kind == TargetKind.INDEX
    means = {  # label: value, the reported mean first
        f"{loss}/{weights if by_weights else samples}": acc.loss_sum / acc.denom_sum,
        f"{loss}/{count}": acc.loss_sum / (acc.n_used * per_row),
        f"{loss}/{weights}": acc.loss_sum / acc.weight_mass if acc.weight_mass else math.nan,
        f"{loss}/{samples}": acc.loss_sum / (acc.sample_mass * per_row),
    }
    main, *others = means
    why = []
    if class_weighted:
        why.append(
            "class weights normalise, as PyTorch's CrossEntropyLoss with weight"
            if by_weights
            else "class weights only multiply, as in PyTorch"
        )
    if sample_weighted:
        why.append("sample weights count as replications, as in scikit-learn")
    listed = [{"label": k, "value": finite_or_none(means[k])} for k in others if k != main]
    return f"mean: {main} ({'; '.join(why)})", listed


def _nce(acc: LossAccumulator) -> float:
    """Normalized cross-entropy (He et al. 2014): the plain NLL / entropy of the label prior."""
    s, mass = acc.setup, acc.sample_mass
    prior = acc.prior / mass
    if s.geometry == Geometry.SIGMOID:
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
    multilabel = acc.setup.target_kind == TargetKind.MULTI_HOT
    values = metrics.per_class_values(acc.metrics) or [(None, None, None)] * len(classes)
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
                *values[i],
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
                row=row,
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


def _confusion_pairs(specs: tuple[str, ...], classes: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """``ce check``'s ``confusion[A,B]`` pairs to keep (none for a plain ``ce score``, which then
    does not import the check rules)."""
    if not specs:
        return ()
    from ce_cli.report.check_rules import pair_indices

    return pair_indices(specs, classes)
