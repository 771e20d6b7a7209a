"""Peer of kernel_torch.py: ce's CE kernel alone (losses.ce_index_rows, argmax fused), on the
arrays `ce score` hands it: column-major float32 batches of 32768 rows, two worker threads.

Usage: python kernel_ce.py FILE.parquet CE_ROOT   (CE_ROOT: the directory holding ce_cli)
Prints the loss, then "seconds=X": the median of 5 timed runs after a warm-up.
"""

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, sys.argv[2])
from ce_cli.core.losses import ce_index_rows
from ce_cli.engine import loss_sums

FUSED = "argmax_out" in ce_index_rows.__doc__  # an older ce_cli: the separate row_argmax

table = pq.read_table(sys.argv[1])
names = [n for n in table.column_names if n.startswith("logit_")]
logits = np.stack([table.column(n).to_numpy() for n in names], axis=0).T  # (n, C), F-order
labels = table.column("label").to_numpy()
ROWS = 32768


def one(start: int) -> tuple[float, int]:
    x, y = logits[start : start + ROWS], labels[start : start + ROWS]
    if FUSED:
        predicted = np.empty(len(y), dtype=np.int64)
        loss, _ = ce_index_rows(x, y, argmax_out=predicted)
    else:
        loss, _ = ce_index_rows(x, y)
        predicted = loss_sums.row_argmax(x)
    return float(loss.sum()), int((predicted == y).sum())


def run(pool: ThreadPoolExecutor) -> float:
    return sum(s for s, _ in pool.map(one, range(0, len(labels), ROWS))) / len(labels)


times = []
with ThreadPoolExecutor(2) as pool:
    loss = run(pool)
    for _ in range(5):
        start = time.perf_counter()
        run(pool)
        times.append(time.perf_counter() - start)
print(f"loss={loss}")
print(f"seconds={statistics.median(times)}")
