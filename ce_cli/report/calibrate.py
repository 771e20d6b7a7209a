"""``ce calibrate`` as a library function: calibration metrics, temperature fit, bin table.

Confidence per row (``mode``):
  - ``top-label`` (Guo et al. 2017): c = max_k q_k, correct = [argmax q = y]; binary with one
    column: c = max(p, 1 − p);
  - ``positive`` (binary only): c = P(y = 1), "correct" = y — the reliability of P(y = 1);
  - multi-label: every label is its own binary problem (positive mode), pooled over labels,
    and each label's ECE is listed.
The temperature fit minimises the NLL over β = 1/T with a few Newton passes over the stream
(``calibration.fit_temperature``), then one more pass measures before and after.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ce_cli.core import calibration as cal
from ce_cli.core import losses
from ce_cli.core.errors import CEError
from ce_cli.engine import runner
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
from ce_cli.report.score import class_set, decide_inputs
from ce_cli.report.view import SCHEMA_VERSION, Table, View, finite_or_none

METRICS = ("ece", "mce", "rmsce", "adaptive_ece", "classwise_ece", "brier", "nll", "accuracy")


@dataclass(frozen=True)
class CalibrationOptions:
    n_bins: int = cal.DEFAULT_N_BINS
    strategy: str = "uniform"  # uniform | quantile
    confidence: str = "top-label"  # top-label | positive (binary)
    temperature: float = 1.0
    fit_temperature: bool = False
    inputs: str = "auto"


@dataclass(frozen=True)
class Geometry:
    kind: str  # softmax | binary | multilabel
    inputs: str  # logits | probs
    mode: str  # top-label | positive
    classes: tuple[str, ...]


# ---------------------------------------------------------------------- per-batch scores
def _scores(
    batch: Batch, geo: Geometry, file: str, columns: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """(logits, target, weight) of the used rows; probabilities become logits (log p, or
    log p − log(1 − p)) so that a temperature applies to them too."""
    assert batch.preds is not None and batch.target is not None
    used = np.flatnonzero(batch.valid)
    if used.size == 0:
        return None
    preds = np.asarray(batch.preds[used], dtype=np.float64)
    bad = ~np.isfinite(preds)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise CEError(
            f"{file}: column {columns[c] if c < len(columns) else c} has NaN or "
            f"infinite predictions (first at row {batch.row_start + used[r] + 1}); "
            "fix or drop those rows"
        )
    if geo.inputs == "probs":
        outside = (preds < 0) | (preds > 1)
        if outside.any():
            r, c = (int(i) for i in np.argwhere(outside)[0])
            raise CEError(
                f"{file}: column {columns[c]} has a value outside [0, 1] (row "
                f"{batch.row_start + used[r] + 1}: {preds[r, c]:.6g}) but the inputs "
                "are taken as probabilities; pass --inputs logits"
            )
        if geo.kind == "softmax":
            logits, _ = losses.log_probs_from_probs(preds, eps=losses.EPS)
        else:
            log_p, log_1mp, _ = losses.log_prob_pair_from_probs(preds, eps=losses.EPS)
            logits = log_p - log_1mp
    else:
        logits = preds
    target = batch.target[used]
    if geo.kind == "binary":
        logits = logits[:, 0]
    weight = None if batch.sample_weight is None else batch.sample_weight[used]
    return logits, target, weight


class MetricSet:
    """Every calibration metric's accumulator at one temperature; merge adds them all."""

    def __init__(self, geo: Geometry, options: CalibrationOptions, temperature: float) -> None:
        self.geo, self.temperature = geo, temperature
        self.main = cal.CalibrationAccumulator(options.n_bins, options.strategy)
        self.adaptive = cal.CalibrationAccumulator(options.n_bins, "quantile")
        self.classwise = cal.ClasswiseCalibrationAccumulator(len(geo.classes), options.n_bins)
        self.brier = cal.MeanAccumulator("brier")
        self.nll = cal.MeanAccumulator("nll")
        self.accuracy = cal.MeanAccumulator("accuracy")
        self.n_rows = 0

    def update(self, logits: np.ndarray, target: np.ndarray, weight: np.ndarray | None) -> None:
        geo, t = self.geo, self.temperature
        self.n_rows += target.shape[0]
        if geo.kind == "multilabel":
            z, y = logits.reshape(-1), target.reshape(-1)
            w = None if weight is None else np.repeat(weight, logits.shape[1])
            conf, correct = cal.confidence_and_correct(
                z, y, kind="logits", mode="positive", temperature=t
            )
            p = 1 / (1 + np.exp(-z / t))
            self.classwise.update(1 / (1 + np.exp(-logits / t)), target, weight)
            self.brier.update((p - y) ** 2, w)
            bce = losses.bce_terms_from_logits(logits / t, target)
            self.nll.update(bce.mean(axis=1), weight)
            self.accuracy.update(((p > 0.5) == (y == 1)).astype(np.float64), w)
        else:
            conf, correct = cal.confidence_and_correct(
                logits, target, kind="logits", mode=geo.mode, temperature=t
            )
            w = weight
            if geo.kind == "binary":
                p = 1 / (1 + np.exp(-logits / t))
                probs = np.stack([1 - p, p], axis=1)
                nll = losses.bce_terms_from_logits(
                    (logits / t)[:, None], target[:, None].astype(np.float64)
                )[:, 0]
                predicted = (p > 0.5).astype(np.int64)
            else:
                logp = losses.log_softmax(logits, t)
                probs = np.exp(logp)
                nll = cal.nll_terms(logp, target)
                predicted = np.argmax(logits, axis=1)
            self.classwise.update(probs, target, weight)
            self.brier.update(cal.brier_terms(probs, target), weight)
            self.nll.update(nll, weight)
            self.accuracy.update((predicted == target).astype(np.float64), weight)
        self.main.update(conf, correct, w)
        self.adaptive.update(conf, correct, w)

    def merge(self, other: MetricSet) -> MetricSet:
        for name in ("main", "adaptive", "classwise", "brier", "nll", "accuracy"):
            getattr(self, name).merge(getattr(other, name))
        self.n_rows += other.n_rows
        return self


