"""The peer of `ce label-issues` on multi-label data: cleanlab on the whole file in memory.

Reads the Parquet file with pyarrow (label_* 0/1 and logit_* columns), the sigmoid in float64,
labels as cleanlab's list of lists, then count.num_label_issues and filter.find_label_issues
(filter_by=..., multi_label=True), and prints {"num_label_issues": …, "n_flagged": …} as JSON.

Usage: python cleanlab_multilabel_issues.py FILE.parquet FILTER_BY [N_JOBS]
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pyarrow.parquet as pq
from cleanlab.count import num_label_issues
from cleanlab.filter import find_label_issues


def main() -> None:
    path, filter_by = sys.argv[1], sys.argv[2]
    n_jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # multi_label=True
    table = pq.read_table(path)
    given = np.column_stack(
        [table.column(n).to_numpy() for n in table.column_names if n.startswith("label_")]
    )
    z = np.column_stack(
        [table.column(n).to_numpy() for n in table.column_names if n.startswith("logit_")]
    ).astype(np.float64)
    del table
    probs = 1 / (1 + np.exp(-z))
    labels = [np.flatnonzero(row).tolist() for row in given]
    count = int(num_label_issues(labels, probs, multi_label=True))
    mask = find_label_issues(labels, probs, multi_label=True, filter_by=filter_by, n_jobs=n_jobs)
    print(json.dumps({"num_label_issues": count, "n_flagged": int(mask.sum())}))


if __name__ == "__main__":
    main()
