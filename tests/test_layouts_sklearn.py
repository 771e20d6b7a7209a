"""Issue 12: the files scikit-learn and pandas users write, read without flags (or with the one
flag the error names), and the seed's label smoothing (``--smoothing-spread others``).

Values: tests/golden/layouts.json, written by tests/golden/make_layouts_golden.py with
scikit-learn's ``log_loss`` and the seed's formula in numpy."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, assert_user_error, run, run_json, sample
from test_check_schemas import validate

from ce_cli.core.loss_table import spread_smoothing

GOLDEN = json.loads((Path(__file__).parent / "golden" / "layouts.json").read_text())["cases"]


def score_json(*args: str) -> dict[str, Any]:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return run_json("score", *args)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_layouts_and_seed_smoothing_match_golden(case: dict[str, Any]) -> None:
    loss = score_json(*case["args"])["loss"]
    assert loss["mean"] == pytest.approx(case["expected"]["mean"], rel=1e-12)
    assert loss["sum"] == pytest.approx(case["expected"]["sum"], rel=1e-12)


# ---------------------------------------------------------------- columns named as the classes
def test_predict_proba_frame_notes_and_index_as_id() -> None:
    report = score_json("sample_data/sklearn_proba.csv")
    assert report["notes"][:3] == [
        "classes from the names of the prediction columns 0, 1, 2, 3, 4, 5, … (10 in all) "
        "(the labels of column y_true name them)",
        "integer labels matched to the integer suffixes of the prediction columns",
        "row id from pandas' index column (unnamed index column): a 0 … N-1 range in the first "
        "batch",
    ]
    top = report["top"][0]
    assert top["id"] == top["row"]  # the index is the row number


def test_parquet_index_is_the_id_and_names_are_the_classes() -> None:
    report = score_json("sample_data/sklearn_proba_names.parquet")
    assert [c["name"] for c in report["per_class"]] == ["malignant", "benign"]
    assert (
        "row id from pandas' index column __index_level_0__: unique in the first batch"
        in (report["notes"])
    )
    ids = pq.read_table(sample("sklearn_proba_names.parquet"))["__index_level_0__"].to_pylist()
    assert report["top"][0]["id"] == ids[report["top"][0]["row"]]


def test_repeated_index_is_not_the_id(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(",a,b,y_true\n0,0.2,0.8,b\n0,0.6,0.4,a\n")
    result = run("score", path, "--format", "json")
    report = json.loads(result.stdout)
    assert (
        "pandas' index column (unnamed index column) is not the row id: its values repeat"
        in (report["notes"])
    )
    assert report["top"][0]["id"] is None


def test_classes_option_orders_the_class_named_columns(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("y_true,b,a\na,0.2,0.8\nb,0.6,0.4\n")
    report = run_json("score", path, "--classes", "a,b")
    assert [c["name"] for c in report["per_class"]] == ["a", "b"]
    assert report["loss"]["sum"] == pytest.approx(-math.log(0.8) - math.log(0.6), rel=1e-12)


def test_weights_use_class_named_columns_and_ignore_others(write_csv) -> None:  # type: ignore[no-untyped-def]
    named = run_json("weights", write_csv(",dog,cat,y_true\n0,0.2,0.8,cat\n1,0.6,0.4,dog\n"))
    assert [c["name"] for c in named["classes"]] == ["dog", "cat"]  # column order, not sorted
    plain = run_json("weights", write_csv("label,a,b\ncat,1,2\ndog,3,4\n", "p.csv"))
    assert [c["name"] for c in plain["classes"]] == ["cat", "dog"]


# ---------------------------------------------------------------- hard predictions
def test_hard_predictions_are_checked_not_scored(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("y_true,y_pred,proba_0,proba_1\n0,0,0.9,0.1\n1,0,0.4,0.6\n1,1,0.3,0.7\n")
    report = run_json("score", path)
    assert (
        "hard predictions y_pred: agree with the argmax of the scores in 2 of 3 rows "
        "(1 differ); not scored"
    ) in report["notes"]
    assert report["hard_predictions"] == {"column": "y_pred", "rows": 3, "agree": 2, "differ": 1}
    assert any(
        "differ from the argmax of the scores in 1 of 3 rows" in w for w in report["warnings"]
    )
    # every row counts, whatever the batch size (not only the first batch)
    for size in ("1", "2"):
        again = run_json("score", path, "--batch-size", size)
        assert again["hard_predictions"] == report["hard_predictions"]
    assert report["loss"]["mean"] == pytest.approx(
        -sum(map(math.log, (0.9, 0.6, 0.7))) / 3, rel=1e-12
    )


def test_hard_predictions_only_is_an_error(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("y_true,y_pred\n0,1\n1,1\n")
    result = run("score", path)
    assert_user_error(result)
    assert result.stderr.strip() == (
        f"ce: error: {path}: column y_pred holds hard predictions (class ids or names: 1), not "
        "scores, and a loss needs scores; write model.predict_proba(X) (as proba_<class> "
        "columns) or decision_function(X) beside it, or pass --pred-cols with the score columns"
    )
    assert run("weights", path).exit_code == 0  # weights need no scores


def test_fractional_y_pred_is_still_a_score(write_csv) -> None:  # type: ignore[no-untyped-def]
    text = "label,{}\n0,0.2\n1,0.7\n1,0.4\n"
    as_pred = run_json("score", write_csv(text.format("y_pred")))
    as_score = run_json("score", write_csv(text.format("y_score"), "s.csv"))
    assert as_pred["loss"]["mean"] == as_score["loss"]["mean"]
    assert "column y_pred holds fractions: read as scores" in as_pred["notes"]


# ---------------------------------------------------------------- --pred-cols and class sets
def test_pred_cols_with_integer_labels_count_the_classes(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("y,a,b,c\n0,1,2,3\n2,0,0,1\n")
    report = run_json("score", path, "--pred-cols", "a,b,c")
    assert (
        "3 classes from the 3 --pred-cols columns (integer labels 0 … 2 index them in order)"
        in (report["notes"])
    )
    assert report["task"] == "multiclass"


def test_class_set_unknown_says_what_it_saw(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label,s\ncat,0.2\ndog,0.7\n")
    result = run("score", path, "--pred-cols", "s")
    assert result.stderr.strip() == (
        f"ce: error: {path}: the class set is unknown (string labels and 1 prediction column); "
        "pass --classes NEG,POS to say which class the column scores"
    )
    path = write_csv("label,a,b\ncat,0.2,0.8\ndog,0.7,0.3\n", "s.csv")
    result = run("score", path, "--pred-cols", "a,b")
    assert result.stderr.strip() == (
        f"ce: error: {path}: the string labels of column label (cat, dog) are not the names of "
        "the 2 --pred-cols columns (a, b); pass --classes with the class of each column, in "
        "column order"
    )


def test_no_layout_lists_columns_with_types_and_layouts(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(",label,x\n0,cat,0.5\n")
    result = run("score", path)
    assert_user_error(result)
    assert result.stderr.strip() == (
        f"ce: error: {path}: no prediction columns found (looked for logit_*, prob_*, proba_*, "
        "decision_function_*, … or columns named as the classes); the file has columns: "
        "(unnamed index column) (int64), label (string), x (double); layouts that work: one "
        "score column per class, in class order: --pred-cols x; columns named as the classes: "
        "--classes x; or name them logit_<class> / prob_<class> (no flag)"
    )


def test_class_named_columns_the_labels_do_not_name(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("y_true,a,b\n0,0.5,0.5\n2,0.1,0.9\n")
    result = run("score", path)
    assert_user_error(result, "(column y_true holds int labels 0, 2, which name no set of columns)")


# ---------------------------------------------------------------- 1-based labels
def test_one_based_labels_name_the_fix() -> None:
    result = run("score", sample("labels_1based.csv"))
    assert result.stderr.strip() == (
        f"ce: error: {sample('labels_1based.csv')}: column label holds labels 1 … 4 with none "
        "at 0, but the 4 prediction columns are classes 0 … 3: the labels look 1-based; pass "
        "--label-offset 1"
    )
    fixed = run_json("score", sample("labels_1based.csv"), "--label-offset", "1")
    assert "integer labels shifted by −1 (--label-offset)" in fixed["notes"]


def test_one_based_labels_with_class_named_columns(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(",0,1,2,y_true\n0,0.2,0.7,0.1,1\n1,0.6,0.3,0.1,3\n")
    assert_user_error(run("score", path), "the labels look 1-based; pass --label-offset 1")
    assert run("score", path, "--label-offset", "1").exit_code == 0


def test_a_later_label_c_hints_at_the_offset(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label,logit_0,logit_1\n1,0,1\n2,1,0\n")
    result = run("score", path, "--batch-size", "1")
    assert_user_error(result, "labels 1 … C look 1-based: pass --label-offset 1")


# ---------------------------------------------------------------- the seed's smoothing
def test_others_is_pytorch_spread_with_scaled_epsilon() -> None:
    assert spread_smoothing(0.1, "others", 5) == pytest.approx(0.125, rel=1e-15)
    assert spread_smoothing(0.1, "all", 5) == 0.1
    f = sample("multiclass.csv")
    others = run_json("score", f, "--label-smoothing", "0.1", "--smoothing-spread", "others")
    pytorch = run_json("score", f, "--label-smoothing", "0.125")
    assert others["loss"]["mean"] == pytest.approx(pytorch["loss"]["mean"], rel=1e-14)
    assert others["parameters"]["label_smoothing"] == 0.1
    validate(others, "score")
    assert others["parameters"]["smoothing_spread"] == "others"
    assert pytorch["parameters"]["smoothing_spread"] == "all"
    assert (
        "label smoothing ε = 0.125 spread over all classes (PyTorch): ε/K each"
        in (pytorch["notes"])
    )
    assert (
        "label smoothing ε = 0.1 spread over the other classes (seed 001 §5.1): 1−ε on the true "
        "class, ε/(K−1) on each other (= PyTorch's spread with ε' = 0.125)"
    ) in others["notes"]


def test_smoothing_spread_errors() -> None:
    f = sample("multiclass.csv")
    assert run("score", f, "--label-smoothing", "0.8", "--smoothing-spread", "others").stderr == (
        "ce: error: --smoothing-spread others needs --label-smoothing below (K−1)/K = 0.8 with "
        "K = 5 classes (at it the targets are uniform); not 0.8\n"
    )
    result = run(
        "score",
        sample("multilabel.csv"),
        "--label-smoothing",
        "0.1",
        "--smoothing-spread",
        "others",
    )
    assert result.stderr == (
        "ce: error: --smoothing-spread others needs --loss ce on one class per row, not "
        "multi-label data; drop it (PyTorch's spread: --smoothing-spread all)\n"
    )
    soft = run(
        "score",
        sample("soft_targets.parquet"),
        "--label-smoothing",
        "0.1",
        "--smoothing-spread",
        "others",
    )
    assert_user_error(soft, "not soft targets")
    assert run("score", f, "--smoothing-spread", "sideways").exit_code == 2


def test_check_takes_the_spread() -> None:
    result = run(
        "check",
        sample("multiclass.csv"),
        "--label-smoothing",
        "0.1",
        "--smoothing-spread",
        "others",
        "--max-loss",
        "5",
    )
    assert result.exit_code == 0, result.stderr


def test_unnamed_column_never_shown_empty(tmp_path: Path) -> None:
    path = tmp_path / "u.parquet"
    pq.write_table(pa.table({"": [0, 1], "y_true": [0, 1], "q": [0.5, 0.5]}), path)
    result = run("score", str(path), "--pred-cols", "nope")
    assert_user_error(result, "the file has columns: (unnamed index column), q")


def test_integer_named_features_are_not_classes(write_csv) -> None:  # type: ignore[no-untyped-def]
    """Columns 0 … 3 with labels 0, 1 only: probabilities (rows sum to 1) are 4 classes, a
    feature frame is not."""
    probs = write_csv(",0,1,2,3,y_true\n0,0.1,0.2,0.3,0.4,0\n1,0.4,0.3,0.2,0.1,1\n")
    assert len(run_json("score", probs)["per_class"]) == 4
    features = write_csv("0,1,2,3,y_true\n0.5,2.0,1.0,3.0,0\n1.5,0.5,2.5,0.1,1\n", "f.csv")
    assert_user_error(run("score", features), "no prediction columns found")
    assert [c["name"] for c in run_json("weights", features)["classes"]] == ["0", "1"]


def test_spread_vocabulary_is_one_enum() -> None:
    from importlib import resources

    from ce_cli.core import vocab

    assert tuple(m.value for m in vocab.SmoothingSpread) == vocab.SMOOTHING_SPREADS
    schema = json.loads(resources.files("ce_cli").joinpath("schemas", "score.json").read_text())
    spread = schema["properties"]["parameters"]["properties"]["smoothing_spread"]
    assert spread["enum"] == list(vocab.SMOOTHING_SPREADS)


def test_hard_predictions_by_integer_class_names(write_csv) -> None:  # type: ignore[no-untyped-def]
    """y_pred holds the class names 1 … 3 of logit_1 … logit_3, not positions 0 … 2."""
    path = write_csv("label,y_pred,logit_1,logit_2,logit_3\n1,1,2,0,0\n2,3,0,2,0\n3,3,0,0,2\n")
    report = run_json("score", path)
    assert report["hard_predictions"] == {"column": "y_pred", "rows": 3, "agree": 2, "differ": 1}
