"""Paired, interleaved timings: ce against its peer, one pair at a time, ratios per pair.

Each case is two commands (A = ce, B = the peer script or another ce command). After one
warm-up run of each, the runner runs --pairs pairs, alternating which goes first, so load
from elsewhere hits both alike; it prints the median and min–max of the per-pair ratios
A / B (wall time, or the seconds a kernel script reports), both peaks (ru_maxrss), the
machine (CPU model, cores), the load average before and after, and the date.

Usage: python benchmarks/bench_pairs.py [CASE ...] [--pairs 5] [--baseline DIR] [--markdown]
       CASE: ce, kernel, multilabel, multilabel-memory, focal, wide, calibrate,
             calibrate-torchmetrics, temperature, auc, csv, temperature-torch,
             check-bootstrap, focal-multilabel, help, score-help, ctr, ctr-numpy
             (default: all)
--baseline DIR: compare ce with a copy of ce_cli under DIR (B = `python -m ce_cli` with
DIR first on sys.path, same arguments) instead of the peer: the before/after ratio of a change.
Every case runs with bytecode cached in a private directory, as an installed package has its
.pyc files (--no-bytecode: as the environment says, e.g. PYTHONDONTWRITEBYTECODE=1 compiles
ce_cli at every start). Start-up cases (help, score-help): each side of a pair is the fastest
of STARTUP_REPEATS runs, interleaved.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_score import DATA, PEERS, STARTUP_REPEATS, find_ce, find_python, python_of, run_once


@dataclass
class Case:
    name: str
    a: list[str]  # ce
    b: list[str]  # the peer
    what: str  # what B is
    reported: bool = False  # both print "seconds=X" as their last line: compare those
    per_value: float = 1.0  # the ratio is multiplied by this (per-value comparisons)
    agree: Callable[[str, str], str] | None = None  # A's and B's stdout → "… agree" / "DISAGREE"
    repeats: int = 1  # runs of each side per pair, interleaved; the side's time is the fastest
    startup: bool = False  # --baseline: A via `launcher` too


def cases(ce: str, torch_py: str | None, tm_py: str | None) -> dict[str, Case]:
    big, wide = str(DATA / "big.parquet"), str(DATA / "wide10k.parquet")
    ml = str(DATA / "multilabel.parquet")
    score = [ce, "score", "--format", "json"]
    peer = torch_py or sys.executable
    root = str(Path(__file__).resolve().parent.parent)
    kernel_ce = [peer, str(PEERS / "kernel_ce.py"), big, root]
    return {
        "ce": Case("ce", [*score, big], [peer, str(PEERS / "torch_ce.py"), big], "pyarrow+torch"),
        "kernel": Case(
            "kernel",
            kernel_ce,
            [peer, str(PEERS / "kernel_torch.py"), big],
            "F.cross_entropy",
            reported=True,
        ),
        "multilabel": Case(
            "multilabel",
            [*score, ml],
            [peer, str(PEERS / "torch_multilabel_bce.py"), ml],
            "pyarrow+torch BCE",
        ),
        "multilabel-memory": Case(
            "multilabel-memory", [*score, ml], [*score, big], "ce score (CE) on big.parquet"
        ),
        "focal": Case(
            "focal",
            [*score, big, "--loss", "focal"],
            [peer, str(PEERS / "torch_focal.py"), big],
            "pyarrow+torch softmax focal",
        ),
        "wide": Case(
            "wide", [*score, wide], [*score, big], "ce score big.parquet, per value", per_value=0.1
        ),
        "calibrate": Case(
            "calibrate", [ce, "calibrate", big, "--format", "json"], [*score, big], "ce score"
        ),
        "calibrate-torchmetrics": Case(
            "calibrate-torchmetrics",
            [ce, "calibrate", big, "--format", "json"],
            [tm_py or sys.executable, str(PEERS / "torchmetrics_ece.py"), big],
            "pyarrow+torchmetrics ECE",
        ),
        "temperature": Case(
            "temperature",
            [ce, "calibrate", big, "--fit-temperature", "--format", "json"],
            [*score, big],
            "ce score",
        ),
        "csv": Case(
            "csv",
            [*score, str(DATA / "big.csv")],
            [sys.executable, str(PEERS / "pyarrow_csv_read.py"), str(DATA / "big.csv")],
            "pyarrow.csv.read_csv alone",
        ),
        "auc": Case(
            "auc", [*score, big, "--auc"], [*score, big, "--auc-bins", "1000"], "--auc-bins 1000"
        ),
        **ctr_cases(score, peer),
        **peer_cases(ce, peer),
        **startup_cases(ce),
    }


def ctr_cases(score: list[str], peer: str) -> dict[str, Case]:
    """50M binary rows in 20 shards (``make_data.py --only ctr``): ``ce score --loss bce``
    against pyarrow + torch ``BCEWithLogits`` (float32) and pyarrow + numpy (float64)."""
    ctr = str(DATA / "ctr")
    a = [*score, ctr, "--loss", "bce"]
    return {
        "ctr": Case(
            "ctr",
            a,
            [peer, str(PEERS / "torch_bce.py"), ctr],
            "pyarrow+torch BCE",
            agree=loss_agree,
        ),
        "ctr-numpy": Case(
            "ctr-numpy",
            a,
            [sys.executable, str(PEERS / "numpy_bce.py"), ctr],
            "pyarrow+numpy BCE (float64)",
            agree=loss_agree,
        ),
    }


def startup_cases(ce: str) -> dict[str, Case]:
    """``ce --help`` and ``ce score --help`` against ``import click`` under ce's interpreter
    (issue #15: ≤ 1.6×); ~50 ms each, so each side is the fastest of STARTUP_REPEATS runs."""
    click = [python_of(ce), "-c", "import click"]
    what = "python -c 'import click'"
    return {
        name: Case(name, [ce, *args], click, what, repeats=STARTUP_REPEATS, startup=True)
        for name, args in (("help", ["--help"]), ("score-help", ["score", "--help"]))
    }


def set_environ(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def environment(changes: Mapping[str, str | None]) -> Iterator[None]:
    """os.environ with ``changes`` (None: unset) for the runs inside, restored after."""
    saved = {name: os.environ.get(name) for name in changes}
    set_environ(changes)
    try:
        yield
    finally:
        set_environ(saved)


def compared(what: str, ce: float, peer: float, tolerance: float) -> str:
    verdict = "agree" if abs(ce - peer) <= tolerance else "DISAGREE"
    gap = f"|Δ| {abs(ce - peer):.2g} (≤ {tolerance:.2g}: {verdict})"
    return f"{what}: ce {ce:.7g}, peer {peer:.7g}, {gap}"


def temperature_agree(a: str, b: str) -> str:
    """The fitted T: ce's JSON against the LBFGS fit (float32 torch), to 1e-4."""
    ce_t, peer_t = json.loads(a)["temperature_fit"]["temperature"], json.loads(b)["temperature"]
    return compared("T", ce_t, peer_t, 1e-4 * ce_t)


def bootstrap_agree(a: str, b: str) -> str:
    """The loss difference to 1e-6 (relative); the 95 % interval's ends to 15 % of its width
    (ce resamples hashed row groups with Poisson weights, the peer rows: both are Monte Carlo)."""
    ci = next(c["ci"] for c in json.loads(a)["checks"] if c["metric"] == "loss")
    peer = json.loads(b)
    width = ci["high"] - ci["low"]
    parts = [compared("Δloss", ci["estimate"], peer["delta"], 1e-6 * abs(peer["delta"]))]
    parts += [compared(end, ci[end], peer[end], 0.15 * width) for end in ("low", "high")]
    return "; ".join(parts)


def loss_agree(a: str, b: str) -> str:
    """The mean loss: ce's JSON against the float32 torch script's, to 1e-5 (relative)."""
    ce_loss, peer_loss = json.loads(a)["loss"]["mean"], json.loads(b)["loss"]
    return compared("loss", ce_loss, peer_loss, 1e-5 * abs(peer_loss))


def peer_cases(ce: str, peer: str) -> dict[str, Case]:
    """Temperature fit, baseline bootstrap and sigmoid focal against scripts (issue #15)."""
    big, big_b = str(DATA / "big.parquet"), str(DATA / "big_b.parquet")
    ml = str(DATA / "multilabel.parquet")
    return {
        "temperature-torch": Case(
            "temperature-torch",
            [ce, "calibrate", big_b, "--fit-temperature", "--format", "json"],
            [peer, str(PEERS / "torch_temperature.py"), big_b],
            "torch LBFGS temperature fit",
            agree=temperature_agree,
        ),
        "check-bootstrap": Case(
            "check-bootstrap",
            [ce, "check", big, "--baseline", big_b, "--format", "json"],
            [peer, str(PEERS / "numpy_paired_bootstrap.py"), big, big_b],
            "pandas+numpy paired bootstrap",
            agree=bootstrap_agree,
        ),
        "focal-multilabel": Case(
            "focal-multilabel",
            [ce, "score", "--format", "json", ml, "--loss", "focal"],
            [peer, str(PEERS / "torch_sigmoid_focal.py"), ml],
            "torch sigmoid_focal_loss",
            agree=loss_agree,
        ),
    }


Run = tuple[float, float, float, str]  # bench_score.run_once: wall s, CPU s, peak MiB, stdout


def seconds_of(run: Run, reported: bool) -> float:
    if not reported:
        return run[0]
    last = run[3].strip().splitlines()[-1]
    return float(last.split("=", 1)[1])


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def kernel_in_use(ce: str) -> str:
    """The "CE kernel: …" line of ``ce --version`` (compiled, or numpy and why)."""
    out = run_once([ce, "--version"])[3]
    return next((line for line in out.splitlines() if line.startswith("CE kernel")), out.strip())


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def one_pair(case: Case, a_first: bool) -> tuple[float, float, float, float]:
    """A's and B's seconds and peaks in one pair: ``case.repeats`` runs of each, interleaved
    (``a_first``: A starts), the fastest run of each side; peaks are the highest."""
    order = (case.a, case.b) if a_first else (case.b, case.a)
    runs: tuple[list[Run], list[Run]] = ([], [])
    for _ in range(case.repeats):
        for cmd, side in zip(order, runs, strict=True):
            side.append(run_once(cmd))
    ra, rb = runs if a_first else runs[::-1]
    sa, sb = (min(seconds_of(r, case.reported) for r in side) for side in (ra, rb))
    return sa, sb, max(r[2] for r in ra), max(r[2] for r in rb)


def run_case(case: Case, pairs: int) -> dict[str, object]:
    """One warm-up of each, then `pairs` pairs in alternating order; per-pair ratios."""
    print(f"{case.name}: A = {' '.join(case.a)}", file=sys.stderr)
    print(f"{' ' * len(case.name)}  B = {' '.join(case.b)}", file=sys.stderr, flush=True)
    load_before = load()
    warm_a, warm_b = run_once(case.a), run_once(case.b)
    agreement = case.agree(warm_a[3], warm_b[3]) if case.agree else ""
    if agreement:
        print(f"{case.name}: {agreement}", file=sys.stderr, flush=True)
    ratios, a_s, b_s, a_peak, b_peak = [], [], [], 0.0, 0.0
    for i in range(pairs):
        sa, sb, pa, pb = one_pair(case, a_first=i % 2 == 0)
        ratios.append(sa / sb * case.per_value)
        a_s.append(sa)
        b_s.append(sb)
        a_peak, b_peak = max(a_peak, pa), max(b_peak, pb)
    return {
        "case": case.name,
        "versus": case.what,
        "ratio": statistics.median(ratios),
        "low": min(ratios),
        "high": max(ratios),
        "a": statistics.median(a_s),
        "b": statistics.median(b_s),
        "a_peak": a_peak,
        "b_peak": b_peak,
        "load": f"{load_before} → {load()}",
        "agree": agreement,
    }


def seconds(value: float) -> str:
    """Two decimals; three below 0.1 s (start-up cases)."""
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def table(results: Sequence[dict[str, object]], markdown: bool) -> str:
    head = ["case", "B", "ratio A/B (median)", "min–max", "A s", "B s", "A MiB", "B MiB", "load"]
    rows = [
        [
            str(r["case"]),
            str(r["versus"]),
            f"{r['ratio']:.2f}",
            f"{r['low']:.2f}–{r['high']:.2f}",
            seconds(float(r["a"])),  # type: ignore[arg-type]
            seconds(float(r["b"])),  # type: ignore[arg-type]
            f"{r['a_peak']:,.0f}",
            f"{r['b_peak']:,.0f}",
            str(r["load"]),
        ]
        for r in results
    ]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    return "\n".join(
        "  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)) for r in [head, *rows]
    )


def launcher(python: str, root: str) -> list[str]:
    """``python`` running the ce_cli under ``root``: ``root`` goes first on sys.path, ahead of
    the working directory that ``-m`` would put there (run from a checkout, ``-m ce_cli``
    would otherwise run that checkout)."""
    start = (
        f"import runpy, sys; sys.path.insert(0, {root!r}); "
        "runpy.run_module('ce_cli', run_name='__main__')"
    )
    return [python, "-c", start]


def against_baseline(case: Case, ce: str, baseline: str) -> Case | None:
    """The case with B = the same ce command run from the ce_cli under ``baseline`` (None when
    A is not ce). A start-up case runs A the same way from this checkout, so that both sides
    pay the same launcher."""
    if case.a[0] != ce:
        return None
    python = python_of(ce)
    root = str(Path(__file__).resolve().parent.parent)
    a = [*launcher(python, root), *case.a[1:]] if case.startup else case.a
    b = [*launcher(python, baseline), *case.a[1:]]
    return replace(case, a=a, b=b, what=f"ce at {baseline}", per_value=1.0, agree=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help="cases to run (default: all)")
    parser.add_argument("--pairs", type=int, default=5, help="timed pairs per case (>= 5)")
    parser.add_argument("--ce", help="the ce executable (default: next to this python, or PATH)")
    parser.add_argument("--baseline", help="a directory holding another ce_cli: B runs it")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="keep the environment's bytecode settings (default: cache .pyc files in a private "
        "directory, as an installed package has them)",
    )
    args = parser.parse_args(argv)
    ce = find_ce(args.ce)
    preferred = [os.environ.get("CE_BENCH_PEER_PYTHON", ""), "/work/venv-torch/bin/python"]
    torch_py = find_python(["torch", "pyarrow", "numpy"], preferred)
    tm_py = find_python(["torchmetrics", "torch", "pyarrow"], preferred)
    table_of = cases(ce, torch_py, tm_py)
    chosen = args.cases or list(table_of)
    if unknown := set(chosen) - set(table_of):
        parser.error(f"unknown case(s) {', '.join(sorted(unknown))}; choose from {list(table_of)}")
    results = []
    cache = None if args.no_bytecode else tempfile.mkdtemp(prefix="ce-bench-pyc-")
    bytecode = {"PYTHONDONTWRITEBYTECODE": None, "PYTHONPYCACHEPREFIX": cache}
    try:
        for name in chosen:
            case: Case | None = table_of[name]
            if args.baseline:
                case = against_baseline(table_of[name], ce, args.baseline)
            if case is not None:
                with environment(bytecode if cache else {}):
                    results.append(run_case(case, args.pairs))
    finally:
        if cache:
            shutil.rmtree(cache, ignore_errors=True)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{when}; {machine()}; {args.pairs} pairs after one warm-up; ratio = A / B per pair")
    pyc = "as the environment has it" if args.no_bytecode else "cached"
    print(f".pyc {pyc}; start-up cases: each side the fastest of {STARTUP_REPEATS} runs a pair")
    print(kernel_in_use(ce))
    print(table(results, args.markdown))
    for r in results:
        if r["agree"]:
            print(f"{r['case']}: {r['agree']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
