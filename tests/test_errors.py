"""Every user mistake: exit 2, one line naming file, column, row, value and the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run, run_json, sample


def test_missing_file() -> None:
    assert_user_error(run("weights", "nope.csv"), "nope.csv", "no such file")


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_text("label\n1\n")
    assert_user_error(run("weights", str(path)), "data.xlsx", "--input-format")


def test_no_label_column_lists_the_columns(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("a,b\n1,2\n")
    assert_user_error(
        run("weights", path), "no label column", "the file has columns: a, b", "--label-col"
    )


def test_label_col_not_found(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("a,b\n1,2\n")
    assert_user_error(run("weights", path, "--label-col", "y"), "'y' not found", "a, b")


def test_empty_file(write_csv) -> None:  # type: ignore[no-untyped-def]
    assert_user_error(run("weights", write_csv("")), "data.csv", "empty")


def test_header_only(write_csv) -> None:  # type: ignore[no-untyped-def]
    assert_user_error(run("weights", write_csv("label,prob\n")), "data.csv", "no data rows")


def test_null_label_names_row(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label,x\n1,1\n,2\n0,3\n")
    assert_user_error(run("weights", path), "data.csv", "column label", "row 2", "null")


def test_nan_label_names_row(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"label": pa.array([1.0, 0.0, float("nan")])}), path)
    assert_user_error(run("weights", str(path)), "d.parquet", "column label", "NaN", "row 3")


def test_non_numeric_weight(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label,w\n1,1\n0,abc\n")
    assert_user_error(run("weights", path, "--weight-col", "w"), "data.csv", "w", "abc")


def test_negative_weight(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label,w\n1,1\n0,-2\n")
    assert_user_error(run("weights", path, "--weight-col", "w"), "column w", "row 2", "-2")


def test_label_not_in_declared_classes(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label\ncat\ndog\nemu\n")
    assert_user_error(run("weights", path, "--classes", "cat,dog"), "'emu'", "row 3", "--classes")


def test_integer_label_outside_class_set(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label\n0\n1\n7\n")
    assert_user_error(
        run("weights", path, "--num-classes", "3"), "outside the class set", "row 3", ": 7"
    )


def test_negative_label_suggests_ignore_index(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label\n0\n-1\n")
    assert_user_error(run("weights", path), "row 2", "--ignore-index -1")


def test_non_integer_label(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label\n0\n0.5\n")
    assert_user_error(run("weights", path), "non-integer label 0.5", "row 2")


def test_malformed_csv(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label,x\n1,2\n0,3,4\n")
    assert_user_error(run("weights", path), "data.csv")


def test_truncated_parquet(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"label": list(range(100))}), good)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[:-40])
    assert_user_error(run("weights", str(bad)), "bad.parquet", "not a valid Parquet file")


def test_row_count_mismatch_with_labels_file(write_csv) -> None:  # type: ignore[no-untyped-def]
    preds = write_csv("logit_a,logit_b\n1,2\n3,4\n5,6\n", "p.csv")
    labels = write_csv("label\na\nb\n", "l.csv")
    assert_user_error(
        run("weights", preds, "--labels", labels), "p.csv has 3 rows", "l.csv has 2", "--on"
    )


def test_row_order_mismatch_detected_by_ids() -> None:
    assert_user_error(
        run("weights", sample("preds.csv"), "--labels", sample("labels.csv")),
        "not in the same row order",
        "--on id",
    )


def test_missing_key(write_csv) -> None:  # type: ignore[no-untyped-def]
    preds = write_csv("id,logit_a,logit_b\n1,1,2\n2,3,4\n9,5,6\n", "p.csv")
    labels = write_csv("id,label\n1,a\n2,b\n", "l.csv")
    assert_user_error(
        run("weights", preds, "--labels", labels, "--on", "id"), "1 rows", "not in", "9"
    )


def test_unused_label_key(write_csv) -> None:  # type: ignore[no-untyped-def]
    preds = write_csv("id,logit_a,logit_b\n1,1,2\n", "p.csv")
    labels = write_csv("id,label\n1,a\n2,b\n", "l.csv")
    assert_user_error(
        run("weights", preds, "--labels", labels, "--on", "id"), "l.csv", "1 rows", "2"
    )


def test_duplicate_key_in_labels(write_csv) -> None:  # type: ignore[no-untyped-def]
    preds = write_csv("id,logit_a,logit_b\n1,1,2\n2,3,4\n", "p.csv")
    labels = write_csv("id,label\n1,a\n2,b\n2,a\n", "l.csv")
    assert_user_error(
        run("weights", preds, "--labels", labels, "--on", "id"),
        "duplicated",
        "e.g. 2 appears 2 times",
    )


def test_duplicate_key_in_predictions(write_csv) -> None:  # type: ignore[no-untyped-def]
    preds = write_csv("id,logit_a,logit_b\n1,1,2\n1,3,4\n2,1,1\n", "p.csv")
    labels = write_csv("id,label\n1,a\n2,b\n", "l.csv")
    assert_user_error(
        run("weights", preds, "--labels", labels, "--on", "id"), "more than once", "1"
    )


def test_on_without_labels(write_csv) -> None:  # type: ignore[no-untyped-def]
    assert_user_error(run("weights", write_csv("label\n1\n"), "--on", "id"), "--labels")


def test_output_refuses_to_overwrite_input(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label\n1\n0\n", "in.csv")
    before = Path(path).read_text()
    assert_user_error(run("weights", path, "-o", path), "refusing to write over")
    assert Path(path).read_text() == before


def test_output_unknown_extension_and_missing_dir(tmp_path: Path, write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label\n1\n0\n")
    assert_user_error(run("weights", path, "-o", str(tmp_path / "w.xyz")), "extension")
    assert_user_error(run("weights", path, "-o", str(tmp_path / "no" / "w.json")), "directory")


def test_no_half_written_output_on_error(tmp_path: Path, write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label\n1\n0\n,\n")
    out = tmp_path / "w.json"
    assert_user_error(run("weights", path, "-o", str(out), "--batch-size", "1"))
    assert not out.exists() and list(tmp_path.glob(".w.json*")) == []


def test_bad_options(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label\n0\n1\n2\n")
    assert_user_error(run("weights", path, "--scheme", "effective", "--beta", "1"), "--beta")
    assert_user_error(run("weights", path, "--batch-size", "0"), "--batch-size")
    assert_user_error(run("weights", path, "--task", "binary"), "--task binary", "3 classes")
    assert_user_error(run("weights", path, "--task", "multilabel"), "multi-hot")
    assert_user_error(run("weights", path, "--classes", "a,b", "--num-classes", "3"), "disagrees")


def test_usage_errors_exit_2() -> None:
    result = run("weights")
    assert result.exit_code == 2 and "Missing argument" in result.stderr
    result = run("weights", sample("binary.csv"), "--scheme", "nope")
    assert result.exit_code == 2


def test_debug_shows_traceback() -> None:
    from click.testing import CliRunner

    from ce_cli.cli.main import cli
    from ce_cli.core.errors import CEError

    result = CliRunner().invoke(cli, ["--debug", "weights", "nope.csv"])
    assert isinstance(result.exception, CEError)


# ---------------------------------------------------------------------- issue 11: io limits
def one_line(result) -> str:  # type: ignore[no-untyped-def]
    """The error line without its 'ce: error: ' prefix (after the common checks)."""
    assert_user_error(result)
    return result.stderr.strip().removeprefix("ce: error: ")


def test_duplicate_label_column_in_csv(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label,label,prob_a\n0,1,0.3\n1,0,0.6\n")
    for command in ("weights", "score"):
        assert one_line(run(command, path)) == (
            f"{path}: column label appears 2 times; rename the copies so each column has its "
            "own name"
        )


def test_duplicate_prediction_column_in_parquet(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    columns = [pa.array([0, 1]), pa.array([0.2, 0.7]), pa.array([0.1, 0.3])]
    pq.write_table(pa.Table.from_arrays(columns, names=["label", "p_a", "p_a"]), path)
    assert one_line(run("score", str(path))) == (
        f"{path}: column p_a appears 2 times; rename the copies so each column has its own name"
    )


def test_duplicate_where_column_and_unused_duplicates(write_csv) -> None:  # type: ignore[no-untyped-def]
    """A duplicated column nobody reads is fine; one a --where names is the same error."""
    path = write_csv("label,x,x\n0,1,2\n1,3,4\n")
    assert run("weights", path).exit_code == 0
    assert one_line(run("weights", path, "--where", "x=1")).startswith(
        f"{path}: column x appears 2 times;"
    )


def test_huge_label_without_class_list(write_csv) -> None:  # type: ignore[no-untyped-def]
    """One label of 999999999 in a 2-row file would size a 10⁹-class count array."""
    path = write_csv("label\n999999999\n0\n")
    assert one_line(run("weights", path)) == (
        f"{path}: column label has label 999999999 at row 1, which implies 1000000000 classes, "
        "more than the 65536 allowed there without a class list; pass --num-classes K "
        "(labels 0 … K-1) or --classes with every class"
    )
    assert one_line(run("weights", path, "--num-classes", "10")) == (
        f"{path}: column label has 1 labels outside the class set (first at row 1: 999999999); "
        "classes are [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]; pass --num-classes or --classes with "
        "every class"
    )


def test_huge_label_exits_2_under_a_memory_limit(write_csv) -> None:  # type: ignore[no-untyped-def]
    import shutil
    import subprocess
    import sys

    import pytest

    prlimit = shutil.which("prlimit")
    ce = shutil.which("ce", path=str(Path(sys.executable).parent))
    if prlimit is None or ce is None:
        pytest.skip("needs prlimit (util-linux) and the ce script")
    path = write_csv("label\n999999999\n0\n", name="tiny.csv")
    done = subprocess.run(
        [prlimit, "--as=4000000000", ce, "weights", path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"ce: error: {path}: column label has label 999999999 at row 1")


def test_open_class_bound_grows_with_rows(write_csv) -> None:  # type: ignore[no-untyped-def]
    """Label v at row r needs v + 1 <= max(65536, 16·r) without a class list, whatever the
    batch size: 99999 at row 6250 (16·6250 = 100000) is fine, 100000 is not."""
    zeros = "0\n" * 6249
    fine = write_csv("label\n" + zeros + "99999\n", name="fine.csv")
    over = write_csv("label\n" + zeros + "100000\n", name="over.csv")
    for batch_size in ("7", "100000"):
        assert run("weights", fine, "--batch-size", batch_size, "--format", "json").exit_code == 0
        assert one_line(run("weights", over, "--batch-size", batch_size)) == (
            f"{over}: column label has label 100000 at row 6250, which implies 100001 classes, "
            "more than the 100000 allowed there without a class list; pass --num-classes K "
            "(labels 0 … K-1) or --classes with every class"
        )


def test_infinite_float_label(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"label": pa.array([1.0, float("inf")])}), path)
    assert one_line(run("weights", str(path))) == (
        f"{path}: column label has label inf at row 2, too large to be a class index; class "
        "labels must be integers 0 … C-1 or names"
    )


def test_soft_labels_with_a_negative_value(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label_a,label_b,prob_a,prob_b\n1.5,-0.5,0.5,0.5\n0.3,0.7,0.5,0.5\n")
    assert one_line(run("score", path)) == (
        f"{path}: label columns label_a … label_b are neither 0/1 (multi-label) nor class "
        "probabilities summing to 1 (row 1 sums to 1, smallest value -0.5); fix the labels or "
        "pass the right --label-col"
    )


def test_column_names_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"\x80label\n1\n")
    assert one_line(run("weights", str(path))) == (
        f"{path}: the column names are not UTF-8 text (byte 0x80 in a name); save the file as UTF-8"
    )


# ---------------------------------------------------------------------- issue 11: cli and OS
def _the_line(result) -> str:  # type: ignore[no-untyped-def]
    """The one stderr line of a user error, prefix included (after the common checks)."""
    assert_user_error(result)
    return result.stderr.rstrip("\n")


USAGE_ERRORS = [
    (
        ["score", "{f}", "--reduction", "avg"],
        "Invalid value for '--reduction': 'avg' is not one of 'mean', 'sum', 'none'",
    ),
    (
        ["score", "{f}", "--redution", "avg"],
        "No such option '--redution'. Did you mean '--reduction'?",
    ),
    (
        ["weights", "{f}", "--ignore-index", "x"],
        "Invalid value for '--ignore-index': 'x' is not a valid integer",
    ),
    (["calibrate"], "Missing argument 'FILE...'"),
    (["scre"], "No such command 'scre'. Did you mean 'score'?"),
    (["--bogus", "weights"], "No such option '--bogus'"),
    *(
        (
            [command, "{f}", "--format", "yaml"],
            "Invalid value for '--format': 'yaml' is not one of 'table', 'json', 'csv', "
            "'markdown', 'html'",
        )
        for command in ("weights", "score", "calibrate", "check")
    ),
]


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS)
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    """click's Usage / Try / Error become one line (its "Did you mean" hint kept), exit 2."""
    args = [a.format(f=sample("multiclass.csv")) for a in args]
    assert _the_line(run(*args)) == f"ce: error: {message}"


