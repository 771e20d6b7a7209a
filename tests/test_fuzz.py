"""Hostile and malformed files through every command: ce answers 0, 1 or 2, never crashes.

For each generated file and option set, whatever the outcome:
  - the exit code is 0, 1 (only ``ce check``) or 2; no traceback, no "internal error";
  - an error is exactly one line on stderr and nothing on stdout;
  - no file is left next to ``-o`` but the output itself (and none at all on an error);
  - the input is unchanged;
  - no output (stdout, stderr, the ``-o`` file) carries a raw control character, and no line
    that the data injected (a name holding ``\\nINJECT`` or ``\\n::``) starts a line.

``CE_FUZZ_EXAMPLES`` sets the examples per test (default 40, a few seconds; try 2000 locally).
The whole module also runs once under ``prlimit --as=4000000000``: no input of a few KB makes
ce die of memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, SAMPLES, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("CE_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    derandomize=os.environ.get("CE_FUZZ_RANDOM") != "1",
)
# C0 controls but \t and \n, DEL, C1 controls, and the Unicode line/paragraph separators
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
INJECTED_LINE = re.compile(r"^(INJECT|::)", re.M)

HOSTILE = [
    "\nINJECT",
    "\n::add-mask::secret",
    "\r\n::set-output name=x::y",
    "\x1b]0;title\x07",
    "\x1b[31mred",
    "a|b",
    "<script>&]]>",
    "[bold]x[/bold]",
    "\x00nul",
    "\u2028sep",
    "\x85next",
    "",
]
names = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(max_codepoint=0x2030), max_size=6),
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-30, 30),
    st.integers(-5, 10**12),
)
COMMANDS = [
    ["weights"],
    ["score"],
    ["score", "--loss", "focal"],
    ["score", "--reduction", "none", "--format", "csv"],
    ["calibrate"],
    ["calibrate", "--strategy", "quantile", "--bins", "3"],
    ["check", "--max-loss", "1.5"],
    ["label-issues"],
    ["label-issues", "--filter-by", "both"],
]
FORMATS = [[], ["--format", "json"], ["--format", "csv"], ["--format", "markdown"]]
# options drawn at random on top of a command: some do not apply to it (a usage error must
# still be one line), some change the layout, the loss or the engine's chunking
OPTIONS = [
    ["--batch-size", "1"],
    ["--batch-size", "3"],
    ["--threads", "2"],
    ["--ignore-index", "0"],
    ["--inputs", "probs"],
    ["--inputs", "logits"],
    ["--temperature", "0.5"],
    ["--label-smoothing", "0.1"],
    ["--alpha", "balanced"],
    ["--pos-weight", "2"],
    ["--task", "binary"],
    ["--task", "multilabel"],
    ["--num-classes", "3"],
    ["--classes", "a,b"],
    ["--top", "0"],
    ["--where", "label=1"],
    ["--group-by", "label"],
    ["--on-invalid", "skip"],
    ["--id-col", "id"],
    ["--weight-col", "y"],
    ["--fit-temperature"],
    ["--bins", "1"],
]


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A CSV in ce's layout whose names, labels and values are drawn from hostile sets."""
    classes = draw(st.lists(names, min_size=1, max_size=4))
    header = [draw(st.sampled_from(["label", "y", draw(names)]))]
    prefix = draw(st.sampled_from(["logit_", "prob_", "p_", ""]))
    header += [prefix + c for c in classes]
    if draw(st.booleans()):
        header.append(draw(st.sampled_from(["id", draw(names)])))
    label = st.one_of(st.integers(-101, 7), st.sampled_from(classes), names)
    rows = draw(
        st.lists(
            st.tuples(label, st.lists(numbers, min_size=len(header) - 1, max_size=len(header) - 1)),
            max_size=6,
        )
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for y, values in rows:
        writer.writerow([y, *values])
    return out.getvalue().encode("utf-8", "surrogatepass")


def parquet_bytes(truncate: int | None) -> bytes:
    data = (SAMPLES / "multiclass.parquet").read_bytes()
    return data if truncate is None else data[: truncate % max(len(data), 1)]


def hostile_parquet(classes: list[str], labels: list[int]) -> bytes:
    cols = {"label": pa.array(labels, pa.int64())}
    for i, name in enumerate(classes):
        cols[f"logit_{name}#{i}"] = pa.array([float(i - j) for j in range(len(labels))])
    sink = io.BytesIO()
    pq.write_table(pa.table(cols), sink)
    return sink.getvalue()


def check_outcome(folder: Path, input_path: Path, before: str, args: list[str]) -> None:
    output = folder / "out.txt"
    result = run(*args)
    command = args[0]
    allowed = {0, 1, 2} if command == "check" else {0, 2}
    assert result.exit_code in allowed, (args, result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    texts = [result.stdout, result.stderr]
    if result.exit_code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("ce: error: "), result.stderr
        assert result.stdout == "", result.stdout
    leftovers = sorted(p.name for p in folder.iterdir() if p != input_path)
    expected = ["out.txt"] if "-o" in args and result.exit_code in (0, 1) else []
    assert leftovers == expected, (args, leftovers)
    if expected:
        texts.append(output.read_text(encoding="utf-8", errors="replace"))
        output.unlink()
    assert hashlib.sha256(input_path.read_bytes()).hexdigest() == before
    for text in texts:
        bad = RAW_CONTROL.search(text)
        assert bad is None, (args, repr(bad.group()), text[:2000])
        injected = INJECTED_LINE.search(text)
        assert injected is None, (args, text[:2000])


def exercise(
    content: bytes,
    suffix: str,
    command: list[str],
    fmt: list[str],
    to_file: bool,
    extra: list[list[str]] | None = None,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / f"in{suffix}"
        path.write_bytes(content)
        before = hashlib.sha256(content).hexdigest()
        args = [command[0], str(path), *command[1:]]
        if "--format" not in command:
            args += fmt
        args += [word for option in extra or [] for word in option]
        if to_file:
            args += ["-o", str(folder / "out.txt")]
        check_outcome(folder, path, before, args)


@FUZZ
@given(
    content=csv_files(),
    command=st.sampled_from(COMMANDS),
    fmt=st.sampled_from(FORMATS),
    to_file=st.booleans(),
    extra=st.lists(st.sampled_from(OPTIONS), max_size=3),
)
def test_hostile_csv(
    content: bytes, command: list[str], fmt: list[str], to_file: bool, extra: list[list[str]]
) -> None:
    exercise(content, ".csv", command, fmt, to_file, extra)


@FUZZ
@given(
    content=st.binary(max_size=400),
    suffix=st.sampled_from([".csv", ".parquet", ".jsonl", ".tsv", ".csv.gz", ".feather"]),
    command=st.sampled_from(COMMANDS),
)
def test_random_bytes(content: bytes, suffix: str, command: list[str]) -> None:
    exercise(content, suffix, command, [], False)


@FUZZ
@given(cut=st.integers(0, 10**6), command=st.sampled_from(COMMANDS))
def test_truncated_parquet(cut: int, command: list[str]) -> None:
    exercise(parquet_bytes(cut), ".parquet", command, [], False)


@FUZZ
@given(
    classes=st.lists(names, min_size=2, max_size=4),
    labels=st.lists(st.integers(-100, 5), min_size=1, max_size=5),
    command=st.sampled_from(COMMANDS),
    fmt=st.sampled_from(FORMATS),
)
def test_hostile_parquet_names(
    classes: list[str], labels: list[int], command: list[str], fmt: list[str]
) -> None:
    exercise(hostile_parquet(classes, labels), ".parquet", command, fmt, False)


@pytest.mark.skipif(os.environ.get("CE_FUZZ_INNER") == "1", reason="this is the inner run")
@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs util-linux prlimit")
def test_the_fuzz_suite_within_4_gb_of_address_space() -> None:
    env = {**os.environ, "CE_FUZZ_INNER": "1", "CE_FUZZ_EXAMPLES": str(min(EXAMPLES, 20))}
    proc = subprocess.run(
        [
            "prlimit",
            "--as=4000000000",
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            str(Path(__file__)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "passed" in proc.stdout and "MemoryError" not in proc.stdout
