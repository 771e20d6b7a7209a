"""``ce calibrate`` as a library function: calibration metrics, temperature fit, bin table.

Confidence per row (``mode``):
  - ``top-label`` (Guo et al. 2017): c = max_k q_k, correct = [argmax q = y]; binary with one
    column: c = max(p, 1 − p);
  - ``positive`` (binary only): c = P(y = 1), "correct" = y — the reliability of P(y = 1);
  - multi-label: every label is its own binary problem (positive mode), pooled over labels,
    and each label's ECE is listed.
The temperature fit minimises the NLL over β = 1/T with a few Newton passes over the stream
(``calibration.fit_temperature``); the metrics before and after it come with its passes where
they can, else from one more pass. Softmax rows take one fused pass
(``softmax_calibration.softmax_calibration_rows``). The fit reads the input
once when its rows fit the memory budget (``_FitCache``): its first pass reads the stream the
plan opened, and each worker thread decodes a raw batch, keeps its used rows and sums them
(``_FirstPass``). At the given T = 1 that pass also gives the metrics before the fit, and the
pass the search expects to be its last (its refined step expected within tol / 8) also measures
the metrics at that pass's T (``_FusedPasses``). When that pass is indeed the last, it is the
metrics after the fit: no further pass (near T = 1: two passes in all, the read and one over
the kept rows); otherwise they come from the kept rows (``_replay``) or a new read. Every fit
pass computes its batches on the worker threads and adds their sums in batch order
(``engine.ordered_map``), and a fused pass's metric rows likewise (``_fit_mapper``): the fit and
its metrics are the same floats whatever the thread count and the schedule.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ce_cli.core import calibration as cal
from ce_cli.core import losses
from ce_cli.core.errors import CEError
from ce_cli.core.limits import MAX_BINS
from ce_cli.core.progress import metered
from ce_cli.core.softmax_calibration import SoftmaxRows, softmax_calibration_rows
from ce_cli.core.vocab import STRATEGIES
from ce_cli.engine import runner
from ce_cli.engine.ordered_map import ordered_map
from ce_cli.io.batch import Batch
from ce_cli.io.dataset import Dataset, InputOptions, RawBatch
from ce_cli.io.formats import default_threads
from ce_cli.io.layout import Layout
from ce_cli.report.decisions import check_predictions, class_set, decide_inputs
from ce_cli.report.groups import (
    GroupEntry,
    attach,
    build_groups,
    grouped_csv,
    groups_dict,
    with_groups,
)
from ce_cli.report.view import SCHEMA_VERSION, Table, View, finite_or_none

METRICS = ("ece", "mce", "rmsce", "adaptive_ece", "classwise_ece", "brier", "nll", "accuracy")

FIT_MAX_PASSES = 30  # core.calibration.fit_temperature's default
FIT_CACHE_RAM_FRACTION = 4  # the fit keeps its rows in memory up to 1/4 of physical RAM


@dataclass(frozen=True)
class CalibrationOptions:
    n_bins: int = cal.DEFAULT_N_BINS
    strategy: str = "uniform"  # uniform | quantile
    confidence: str = "top-label"  # top-label | positive (binary)
    temperature: float = 1.0
    fit_temperature: bool = False
    memory_budget: int | None = None  # bytes the fit may keep in memory; None: RAM / 4
    inputs: str = "auto"


@dataclass(frozen=True)
class Geometry:
    kind: str  # softmax | binary | multilabel
    inputs: str  # logits | probs
    mode: str  # top-label | positive
    classes: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """What is decided once, before the first batch: the geometry, the columns, and the notes
    that say how."""

    geo: Geometry
    layout: Layout
    decided_by: str
    notes: tuple[str, ...]

    @property
    def file(self) -> str:
        return self.layout.pred_file

    @property
    def columns(self) -> tuple[str, ...]:
        assert self.layout.preds is not None
        return tuple(self.layout.preds.names)


# ---------------------------------------------------------------------- per-batch scores
class Scored(NamedTuple):
    """A batch's used rows as the metrics take them."""

    logits: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None
    renormalised: int  # softmax probability rows not summing to 1 (taken as q = p / Σp)


