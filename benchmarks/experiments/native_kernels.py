"""Experiment: the compiled kernels (`ce_cli/core/_native.c`) per value, against the numpy paths
they replace (benchmarks/README.md, "The compiled kernels").

One thread, random normal float32 logits (σ = 3), fastest of --repeats runs, ns per value:

- `ce_block` on a 4096-row class-major block of a 32768-row column-major batch (the stride
  `ce score` hands it) and of a padded one (stride 32808), and row-major at 100, 1000 and
  10,000 classes;
- `calibration.exp_moments` with 0, 2 and 4 moments, compiled and with `native.KERNEL = None`
  (numpy), on the same class-major block.

Usage: python benchmarks/experiments/native_kernels.py [--repeats 50]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from ce_cli.core import calibration, native  # noqa: E402

RNG = np.random.default_rng(0)


def fastest(fn: Callable[[], object], repeats: int, values: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best / values * 1e9


def ce_block(block: np.ndarray, repeats: int) -> float:
    m = block.shape[1]
    y = np.zeros(m, np.int64)
    out = np.empty(m), np.empty(m), np.empty(m, np.int64), np.empty(m)
    assert native.KERNEL is not None
    kernel = native.KERNEL
    return fastest(lambda: kernel.ce_block(block, y, 1.0, *out), repeats, block.size)


def exp_moments(block: np.ndarray, k: int, repeats: int) -> float:
    c, m = block.shape
    y = np.zeros(m, np.intp)
    bufs = (np.empty((c, m)), np.empty((c, m)), np.empty((c, m)))
    sums = (np.empty(m), np.empty(m), np.empty((3, m)), np.empty(m), np.empty(m, np.int64))
    moments = np.empty((k, m)) if k else None
    call = lambda: calibration.exp_moments(block, y, 0.7, bufs, sums, moments)  # noqa: E731
    return fastest(call, repeats, block.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    if native.KERNEL is None:
        sys.exit(f"the compiled kernel is not there: {native.describe()}")
    print("ce_block, ns per value")
    for stride in (32768, 32808):
        batch = (RNG.standard_normal((100, stride)) * 3).astype(np.float32)
        print(f"  class-major, stride {stride}: {ce_block(batch[:, :4096], args.repeats):.3f}")
    for n_classes, rows in ((100, 4096), (1000, 1000), (10_000, 104)):
        x = (RNG.standard_normal((rows, n_classes)) * 3).astype(np.float32)  # C-order rows
        print(f"  row-major, {n_classes} classes: {ce_block(x.T, args.repeats):.3f}")
    print("calibration.exp_moments, ns per value (compiled / numpy)")
    block = (RNG.standard_normal((100, 32768)) * 3).astype(np.float32)[:, :4096]
    compiled = native.KERNEL
    for k in (0, 2, 4):
        fast = exp_moments(block, k, args.repeats)
        native.KERNEL = None
        slow = exp_moments(block, k, args.repeats)
        native.KERNEL = compiled
        print(f"  {k} moments: {fast:.3f} / {slow:.3f}")


if __name__ == "__main__":
    main()
