"""`ce score`: invariants, per-row output, pitfalls and bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run, sample

from ce_cli.engine.loss_sums import LossAccumulator, LossSetup
from ce_cli.io.batch import Batch
from ce_cli.io.dataset import InputOptions
from ce_cli.report.score import ScoreOptions, compute_score

ANIMALS = ["cat", "dog", "bird", "fish", "horse"]


def score(*args: str) -> dict[str, Any]:
    result = run("score", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def assert_classes_close(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys() and x["name"] == y["name"]
        for key, value in x.items():
            if isinstance(value, float):
                assert value == pytest.approx(y[key], rel=1e-10), (x["name"], key)
            else:
                assert value == y[key], (x["name"], key)


def write_parquet(path: Path, **columns: Any) -> str:
    pq.write_table(pa.table(columns), path)
    return str(path)


# ---------------------------------------------------------------------- invariants
CASES = [
    ["multiclass.csv"],
    ["multiclass.parquet", "--weight-col", "weight", "--alpha", "1,2,0.5,3,1"],
    ["binary.csv", "--loss", "focal"],
    ["multilabel.csv", "--pos-weight", "balanced"],
    ["soft_targets.parquet", "--label-smoothing", "0.1"],
    ["segmentation_ignore.csv", "--alpha", "0.5,1,2,4"],
]


@pytest.mark.parametrize("args", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("batch_size", ["1", "7", "1000", "100000"])
def test_batch_size_does_not_change_the_result(args: list[str], batch_size: str) -> None:
    base = score(sample(args[0]), *args[1:])
    other = score(sample(args[0]), *args[1:], "--batch-size", batch_size)
    assert other["loss"]["mean"] == pytest.approx(base["loss"]["mean"], rel=1e-12)
    assert other["loss"]["sum"] == pytest.approx(base["loss"]["sum"], rel=1e-12)
    assert_classes_close(other["per_class"], base["per_class"])
    assert [t["row"] for t in other["top"]] == [t["row"] for t in base["top"]]
    assert other["accuracy"] == base["accuracy"]


def test_row_order_does_not_change_the_result(tmp_path: Path) -> None:
    df = pd.read_csv(sample("multiclass.csv"))
    df.sample(frac=1.0, random_state=5).to_csv(tmp_path / "shuffled.csv", index=False)
    a, b = score(sample("multiclass.csv")), score(str(tmp_path / "shuffled.csv"))
    assert a["loss"]["mean"] == pytest.approx(b["loss"]["mean"], rel=1e-12)
    assert_classes_close(a["per_class"], b["per_class"])
    assert {t["id"] for t in a["top"]} == {t["id"] for t in b["top"]}


def test_accumulator_merge_equals_one_pass() -> None:
    rng = np.random.default_rng(1)
    n, c = 500, 4
    logits = rng.normal(size=(n, c)) * 3
    target = rng.integers(0, c, n)
    weight = rng.uniform(0.5, 2, n)

    def batch(lo: int, hi: int) -> Batch:
        return Batch(
            hi - lo,
            lo,
            target[lo:hi],
            np.ones(hi - lo, bool),
            0,
            0,
            preds=logits[lo:hi],
            sample_weight=weight[lo:hi],
        )

    setup = LossSetup(
        loss="ce",
        geometry="softmax",
        inputs="logits",
        n_classes=c,
        n_cols=c,
        target_kind="index",
        class_weight=np.array([1.0, 2.0, 0.5, 1.0]),
        label_smoothing=0.1,
        top_k=5,
    )
    whole = LossAccumulator(setup)
    whole.update(batch(0, n))
    parts = [LossAccumulator(setup) for _ in range(3)]
    for acc, (lo, hi) in zip(parts, [(0, 123), (123, 377), (377, n)], strict=True):
        acc.update(batch(lo, hi))
    merged = parts[2].merge(parts[0]).merge(parts[1])
    for name in ("loss_sum", "denom_sum", "plain_sum", "correct", "sample_mass"):
        assert getattr(merged, name) == pytest.approx(getattr(whole, name), rel=1e-12), name
    np.testing.assert_allclose(merged.class_loss, whole.class_loss, rtol=1e-12)
    np.testing.assert_array_equal(merged.top.rows, whole.top.rows)


def test_probs_and_logits_paths_agree(tmp_path: Path) -> None:
    df = pd.read_csv(sample("multiclass.csv"))
    logits = df[[f"logit_{c}" for c in ANIMALS]].to_numpy()
    probs = pd.DataFrame(softmax(logits), columns=[f"prob_{c}" for c in ANIMALS])
    pd.concat([df[["label"]], probs], axis=1).to_csv(
        tmp_path / "p.csv", index=False, float_format="%.17g"
    )
    a, b = score(sample("multiclass.csv")), score(str(tmp_path / "p.csv"))
    assert a["loss"]["mean"] == pytest.approx(b["loss"]["mean"], rel=1e-9)
    assert b["inputs"]["kind"] == "probs" and a["inputs"]["kind"] == "logits"


def test_shifting_logits_per_row_leaves_ce_unchanged(tmp_path: Path) -> None:
    df = pd.read_csv(sample("multiclass.csv"))
    shift = np.random.default_rng(2).normal(size=len(df)) * 100
    for c in ANIMALS:
        df[f"logit_{c}"] = df[f"logit_{c}"] + shift
    df.to_csv(tmp_path / "s.csv", index=False, float_format="%.17g")
    base = score(sample("multiclass.csv"))["loss"]["mean"]
    assert score(str(tmp_path / "s.csv"))["loss"]["mean"] == pytest.approx(base, rel=1e-9)


def test_huge_logits_give_finite_exact_losses(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "h.parquet", label=[1, 0], logit_a=[1e4, 1e4], logit_b=[-1e4, -1e4]
    )
    report = score(path)
    assert report["loss"]["sum"] == pytest.approx(2e4)  # row 1: 2e4, row 2: 0
    binary = write_parquet(tmp_path / "b.parquet", label=[1, 0], logit=[-1e4, 1e4])
    assert score(binary)["loss"]["mean"] == pytest.approx(1e4)


@pytest.mark.parametrize("dtype", [pa.float16(), pa.float32(), pa.float64()])
def test_float_widths_are_accepted(tmp_path: Path, dtype: pa.DataType) -> None:
    df = pd.read_csv(sample("multiclass.csv"))
    cols = {f"logit_{c}": pa.array(df[f"logit_{c}"].to_numpy()).cast(dtype) for c in ANIMALS}
    path = write_parquet(tmp_path / "w.parquet", label=df["label"].tolist(), **cols)
    base = score(sample("multiclass.csv"))["loss"]["mean"]
    tol = {pa.float16(): 2e-3, pa.float32(): 1e-6, pa.float64(): 1e-12}[dtype]
    assert score(path)["loss"]["mean"] == pytest.approx(base, rel=tol)


def test_library_api_returns_a_report() -> None:
    report = compute_score(InputOptions(sample("binary.csv")), ScoreOptions(loss="focal"))
    assert report.loss_name == "focal" and report.task == "binary"
    assert report.to_dict()["loss"]["value"] == report.mean


# ---------------------------------------------------------------------- report content
def test_report_fields_and_weighted_conventions() -> None:
    report = score(sample("multiclass.csv"), "--alpha", "1,2,0.5,3,1")
    for key in (
        "schema_version",
        "task",
        "loss",
        "n_samples",
        "n_used",
        "inputs",
        "accuracy",
        "normalized_cross_entropy",
        "per_class",
        "top",
        "warnings",
    ):
        assert key in report
    other = report["loss"]["other_convention"]
    assert other["label"] == "Σw·l/N"
    assert report["loss"]["sum"] / report["n_used"] == pytest.approx(other["value"])
    assert sum(c["loss_share"] for c in report["per_class"]) == pytest.approx(1.0)
    assert [c["name"] for c in report["per_class"]] == ANIMALS
    assert report["inputs"]["decided_by"] == "the column name logit_*"
    assert score(sample("multiclass.csv"))["loss"].get("other_convention") is None


def test_normalized_cross_entropy_binary_matches_he_et_al() -> None:
    df = pd.read_csv(sample("binary.csv"))
    y, z = df["label"].to_numpy(), df["logit"].to_numpy()
    p = 1 / (1 + np.exp(-z))
    nll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    ctr = y.mean()
    expected = nll / -(ctr * np.log(ctr) + (1 - ctr) * np.log(1 - ctr))
    assert score(sample("binary.csv"))["normalized_cross_entropy"] == pytest.approx(expected)


def test_top_rows_are_the_highest_losses() -> None:
    report = score(
        sample("preds.csv"), "--labels", sample("labels.csv"), "--on", "id", "--top", "3"
    )
    rows = run(
        "score",
        sample("preds.csv"),
        "--labels",
        sample("labels.csv"),
        "--on",
        "id",
        "--reduction",
        "none",
        "--format",
        "csv",
    ).stdout
    table = pd.read_csv(io.StringIO(rows)).sort_values("loss", ascending=False).head(3)
    assert [t["id"] for t in report["top"]] == table["id"].tolist()
    assert [t["loss"] for t in report["top"]] == pytest.approx(table["loss"].tolist())
    assert all(t["label"] in ANIMALS and 0 < t["p_true"] < 1 for t in report["top"])


def test_alpha_from_weights_json_equals_balanced(tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    assert run("weights", sample("multiclass.csv"), "-o", str(out)).exit_code == 0
    a = score(sample("multiclass.csv"), "--alpha", str(out))
    b = score(sample("multiclass.csv"), "--alpha", "balanced")
    assert a["loss"]["mean"] == pytest.approx(b["loss"]["mean"], rel=1e-12)


# ---------------------------------------------------------------------- --reduction none
def test_reduction_none_csv_to_stdout() -> None:
    result = run(
        "score", sample("segmentation_ignore.csv"), "--reduction", "none", "--format", "csv"
    )
    rows = pd.read_csv(io.StringIO(result.stdout))
    assert list(rows.columns) == ["row", "id", "label", "predicted", "p_true", "loss"]
    mean = score(sample("segmentation_ignore.csv"))["loss"]["mean"]
    assert len(rows) == 1901 and rows["loss"].mean() == pytest.approx(mean, rel=1e-12)
    assert "-100" in result.stderr  # the ignored-rows warning goes to stderr


def test_reduction_none_multilabel_parquet(tmp_path: Path) -> None:
    out = tmp_path / "rows.parquet"
    result = run("score", sample("multilabel.csv"), "--reduction", "none", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    rows = pq.read_table(out).to_pandas()
    assert len(rows) == 2000 and "loss_person" in rows.columns
    mean = score(sample("multilabel.csv"))["loss"]["mean"]
    per_label = rows[[c for c in rows.columns if c.startswith("loss_")]].to_numpy()
    assert per_label.mean() == pytest.approx(mean, rel=1e-12)
    np.testing.assert_allclose(per_label.mean(axis=1), rows["loss"], rtol=1e-12)


def test_reduction_none_on_a_terminal_shows_a_head() -> None:
    out = run("score", sample("multiclass.csv"), "--reduction", "none").stdout
    assert "first 20 of 4000 rows" in out and "p_true" in out


# ---------------------------------------------------------------------- pitfalls
def test_probabilities_passed_as_logits_warn(tmp_path: Path) -> None:
    table = pq.read_table(sample("multiclass.parquet"))
    renamed = table.rename_columns([c.replace("prob_", "logit_") for c in table.column_names])
    pq.write_table(renamed, tmp_path / "x.parquet")
    warnings = score(str(tmp_path / "x.parquet"))["warnings"]
    assert any("look like probabilities" in w and "--inputs probs" in w for w in warnings)


def test_classes_with_no_rows_are_listed_shortened(tmp_path: Path) -> None:
    """50 classes, rows only in 0 and 1: the warning names 20 empty classes and counts the rest."""
    logits = np.zeros((4, 50))
    path = write_parquet(
        tmp_path / "wide.parquet",
        label=["c0", "c1", "c0", "c1"],
        **{f"logit_c{j}": logits[:, j] for j in range(50)},
    )
    (warning,) = [w for w in score(path)["warnings"] if "classes with no rows" in w]
    assert warning == (
        "classes with no rows: "
        + ", ".join(f"c{j}" for j in range(2, 22))
        + ", … (28 more) (their recall is undefined)"
    )


def test_double_sigmoid_and_inverted_scores_warn(tmp_path: Path) -> None:
    df = pd.read_csv(sample("binary.csv"))
    twice = 1 / (1 + np.exp(-1 / (1 + np.exp(-df["logit"].to_numpy()))))
    path = write_parquet(tmp_path / "d.parquet", label=df["label"].tolist(), prob=twice)
    assert any("sigmoid applied twice" in w for w in score(path)["warnings"])
    flipped = write_parquet(
        tmp_path / "f.parquet", label=df["label"].tolist(), logit=(-df["logit"]).tolist()
    )
    assert any("positives score lower" in w for w in score(flipped)["warnings"])


def test_softmax_on_multilabel_warns(tmp_path: Path) -> None:
    df = pd.read_csv(sample("multilabel.csv"))
    tags = [c[len("logit_") :] for c in df.columns if c.startswith("logit_")]
    probs = softmax(df[[f"logit_{t}" for t in tags]].to_numpy())
    cols = {f"label_{t}": df[f"label_{t}"].tolist() for t in tags}
    cols |= {f"prob_{t}": probs[:, i] for i, t in enumerate(tags)}
    report = score(write_parquet(tmp_path / "m.parquet", **cols))
    assert any("softmax outputs on a multi-label task" in w for w in report["warnings"])


def test_one_based_labels_and_exact_probabilities_warn(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "o.parquet",
        label=[1, 2, 3, 1],
        prob_0=[0.1, 0.0, 0.2, 0.0],
        prob_1=[0.6, 0.5, 0.2, 1.0],
        prob_2=[0.2, 0.5, 0.1, 0.0],
        prob_3=[0.1, 0.0, 0.5, 0.0],
    )
    warnings = score(path)["warnings"]
    assert any("1-based" in w for w in warnings)
    assert any("exactly 0 or 1" in w for w in warnings)


def test_rows_not_summing_to_one_warn_and_are_not_renormalised(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "r.parquet", label=[0, 1], prob_a=[0.2, 0.2], prob_b=[0.3, 0.3])
    report = score(path)
    assert any("do not sum to 1" in w for w in report["warnings"])
    # scikit-learn >= 1.5: 1.406705 (renormalising would give 0.713558)
    assert report["loss"]["mean"] == pytest.approx(1.406705, rel=1e-6)


# ---------------------------------------------------------------------- bad input
def test_nan_predictions_error_or_skip(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "n.parquet",
        label=[0, 1, 0, 1],
        logit_a=[1.0, float("nan"), 0.5, 2.0],
        logit_b=[0.0, 1.0, np.inf, 1.0],
    )
    assert_user_error(
        run("score", path), "n.parquet", "2 rows", "NaN", "row 2", "logit_a", "--on-invalid skip"
    )
    report = score(path, "--on-invalid", "skip")
    assert report["n_used"] == 2 and report["n_invalid_skipped"] == 2
    assert any("skipped" in w for w in report["warnings"])
    clean = write_parquet(
        tmp_path / "c.parquet", label=[0, 1], logit_a=[1.0, 2.0], logit_b=[0.0, 1.0]
    )
    assert report["loss"]["mean"] == pytest.approx(score(clean)["loss"]["mean"])


def test_probabilities_outside_unit_interval(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "p.parquet", label=[0, 1], score_a=[0.2, 1.7], score_b=[0.8, 0.3]
    )
    assert_user_error(
        run("score", path, "--inputs", "probs"), "score_a", "1.7", "row 2", "--inputs logits"
    )


def test_later_batch_contradicting_probs_decision(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "l.parquet",
        label=[0, 1, 0, 1],
        score_a=[0.2, 0.3, 1.5, 0],
        score_b=[0.8, 0.7, 0.1, 1],
    )
    assert_user_error(
        run("score", path, "--batch-size", "2"), "outside [0, 1]", "row 3", "--inputs logits"
    )


def test_option_shapes_and_values() -> None:
    f = sample("multiclass.csv")
    assert_user_error(run("score", f, "--alpha", "1,2,3"), "3 weights for 5 classes")
    assert_user_error(run("score", f, "--alpha", "abc"), "--alpha", "abc")
    assert_user_error(run("score", f, "--gamma", "-1"), "--gamma")
    assert_user_error(run("score", f, "--temperature", "0"), "--temperature")
    assert_user_error(run("score", f, "--label-smoothing", "1"), "--label-smoothing")
    assert_user_error(run("score", f, "--pos-weight", "2"), "--pos-weight")
    assert_user_error(run("score", sample("multilabel.csv"), "--loss", "ce"), "multi-label")
    assert_user_error(
        run("score", sample("binary.csv"), "--loss", "focal", "--alpha", "2"), "one α in [0, 1]"
    )
    assert_user_error(
        run("score", sample("multilabel.csv"), "--pos-weight", "1,2"), "2 values for 6"
    )


def test_label_not_a_class_and_all_rows_ignored(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label,logit_cat,logit_dog\ncat,1,2\nemu,0,1\n")
    assert_user_error(run("score", path), "'emu'", "row 2")
    ignored = write_csv("label,logit_a,logit_b\n-100,1,2\n-100,0,1\n", "i.csv")
    assert_user_error(run("score", ignored), "mean loss is undefined")


def test_no_prediction_columns(write_csv) -> None:  # type: ignore[no-untyped-def]
    assert_user_error(
        run("score", write_csv("label,x\n1,2\n")), "no prediction columns", "--pred-cols"
    )


def test_reduction_none_error_leaves_no_file(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "n.parquet", label=[0, 1], logit_a=[1.0, float("nan")], logit_b=[0.0, 1.0]
    )
    out = tmp_path / "rows.csv"
    assert_user_error(run("score", path, "--reduction", "none", "-o", str(out)))
    assert not out.exists() and list(tmp_path.glob(".rows*")) == []


def test_row_argmax_matches_numpy_on_both_memory_orders() -> None:
    from ce_cli.engine.loss_sums import row_argmax

    rng = np.random.default_rng(4)
    x = rng.integers(0, 4, size=(1000, 7)).astype(np.float32)  # many ties: first index wins
    expected = np.argmax(x, axis=1)
    np.testing.assert_array_equal(row_argmax(np.asfortranarray(x)), expected)
    np.testing.assert_array_equal(row_argmax(np.ascontiguousarray(x)), expected)


def test_integer_labels_match_integer_column_suffixes(tmp_path: Path) -> None:
    one_based = write_parquet(
        tmp_path / "o.parquet",
        label=[1, 3, 2],
        logit_1=[2.0, 0.0, 0.0],
        logit_2=[0.0, 0.0, 2.0],
        logit_3=[0.0, 2.0, 0.0],
    )
    report = score(one_based)
    assert report["accuracy"] == 1.0 and [c["name"] for c in report["per_class"]] == ["1", "2", "3"]
    bad = write_parquet(
        tmp_path / "b.parquet", label=[1, 0], logit_1=[2.0, 0.0], logit_2=[0.0, 1.0]
    )
    assert_user_error(run("score", bad), "outside the class set", "row 2")


# ---------------------------------------------------------------------- temperature on probs
@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_temperature_applies_to_probabilities(tmp_path: Path, temperature: float) -> None:
    """Probabilities p scored at T equal the logits log p (softmax) or logit(p) (one column)
    scored at T: T is never silently ignored (issue 11; PyTorch values in score.json)."""
    rng = np.random.default_rng(5)
    p = softmax(rng.normal(0, 2, (50, 3)))
    y = rng.integers(0, 3, 50)
    probs = write_parquet(
        tmp_path / "p.parquet", label=y, **{f"prob_{k}": p[:, k] for k in range(3)}
    )
    logs = write_parquet(
        tmp_path / "l.parquet", label=y, **{f"logit_{k}": np.log(p[:, k]) for k in range(3)}
    )
    t = str(temperature)
    got, want = score(probs, "--temperature", t), score(logs, "--temperature", t)
    assert got["loss"]["mean"] == pytest.approx(want["loss"]["mean"], rel=1e-12)
    assert got["loss"]["mean"] != pytest.approx(score(probs)["loss"]["mean"], rel=1e-3)
    assert got["parameters"]["temperature"] == temperature
    q, yb = p[:, 0], (y == 0).astype(np.int64)
    one = write_parquet(tmp_path / "b.parquet", label=yb, prob=q)
    logit = write_parquet(tmp_path / "z.parquet", label=yb, logit=np.log(q) - np.log1p(-q))
    for loss in ("bce", "focal"):
        got = score(one, "--temperature", t, "--loss", loss)["loss"]["mean"]
        want = score(logit, "--temperature", t, "--loss", loss)["loss"]["mean"]
        assert got == pytest.approx(want, rel=1e-10), loss