def _scores(batch: Batch, geo: Geometry, file: str, columns: tuple[str, ...]) -> Scored | None:
    """The used rows; probabilities become logits (log p, or log p − log(1 − p)) so that a
    temperature applies to them too — softmax rows thereby renormalised, q = p / Σp. Softmax
    logits keep their dtype (the kernels convert them block by block); all rows used: no
    copy."""
    assert batch.preds is not None and batch.target is not None
    used = np.flatnonzero(batch.valid)
    if used.size == 0:
        return None
    every = used.size == batch.preds.shape[0]
    raw = batch.preds if every else batch.preds[used]
    probs = geo.inputs == "probs"
    check_predictions(raw, batch.row_start + used, file, columns, probs=probs)
    renormalised = 0
    if probs:
        logits = _logits_from_probs(np.asarray(raw, dtype=np.float64), geo.kind)
        renormalised = losses.rows_off_simplex(raw) if geo.kind == "softmax" else 0
    elif geo.kind == "softmax" and raw.dtype.kind == "f":
        logits = raw
    else:
        logits = np.asarray(raw, dtype=np.float64)
    target = batch.target if every else batch.target[used]
    if geo.kind == "binary":
        logits = logits[:, 0]
    weight = None
    if batch.sample_weight is not None:
        weight = batch.sample_weight if every else batch.sample_weight[used]
    return Scored(logits, target, weight, renormalised)


