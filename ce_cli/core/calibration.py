"""Calibration in pure numpy: binned reliability (ECE, MCE, RMS), classwise ECE, Brier, NLL,
accuracy and temperature scaling, all as mergeable accumulators of sums and counts.

Every accumulator has ``update(...)`` (one batch), ``merge(other)`` (``+`` of the states, in
place, returns ``self``) and ``compute()`` (a frozen dataclass of plain floats), so one pass,
chunked passes and a parallel engine give the same numbers. Nothing here prints or imports
anything above numpy; undefined values are ``None`` (never NaN) and come with a warning.

Notation: a row has confidence ``c ∈ [0, 1]``, correctness ``y ∈ [0, 1]`` (1 if the prediction
is right; for ``mode='positive'`` the binary label) and sample weight ``w ≥ 0`` (1 by default).
A bin ``B`` has weight ``W_B = Σ_B w``, mean confidence ``conf_B = Σ_B w·c / W_B``, accuracy
``acc_B = Σ_B w·y / W_B`` and gap ``acc_B - conf_B`` (negative = over-confident). With
``W = Σ_B W_B``:

- ``ECE   = Σ_B (W_B / W)·|acc_B - conf_B|``            (Guo et al. 2017, eq. 3);
- ``MCE   = max_B |acc_B - conf_B|`` over bins with ``W_B > 0``;
- ``RMSCE = sqrt(Σ_B (W_B / W)·(acc_B - conf_B)²)``     (torchmetrics' ``norm='l2'``).

**Uniform bins** are ``I_1 = [0, 1/M]`` and ``I_m = ((m-1)/M, m/M]`` for ``m = 2..M``: closed on
the right, as in Guo et al. and ``sklearn.calibration.calibration_curve`` (edges
``numpy.linspace(0, 1, M + 1)``). A confidence of exactly 0 is in the first bin and exactly 1.0
in the last; there is never an extra bin. torchmetrics bins ``[lo, hi)`` and puts 1.0 in a hidden
(M+1)-th bin (its issue #3510): on ``c = [0.95, 1.0], y = [1, 0]``, 10 bins, it reports 0.525
where this module (and Guo's definition) gives 0.475. Every one of the M bins is reported, empty
ones included.

**Quantile (equal-mass) bins** cannot be known in one streaming pass, so the accumulator keeps
a fine histogram of ``K`` sub-bins (default ``2**16``) that is uniform in ``logit(c)`` on
``[-40, 40]`` (clamped outside; so it resolves confidences near 0 and 1 as finely as the middle:
width ``Δc ≈ c·(1-c)·80/K``, i.e. ``3.1e-4`` at ``c = 0.5`` and a relative ``0.12 %`` of ``1-c``
near 1). ``compute`` groups consecutive sub-bins into bins by the rule in
``equal_mass_cuts``: each target cumulative weight ``t_m = m·W/M`` (``m = 1..M-1``) snaps to the
nearest boundary between non-empty sub-bins (or to 0 / W: no cut), duplicate cuts collapse. So
every bin is non-empty, a sub-bin (in particular a set of tied confidences) is never split, and
heavy ties give *fewer* bins, never empty or duplicate ones. Per-bin sums are exact for the bins
formed; the approximation is only where the edges fall. Against an exact equal-mass split at
``t_m`` (ties in any order, a row's weight split if need be) the ECE differs by at most
``ece_error_bound`` (see ``quantile_ece_bound``)

    ``ece_error_bound ≤ (2 / W)·Σ_m |s_m - t_m| ≤ 2·(M-1)·w_max / W``,

where ``s_m`` is the cumulative weight at the chosen cut and ``w_max`` the heaviest single
sub-bin (moving weight ``δ`` across one boundary changes ``W·ECE`` by at most ``2δ`` because
``|y - c| ≤ 1``; the reported bound also uses each straddled sub-bin's ``Σ w·y`` and confidence
range, which makes it much tighter where accuracy is near 0 or 1). ``compute`` reports this
data-dependent bound (0 for uniform bins, which are
exact). An exact one-pass equal-mass split needs O(N) memory (Munro and Paterson 1980). A
quantile bin's ``lower``/``upper`` are fine-grid boundaries (the first bin starts at 0, the last
ends at 1, each cut sits just above the previous bin's largest confidence, within one sub-bin);
within ~1e-16 of 1 the grid is finer than float64, so some of those edges print as 1.0.

**Temperature** (``fit_temperature``): with ``β = 1/T`` the mean NLL ``L(β)`` is convex in
``β``; each pass over the data accumulates ``L`` and its first four derivatives at one ``β``
(the row's ``log Σ exp(β·d)`` is a cumulant generating function: ``L''`` is a variance,
``L'''``, ``L''''`` the third and fourth cumulants) and a safeguarded Newton step (bracketed by
the sign of ``L'``), refined by ``L'''`` and ``L''''`` near the minimiser, picks the next ``β``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ce_cli.core import native

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

DEFAULT_N_BINS = 15
"""Guo et al. 2017 use M = 15 bins throughout, as do torchmetrics' defaults."""

STRATEGIES = ("uniform", "quantile")
CONFIDENCE_MODES = ("top-label", "positive")
SCORE_KINDS = ("probs", "logp", "logits")

QUANTILE_RESOLUTION = 1 << 16
"""Default number of fine sub-bins behind ``strategy='quantile'`` (3 float64 arrays + 1 int64)."""

LOGIT_RANGE = 40.0
"""The fine quantile grid is uniform in ``logit(c)`` on ``[-LOGIT_RANGE, LOGIT_RANGE]``."""

BETA_BOUNDS = (math.exp(-10.0), math.exp(10.0))
"""``fit_temperature`` keeps ``β = 1/T`` in these bounds (scikit-learn's ``log β ∈ (-10, 10)``)."""

_BLOCK_ELEMENTS = 1 << 18  # row blocks of about this many float64 elements (2 MiB)
_NLL_BLOCK_ELEMENTS = 1 << 16  # the fit's class-major blocks (512 KiB: they stay in L2)


# ---------------------------------------------------------------------------------------------
# argument checks


