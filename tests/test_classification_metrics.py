"""Classification metrics of ``ce score`` (issue 14, part 2): equal to scikit-learn on golden
data (tests/golden/metrics_golden.json, written by tests/golden/make_metrics_golden.py from the
metrics_*.csv files beside it), invariant to batch size, row order, merging, --group-by and the
dask engine; the decision p ≥ t; and what the table and Markdown show."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import run, run_json, sample
from test_check_schemas import errors, load_schema

from ce_cli.core import classification as cm
from ce_cli.engine.metric_sums import ClassificationSums

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN = json.loads((GOLDEN_DIR / "metrics_golden.json").read_text())["cases"]
TOL = 1e-12
SINGLE = ("balanced_accuracy", "cohen_kappa", "mcc")
AVERAGES = ("macro_precision", "macro_recall", "macro_f1", "weighted_f1", "micro_f1")


def close(got: Any, want: Any) -> bool:
    """Equal numbers to 1e-12 (None only equals None)."""
    if want is None or got is None:
        return got is want
    return math.isclose(got, want, rel_tol=TOL, abs_tol=TOL)


def score(name: str, *args: str) -> dict[str, Any]:
    case = GOLDEN[name]
    return run_json("score", str(GOLDEN_DIR / case["file"]), *case["args"], *args)


# ---------------------------------------------------------------------- golden: scikit-learn
@pytest.mark.parametrize("name", list(GOLDEN))
def test_metrics_equal_scikit_learn(name: str) -> None:
    case, report = GOLDEN[name], score(name)
    block = report["classification"]
    for key in ("precision", "recall", "f1"):
        got = [c[key] for c in report["per_class"]]
        assert all(close(g, w) for g, w in zip(got, case[key], strict=True)), (key, got)
    for key in AVERAGES:
        assert close(block[key], case[key]), (key, block[key], case[key])
    assert block["threshold"] == case["threshold"]
    if "subset_accuracy" in case:  # multi-label
        assert close(report["subset_accuracy"], case["subset_accuracy"])
        assert close(report["hamming_loss"], case["hamming_loss"])
        assert all(block[key] is None for key in (*SINGLE, "confusion", "top_k_accuracy"))
        return
    assert close(report["accuracy"], case["accuracy"])
    for key in SINGLE:
        assert close(block[key], case[key]), (key, block[key], case[key])
    matrix = np.array(block["confusion"]["matrix"])
    np.testing.assert_allclose(matrix, case["confusion"], rtol=TOL, atol=TOL)
    top = case.get("top_k_accuracy")
    if top is None:
        assert block["top_k_accuracy"] is None
    else:
        assert block["top_k_accuracy"]["k"] == top["k"]
        assert close(block["top_k_accuracy"]["value"], top["value"])


def test_the_golden_data_has_the_edge_cases() -> None:
    """An absent class, a never-predicted class, ties at the threshold and in the top-k."""
    multi = score("multiclass_top2")
    by_name = {c["name"]: c for c in multi["per_class"]}
    assert by_name["e"]["support"] == 0 and by_name["e"]["predicted"] > 0
    assert by_name["e"]["recall"] is None and by_name["e"]["precision"] == 0
    assert by_name["d"]["predicted"] == 0 and by_name["d"]["support"] > 0
    assert by_name["d"]["precision"] is None and by_name["d"]["f1"] == 0
    assert GOLDEN["multiclass_top1"]["top_k_accuracy"]["value"] != multi["accuracy"]  # ties
    binary = pd.read_csv(GOLDEN_DIR / "metrics_binary.csv")
    assert (binary["prob"] == 0.5).sum() > 0 and (binary["prob"] == 0.3).sum() > 0
    labels = score("multilabel_t03")["per_class"]
    assert labels[0]["support"] == 0 and labels[0]["recall"] is None
    assert labels[3]["predicted"] == 0 and labels[3]["precision"] is None


# ---------------------------------------------------------------------- invariants
def classification_of(report: dict[str, Any]) -> dict[str, Any]:
    keep = ("precision", "recall", "f1", "predicted", "support")
    per_class = [{k: c[k] for k in keep} for c in report["per_class"]]
    return {"block": report["classification"], "per_class": per_class}


def assert_same(a: Any, b: Any, path: str = "") -> None:
    if isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in b:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(b, float):
        assert close(a, b), (path, a, b)
    else:
        assert a == b, path


CASES = ["binary_weighted", "binary2_t03", "multiclass_weighted_top3", "multilabel_weighted_t03"]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("batch_size", ["1", "7", "1000"])
def test_batch_size_does_not_change_the_metrics(name: str, batch_size: str) -> None:
    whole = classification_of(score(name))
    assert_same(classification_of(score(name, "--batch-size", batch_size)), whole)


@pytest.mark.parametrize("name", CASES)
def test_row_order_does_not_change_the_metrics(tmp_path: Path, name: str) -> None:
    case = GOLDEN[name]
    df = pd.read_csv(GOLDEN_DIR / case["file"], engine="pyarrow")
    shuffled = tmp_path / case["file"]
    df.sample(frac=1.0, random_state=3).to_csv(shuffled, index=False, float_format="%.17g")
    got = run_json("score", str(shuffled), *case["args"])
    assert_same(classification_of(got), classification_of(score(name)))


def halves(n: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    cut = n // 3
    order = rng.permutation(n)
    yield order[:cut]
    yield order[cut:]


@pytest.mark.parametrize("n_classes", [4, 1100])  # with and without the C×C matrix
def test_merge_of_two_halves_is_the_whole(n_classes: int) -> None:
    rng = np.random.default_rng(0)
    n = 5000
    y, yp = rng.integers(0, n_classes, n), rng.integers(0, n_classes, n)
    yp[: n // 2] = y[: n // 2]
    w = rng.uniform(0, 2, n)
    scores = rng.normal(size=(n, n_classes)).round(1)  # many ties
    whole = ClassificationSums(n_classes, top_k=3)
    whole.add_labels(y, yp, w)
    whole.add_top_k(scores, y, w)
    parts = []
    for rows in halves(n, rng):
        part = ClassificationSums(n_classes, top_k=3)
        part.add_labels(y[rows], yp[rows], w[rows])
        part.add_top_k(scores[rows], y[rows], w[rows])
        parts.append(part)
    merged = parts[0].merge(parts[1])
    assert (merged.matrix is None) == (n_classes > cm.CONFUSION_MAX_CLASSES)
    a, b = merged.sums(), whole.sums()
    for key in ("tp", "predicted", "support"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-12)
    assert merged.top_k_accuracy() == pytest.approx(whole.top_k_accuracy(), rel=1e-12)
    assert cm.mcc(a) == pytest.approx(cm.mcc(b), rel=1e-12)


def test_without_the_matrix_the_sums_are_the_matrix_margins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """C > CONFUSION_MAX_CLASSES keeps tp / predicted / support only: the same numbers; and a
    small batch (np.add.at) adds as a large one (bincount)."""
    rng = np.random.default_rng(1)
    y, yp, w = rng.integers(0, 40, 300), rng.integers(0, 40, 300), rng.uniform(0, 1, 300)
    with_matrix = ClassificationSums(40)
    for lo in range(0, 300, 2):  # batches of 2 rows: C² > 8·n, np.add.at
        with_matrix.add_labels(y[lo : lo + 2], yp[lo : lo + 2], w[lo : lo + 2])
    monkeypatch.setattr(cm, "CONFUSION_MAX_CLASSES", 10)
    without = ClassificationSums(40)
    without.add_labels(y, yp, w)
    assert without.matrix is None and with_matrix.matrix is not None
    a, b = with_matrix.sums(), without.sums()
    for key in ("tp", "predicted", "support"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-12)


def test_group_by_reports_each_group_as_its_rows_alone(tmp_path: Path) -> None:
    df = pd.read_csv(GOLDEN_DIR / "metrics_multiclass.csv", engine="pyarrow")
    df["split"] = np.where(np.arange(len(df)) % 3 == 0, "test", "train")
    path = tmp_path / "grouped.csv"
    df.to_csv(path, index=False, float_format="%.17g")
    args = ("--top-k-accuracy", "2", "--weight-col", "weight")
    grouped = run_json("score", str(path), *args, "--group-by", "split")
    for group in grouped["groups"]:
        alone = tmp_path / f"{group['value']}.csv"
        rows = df[df["split"] == group["value"]].drop(columns="split")
        rows.to_csv(alone, index=False, float_format="%.17g")
        assert_same(
            classification_of(group), classification_of(run_json("score", str(alone), *args))
        )
    assert_same(classification_of(grouped), classification_of(score("multiclass_top2", *args)))


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_dask_engine_gives_the_local_metrics(tmp_path: Path, scheduler: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pd.read_csv(GOLDEN_DIR / "metrics_multiclass.csv", engine="pyarrow")
    path = tmp_path / "multiclass.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=50)
    args = (str(path), "--top-k-accuracy", "2", "--weight-col", "weight")
    local = run_json("score", *args)
    dask = run_json("score", *args, "--engine", "dask", "--scheduler", scheduler)
    assert_same(classification_of(dask), classification_of(local))
    assert_same(
        classification_of(local),
        classification_of(score("multiclass_weighted_top3", "--top-k-accuracy", "2")),
    )


# ---------------------------------------------------------------------- the formulas, O(C)
def sums(tp: list[float], predicted: list[float], support: list[float]) -> cm.ClassSums:
    return cm.ClassSums(np.array(tp, float), np.array(predicted, float), np.array(support, float))


def test_undefined_values_as_scikit_learn() -> None:
    """scikit-learn 1.9.1 on the same cases (values in the comments)."""
    one_class = sums([0, 3, 0, 0], [0, 3, 0, 0], [0, 3, 0, 0])  # y = ŷ = [1, 1, 1]
    assert math.isnan(cm.cohen_kappa(one_class))  # cohen_kappa_score → nan
    assert cm.mcc(one_class) == 0.0  # matthews_corrcoef → 0.0
    assert cm.macro_f1(one_class) == 0.25 and cm.balanced_accuracy(one_class) == 1.0
    assert np.isnan(cm.f1(one_class)[0]) and np.isnan(cm.precision(one_class)[0])
    all_one = sums([0, 1, 0, 0], [0, 4, 0, 0], [2, 1, 1, 0])  # y = [0,1,2,0], ŷ = [1,1,1,1]
    assert cm.macro_f1(all_one) == pytest.approx(0.1, abs=1e-15)
    assert cm.macro_precision(all_one) == 0.0625 and cm.macro_recall(all_one) == 0.25
    assert cm.balanced_accuracy(all_one) == pytest.approx(1 / 3, rel=1e-15)
    assert cm.cohen_kappa(all_one) == 0.0 and cm.mcc(all_one) == 0.0
    wrong = sums([0, 0, 0, 0], [3, 0, 0, 0], [0, 3, 0, 0])  # y = [1,1,1], ŷ = [0,0,0]
    assert cm.cohen_kappa(wrong) == 0.0 and cm.balanced_accuracy(wrong) == 0.0
    nothing = sums([0, 0], [0, 0], [0, 0])  # multi-label: no positive at all
    assert cm.micro_f1(nothing) == 0.0 and cm.weighted_f1(nothing) == 0.0


def test_top_k_ties_rank_the_higher_class_first() -> None:
    scores = np.array([[0.2, 0.2, 0.6], [0.5, 0.5, 0.0], [0.3, 0.3, 0.3], [0.1, 0.45, 0.45]])
    label = np.array([0, 1, 2, 2])
    assert cm.top_k_hits(scores, label, 1).tolist() == [False, True, True, True]
    assert cm.top_k_hits(scores, np.array([0, 0, 0, 1]), 2).tolist() == [False, True, False, True]
    assert cm.top_k_hits(scores, label, 3).all()


def test_top_pairs_order_count_then_rate_then_class() -> None:
    matrix = np.array([[5.0, 2, 2], [2, 1, 0], [0, 4, 9]])
    support = matrix.sum(axis=1)
    got = cm.top_pairs(matrix, support, None)
    assert [(a, b) for a, b, _, _ in got] == [(2, 1), (1, 0), (0, 1), (0, 2)]
    assert got[1][3] == pytest.approx(2 / 3) and len(cm.top_pairs(matrix, support, 2)) == 2


# ---------------------------------------------------------------------- the decision p ≥ t
def test_logit_zero_is_positive_and_equals_the_probability_decision(tmp_path: Path) -> None:
    """σ(z) ≥ t ⇔ z ≥ logit(t): a logit of exactly 0 is positive at t = 0.5, and logits decide
    as their probabilities do at any t."""
    z = np.array([0.0, -1e-300, 1e-300, -0.8473, -0.8472, 2.0, -3.0, 0.4])
    y = np.array([1, 0, 1, 0, 1, 1, 0, 0])
    logits = tmp_path / "logits.csv"
    pd.DataFrame({"label": y, "logit": z}).to_csv(logits, index=False, float_format="%.17g")
    report = run_json("score", str(logits))
    assert report["per_class"][1]["predicted"] == 4  # z ≥ 0: 0, 1e-300, 2 and 0.4
    probs = tmp_path / "probs.csv"
    p = 1 / (1 + np.exp(-z))
    pd.DataFrame({"label": y, "prob": p}).to_csv(probs, index=False, float_format="%.17g")
    for t in ("0.3", "0.7"):
        a = run_json("score", str(logits), "--threshold", t)["classification"]["confusion"]
        b = run_json("score", str(probs), "--threshold", t)["classification"]["confusion"]
        assert a["matrix"] == b["matrix"], t


def test_threshold_on_multilabel_logits(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    z = rng.normal(size=(50, 3)).round(2)
    y = (rng.uniform(size=(50, 3)) < 0.4).astype(int)
    df = pd.DataFrame({**{f"label_{k}": y[:, k] for k in range(3)}})
    df = df.assign(**{f"logit_{k}": z[:, k] for k in range(3)})
    path = tmp_path / "ml.csv"
    df.to_csv(path, index=False)
    report = run_json("score", str(path), "--threshold", "0.3")
    decision = z >= math.log(0.3 / 0.7)
    assert [c["predicted"] for c in report["per_class"]] == decision.sum(axis=0).tolist()
    assert report["subset_accuracy"] == pytest.approx((decision == y).all(axis=1).mean())
    assert report["classification"]["threshold"] == 0.3


def test_threshold_out_of_range_is_a_usage_error() -> None:
    result = run("score", sample("binary.csv"), "--threshold", "1")
    assert result.exit_code == 2 and "--threshold" in result.stderr


def test_options_that_do_not_apply_say_so() -> None:
    report = run_json("score", sample("multiclass.csv"), "--threshold", "0.3")
    assert report["classification"]["threshold"] is None
    assert any("--threshold applies to binary and multi-label" in n for n in report["notes"])
    report = run_json("score", sample("multilabel.csv"), "--top-k-accuracy", "2")
    assert report["classification"]["top_k_accuracy"] is None
    assert any("--top-k-accuracy needs one class per row" in n for n in report["notes"])
    soft = run_json("score", sample("soft_targets.parquet"))
    assert soft["classification"] is None and soft["per_class"][0]["precision"] is None


# ---------------------------------------------------------------------- what a person reads
def test_table_shows_per_class_metrics_headline_and_confused_pairs() -> None:
    text = run("score", sample("multiclass.csv"), "--top-k-accuracy", "2").stdout
    assert "| class | predicted | precision |   recall |       F1 |" in text
    assert "macro-F1 0.64599" in text and "top-2 acc 0.902" in text
    assert "kappa " in text and "MCC " in text and "balanced acc " in text
    assert "| dog → cat                   |   147 |   15.1235 |" in text
    assert "confusion matrix" not in text
    full = run("score", sample("multiclass.csv"), "--confusion").stdout
    header = next(line for line in full.splitlines() if "true \\ predicted" in line)
    assert [h.strip() for h in header.split("|")[2:-1]] == ["cat", "dog", "bird", "fish", "horse"]
    assert "| dog              |  147 | 718 |   70 |   26 |    11 |" in full
    pairs = run_json("score", sample("multiclass.csv"), "--confusion")["classification"]
    assert len(pairs["confusion"]["top_pairs"]) == 20  # every off-diagonal cell with a count
    assert (
        len(run_json("score", sample("multiclass.csv"))["classification"]["confusion"]["top_pairs"])
        == 10
    )


def test_markdown_has_the_same_tables() -> None:
    md = run("score", sample("multiclass.csv"), "--format", "markdown", "--confusion").stdout
    assert "| class | predicted | precision | recall | F1 |" in md
    assert "| dog → cat | 147 | 15.1235 |" in md
    assert "| true \\\\ predicted | cat | dog | bird | fish | horse |" in md


def test_many_classes_leave_the_matrix_to_the_json(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    c, n = 35, 400
    z = rng.normal(size=(n, c)).round(3)
    y = rng.integers(0, c, n)
    df = pd.DataFrame({"label": y, **{f"logit_{k}": z[:, k] for k in range(c)}})
    path = tmp_path / "many.csv"
    df.to_csv(path, index=False)
    text = run("score", str(path), "--confusion").stdout
    assert "true \\ predicted" not in text
    assert "it is in the JSON report (--format json)" in " ".join(text.split())
    matrix = run_json("score", str(path))["classification"]["confusion"]["matrix"]
    assert np.array(matrix).shape == (c, c) and np.array(matrix).sum() == n


def test_reports_match_the_schema() -> None:
    schema = load_schema("score")
    for name in ("binary", "binary2_t03", "multiclass_weighted_top3", "multilabel_t03"):
        report = score(name, "--confusion")
        assert not errors(report, schema, schema), name
    soft = run_json("score", sample("soft_targets.parquet"))
    assert soft["classification"] is None and not errors(soft, schema, schema)


def test_above_1024_classes_the_matrix_is_left_out(tmp_path: Path) -> None:
    """The O(C) sums still give every metric; the report says why there is no matrix."""
    c, n = cm.CONFUSION_MAX_CLASSES + 2, 40
    rng = np.random.default_rng(4)
    z = rng.normal(size=(n, c)).round(2)
    y = rng.integers(0, c, n)
    z[np.arange(n // 2), y[: n // 2]] = 9.0  # half the rows right
    df = pd.DataFrame(z, columns=[f"logit_{k}" for k in range(c)]).assign(label=y)
    path = tmp_path / "wide.parquet"
    df.to_parquet(path, index=False)
    report = run_json("score", str(path), "--top-k-accuracy", "3")
    confusion = report["classification"]["confusion"]
    assert confusion["matrix"] is None and confusion["top_pairs"] == []
    assert confusion["note"].startswith(f"{c} classes: the confusion matrix is kept up to 1024")
    assert report["classification"]["micro_f1"] == pytest.approx(report["accuracy"], rel=1e-15)
    assert not errors(report, load_schema("score"), load_schema("score"))


def test_class_names_are_escaped_in_every_medium(tmp_path: Path) -> None:
    names = ["a|b", "c\x1b[31md"]
    df = pd.DataFrame(
        {"label": [names[0], names[1], names[0], names[1]], "logit_a|b": [2.0, 1.0, 0.0, 0.5]}
    )
    df["logit_c\x1b[31md"] = [0.0, 0.0, 1.0, 1.0]
    path = tmp_path / "names.csv"
    df.to_csv(path, index=False)
    text = run("score", str(path), "--confusion").stdout
    assert "\x1b" not in text and "a|b → c" in text
    md = run("score", str(path), "--confusion", "--format", "markdown").stdout
    assert "\x1b" not in md and "a\\|b → c" in md


def test_check_accepts_the_metric_options() -> None:
    result = run(
        "check",
        sample("binary.csv"),
        "--threshold",
        "0.4",
        "--top-k-accuracy",
        "1",
        "--confusion",
        "--max-loss",
        "10",
    )
    assert result.exit_code == 0, result.stderr


def test_bad_top_k_in_the_library_is_one_line() -> None:
    from ce_cli import InputOptions, ScoreOptions, compute_score
    from ce_cli.core.errors import CEError

    with pytest.raises(CEError, match=r"^--top-k-accuracy must be >= 1, not 0$"):
        compute_score(InputOptions(sample("multiclass.csv")), ScoreOptions(top_k_accuracy=0))
