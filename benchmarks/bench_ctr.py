"""Time `ce weights` and `ce score --loss bce` on 50M binary CTR rows in 20 Parquet shards.

Three tables, in bench_score.py's style (fresh subprocess per run, contenders round-robin,
best wall time, highest peak RSS of that process):

  1. ce against the scripts a user would otherwise write: pyarrow + numpy bincount for the
     class weights; pyarrow + torch BCEWithLogits (skipped without torch) and pyarrow + numpy
     (float64) for the loss;
  2. `--threads 1` against the default (every core): the speed-up on this machine;
  3. `--engine dask`: ce's own local cluster (start-up included), and a cluster started here
     beforehand (`--scheduler ADDRESS`: what a user with a running cluster pays) — only when
     dask's distributed scheduler is installed.

Then every contender's numbers against ce's: weights and losses must agree to 1e-5 with the
peers (torch computes in float32) and to 1e-12 between ce's engines. Exit status 1 when a
target is missed or a number disagrees.

Usage: python benchmarks/bench_ctr.py [--repeats 3] [--markdown] [--only peers,threads,dask]
Needs benchmarks/data/ctr/ from `python benchmarks/make_data.py --only ctr`.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from bench_score import (
    DATA,
    LOSS_RTOL,
    PEERS,
    Row,
    Run,
    base_parser,
    chosen_cases,
    describe_checkout,
    find_ce,
    find_python,
    format_table,
    measure,
    mib,
    secs,
    speed_row,
)

CTR = DATA / "ctr"
CASES = ("peers", "threads", "dask")
ENGINE_RTOL = 1e-12


def weights_of(run: Run) -> list[float]:
    return [float(w) for w in json.loads(run.stdout)["weights"]]


def agreement(label: str, ce: Run, others: dict[str, Run | None], rtol: float) -> list[str]:
    """Lines comparing each contender's loss or weights with ce's."""
    weights = "weights" in json.loads(ce.stdout)
    base = weights_of(ce) if weights else [ce.loss()]
    lines = [f"{label}:", f"  {'ce':<22} {', '.join(f'{v:.12g}' for v in base)}"]
    for name, run in others.items():
        if run is None:
            continue
        values = weights_of(run) if weights else [run.loss()]
        rel = max(abs(v - b) / abs(b) for v, b in zip(values, base, strict=True))
        verdict = "ok" if rel <= rtol else f"MISMATCH (> {rtol:g})"
        shown = ", ".join(f"{v:.12g}" for v in values)
        lines.append(f"  {name:<22} {shown}  rel. diff {rel:.1e} {verdict}")
    return lines


def start_cluster() -> tuple[object | None, str]:
    """A LocalCluster like the one ce starts (one single-threaded process per core)."""
    try:
        from distributed import LocalCluster
    except ImportError:
        return None, "dask skipped: distributed is not installed (pip install 'ce-cli[dask]')"
    cluster = LocalCluster(
        n_workers=len(os.sched_getaffinity(0)),
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
    )
    return cluster, ""


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__, CASES)
    args = parser.parse_args(argv)
    cases = chosen_cases(parser, args.only, CASES)
    if not CTR.is_dir():
        sys.exit(f"bench_ctr: missing {CTR}; run make_data.py --only ctr first")

    ce = find_ce(args.ce)
    preferred = [
        *args.peer_python,
        os.environ.get("CE_BENCH_PEER_PYTHON", ""),
        "/work/venv-torch/bin/python",
    ]
    torch_py = find_python(["torch", "pyarrow", "numpy"], preferred)
    numpy_py = find_python(["pyarrow", "numpy"], preferred)
    n = args.repeats
    data = str(CTR)
    weights_cmd = [ce, "weights", data, "--format", "json"]
    score_cmd = [ce, "score", data, "--loss", "bce", "--format", "json"]
    rows: list[Row] = []
    notes: list[str] = []
    checks: list[str] = []
    threads_table: list[list[str]] = []
    dask_table: list[list[str]] = []

    if "peers" in cases:
        print("CTR 50M: ce vs peers", file=sys.stderr)
        if not torch_py:
            notes.append("pyarrow+torch skipped: no python with torch (--peer-python PATH)")
        ce_w, bincount = measure(
            [
                weights_cmd,
                [numpy_py, str(PEERS / "pyarrow_bincount_weights.py"), data] if numpy_py else None,
            ],
            n,
        )
        ce_s, torch_run, numpy_run = measure(
            [
                score_cmd,
                [torch_py, str(PEERS / "torch_bce.py"), data] if torch_py else None,
                [numpy_py, str(PEERS / "numpy_bce.py"), data] if numpy_py else None,
            ],
            n,
        )
        assert ce_w is not None and ce_s is not None
        rows += [
            speed_row(
                "CTR 50M×1: ce weights vs pyarrow + numpy bincount",
                ce_w,
                bincount,
                1.0,
                "ratio ≤ 1 (none in the issue)",
                "numpy missing",
            ),
            speed_row(
                "CTR 50M×1: ce score --loss bce vs pyarrow + torch BCEWithLogits",
                ce_s,
                torch_run,
                0.5,
                "ratio ≤ 0.5 (the Parquet target)",
                "torch missing",
            ),
            speed_row(
                "CTR 50M×1: ce score --loss bce vs pyarrow + numpy (float64)",
                ce_s,
                numpy_run,
                0.5,
                "ratio ≤ 0.5 (the Parquet target)",
                "numpy missing",
            ),
        ]
        checks += agreement("class weights", ce_w, {"pyarrow+bincount": bincount}, LOSS_RTOL)
        checks += agreement(
            "mean BCE", ce_s, {"pyarrow+torch": torch_run, "pyarrow+numpy": numpy_run}, LOSS_RTOL
        )

    if "threads" in cases:
        print("CTR 50M: --threads 1 vs every core", file=sys.stderr)
        cores = len(os.sched_getaffinity(0))
        for name, cmd in (("ce weights", weights_cmd), ("ce score --loss bce", score_cmd)):
            one, every = measure([[*cmd, "--threads", "1"], cmd], n)
            assert one is not None and every is not None
            threads_table.append(
                [
                    name,
                    secs(one),
                    secs(every),
                    f"{one.seconds / every.seconds:.2f}×",
                    f"{one.cpu:.2f} s / {every.cpu:.2f} s",
                    f"{mib(one)} / {mib(every)}",
                ]
            )
            label = f"{name}: --threads 1 vs {cores}"
            checks += agreement(label, every, {"--threads 1": one}, ENGINE_RTOL)

    if "dask" in cases:
        print("CTR 50M: --engine dask", file=sys.stderr)
        cluster, note = start_cluster()
        if cluster is None:
            notes.append(note)
        else:
            address = cluster.scheduler_address  # type: ignore[attr-defined]
            try:
                for name, cmd in (("ce weights", weights_cmd), ("ce score --loss bce", score_cmd)):
                    local, own, running = measure(
                        [cmd, [*cmd, "--engine", "dask"], [*cmd, "--scheduler", address]], n
                    )
                    assert local is not None and own is not None and running is not None
                    dask_table.append(
                        [
                            name,
                            secs(local),
                            secs(own),
                            secs(running),
                            f"{running.seconds / local.seconds:.2f}",
                            f"{mib(local)} / {mib(own)} / {mib(running)}",
                        ]
                    )
                    checks += agreement(
                        f"{name}: dask vs local",
                        local,
                        {"dask (own cluster)": own, "dask (running cluster)": running},
                        ENGINE_RTOL,
                    )
            finally:
                cluster.close()  # type: ignore[attr-defined]

    print()
    print(f"best of {n} wall time, contenders run round-robin; peak RSS = max over runs")
    print(f"ce: {ce} ({describe_checkout()}, {os.cpu_count()} cores)")
    print(f"peers: torch {torch_py}, numpy {numpy_py}")
    print(f"data: {CTR} (50,000,000 rows, 20 shards)")
    print()
    if rows:
        header = ["case", "ce", "peer", "ratio ce/peer", "ce peak MiB", "peer peak MiB"]
        header += ["target", "result"]
        table = [
            [
                r.case,
                r.ce,
                r.peer,
                "—" if r.ratio is None else f"{r.ratio:.3g}",
                r.ce_peak,
                r.peer_peak,
                r.target,
                {True: "met", False: "MISSED", None: f"skipped ({r.note})"}[r.met],
            ]
            for r in rows
        ]
        print(format_table(header, table, args.markdown))
        print()
    if threads_table:
        print("--threads 1 vs the default (every core); informational (issue 6: measure it):")
        print()
        header = ["command", "--threads 1", "default", "speed-up", "CPU 1 / default"]
        header += ["peak MiB 1 / default"]
        print(format_table(header, threads_table, args.markdown))
        print()
    if dask_table:
        print(
            "--engine dask: its own LocalCluster (start-up included) and a running one "
            "(--scheduler); informational. Peak RSS is the ce process (workers are not counted):"
        )
        print()
        header = ["command", "local (threads)", "dask, own cluster", "dask, running cluster"]
        header += ["running / local", "peak MiB local / own / running"]
        print(format_table(header, dask_table, args.markdown))
        print()
    for line in checks + notes:
        print(line)
    mismatched = any("MISMATCH" in line for line in checks)
    missed = any(r.met is False for r in rows)
    return 1 if mismatched or missed else 0


if __name__ == "__main__":
    sys.exit(main())
