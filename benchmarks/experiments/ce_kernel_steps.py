"""Experiment: what each step of the CE kernel costs per value, then and now, and the float32
variant that was not shipped (benchmarks/README.md, "CE kernel: what was tried").

On 32768-row column-major float32 batches of big.parquet (as `ce score` hands them to
`losses.ce_index_rows`), one thread, `time.thread_time`, fastest of --repeats runs:

- before: a float64 copy of each class-major block, `− max` in float64, argmax by int16 keys;
- now: the block read in place, max and a uint8-keyed argmax on the float32 input, one
  converting `exp` (`losses.exp_into`), the sum;
- float32: the shift and `exp` in float32, the sum in float64 — with the largest relative
  difference of its per-row loss from the float64 kernel's.

Usage: python benchmarks/experiments/ce_kernel_steps.py [--repeats 30] [--rows 10485]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from ce_cli.core import losses  # noqa: E402

Step = Callable[[], object]


def timed(steps: dict[str, Step], repeats: int, values: int) -> dict[str, float]:
    """ns per value of each step, the fastest of ``repeats`` rounds (steps run in order)."""
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.thread_time()
            step()
            best[name] = min(best[name], time.thread_time() - start)
    return {name: 1e9 * t / values for name, t in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rows", type=int, default=10485, help="rows per block")
    args = parser.parse_args()
    table = pq.read_table(ROOT / "benchmarks" / "data" / "big.parquet")
    names = [n for n in table.column_names if n.startswith("logit_")]
    batch = np.stack([table.column(n).to_numpy()[:32768] for n in names], axis=0).T
    block = batch[: args.rows].T  # (C, m) view, rows contiguous
    n_classes, m = block.shape
    b64, b32 = np.empty((n_classes, m)), np.empty((n_classes, m), np.float32)
    top = block.max(axis=0)
    top64 = np.empty(m)
    first_max, out = losses.FirstMax(n_classes, m), np.empty(m, np.int64)
    is_max, keyed = np.empty((n_classes, m), bool), np.empty((n_classes, m), np.int16)
    offset = (np.arange(n_classes, dtype=np.int16) - n_classes)[:, None]

    def old_argmax() -> None:
        np.equal(b64, 0.0, out=is_max)
        np.multiply(is_max, offset, out=keyed)
        keyed.min(axis=0)

    before = {
        "copy to float64": lambda: np.copyto(b64, block),
        "max (float64)": lambda: b64.max(axis=0, out=top64),
        "- max (float64)": lambda: np.subtract(b64, top64, out=b64),
        "argmax (int16 keys)": old_argmax,
        "exp (float64)": lambda: np.exp(b64, out=b64),
        "sum": lambda: b64.sum(axis=0),
    }
    now = {
        "max (float32 input)": lambda: block.max(axis=0, out=top),
        "argmax (uint8 keys)": lambda: first_max(block, top, out),
        "exp, converting": lambda: losses.exp_into(b64, block, top, True, 1.0),
        "sum": lambda: b64.sum(axis=0),
    }
    float32 = {
        "- max (float32)": lambda: np.subtract(block, top, out=b32),
        "exp (float32)": lambda: np.exp(b32, out=b32),
        "sum in float64": lambda: b32.sum(axis=0, dtype=np.float64),
    }
    for title, steps in (("before", before), ("now", now), ("float32 variant", float32)):
        costs = timed(steps, args.repeats, n_classes * m)
        print(f"{title}: {sum(costs.values()):.2f} ns per value")
        for name, ns in costs.items():
            print(f"  {name:22s} {ns:.3f}")
    y = np.asarray(table.column("label").to_numpy()[: args.rows], dtype=np.intp)
    exact = losses.ce_index_rows(batch[: args.rows], y)[0]
    np.subtract(block, top, out=b32)
    np.exp(b32, out=b32)
    rough = np.log(b32.sum(axis=0, dtype=np.float64)) - (
        batch[np.arange(args.rows), y].astype(np.float64) - top
    )
    print(
        f"float32 variant: largest relative difference per row {np.max(abs(rough / exact - 1)):.1e}"
    )


if __name__ == "__main__":
    main()
