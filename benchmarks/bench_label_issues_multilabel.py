"""Time `ce label-issues` on 1M rows × 20 labels (multi-label) against cleanlab's in-memory
``multi_label=True`` run; peak RSS of each; then ce on 2M rows to show the RSS staying flat.

The data (made here once, seeded): 20 labels of prevalence 5–50 %, float32 logits with a
signal of ±2 and noise 1.5, 3 % of each label flipped — benchmarks/data/multilabel_1m.parquet
and multilabel_2m/ (the 1M file twice). Each contender runs in a fresh subprocess
(bench_score's ``measure``); the peer is peers/cleanlab_multilabel_issues.py under an
interpreter with cleanlab (--peer-python, $CE_BENCH_PEER_PYTHON, /tmp/goldenenv/bin/python).
The counts (num_label_issues, flagged rows) must agree; exit 1 otherwise.

Usage: python benchmarks/bench_label_issues_multilabel.py [--repeats 1] [--filters F,G]
"""

from __future__ import annotations

import os
import shutil
import sys

from bench_label_issues import GOLDEN_PYTHON, ce_cmd, counts
from bench_score import DATA, PEERS, base_parser, find_ce, find_python, measure, mib, secs

FILTERS = ("confident_learning", "prune_by_noise_rate")
ONE = DATA / "multilabel_1m.parquet"
TWO = DATA / "multilabel_2m"


def make_data() -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not ONE.exists():
        rng = np.random.default_rng(0)
        n, n_labels = 1_000_000, 20
        true = rng.random((n, n_labels)) < rng.uniform(0.05, 0.5, n_labels)
        z = (rng.normal(0, 1.5, true.shape) + np.where(true, 2.0, -2.0)).astype(np.float32)
        given = np.where(rng.random(true.shape) < 0.03, ~true, true).astype(np.int8)
        columns = {f"label_t{j}": given[:, j] for j in range(n_labels)}
        columns.update({f"logit_t{j}": z[:, j] for j in range(n_labels)})
        DATA.mkdir(exist_ok=True)
        pq.write_table(pa.table(columns), ONE, row_group_size=100_000)
    if not TWO.exists():
        TWO.mkdir()
        for part in ("a", "b"):
            shutil.copy(ONE, TWO / f"{part}.parquet")


def main() -> int:
    parser = base_parser(__doc__ or "", FILTERS)
    parser.add_argument("--filters", default=",".join(FILTERS))
    args = parser.parse_args()
    make_data()
    ce = find_ce(args.ce)
    peer_python = find_python(
        ["cleanlab", "pyarrow"],
        [*args.peer_python, os.environ.get("CE_BENCH_PEER_PYTHON", ""), GOLDEN_PYTHON],
    )
    bad = 0
    lines = ["| case | ce time | ce peak MiB | cleanlab time | cleanlab peak MiB | counts |",
             "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for filter_by in args.filters.split(","):
        peer = None
        if peer_python and peer_python != sys.executable:
            peer = [peer_python, str(PEERS / "cleanlab_multilabel_issues.py"), str(ONE), filter_by]
        ours, theirs = measure([ce_cmd(ce, str(ONE), filter_by), peer], args.repeats)
        assert ours is not None
        agree = "—"
        if theirs is not None:
            same = counts(ours) == counts(theirs)
            bad += not same
            agree = f"{counts(ours)} {'==' if same else '!='} {counts(theirs)}"
        lines.append(
            f"| 1M×20 {filter_by} | {secs(ours)} | {mib(ours)} | "
            f"{secs(theirs) if theirs else '—'} | {mib(theirs) if theirs else '—'} | {agree} |"
        )
        (flat,) = measure([ce_cmd(ce, str(TWO), filter_by)], 1)
        assert flat is not None
        lines.append(f"| 2M×20 {filter_by} | {secs(flat)} | {mib(flat)} | — | — | "
                     f"{counts(flat)} |")  # fmt: skip
    print("\n".join(lines))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