def _logits_from_probs(preds: np.ndarray, kind: str) -> np.ndarray:
    """Softmax rows: ``log q`` with ``q = p / Σp`` (clipped); sigmoid values: the logit
    ``log p − log(1 − p)``."""
    if kind == "softmax":
        logits, _ = losses.log_probs_from_probs(preds, eps=losses.EPS)
        return logits
    log_p, log_1mp, _ = losses.log_prob_pair_from_probs(preds, eps=losses.EPS)
    return log_p - log_1mp


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = exp(log σ(z)), through the stable kernel (no overflow for any z)."""
    log_p, _ = losses.log_sigmoid_pair(z)
    return np.exp(log_p)


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
        self.n_renormalised = 0  # probability rows not summing to 1, taken as p / Σp

    def update(self, scored: Scored) -> None:
        logits, target, weight = scored.logits, scored.target, scored.weight
        self.n_rows += target.shape[0]
        self.n_renormalised += scored.renormalised
        if self.geo.kind == "multilabel":
            self._update_multilabel(logits, target, weight)
        else:
            self._update_single(logits, target, weight)

    def _update_multilabel(self, logits: np.ndarray, target: np.ndarray, weight: Any) -> None:
        """Every label its own binary problem (P(y = 1) confidence), pooled over labels."""
        t = self.temperature
        probs = _sigmoid(logits / t)
        p, y = probs.reshape(-1), target.reshape(-1)
        w = None if weight is None else np.repeat(weight, logits.shape[1])
        conf, correct = cal.confidence_and_correct(
            logits.reshape(-1), y, kind="logits", mode="positive", temperature=t
        )
        self.classwise.update(probs, target, weight)
        self.brier.update((p - y) ** 2, w)
        self.nll.update(losses.bce_terms_from_logits(logits / t, target).mean(axis=1), weight)
        self.accuracy.update(((p > 0.5) == (y == 1)).astype(np.float64), w)
        self._bin(conf, correct, w)

    def _update_single(self, logits: np.ndarray, target: np.ndarray, weight: Any) -> None:
        """One true class per row: softmax rows, or one binary column (P(y = 1) = σ(z/T))."""
        if self.geo.kind == "softmax":
            self._update_softmax(logits, target, weight)
            return
        t = self.temperature
        conf, correct = cal.confidence_and_correct(
            logits, target, kind="logits", mode=self.geo.mode, temperature=t
        )
        p = _sigmoid(logits / t)
        probs = np.stack([1 - p, p], axis=1)
        nll = losses.bce_terms_from_logits(
            (logits / t)[:, None], target[:, None].astype(np.float64)
        )[:, 0]
        predicted = (p > 0.5).astype(np.int64)
        self.classwise.update(probs, target, weight)
        self.brier.update(cal.brier_terms(probs, target), weight)
        self.nll.update(nll, weight)
        self.accuracy.update((predicted == target).astype(np.float64), weight)
        self._bin(conf, correct, weight)

    def softmax_rows(
        self, scored: Scored, derivatives: bool = False, higher: bool = True
    ) -> tuple[SoftmaxRows, tuple[np.ndarray, np.ndarray]]:
        """The fused pass's rows of softmax ``scored`` at this set's T (with ``derivatives``:
        also the NLL's derivatives in β = 1/T, for the temperature fit; the third and fourth
        with ``higher``) and the (confidence, correct) pairs to bin: computed, not added
        (``add_softmax``), so that any thread may compute them."""
        logits, target, weight = scored.logits, scored.target, scored.weight
        rows = softmax_calibration_rows(
            logits,
            target,
            weight,
            temperature=self.temperature,
            n_bins=self.classwise.n_bins,
            derivatives=derivatives,
            higher=higher,
        )
        if self.geo.mode == "top-label":
            return rows, (rows.confidence, rows.correct)
        binned = cal.confidence_and_correct(
            logits, target, kind="logits", mode=self.geo.mode, temperature=self.temperature
        )
        return rows, binned

    def add_softmax(
        self, scored: Scored, rows: SoftmaxRows, binned: tuple[np.ndarray, np.ndarray]
    ) -> None:
        """Add the rows ``softmax_rows`` computed of ``scored``."""
        self.n_rows += scored.target.shape[0]
        self.n_renormalised += scored.renormalised
        self._add_softmax(rows, binned, scored.weight)

    def _update_softmax(self, logits: np.ndarray, target: np.ndarray, weight: Any) -> None:
        """Softmax rows: every metric from one fused pass over row blocks."""
        rows, binned = self.softmax_rows(Scored(logits, target, weight, 0))
        self._add_softmax(rows, binned, weight)

    def _add_softmax(
        self, rows: SoftmaxRows, binned: tuple[np.ndarray, np.ndarray], weight: Any
    ) -> None:
        bins = rows.classwise
        self.classwise.add_sums(bins.count, bins.weight, bins.conf_sum, bins.correct_sum)
        self.brier.update(rows.brier, weight)
        self.nll.update(rows.nll, weight)
        self.accuracy.update(rows.correct, weight)
        self._bin(*binned, weight)

    def _bin(self, conf: np.ndarray, correct: np.ndarray, weight: Any) -> None:
        self.main.update(conf, correct, weight)
        self.adaptive.update(conf, correct, weight)

    def merge(self, other: MetricSet) -> MetricSet:
        for name in ("main", "adaptive", "classwise", "brier", "nll", "accuracy"):
            getattr(self, name).merge(getattr(other, name))
        self.n_rows += other.n_rows
        self.n_renormalised += other.n_renormalised
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
    """Calibration metrics of a predictions file (and a fitted temperature on request).

    Steps: check the options; decide the geometry once (``_plan``); fit T (its own passes);
    one pass accumulating a ``MetricSet`` per temperature; the report (per group with
    ``--group-by``). Nothing counted (every row left out, or every sample weight 0) is an error.
    """
    _check(calib)
    dataset = Dataset(options, read_preds=True)
    plan = _plan(dataset, calib)
    fit, cache, before, after = None, None, None, None
    if calib.fit_temperature:
        fused = _FusedPasses(plan.geo, calib) if _fusable(plan, calib, options) else None
        fit, cache = _fit(options, plan, dataset, calib.memory_budget, fused)
        if fused is not None:
            before, after = fused.first.merged(), fused.after(fit)
    temps = ([calib.temperature] if before is None else []) + ([fit.temperature] if fit else [])

    def make() -> Pass:
        return Pass(lambda: [MetricSet(plan.geo, calib, t) for t in temps])

    def work(acc: Pass, batch: Batch) -> None:
        scored = _scores(batch, plan.geo, plan.file, plan.columns)
        if scored is not None:
            _update(acc, scored)

    def build(result: Pass, whole: bool = True) -> CalibrationReport:
        return _report(result.sets, plan, calib, fit, options, whole)

    def stream() -> Dataset:  # the fit's first pass read the plan's
        return Dataset(options, read_preds=True) if calib.fit_temperature else dataset

    if options.group_by is None:
        if after is not None:  # the fit's last pass measured the metrics at the fitted T
            result = Pass(lambda: [after])
        elif cache is not None and _replayable(cache, plan, options):
            result = _replay(cache, make, options)
        else:
            result = runner.accumulate(stream(), make, work, options, "calibration")
        if before is not None:  # the metrics at T = 1 came with the fit's first pass
            result.sets.insert(0, before)
        return build(_counted(result, plan, options))
    by = runner.accumulate_by_group(stream(), make, work, options, "calibration")
    report = build(_counted(by.total(), plan, options))
    attach(report, options.group_by, build_groups(by, lambda r: build(r, whole=False)))
    if fit is not None:
        report.notes.append(
            f"one temperature is fitted on all rows; each {options.group_by} shows its metrics "
            "before and after it (fit one group alone with --where)"
        )
    return report


def _update(acc: Pass, scored: Scored) -> None:
    for metric_set in acc.sets:
        metric_set.update(scored)


def _fusable(plan: Plan, calib: CalibrationOptions, options: InputOptions) -> bool:
    """Whether the fit's first pass (at T = 1) can also give the metrics before the fit: softmax
    rows at the given T = 1, one report over all rows, on the local engine."""
    local = runner.engine_options(options).engine == "local"
    single = options.group_by is None and plan.geo.kind == "softmax"
    return single and local and calib.temperature == 1.0


class _FusedPass:
    """A fit pass at ``β`` fused with the metrics at ``T = 1/β``: one ``softmax_calibration_rows``
    per batch (on a worker thread) gives both the batch's NLL sums with their derivatives at
    ``β`` and its metric rows; the fit's mapper (``_fit_mapper``) then adds the rows to the
    pass's ``MetricSet`` on the consuming thread, in batch order, as the fit adds the sums: the
    metrics are the same floats whatever the thread count and the schedule."""

    def __init__(
        self, geo: Geometry, calib: CalibrationOptions, beta: float = 1.0, higher: bool = True
    ) -> None:
        self.beta, self.higher = beta, higher
        self.metric_set = MetricSet(geo, calib, 1.0 / beta)

    def __call__(self, batch: tuple[Any, ...]) -> _FusedSums:
        scored = Scored(*batch)
        rows, binned = self.metric_set.softmax_rows(scored, derivatives=True, higher=self.higher)
        assert rows.grad is not None and rows.hess is not None
        sums = _FusedSums(
            self.beta, functools.partial(self.metric_set.add_softmax, scored, rows, binned)
        )
        higher = None if rows.d3 is None or rows.d4 is None else (rows.d3, rows.d4)
        sums.add_rows("softmax", rows.nll, rows.grad, rows.hess, scored.weight, higher)
        return sums

    def merged(self) -> MetricSet:
        """The pass's metric set (every batch's rows added)."""
        return self.metric_set


class _FusedSums(cal.TemperatureAccumulator):
    """A fused batch's NLL sums, and ``finish``: add its metric rows to its pass's set (on the
    consuming thread, in batch order: ``_fit_mapper``)."""

    def __init__(self, beta: float, finish: Callable[[], None]) -> None:
        super().__init__(beta)
        self.finish: Callable[[], None] | None = finish


def _fit_mapper(threads: int) -> cal.Mapper:
    """``ordered_map`` on ``threads`` worker threads whose fused results are finished
    (``_FusedSums.finish``) on the consuming thread as they come, in batch order."""
    inner = ordered_map(threads)

    def mapper(fn: cal.BatchSums, items: cal.Batches) -> Iterator[cal.TemperatureAccumulator]:
        for sums in inner(fn, items):
            if isinstance(sums, _FusedSums) and sums.finish is not None:
                sums.finish()
                sums.finish = None  # its rows are added: let them go
            yield sums

    return mapper


class _FusedPasses:
    """The fit's fused passes: the first (``β = 1``: the metrics before the fit) and those the
    search expects to be the last (``at``); ``after(fit)``: the metrics at the fitted T when
    the fit's last pass was one of them, else None (a metric pass is then needed)."""

    def __init__(self, geo: Geometry, calib: CalibrationOptions) -> None:
        self.geo, self.calib = geo, calib
        self.first = _FusedPass(geo, calib)
        self.passes_made = 0  # counted by the fit's batches (``_fit``)
        self.last: tuple[int, _FusedPass] | None = None

    def at(self, beta: float) -> _FusedPass:
        fused = _FusedPass(self.geo, self.calib, beta, higher=False)
        self.last = (self.passes_made + 1, fused)
        return fused

    def after(self, fit: cal.TemperatureFit) -> MetricSet | None:
        if fit.passes == 1:
            return self.first.merged()
        if self.last is not None and self.last[0] == fit.passes:
            return self.last[1].merged()
        return None