class Pass:
    """One pass over the data: metric sets at one or more temperatures."""

    def __init__(self, make: Callable[[], list[MetricSet]]) -> None:
        self.sets = make()

    def merge(self, other: Pass) -> Pass:
        for a, b in zip(self.sets, other.sets, strict=True):
            a.merge(b)
        return self


# ---------------------------------------------------------------------- the library function
def compute_calibration(
    options: InputOptions, calib: CalibrationOptions = CalibrationOptions()
) -> CalibrationReport:
    """Calibration metrics of a predictions file (and a fitted temperature on request)."""
    _check(calib)
    dataset = Dataset(options, read_preds=True)
    layout = dataset.layout
    classes = class_set(layout)
    first = dataset.first_batch()
    geo = _geometry(layout, classes, first, calib)
    inputs, decided_by = decide_inputs(layout, first, calib.inputs)
    geo = Geometry(geo.kind, inputs, geo.mode, classes)
    assert layout.preds is not None
    columns = layout.preds.names
    notes = [
        *layout.notes,
        f"inputs: {inputs} (from {decided_by})",
        f"confidence: {geo.mode}" + (" per label, pooled" if geo.kind == "multilabel" else ""),
    ]

    fit = None
    if calib.fit_temperature:
        fit = cal.fit_temperature(lambda: _fit_batches(options, geo, layout.pred_file, columns))
    temps = [calib.temperature] + ([fit.temperature] if fit is not None else [])

    def work(acc: Pass, batch: Batch) -> None:
        scored = _scores(batch, geo, file, columns)
        if scored is not None:
            for metric_set in acc.sets:
                metric_set.update(*scored)

    file = layout.pred_file

    def make() -> Pass:
        return Pass(lambda: [MetricSet(geo, calib, t) for t in temps])

    def build(result: Pass, whole: bool = True) -> CalibrationReport:
        sets = result.sets
        return _report(
            sets, geo, calib, fit, layout, options, inputs, decided_by, list(notes), whole
        )

    if options.group_by is None:
        return build(runner.accumulate(dataset, make, work, options, "calibration"))
    by = runner.accumulate_by_group(dataset, make, work, options, "calibration")
    report = build(by.total())
    attach(report, options.group_by, build_groups(by, lambda r: build(r, whole=False)))
    if fit is not None:
        report.notes.append(
            f"one temperature is fitted on all rows; each {options.group_by} shows its metrics "
            "before and after it (fit one group alone with --where)"
        )
    return report


def _check(calib: CalibrationOptions) -> None:
    if calib.n_bins < 1:
        raise CEError(f"--bins must be at least 1, not {calib.n_bins}")
    if calib.strategy not in cal.STRATEGIES:
        raise CEError(f"--strategy must be uniform or quantile, not {calib.strategy!r}")
    if not calib.temperature > 0 or not math.isfinite(calib.temperature):
        raise CEError(f"--temperature must be > 0, not {calib.temperature}")