def _vector(a: ArrayLike, name: str) -> F64:
    """``a`` as a finite float64 vector."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must have shape (n,), got shape {arr.shape}")
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{name} has {int(np.count_nonzero(~np.isfinite(arr)))} non-finite values")
    return arr


def _unit_vector(a: ArrayLike, name: str) -> F64:
    """``a`` as a float64 vector with every value in [0, 1]."""
    arr = _vector(a, name)
    if arr.size:
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"{name} must lie in [0, 1]; got values in [{lo:.6g}, {hi:.6g}]")
    return arr


def _weights(weight: ArrayLike | None, n: int) -> F64 | None:
    """Sample weights: None (all 1) or a finite float64 vector of length ``n``, all >= 0."""
    if weight is None:
        return None
    w = _vector(weight, "weight")
    if w.shape != (n,):
        raise ValueError(f"weight must have shape ({n},), got shape {w.shape}")
    if n and float(w.min()) < 0.0:
        raise ValueError(f"weight must be >= 0; got minimum {float(w.min()):.6g}")
    return w


def _matrix(a: ArrayLike, name: str) -> NDArray[Any]:
    """A 2-d float (or int/bool → float64) array, kept in its own float dtype."""
    arr = np.asarray(a)
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    if arr.dtype.kind != "f":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, C), got shape {arr.shape}")
    return arr


def _index_target(target: ArrayLike, n: int, n_classes: int) -> NDArray[np.intp]:
    t = np.asarray(target)
    if t.shape != (n,):
        raise ValueError(f"target must have shape ({n},), got shape {t.shape}")
    if t.dtype.kind not in "iu":
        raise ValueError(f"target must hold class indices (integers), got dtype {t.dtype}")
    if n and (int(t.min()) < 0 or int(t.max()) >= n_classes):
        bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
        raise ValueError(f"target {bad} is out of bounds for {n_classes} classes")
    return t.astype(np.intp, copy=False)


def _check_n_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    return int(n_bins)


def _choice(value: str, choices: Sequence[str], name: str) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _row_blocks(n_rows: int, n_cols: int) -> Iterable[slice]:
    rows = max(1, _BLOCK_ELEMENTS // max(n_cols, 1))
    for start in range(0, n_rows, rows):
        yield slice(start, min(start + rows, n_rows))


def _sum(values: F64, w: F64 | None) -> float:
    """``Σ w·v`` (``Σ v`` when ``w`` is None), in float64."""
    return float(values.sum() if w is None else values @ w)


# ---------------------------------------------------------------------------------------------
# binning


def uniform_edges(n_bins: int) -> F64:
    """The ``M + 1`` uniform bin edges ``numpy.linspace(0, 1, M + 1)`` (scikit-learn's)."""
    return np.linspace(0.0, 1.0, _check_n_bins(n_bins) + 1)


def uniform_bin_index(confidence: F64, n_bins: int, edges: F64 | None = None) -> NDArray[np.intp]:
    """Bin of each confidence under ``I_1 = [0, e_1]``, ``I_m = (e_{m-1}, e_m]`` (0-based index).

    Identical to ``numpy.searchsorted(edges[1:-1], c, side='left')`` (scikit-learn's
    ``calibration_curve``), computed as ``ceil(c·M) - 1`` plus a one-step fix against the exact
    edges (``uniform_edges(n_bins)``, which a caller binning many blocks may pass). ``c`` must
    already lie in [0, 1].
    """
    if edges is None:
        edges = uniform_edges(n_bins)
    idx = np.ceil(confidence * n_bins).astype(np.intp)
    idx -= 1
    np.clip(idx, 0, n_bins - 1, out=idx)
    idx += confidence > edges[idx + 1]
    idx -= (confidence <= edges[idx]) & (idx > 0)
    return idx


def fine_bin_index(confidence: F64, resolution: int = QUANTILE_RESOLUTION) -> NDArray[np.intp]:
    """Sub-bin of each confidence on the quantile grid: ``floor((logit(c) + L)·K / 2L)``,
    clamped to ``[0, K-1]`` (``L = LOGIT_RANGE``, ``K = resolution``). Monotone in ``c``; 0 goes
    to the first sub-bin and 1 to the last.
    """
    with np.errstate(divide="ignore"):
        u = np.log(confidence) - np.log1p(-confidence)
    u += LOGIT_RANGE
    u *= resolution / (2.0 * LOGIT_RANGE)
    np.clip(u, 0.0, resolution - 1, out=u)
    return u.astype(np.intp)


def fine_edges(resolution: int = QUANTILE_RESOLUTION) -> F64:
    """The ``K + 1`` confidence boundaries of the fine grid: 0, ``σ(-L + k·2L/K)``, 1."""
    u = -LOGIT_RANGE + np.arange(resolution + 1) * (2.0 * LOGIT_RANGE / resolution)
    edges = 1.0 / (1.0 + np.exp(-u))
    edges[0], edges[-1] = 0.0, 1.0
    return edges


class EqualMassCuts(NamedTuple):
    """Where ``equal_mass_cuts`` puts the bins, and how far each cut is from its target."""

    starts: NDArray[np.intp]  # the sub-bin where each bin begins; starts[0] == 0
    straddled: NDArray[np.intp]  # for m = 1..M-1: the sub-bin holding the target t_m
    moved: F64  # for m = 1..M-1: |s_m - t_m|, weight on the other side of the cut


def equal_mass_cuts(mass: F64, n_bins: int) -> EqualMassCuts:
    """Group consecutive sub-bins of weights ``mass`` into at most ``n_bins`` non-empty bins.

    Rule. Let ``P_0 = 0 < P_1 < … < P_J = W`` be the cumulative weights at the boundaries
    between the ``J`` non-empty sub-bins (``P_j`` = weight of the first ``j`` of them). Each
    target ``t_m = m·W/M``, ``m = 1..M-1``, picks the nearest ``P_j`` (the lower one on a tie);
    that is ``s_m``. Picks of ``P_0`` or ``P_J`` make no cut; equal picks make one cut. So bins
    never split a sub-bin, are never empty, and number ``1 + #distinct interior picks ≤ M``.
    The weight ``|s_m - t_m|`` between a cut and its target lies in the one sub-bin holding
    ``t_m``, so it is at most that sub-bin's weight.
    """
    nonempty = np.flatnonzero(mass > 0.0)
    if nonempty.size == 0:
        none = np.zeros(0, dtype=np.intp)
        return EqualMassCuts(np.zeros(1, dtype=np.intp), none, np.zeros(0))
    cum = np.concatenate(([0.0], np.cumsum(mass[nonempty])))
    total = float(cum[-1])
    targets = total * np.arange(1, n_bins) / n_bins
    upper = np.clip(np.searchsorted(cum, targets, side="left"), 1, cum.size - 1)
    lower = upper - 1
    pick = np.where(targets - cum[lower] <= cum[upper] - targets, lower, upper)
    interior = np.unique(pick[(pick > 0) & (pick < nonempty.size)])
    starts = np.concatenate(([0], nonempty[interior - 1] + 1)).astype(np.intp)
    return EqualMassCuts(starts, nonempty[lower], np.abs(cum[pick] - targets))


def quantile_ece_bound(cuts: EqualMassCuts, weight: F64, correct_sum: F64, edges: F64) -> float:
    """Bound on ``|ECE of these bins - ECE of an exact equal-mass split|`` (any tie order).

    ``W·ECE = Σ_bins |F(right cut) - F(left cut)|`` with ``F`` the cumulative residual
    ``Σ w·(y - c)`` in confidence order, so replacing each exact cut ``t_m`` by ``s_m`` changes
    ``W·ECE`` by at most ``2·Σ_m r_m``, where ``r_m`` bounds ``|Σ w·(y - c)|`` over the weight
    ``δ = |s_m - t_m|`` between them. That weight lies in one sub-bin ``k`` of weight ``W_k``,
    ``Σ w·y = Y_k`` and confidences in ``[lo_k, hi_k]``, so
    ``r_m = max(min(δ, Y_k) - δ·lo_k, δ·hi_k - max(0, δ - (W_k - Y_k))) ≤ δ``. Result:
    ``(2/W)·Σ_m r_m ≤ (2/W)·Σ_m δ_m ≤ 2·(M-1)·w_max / W``.
    """
    total = float(weight.sum())
    if total <= 0.0 or cuts.moved.size == 0:
        return 0.0
    k, d = cuts.straddled, cuts.moved
    w_k, y_k = weight[k], correct_sum[k]
    lo = np.maximum(edges[k] - 1e-12, 0.0)  # slack for rounding in fine_bin_index
    hi = np.minimum(edges[k + 1] + 1e-12, 1.0)
    r = np.maximum(np.minimum(d, y_k) - d * lo, d * hi - np.maximum(0.0, d - (w_k - y_k)))
    return float(2.0 * np.clip(r, 0.0, d).sum() / total)


# ---------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class CalibrationBin:
    """One reliability bin. ``count`` is rows, ``weight`` is ``Σ w``; the means are weighted
    and ``None`` when ``weight == 0``; ``gap = accuracy - confidence``."""

    lower: float
    upper: float
    count: int
    weight: float
    confidence: float | None
    accuracy: float | None
    gap: float | None


@dataclass(frozen=True)
class CalibrationResult:
    """Binned calibration of one confidence stream (see the module docstring for formulas).

    ``bins``: all ``n_bins`` uniform bins, or the (non-empty, possibly fewer) quantile bins.
    ``accuracy`` and ``confidence`` are the overall weighted means. ``ece_error_bound`` bounds
    ``|ece - ECE of an exact equal-mass split|`` (0.0 for uniform bins). Metrics are ``None``
    when there is no weight.
    """

    strategy: str
    n_bins: int
    bins: tuple[CalibrationBin, ...]
    n_rows: int
    weight: float
    accuracy: float | None
    confidence: float | None
    ece: float | None
    mce: float | None
    rmsce: float | None
    ece_error_bound: float
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class ClasswiseCalibrationResult:
    """Classwise ECE (Kull et al. 2019): ``ece = (1/C)·Σ_k ECE_k`` where ``ECE_k`` is the uniform
    binned ECE of the one-vs-rest stream ``(c = p_k, y = [label = k])`` over *all* rows.
    ``per_class`` holds each class's full result (bins, ECE, MCE, RMSCE)."""

    n_bins: int
    n_classes: int
    reduction: str
    ece: float | None
    per_class: tuple[CalibrationResult, ...]
    warnings: tuple[str, ...]


def _bin_table(
    lower: F64, upper: F64, count: I64, weight: F64, conf_sum: F64, correct_sum: F64
) -> tuple[CalibrationBin, ...]:
    bins = []
    for lo, hi, k, w, cs, ys in zip(
        lower, upper, count, weight, conf_sum, correct_sum, strict=True
    ):
        if w > 0.0:
            conf, acc = float(cs / w), float(ys / w)
            bins.append(
                CalibrationBin(float(lo), float(hi), int(k), float(w), conf, acc, acc - conf)
            )
        else:
            bins.append(CalibrationBin(float(lo), float(hi), int(k), float(w), None, None, None))
    return tuple(bins)


def _summarize(
    strategy: str,
    n_bins: int,
    edges: tuple[F64, F64],
    sums: tuple[I64, F64, F64, F64],
    ece_error_bound: float,
    warnings: list[str],
) -> CalibrationResult:
    """ECE, MCE, RMSCE and the bin table from per-bin ``(count, Σw, Σw·c, Σw·y)``.

    ``ECE = Σ_B |Σ_B w·y - Σ_B w·c| / W`` (the same as the weighted mean of ``|gap|``), which
    stays exact and NaN-free for empty bins.
    """
    count, weight, conf_sum, correct_sum = sums
    total = float(weight.sum())
    table = _bin_table(*edges, count, weight, conf_sum, correct_sum)
    ece = mce = rmsce = accuracy = confidence = None
    if total > 0.0:
        used = weight > 0.0
        resid = correct_sum[used] - conf_sum[used]
        ece = float(np.abs(resid).sum() / total)
        mce = float(np.abs(resid / weight[used]).max())
        rmsce = math.sqrt(float((resid * resid / weight[used]).sum() / total))
        accuracy = float(correct_sum.sum() / total)
        confidence = float(conf_sum.sum() / total)
    elif int(count.sum()):
        warnings.append("every row has weight 0: calibration metrics are undefined")
    else:
        warnings.append("no rows: calibration metrics are undefined")
    return CalibrationResult(
        strategy=strategy,
        n_bins=n_bins,
        bins=table,
        n_rows=int(count.sum()),
        weight=total,
        accuracy=accuracy,
        confidence=confidence,
        ece=ece,
        mce=mce,
        rmsce=rmsce,
        ece_error_bound=ece_error_bound,
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------------------------------
# binned calibration


class CalibrationAccumulator:
    """Reliability bins of a stream of ``(confidence, correct, weight)`` rows.

    State per bin (``M`` uniform bins, or ``resolution`` fine sub-bins for ``'quantile'``):
    row count, ``Σ w``, ``Σ w·c``, ``Σ w·y``; ``merge`` adds them. See the module docstring for
    the bins, the metrics and the quantile rule and its error bound.
    """

    def __init__(
        self,
        n_bins: int = DEFAULT_N_BINS,
        strategy: str = "uniform",
        *,
        resolution: int = QUANTILE_RESOLUTION,
    ) -> None:
        self.n_bins = _check_n_bins(n_bins)
        self.strategy = _choice(strategy, STRATEGIES, "strategy")
        if strategy == "quantile" and (resolution < n_bins or resolution < 2):
            raise ValueError(f"resolution must be >= max(n_bins, 2), got {resolution}")
        self.resolution = int(resolution)
        size = self.n_bins if strategy == "uniform" else self.resolution
        self.count = np.zeros(size, dtype=np.int64)
        self.weight = np.zeros(size)
        self.confidence_sum = np.zeros(size)
        self.correct_sum = np.zeros(size)

    def _index(self, confidence: F64) -> NDArray[np.intp]:
        if self.strategy == "uniform":
            return uniform_bin_index(confidence, self.n_bins)
        return fine_bin_index(confidence, self.resolution)

    def update(
        self, confidence: ArrayLike, correct: ArrayLike, weight: ArrayLike | None = None
    ) -> None:
        """Add rows: ``confidence`` (n,) in [0, 1]; ``correct`` (n,) bool or in [0, 1] (1 = right,
        or the binary label in positive-class mode); ``weight`` (n,) >= 0 or None (all 1)."""
        c = _unit_vector(confidence, "confidence")
        y = _unit_vector(correct, "correct")
        if y.shape != c.shape:
            raise ValueError(f"correct has shape {y.shape}, confidence has shape {c.shape}")
        w = _weights(weight, c.size)
        idx = self._index(c)
        size = self.count.size
        self.count += np.bincount(idx, minlength=size)
        if w is None:
            self.weight += np.bincount(idx, minlength=size)
            self.confidence_sum += np.bincount(idx, weights=c, minlength=size)
            self.correct_sum += np.bincount(idx, weights=y, minlength=size)
        else:
            self.weight += np.bincount(idx, weights=w, minlength=size)
            self.confidence_sum += np.bincount(idx, weights=c * w, minlength=size)
            self.correct_sum += np.bincount(idx, weights=y * w, minlength=size)

    def merge(self, other: CalibrationAccumulator) -> CalibrationAccumulator:
        """Add ``other``'s state into this one (same bins required); returns ``self``."""
        same = (self.n_bins, self.strategy, self.count.size)
        if same != (other.n_bins, other.strategy, other.count.size):
            raise ValueError(
                f"cannot merge calibration bins {same} with "
                f"{(other.n_bins, other.strategy, other.count.size)}"
            )
        self.count += other.count
        self.weight += other.weight
        self.confidence_sum += other.confidence_sum
        self.correct_sum += other.correct_sum
        return self

    def compute(self) -> CalibrationResult:
        """The bin table and ECE / MCE / RMSCE (``CalibrationResult``)."""
        sums = (self.count, self.weight, self.confidence_sum, self.correct_sum)
        if self.strategy == "uniform":
            edges = uniform_edges(self.n_bins)
            return _summarize("uniform", self.n_bins, (edges[:-1], edges[1:]), sums, 0.0, [])
        cuts = equal_mass_cuts(self.weight, self.n_bins)
        starts = cuts.starts
        grid = fine_edges(self.resolution)
        bounds = np.append(starts, self.resolution)
        grouped = (
            np.add.reduceat(self.count, starts),
            np.add.reduceat(self.weight, starts),
            np.add.reduceat(self.confidence_sum, starts),
            np.add.reduceat(self.correct_sum, starts),
        )
        total = float(self.weight.sum())
        bound = quantile_ece_bound(cuts, self.weight, self.correct_sum, grid)
        warnings = []
        if total > 0.0 and starts.size < self.n_bins:
            warnings.append(
                f"quantile binning formed {starts.size} of {self.n_bins} bins: tied or nearly "
                "tied confidences hold more weight than one bin and are never split"
            )
        lower_upper = (grid[bounds[:-1]], grid[bounds[1:]])
        return _summarize("quantile", self.n_bins, lower_upper, grouped, bound, warnings)


class ClasswiseCalibrationAccumulator:
    """Classwise ECE over ``C`` one-vs-rest reliability diagrams with ``M`` uniform bins each.

    For class ``k`` every row contributes ``(c = p_k, y = [label = k])``; the state is ``C × M``
    arrays of count, ``Σ w``, ``Σ w·p_k`` and ``Σ w·y_k``. Targets are class indices (n,) or
    0/1 (or soft) label matrices (n, C) — the latter also gives per-label calibration of
    multi-label outputs.
    """

    def __init__(self, n_classes: int, n_bins: int = DEFAULT_N_BINS) -> None:
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {n_classes}")
        self.n_classes = int(n_classes)
        self.n_bins = _check_n_bins(n_bins)
        shape = (self.n_classes, self.n_bins)
        self.count = np.zeros(shape, dtype=np.int64)
        self.weight = np.zeros(shape)
        self.confidence_sum = np.zeros(shape)
        self.correct_sum = np.zeros(shape)

    def update(self, probs: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None) -> None:
        """Add rows: ``probs`` (n, C) in [0, 1]; ``target`` (n,) class indices, or (n, C) in
        [0, 1]; ``weight`` (n,) >= 0 or None."""
        p = _matrix(probs, "probs")
        n, n_classes = p.shape
        if n_classes != self.n_classes:
            raise ValueError(f"probs has {n_classes} columns, expected {self.n_classes}")
        tgt = np.asarray(target)
        labels = None if tgt.ndim == 2 else _index_target(tgt, n, n_classes)
        if labels is None and tgt.shape != p.shape:
            raise ValueError(f"target shape {tgt.shape} is neither ({n},) nor {p.shape}")
        w = _weights(weight, n)
        for sl in _row_blocks(n, n_classes):
            self._update_block(p[sl], tgt[sl] if labels is None else labels[sl], w, sl)

    def _update_block(self, p: NDArray[Any], tgt: NDArray[Any], w: F64 | None, sl: slice) -> None:
        m, n_classes = p.shape
        size = n_classes * self.n_bins
        conf = _unit_vector(p.ravel(), "probs")
        flat = uniform_bin_index(conf, self.n_bins)
        flat += np.tile(np.arange(n_classes) * self.n_bins, m)
        wr = None if w is None else w[sl]
        we = None if wr is None else np.repeat(wr, n_classes)
        self.count += np.bincount(flat, minlength=size).reshape(self.count.shape)
        self.weight += np.bincount(flat, weights=we, minlength=size).reshape(self.weight.shape)
        cw = conf if we is None else conf * we
        self.confidence_sum += np.bincount(flat, weights=cw, minlength=size).reshape(
            self.weight.shape
        )
        if tgt.ndim == 1:  # one positive per row: its own cell only
            cell = flat.reshape(m, n_classes)[np.arange(m), tgt]
            ys = np.bincount(cell, weights=wr, minlength=size)
        else:
            y = _unit_vector(np.asarray(tgt, dtype=np.float64).ravel(), "target")
            ys = np.bincount(flat, weights=y if we is None else y * we, minlength=size)
        self.correct_sum += ys.reshape(self.weight.shape)

    def add_sums(self, count: I64, weight: F64, conf_sum: F64, correct_sum: F64) -> None:
        """Add ``(C, M)`` bin sums computed elsewhere (``softmax_calibration``'s fused pass)."""
        if count.shape != self.count.shape:
            raise ValueError(f"cannot add classwise bins {count.shape} to {self.count.shape}")
        self.count += count
        self.weight += weight
        self.confidence_sum += conf_sum
        self.correct_sum += correct_sum

    def merge(self, other: ClasswiseCalibrationAccumulator) -> ClasswiseCalibrationAccumulator:
        """Add ``other``'s state into this one; returns ``self``."""
        if self.count.shape != other.count.shape:
            raise ValueError(
                f"cannot merge classwise bins {self.count.shape} with {other.count.shape}"
            )
        self.count += other.count
        self.weight += other.weight
        self.confidence_sum += other.confidence_sum
        self.correct_sum += other.correct_sum
        return self

    def compute(self) -> ClasswiseCalibrationResult:
        """Per-class results and their mean ECE (``reduction='mean'``)."""
        edges = uniform_edges(self.n_bins)
        per_class = tuple(
            _summarize(
                "uniform",
                self.n_bins,
                (edges[:-1], edges[1:]),
                (self.count[k], self.weight[k], self.confidence_sum[k], self.correct_sum[k]),
                0.0,
                [],
            )
            for k in range(self.n_classes)
        )
        eces = [r.ece for r in per_class if r.ece is not None]
        ece = float(np.mean(eces)) if len(eces) == self.n_classes else None
        warnings = per_class[0].warnings if ece is None else ()
        return ClasswiseCalibrationResult(
            self.n_bins, self.n_classes, "mean", ece, per_class, warnings
        )


# ---------------------------------------------------------------------------------------------
# confidences


def _logits_top(x: NDArray[Any], temperature: float) -> tuple[F64, NDArray[np.intp]]:
    """Top-label softmax confidence ``1 / Σ_j exp((x_j - max x)/T)`` and argmax, row blocks."""
    n, n_classes = x.shape
    conf = np.empty(n)
    pred = x.argmax(axis=1)
    rows = max(1, min(n, _BLOCK_ELEMENTS // max(n_classes, 1)))
    buf = np.empty((rows, n_classes))
    for sl in _row_blocks(n, n_classes):
        xb = x[sl]
        b = buf[: xb.shape[0]]
        top = xb[np.arange(xb.shape[0]), pred[sl]]
        np.subtract(xb, top[:, None], out=b, dtype=np.float64)
        if temperature != 1.0:
            b /= temperature
        np.exp(b, out=b)
        np.divide(1.0, b.sum(axis=1), out=conf[sl])
    return conf, pred


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not (t > 0.0 and math.isfinite(t)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    return t


def _positive_probability(s: F64, kind: str, temperature: float) -> F64:
    """``P(y=1)`` from a binary score vector: a probability, its log, or a logit ``z`` (then
    ``σ(z/T)``); a log-probability is turned into the logit ``log p - log(1-p)`` when ``T ≠ 1``."""
    if kind == "probs":
        return s
    if kind == "logp":
        if temperature == 1.0:
            return np.exp(s)
        with np.errstate(divide="ignore"):
            s = s - np.log(-np.expm1(s))
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-s / temperature))


def top_label(
    scores: ArrayLike, kind: str = "probs", *, temperature: float = 1.0
) -> tuple[F64, NDArray[np.intp]]:
    """``(confidence, predicted)``: the top-label confidence ``max_k q_k`` and ``argmax_k q_k``.

    ``scores`` (n, C) are probabilities, log-probabilities or logits (``kind``); ties take the
    first index, as ``torch.max``. From logits ``q = softmax(z / T)`` and the confidence is
    ``1 / Σ_j exp((z_j - z_max)/T)`` (log-probabilities are logits too). A vector (n,) is a
    binary problem scored by ``p = P(y=1)`` (or its log, or its logit ``z``, then ``p = σ(z/T)``):
    ``predicted = [p > 1/2]`` and ``confidence = max(p, 1 - p)`` — the top-label view of the two
    columns ``[1 - p, p]``. ``temperature`` needs logits or log-probabilities.
    """
    _choice(kind, SCORE_KINDS, "kind")
    t = _check_temperature(temperature)
    if t != 1.0 and kind == "probs":
        raise ValueError("temperature needs logits or log-probabilities, got kind='probs'")
    arr = np.asarray(scores)
    if arr.ndim == 1:
        p = _positive_probability(_vector(arr, "scores"), kind, t)
        pred = (p > 0.5).astype(np.intp)
        return np.where(pred == 1, p, 1.0 - p), pred
    x = _matrix(arr, "scores")
    if x.size and not np.isfinite(x).all():
        raise ValueError(f"scores have {int(np.count_nonzero(~np.isfinite(x)))} non-finite values")
    if x.shape[1] == 0:
        raise ValueError("scores must have at least one column")
    if kind == "logits" or (kind == "logp" and t != 1.0):
        return _logits_top(x, t)
    pred = x.argmax(axis=1)
    conf = np.asarray(x[np.arange(x.shape[0]), pred], dtype=np.float64)
    return (np.exp(conf) if kind == "logp" else conf), pred


def confidence_and_correct(
    scores: ArrayLike,
    target: ArrayLike,
    *,
    kind: str = "probs",
    mode: str = "top-label",
    temperature: float = 1.0,
) -> tuple[F64, F64]:
    """``(confidence, correct)`` rows for ``CalibrationAccumulator.update``.

    - ``mode='top-label'`` (Guo et al.): ``c = max_k q_k``, ``y = [argmax_k q_k = target]``;
      for a binary vector ``p = P(y=1)`` that is ``c = max(p, 1-p)``, ``y = [[p > 1/2] = target]``.
    - ``mode='positive'`` (binary only; torchmetrics' ``binary_calibration_error`` and
      scikit-learn's ``calibration_curve``): ``c = P(y=1)``, ``y = target`` (0/1) — the
      reliability of the positive-class probability. Scores are a vector (n,) or two columns
      (n, 2), whose logit is ``z_1 - z_0`` (logits or log-probabilities).

    On ``p = [0.2, 0.8]``, ``y = [0, 1]`` with one bin, positive-class ECE is 0.0 and top-label
    ECE is 0.2: the two modes answer different questions, so a report must say which it used.
    """
    _choice(mode, CONFIDENCE_MODES, "mode")
    _choice(kind, SCORE_KINDS, "kind")
    t = _check_temperature(temperature)
    tgt = np.asarray(target)
    if mode == "top-label":
        conf, pred = top_label(scores, kind, temperature=t)
        if tgt.shape != pred.shape:
            raise ValueError(f"target must have shape {pred.shape}, got shape {tgt.shape}")
        return conf, (pred == tgt).astype(np.float64)
    if t != 1.0 and kind == "probs":
        raise ValueError("temperature needs logits or log-probabilities, got kind='probs'")
    arr = np.asarray(scores)
    if arr.ndim == 2:
        if arr.shape[1] != 2:
            raise ValueError(f"mode='positive' needs binary scores (n,) or (n, 2), got {arr.shape}")
        if kind == "probs":
            arr = arr[:, 1]
        else:
            arr, kind = arr[:, 1].astype(np.float64) - arr[:, 0], "logits"
    p = _positive_probability(_vector(arr, "scores"), kind, t)
    y = _unit_vector(tgt, "target")
    if y.shape != p.shape:
        raise ValueError(f"target must have shape {p.shape}, got shape {y.shape}")
    return p, y


# ---------------------------------------------------------------------------------------------
# Brier, NLL, accuracy: weighted means of per-row terms


def brier_terms(probs: ArrayLike, target: ArrayLike, *, scale_by_half: bool | str = "auto") -> F64:
    """Per-row Brier terms.

    - vector ``p = P(y=1)`` (n,), labels 0/1: ``b_n = (p_n - y_n)²``;
    - matrix ``q`` (n, C) and class indices (n,) or label matrix (n, C):
      ``b_n = Σ_c (q_{n,c} - y_{n,c})²`` (``= Σ_c q² - 2·q_y + 1`` for indices).

    ``scale_by_half`` halves the matrix form; ``'auto'`` (scikit-learn >= 1.7's default) halves
    it for C <= 2, so two columns ``[1-p, p]`` give the binary ``(p - y)²``.
    """
    arr = np.asarray(probs)
    if arr.ndim == 1:
        p = _unit_vector(arr, "probs")
        y = _unit_vector(target, "target")
        if y.shape != p.shape:
            raise ValueError(f"target must have shape {p.shape}, got shape {y.shape}")
        return (p - y) ** 2
    q = _matrix(arr, "probs")
    n, n_classes = q.shape
    tgt = np.asarray(target)
    out = np.empty(n)
    if tgt.ndim == 2:
        if tgt.shape != q.shape:
            raise ValueError(f"target shape {tgt.shape} is neither ({n},) nor {q.shape}")
        for sl in _row_blocks(n, n_classes):
            d = np.asarray(q[sl], dtype=np.float64) - tgt[sl]
            out[sl] = np.einsum("nc,nc->n", d, d)
    else:
        idx = _index_target(tgt, n, n_classes)
        for sl in _row_blocks(n, n_classes):
            b = np.asarray(q[sl], dtype=np.float64)
            out[sl] = np.einsum("nc,nc->n", b, b) - 2.0 * b[np.arange(b.shape[0]), idx[sl]] + 1.0
        np.maximum(out, 0.0, out=out)
    half = n_classes <= 2 if scale_by_half == "auto" else bool(scale_by_half)
    return out / 2.0 if half else out


def nll_terms(logp: ArrayLike, target: ArrayLike) -> F64:
    """Per-row negative log-likelihood ``-log q_{n, y_n}`` from log-probabilities (n, C).

    Probabilities should be clipped first (``ce_cli.core.losses.log_probs_from_probs``, as
    ``sklearn.metrics.log_loss``); logits go through ``ce_cli.core.losses.log_softmax``.
    """
    lp = _matrix(logp, "logp")
    idx = _index_target(target, lp.shape[0], lp.shape[1])
    return -np.asarray(lp[np.arange(lp.shape[0]), idx], dtype=np.float64)


@dataclass(frozen=True)
class MeanResult:
    """A weighted mean ``Σ w·v / Σ w`` (``None`` when ``Σ w = 0``)."""

    name: str
    value: float | None
    n_rows: int
    weight: float
    warnings: tuple[str, ...]


_MeanT = TypeVar("_MeanT", bound="_WeightedMean")


class _WeightedMean:
    """Weighted mean of per-row terms: state ``(rows, Σ w, Σ w·v)``; merge adds."""

    name = "mean"

    def __init__(self) -> None:
        self.n_rows = 0
        self.weight = 0.0
        self.total = 0.0

    def _add(self, values: ArrayLike, weight: ArrayLike | None) -> None:
        v = _vector(values, self.name)
        w = _weights(weight, v.size)
        self.n_rows += v.size
        self.weight += float(v.size) if w is None else float(w.sum())
        self.total += _sum(v, w)

    def merge(self: _MeanT, other: _MeanT) -> _MeanT:
        """Add ``other``'s sums (same kind of mean) into this one; returns ``self``."""
        if type(other) is not type(self) or other.name != self.name:
            raise ValueError(f"cannot merge a {other.name} mean into a {self.name} mean")
        self.n_rows += other.n_rows
        self.weight += other.weight
        self.total += other.total
        return self

    def compute(self) -> MeanResult:
        """``Σ w·v / Σ w``, or ``None`` with a warning when ``Σ w = 0``."""
        if self.weight > 0.0:
            return MeanResult(self.name, self.total / self.weight, self.n_rows, self.weight, ())
        why = "every row has weight 0" if self.n_rows else "no rows"
        return MeanResult(self.name, None, self.n_rows, self.weight, (f"{self.name}: {why}",))


class MeanAccumulator(_WeightedMean):
    """Weighted mean of any per-row values (e.g. loss terms)."""

    def __init__(self, name: str = "mean") -> None:
        super().__init__()
        self.name = name

    def update(self, values: ArrayLike, weight: ArrayLike | None = None) -> None:
        self._add(values, weight)


class BrierAccumulator(_WeightedMean):
    """Mean Brier score ``Σ w·b_n / Σ w`` with ``b_n`` from ``brier_terms``."""

    name = "brier"

    def __init__(self, *, scale_by_half: bool | str = "auto") -> None:
        super().__init__()
        self.scale_by_half = scale_by_half

    def update(self, probs: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None) -> None:
        self._add(brier_terms(probs, target, scale_by_half=self.scale_by_half), weight)


class NLLAccumulator(_WeightedMean):
    """Mean negative log-likelihood ``Σ w·(-log q_y) / Σ w`` from log-probabilities."""

    name = "nll"

    def update(self, logp: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None) -> None:
        self._add(nll_terms(logp, target), weight)


class AccuracyAccumulator(_WeightedMean):
    """Weighted accuracy ``Σ w·[predicted = target] / Σ w``."""

    name = "accuracy"

    def update(
        self, predicted: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None
    ) -> None:
        pred, tgt = np.asarray(predicted), np.asarray(target)
        if pred.shape != tgt.shape or pred.ndim != 1:
            raise ValueError(f"predicted {pred.shape} and target {tgt.shape} must be equal vectors")
        self._add((pred == tgt).astype(np.float64), weight)


# ---------------------------------------------------------------------------------------------
# temperature scaling


def exp_below_max(block: NDArray[Any], top: NDArray[Any], d: F64, e: F64, beta: float) -> None:
    """``d = x − x_max`` in float64 and ``e = exp(β·d)`` for a class-major block ``x`` (C, m)
    with its rows' maxima ``top``: the block copied (exact from float32), then the maximum
    subtracted — cheaper than a converting subtract."""
    np.copyto(d, block)
    np.subtract(d, top.astype(np.float64), out=d)
    if beta == 1.0:
        np.exp(d, out=e)
    else:
        np.multiply(d, beta, out=e)
        np.exp(e, out=e)


def exp_moments(
    block: NDArray[Any],
    target: NDArray[np.intp],
    beta: float,
    bufs: tuple[F64, F64, F64],
    sums: tuple[F64, F64, F64, F64, I64],
    moments: F64 | None,
) -> None:
    """For a class-major block ``x`` (C, m) with classes ``target``: ``e = exp(β·d)``,
    ``d = x − x_max``, into ``bufs = (d, e, spare)``, each (C, m) C-contiguous; ``sums =
    (s, sumsq, picked, top, argmax)``: ``s = Σ_c e``, ``sumsq = Σ_c e²``, ``picked`` (3, m) the
    true class's ``x_y``, ``e_y``, ``d_y``, each row's maximum and its first argmax; and the raw
    moments ``Σ_c e·d^k / s`` into ``moments`` (``softmax_moments``) when given. In one fused
    pass by the compiled kernel when it takes the block (``native.takes``; it keeps no ``d``,
    which only numpy's candidate comparison reads), else in numpy."""
    d, e, spare = bufs
    s, sumsq, picked, top, argmax = sums
    kernel = native.KERNEL if native.takes(block) else None
    if kernel is not None:
        target64 = target.astype(np.int64, copy=False)
        kernel.exp_moments(block, target64, beta, e, s, sumsq, picked, top, argmax, moments)
        return
    top[:] = block.max(axis=0)
    np.argmax(block, axis=0, out=argmax)
    exp_below_max(block, top, d, e, beta)
    np.matmul(np.ones(d.shape[0]), e, out=s)
    np.einsum("cn,cn->n", e, e, out=sumsq)
    cols = np.arange(d.shape[1])
    picked[0], picked[1], picked[2] = block[target, cols], e[target, cols], d[target, cols]
    if moments is not None:
        softmax_moments(e, d, s, spare, moments)


def softmax_moments(e: F64, d: F64, s: F64, spare: F64, out: F64) -> None:
    """The raw moments ``m_k = Σ_c e_c·d_c^k / s`` (``k = 1 … K``, ``K = len(out)``: 2 or 4) of
    each column of a class-major block (``e``, ``d``: (C, m); ``s = Σ_c e``) into ``out``
    (K, m). Two: two einsums; four: ``spare`` (scratch of ``e``'s shape) holds ``e·d^k`` and
    each sum over the classes is one matrix-vector product along the contiguous rows (the
    faster ways measured)."""
    if out.shape[0] == 2:
        np.einsum("cn,cn->n", e, d, out=out[0])
        np.einsum("cn,cn,cn->n", e, d, d, out=out[1])
    else:
        ones = np.ones(d.shape[0])
        np.multiply(e, d, out=spare)
        np.matmul(ones, spare, out=out[0])
        for k in range(1, out.shape[0]):
            np.multiply(spare, d, out=spare)
            np.matmul(ones, spare, out=out[k])
    out /= s


def cumulants(moments: F64) -> tuple[F64, ...]:
    """The first K cumulants from the raw moments ``moments`` (K, n), K = 2 or 4:
    ``κ1 = m1``, ``κ2 = m2 - m1²`` (clipped at 0), ``κ3 = m3 - 3·m1·m2 + 2·m1³``,
    ``κ4 = m4 - 4·m1·m3 + 6·m1²·m2 - 3·m1⁴ - 3·κ2²`` (whole vectors: computed once per batch)."""
    m1, m2 = moments[0], moments[1]
    m1sq = m1 * m1
    var = np.maximum(m2 - m1sq, 0.0)
    if moments.shape[0] == 2:
        return m1, var
    m3, m4 = moments[2], moments[3]
    k3 = m3 - 3.0 * m1 * m2 + 2.0 * m1sq * m1
    k4 = m4 - 4.0 * m1 * m3 + 6.0 * m1sq * m2 - 3.0 * m1sq * m1sq - 3.0 * var * var
    return m1, var, k3, k4


NLLSums = tuple[float, float, float, float | None, float | None]


def _softmax_nll_sums(
    x: NDArray[Any], target: NDArray[np.intp], w: F64 | None, beta: float, higher: bool = True
) -> NLLSums:
    """``(Σ w·ℓ, Σ w·ℓ', Σ w·ℓ'', Σ w·ℓ''', Σ w·ℓ'''')`` at ``β`` for softmax rows, by
    class-major row blocks (the last two None unless ``higher``).

    With ``d = z - max_j z_j`` (so ``d ≤ 0``) and ``p = softmax(β·d)``:
    ``ℓ = log Σ_j exp(β·d_j) - β·d_y`` (= ``logsumexp(βz) - β·z_y``). Its first term is the
    cumulant generating function of ``d`` under the row's softmax, so ``ℓ' = E_p[d] - d_y``,
    ``ℓ'' = Var_p[d] ≥ 0`` and ``ℓ'''``, ``ℓ''''`` are the third and fourth cumulants
    (``softmax_moments``, ``cumulants``). A block is held ``(C, rows)`` in float64 (``d``
    converted from column-major batches on the way), so every sum over the classes runs along
    long contiguous rows (``Σ_j`` as a matrix-vector product); the per-row values are summed
    once per call.
    """
    n, n_classes = x.shape
    rows = max(1, min(n, max(64, _NLL_BLOCK_ELEMENTS // max(n_classes, 1))))
    bufs = [np.empty(n_classes * rows) for _ in range(3)]
    moments = np.empty((4 if higher else 2, n))
    d_y, s0 = np.empty(n), np.empty(n)
    sumsq, picked, top, argmax = (
        np.empty(rows),
        np.empty((3, rows)),
        np.empty(rows),
        np.empty(rows, np.int64),
    )
    for start in range(0, n, rows):
        sl = slice(start, min(start + rows, n))
        m = sl.stop - start
        d, e, spare = (b[: n_classes * m].reshape(n_classes, m) for b in bufs)
        out = (s0[sl], sumsq[:m], picked[:, :m], top[:m], argmax[:m])
        exp_moments(x[sl].T, target[sl], beta, (d, e, spare), out, moments[:, sl])
        d_y[sl] = picked[2, :m]
    mean, *rest = cumulants(moments)
    terms = (np.log(s0) - beta * d_y, mean - d_y, *rest)
    sums = [_sum(t, w) for t in terms]
    if not higher:
        return sums[0], sums[1], sums[2], None, None
    return sums[0], sums[1], sums[2], sums[3], sums[4]


def _sigmoid_nll_sums(z: F64, y: F64, w: F64 | None, beta: float) -> NLLSums:
    """The sums of ``ℓ`` and its first four derivatives in ``β`` for binary logits, with
    ``t = β·z`` and ``σ = σ(t)``: ``ℓ = BCE(t, y) = max(t, 0) + log(1 + e^{-|t|}) - y·t``,
    ``ℓ' = (σ - y)·z``, ``ℓ'' = σ(1 - σ)·z²``, ``ℓ''' = ℓ''·(1 - 2σ)·z``,
    ``ℓ'''' = ℓ''·(1 - 6σ(1 - σ))·z²``."""
    t = beta * z
    a = np.exp(-np.abs(t))
    sig = np.where(t >= 0.0, 1.0 / (1.0 + a), a / (1.0 + a))
    loss = np.maximum(t, 0.0) + np.log1p(a) - y * t
    var = a / ((1.0 + a) * (1.0 + a))  # σ(1 - σ)
    hess = var * z * z
    d3 = hess * (1.0 - 2.0 * sig) * z
    d4 = hess * (1.0 - 6.0 * var) * z * z
    return _sum(loss, w), _sum((sig - y) * z, w), _sum(hess, w), _sum(d3, w), _sum(d4, w)


@dataclass(frozen=True)
class TemperatureStats:
    """Mean NLL and its first two derivatives in ``β = 1/T`` at one ``β`` (None if no weight),
    and the third and fourth (``d3``, ``d4``; None also when the pass did not compute them)."""

    beta: float
    temperature: float
    n_rows: int
    weight: float
    nll: float | None
    grad: float | None
    hess: float | None
    d3: float | None = None
    d4: float | None = None


class TemperatureAccumulator:
    """Sums of ``ℓ(β)`` and its first four derivatives at a fixed ``β = 1/T`` (one Newton pass).

    ``logits`` (n, C) with class-index targets use softmax (``ℓ = logsumexp(βz) - β·z_y``);
    a vector (n,) with 0/1 (or soft) targets uses the sigmoid (``ℓ = BCE(β·z, y)``). The mean NLL
    ``L(β) = Σ w·ℓ / Σ w`` is convex in ``β`` (``ℓ''`` is a variance). Log-probabilities are valid
    softmax logits. State: rows, ``Σ w`` and the five sums (the last two None once rows without
    them were added; ``higher=False``: softmax rows skip them); merge adds (same ``β`` only).
    """

    def __init__(self, beta: float = 1.0, higher: bool = True) -> None:
        b = float(beta)
        if not (b > 0.0 and math.isfinite(b)):
            raise ValueError(f"beta must be a finite number > 0, got {beta}")
        self.beta = b
        self.kind: str | None = None  # 'softmax' or 'sigmoid', fixed by the first batch
        self.n_rows = 0
        self.weight = 0.0
        self.loss = self.grad = self.hess = 0.0
        self.d3: float | None = 0.0
        self.d4: float | None = 0.0
        self.higher = higher

    def _set_kind(self, kind: str) -> None:
        if self.kind not in (None, kind):
            raise ValueError(f"batch logits are {kind} but earlier batches were {self.kind}")
        self.kind = kind

    def update(self, logits: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None) -> None:
        """Add rows: logits (n, C) + class indices (n,), or logits (n,) + targets in [0, 1]."""
        arr = np.asarray(logits)
        if arr.ndim == 1:
            self._set_kind("sigmoid")
            z = _vector(arr, "logits")
            y = _unit_vector(target, "target")
            if y.shape != z.shape:
                raise ValueError(f"target must have shape {z.shape}, got shape {y.shape}")
            w = _weights(weight, z.size)
            sums = _sigmoid_nll_sums(z, y, w, self.beta)
            sums = sums if self.higher else (*sums[:3], None, None)

        else:
            self._set_kind("softmax")
            x = _matrix(arr, "logits")
            if x.size and not np.isfinite(x).all():
                raise ValueError(
                    f"logits have {int(np.count_nonzero(~np.isfinite(x)))} non-finite values"
                )
            idx = _index_target(target, x.shape[0], x.shape[1])
            w = _weights(weight, x.shape[0])
            sums = _softmax_nll_sums(x, idx, w, self.beta, self.higher)
        n = arr.shape[0]
        self._add(n, float(n) if w is None else float(w.sum()), sums)

    def _add(
        self,
        n_rows: int,
        weight: float,
        sums: tuple[float, float, float, float | None, float | None],
    ) -> None:
        self.n_rows += n_rows
        self.weight += weight
        self.loss += sums[0]
        self.grad += sums[1]
        self.hess += sums[2]
        self.d3 = None if self.d3 is None or sums[3] is None else self.d3 + sums[3]
        self.d4 = None if self.d4 is None or sums[4] is None else self.d4 + sums[4]

    def add_rows(
        self,
        kind: str,
        loss: F64,
        grad: F64,
        hess: F64,
        weight: F64 | None = None,
        higher: tuple[F64, F64] | None = None,
    ) -> None:
        """Add rows whose terms ``ℓ``, ``ℓ'``, ``ℓ''`` (and ``higher``: ``ℓ'''``, ``ℓ''''``) at
        this ``β`` were computed elsewhere (``softmax_calibration`` with ``derivatives``)."""
        self._set_kind(kind)
        n = loss.shape[0]
        d3, d4 = (
            (None, None) if higher is None else (_sum(higher[0], weight), _sum(higher[1], weight))
        )
        sums = (_sum(loss, weight), _sum(grad, weight), _sum(hess, weight), d3, d4)
        self._add(n, float(n) if weight is None else float(weight.sum()), sums)

    def merge(self, other: TemperatureAccumulator) -> TemperatureAccumulator:
        """Add ``other``'s sums (same ``β``, same kind) into this one; returns ``self``."""
        if other.beta != self.beta:
            raise ValueError(f"cannot merge NLL sums at beta {self.beta} and {other.beta}")
        if other.kind is not None:
            self._set_kind(other.kind)
        sums = (other.loss, other.grad, other.hess, other.d3, other.d4)
        self._add(other.n_rows, other.weight, sums)
        return self

    def compute(self) -> TemperatureStats:
        """Means over the weight: ``L(β)``, ``L'(β)``, ``L''(β)`` (and ``L'''``, ``L''''``)."""
        if not self.weight > 0.0:
            return TemperatureStats(
                self.beta, 1.0 / self.beta, self.n_rows, self.weight, None, None, None
            )
        sums = (self.loss, self.grad, self.hess, self.d3, self.d4)
        nll, grad, hess, d3, d4 = (None if s is None else s / self.weight for s in sums)
        assert nll is not None and grad is not None and hess is not None
        return TemperatureStats(
            self.beta, 1.0 / self.beta, self.n_rows, self.weight, nll, grad, hess, d3, d4
        )


@dataclass(frozen=True)
class TemperatureFit:
    """Result of ``fit_temperature``: ``T = 1/β`` minimising the mean NLL.

    ``nll_before`` is at ``T = 1``, ``nll_after`` at the returned ``T`` (both evaluated, not
    extrapolated); ``passes`` counts passes over the data; ``history`` has one entry per pass.
    """

    temperature: float
    beta: float
    nll_before: float | None
    nll_after: float | None
    passes: int
    converged: bool
    n_rows: int
    weight: float
    history: tuple[TemperatureStats, ...]
    warnings: tuple[str, ...]


Batches = Iterable[tuple[Any, ...]]


Mapper = Callable[[Callable[[tuple[Any, ...]], "TemperatureAccumulator"], Batches], Iterable[Any]]


BatchSums = Callable[[tuple[Any, ...]], "TemperatureAccumulator"]


def _batch_sums(beta: float, batch: tuple[Any, ...], higher: bool = True) -> TemperatureAccumulator:
    acc = TemperatureAccumulator(beta, higher)
    acc.update(*batch[:3])
    return acc


def _nll_pass(
    make_batches: Callable[[], Batches], beta: float, mapper: Mapper, sums: BatchSums | None
) -> TemperatureStats:
    """One pass at ``β``: each batch's sums (``mapper`` may compute them on threads; ``sums``,
    when given, instead of ``TemperatureAccumulator.update``), added in batch order — the same
    floats as one accumulator fed batch by batch."""
    acc = TemperatureAccumulator(beta)
    for part in mapper(sums or partial(_batch_sums, beta), make_batches()):
        acc.merge(part)
    return acc.compute()


def _next_beta(
    beta: float,
    g: float,
    h: float,
    bracket: list[float],
    seen: list[bool],
    older_step: float,
    refined: float | None = None,
) -> float:
    """The safeguarded Newton step from ``β`` with ``L'(β) = g``, ``L''(β) = h``.

    ``bracket = [lo, hi]`` holds the minimiser (``L'(lo) < 0 < L'(hi)`` where ``seen``, else the
    bound). Take the Newton step ``β - g/h`` (or ``refined``, the step ``_taylor_step`` found,
    when given) when it lands strictly inside the bracket and is at most half the step before
    last (Numerical Recipes' rtsafe rule), or is below ``β``'s last bit (``β`` itself: the
    minimiser to float64 precision, as ``β`` is then an end of the bracket). Otherwise bisect
    (geometrically when ``hi > 2·lo``) once both ends are seen, or else expand ×4 toward the
    unseen end (held at the bound).
    """
    lo, hi = bracket
    if h > 0.0:
        step = -g / h if refined is None else refined
        if beta + step == beta:
            return beta
        if lo < beta + step < hi and abs(step) <= 0.5 * abs(older_step):
            return beta + step

    if seen[0] and seen[1]:
        return math.sqrt(lo * hi) if hi > 2.0 * lo else 0.5 * (lo + hi)
    return min(4.0 * beta, hi) if g < 0.0 else max(0.25 * beta, lo)


def _taylor_step(stats: TemperatureStats) -> tuple[float, float] | None:
    """The Newton step refined by the third and fourth derivatives, and its expected error.

    The step is the root ``δ`` of ``L'(β + δ) ≈ g + h·δ + d3·δ²/2 + d4·δ³/6`` next to the Newton
    step ``-g/h`` (three Newton iterations on the polynomial). The root moves by
    ``a = |d3·δ²/2| / h`` for the third derivative and ``b = |d4·δ³/6| / h`` for the fourth; the
    error left is taken as the next term of that series, extrapolated geometrically: ``b²/a``.
    None (plain Newton) without ``d3``/``d4`` or where the terms do not shrink
    (``a > |δ|/2`` or ``b > a``): too far from the minimiser for the Taylor polynomial."""
    g, h, d3, d4 = stats.grad, stats.hess, stats.d3, stats.d4
    if g is None or h is None or d3 is None or d4 is None or not h > 0.0:
        return None
    step = -g / h
    for _ in range(3):
        slope = h + step * (d3 + step * d4 / 2.0)
        if not slope > 0.0:
            return None
        step -= (g + step * (h + step * (d3 / 2.0 + step * d4 / 6.0))) / slope
    a, b = abs(d3 * step * step / 2.0) / h, abs(d4 * step**3 / 6.0) / h
    if not (a <= abs(step) / 2.0 and b <= a and math.isfinite(step)):
        return None
    return step, (b * b / a if a > 0.0 else 0.0)


def _flat_warning(beta: float, seen: list[bool]) -> str:
    if seen[0]:  # L' < 0 at a smaller β, now L' = L'' = 0: the rows saturated on the way up
        return (
            f"the NLL stops changing below T = {1 / beta:.3g}: every row is predicted right "
            "with probability 1 in float64 (T → 0)"
        )
    return (
        f"the NLL does not change with T near T = {1 / beta:.3g} (equal logits in every row, "
        "or saturated predictions)"
    )


class _BetaSearch:
    """The state of ``fit_temperature``'s search for β: the bracket ``[lo, hi]`` around the
    minimiser, which of its ends were seen (``L' < 0`` at ``lo``, ``> 0`` at ``hi``), the last
    two steps, how the search ended, and whether the next pass is expected to be the last
    (``last_expected``: a refined step whose expected error is below ``tol / 8``)."""

    def __init__(self, lo: float, hi: float, tol: float) -> None:
        self.bounds, self.tol = (lo, hi), tol
        self.bracket, self.seen = [lo, hi], [False, False]
        self.steps = [math.inf, math.inf]
        self.converged = False
        self.last_expected = False
        self.warnings: list[str] = []

    def next_beta(self, beta: float, stats: TemperatureStats) -> float | None:
        """The β of the next pass, or ``None`` when the search is over (``converged`` and
        ``warnings`` say how)."""
        g, h = stats.grad, stats.hess
        self.last_expected = False
        if g is None or h is None:
            self.warnings.append("no rows with weight: the temperature cannot be fitted; T = 1")
            return None
        if g == 0.0:
            if h <= 0.0:  # numerically flat
                self.warnings.append(_flat_warning(beta, self.seen))
            self.converged = h > 0.0 or not self.seen[0]
            return None
        side = 1 if g > 0.0 else 0
        self.bracket[side], self.seen[side] = beta, True
        if beta == self.bounds[1 - side]:
            limit = "T → 0" if side == 0 else "T → ∞"
            self.warnings.append(
                f"the NLL keeps decreasing past the bound T = {1 / beta:.3g} ({limit})"
            )
            return None
        taylor = _taylor_step(stats)
        refined = None if taylor is None else taylor[0]
        new = _next_beta(beta, g, h, self.bracket, self.seen, self.steps[0], refined)
        self.steps = [self.steps[1], new - beta]
        if abs(new - beta) < self.tol or self.bracket[1] - self.bracket[0] < self.tol:
            self.converged = True
            return None
        if taylor is not None and new == beta + taylor[0]:
            self.last_expected = taylor[1] < self.tol / 8.0
        return new


def fit_temperature(
    make_batches: Callable[[], Batches],
    *,
    tol: float = 1e-8,
    max_passes: int = 30,
    beta_bounds: tuple[float, float] = BETA_BOUNDS,
    mapper: Mapper = map,
    first_sums: BatchSums | None = None,
    last_sums: Callable[[float], BatchSums] | None = None,
) -> TemperatureFit:
    """Fit ``T`` by minimising the mean NLL ``L(β)``, ``β = 1/T``, in bounded memory.

    ``make_batches()`` must return a fresh iterable of ``(logits, target)`` or
    ``(logits, target, weight)`` batches each time (see ``TemperatureAccumulator``). Each pass
    accumulates ``L`` and its derivatives at one ``β``; the next ``β`` is the safeguarded Newton
    step ``β - L'/L''`` of ``_next_beta``, refined by ``L'''`` and ``L''''`` near the minimiser
    (``_taylor_step``). Because ``L`` is convex, the sign of ``L'`` brackets the minimiser, so
    the iteration cannot diverge and stays in ``beta_bounds`` (default ``e^±10``,
    scikit-learn's). It stops when ``|Δβ| < tol``, or after ``max_passes``. The first pass is at
    ``T = 1``. ``mapper`` (``map``-like, results in order) computes each batch's sums, e.g. on
    threads (``engine.ordered_map``); ``first_sums(batch)``, when given, makes the first pass's
    sums at ``β = 1`` (a ``TemperatureAccumulator``; e.g. from a pass that computes more), and
    ``last_sums(β)`` the batch sums of a pass the search expects to be the last (its refined
    step is expected within ``tol / 8``; e.g. one that also measures the metrics at ``β``). Such
    a pass computes ``L`` and its first two derivatives only (plain Newton after it): a wrong
    guess costs time, never accuracy. Elements of a batch after the third are ignored. If ``L``
    still decreases at a bound (e.g. every row correct and separable: ``T → 0``) the fit stops
    there with ``converged=False`` and a warning.
    """
    lo, hi = float(beta_bounds[0]), float(beta_bounds[1])
    if not 0.0 < lo <= 1.0 <= hi < math.inf:
        raise ValueError(f"beta_bounds must satisfy 0 < lo <= 1 <= hi, got {beta_bounds}")
    search = _BetaSearch(lo, hi, tol)
    history: list[TemperatureStats] = []
    beta: float | None = 1.0
    while beta is not None and len(history) < max_passes:
        sums = first_sums if not history else None
        if history and search.last_expected:  # L, L' and L'' only
            sums = (
                partial(_batch_sums, beta, higher=False) if last_sums is None else last_sums(beta)
            )
        history.append(_nll_pass(make_batches, beta, mapper, sums))
        beta = search.next_beta(beta, history[-1])
    if beta is not None:
        search.warnings.append(f"no convergence to |Δβ| < {tol:g} in {max_passes} passes")
    return _fit_result(history, search)


def _fit_result(history: list[TemperatureStats], search: _BetaSearch) -> TemperatureFit:
    """The fit at the last pass's β, with the first pass's NLL (at ``T = 1``) as "before"."""
    last = history[-1]
    return TemperatureFit(
        temperature=last.temperature,
        beta=last.beta,
        nll_before=history[0].nll,
        nll_after=last.nll,
        passes=len(history),
        converged=search.converged,
        n_rows=last.n_rows,
        weight=last.weight,
        history=tuple(history),
        warnings=tuple(search.warnings),
    )


def fit_temperature_arrays(
    logits: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    batch_rows: int = 1 << 16,
    **options: Any,
) -> TemperatureFit:
    """``fit_temperature`` on in-memory arrays, fed in ``batch_rows`` row slices."""
    x, t = np.asarray(logits), np.asarray(target)
    w = None if weight is None else np.asarray(weight)

    def batches() -> Batches:
        for start in range(0, max(x.shape[0], 1), batch_rows):
            sl = slice(start, start + batch_rows)
            yield (x[sl], t[sl]) if w is None else (x[sl], t[sl], w[sl])

    return fit_temperature(batches, **options)


__all__ = [
    "BETA_BOUNDS",
    "CONFIDENCE_MODES",
    "DEFAULT_N_BINS",
    "LOGIT_RANGE",
    "QUANTILE_RESOLUTION",
    "SCORE_KINDS",
    "STRATEGIES",
    "AccuracyAccumulator",
    "BrierAccumulator",
    "CalibrationAccumulator",
    "CalibrationBin",
    "CalibrationResult",
    "ClasswiseCalibrationAccumulator",
    "ClasswiseCalibrationResult",
    "EqualMassCuts",
    "MeanAccumulator",
    "MeanResult",
    "NLLAccumulator",
    "TemperatureAccumulator",
    "TemperatureFit",
    "TemperatureStats",
    "brier_terms",
    "confidence_and_correct",
    "cumulants",
    "equal_mass_cuts",
    "fine_bin_index",
    "fine_edges",
    "fit_temperature",
    "fit_temperature_arrays",
    "nll_terms",
    "quantile_ece_bound",
    "softmax_moments",
    "top_label",
    "uniform_bin_index",
    "uniform_edges",
]
