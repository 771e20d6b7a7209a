"""Experiment (not used by ce): a numba CE kernel for ``losses.ce_index_rows``' class-major
path, kept so that the next attempt starts from it. See benchmarks/README.md, "CE kernel: what
was tried" — 0.71× the numpy kernel paired end to end, 0.95× in one process; the issue's
≤ 0.5× torch was not reached.

    python3 -m venv /tmp/numbaenv && /tmp/numbaenv/bin/pip install -e . numba
    /tmp/numbaenv/bin/python benchmarks/experiments/numba_ce_kernel.py [--threads 2]

Checks the kernel's per-row loss against the numpy kernel (max relative difference, argmax
equality) on 200,000 × 100 float32 F-order logits, then times both in one process on 1M × 100
(32768-row batches, as benchmarks/peers/kernel_ce.py), alternating, 5 rounds; prints ns/value.

The exp is plain arithmetic so that LLVM vectorises it: numba's math.exp is a scalar libm call
without Intel's SVML, and PyPI's llvmlite (0.50) is built without SVML support
(``numba -s``: "llvmlite Using SVML Patched LLVM: False"), so intel-cmplr-lib-rt does not help.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

from ce_cli.core.losses import ce_index_rows

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of log 2: k·_LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
# 1/k! for k = 2..13 (exp(r) − 1 − r on |r| <= log(2)/2 to < 1 ulp)
_C2, _C3, _C4, _C5 = 0.5, 1.0 / 6, 1.0 / 24, 1.0 / 120
_C6, _C7, _C8, _C9 = 1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880
_C10, _C11, _C12, _C13 = 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800

_OPTS: dict[str, Any] = {"nogil": True, "cache": False, "fastmath": {"contract"}}


@numba.njit(inline="always", **_OPTS)
def exp_nonpos(v: float) -> float:
    """exp(v) for v <= 0, within 1 ulp of np.exp for v >= -708; 0 below; nan for nan."""
    u = -708.0 if v < -708.0 else v
    k = np.floor(u * _LOG2E + 0.5)
    r = (u - k * _LN2_HI) - k * _LN2_LO
    p = _C13 * r + _C12
    p = p * r + _C11
    p = p * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + 1.0
    p = p * r + 1.0
    scale = np.int64((np.int64(k) + 1023) << 52).view(np.float64)
    return 0.0 if v < -708.0 else p * scale


@numba.njit(**_OPTS)
def _max_rows(
    flat: Any, rs: int, n_classes: int, i0: int, m: int, buf: Any, mx: Any, am: Any
) -> None:
    """Rows i0..i0+m: float64 copy into buf (C, m), max (ignoring nan) and its first index."""
    for i in range(m):
        v = np.float64(flat[i0 + i])
        buf[0, i] = v
        mx[i] = v
        am[i] = 0
    for cls in range(1, n_classes):
        base = cls * rs + i0
        for i in range(m):
            v = np.float64(flat[base + i])
            buf[cls, i] = v
            gt = v > mx[i]
            mx[i] = v if gt else mx[i]
            am[i] = cls if gt else am[i]


@numba.njit(**_OPTS)
def _sum_exp(buf: Any, m: int, mx: Any, temp: float, s: Any) -> None:
    """s = Σ_c exp((buf_c − mx) / temp), summed over c in order as numpy's class-major sum."""
    for i in range(m):
        s[i] = 0.0
    if temp == 1.0:
        for cls in range(buf.shape[0]):
            for i in range(m):
                s[i] += exp_nonpos(buf[cls, i] - mx[i])
    else:
        for cls in range(buf.shape[0]):
            for i in range(m):
                s[i] += exp_nonpos((buf[cls, i] - mx[i]) / temp)