def _replayable(cache: _FitCache, plan: Plan, options: InputOptions) -> bool:
    """Whether the metrics can be taken from the fit's kept rows instead of a new read: all
    kept, softmax rows as ``_scores`` gave them, on the local engine."""
    local = runner.engine_options(options).engine == "local"
    return cache.complete and plan.geo.kind == "softmax" and local


def _replay(cache: _FitCache, make: Callable[[], Pass], options: InputOptions) -> Pass:
    """The metric pass over the rows the fit kept (worker threads; no second read)."""

    def size(kept: tuple[Any, ...]) -> tuple[int, int]:
        return len(kept[1]), kept[0].nbytes

    def work(acc: Pass, kept: tuple[Any, ...]) -> None:
        _update(acc, Scored(*kept))

    rows = sum(len(kept[1]) for kept in cache.batches)
    items = metered(cache.replay(), options.progress, "calibration", rows, size)
    return runner.run(items, make, work, threads=_threads(options))


def _check(calib: CalibrationOptions) -> None:
    """The options a library caller could get wrong (the CLI's types check them first)."""
    if not 1 <= calib.n_bins <= MAX_BINS:
        raise CEError(f"--bins must be in 1 … {MAX_BINS}, not {calib.n_bins}")
    if calib.strategy not in STRATEGIES:
        raise CEError(f"--strategy must be uniform or quantile, not {calib.strategy!r}")
    if not calib.temperature > 0 or not math.isfinite(calib.temperature):
        raise CEError(f"--temperature must be > 0, not {calib.temperature}")


