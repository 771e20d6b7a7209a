"""Time `ce score` against the scripts a user would otherwise write, and check the targets.

Every contender runs in a fresh subprocess, so interpreter start-up and imports count, as
they do for a user. The contenders of a case run --repeats times each, round-robin; the
table shows the best wall time and the highest peak RSS (ru_maxrss of that very child, from
os.wait4). The environment is passed through unchanged (OPENBLAS_* included), the same for
every contender. Exit status 1 when a target is missed or the losses disagree.

Usage: python benchmarks/bench_score.py [--repeats 3] [--markdown] [--only CASES]
Needs the files from benchmarks/make_data.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PEERS = HERE / "peers"
CASES = ("parquet", "csv", "memory", "startup", "batch")
STARTUP_REPEATS = 10
LOSS_RTOL = 1e-5


@dataclass
class Run:
    """One command, measured over several runs: best wall time, highest peak RSS."""

    cmd: list[str]
    seconds: float  # best wall time
    cpu: float  # least user + system CPU time
    peak_mib: float  # highest peak RSS
    stdout: str

    def loss(self) -> float:
        """The loss a contender printed as JSON (`ce score --format json` or a peer script)."""
        out = json.loads(self.stdout)
        value = out["loss"]
        return float(value["value"] if isinstance(value, dict) else value)


@dataclass
class Row:
    case: str
    ce: str
    peer: str
    ratio: float | None
    ce_peak: str
    peer_peak: str
    target: str
    met: bool | None  # None: not measured
    note: str = ""


def run_once(cmd: Sequence[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak RSS in MiB and stdout of one run of `cmd`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} exited with {proc.returncode}:\n{err.read().decode()[-2000:]}"
            )
        cpu = usage.ru_utime + usage.ru_stime
        return seconds, cpu, usage.ru_maxrss / 1024, out.read().decode()


def measure(cmds: Sequence[Sequence[str] | None], repeats: int) -> list[Run | None]:
    """Run each command `repeats` times, round-robin, so that a burst of load from elsewhere
    hits every contender alike rather than all runs of one. None stays None (skipped)."""
    live = [list(c) for c in cmds if c is not None]
    for cmd in live:
        print(f"  {' '.join(cmd)}", file=sys.stderr, flush=True)
    results: list[list[tuple[float, float, float, str]]] = [[] for _ in live]
    for _ in range(repeats):
        for cmd, runs in zip(live, results, strict=True):
            runs.append(run_once(cmd))
    measured = iter(
        Run(
            cmd=cmd,
            seconds=min(r[0] for r in runs),
            cpu=min(r[1] for r in runs),
            peak_mib=max(r[2] for r in runs),
            stdout=runs[-1][3],
        )
        for cmd, runs in zip(live, results, strict=True)
    )
    return [None if c is None else next(measured) for c in cmds]


def find_python(modules: Sequence[str], preferred: Sequence[str]) -> str | None:
    """The first interpreter among `preferred` (then this one) that imports all `modules`."""
    candidates = [*preferred, sys.executable]
    code = "; ".join(f"import {m}" for m in modules)
    for python in candidates:
        if not python or not Path(python).exists():
            continue
        ok = subprocess.run([python, "-c", code], capture_output=True).returncode == 0
        if ok:
            return python
    return None


def find_ce(explicit: str | None) -> str:
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "ce"
    found = str(beside) if beside.exists() else shutil.which("ce")
    if not found:
        sys.exit("bench_score: no `ce` executable found; install ce or pass --ce PATH")
    return found


def python_of(script: str) -> str:
    """The interpreter a console script runs under (its #! line), else this one."""
    try:
        with open(script, "rb") as f:
            first = f.readline().decode(errors="replace").strip()
    except OSError:
        return sys.executable
    if first.startswith("#!") and Path(first[2:].split()[0]).exists():
        return first[2:].split()[0]
    return sys.executable


def describe_checkout() -> str:
    """The commit of the checkout holding this script, and whether ce_cli/ has local changes."""
    git = ["git", "-C", str(HERE.parent)]
    try:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "ce_cli"], capture_output=True)
    except OSError:
        return "unknown commit"
    if head.returncode != 0:
        return "unknown commit"
    return head.stdout.decode().strip() + (" + local changes" if dirty.stdout.strip() else "")


