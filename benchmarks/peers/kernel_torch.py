"""Peer of kernel_ce.py: torch.nn.functional.cross_entropy alone (no argmax, which ce's kernel
also returns) on the whole array, C-contiguous float32, torch's own threads.

Usage: python kernel_torch.py FILE.parquet
Prints the loss, then "seconds=X": the median of 5 timed runs after a warm-up.
"""

import statistics
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

table = pq.read_table(sys.argv[1])
names = [n for n in table.column_names if n.startswith("logit_")]
x = np.column_stack([table.column(n).to_numpy() for n in names])
x = torch.from_numpy(np.ascontiguousarray(x))
y = torch.from_numpy(table.column("label").to_numpy())


def run() -> float:
    loss = F.cross_entropy(x, y)
    return loss.item()


loss = run()
times = []
for _ in range(5):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
print(f"loss={loss}")
print(f"seconds={statistics.median(times)}")