def _counted(result: Pass, plan: Plan, options: InputOptions) -> Pass:
    """``result``, unless nothing was counted: then the metrics are undefined, an error."""
    counted = result.sets[0]
    _require_rows(counted.n_rows, counted.nll.weight, plan, options)
    return result


def _require_rows(n_rows: int, weight: float, plan: Plan, options: InputOptions) -> None:
    """A one-line error naming the file and the reason when no row (or no weight) counted."""
    if n_rows == 0:
        why = "every row was left out (--ignore-index / --mask-col / --where)"
    elif weight == 0:
        why = f"every used row has sample weight 0 (--weight-col {options.weight_col})"
    else:
        return
    raise CEError(f"{plan.file}: the calibration metrics are undefined: {why}")


def _plan(dataset: Dataset, calib: CalibrationOptions) -> Plan:
    """Classes, geometry, confidence mode and input kind, from the layout and the first batch."""
    layout = dataset.layout
    classes = class_set(layout)
    first = dataset.first_batch()
    kind, mode = _geometry(layout, classes, first, calib)
    inputs, decided_by = decide_inputs(layout, first, calib.inputs)
    notes = (
        *layout.notes,
        f"inputs: {inputs} (from {decided_by})",
        f"confidence: {mode}" + (" per label, pooled" if kind == "multilabel" else ""),
    )
    return Plan(Geometry(kind, str(inputs), mode, classes), layout, decided_by, notes)


def _geometry(
    layout: Layout, classes: tuple[str, ...], first: Batch, calib: CalibrationOptions
) -> tuple[str, str]:
    """(softmax | binary | multilabel, the confidence mode), checked against the classes."""
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
    return kind, "positive" if kind == "multilabel" else mode