RANGE_ERRORS = [
    (["weights", "--threads", "-3"], "'--threads': -3 is not in the range 0<=x<=64"),
    (["weights", "--threads", "100000"], "'--threads': 100000 is not in the range 0<=x<=64"),
    (["calibrate", "--bins", "100000000"], "'--bins': 100000000 is not in the range 1<=x<=10000"),
    (["check", "--bins", "0", "--max-ece", "1"], "'--bins': 0 is not in the range 1<=x<=10000"),
    (["weights", "--beta", "1"], "'--beta': 1.0 is not in the range 0.0<=x<1.0"),
    (["score", "--gamma", "-1"], "'--gamma': -1.0 is not in the range x>=0.0"),
    (
        ["score", "--label-smoothing", "1"],
        "'--label-smoothing': 1.0 is not in the range 0.0<=x<1.0",
    ),
    (["score", "--top", "-1"], "'--top': -1 is not in the range x>=0"),
    (["weights", "--batch-size", "0"], "'--batch-size': 0 is not in the range x>=1"),
    (["weights", "--num-classes", "0"], "'--num-classes': 0 is not in the range 1<=x<=16777216"),
    (["score", "--temperature", "0"], "'--temperature': must be a finite number > 0, not 0"),
    (
        ["calibrate", "--temperature", "nan"],
        "'--temperature': must be a finite number > 0, not nan",
    ),
    (
        ["check", "--temperature", "-inf", "--max-loss", "1"],
        "'--temperature': must be a finite number > 0, not -inf",
    ),
]