def secs(run: Run) -> str:
    return f"{run.seconds:.2f} s" if run.seconds >= 0.1 else f"{run.seconds * 1000:.0f} ms"


def mib(run: Run) -> str:
    return f"{run.peak_mib:,.0f}"


def speed_row(case: str, ce: Run, peer: Run | None, limit: float, target: str, note: str) -> Row:
    if peer is None:
        return Row(case, secs(ce), "—", None, mib(ce), "—", target, None, note)
    ratio = ce.seconds / peer.seconds
    return Row(case, secs(ce), secs(peer), ratio, mib(ce), mib(peer), target, ratio <= limit)


def check_losses(label: str, ce: Run, peers: dict[str, Run | None]) -> list[str]:
    """Lines reporting each contender's loss and whether it agrees with ce's."""
    ce_loss = ce.loss()
    lines = [f"{label}:", f"  {'ce':<8} {ce_loss:.10f}"]
    for name, run in peers.items():
        if run is None:
            continue
        value = run.loss()
        rel = abs(value - ce_loss) / abs(ce_loss)
        verdict = "ok" if rel <= LOSS_RTOL else f"MISMATCH (> {LOSS_RTOL:g})"
        lines.append(f"  {name:<8} {value:.10f}  rel. diff {rel:.1e} {verdict}")
    return lines


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def base_parser(doc: str, cases: Sequence[str]) -> argparse.ArgumentParser:
    """The options every benchmark script shares."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per contender (best time)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument(
        "--only", default=",".join(cases), help=f"comma list of cases: {','.join(cases)}"
    )
    parser.add_argument("--ce", help="the ce executable (default: next to this python, or PATH)")
    parser.add_argument(
        "--peer-python",
        action="append",
        default=[],
        help="interpreter to try first for the peer scripts (repeatable); then "
        "$CE_BENCH_PEER_PYTHON, /work/venv-torch/bin/python and this python",
    )
    return parser


def chosen_cases(parser: argparse.ArgumentParser, only: str, cases: Sequence[str]) -> set[str]:
    """The ``--only`` cases, or a usage error naming the unknown ones."""
    chosen = {c.strip() for c in only.split(",") if c.strip()}
    if unknown := chosen - set(cases):
        parser.error(f"unknown case(s) {', '.join(sorted(unknown))}; choose from {cases}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__, CASES)
    parser.add_argument(
        "--batch-sizes",
        default="8192,16384,32768,65536,131072,262144",
        help="ce score --batch-size values for the 'batch' case",
    )
    args = parser.parse_args(argv)
    cases = chosen_cases(parser, args.only, CASES)

    big, csv, big4 = DATA / "big.parquet", DATA / "big.csv", DATA / "big4x.parquet"
    if missing := [p for p in (big, csv, big4) if not p.exists()]:
        sys.exit(f"bench_score: missing {', '.join(map(str, missing))}; run make_data.py first")

    ce = find_ce(args.ce)
    preferred = [
        *args.peer_python,
        os.environ.get("CE_BENCH_PEER_PYTHON", ""),
        "/work/venv-torch/bin/python",
    ]
    torch_py = find_python(["torch", "pyarrow", "numpy"], preferred)
    sklearn_py = find_python(["sklearn", "scipy", "pandas", "pyarrow"], preferred)
    pandas_py = find_python(["pandas", "numpy"], preferred)
    n = args.repeats
    rows: list[Row] = []
    notes: list[str] = []
    losses: list[str] = []
    ce_score = [ce, "score"]

    if "parquet" in cases:
        print("parquet 1M x 100:", file=sys.stderr)
        if not torch_py:
            notes.append("pyarrow+torch skipped: no python with torch (--peer-python PATH)")
        if not sklearn_py:
            notes.append("pandas+sklearn skipped: no python with scikit-learn")
        ce_pq, torch_run, sklearn_run = measure(
            [
                [*ce_score, str(big), "--format", "json"],
                [torch_py, str(PEERS / "torch_ce.py"), str(big)] if torch_py else None,
                [sklearn_py, str(PEERS / "sklearn_log_loss.py"), str(big)] if sklearn_py else None,
            ],
            n,
        )
        assert ce_pq is not None
        rows.append(
            speed_row(
                "Parquet 1M×100: ce vs pyarrow + torch F.cross_entropy",
                ce_pq,
                torch_run,
                0.5,
                "ratio ≤ 0.5",
                "torch missing",
            )
        )
        rows.append(
            speed_row(
                "Parquet 1M×100: ce vs pandas + sklearn log_loss",
                ce_pq,
                sklearn_run,
                0.2,
                "≥ 5× faster (ratio ≤ 0.2)",
                "sklearn missing",
            )
        )
        losses += check_losses(
            "Parquet 1M×100 mean CE", ce_pq, {"torch": torch_run, "sklearn": sklearn_run}
        )

    if "csv" in cases:
        print("CSV 200k x 100:", file=sys.stderr)
        if not pandas_py:
            notes.append("pandas CSV skipped: no python with pandas")
        ce_csv, pandas_run = measure(
            [
                [*ce_score, str(csv), "--format", "json"],
                [pandas_py, str(PEERS / "pandas_csv_ce.py"), str(csv)] if pandas_py else None,
            ],
            n,
        )
        assert ce_csv is not None
        rows.append(
            speed_row(
                "CSV 200k×100: ce vs pandas.read_csv + numpy CE",
                ce_csv,
                pandas_run,
                1 / 3,
                "≥ 3× faster (ratio ≤ 0.33)",
                "pandas missing",
            )
        )
        losses += check_losses("CSV 200k×100 mean CE", ce_csv, {"pandas": pandas_run})

    if "memory" in cases:
        print("peak memory 1x vs 4x:", file=sys.stderr)
        one, four = measure(
            [[*ce_score, str(big), "--format", "json"], [*ce_score, str(big4), "--format", "json"]],
            n,
        )
        assert one is not None and four is not None
        ratio = four.peak_mib / one.peak_mib
        rows.append(
            Row(
                "Peak RSS: ce on 4M×100 vs on 1M×100 (ratio of peaks)",
                f"{secs(four)} (4×)",
                f"{secs(one)} (1×)",
                ratio,
                f"{mib(four)} (4×)",
                f"{mib(one)} (1×)",
                "4× peak ≤ 1.1 × 1× peak",
                ratio <= 1.1,
            )
        )

    if "startup" in cases:
        print("start-up:", file=sys.stderr)
        help_run, click_run = measure(
            [[ce, "--help"], [python_of(ce), "-c", "import click"]], STARTUP_REPEATS
        )
        assert help_run is not None
        rows.append(
            speed_row(
                "Start-up: ce --help vs python -c 'import click'",
                help_run,
                click_run,
                2.0,
                "ratio ≤ 2",
                "",
            )
        )

    sweep: list[list[str]] = []
    if "batch" in cases:
        print("batch sizes:", file=sys.stderr)
        sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
        cmds = [[*ce_score, str(big), "--format", "json", "--batch-size", str(b)] for b in sizes]
        for size, run in zip(sizes, measure(cmds, n), strict=True):
            assert run is not None
            cpu = f"{run.cpu:.2f} s"
            sweep.append([f"{size:,}", secs(run), cpu, mib(run), f"{run.loss():.12f}"])

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
    print()
    print(
        f"best of {n} wall time (start-up: best of {STARTUP_REPEATS}), contenders run "
        "round-robin; peak RSS = max over runs"
    )
    print(f"ce: {ce} ({describe_checkout()}, {os.cpu_count()} cores)")
    print(f"peers: torch {torch_py}, sklearn {sklearn_py}, pandas {pandas_py}")
    print()
    if table:
        print(format_table(header, table, args.markdown))
        print()
    if sweep:
        print(f"ce score {big.name} --batch-size B:")
        print()
        sweep_header = ["--batch-size", "time", "CPU (user+sys)", "peak MiB", "mean CE"]
        print(format_table(sweep_header, sweep, args.markdown))
        print()
    for line in losses + notes:
        print(line)
    mismatched = any("MISMATCH" in line for line in losses)
    missed = any(r.met is False for r in rows)
    return 1 if mismatched or missed else 0


if __name__ == "__main__":
    sys.exit(main())
