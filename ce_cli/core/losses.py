"""Classification losses in pure numpy, defined exactly as PyTorch / torchvision / scikit-learn.

Two layers live here.

**Kernels** return *terms*, never reductions, always as float64 whatever the input dtype
(float16/32/64 accepted):

- ``ce_terms`` / ``ce_index_rows`` return ``(loss, denom)``, both shape ``(n,)``;
- ``bce_terms*`` and ``sigmoid_focal_terms*`` return per-element terms, shape of the input;
- ``binary_logit_rows`` returns per-row ``(loss, p_true, positive)`` for one binary logit each;
- ``softmax_focal_terms`` returns per-row terms ``(n,)``.

A streaming caller drops ignored or masked rows, calls a kernel per batch and adds up::

    'sum'  = Σ loss
    'mean' = Σ loss / Σ denom          (cross-entropy: PyTorch's weighted mean)
    'mean' = Σ terms / number of terms (BCE, focal: the plain element / row mean)

Sums of terms merge by ``+``, so a batch split never changes a result.

**Convenience functions** with PyTorch's signatures (``cross_entropy``,
``binary_cross_entropy_with_logits``, ``binary_cross_entropy``, ``sigmoid_focal_loss``,
``softmax_focal_loss``) and scikit-learn's ``log_loss`` compose the kernels on whole arrays.
Like PyTorch, a 'mean' with a zero denominator (every row ignored, or every remaining class
weight 0) is ``nan``.

Conventions: logits go through log-sum-exp / log-sigmoid, never ``log(softmax)``;
probabilities are clipped to ``[eps, 1 - eps]`` with ``eps = finfo(input dtype).eps``
(float64 for non-float inputs), as ``sklearn.metrics.log_loss`` does. Invalid arguments
raise ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ce_cli.core import native
from ce_cli.core.vocab import REDUCTIONS

F64 = NDArray[np.float64]

EPS = float(np.finfo(np.float64).eps)
"""Probability clip for float64 inputs (2.22e-16): a per-row loss is at most -log(EPS) = 36.04."""

BLOCK_ELEMENTS = 1 << 18
"""``log_softmax`` works on row blocks of about this many float64 elements (2 MiB)."""

CE_BLOCK_ELEMENTS = 1 << 20
"""``ce_index_rows`` works on row blocks of about this many values (an 8 MiB float64 buffer).
Measured on 1M × 100 float32, F-order, 32768-row batches on two worker threads, as ``ce score``
runs it (``benchmarks/peers/kernel_ce.py`` with the constant set; 2 cores, 2026-12-07):
2^18 → 0.20 s, 2^19 → 0.17 s, 2^20 → 0.15 s, 2^21 → 0.16 s, 2^22 → 0.18 s."""

EXP_UNSHIFTED = 600.0
"""``ce_index_rows`` exponentiates ``x/T`` without the row's maximum subtracted while every
row's ``max/T`` lies within ±600: ``C·e^600`` cannot overflow, and a row's largest term stays
a normal float (``e^-600``), so the terms it drops are below 1e-16 of it."""

CLASS_MAJOR_MAX_CLASSES = 64
"""Up to this many classes (or for input that is not C-contiguous) ``ce_index_rows`` holds a
block class-major, (C, rows): reductions over classes then run along long contiguous rows."""

CHUNK_ELEMENTS = 1 << 15
"""Element-wise kernels (BCE, sigmoid focal, probability clipping) work on chunks of about
this many elements, with scratch buffers reused from chunk to chunk."""

SIGMOID_HALF_BAND = 2.0**-20
"""``binary_logit_rows`` decides σ(z) > 1/2 by the sign of z outside ``|z| < SIGMOID_HALF_BAND``."""


# ---------------------------------------------------------------------------------------------
# argument checks


def _float_array(a: ArrayLike, name: str) -> NDArray[Any]:
    """``a`` as an array of a float dtype (ints and bools become float64); no copy if float."""
    arr = np.asarray(a)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")


def _as_f64(a: ArrayLike, name: str) -> F64:
    return np.asarray(_float_array(a, name), dtype=np.float64)


def _check_smoothing(label_smoothing: float) -> float:
    eps = float(label_smoothing)
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    return eps


def _check_gamma(gamma: float) -> float:
    g = float(gamma)
    if not g >= 0.0 or not np.isfinite(g):
        raise ValueError(f"gamma must be a finite number >= 0, got {gamma}")
    return g


def _check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")
    return reduction


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not t > 0.0 or not np.isfinite(t):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    return t


def _check_logits_2d(a: ArrayLike, name: str) -> NDArray[Any]:
    arr = _float_array(a, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, C), got shape {arr.shape}")
    return arr


def _check_class_weight(weight: ArrayLike | None, n_classes: int, name: str) -> F64 | None:
    if weight is None:
        return None
    w = _as_f64(weight, name)
    if w.shape != (n_classes,):
        raise ValueError(f"{name} must have shape ({n_classes},), got shape {w.shape}")
    return w


def _check_index_target(target: ArrayLike, n: int, n_classes: int) -> NDArray[np.intp]:
    t = np.asarray(target)
    if t.shape != (n,):
        raise ValueError(f"index target must have shape ({n},), got shape {t.shape}")
    if t.dtype.kind not in "iu":
        raise ValueError(f"index target must hold integers, got dtype {t.dtype}")
    if n:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= n_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"target {bad} is out of bounds for {n_classes} classes")
    return t.astype(np.intp, copy=False)


def _broadcast(a: ArrayLike, shape: tuple[int, ...], name: str) -> F64:
    """Read-only float64 view of ``a`` broadcast to ``shape`` (numpy rules, as PyTorch's);
    ValueError if ``a`` does not broadcast to exactly that shape."""
    arr = _as_f64(a, name)
    try:
        if np.broadcast_shapes(arr.shape, shape) == shape:
            return np.broadcast_to(arr, shape)
    except ValueError:
        pass
    raise ValueError(f"{name} of shape {arr.shape} does not broadcast to shape {shape}")


def _broadcast_opt(a: ArrayLike | None, shape: tuple[int, ...], name: str) -> F64 | None:
    return None if a is None else _broadcast(a, shape, name)


def clip_eps(dtype: np.dtype[Any] | type) -> float:
    """The probability clip for an input dtype: ``finfo(dtype).eps``, float64's for non-floats."""
    dt = np.dtype(dtype)
    return float(np.finfo(dt).eps) if dt.kind == "f" else EPS


# ---------------------------------------------------------------------------------------------
# chunking


def _elementwise_pair(
    pred: ArrayLike, target: ArrayLike
) -> tuple[NDArray[Any], NDArray[Any], tuple[int, ...]]:
    """Float inputs of one shape, as at least 1-d views, and the shape to give the result."""
    z = _float_array(pred, "logits")
    y = _float_array(target, "target")
    if z.shape != y.shape:
        raise ValueError(f"target shape {y.shape} != input shape {z.shape}")
    return np.atleast_1d(z), np.atleast_1d(y), z.shape


def _chunks(
    shape: tuple[int, ...], n_scratch: int, elements: int | None = None
) -> Iterator[tuple[slice, list[F64]]]:
    """Slices of the first axis of about ``elements`` (default ``CHUNK_ELEMENTS``) elements each,
    with ``n_scratch`` float64 buffers of the chunk's shape, reused from one chunk to the next."""
    per_row = math.prod(shape[1:])
    rows = max(1, (elements or CHUNK_ELEMENTS) // max(per_row, 1))
    bufs = [np.empty((min(rows, shape[0]), *shape[1:])) for _ in range(n_scratch)]
    for start in range(0, shape[0], rows):
        stop = min(start + rows, shape[0])
        yield slice(start, stop), [b[: stop - start] for b in bufs]


# ---------------------------------------------------------------------------------------------
# log-probabilities


def softmax_inplace(logits: F64) -> F64:
    """Row-wise softmax, in place, block by block: ``q = exp(x − max x) / Σ exp(x − max x)``
    (the max shift makes it overflow-free for any finite logits)."""
    step = max(1, BLOCK_ELEMENTS // max(logits.shape[1], 1))
    for start in range(0, logits.shape[0], step):
        block = logits[start : start + step]
        block -= block.max(axis=1, keepdims=True)
        np.exp(block, out=block)
        block /= block.sum(axis=1, keepdims=True)
    return logits


def log_softmax(logits: ArrayLike, temperature: float = 1.0) -> F64:
    """Row-wise log-softmax of ``logits / T`` in float64, by log-sum-exp.

    ``log p_{n,c} = x_{n,c}/T - m_n - log Σ_j exp(x_{n,j}/T - m_n)`` with ``m_n = max_j x_{n,j}/T``.
    """
    t = _check_temperature(temperature)
    x = _check_logits_2d(logits, "logits")
    out = np.empty(x.shape)
    for sl, (scratch,) in _chunks(x.shape, 1, BLOCK_ELEMENTS):
        o = out[sl]
        np.copyto(o, x[sl])
        o -= o.max(axis=1, keepdims=True)
        if t != 1.0:
            o /= t
        np.exp(o, out=scratch)
        o -= np.log(scratch.sum(axis=1, keepdims=True))
    return out


def _clip_into(dst: F64, src: NDArray[Any], eps: float) -> int:
    """``dst = clip(src, eps, 1 - eps)`` in float64; returns how many entries the clip moved."""
    np.copyto(dst, src)
    n_clipped = int(np.count_nonzero(dst < eps)) + int(np.count_nonzero(dst > 1.0 - eps))
    np.clip(dst, eps, 1.0 - eps, out=dst)
    return n_clipped


PROB_SUM_RTOL = {np.dtype(np.float16): 3e-2, np.dtype(np.float32): 3.5e-4}  # √eps(dtype)
ROW_SUM_ATOL = 1e-8


def rows_off_simplex(probs: NDArray[Any]) -> int:
    """Rows whose probabilities do not sum to 1: |Σ_k p_k − 1| > 1e-8 + √eps(dtype)
    (float64: 1.5e-8), summed in float64."""
    sums = probs.sum(axis=1, dtype=np.float64)
    rtol = PROB_SUM_RTOL.get(probs.dtype, 1.5e-8)
    return int((np.abs(sums - 1) > ROW_SUM_ATOL + rtol).sum())


def log_probs_from_probs(probs: ArrayLike, eps: float | None = None) -> tuple[F64, int]:
    """``(log clip(p, eps, 1 - eps), n_clipped)`` in float64, as ``sklearn.metrics.log_loss``.

    ``eps`` defaults to ``clip_eps(probs.dtype)``; ``n_clipped`` counts the entries moved by the
    clip. Rows are not renormalised and values are not range-checked here.
    """
    p = np.atleast_1d(_float_array(probs, "probs"))
    e = clip_eps(p.dtype) if eps is None else float(eps)
    logp = np.empty(p.shape)
    n_clipped = 0
    for sl, _ in _chunks(p.shape, 0):
        n_clipped += _clip_into(logp[sl], p[sl], e)
        np.log(logp[sl], out=logp[sl])
    return logp.reshape(np.shape(probs)), n_clipped


def log_sigmoid_pair(z: ArrayLike) -> tuple[F64, F64]:
    """``(log σ(z), log(1 - σ(z)))`` in float64, stable for any ``z``.

    ``log σ(z) = -(max(-z, 0) + log1p(exp(-|z|)))`` and ``log(1 - σ(z)) = log σ(z) - z``.
    """
    z64 = _as_f64(z, "logits")
    log_p = -(np.maximum(-z64, 0.0) + np.log1p(np.exp(-np.abs(z64))))
    return log_p, log_p - z64


def log_prob_pair_from_probs(p: ArrayLike, eps: float | None = None) -> tuple[F64, F64, int]:
    """``(log p, log(1 - p), n_clipped)`` after clipping ``p`` to ``[eps, 1 - eps]``.

    ``eps`` defaults to ``clip_eps(p.dtype)``, as in ``sklearn.metrics.log_loss``.
    """
    pa = np.atleast_1d(_float_array(p, "probs"))
    e = clip_eps(pa.dtype) if eps is None else float(eps)
    log_p, log_1mp = np.empty(pa.shape), np.empty(pa.shape)
    n_clipped = 0
    for sl, _ in _chunks(pa.shape, 0):
        lp, l1 = log_p[sl], log_1mp[sl]
        n_clipped += _clip_into(lp, pa[sl], e)
        np.negative(lp, out=l1)
        np.log1p(l1, out=l1)
        np.log(lp, out=lp)
    shape = np.shape(p)
    return log_p.reshape(shape), log_1mp.reshape(shape), n_clipped


# ---------------------------------------------------------------------------------------------
# softmax cross-entropy


def ce_terms(
    logp: ArrayLike,
    target: ArrayLike,
    *,
    class_weight: ArrayLike | None = None,
    label_smoothing: float = 0.0,
) -> tuple[F64, F64]:
    """Per-row cross-entropy ``(loss, denom)`` from log-probabilities ``logp`` of shape (n, C).

    The target mode is chosen by shape, as in ``torch.nn.CrossEntropyLoss``:

    - index targets, integer shape (n,): with ``q_n = (1-ε)·onehot(y_n) + ε/C``,
      ``loss_n = -Σ_c w_c q_{n,c} logp_{n,c}
      = (1-ε)·w_{y_n}·(-logp_{n,y_n}) + (ε/C)·Σ_c w_c·(-logp_{n,c})`` and ``denom_n = w_{y_n}``;
    - probability (soft) targets, float shape (n, C): with ``t' = (1-ε)·t + ε/C``,
      ``loss_n = -Σ_c w_c t'_{n,c} logp_{n,c}`` and ``denom_n = 1`` (PyTorch divides by N).

    ``w = 1`` when ``class_weight`` is None. PyTorch's 'mean' is ``Σ loss / Σ denom``.
    """
    lp = _check_logits_2d(logp, "logp")
    n, n_classes = lp.shape
    lp64 = np.asarray(lp, dtype=np.float64)
    w = _check_class_weight(class_weight, n_classes, "class_weight")
    eps = _check_smoothing(label_smoothing)
    tgt = np.asarray(target)
    if tgt.ndim == 2:
        if tgt.shape != lp.shape:
            raise ValueError(f"probability target shape {tgt.shape} != logp shape {lp.shape}")
        t = _as_f64(tgt, "target")
        if eps:
            t = (1.0 - eps) * t + eps / n_classes
        wt = t if w is None else t * w
        return -np.einsum("nc,nc->n", wt, lp64), np.ones(n)
    idx = _check_index_target(tgt, n, n_classes)
    nll = -lp64[np.arange(n), idx]
    denom = np.ones(n) if w is None else w[idx]
    loss = nll * denom
    if eps:
        smooth = -(lp64.sum(axis=1) if w is None else lp64 @ w)
        loss = (1.0 - eps) * loss + (eps / n_classes) * smooth
    return loss, denom


def _block_rows(n_classes: int) -> int:
    return int(min(1 << 16, max(64, CE_BLOCK_ELEMENTS // max(n_classes, 1))))


class FirstMax:
    """``np.argmax`` over the classes of a class-major block (C, m), given each row's maximum,
    with reused buffers: the first c where the block equals its maximum, found as
    C − max over c of [x_c == max]·(C − c) — reductions along contiguous rows, no transposed
    copy; in bytes (the mask itself) below 256 classes."""

    def __init__(self, n_classes: int, rows: int) -> None:
        self.n_classes = n_classes
        self.is_max = np.empty((n_classes, rows), dtype=bool)
        itype = np.uint8 if n_classes < 256 else np.int64
        self.keyed = None if itype is np.uint8 else np.empty((n_classes, rows), dtype=itype)
        self.key = (n_classes - np.arange(n_classes)).astype(itype)[:, None]

    def __call__(self, block: NDArray[Any], top: NDArray[Any], out: NDArray[np.int64]) -> None:
        m = block.shape[1]
        is_max = self.is_max[:, :m]
        np.equal(block, top, out=is_max)
        keyed = is_max.view(np.uint8) if self.keyed is None else self.keyed[:, :m]
        np.multiply(is_max.view(np.uint8) if self.keyed is None else is_max, self.key, out=keyed)
        np.subtract(self.n_classes, keyed.max(axis=0), out=out, casting="unsafe")


def ce_index_rows(
    logits: ArrayLike,
    target: ArrayLike,
    class_weight: ArrayLike | None = None,
    *,
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
    block_rows: int | None = None,
    argmax_out: NDArray[np.int64] | None = None,
) -> tuple[F64, F64]:
    """Fast per-row cross-entropy from logits (n, C) and class-index targets (n,).

    Same ``(loss, denom)`` as ``ce_terms(log_softmax(logits, T), target, ...)``:
    ``loss_n = (1-ε)·w_{y_n}·(lse_n - x_{n,y_n}/T) + (ε/C)·Σ_c w_c·(lse_n - x_{n,c}/T)``,
    ``lse_n = log Σ_c exp(x_{n,c}/T)``, ``denom_n = w_{y_n}``.

    Works through cache-sized row blocks (``block_rows``, default about 2**20 / C rows), read
    in place (class-major for C <= 64 or input that is not C-contiguous), in float64. A
    float32/64 block goes to the compiled kernel when it is there (``native.KERNEL``) and its
    layout suits it: class-major with each class's values contiguous (a column-major batch, as
    ``ce score`` reads them; one fused pass per group of rows), or row-major (one row at a
    time). Otherwise, or for a block with a non-finite logit, numpy takes one pass for each
    row's maximum, one ``exp`` (converting float16/32 on the way) and one sum — see
    ``exp_into`` for when the exponent is shifted. ``argmax_out`` (int64, shape
    (n,)), when given, receives ``np.argmax(logits, axis=1)`` (ties: the first index; finite
    logits) from the maximum's pass.
    """
    x = _check_logits_2d(logits, "logits")
    n, n_classes = x.shape
    idx = _check_index_target(target, n, n_classes)
    w = _check_class_weight(class_weight, n_classes, "class_weight")
    eps = _check_smoothing(label_smoothing)
    temp = _check_temperature(temperature)
    rows = _block_rows(n_classes) if block_rows is None else int(block_rows)
    if rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    if argmax_out is not None and argmax_out.shape != (n,):
        raise ValueError(f"argmax_out must have shape ({n},), got {argmax_out.shape}")
    class_major = n_classes <= CLASS_MAJOR_MAX_CLASSES or not x.flags.c_contiguous
    compiled = native.takes(x.T, row_major=not class_major)
    compiled = compiled and (argmax_out is None or argmax_out.flags.c_contiguous)
    blocks = _NumpyBlocks(n_classes, min(rows, n), class_major, argmax_out is not None)
    w_vec = np.ones(n_classes) if w is None else w
    loss = np.empty(n)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        t, out = idx[start:stop], loss[start:stop]
        block = x[start:stop].T if class_major else x[start:stop]
        arg = None if argmax_out is None else argmax_out[start:stop]
        stats = _native_block(x[start:stop].T, t, temp, arg) if compiled else None
        # top64: each row's maximum; true_x: x_{n,y_n}; lse: log Σ exp((x − max)/T)
        top64, true_x, lse = stats or blocks(block, x[np.arange(start, stop), t], temp, arg)
        np.add(lse, (top64 - true_x) / temp, out=out)
        if w is not None:
            out *= w[t]
        if eps:
            linear = w_vec @ block if class_major else block @ w_vec  # Σ_c w_c·x_c
            _smooth_rows(out, linear, lse, top64, w_vec, temp, eps)
    denom = np.ones(n) if w is None else w[idx]
    return loss, denom


def _native_block(
    block: NDArray[Any], target: NDArray[np.intp], temp: float, argmax: NDArray[np.int64] | None
) -> tuple[F64, F64, F64] | None:
    """``(top, x_true, lse)`` of a block (C, m) from the compiled kernel, or ``None`` when a
    row holds a non-finite logit (the numpy path then handles the block)."""
    assert native.KERNEL is not None
    m = block.shape[1]
    top, picked, sums = np.empty(m), np.empty(m), np.empty(m)
    arg = np.empty(m, dtype=np.int64) if argmax is None else argmax
    target64 = target.astype(np.int64, copy=False)
    if not native.KERNEL.ce_block(block, target64, 1.0 / temp, top, picked, arg, sums):
        return None
    return top, picked, np.log(sums)


class _NumpyBlocks:
    """The numpy path of ``ce_index_rows`` for one block: ``(top, x_true, lse)`` in float64,
    the first argmax into ``argmax`` when given; buffers made at first use, then reused."""

    def __init__(self, n_classes: int, rows: int, class_major: bool, with_argmax: bool) -> None:
        self.shape = (n_classes, rows) if class_major else (rows, n_classes)
        self.class_major, self.with_argmax = class_major, with_argmax
        self.buf: F64 | None = None
        self.first_max: FirstMax | None = None

    def __call__(
        self,
        block: NDArray[Any],
        true_x: NDArray[Any],
        temp: float,
        argmax: NDArray[np.int64] | None,
    ) -> tuple[F64, F64, F64]:
        if self.buf is None:
            self.buf = np.empty(self.shape)
            if self.with_argmax and self.class_major:
                self.first_max = FirstMax(*self.shape)
        axis = 0 if self.class_major else 1
        top = block.max(axis=axis)
        if argmax is not None:  # class-major: from the maximum; else numpy's own
            if self.first_max is not None:
                self.first_max(block, top, argmax)
            else:
                np.argmax(block, axis=1, out=argmax)
        m = block.shape[axis ^ 1]
        b = self.buf[:, :m] if self.class_major else self.buf[:m]
        shift = exp_into(b, block, top, self.class_major, temp)  # b = exp((x − shift)/T)
        top64 = top.astype(np.float64)
        lse = log_sum_over_top(b.sum(axis=axis), top64, shift, temp)
        return top64, true_x.astype(np.float64), lse


def _smooth_rows(
    out: F64, linear: F64, lse: F64, shift: F64 | float, w_vec: F64, temp: float, eps: float
) -> None:
    """``out = (1 − ε)·out + (ε/C)·Σ_c w_c·(lse − (x_c − shift)/T)``, the sum taken as
    ``lse·Σw − (Σ_c w_c·x_c − shift·Σw)/T`` from ``linear = Σ_c w_c·x_c``."""
    total = w_vec.sum()
    out *= 1.0 - eps
    out += (eps / len(w_vec)) * (lse * total - (linear - shift * total) / temp)


def log_sum_over_top(sums: F64, top: F64, shift: F64 | float, temp: float) -> F64:
    """``log Σ_c exp((x_c − max)/T)`` from ``sums = Σ_c exp((x_c − shift)/T)``, as
    ``log(sums / exp((max − shift)/T))``: the ratio is ``1 + Σ_{c≠max}…``, so a confident row's
    value keeps the precision of the shifted computation (not one ulp of ``max/T``)."""
    return np.log(sums / np.exp((top - shift) / temp))


def exp_into(
    b: F64, block: NDArray[Any], top: NDArray[Any], class_major: bool, temp: float
) -> F64 | float:
    """``b = exp((x − s)/T)`` in float64 for one block, and the shift ``s``.

    ``s = 0`` when every row's ``max/T`` is within ``±EXP_UNSHIFTED``: no sum can overflow and
    each row's largest term is a normal float, so ``lse = log Σ exp(x/T)`` loses at most the
    rounding of its own magnitude (a few 1e-16·|lse|) — one pass, converting float16/32 input
    on the way. Otherwise (huge, infinite or NaN logits) ``s`` is each row's maximum, as in
    ``log_softmax``."""
    low, high = float(top.min()) / temp, float(top.max()) / temp
    if low > -EXP_UNSHIFTED and high < EXP_UNSHIFTED:
        if temp == 1.0:
            np.exp(block, out=b, dtype=np.float64)
        else:
            np.divide(block, temp, out=b, dtype=np.float64)
            np.exp(b, out=b)
        return 0.0
    shift = top.astype(np.float64)
    np.subtract(block, shift if class_major else shift[:, None], out=b, dtype=np.float64)
    if temp != 1.0:
        b /= temp
    np.exp(b, out=b)
    return shift


# ---------------------------------------------------------------------------------------------
# binary cross-entropy


def _smooth_binary(y: F64, label_smoothing: float) -> F64:
    eps = _check_smoothing(label_smoothing)
    return y * (1.0 - eps) + eps / 2.0 if eps else y


def bce_terms(
    log_p: ArrayLike,
    log_1mp: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    label_smoothing: float = 0.0,
) -> F64:
    """Per-element BCE from ``log p`` and ``log(1 - p)`` (see ``log_sigmoid_pair`` and
    ``log_prob_pair_from_probs``): ``l = -w·[P·y'·log p + (1 - y')·log(1 - p)]``,
    ``y' = y·(1 - ε) + ε/2``. ``weight`` (w) broadcasts against the input and ``pos_weight`` (P)
    against the target, as in ``torch.nn.BCEWithLogitsLoss``.
    """
    lp = _as_f64(log_p, "log_p")
    l1 = _as_f64(log_1mp, "log_1mp")
    y = _as_f64(target, "target")
    if not lp.shape == l1.shape == y.shape:
        raise ValueError(f"shapes differ: log_p {lp.shape}, log_1mp {l1.shape}, target {y.shape}")
    y = _smooth_binary(y, label_smoothing)
    pw = _broadcast_opt(pos_weight, y.shape, "pos_weight")
    w = _broadcast_opt(weight, y.shape, "weight")
    pos = y if pw is None else pw * y
    loss = -(pos * lp + (1.0 - y) * l1)
    return loss if w is None else loss * w


def bce_terms_from_logits(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    label_smoothing: float = 0.0,
) -> F64:
    """Per-element ``BCEWithLogits`` terms, fused and stable for any logit ``z``:

    ``l = w·[(1 - y')·z + (P·y' + 1 - y')·(max(-z, 0) + log1p(exp(-|z|)))]``, which equals
    ``-w·[P·y'·log σ(z) + (1 - y')·log(1 - σ(z))]`` with ``y' = y·(1 - ε) + ε/2``.
    With ``P = 1`` this is ``max(z, 0) - z·y' + log1p(exp(-|z|))``. Runs in cache-sized chunks.
    """
    z, y, shape = _elementwise_pair(logits, target)
    eps = _check_smoothing(label_smoothing)
    pwb = _broadcast_opt(pos_weight, z.shape, "pos_weight")
    wb = _broadcast_opt(weight, z.shape, "weight")
    out = np.empty(z.shape)
    for sl, (zc, yc, sp, one_minus_y) in _chunks(z.shape, 4):
        np.copyto(zc, z[sl])
        np.copyto(yc, y[sl])
        if eps:
            yc *= 1.0 - eps
            yc += eps / 2.0
        np.abs(zc, out=sp)
        np.negative(sp, out=sp)
        np.exp(sp, out=sp)
        np.log1p(sp, out=sp)  # log1p(exp(-|z|))
        o = out[sl]
        np.subtract(1.0, yc, out=one_minus_y)
        np.multiply(one_minus_y, zc, out=o)
        np.negative(zc, out=zc)
        np.maximum(zc, 0.0, out=zc)  # max(-z, 0)
        if pwb is not None:
            np.multiply(pwb[sl], yc, out=yc)
            yc += one_minus_y  # P·y' + 1 - y'
            zc *= yc
            sp *= yc
        o += zc  # the exact part first: (1 - y)·z and max(-z, 0) cancel before log1p is added
        o += sp
        if wb is not None:
            o *= wb[sl]
    return out.reshape(shape)


def binary_logit_rows(logits: ArrayLike, target: ArrayLike) -> tuple[F64, F64, NDArray[np.bool_]]:
    """``(loss, p_true, positive)`` for one logit ``z`` and a 0/1 target ``y`` per row, fused
    around one ``e = exp(-|z|)`` per element, in cache-sized chunks. With ``u = (1 - 2y)·z``:

    - ``loss = max(u, 0) + log1p(e)``, the ``BCEWithLogits`` term: ``bce_terms_from_logits(z, y)``
      bit for bit, since its exact part ``(1 - y)·z + max(-z, 0)`` is ``max(u, 0)`` for y ∈ {0, 1};
    - ``p_true = exp(-loss) = σ(-u)``, the probability of the true class (for y = 1 this is
      ``exp(log σ(z))`` bit for bit; for y = 0 it has none of the cancellation of ``1 - σ(z)``);
    - ``positive = σ(z) > 1/2``, with ``σ(z) = exp(log σ(z))`` as ``log_sigmoid_pair`` gives it.
      That is ``z > 0``, except that the rounded σ(z) is exactly 1/2 for tiny ``z > 0``; so
      where ``|z| < SIGMOID_HALF_BAND`` it is evaluated as written (outside, σ(z) − 1/2 ≈ z/4
      is far above any rounding error).

    Any shape; an (n, K) array stacked column by column is worked through by its transpose.
    """
    loss, p_true, positive = _logit_rows(logits, target, True)
    assert p_true is not None
    return loss, p_true, positive


def binary_logit_elements(logits: ArrayLike, target: ArrayLike) -> tuple[F64, NDArray[np.bool_]]:
    """``binary_logit_rows`` without ``p_true`` (one ``exp`` per element, not two): the
    multi-label path, which needs the loss and the decision only."""
    loss, _, positive = _logit_rows(logits, target, False)
    return loss, positive


def binary_logit_terms(logits: ArrayLike, truth: ArrayLike, fortran: bool = False) -> F64:
    """``binary_logit_elements``' loss for 0/1 targets given as booleans (``truth``: y = 1), in
    fewer passes and without its decision: ``max(z, 0) − [y]·z + log1p(exp(−|z|))``.

    Bit for bit the same terms: ``max(z, 0) − z`` is ``max(−z, 0)`` exactly for y = 1, so the
    exact part equals ``max(u, 0)`` with ``u = (1 − 2y)·z``, and ``log1p(e)`` is added last as
    there (a zero's sign, the only difference, is lost in that sum). No chunking: callers pass
    cache-sized blocks (``engine.multilabel_sums``). The result is column-major when
    ``fortran`` (as ``binary_logit_elements`` lays out column-major input), else row-major.
    """
    z = _float_array(logits, "logits")
    t = np.asarray(truth)
    if t.shape != z.shape or t.dtype != np.bool_:
        raise ValueError(f"truth must be a boolean array of shape {z.shape}")
    order: Literal["C", "F"] = "F" if fortran else "C"
    e = np.empty(z.shape, order=order)
    return _logit_terms_and_exp(z, t, e, np.empty(z.shape, order=order))


def _logit_terms_and_exp(z: NDArray[Any], truth: NDArray[np.bool_], e: F64, scratch: F64) -> F64:
    """``binary_logit_terms`` into a new array, leaving ``e = exp(−|z|)`` in ``e``: the exact
    part ``max(z, 0) − [y]·z`` (``z·[y]`` is z or a zero: no masked subtraction, which numpy
    runs ~10× slower), then ``log1p(e)``. Finite z: an infinite one times 0 would be NaN."""
    loss = np.empty_like(e)
    np.abs(z, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|z|)
    np.maximum(z, 0.0, out=loss)
    np.multiply(z, truth, out=scratch)
    loss -= scratch  # y = 1: max(z, 0) − z = max(−z, 0)
    np.log1p(e, out=scratch)
    loss += scratch
    return loss


def _logit_rows(
    logits: ArrayLike, target: ArrayLike, want_p_true: bool
) -> tuple[F64, F64 | None, NDArray[np.bool_]]:
    z = _float_array(logits, "logits")
    y = np.asarray(target)
    if y.shape != z.shape:
        raise ValueError(f"target shape {y.shape} != input shape {z.shape}")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"target must be numeric, got dtype {y.dtype}")
    if y.dtype.kind in "iu" and y.size and not (y.min() >= 0 and y.max() <= 1):
        raise ValueError("binary targets must be 0 or 1")
    shape = z.shape
    z, y = np.atleast_1d(z), np.atleast_1d(y)
    if z.ndim == 2 and z.flags.f_contiguous and not z.flags.c_contiguous:
        # (n, K) stacked column by column: chunk its transpose, so every chunk is contiguous
        loss_t, p_true_t, positive_t = _logit_rows(z.T, y.T, want_p_true)
        return loss_t.T, None if p_true_t is None else p_true_t.T, positive_t.T
    loss = np.empty(z.shape)
    p_true = np.empty(z.shape) if want_p_true else None
    positive = np.empty(z.shape, dtype=bool)
    for sl, (u, e) in _chunks(z.shape, 2):
        _logit_chunk(z[sl], y[sl], u, e, loss[sl], positive[sl])
        if p_true is not None:
            np.negative(loss[sl], out=p_true[sl])
            np.exp(p_true[sl], out=p_true[sl])
    p_out = None if p_true is None else p_true.reshape(shape)
    return loss.reshape(shape), p_out, positive.reshape(shape)


def _logit_chunk(
    z: NDArray[Any], y: NDArray[Any], u: F64, e: F64, loss: F64, positive: NDArray[np.bool_]
) -> None:
    """``_logit_rows`` on one chunk, in place: ``loss = max(u, 0) + log1p(exp(-|z|))`` with
    ``u = (1 - 2y)·z``, and ``positive``; ``u`` and ``e`` are scratch of the chunk's shape.
    z goes to float64 once (a copy), then every pass runs on float64 of one dtype."""
    if y.dtype.kind == "f" and not bool(np.all((y == 0) | (y == 1))):
        raise ValueError("binary targets must be 0 or 1")
    np.copyto(e, y)
    e *= -2.0
    e += 1.0  # 1 - 2y = ±1
    np.copyto(u, z)
    np.greater(u, 0.0, out=positive)
    u *= e  # u = ±z, exact
    np.abs(u, out=e)
    near_half = e < SIGMOID_HALF_BAND
    if near_half.any():  # σ(z) rounds to 1/2 for tiny z > 0
        near = np.nonzero(near_half)
        log_p, _ = log_sigmoid_pair(z[near])
        positive[near] = np.exp(log_p) > 0.5
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|z|)
    np.log1p(e, out=e)
    np.maximum(u, 0.0, out=loss)
    loss += e


def bce_terms_from_probs(
    probs: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    label_smoothing: float = 0.0,
    eps: float | None = None,
) -> tuple[F64, int]:
    """``(terms, n_clipped)``: ``bce_terms`` on ``p`` clipped to ``[eps, 1 - eps]``, by chunks.

    ``l = -w·[P·y'·log p + (1 - y')·log(1 - p)]``. ``eps`` defaults to ``clip_eps(probs.dtype)``
    (sklearn's clip; PyTorch's ``BCELoss`` instead clamps each log at -100).
    """
    p, y, shape = _elementwise_pair(probs, target)
    e = clip_eps(p.dtype) if eps is None else float(eps)
    pwb = _broadcast_opt(pos_weight, p.shape, "pos_weight")
    wb = _broadcast_opt(weight, p.shape, "weight")
    out = np.empty(p.shape)
    n_clipped = 0
    for sl, (lp, l1) in _chunks(p.shape, 2):
        n_clipped += _clip_into(lp, p[sl], e)
        np.negative(lp, out=l1)
        np.log1p(l1, out=l1)
        np.log(lp, out=lp)
        out[sl] = bce_terms(
            lp,
            l1,
            y[sl],
            weight=None if wb is None else wb[sl],
            pos_weight=None if pwb is None else pwb[sl],
            label_smoothing=label_smoothing,
        )
    return out.reshape(shape), n_clipped


# ---------------------------------------------------------------------------------------------
# focal losses


def _check_sigmoid_alpha(alpha: float | None) -> float | None:
    if alpha is None or alpha == -1:
        return None
    a = float(alpha)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], or -1 / None to disable it; got {alpha}")
    return a


def _focal_power(one_minus_pt: F64, gamma: float) -> F64:
    """``(1 - p_t)^γ``, in place when it can be; square and identity without ``pow``."""
    if gamma == 2.0:
        return np.square(one_minus_pt, out=one_minus_pt)
    if gamma == 1.0:
        return one_minus_pt
    return np.power(one_minus_pt, gamma, out=one_minus_pt)


def sigmoid_focal_terms(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
) -> F64:
    """Per-element sigmoid focal loss of ``torchvision.ops.sigmoid_focal_loss``:

    ``l = BCEWithLogits(z, y) · (1 - p_t)^γ · α_t`` with ``p = σ(z)``,
    ``1 - p_t = y·(1 - p) + (1 - y)·p`` and ``α_t = α·y + (1 - α)·(1 - y)``; ``alpha`` None or -1
    drops ``α_t``. Fused, in cache-sized chunks: one ``exp(-|z|)`` gives the log-sigmoid,
    ``σ(|z|) = 1/(1 + e)`` and ``σ(-|z|) = e·σ(|z|)``, so ``1 - p`` has no cancellation.
    """
    a = _check_sigmoid_alpha(alpha)
    g = _check_gamma(gamma)
    z, y, shape = _elementwise_pair(logits, target)
    out = np.empty(z.shape)
    for sl, (zc, yc, e, t1, t2) in _chunks(z.shape, 5):
        np.copyto(zc, z[sl])
        np.copyto(yc, y[sl])
        negative = zc < 0.0
        np.abs(zc, out=e)
        np.negative(e, out=e)
        np.exp(e, out=e)  # e = exp(-|z|)
        np.log1p(e, out=t1)
        o = out[sl]
        np.subtract(1.0, yc, out=t2)
        np.multiply(t2, zc, out=o)
        np.negative(zc, out=zc)
        np.maximum(zc, 0.0, out=zc)
        o += zc
        o += t1  # BCE = (1 - y)·z + max(-z, 0) + log1p(e)
        if g:
            # 1 - p_t = A·σ(|z|) + (1 - A)·σ(-|z|) with A = 1 - y where z >= 0, else y
            np.copyto(t2, yc, where=negative)
            np.add(e, 1.0, out=t1)
            np.reciprocal(t1, out=t1)
            e *= t1
            t1 *= t2
            np.subtract(1.0, t2, out=t2)
            t2 *= e
            t1 += t2
            o *= _focal_power(t1, g)
        if a is not None:
            np.multiply(yc, 2.0 * a - 1.0, out=t1)
            t1 += 1.0 - a  # α·y + (1 - α)·(1 - y)
            o *= t1
    return out.reshape(shape)


def sigmoid_focal_logit_terms(
    logits: ArrayLike,
    target: ArrayLike,
    truth: ArrayLike,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    fortran: bool = False,
) -> tuple[F64, F64]:
    """``(focal, plain)`` for 0/1 targets (``target``, and ``truth``: y = 1 as booleans), around
    one ``e = exp(−|z|)`` per element: ``plain`` = ``binary_logit_terms(z, truth, fortran)``
    and ``focal`` = ``plain · (1 − p_t)^γ · α_t`` with ``1 − p_t = σ(u)``, ``u = (1 − 2y)·z``,
    which is ``1/(1 + e)`` where ``u ≥ 0`` and ``e/(1 + e)`` elsewhere — bit for bit the terms
    of ``sigmoid_focal_terms`` on the same targets, laid out as it lays them (row-major).
    Finite logits; no chunking: callers pass cache-sized blocks (``engine.multilabel_sums``)."""
    a = _check_sigmoid_alpha(alpha)
    g = _check_gamma(gamma)
    z = _float_array(logits, "logits")
    y, t = np.asarray(target), np.asarray(truth)
    if t.shape != z.shape or t.dtype != np.bool_ or y.shape != z.shape:
        raise ValueError(f"target and truth (booleans) must have shape {z.shape}")
    order: Literal["C", "F"] = "F" if fortran else "C"
    e, r = np.empty(z.shape, order=order), np.empty(z.shape, order=order)
    plain = _logit_terms_and_exp(z, t, e, r)
    focal = np.empty(z.shape)
    scaled = plain
    if g:
        np.add(e, 1.0, out=r)
        np.reciprocal(r, out=r)  # σ(|z|)
        e *= r  # σ(−|z|)
        upper = np.equal(np.less(z, 0.0), t)  # u ≥ 0: σ(u) = σ(|z|)
        r *= upper
        e *= ~upper
        e += r  # σ(u) = 1 − p_t, a sum with one zero: exact
        scaled = np.multiply(plain, _focal_power(e, g), out=e)
    if a is None:
        np.copyto(focal, scaled)
    else:  # α_t = α·y + (1 − α)·(1 − y), as sigmoid_focal_terms evaluates it
        np.multiply(y, 2.0 * a - 1.0, out=r)
        r += 1.0 - a
        np.multiply(scaled, r, out=focal)
    return focal, plain


def sigmoid_focal_terms_from_probs(
    probs: ArrayLike,
    target: ArrayLike,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    eps: float | None = None,
) -> tuple[F64, int]:
    """``(terms, n_clipped)``: the ``sigmoid_focal_terms`` formula with ``p`` given, clipped to
    ``[eps, 1 - eps]``: ``l = -[y·log p + (1-y)·log(1-p)] · (1 - p_t)^γ · α_t``.
    """
    a = _check_sigmoid_alpha(alpha)
    g = _check_gamma(gamma)
    p, y, shape = _elementwise_pair(probs, target)
    e = clip_eps(p.dtype) if eps is None else float(eps)
    out = np.empty(p.shape)
    n_clipped = 0
    for sl, (pc, yc, t1, t2) in _chunks(p.shape, 4):
        n_clipped += _clip_into(pc, p[sl], e)
        np.copyto(yc, y[sl])
        o = out[sl]
        np.subtract(1.0, yc, out=t2)  # 1 - y
        np.negative(pc, out=t1)
        np.log1p(t1, out=t1)
        np.multiply(t2, t1, out=o)
        np.log(pc, out=t1)
        t1 *= yc
        o += t1
        np.negative(o, out=o)  # BCE = -[y·log p + (1 - y)·log(1 - p)]
        if g:
            np.multiply(t2, pc, out=t1)  # (1 - y)·p
            np.subtract(1.0, pc, out=pc)
            pc *= yc
            t1 += pc  # 1 - p_t = y·(1 - p) + (1 - y)·p
            o *= _focal_power(t1, g)
        if a is not None:
            np.multiply(yc, 2.0 * a - 1.0, out=t1)
            t1 += 1.0 - a
            o *= t1
    return out.reshape(shape), n_clipped


def softmax_focal_terms(
    logp: ArrayLike,
    target: ArrayLike,
    *,
    alpha: ArrayLike | None = None,
    gamma: float = 2.0,
) -> F64:
    """Per-row softmax focal loss ``l_n = -α_{y_n} · (1 - p_{n,y_n})^γ · log p_{n,y_n}``.

    ``logp`` (n, C) are log-probabilities, ``target`` (n,) class indices, ``alpha`` None (= 1) or
    per-class weights broadcastable to (C,). With ``γ = 0`` this is ``ce_terms``' loss.
    """
    g = _check_gamma(gamma)
    lp = _check_logits_2d(logp, "logp")
    n, n_classes = lp.shape
    idx = _check_index_target(target, n, n_classes)
    log_py = np.asarray(lp, dtype=np.float64)[np.arange(n), idx]
    loss = -log_py
    if g:
        loss *= np.power(-np.expm1(log_py), g)  # 1 - p_y without cancellation
    if alpha is not None:
        loss *= _broadcast(alpha, (n_classes,), "alpha")[idx]
    return loss


# ---------------------------------------------------------------------------------------------
# whole-array functions with PyTorch's / scikit-learn's signatures


def _reduce(terms: F64, reduction: str, denom: float | None = None) -> float | F64:
    """'none' → terms; 'sum' → Σ terms; 'mean' → Σ terms / denom (default: count), nan if 0."""
    if reduction == "none":
        return terms
    total = float(terms.sum())
    if reduction == "sum":
        return total
    d = float(terms.size) if denom is None else denom
    return total / d if d != 0.0 else float("nan")


def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    *,
    temperature: float = 1.0,
) -> float | F64:
    """``torch.nn.functional.cross_entropy`` on logits (n, C), plus ``temperature`` (logits / T).

    Index targets (n,): rows whose target equals ``ignore_index`` give 0 and leave the 'mean'
    denominator ``Σ w_{y_n}``. Probability targets (same shape as ``input``): 'mean' divides by
    n; ``ignore_index`` must be negative (it is unused), as in PyTorch. See ``ce_terms``.
    """
    _check_reduction(reduction)
    x = _check_logits_2d(input, "input")
    tgt = np.asarray(target)
    if tgt.shape == x.shape:
        if ignore_index >= 0:
            raise ValueError("ignore_index is not supported for probability (float) targets")
        logp = log_softmax(x, temperature)
        loss, denom = ce_terms(logp, tgt, class_weight=weight, label_smoothing=label_smoothing)
        return _reduce(loss, reduction, float(denom.sum()))
    if tgt.shape != x.shape[:1]:
        raise ValueError(
            f"target shape {tgt.shape} fits neither (n,) nor (n, C) for input shape {x.shape}"
        )
    keep = tgt != ignore_index
    all_kept = bool(keep.all())
    kept_loss, kept_denom = ce_index_rows(
        x if all_kept else x[keep],
        tgt if all_kept else tgt[keep],
        weight,
        label_smoothing=label_smoothing,
        temperature=temperature,
    )
    if reduction == "none":
        if all_kept:
            return kept_loss
        loss = np.zeros(x.shape[0])
        loss[keep] = kept_loss
        return loss
    return _reduce(kept_loss, reduction, float(kept_denom.sum()))


def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    pos_weight: ArrayLike | None = None,
    *,
    label_smoothing: float = 0.0,
) -> float | F64:
    """``torch.nn.functional.binary_cross_entropy_with_logits``, any shape; 'mean' over all
    elements (weights never enter the denominator). ``label_smoothing`` ε replaces the target
    by ``y·(1 - ε) + ε/2`` first (PyTorch has no such option). See ``bce_terms_from_logits``.
    """
    _check_reduction(reduction)
    terms = bce_terms_from_logits(
        input, target, weight=weight, pos_weight=pos_weight, label_smoothing=label_smoothing
    )
    return _reduce(terms, reduction)


def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    *,
    pos_weight: ArrayLike | None = None,
    label_smoothing: float = 0.0,
) -> float | F64:
    """BCE on probabilities, like ``torch.nn.functional.binary_cross_entropy`` except for the
    edge: ``p`` is clipped to ``[eps, 1 - eps]`` as in scikit-learn (a term is at most 36.04·w in
    float64) where PyTorch clamps ``log`` at -100. Values outside [0, 1] raise ValueError.
    """
    _check_reduction(reduction)
    p = _float_array(input, "input")
    if p.size and not (float(p.min()) >= 0.0 and float(p.max()) <= 1.0):
        raise ValueError("all elements of input should be between 0 and 1")
    terms, _ = bce_terms_from_probs(
        p, target, weight=weight, pos_weight=pos_weight, label_smoothing=label_smoothing
    )
    return _reduce(terms, reduction)