@pytest.mark.parametrize(("args", "message"), RANGE_ERRORS)
def test_click_checks_the_ranges(args: list[str], message: str) -> None:
    """Out-of-range numbers are usage errors before any file is read (no ValueError, no
    "can't start new thread", no "resolution must be …")."""
    command, *rest = args
    result = run(command, sample("multiclass.csv"), *rest)
    assert _the_line(result) == f"ce: error: Invalid value for {message}"


def test_temperature_from_a_json_file(tmp_path: Path) -> None:
    """--temperature FILE.json: read once, checked like a number; a long comma text is not a
    file name (no 'File name too long')."""
    f = sample("multiclass.csv")
    negative, keyless, text = tmp_path / "neg.json", tmp_path / "keyless.json", tmp_path / "t.json"
    negative.write_text('{"temperature": -2}')
    keyless.write_text('{"t": 2}')
    text.write_text('{"temperature": "2"}')
    prefix = "ce: error: Invalid value for '--temperature': "
    assert _the_line(run("score", f, "--temperature", str(negative))) == (
        f"{prefix}must be a finite number > 0, not -2 (from {negative})"
    )
    assert _the_line(run("calibrate", f, "--temperature", str(keyless))) == (
        f"{prefix}{keyless}: no 'temperature' key (ce calibrate --save-temperature)"
    )
    assert _the_line(run("calibrate", f, "--temperature", str(text))) == (
        f"{prefix}{text}: 'temperature' is '2', not a number"
    )
    long = "1," * 200
    assert _the_line(run("score", f, "--temperature", long)) == (
        f"{prefix}'{long}' is not a number nor a readable JSON file (File name too long)"
    )
    good = tmp_path / "good.json"
    good.write_text('{"temperature": 2.5, "passes": 4}')
    assert run_json("calibrate", f, "--temperature", str(good))["temperature"] == 2.5


