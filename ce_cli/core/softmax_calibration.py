"""Every calibration metric of softmax logits from one pass over cache-sized row blocks.

``softmax_calibration_rows`` reads each block of logits ``x`` (n, C) in place as the class-major
view ``(C, m)`` (long contiguous runs for the column-major batches the readers give; reductions
over classes run along them; ``m`` a power of two). Where the compiled kernel takes the block
(``native.takes``), two fused passes do the per-block work: ``calibration.exp_moments`` (each
row's maximum and first argmax, ``e = exp((x − x_max)/T)``, ``Σ_c e_c``, ``Σ_c e_c²``, ``x_y``,
``e_y`` and, with derivatives, the moments) and ``_native.candidates`` (the candidate entries,
``e ≥ s·edge``, and the rest of bin 0). Otherwise numpy takes one pass each for the row maximum
(on the input), ``e = exp((x − s₀)/T)`` in float64 (``losses.exp_into``: ``s₀ = 0`` unless a
logit is huge, else each row's maximum; with derivatives ``exp_moments``' numpy path, always
shifted), ``s = Σ_c e_c`` (``1 @ e``), ``Σ_c e_c²``, one comparison that marks the few candidate
entries on the input or on the unscaled ``d = x − x_max``, and ``e @ (w/s)``. The rest is per row
(once per call, ``_Kernel.finish``) or per candidate:

- the confidence ``exp(−lse)`` and the NLL ``lse + (x_max − x_y)/T``, with
  ``lse = log Σ_c exp((x − x_max)/T)`` from ``s / e_max`` (``losses.log_sum_over_top``);
- the Brier term ``Σ_c q_c² − 2·q_y + 1 = Σ_c e_c² / s² − 2·e_y / s + 1`` (``q = e / s``);
- candidates ``z ≥ min(L, z_max)``: on the input ``z = x`` with ``L = T·(log s − log M − 1e-9)``
  cast to its dtype (``s₀ = 0``), else on ``z = d`` with ``L = log s − log M − 1e-9`` (times T
  for the unscaled ``d`` of derivatives). They hold every entry with ``q > 1/M`` (the 1e-9
  covers the rounding of ``exp``, ``log`` and the division; a float32 ``x > L`` is at least
  ``L`` rounded to float32) and each row's maxima;
- correctness: the first argmax where ``exp_moments`` gives it; else ``x_y = x_max``, unless
  some row has two maxima among its candidates (then the first, as ``np.argmax``:
  ``_first_argmax``);
- classwise (one-vs-rest) bin sums: each candidate's ``q = e / s`` is binned (``BinTable``, the
  same bins as ``calibration.uniform_bin_index``) and counted by ``np.bincount`` over
  ``class·M + bin``; bin 0 of each class also holds the rest: its count ``rows − candidates``,
  its ``Σ w·q`` and weight summed by ``_native.candidates``, or in numpy the product
  ``e @ (w / s)`` with the candidates zeroed and the same product on ones. The true class's
  cell gets ``Σ w·y``.

The numbers are those of ``calibration.confidence_and_correct`` + ``brier_terms`` +
``nll_terms(log_softmax)`` + ``ClasswiseCalibrationAccumulator.update(softmax)``, up to the last
bits of the sums (the probabilities are ``e / s`` rather than ``exp(d − log s)``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ce_cli.core import losses, native
from ce_cli.core.calibration import cumulants, exp_moments, uniform_edges

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

BLOCK_ELEMENTS = 1 << 19
"""Float64 elements per block at most (4 MiB; 4096 rows at 100 classes). On one thread 2^17 costs
1–10 % less CPU, but each block takes ~20 small numpy calls that hold the GIL, so two threads
wait on each other less with fewer blocks. `ce calibrate big.parquet --fit-temperature`, 2
threads, BLAS on one thread as `ce` runs it, 3 runs each (2026-12-07, 2 cores, load ~1.5):
2^17 → 2.61–2.98 s, 2^18 → 2.61–2.69, 2^19 → 2.31–2.51, 2^20 → 2.22–2.49; plain `ce calibrate`
(4 runs): 2^17 → 1.25–1.51 s, 2^19 → 1.20–1.50, 2^20 → 1.17–1.24."""
MIN_BLOCK_ROWS = 64  # many classes: at least this many rows per block (per-block overhead)
LOG_MARGIN = 1e-9  # candidates: ``log e > log s + log(1/M) − LOG_MARGIN`` (a superset)


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
    rows = block_rows(n, n_classes)
    kernel = _Kernel(n, n_classes, rows, weight, n_bins, temperature)
    if derivatives:
        kernel.with_derivatives(4 if higher else 2)
    tgt = np.asarray(target, dtype=np.intp)
    for start in range(0, n, rows):
        sl = slice(start, min(start + rows, n))
        kernel.block(logits[sl].T, tgt[sl], sl)
    return kernel.finish(tgt)


def block_rows(n: int, n_classes: int) -> int:
    """Rows per block: a power of two (a candidate's class and row are then two bit operations)
    of at most ``BLOCK_ELEMENTS`` values, at least ``MIN_BLOCK_ROWS``; no more than n."""
    rows = 1 << max(0, (BLOCK_ELEMENTS // max(n_classes, 1)).bit_length() - 1)
    return max(1, min(n, max(MIN_BLOCK_ROWS, rows)))


class _Kernel:
    """One call's reused class-major buffers (a block of ``m`` rows is the first ``C·m``
    elements of a flat buffer: contiguous, whatever ``m``), its per-row values (finished once,
    ``finish``) and its classwise candidates (``_Picked``)."""

    def __init__(
        self, n: int, n_classes: int, rows: int, weight: F64 | None, n_bins: int, t: float
    ) -> None:
        self.n_classes, self.t = n_classes, t
        edges = uniform_edges(n_bins)
        self.log_edge = float(np.log(edges[1])) - LOG_MARGIN
        self.bufs = [np.empty(n_classes * rows) for _ in range(2)]  # e, d (and a spare)
        self.mask = np.zeros(n_classes * rows + 4, dtype=bool)  # + whole 4-byte words
        self.cols = np.arange(rows)
        self.picked_rows = np.empty((3, rows))  # x_y, e_y, d_y of a block (``exp_moments``)
        self.pred = np.empty(rows, dtype=np.int64)  # its rows' first argmax
        self.ones = np.ones(n_classes)
        # per row: maximum, Σe, 1/Σe, Σe², e_y, x_y; the shift s₀ (0 unless a block is shifted)
        self.top, self.s, self.inv, self.sumsq, self.e_y, self.x_y = np.empty((6, n))
        self.shift = np.zeros(n)
        # blocks whose correctness is known from an argmax (exp_moments', or a tied maximum)
        self.by_argmax: list[tuple[slice, NDArray[np.bool_]]] = []
        self.picked = _Picked(n, n_classes, weight, edges)
        self.moments: F64 | None = None
        self.grad: F64 | None = None

    def with_derivatives(self, count: int) -> None:
        """Keep the ``count`` raw moments of each row (``_derivatives``), and a spare buffer
        for numpy's moments."""
        n = self.top.shape[0]
        self.moments = np.empty((count, n))
        self.grad = np.empty(n)  # -d_y, then the derivatives
        self.bufs.append(np.empty_like(self.bufs[0]))

    def _view(self, k: int, m: int) -> F64:
        return self.bufs[k][: self.n_classes * m].reshape(self.n_classes, m)

    def block(self, block: NDArray[Any], y: NDArray[np.intp], sl: slice) -> None:
        """One class-major block ``(C, m)`` of the logits, read in place."""
        m = block.shape[1]
        e, d = self._view(0, m), self._view(1, m)
        kernel = native.KERNEL if native.takes(block) else None
        if self.grad is not None or kernel is not None:
            self._exp_moments(block, e, d, y, sl)  # each row's maximum and its correctness
            top, shifted = self.top[sl], True
        else:
            top = block.max(axis=0)
            self.top[sl] = top
            shifted = self._exp(block, top, e, d, y, sl)
        s = self.s[sl]
        np.divide(1.0, s, out=self.inv[sl])
        size = self.n_classes * m
        if kernel is not None:  # also the rest of bin 0, in the same pass
            self.picked.candidates(kernel, e, s, self.inv[sl], self.mask, sl)
        else:
            self._candidate_mask(block, top, d, s, shifted, m)
        idx = _flat_nonzero(self.mask, size)
        if m & (m - 1):
            cls, row = np.divmod(idx, m)
        else:  # m = 2^k
            cls, row = idx >> (m.bit_length() - 1), idx & (m - 1)
        if self.grad is None and kernel is None:  # correct: x_y = x_max, unless the max is tied
            is_top = block[cls, row] == top.take(row)  # every row has one: m of them, no tie
            if np.count_nonzero(is_top) != m:
                pred = _first_argmax(is_top, cls, row, m, self.n_classes)
                self.by_argmax.append((sl, pred == y))
        self.picked.add(e, s, self.inv[sl], idx, cls, row, sl, rest=kernel is None)

    def _candidate_mask(
        self, block: NDArray[Any], top: NDArray[Any], d: F64, s: F64, shifted: bool, m: int
    ) -> None:
        """``mask``: the entries whose ``q`` can reach the first bin edge (a superset), by
        comparing ``d`` (shifted) or the logits against a per-row limit."""
        lim = np.log(s)
        lim += self.log_edge  # log(s/M) − margin: e > s/M needs d > lim
        if shifted:
            np.minimum(lim, 0.0, out=lim)
            if self.t != 1.0:
                lim *= self.t  # d is unscaled: d/T > lim needs d > T·lim
            z = d
        else:  # x > T·lim: x is at least T·lim cast to its dtype, however that rounds
            if self.t != 1.0:
                lim *= self.t
            lim = np.minimum(lim.astype(block.dtype), top)
            z = block
        np.greater_equal(z, lim, out=self.mask[: self.n_classes * m].reshape(self.n_classes, m))

    def _exp_moments(
        self, block: NDArray[Any], e: F64, d: F64, y: NDArray[np.intp], sl: slice
    ) -> None:
        """``calibration.exp_moments`` (one fused pass when compiled): each row's maximum (the
        shift), ``e = exp((x − x_max)/T)``, ``d = x − x_max`` (numpy's path only), the row
        sums ``s = Σ e`` and ``sumsq = Σ e²``, ``x_y``, ``e_y``, the moments and
        ``grad = −d_y`` (with derivatives), and the rows' correctness from their first
        argmax."""
        m = block.shape[1]
        picked, pred = self.picked_rows[:, :m], self.pred[:m]  # x_y, e_y, d_y
        spare = d if self.moments is None else self._view(2, m)  # for the moments only
        moments = None if self.moments is None else self.moments[:, sl]
        sums = (self.s[sl], self.sumsq[sl], picked, self.top[sl], pred)
        exp_moments(block, y, 1.0 / self.t, (d, e, spare), sums, moments)
        self.shift[sl] = self.top[sl]
        self.x_y[sl], self.e_y[sl] = picked[0], picked[1]
        self.by_argmax.append((sl, pred == y))
        if self.grad is not None:
            np.negative(picked[2], out=self.grad[sl])

    def _exp(
        self, block: NDArray[Any], top: NDArray[Any], e: F64, d: F64, y: NDArray[np.intp], sl: slice
    ) -> bool:
        """``e = exp((x − s₀)/T)`` (``losses.exp_into``), the row sums ``s = Σ e`` and
        ``sumsq = Σ e²``, ``x_y`` and ``e_y``; returns whether ``s₀`` is each row's maximum,
        and then ``d = x − x_max`` is kept (unscaled)."""
        r = self.cols[: block.shape[1]]
        self.x_y[sl] = block[y, r]
        shift = losses.exp_into(e, block, top, True, self.t)
        np.matmul(self.ones, e, out=self.s[sl])
        np.einsum("cn,cn->n", e, e, out=self.sumsq[sl])
        self.e_y[sl] = e[y, r]
        if isinstance(shift, float):  # 0
            return False
        self.shift[sl] = top
        np.subtract(block, top, out=d, dtype=np.float64)  # as exp_into's shifted path
        return True

    def finish(self, y: NDArray[np.intp]) -> SoftmaxRows:
        """The per-row values from the per-row sums, once per call, and the classwise bins."""
        n, t = y.shape[0], self.t
        out = SoftmaxRows(
            np.empty(n), np.empty(n), np.empty(n), np.empty(n), ClassBinSums.zeros(0, 0)
        )
        np.equal(self.x_y, self.top, out=out.correct, casting="unsafe")  # a unique maximum
        for sl, correct in self.by_argmax:
            out.correct[sl] = correct
        lse = losses.log_sum_over_top(self.s, self.top, self.shift, t)  # = −log q_max
        np.exp(-lse, out=out.confidence)
        self.top -= self.x_y
        self.top /= t
        np.add(lse, self.top, out=out.nll)
        _brier_into(out.brier, self.sumsq, self.e_y, self.inv)
        np.divide(self.e_y, self.s, out=self.e_y)  # q_y
        out.classwise = self.picked.bin_into(self.e_y, y)
        if self.moments is not None:
            _derivatives(out, self.moments, self.grad)
        return out


