"""Experiment: the CPU cost per value of the fused calibration kernel
(`softmax_calibration.softmax_calibration_rows`, what `ce calibrate` runs per batch) against
the same kernel of another checkout and against the CE kernel (`losses.ce_index_rows`, what
`ce score` runs) — benchmarks/README.md, "calibrate kernel: what was measured".

On four 32768-row column-major float32 batches of big.parquet (as the readers hand them over),
each round times every contender on --threads threads (each thread takes every other batch,
--passes times), as CPU seconds of the process (`time.process_time`) per value, and prints
the ratios of the round; the last line gives their medians and ranges. CPU time is steadier
than wall time on a shared machine.

Usage: python benchmarks/experiments/calibrate_kernel.py [--baseline DIR] [--threads 2]
           [--rounds 6] [--passes 3]
(DIR: a directory holding another ce_cli, e.g. a `git worktree add` of an older commit.)
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `ce` sets it

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
BATCH = 32768


def load(root: Path) -> tuple[ModuleType, ModuleType]:
    """``softmax_calibration`` and ``losses`` of the ce_cli under ``root`` (a fresh import)."""
    for name in [k for k in sys.modules if k == "ce_cli" or k.startswith("ce_cli.")]:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        from ce_cli.core import losses, softmax_calibration
    finally:
        sys.path.pop(0)
    return softmax_calibration, losses


def batches(path: Path, count: int = 4) -> list[tuple[Any, Any]]:
    table = pq.read_table(path).slice(0, count * BATCH)
    names = [c for c in table.column_names if c.startswith("logit_")]
    x = np.column_stack([table.column(c).to_numpy() for c in names])
    y = table.column("label").to_numpy()
    return [
        (np.asfortranarray(x[i * BATCH : (i + 1) * BATCH]), y[i * BATCH : (i + 1) * BATCH])
        for i in range(count)
    ]


def cpu_per_value(
    kernel: Callable[[Any, Any], object], data: list[Any], threads: int, passes: int
) -> float:
    def work(k: int) -> None:
        for _ in range(passes):
            for x, y in data[k::threads]:
                kernel(x, y)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    start = time.process_time()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    values = passes * sum(x.size for x, _ in data)
    return (time.process_time() - start) / values * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="a directory holding another ce_cli")
    parser.add_argument("--data", type=Path, default=ROOT / "benchmarks/data/big.parquet")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    data = batches(args.data)
    contenders: dict[str, Callable[[Any, Any], object]] = {}
    if args.baseline is not None:
        old, _ = load(args.baseline)
        contenders["baseline"] = lambda x, y: old.softmax_calibration_rows(x, y, None)
    new, losses = load(ROOT)
    contenders["calibrate"] = lambda x, y: new.softmax_calibration_rows(x, y, None)
    contenders["ce"] = lambda x, y: losses.ce_index_rows(x, y)
    ratios: dict[str, list[float]] = {"calibrate / ce": [], "calibrate / baseline": []}
    for _ in range(args.rounds):
        ns = {k: cpu_per_value(f, data, args.threads, args.passes) for k, f in contenders.items()}
        ratios["calibrate / ce"].append(ns["calibrate"] / ns["ce"])
        if "baseline" in ns:
            ratios["calibrate / baseline"].append(ns["calibrate"] / ns["baseline"])
        print("  ".join(f"{k} {v:.2f}" for k, v in ns.items()), "ns CPU per value", flush=True)
    for name, values in ratios.items():
        if values:
            print(f"{name}: median {np.median(values):.2f} ({min(values):.2f}–{max(values):.2f})")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