def _geometry(
    layout: Layout, classes: tuple[str, ...], first: Batch, calib: CalibrationOptions
) -> Geometry:
    assert first.preds is not None
    k, c = first.preds.shape[1], len(classes)
    if layout.target_kind == "soft":
        raise CEError(
            f"{layout.label_file}: calibration needs one true class per row; these are "
            "soft targets (class probabilities)"
        )
    if layout.target_kind == "multi-hot":
        kind = "multilabel"
    elif k == 1:
        kind = "binary"
    else:
        kind = "softmax"
    if kind != "binary" and k != c:
        raise CEError(
            f"{layout.pred_file}: {k} prediction columns for {c} classes; they must "
            "match one to one"
        )
    if kind == "binary" and c != 2:
        raise CEError(f"{layout.pred_file}: one prediction column but {c} classes")
    mode = calib.confidence
    if mode == "positive" and not (kind == "binary" or (kind == "softmax" and c == 2)):
        raise CEError("--confidence positive is for binary data (P(y=1) reliability)")
    return Geometry(kind, "", "positive" if kind == "multilabel" else mode, classes)


def _fit_batches(
    options: InputOptions, geo: Geometry, file: str, columns: tuple[str, ...]
) -> Iterator[tuple[Any, ...]]:
    """A fresh pass over the input for the temperature fit (multi-label: flattened labels)."""
    if options.path == "-":
        raise CEError(
            "--fit-temperature reads the input several times; stdin can be read once: "
            "save it to a file"
        )
    for batch in Dataset(options, read_preds=True):
        scored = _scores(batch, geo, file, columns)
        if scored is None:
            continue
        logits, target, weight = scored
        if geo.kind == "multilabel":
            k = logits.shape[1]
            yield (
                logits.reshape(-1),
                target.reshape(-1),
                None if weight is None else np.repeat(weight, k),
            )
        elif geo.kind == "binary":
            yield logits, target.astype(np.float64), weight
        else:
            yield logits, target, weight


# ---------------------------------------------------------------------- the report
@dataclass
class CalibrationReport:
    task: str
    mode: str
    strategy: str
    n_bins: int
    n_samples: int
    inputs: str
    inputs_decided_by: str
    temperature: float
    metrics: dict[str, float | None]
    bins: list[dict[str, Any]]
    per_class: list[dict[str, Any]]
    fit: dict[str, Any] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    before: dict[str, Any] | None = None  # metrics and bins at the given temperature when fitted
    group_by: str | None = None
    groups: list[GroupEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "calibration",
            "task": self.task,
            "confidence": self.mode,
            "strategy": self.strategy,
            "n_bins": self.n_bins,
            "n_samples": self.n_samples,
            "inputs": {"kind": self.inputs, "decided_by": self.inputs_decided_by},
            "temperature": self.temperature,
            **self.metrics,
            "bins": self.bins,
            "per_class": self.per_class,
            "temperature_fit": self.fit,
            "before_fit": self.before,
            "source": self.source,
            "notes": self.notes,
            "warnings": self.warnings,
            **groups_dict(self),
        }

    def group_row(self) -> dict[str, Any]:
        """This report's line in a table of groups."""
        m = self.metrics
        row: dict[str, Any] = {"N": self.n_samples}
        if self.before is not None:
            row["ECE before"] = self.before["ece"]
        row.update(ECE=m["ece"], MCE=m["mce"], Brier=m["brier"], NLL=m["nll"])
        row["accuracy"] = m["accuracy"]
        return row

    def view(self) -> View:
        m = self.metrics
        summary: list[tuple[str, Any]] = [
            ("ECE", m["ece"]),
            ("MCE", m["mce"]),
            ("RMSCE", m["rmsce"]),
            ("adaptive ECE", m["adaptive_ece"]),
            ("classwise ECE", m["classwise_ece"]),
            ("Brier", m["brier"]),
            ("NLL", m["nll"]),
            ("accuracy", m["accuracy"]),
            ("N", self.n_samples),
            ("", self.task),
        ]
        if self.fit is not None:
            summary.insert(0, ("fitted T", self.fit["temperature"]))
            assert self.before is not None
            summary.insert(1, ("ECE before", self.before["ece"]))
            summary.insert(2, ("NLL before", self.before["nll"]))
        elif self.temperature != 1:
            summary.append(("T", self.temperature))
        rows = [
            [_range(b), b["count"], b["confidence"], b["accuracy"], b["gap"], _bar(b)]
            for b in self.bins
        ]
        caption = f"reliability ({self.strategy} bins, {self.mode} confidence"
        caption += f", after T = {self.fit['temperature']:.4g})" if self.fit else ")"
        tables = [
            Table(
                ["bin", "count", "confidence", "accuracy", "gap", "accuracy ▏confidence"],
                rows,
                caption=caption,
            )
        ]
        if self.per_class:
            tables.append(
                Table(
                    ["class", "support", "ECE"],
                    [[c["name"], c["support"], c["ece"]] for c in self.per_class],
                    caption="one-vs-rest ECE per class",
                )
            )
        view = View(
            f"ce calibrate · {self.source.get('file', '')}",
            summary,
            tables,
            self.warnings,
            self.notes,
        )
        return with_groups(view, self)

    def csv_table(self) -> Table:
        return grouped_csv(self, self._bin_table())

    def _bin_table(self) -> Table:
        return Table(
            ["lower", "upper", "count", "confidence", "accuracy", "gap"],
            [
                [b["lower"], b["upper"], b["count"], b["confidence"], b["accuracy"], b["gap"]]
                for b in self.bins
            ],
        )