def _ce(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``python -m ce_cli ARGS`` in a process of its own (real stdin/stdout file descriptors)."""
    return subprocess.run([sys.executable, "-m", "ce_cli", *args], text=True, **kwargs)


def _os_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_is_one_line_naming_the_target() -> None:
    f = sample("multiclass.csv")
    before = os.stat("/dev/full")
    err = subprocess.PIPE
    to_file = _ce("weights", f, "-o", "/dev/full", "--format", "json", stderr=err)
    assert _os_error(to_file) == "ce: error: -o /dev/full: cannot write: No space left on device"
    assert os.stat("/dev/full").st_rdev == before.st_rdev  # written into, never replaced
    with open("/dev/full", "w") as full:
        for args in (["weights", f], ["score", f, "--reduction", "none", "--format", "csv"]):
            proc = _ce(*args, stdout=full, stderr=err)
            assert _os_error(proc) == "ce: error: stdout: cannot write: No space left on device"
    saved = _ce("calibrate", f, "--fit-temperature", "--save-temperature", "/dev/full", stderr=err)
    assert _os_error(saved) == (
        "ce: error: --save-temperature /dev/full: cannot write: No space left on device"
    )


def test_closed_stdout_and_stdin_are_one_line() -> None:
    f = sample("multiclass.csv")
    closed_out = _ce(
        "weights",
        f,
        "--format",
        "json",
        stdout=None,
        stderr=subprocess.PIPE,
        pass_fds=(),
        preexec_fn=lambda: os.close(1),
    )
    assert _os_error(closed_out) == "ce: error: stdout: closed; pass -o FILE, or leave stdout open"
    closed_in = _ce(
        "weights",
        "-",
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        preexec_fn=lambda: os.close(0),
    )
    assert _os_error(closed_in) == (
        "ce: error: -: stdin is closed; pipe the data in, or pass a file name"
    )


def test_read_only_directory_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-o into a read-only place: the path and the system's reason, no temp file left."""
    import errno
    import tempfile

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / ".w.json.x1"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = tmp_path / "w.json"
    assert _the_line(run("weights", sample("multiclass.csv"), "-o", str(out))) == (
        f"ce: error: -o {out}: cannot write: Read-only file system"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_check_outputs_on_a_full_or_closed_stdout_are_one_line() -> None:
    """ce check writes through the same guarded paths as the other commands."""
    f = sample("multiclass.csv")
    err = subprocess.PIPE
    before = os.stat("/dev/full")
    with open("/dev/full", "w") as full:
        proc = _ce("check", f, "--max-loss", "5", stdout=full, stderr=err)
    assert _os_error(proc) == "ce: error: stdout: cannot write: No space left on device"
    for flag in ("-o", "--junit"):
        proc = _ce("check", f, "--max-loss", "5", flag, "/dev/full", "--format", "json", stderr=err)
        assert (
            _os_error(proc) == f"ce: error: {flag} /dev/full: cannot write: No space left on device"
        )
    assert os.stat("/dev/full").st_rdev == before.st_rdev  # written into, never replaced
    closed = _ce("check", f, "--max-loss", "5", stderr=err, preexec_fn=lambda: os.close(1))
    assert _os_error(closed) == "ce: error: stdout: closed; pass -o FILE, or leave stdout open"


@pytest.mark.parametrize("threads", [-3, 100_000])
def test_library_threads_are_bounded(threads: int) -> None:
    from ce_cli import InputOptions, compute_weights
    from ce_cli.core.errors import CEError

    with pytest.raises(
        CEError, match=rf"^--threads must be in 0 … 64 \(0: every core\), not {threads}$"
    ):
        compute_weights(InputOptions(sample("multiclass.csv"), threads=threads))


def test_class_count_a_user_asks_for_is_bounded() -> None:
    from ce_cli import InputOptions, LabelOptions, compute_weights
    from ce_cli.core.errors import CEError

    huge = LabelOptions(num_classes=10**12)
    with pytest.raises(CEError, match=r"^--num-classes must be in 1 … 16777216, not 10{12}$"):
        compute_weights(InputOptions(sample("multiclass.csv"), label=huge))
    line = _the_line(run("weights", sample("multiclass.csv"), "--num-classes", str(10**12)))
    assert "--num-classes" in line and "16777216" in line