def sigmoid_focal_loss(
    inputs: ArrayLike,
    targets: ArrayLike,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
) -> float | F64:
    """``torchvision.ops.sigmoid_focal_loss`` (note its default reduction 'none'; 'mean' is
    over all elements). See ``sigmoid_focal_terms``.
    """
    _check_reduction(reduction)
    return _reduce(sigmoid_focal_terms(inputs, targets, alpha=alpha, gamma=gamma), reduction)


def softmax_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    alpha: ArrayLike | None = None,
    gamma: float = 2.0,
    reduction: str = "mean",
    ignore_index: int = -100,
    *,
    temperature: float = 1.0,
) -> float | F64:
    """Softmax focal loss on logits (n, C): ``l_n = -α_{y_n}·(1 - p_{n,y_n})^γ·log p_{n,y_n}``.

    'mean' is ``Σ l_n / (number of non-ignored rows)`` — a plain row mean, *not* divided by
    ``Σ α_{y_n}``; ignored rows give 0 under 'none'. See ``softmax_focal_terms``.
    """
    _check_reduction(reduction)
    x = _check_logits_2d(input, "input")
    tgt = np.asarray(target)
    if tgt.shape != x.shape[:1]:
        raise ValueError(f"target must have shape ({x.shape[0]},), got shape {tgt.shape}")
    keep = tgt != ignore_index
    kept = softmax_focal_terms(
        log_softmax(x[keep], temperature), tgt[keep], alpha=alpha, gamma=gamma
    )
    if reduction == "none":
        loss = np.zeros(x.shape[0])
        loss[keep] = kept
        return loss
    return _reduce(kept, reduction)


