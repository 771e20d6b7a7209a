"""Every user mistake: exit 2, one line naming file, column, row, value and the fix."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import assert_user_error, run, sample


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
