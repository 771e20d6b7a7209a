"""Write sample_data/label_errors.csv: digits-style predictions with 21 labels flipped on purpose.

720 rows, 10 classes ``0`` … ``9``. Each row's true class is drawn uniformly; the model's logits
(out-of-sample in spirit: they score the true class, as a cross-validated model would) are a
signal of 4.0 on the true class plus standard normal noise on every class. Then 21 rows, chosen
at random, get another class as their ``label``; ``original_label`` keeps the true one, so
``label != original_label`` marks the flips. Deterministic (seeded); floats have 6 decimals.

    python sample_data/make_label_errors.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("label_errors.csv")
N, K, FLIPS, SIGNAL = 720, 10, 21, 4.0


def main() -> None:
    rng = np.random.default_rng(14)
    true = rng.integers(0, K, size=N)
    logits = rng.normal(0.0, 1.0, size=(N, K))
    logits[np.arange(N), true] += SIGNAL
    given = true.copy()
    flipped = rng.choice(N, size=FLIPS, replace=False)
    for i in flipped:
        given[i] = (true[i] + rng.integers(1, K)) % K
    with OUT.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["id", "label", "original_label", *[f"logit_{c}" for c in range(K)]])
        for i in range(N):
            values = [f"{v:.6f}" for v in logits[i]]
            out.writerow([f"img_{i:04d}", int(given[i]), int(true[i]), *values])
    print(f"wrote {OUT}: {N} rows, {FLIPS} flipped at rows {sorted(flipped.tolist())}")


if __name__ == "__main__":
    main()
