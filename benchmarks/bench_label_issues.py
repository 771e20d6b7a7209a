"""Time `ce label-issues` on 1M × 100 logits against cleanlab's in-memory run; peak RSS of each.

Each contender runs in a fresh subprocess (bench_score's `measure`: best wall time of
--repeats, highest peak RSS of that child). ce streams the file in bounded memory (2 passes for
``confident_learning``, 4 for ``prune_by_noise_rate``, cleanlab's default); cleanlab reads the
whole file, softmaxes it and runs ``num_label_issues`` + ``find_label_issues``
(peers/cleanlab_label_issues.py, under an interpreter with cleanlab: --peer-python, else
$CE_BENCH_PEER_PYTHON, else /tmp/goldenenv/bin/python). Then ce on the 4M-row file shows the
RSS staying flat. The counts (num_label_issues, flagged rows) must agree; exit 1 otherwise.

Usage: python benchmarks/bench_label_issues.py [--repeats 1] [--markdown] [--filters F,G]
Needs benchmarks/data/big.parquet and big4x.parquet (benchmarks/make_data.py).
"""

from __future__ import annotations

import json
import os
import sys

from bench_score import DATA, PEERS, Run, base_parser, find_ce, find_python, measure, mib, secs

FILTERS = ("confident_learning", "prune_by_noise_rate")
GOLDEN_PYTHON = "/tmp/goldenenv/bin/python"


def ce_cmd(ce: str, path: str, filter_by: str) -> list[str]:
    return [ce, "label-issues", path, "--filter-by", filter_by, "--format", "json", "--top", "5",
            "--no-progress"]  # fmt: skip


def counts(run: Run) -> tuple[int, int]:
    out = json.loads(run.stdout)
    return int(out["num_label_issues"]), int(out["n_flagged"])


def main() -> int:
    parser = base_parser(__doc__ or "", FILTERS)
    parser.add_argument("--filters", default=",".join(FILTERS))
    args = parser.parse_args()
    ce = find_ce(args.ce)
    peer_python = find_python(
        ["cleanlab", "pyarrow"],
        [
            *args.peer_python,
            os.environ.get("CE_BENCH_PEER_PYTHON", ""),
            GOLDEN_PYTHON,
        ],
    )
    big, big4x = str(DATA / "big.parquet"), str(DATA / "big4x.parquet")
    bad = 0
    lines = ["| case | ce time | ce peak MiB | cleanlab time | cleanlab peak MiB | counts |",
             "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for filter_by in args.filters.split(","):
        peer = None
        if peer_python and peer_python != sys.executable:
            peer = [peer_python, str(PEERS / "cleanlab_label_issues.py"), big, filter_by]
        ours, theirs = measure([ce_cmd(ce, big, filter_by), peer], args.repeats)
        assert ours is not None
        agree = "—"
        if theirs is not None:
            same = counts(ours) == counts(theirs)
            bad += not same
            agree = f"{counts(ours)} {'==' if same else '!='} {counts(theirs)}"
        lines.append(
            f"| 1M×100 {filter_by} | {secs(ours)} | {mib(ours)} | "
            f"{secs(theirs) if theirs else '—'} | {mib(theirs) if theirs else '—'} | {agree} |"
        )
        (flat,) = measure([ce_cmd(ce, big4x, filter_by)], 1)
        assert flat is not None
        lines.append(f"| 4M×100 {filter_by} | {secs(flat)} | {mib(flat)} | — | — | "
                     f"{counts(flat)} |")  # fmt: skip
    print("\n".join(lines))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