def log_loss(
    y_true: ArrayLike,
    y_proba: ArrayLike,
    *,
    normalize: bool = True,
    sample_weight: ArrayLike | None = None,
) -> float:
    """``sklearn.metrics.log_loss`` for class-index labels that number the columns of ``y_proba``.

    ``y_proba`` (n, C), or (n,) meaning P(class 1) of a binary problem (expanded to
    ``[1 - p, p]``). ``l_n = -log clip(p_{n,y_n}, eps, 1 - eps)`` with ``eps = finfo(dtype).eps``;
    result ``Σ s_n l_n / Σ s_n`` (``normalize``) or ``Σ s_n l_n``. No renormalisation of rows.
    """
    p = _float_array(y_proba, "y_proba")
    if p.size and not (float(p.min()) >= 0.0 and float(p.max()) <= 1.0):
        raise ValueError("y_proba contains values outside [0, 1]")
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=1)
    logp, _ = log_probs_from_probs(p)
    loss, _ = ce_terms(logp, y_true)
    if sample_weight is None:
        return float(loss.mean()) if normalize else float(loss.sum())
    s = _as_f64(sample_weight, "sample_weight")
    if s.shape != loss.shape:
        raise ValueError(f"sample_weight must have shape {loss.shape}, got shape {s.shape}")
    total = float(loss @ s)
    if not normalize:
        return total
    if float(s.sum()) == 0.0:
        raise ValueError("sample weights sum to zero")
    return total / float(s.sum())


__all__ = [
    "BLOCK_ELEMENTS",
    "CE_BLOCK_ELEMENTS",
    "CHUNK_ELEMENTS",
    "CLASS_MAJOR_MAX_CLASSES",
    "EPS",
    "REDUCTIONS",
    "SIGMOID_HALF_BAND",
    "FirstMax",
    "bce_terms",
    "bce_terms_from_logits",
    "bce_terms_from_probs",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "binary_logit_elements",
    "binary_logit_rows",
    "ce_index_rows",
    "ce_terms",
    "clip_eps",
    "cross_entropy",
    "exp_into",
    "log_loss",
    "log_prob_pair_from_probs",
    "log_probs_from_probs",
    "log_sigmoid_pair",
    "log_softmax",
    "log_sum_over_top",
    "sigmoid_focal_logit_terms",
    "sigmoid_focal_loss",
    "sigmoid_focal_terms",
    "sigmoid_focal_terms_from_probs",
    "softmax_focal_loss",
    "softmax_focal_terms",
]