def _range(b: dict[str, Any]) -> str:
    left = "[" if b["lower"] == 0 else "("
    return f"{left}{b['lower']:.3g}, {b['upper']:.3g}]"


def _bar(b: dict[str, Any], width: int = 20) -> str:
    """Accuracy as a bar, the mean confidence as a ▏ mark: the reliability diagram as text."""
    if b["accuracy"] is None:
        return ""
    cells = ["█" if i < round(b["accuracy"] * width) else " " for i in range(width)]
    mark = min(width - 1, int(b["confidence"] * width))
    cells[mark] = "▏" if cells[mark] == " " else "▌"
    return "".join(cells)


def _metrics(ms: MetricSet) -> tuple[dict[str, float | None], list[str]]:
    main, adaptive, classwise = ms.main.compute(), ms.adaptive.compute(), ms.classwise.compute()
    brier, nll, acc = ms.brier.compute(), ms.nll.compute(), ms.accuracy.compute()
    values = {
        "ece": main.ece,
        "mce": main.mce,
        "rmsce": main.rmsce,
        "adaptive_ece": adaptive.ece,
        "classwise_ece": classwise.ece,
        "brier": brier.value,
        "nll": nll.value,
        "accuracy": acc.value,
    }
    warnings = list(dict.fromkeys([*main.warnings, *adaptive.warnings, *brier.warnings]))
    return {k: finite_or_none(v) for k, v in values.items()}, warnings


def _bins(result: cal.CalibrationResult) -> list[dict[str, Any]]:
    return [
        {
            "lower": b.lower,
            "upper": b.upper,
            "count": b.count,
            "weight": b.weight,
            "confidence": b.confidence,
            "accuracy": b.accuracy,
            "gap": b.gap,
        }
        for b in result.bins
    ]


def _report(
    sets: list[MetricSet],
    geo: Geometry,
    calib: CalibrationOptions,
    fit: cal.TemperatureFit | None,
    layout: Layout,
    options: InputOptions,
    inputs: str,
    decided_by: str,
    notes: list[str],
    whole: bool = True,
) -> CalibrationReport:
    """The report of ``sets`` (at the given temperature, then the fitted one). ``whole``:
    the rows the temperature was fitted on — else (a group) without the fit's own numbers."""
    final = sets[-1]
    metrics, warnings = _metrics(final)
    classwise = final.classwise.compute()
    per_class = [
        {"name": name, "support": r.weight * (r.accuracy or 0.0), "ece": r.ece}
        for name, r in zip(geo.classes, classwise.per_class, strict=True)
    ]
    task = "multilabel" if geo.kind == "multilabel" else (layout.task or "multiclass")
    report = CalibrationReport(
        task=task,
        mode=geo.mode,
        strategy=calib.strategy,
        n_bins=calib.n_bins,
        n_samples=final.n_rows,
        inputs=inputs,
        inputs_decided_by=decided_by,
        temperature=fit.temperature if fit is not None else calib.temperature,
        metrics=metrics,
        bins=_bins(final.main.compute()),
        per_class=per_class,
        source={"file": options.display, "labels_file": options.labels_path},
        notes=notes,
    )
    if fit is not None:
        before, _ = _metrics(sets[0])
        report.before = {
            **before,
            "temperature": calib.temperature,
            "bins": _bins(sets[0].main.compute()),
        }
        if whole:
            report.fit = {
                "temperature": fit.temperature,
                "nll_before": fit.nll_before,
                "nll_after": fit.nll_after,
                "passes": fit.passes,
                "converged": fit.converged,
            }
            warnings += list(fit.warnings)
        if (
            before["accuracy"] is not None
            and metrics["accuracy"] is not None
            and abs(before["accuracy"] - metrics["accuracy"]) > 1e-12
        ):
            warnings.append("accuracy changed with the temperature (ties in the scores?)")
    if final.n_rows == 1:
        warnings.append("one row: the calibration metrics say little")
    report.warnings = list(dict.fromkeys(warnings))
    return report
