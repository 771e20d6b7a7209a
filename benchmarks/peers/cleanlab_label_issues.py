"""The peer of `ce label-issues`: cleanlab on the whole file in memory.

Reads the Parquet file with pyarrow (label + logit_* columns), softmax in float64, then
cleanlab's count.num_label_issues and filter.find_label_issues(filter_by=...), and prints
{"num_label_issues": …, "n_flagged": …} as JSON.

Usage: python cleanlab_label_issues.py FILE.parquet FILTER_BY [N_JOBS]
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pyarrow.parquet as pq
from cleanlab.count import num_label_issues
from cleanlab.filter import find_label_issues


def main() -> None:
    path, filter_by = sys.argv[1], sys.argv[2]
    n_jobs = int(sys.argv[3]) if len(sys.argv) > 3 else None
    table = pq.read_table(path)
    names = [n for n in table.column_names if n.startswith("logit_")]
    labels = table.column("label").to_numpy().astype(np.int64)
    logits = np.column_stack([table.column(n).to_numpy() for n in names]).astype(np.float64)
    del table
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    probs = logits
    count = int(num_label_issues(labels, probs))
    mask = find_label_issues(labels, probs, filter_by=filter_by, n_jobs=n_jobs)
    print(json.dumps({"num_label_issues": count, "n_flagged": int(mask.sum())}))


if __name__ == "__main__":
    main()