def _fit(
    options: InputOptions,
    plan: Plan,
    dataset: Dataset,
    budget: int | None = None,
    fused: _FusedPasses | None = None,
) -> tuple[cal.TemperatureFit, _FitCache]:
    """The temperature minimising the NLL, and the rows it kept. The first pass reads
    ``dataset``'s stream (the plan's: the input is opened once); each worker thread decodes its
    raw batches, keeps their used rows (``_FitCache``, while they fit in ``budget`` bytes) and
    sums them (``_FirstPass``). The later Newton passes read the kept rows, else the input
    again. Each pass sums its batches on the worker threads, added in batch order
    (``_fit_mapper``); ``fused``, when given, makes the first pass's sums (and the metrics at
    T = 1 on the way) and those of a pass the search expects to be the last (and the metrics at
    its T)."""
    if options.path == "-":
        raise CEError(
            "--fit-temperature reads the input several times; stdin can be read once: "
            "save it to a file"
        )
    passes = itertools.count(1)
    cache = _FitCache(_default_budget() if budget is None else budget)
    first = _FirstPass(dataset, plan, cache, None if fused is None else fused.first)
    total = dataset.num_rows if options.progress is not None else None

    def one_pass() -> Iterator[Any]:
        """One fit pass, metered ("fit pass 3/≤30"): the first over the raw batches (its total
        the file's rows), the others over the used rows (the first pass's count)."""
        n = next(passes)
        if fused is not None:
            fused.passes_made = n
        label = f"fit pass {n}/≤{FIT_MAX_PASSES}"
        if n == 1:
            raw = _fit_batches(options, plan, dataset)
            return metered(raw, options.progress, label, total, _raw_size)
        cache.finish()
        batches = cache.replay() if cache.complete else _fit_batches(options, plan)
        return metered(batches, options.progress, label, first.used, first.kept_size)

    mapper = _fit_mapper(_threads(options))
    with _small_pages(cache.budget > 0):
        fit = cal.fit_temperature(
            one_pass,
            max_passes=FIT_MAX_PASSES,
            mapper=mapper,
            first_sums=first,
            last_sums=None if fused is None else fused.at,
        )
    cache.finish()
    _require_rows(fit.n_rows, fit.weight, plan, options)
    return fit, cache


def _raw_size(item: tuple[int, RawBatch]) -> tuple[int, int]:
    """Rows and bytes of an undecoded batch (the progress of the fit's first pass)."""
    batch = item[1][0]
    return batch.num_rows, batch.nbytes


class _FirstPass:
    """The fit's first pass on one raw batch ``(k, raw)``, run on a worker thread: decode it,
    keep its used rows (``_FitCache.keep``) and return their sums at ``β = 1`` — from ``fused``
    (with the metrics at T = 1) when given. Counts the used rows (``used``)."""

    def __init__(
        self, dataset: Dataset, plan: Plan, cache: _FitCache, fused: _FusedPass | None
    ) -> None:
        self.dataset, self.plan, self.cache, self.fused = dataset, plan, cache, fused
        self.per_row = len(plan.columns) if plan.geo.kind == "multilabel" else 1
        self.used = 0
        self.lock = threading.Lock()

    def __call__(self, item: tuple[int, RawBatch]) -> cal.TemperatureAccumulator:
        plan = self.plan
        scored = _scores(self.dataset.decode(item[1]), plan.geo, plan.file, plan.columns)
        if scored is None:
            return cal.TemperatureAccumulator(1.0)  # adds nothing
        rows = _fit_rows(scored, plan.geo.kind)
        self.cache.keep(item[0], rows)
        with self.lock:
            self.used += scored.target.shape[0]
        return cal._batch_sums(1.0, rows) if self.fused is None else self.fused(rows)

    def kept_size(self, rows: tuple[Any, ...]) -> tuple[int, int]:
        """Rows and bytes of a batch of used rows (multi-label: flattened)."""
        return len(rows[1]) // self.per_row, rows[0].nbytes


