"""`ce check`'s paired bootstrap of the multi-label F1 family: per label × group sums of tp,
predicted positives and positives (``GroupSums`` with ``multilabel=True``), their statistics
against scikit-learn's golden values, and `ce check --baseline` end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_same_intervals, run, sample

from ce_cli.core.bootstrap import (
    GroupSums,
    classification_statistic,
    groups_for,
    key_hashes,
    paired_intervals,
)

GOLDEN = json.loads((Path(__file__).parent / "golden" / "check_metrics.json").read_text())
SCALARS = ("macro_f1", "weighted_f1", "micro_f1", "macro_precision", "macro_recall")
PER_LABEL = ("class_f1", "class_precision")
FAMILY = (*SCALARS, *PER_LABEL)


# ---------------------------------------------------------------------- the group sums
def _label_sums(
    truth: np.ndarray,
    decision: np.ndarray,
    weight: np.ndarray | None,
    *,
    parts: int = 1,
    order: np.ndarray | None = None,
    groups: int = 256,
) -> GroupSums:
    n, k = truth.shape
    order = np.arange(n) if order is None else order
    out = GroupSums.empty(groups, k, predicted=True, multilabel=True)
    for idx in np.array_split(order, parts):
        s = GroupSums.empty(groups, k, predicted=True, multilabel=True)
        s.update(
            key_hashes(idx.astype(np.int64)),
            np.zeros(idx.size),
            np.zeros(idx.size),
            weight=None if weight is None else weight[idx],
            decision=decision[idx],
            truth=truth[idx],
        )
        out = out.merge(s)
    return out


def _golden(case: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, Any]]:
    g = GOLDEN["multilabel"][case]
    weight = None if g["weight"] is None else np.array(g["weight"])
    truth, decision = np.array(g["truth"], bool), np.array(g["decision"], bool)
    return truth, decision, weight, g["sklearn"]


@pytest.mark.parametrize("case", sorted(GOLDEN["multilabel"]))
def test_statistics_equal_sklearn(case: str) -> None:
    truth, decision, weight, want = _golden(case)
    sums = _label_sums(truth, decision, weight, parts=3)
    assert sums.class_loss is None  # no per-label loss is kept
    for name in SCALARS:
        got = classification_statistic(sums, name).value()
        assert got == pytest.approx(want[name], rel=1e-12, abs=1e-15), name
    k = truth.shape[1]
    for name in PER_LABEL:
        values = [classification_statistic(sums, name, i).value() for i in range(k)]
        assert [None if np.isnan(v) else pytest.approx(v, 1e-12) for v in values] == want[name]


@pytest.mark.parametrize("case", sorted(GOLDEN["multilabel"]))
def test_a_replicate_is_the_metric_of_the_reweighted_rows(case: str) -> None:
    """A replicate with group weights w equals the statistic of the rows with sample weights
    s·w_g (g: the row's group): scikit-learn's value on that reweighted data."""
    truth, decision, weight, _ = _golden(case)
    n, k = truth.shape
    groups = 64
    sums = _label_sums(truth, decision, weight, groups=groups)
    w = np.random.default_rng(5).poisson(1.0, groups).astype(float)
    row_group = (key_hashes(np.arange(n, dtype=np.int64)) % np.uint64(groups)).astype(np.int64)
    s = np.ones(n) if weight is None else weight
    reweighted = _label_sums(truth, decision, s * w[row_group], groups=groups)
    for name in FAMILY:
        for index in [None] if name in SCALARS else range(k):
            stat = classification_statistic(sums, name, index)
            replicate = stat.compute(*(np.asarray(a @ w)[..., None] for a in stat.sources))[0]
            expected = classification_statistic(reweighted, name, index).value()
            assert replicate == pytest.approx(expected, rel=1e-12, nan_ok=True), (name, index)


def test_sums_merge_and_memory_bound() -> None:
    rng = np.random.default_rng(1)
    truth, decision = rng.random((999, 5)) < 0.3, rng.random((999, 5)) < 0.4
    one = _label_sums(truth, decision, None)
    for parts in (7, 999):
        many = _label_sums(truth, decision, None, parts=parts, order=rng.permutation(999))
        for name in ("class_correct", "class_predicted", "class_mass"):
            assert np.array_equal(getattr(one, name), getattr(many, name)), name
    assert one.class_correct is not None and one.class_predicted is not None
    assert one.class_mass is not None
    assert one.class_correct.sum(axis=1).tolist() == (truth & decision).sum(axis=0).tolist()
    assert one.class_predicted.sum(axis=1).tolist() == decision.sum(axis=0).tolist()
    assert one.class_mass.sum(axis=1).tolist() == truth.sum(axis=0).tolist()
    with pytest.raises(ValueError, match="different shapes"):
        one.merge(GroupSums.empty(256, 5, predicted=True))  # single-label sums
    with pytest.raises(ValueError, match="class_loss"):
        one.parts("class_loss", 0)
    assert groups_for(5000, 3) * 5000 * 3 <= 3 * (1 << 19) or groups_for(5000, 3) == 64


def _two_models(seed: int, n: int = 3000, k: int = 5) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    truth = rng.random((n, k)) < 0.3
    base = np.where(rng.random((n, k)) < 0.85, truth, ~truth)
    cand = np.where(rng.random((n, k)) < 0.1, ~base, base)  # a little worse
    return truth, base, cand


def _pairs_of(cur: GroupSums, base: GroupSums) -> dict[str, Any]:
    out = {}
    for name in FAMILY:
        index = 1 if name in PER_LABEL else None
        out[name] = (
            classification_statistic(cur, name, index),
            classification_statistic(base, name, index),
        )
    return out


def test_interval_contains_the_observed_difference() -> None:
    truth, base_d, cand_d = _two_models(3)
    cur, base = _label_sums(truth, cand_d, None), _label_sums(truth, base_d, None)
    out = paired_intervals(_pairs_of(cur, base), 400, 1)
    for name in FAMILY:
        interval = out[name]
        assert interval is not None, name
        assert interval.low <= interval.estimate <= interval.high, name
        assert interval.high < 0, name  # the candidate is clearly worse
        index = 1 if name in PER_LABEL else None
        assert interval.estimate == pytest.approx(
            classification_statistic(cur, name, index).value()
            - classification_statistic(base, name, index).value(),
            abs=1e-15,
        )


def test_identical_models_give_a_zero_interval() -> None:
    truth, base_d, _ = _two_models(4)
    cur = _label_sums(truth, base_d, None)
    base = _label_sums(truth, base_d, None, parts=5)
    out = paired_intervals(_pairs_of(cur, base), 200, 0)
    for name in FAMILY:
        interval = out[name]
        assert interval is not None
        assert abs(interval.low) <= 1e-12 and abs(interval.high) <= 1e-12, name


def test_the_interval_does_not_depend_on_batches_or_row_order() -> None:
    truth, base_d, cand_d = _two_models(5)
    rng = np.random.default_rng(9)
    cur = _label_sums(truth, cand_d, None)
    ref = paired_intervals(_pairs_of(cur, _label_sums(truth, base_d, None)), 300, 2)
    for parts in (7, 1000):
        order = rng.permutation(truth.shape[0])
        base = _label_sums(truth, base_d, None, parts=parts, order=order)
        got = paired_intervals(_pairs_of(cur, base), 300, 2)
        assert_same_intervals(ref, got, FAMILY)


# ====================================================================== end to end
MULTILABEL = sample("multilabel.csv")
ARGS = (
    "--compare", "macro_f1", "--compare", "weighted_f1", "--compare", "micro_f1",
    "--compare", "macro_precision", "--compare", "macro_recall",
    "--compare", "class_f1[*]", "--compare", "class_precision[car]",
)  # fmt: skip
LABELS = ("person", "car", "bicycle", "dog", "traffic_light", "bus")
KEYS = [*SCALARS, *(f"class_f1[{c}]" for c in LABELS), "class_precision[car]"]


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


def check_json(*args: str) -> dict[str, Any]:
    result = run("check", *args, "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] is (result.exit_code == 0)
    return report


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """multilabel.csv with worse logits (noise), 600 of its rows and of the worse (shuffled)."""
    import pandas as pd

    out = tmp_path_factory.mktemp("ml_models")
    data = pd.read_csv(MULTILABEL)
    cols = [c for c in data.columns if c.startswith("logit_")]
    worse = data.copy()
    worse[cols] += np.random.default_rng(7).normal(0, 3.0, size=(len(data), len(cols)))
    frames = {
        "worse": worse,
        "rows": data.iloc[:600],
        "rows_worse": worse.iloc[:600],
        "rows_worse_shuffled": worse.iloc[:600].sample(frac=1, random_state=1),
    }
    paths = {}
    for name, frame in frames.items():
        paths[name] = str(out / f"{name}.csv")
        frame.to_csv(paths[name], index=False)
    return paths


def _regressions(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["metric"]: c for c in report["checks"] if c["kind"] == "regression"}


@pytest.mark.parametrize("threshold", [None, "0.3"])
def test_the_family_gets_intervals_with_the_score_decision_rule(
    models: dict[str, str], threshold: str | None
) -> None:
    extra = () if threshold is None else ("--threshold", threshold)
    report = check_json(
        models["worse"], "--baseline", MULTILABEL, *ARGS, *extra, "--fail-on", "significant",
        "--bootstrap", "300",
    )  # fmt: skip
    assert set(KEYS) <= set(report["baseline"]["bootstrap"]["metrics"])
    score = json.loads(run("score", models["worse"], *extra, "--format", "json").stdout)
    base = json.loads(run("score", MULTILABEL, *extra, "--format", "json").stdout)
    assert score["classification"]["threshold"] == (0.5 if threshold is None else 0.3)
    checks = _regressions(report)
    for key in KEYS:
        c = checks[key]
        ci = c["ci"]
        assert ci is not None and c["decided_by"] == "interval", key
        assert ci["low"] <= ci["estimate"] <= ci["high"], key
        assert ci["estimate"] == pytest.approx(c["value"] - c["baseline"], abs=1e-12), key
    for name in SCALARS:  # the values are the score's, under the same --threshold
        assert checks[name]["value"] == score["classification"][name]
        assert checks[name]["baseline"] == base["classification"][name]
    assert checks["macro_f1"]["ci"]["high"] < 0 and not checks["macro_f1"]["passed"]


def test_identical_models_give_zero_intervals() -> None:
    report = check_json(
        MULTILABEL, "--baseline", MULTILABEL, *ARGS, "--fail-on", "significant",
        "--bootstrap", "200",
    )  # fmt: skip
    assert report["passed"]
    for key in KEYS:
        c = _regressions(report)[key]
        assert (c["ci"]["low"], c["ci"]["high"], c["delta"]) == (0.0, 0.0, 0.0), key


def test_the_intervals_do_not_depend_on_batches_or_row_order(models: dict[str, str]) -> None:
    intervals = []
    for batch_size in ("1", "7", "1000"):
        for baseline in (models["rows_worse"], models["rows_worse_shuffled"]):
            report = check_json(
                models["rows"], "--baseline", baseline, *ARGS, "--fail-on", "significant",
                "--bootstrap", "200", "--batch-size", batch_size,
            )  # fmt: skip
            checks = _regressions(report)
            intervals.append({k: (checks[k]["ci"]["low"], checks[k]["ci"]["high"]) for k in KEYS})
    for other in intervals[1:]:
        for key in KEYS:
            assert other[key] == pytest.approx(intervals[0][key], abs=1e-12), key
    assert intervals[0]["macro_f1"][0] > 0  # the better model, significantly


@pytest.mark.parametrize("compare", [(), ARGS])
def test_a_baseline_with_other_labels_is_an_error(tmp_path: Path, compare: tuple[str, ...]) -> None:
    """One label of one row flipped in the baseline: the labels' checksum tells, with or without
    the F1 family's per-label sums."""
    import pandas as pd
    from conftest import assert_user_error

    frame = pd.read_csv(MULTILABEL)
    frame.loc[3, "label_car"] = 1 - frame.loc[3, "label_car"]
    path = str(tmp_path / "relabelled.csv")
    frame.to_csv(path, index=False)
    result = run("check", MULTILABEL, "--baseline", path, "--bootstrap", "0", *compare)
    assert_user_error(result, f"--baseline {path}: ", "the same rows carry other labels than in")


def test_label_set_codes_tell_label_sets_apart() -> None:
    from ce_cli.core.bootstrap import label_set_codes

    truth = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]], dtype=bool)
    codes = label_set_codes(truth)
    assert codes.dtype == np.uint64
    assert len(set(codes[:4].tolist())) == 4 and codes[0] == codes[4] and codes[3] == 0
