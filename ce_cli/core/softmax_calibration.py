"""Every calibration metric of softmax logits from one pass over cache-sized row blocks.

``softmax_calibration_rows`` reads each block of logits ``x`` (n, C) in place as the class-major
view ``(C, m)`` (long contiguous runs for the column-major batches the readers give; reductions
over classes run along them), and computes:

- each row's maximum and first argmax from the input (``losses.FirstMax``: ties, the first
  index);
- ``e = exp((x − s₀) / T)`` in float64 (``losses.exp_into``: ``s₀ = 0`` unless a logit is
  huge, else each row's maximum; with derivatives ``d = (x − x_max) / T`` is kept and
  ``e = exp(d)``), ``s = Σ_c e_c`` and ``lse = log Σ_c exp((x − x_max)/T)`` from
  ``s / e_max`` (``losses.log_sum_over_top``): the top-label confidence ``exp(−lse)``, the
  NLL ``lse + (x_max − x_y)/T`` (no full log-softmax); ``q = e / s`` is never formed;
- the Brier term ``Σ_c q_c² - 2·q_y + 1 = Σ_c e_c² / s² - 2·e_y / s + 1``;
- classwise (one-vs-rest) bin sums: most ``q_c`` of a many-class row are at most the first
  edge ``1/M``, i.e. in bin 0. Only the entries above it (at most ``M`` per row, as
  ``Σ q = 1``) are binned (``calibration.uniform_bin_index``, exact on the edges) and counted by
  one ``np.bincount`` over ``class·M + bin``; bin 0 of each class is what is left: its count
  ``rows - (entries above)``, its ``Σ w·q`` the product ``e @ (w / s)`` with those entries
  zeroed, its weight ``Σ w·[q ≤ 1/M]``. The true class's cell gets ``Σ w·y``, one bincount
  over rows. The entries are found without dividing the block: ``q > 1/M`` needs
  ``e > s/M`` (with a margin of 1e-9 for rounding), so only those candidates are divided.

The numbers are those of ``calibration.confidence_and_correct`` + ``brier_terms`` +
``nll_terms(log_softmax)`` + ``ClasswiseCalibrationAccumulator.update(softmax)``, up to the last
bits of the sums (the probabilities are ``e / s`` rather than ``exp(d - log s)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ce_cli.core import losses
from ce_cli.core.calibration import cumulants, softmax_moments, uniform_bin_index, uniform_edges

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

BLOCK_ELEMENTS = 1 << 16  # float64 elements per block (512 KiB): it and its scratch stay in L2
MIN_BLOCK_ROWS = 64  # many classes: at least this many rows per block (per-block overhead)


@dataclass
class ClassBinSums:
    """``(C, M)`` sums of the one-vs-rest bins: rows, ``Σ w``, ``Σ w·q``, ``Σ w·y``."""

    count: I64
    weight: F64
    conf_sum: F64
    correct_sum: F64

    @classmethod
    def zeros(cls, n_classes: int, n_bins: int) -> ClassBinSums:
        shape = (n_classes, n_bins)
        return cls(np.zeros(shape, np.int64), np.zeros(shape), np.zeros(shape), np.zeros(shape))


@dataclass
class SoftmaxRows:
    """Per-row values of the used rows and the classwise bin sums of them all."""

    confidence: F64  # max_c q_c
    correct: F64  # 1.0 where argmax = target
    nll: F64  # -log q_y
    brier: F64  # Σ_c (q_c - [c = y])²
    classwise: ClassBinSums
    # with derivatives=True: the NLL's derivatives in β = 1/T at β = 1/temperature
    grad: F64 | None = None  # ℓ' = E_q[d] - d_y, d = x - x_max
    hess: F64 | None = None  # ℓ'' = Var_q[d]
    d3: F64 | None = None  # ℓ''' = κ3_q[d], the third cumulant
    d4: F64 | None = None  # ℓ'''' = κ4_q[d]


def softmax_calibration_rows(
    logits: NDArray[Any],
    target: NDArray[np.integer[Any]],
    weight: F64 | None,
    *,
    temperature: float = 1.0,
    n_bins: int = 15,
    derivatives: bool = False,
    higher: bool = True,
) -> SoftmaxRows:
    """The top-label confidence, correctness, NLL and Brier term of every row of ``logits``
    (n, C; float32 or float64, finite) with class-index ``target`` (n,) at ``temperature``,
    and the classwise bin sums (``n_bins`` uniform bins, ``weight`` per row or None).

    ``derivatives`` adds each row's first four derivatives of its NLL in ``β = 1/T`` at
    ``β = 1/temperature`` (the first two unless ``higher``) — a pass of the temperature fit
    (``calibration.TemperatureAccumulator``'s terms) from the same exponentials."""
    n, n_classes = logits.shape
    out = SoftmaxRows(
        np.empty(n), np.empty(n), np.empty(n), np.empty(n), ClassBinSums.zeros(n_classes, n_bins)
    )
    moments = np.empty((4 if higher else 2, n)) if derivatives else None
    if derivatives:
        out.grad = np.empty(n)  # -d_y / T, then the derivatives (``_derivatives``)
    rows = max(1, min(n, max(MIN_BLOCK_ROWS, BLOCK_ELEMENTS // max(n_classes, 1))))
    scratch = _Scratch(n_classes, rows, derivatives)
    tgt = np.asarray(target, dtype=np.intp)
    picked = _Picked(n, n_classes, weight, uniform_edges(n_bins))
    for start in range(0, n, rows):
        sl = slice(start, min(start + rows, n))
        d, e, spare = scratch.views(sl.stop - start)
        kept_d = None if moments is None else d
        s, inv = _block(logits[sl].T, kept_d, e, scratch, tgt[sl], temperature, out, sl)
        if moments is not None:
            softmax_moments(e, d, s, spare, moments[:, sl])
        picked.add(e, s, inv, tgt[sl], sl)
    picked.bin_into(out.classwise, tgt)
    if moments is not None:
        _derivatives(out, moments, temperature)
    return out


class _Scratch:
    """The reused class-major buffers of one call: the block ``d`` and, with derivatives, its
    exponentials ``e`` and a spare (else ``e`` is ``d``); the first-argmax scratch. A block of
    ``m`` rows is the first ``C·m`` elements of a flat buffer: contiguous, whatever ``m``."""

    def __init__(self, n_classes: int, rows: int, derivatives: bool) -> None:
        count = 3 if derivatives else 1
        self.n_classes = n_classes
        self.bufs = [np.empty(n_classes * rows) for _ in range(count)]
        self.cols = np.arange(rows)
        self.argmax = losses.FirstMax(n_classes, rows)

    def _shaped(self, buf: NDArray[Any], m: int) -> NDArray[Any]:
        return buf[: self.n_classes * m].reshape(self.n_classes, m)

    def views(self, m: int) -> tuple[F64, F64, F64]:
        b = [self._shaped(buf, m) for buf in self.bufs]
        return (b[0], b[0], b[0]) if len(b) == 1 else (b[0], b[1], b[2])


def _block(
    block: NDArray[Any],
    d: F64 | None,
    e: F64,
    scratch: _Scratch,
    y: NDArray[np.intp],
    t: float,
    out: SoftmaxRows,
    sl: slice,
) -> tuple[F64, F64]:
    """Per-row values of one class-major block, read in place from the view ``block`` of the
    logits: ``e = exp((x − s₀)/T)`` in float64, where ``s₀`` is 0 or each row's maximum
    (``losses.exp_into``), or, given ``d`` (the temperature fit's derivatives), always the
    maximum, with ``d = (x − x_max)/T`` kept and ``out.grad = −d_y``. Returns the row sums
    ``s`` and ``1/s`` (``q = e / s``)."""
    r = scratch.cols[: block.shape[1]]
    top = block.max(axis=0)
    pred = np.empty(block.shape[1], dtype=np.int64)
    scratch.argmax(block, top, pred)
    top64 = top.astype(np.float64)
    if d is None:
        shift: F64 | float = losses.exp_into(e, block, top, True, t)
    else:
        shift = top64
        np.subtract(block, top, out=d, dtype=np.float64)
        if t != 1.0:
            d /= t
        if out.grad is not None:
            out.grad[sl] = -d[y, r]
        np.exp(d, out=e)
    s = e.sum(axis=0)
    inv = np.divide(1.0, s)
    lse = losses.log_sum_over_top(s, top64, shift, t)  # log Σ exp((x − max)/T) = −log q_max
    np.exp(-lse, out=out.confidence[sl])
    np.add(lse, (top64 - block[y, r].astype(np.float64)) / t, out=out.nll[sl])
    np.equal(pred, y, out=out.correct[sl], casting="unsafe")
    _brier_into(out.brier[sl], e, e[y, r], inv)  # Σ q² − 2·q_y + 1 with q = e / s
    return s, inv


def _brier_into(brier: F64, e: F64, e_y: F64, inv: F64) -> None:
    """``Σ_c q_c² − 2·q_y + 1`` with ``q = e·inv``, clipped at 0 (rounding)."""
    np.einsum("cn,cn->n", e, e, out=brier)
    brier *= inv * inv
    brier -= 2.0 * e_y * inv
    brier += 1.0
    np.maximum(brier, 0.0, out=brier)


def _derivatives(out: SoftmaxRows, moments: F64, t: float) -> None:
    """``ℓ' = E_q[d] - d_y``, ``ℓ'' = Var_q[d]`` and (four ``moments``) the cumulants ``κ3``,
    ``κ4`` of the unscaled ``d`` — the NLL's derivatives in ``β = 1/T`` — from the raw moments
    of the blocks' ``d / T`` (``calibration.cumulants``; the k-th cumulant scales by ``T^k``);
    ``out.grad`` holds ``-d_y / T`` on entry."""
    assert out.grad is not None
    values = list(cumulants(moments))
    values[0] += out.grad
    if t != 1.0:
        for k, value in enumerate(values):
            value *= t ** (k + 1)
    out.grad, out.hess = values[0], values[1]
    if len(values) == 4:
        out.d3, out.d4 = values[2], values[3]


class _Picked:
    """The classwise bins of one call, gathered block by block and binned once at the end.

    Per block: the true class's ``q_y``; the entries with ``q > 1/M`` (found as
    ``e > s·(1/M)·(1 - 1e-9)`` first, a superset whatever the rounding, then divided), which are
    zeroed in ``e`` so that the rest of bin 0 is one product ``e @ (w / s)`` (and, weighted,
    its weight ``[not picked] @ w``)."""

    def __init__(self, n: int, n_classes: int, weight: F64 | None, edges: F64) -> None:
        self.n, self.n_classes, self.w, self.edges = n, n_classes, weight, edges
        self.threshold = edges[1] * (1.0 - 1e-9)  # e > s·threshold ⊇ fl(e / s) > 1/M
        self.true_q = np.empty(n)
        self.cls: list[NDArray[np.intp]] = []
        self.row: list[NDArray[np.intp]] = []
        self.values: list[F64] = []
        self.rest_conf = np.zeros(n_classes)
        self.rest_weight = np.zeros(n_classes)

    def add(self, e: F64, s: F64, inv: F64, y: NDArray[np.intp], sl: slice) -> None:
        m = e.shape[1]
        np.divide(e[y, np.arange(m)], s, out=self.true_q[sl])
        flat = e.reshape(-1)
        idx = np.flatnonzero(e > s * self.threshold)
        cls, row = np.divmod(idx, m)
        values = flat[idx] / s[row]
        above = values > self.edges[1]
        if not above.all():
            idx, cls, row, values = idx[above], cls[above], row[above], values[above]
        flat[idx] = 0.0  # e is now the rest of bin 0
        self.cls.append(cls)
        self.row.append(row + sl.start)
        self.values.append(values)
        w = None if self.w is None else self.w[sl]
        self.rest_conf += e @ (inv if w is None else w * inv)
        if w is not None:
            rest = np.ones(flat.size, dtype=bool)
            rest[idx] = False
            self.rest_weight += rest.reshape(e.shape) @ w

    def bin_into(self, sums: ClassBinSums, y: NDArray[np.intp]) -> None:
        """Add the gathered entries to ``sums``: one binning and one bincount per sum."""
        edges = self.edges
        n_bins = edges.size - 1
        shape, size = (self.n_classes, n_bins), self.n_classes * n_bins
        true_cell = y * n_bins + uniform_bin_index(self.true_q, n_bins, edges)
        sums.correct_sum += np.bincount(true_cell, weights=self.w, minlength=size).reshape(shape)
        values = np.concatenate(self.values) if self.values else np.zeros(0)
        cls = np.concatenate(self.cls) if self.cls else np.zeros(0, np.intp)
        cell = cls * n_bins + uniform_bin_index(values, n_bins, edges)
        counted = np.bincount(cell, minlength=size).reshape(shape)
        counted[:, 0] += self.n - counted.sum(axis=1)
        sums.count += counted
        sums.conf_sum[:, 0] += self.rest_conf
        if self.w is None:
            sums.weight += counted
            sums.conf_sum += np.bincount(cell, weights=values, minlength=size).reshape(shape)
            return
        w_sel = self.w[np.concatenate(self.row)] if self.row else np.zeros(0)
        weighted = np.bincount(cell, weights=w_sel, minlength=size).reshape(shape)
        sums.weight += weighted
        sums.weight[:, 0] += self.rest_weight
        sums.conf_sum += np.bincount(cell, weights=values * w_sel, minlength=size).reshape(shape)