@contextlib.contextmanager
def _small_pages(on: bool) -> Iterator[None]:
    """numpy's ``madvise(MADV_HUGEPAGE)`` of large arrays switched off (when ``on``) while the
    fit keeps its batches. Kept batches are fresh memory each; faulting them in as huge pages
    (with the kernel's compaction) cost ~0.8 s of system time for the 400 MB of 1M × 100
    float32 logits on the 2-core benchmark machine, against ~0.1 s as 4 KiB pages. The switch
    is numpy's own (``_set_madvise_hugepage``; nothing happens without it) and is restored
    afterwards."""
    multiarray = getattr(getattr(np, "_core", None), "multiarray", None)
    switch = getattr(multiarray, "_set_madvise_hugepage", None)
    if not on or switch is None:
        yield
        return
    before = switch(False)
    try:
        yield
    finally:
        switch(before)


def _threads(options: InputOptions) -> int:
    return options.threads if options.threads > 0 else default_threads()


def _default_budget() -> int:
    """A quarter of physical memory (1 GiB where the platform does not say)."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return int(ram) // FIT_CACHE_RAM_FRACTION
    except (ValueError, OSError, AttributeError):
        return 1 << 30


class _FitCache:
    """The temperature fit's batches, kept from its first pass while they fit in ``budget``
    bytes: logits as float32 when that is exact (float32 input), else as they came. Batches
    arrive from the worker threads in any order, each with its index (``keep``); ``replay``
    gives them in input order. Complete (``finish``) when all of them fitted the budget."""

    def __init__(self, budget: int) -> None:
        self.budget, self.nbytes = budget, 0
        self.kept: dict[int, tuple[Any, ...]] = {}
        self.over = budget <= 0  # a batch did not fit: nothing is kept
        self.complete = False
        self.lock = threading.Lock()

    def keep(self, k: int, batch: tuple[Any, ...]) -> None:
        """Keep batch ``k`` while the kept bytes stay within the budget (thread-safe)."""
        if self.over:
            return
        kept = (_narrow(batch[0]), *batch[1:])
        size = sum(a.nbytes for a in kept if isinstance(a, np.ndarray))
        with self.lock:
            self.nbytes += size
            self.over = self.over or self.nbytes > self.budget
            if self.over:
                self.kept.clear()
            else:
                self.kept[k] = kept

    def finish(self) -> None:
        """The first pass is over: complete if every batch was kept."""
        self.complete = not self.over

    def record(self, batches: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        """Pass ``batches`` through, keeping them; complete if all fitted the budget."""
        for k, batch in enumerate(batches):
            self.keep(k, batch)
            yield batch
        self.finish()

    @property
    def batches(self) -> list[tuple[Any, ...]]:
        """The kept batches in input order."""
        return [self.kept[k] for k in sorted(self.kept)]

    def replay(self) -> Iterator[tuple[Any, ...]]:
        yield from self.batches


def _narrow(logits: np.ndarray) -> np.ndarray:
    """float32 logits when they are float32 values (exact both ways), else the array itself."""
    if logits.dtype == np.float32:
        return logits
    narrow = logits.astype(np.float32)
    return narrow if np.array_equal(narrow, logits) else logits


def _fit_batches(
    options: InputOptions, plan: Plan, dataset: Dataset | None = None
) -> Iterator[Any]:
    """A read of the input by the temperature fit. The first pass reads ``dataset``'s stream
    (the plan's): ``(k, raw batch)``, decoded by ``_FirstPass`` on the worker threads. A later
    pass (rows not kept) reads the input again: ``(logits, target, weight, renormalised)`` per
    batch in input order (multi-label: flattened labels), decoded on the worker threads."""
    if dataset is not None:
        return enumerate(dataset.pairs())
    return _read_again(options, plan)


def _read_again(options: InputOptions, plan: Plan) -> Iterator[tuple[Any, ...]]:
    dataset = Dataset(options, read_preds=True)

    def kept(raw: RawBatch) -> tuple[Any, ...] | None:
        scored = _scores(dataset.decode(raw), plan.geo, plan.file, plan.columns)
        return None if scored is None else _fit_rows(scored, plan.geo.kind)

    for rows in ordered_map(_threads(options))(kept, dataset.pairs()):
        if rows is not None:
            yield rows


def _fit_rows(scored: Scored, kind: str) -> tuple[Any, ...]:
    """What the fit takes of a batch's used rows (and keeps, with the renormalised count)."""
    logits, target, weight, renormalised = scored
    if kind == "multilabel":
        k = logits.shape[1]
        flat_weight = None if weight is None else np.repeat(weight, k)
        return logits.reshape(-1), target.reshape(-1), flat_weight, renormalised
    if kind == "binary":
        return logits, target.astype(np.float64), weight, renormalised
    return logits, target, weight, renormalised


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
                optional=("accuracy ▏confidence", "gap"),
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
    # adaptive ECE always bins by quantile: say so, or a uniform run warns of quantile bins
    adaptive_warnings = [f"adaptive ECE: {w}" for w in adaptive.warnings if w not in main.warnings]
    warnings = list(dict.fromkeys([*main.warnings, *adaptive_warnings, *brier.warnings]))
    return {k: finite_or_none(v) for k, v in values.items()}, warnings


def decimal_edge(x: float, n_bins: int) -> float:
    """A bin edge as the decimal it stands for: ``i/M`` (0.3, not 0.30000000000000004) when it
    is one to 1e-12; any other edge (a quantile) unchanged."""
    i = round(x * n_bins)
    return i / n_bins if abs(x * n_bins - i) < 1e-12 * max(n_bins, 1) else x


def _bins(result: cal.CalibrationResult) -> list[dict[str, Any]]:
    return [
        {
            "lower": decimal_edge(b.lower, result.n_bins),
            "upper": decimal_edge(b.upper, result.n_bins),
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
    plan: Plan,
    calib: CalibrationOptions,
    fit: cal.TemperatureFit | None,
    options: InputOptions,
    whole: bool = True,
) -> CalibrationReport:
    """The report of ``sets`` (at the given temperature, then the fitted one). ``whole``:
    the rows the temperature was fitted on — else (a group) without the fit's own numbers."""
    final, geo = sets[-1], plan.geo
    metrics, warnings = _metrics(final)
    report = CalibrationReport(
        task="multilabel" if geo.kind == "multilabel" else (plan.layout.task or "multiclass"),
        mode=geo.mode,
        strategy=calib.strategy,
        n_bins=calib.n_bins,
        n_samples=final.n_rows,
        inputs=geo.inputs,
        inputs_decided_by=plan.decided_by,
        temperature=fit.temperature if fit is not None else calib.temperature,
        metrics=metrics,
        bins=_bins(final.main.compute()),
        per_class=_per_class(final, geo.classes),
        source={"file": options.display, "labels_file": options.labels_path},
        notes=list(plan.notes),
    )
    if fit is not None:
        warnings += _add_fit(report, sets[0], calib, fit if whole else None)
    if final.n_rows == 1:
        warnings.append("one row: the calibration metrics say little")
    if final.n_renormalised:
        warnings.append(
            f"{final.n_renormalised} probability rows do not sum to 1; calibration takes each "
            "as q = p / Σp (softmax of log p), while ce score scores them as given"
        )
    report.warnings = list(dict.fromkeys(warnings))
    return report


def _per_class(final: MetricSet, classes: tuple[str, ...]) -> list[dict[str, Any]]:
    """One-vs-rest ECE and support of every class."""
    classwise = final.classwise.compute()
    return [
        {"name": name, "support": r.weight * (r.accuracy or 0.0), "ece": r.ece}
        for name, r in zip(classes, classwise.per_class, strict=True)
    ]


def _add_fit(
    report: CalibrationReport,
    given: MetricSet,
    calib: CalibrationOptions,
    fit: cal.TemperatureFit | None,
) -> list[str]:
    """Set ``report.before`` (metrics at the given T) and, when ``fit`` (the rows it was fitted
    on), ``report.fit``; returns the warnings they bring."""
    before, _ = _metrics(given)
    report.before = {
        **before,
        "temperature": calib.temperature,
        "bins": _bins(given.main.compute()),
    }
    warnings = []
    if fit is not None:
        report.fit = {
            "temperature": fit.temperature,
            "nll_before": fit.nll_before,
            "nll_after": fit.nll_after,
            "passes": fit.passes,
            "converged": fit.converged,
        }
        warnings += list(fit.warnings)
    old, new = before["accuracy"], report.metrics["accuracy"]
    if old is not None and new is not None and abs(old - new) > 1e-12:
        warnings.append("accuracy changed with the temperature (ties in the scores?)")
    return warnings
