"""Peer: the paired bootstrap a notebook would run for `ce check NEW --baseline OLD` — read
both prediction files with pandas, per-row cross-entropy of each model (numpy, float64), then
1000 resamples of the rows (the same rows for both models) and the 2.5th–97.5th percentile of
the mean-loss difference NEW − OLD.

Usage: python numpy_paired_bootstrap.py NEW.parquet OLD.parquet [REPLICATES]
       (prints {"loss": ..., "baseline": ..., "delta": ..., "low": ..., "high": ...})
"""

import json
import sys

import numpy as np
import pandas as pd


def row_losses(path: str) -> np.ndarray:
    df = pd.read_parquet(path)
    z = df.filter(like="logit_").to_numpy(np.float64)
    y = df["label"].to_numpy()
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    return lse - z[np.arange(len(y)), y]


new, old = row_losses(sys.argv[1]), row_losses(sys.argv[2])
diff = new - old
replicates = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
rng = np.random.default_rng(0)
means = np.empty(replicates)
for b in range(replicates):
    rows = rng.integers(0, len(diff), len(diff))
    means[b] = diff[rows].mean()
low, high = np.percentile(means, [2.5, 97.5])
result = {"loss": new.mean(), "baseline": old.mean(), "delta": diff.mean()}
print(json.dumps({**result, "low": low, "high": high}))
