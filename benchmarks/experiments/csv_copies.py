"""In one process, interleaved rounds: ``pyarrow.csv.read_csv`` of a CSV file against ce's
``compute_score`` on it, as shipped (``new``: batches joined with one copy by
``ce_cli.io.blocks.join``, predictions viewed by ``column_block``) and with the previous path
(``old``: ``pa.concat_batches``, then ``np.stack``). Prints wall and CPU seconds (min, median)
and the per-round ratios (median, min–max) with the load average. No start-up counts here.

Usage: python benchmarks/experiments/csv_copies.py [FILE.csv] [--rounds 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv

from ce_cli.io import formats, layout
from ce_cli.io.dataset import InputOptions
from ce_cli.report.score import compute_score

DATA = Path(__file__).resolve().parent.parent / "data" / "big.csv"
JOIN, VIEW = formats.join, layout.column_block


def _old_join(pieces: list[pa.RecordBatch]) -> pa.RecordBatch:
    return pieces[0] if len(pieces) == 1 else pa.concat_batches(pieces)


def _score(path: str, new: bool) -> Callable[[], object]:
    def run() -> object:
        formats.join = JOIN if new else _old_join  # type: ignore[assignment]
        layout.column_block = VIEW if new else (lambda arrays: None)  # type: ignore[assignment]
        return compute_score(InputOptions(path, threads=0)).to_dict()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(DATA))
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    runs = {
        "peer": lambda: pcsv.read_csv(args.file),
        "old": _score(args.file, new=False),
        "new": _score(args.file, new=True),
    }
    assert runs["old"]() == runs["new"]()  # the same report, bit for bit
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
    for r in range(args.rounds):
        names = list(runs)[r % 3 :] + list(runs)[: r % 3]
        for name in names:
            cpu, wall = time.process_time(), time.perf_counter()
            runs[name]()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    for name, got in times.items():
        walls, cpus = [w for w, _ in got], [c for _, c in got]
        print(
            f"{name:5s} wall min {min(walls):.3f} median {statistics.median(walls):.3f}   "
            f"cpu min {min(cpus):.3f} median {statistics.median(cpus):.3f}"
        )
    for i, what in ((0, "wall"), (1, "cpu")):
        for a, b in (("old", "peer"), ("new", "peer"), ("new", "old")):
            ratios = [x[i] / y[i] for x, y in zip(times[a], times[b], strict=True)]
            print(
                f"{what} {a}/{b} {statistics.median(ratios):.3f} "
                f"({min(ratios):.3f}–{max(ratios):.3f})"
            )
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