def _flat_nonzero(mask: NDArray[np.bool_], size: int) -> NDArray[np.intp]:
    """``np.flatnonzero(mask[:size])`` for a sparse mask, by 4-byte words: the non-zero words,
    then the bytes of those only (``mask`` has room for a whole last word; its tail is
    cleared)."""
    end = -(-size // 4) * 4
    mask[size:end] = False
    words = mask[:end].view(np.uint32)
    nonzero = np.flatnonzero(words != 0)
    sub = np.flatnonzero(words.take(nonzero).view(np.bool_))
    idx = nonzero.take(sub >> 2)
    idx <<= 2
    idx += sub & 3
    return idx


def _first_argmax(
    is_top: NDArray[np.bool_], cls: NDArray[np.intp], row: NDArray[np.intp], m: int, n_classes: int
) -> I64:
    """``np.argmax`` of each of ``m`` rows: the least class among its candidates (``cls``,
    ``row``) equal to its maximum (``is_top``); ``n_classes`` for a row without one."""
    pred = np.full(m, n_classes, dtype=np.int64)
    np.minimum.at(pred, row[is_top], cls[is_top])
    return pred


def _brier_into(brier: F64, sumsq: F64, e_y: F64, inv: F64) -> None:
    """``Σ_c q_c² − 2·q_y + 1`` with ``q = e·inv`` from ``sumsq = Σ_c e_c²``, clipped at 0
    (rounding)."""
    np.multiply(inv, inv, out=brier)
    brier *= sumsq
    brier -= 2.0 * e_y * inv
    brier += 1.0
    np.maximum(brier, 0.0, out=brier)


def _derivatives(out: SoftmaxRows, moments: F64, grad: F64 | None) -> None:
    """``ℓ' = E_q[d] - d_y``, ``ℓ'' = Var_q[d]`` and (four ``moments``) the cumulants ``κ3``,
    ``κ4`` of the unscaled ``d = x − x_max`` — the NLL's derivatives in ``β = 1/T`` — from the
    raw moments of the blocks' ``d`` (``calibration.cumulants``); ``grad`` holds ``-d_y``."""
    assert grad is not None
    values = list(cumulants(moments))
    values[0] += grad
    out.grad, out.hess = values[0], values[1]
    if len(values) == 4:
        out.d3, out.d4 = values[2], values[3]


class BinTable:
    """The bin of ``q ∈ [0, 1]`` under the uniform ``edges`` (``M`` bins; ``I_1 = [0, e_1]``,
    ``I_m = (e_{m-1}, e_m]``), exactly as ``calibration.uniform_bin_index``, by table look-up:
    with ``G = 8·M`` cells and ``k = ⌊fl(q·G)⌋``, ``bin = low[k] + [q > split[k]]``, where
    ``low[k]`` counts the interior edges with ``e_j·G < k − 1`` (below every q of cell k, whatever
    the rounding) and ``split[k]`` is the one edge with ``e_j·G`` in ``[k − 1, k + 2]`` (edges are
    8 cells apart), or 2 (none)."""

    def __init__(self, edges: F64) -> None:
        self.n_bins = edges.size - 1
        self.cells = 8 * self.n_bins
        k = np.arange(self.cells + 1, dtype=np.float64)
        at = edges[1:-1] * self.cells  # the interior edges on the grid
        self.low = np.searchsorted(at, k - 1.0, side="left").astype(np.intp)
        near = np.searchsorted(at, k + 2.0, side="right")  # edges with e_j·G ≤ k + 2
        self.split = np.where(near > self.low, edges[1:][np.minimum(self.low, at.size)], 2.0)

    def cell(self, q: F64, cls: NDArray[np.intp]) -> NDArray[np.intp]:
        """``cls·M + bin(q)``: the flat index of each ``(class, bin)``."""
        k = np.multiply(q, self.cells, out=np.empty(q.shape, np.intp), casting="unsafe")
        out = self.low.take(k)
        out += q > self.split.take(k)
        out += cls * self.n_bins
        return out


@functools.lru_cache(maxsize=8)
def _bin_table(n_bins: int) -> BinTable:
    """One ``BinTable`` per bin count (read-only: shared by calls and threads)."""
    return BinTable(uniform_edges(n_bins))


class _Picked:
    """The classwise bins of one call, gathered block by block and binned once at the end.

    Per block, from candidates ``idx`` (flat indices into the class-major block ``e``, a
    superset of the entries with ``q = e / s > 1/M``): those entries' ``q``. The rest of bin 0
    comes from ``candidates`` (compiled, one pass), or the candidates are zeroed in ``e`` so
    that it is one product ``e @ (w / s)`` (and, weighted, its weight ``[not picked] @ w``).
    Candidates at or below the first edge fall in bin 0 as binned entries: the sums are the
    same."""

    def __init__(self, n: int, n_classes: int, weight: F64 | None, edges: F64) -> None:
        self.n, self.n_classes, self.w = n, n_classes, weight
        self.table = _bin_table(edges.size - 1)
        self.cls: list[NDArray[np.intp]] = []
        self.row: list[NDArray[np.intp]] = []  # weighted only
        self.values: list[F64] = []
        self.rest_conf = np.zeros(n_classes)
        self.rest_weight = np.zeros(n_classes)
        self.ones: F64 | None = None  # weighted: ones of a block's shape, picked entries 0
        self.edge = float(edges[1]) * float(np.exp(-LOG_MARGIN))  # compiled candidates' limit

    def add(
        self,
        e: F64,
        s: F64,
        inv: F64,
        idx: NDArray[np.intp],
        cls: NDArray[np.intp],
        row: NDArray[np.intp],
        sl: slice,
        rest: bool = True,
    ) -> None:
        """Gather the candidates ``idx = cls·m + row`` of the block ``e`` (C, m) with row sums
        ``s`` (``inv = 1/s``): their ``q``; with ``rest`` (unless ``candidates`` did), zero
        them and add the rest of bin 0."""
        flat = e.reshape(-1)
        values = flat.take(idx)
        values /= s.take(row)
        self.cls.append(cls)
        self.values.append(values)
        if self.w is not None:
            self.row.append(row + sl.start)
        if not rest:
            return
        flat.put(idx, 0.0)  # e is now the rest of bin 0
        if self.w is None:
            self.rest_conf += e @ inv
            return
        w = self.w[sl]
        self.rest_conf += e @ (w * inv)
        if self.ones is None or self.ones.size < e.size:
            self.ones = np.ones(e.size)
        ones = self.ones[: e.size]
        ones[idx] = 0.0
        self.rest_weight += ones.reshape(e.shape) @ w
        ones[idx] = 1.0

    def candidates(
        self, kernel: Any, e: F64, s: F64, inv: F64, mask: NDArray[np.bool_], sl: slice
    ) -> None:
        """The compiled mask of a block's candidates (``e ≥ s·edge``, ``edge`` a little below
        the first bin edge: a superset) and, in the same pass, the rest of bin 0; ``add``
        (``rest=False``) then only gathers."""
        w = None if self.w is None else np.ascontiguousarray(self.w[sl])
        winv = inv if w is None else w * inv
        kernel.candidates(e, s, self.edge, winv, w, mask, self.rest_conf, self.rest_weight)

    def bin_into(self, true_q: F64, y: NDArray[np.intp]) -> ClassBinSums:
        """The bin sums of the gathered entries and of the true classes' ``q_y``: one look-up
        and one bincount per sum."""
        n_bins = self.table.n_bins
        sums = ClassBinSums.zeros(self.n_classes, n_bins)
        shape, size = (self.n_classes, n_bins), self.n_classes * n_bins
        true_cell = self.table.cell(true_q, y)
        sums.correct_sum += np.bincount(true_cell, weights=self.w, minlength=size).reshape(shape)
        values = np.concatenate(self.values) if self.values else np.zeros(0)
        cls = np.concatenate(self.cls) if self.cls else np.zeros(0, np.intp)
        cell = self.table.cell(values, cls)
        counted = np.bincount(cell, minlength=size).reshape(shape)
        counted[:, 0] += self.n - counted.sum(axis=1)
        sums.count += counted
        sums.conf_sum[:, 0] += self.rest_conf
        if self.w is None:
            sums.weight += counted
            sums.conf_sum += np.bincount(cell, weights=values, minlength=size).reshape(shape)
            return sums
        w_sel = self.w[np.concatenate(self.row)] if self.row else np.zeros(0)
        weighted = np.bincount(cell, weights=w_sel, minlength=size).reshape(shape)
        sums.weight += weighted
        sums.weight[:, 0] += self.rest_weight
        sums.conf_sum += np.bincount(cell, weights=values * w_sel, minlength=size).reshape(shape)
        return sums