@numba.njit(**_OPTS)
def kernel(
    flat: Any,
    rs: int,
    n_classes: int,
    n: int,
    t: Any,
    temp: float,
    sums: Any,
    picked: Any,
    arg: Any,
    chunk: int,
) -> None:
    """Rows c·rs + i of ``flat`` hold class c of row i: fill sums = Σ exp(b), picked = b[t],
    arg = first argmax, b = (x − max) / temp; sums is nan where a logit is nan or +inf."""
    buf = np.empty((n_classes, chunk))
    mx = np.empty(chunk)
    s = np.empty(chunk)
    am = np.empty(chunk, dtype=np.int64)
    for i0 in range(0, n, chunk):
        m = min(chunk, n - i0)
        _max_rows(flat, rs, n_classes, i0, m, buf, mx, am)
        _sum_exp(buf, m, mx, temp, s)
        for i in range(m):
            sums[i0 + i] = s[i]
            arg[i0 + i] = am[i]
            picked[i0 + i] = (buf[t[i0 + i], i] - mx[i]) / temp


def lse_picked(xt: Any, t: Any, temp: float, argmax_out: Any) -> tuple[Any, Any] | None:
    """(lse, picked) of a class-major block xt (C, m) whose rows are contiguous; None if not."""
    n_classes, m = xt.shape
    item = xt.itemsize
    if xt.strides[1] != item or xt.strides[0] <= 0 or xt.strides[0] % item:
        return None
    rs = xt.strides[0] // item
    # one 1-D contiguous view over the block's extent (inside its buffer): class c at c·rs
    flat = np.lib.stride_tricks.as_strided(
        xt[0], shape=((n_classes - 1) * rs + m,), writeable=False
    )
    sums, picked = np.empty(m), np.empty(m)
    chunk = max(16, min(4096, (1 << 15) // n_classes))
    kernel(flat, rs, n_classes, m, t.astype(np.int64), float(temp), sums, picked, argmax_out, chunk)
    if np.isnan(sums).any():
        return None  # a nan or +inf logit: numpy's kernel has the exact semantics
    return np.log(sums), picked


def check() -> None:
    rng = np.random.default_rng(0)
    x = np.asfortranarray((rng.standard_normal((200_000, 100)) * 3).astype(np.float32))
    y = rng.integers(0, 100, len(x))
    for temp in (1.0, 1.7):
        want_arg, arg = np.empty(len(y), np.int64), np.empty(len(y), np.int64)
        want, _ = ce_index_rows(x, y, argmax_out=want_arg, temperature=temp)
        got = lse_picked(x.T, y, temp, arg)
        assert got is not None
        rel = np.max(np.abs(got[0] - got[1] - want) / np.abs(want))
        print(
            f"T={temp}: max relative difference {rel:.2e}; argmax equal: {(arg == want_arg).all()}"
        )


def timing(threads: int) -> None:
    rng = np.random.default_rng(1)
    n, rows = 1_000_000, 32768
    xt = rng.standard_normal((100, n), dtype=np.float32) * 2  # (C, n): x = xt.T is F-order
    y = rng.integers(0, 100, n)
    arg = np.empty(n, np.int64)

    def one(kind: str, s: int) -> None:
        x, t = xt[:, s : s + rows].T, y[s : s + rows]
        if kind == "numba":
            lse_picked(x.T, t, 1.0, arg[s : s + len(t)])
        else:
            ce_index_rows(x, t, argmax_out=arg[s : s + len(t)])

    times: dict[str, list[float]] = {"numpy": [], "numba": []}
    with ThreadPoolExecutor(threads) as pool:
        for r in range(6):
            for kind in ("numpy", "numba") if r % 2 else ("numba", "numpy"):
                t0 = time.perf_counter()
                list(pool.map(lambda s, k=kind: one(k, s), range(0, n, rows)))
                if r:  # round 0 is the warm-up (and numba's compile)
                    times[kind].append(time.perf_counter() - t0)
    for kind, ts in times.items():
        ns = [t / (n * 100) * 1e9 * threads for t in ts]
        print(f"{kind}: median {statistics.median(ns):.2f} ns/value·thread (min {min(ns):.2f})")
    ratios = [a / b for a, b in zip(times["numba"], times["numpy"], strict=True)]
    print(
        f"numba / numpy: median {statistics.median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}); load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print("numba", numba.__version__, "numpy", np.__version__)
    check()
    timing(args.threads)
