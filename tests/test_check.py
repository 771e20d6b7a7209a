"""`ce check`'s rules (pure logic) and the bounded-memory paired bootstrap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ce_cli.core.bootstrap import (
    GroupSums,
    groups_for,
    key_hashes,
    paired_difference,
    paired_intervals,
    poisson_weights,
)
from ce_cli.core.errors import CEError
from ce_cli.report.check_rules import (
    CheckOptions,
    Margin,
    Threshold,
    baseline_from_report,
    calibration_metrics,
    config_list,
    evaluate_regression,
    evaluate_threshold,
    expand_classes,
    find_config,
    make_plan,
    margin_for,
    not_applicable,
    parse_class_specs,
    parse_margins,
    parse_requirement,
    read_config,
    regression_keys,
    requested_keys,
    rounding_tolerance,
    score_metrics,
)

CLASSES = ["cat", "dog", "bird"]


# ---------------------------------------------------------------------- thresholds
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ece<=0.05", ("ece", "<=", 0.05, None)),
        (" accuracy >= 0.7 ", ("accuracy", ">=", 0.7, None)),
        ("normalized_cross_entropy<1", ("nce", "<", 1.0, None)),
        ("class_recall[horse]>0.3", ("class_recall", ">", 0.3, "horse")),
        ("class_loss[*]<=2", ("class_loss", "<=", 2.0, "*")),
        ("LOSS<=1e-1", ("loss", "<=", 0.1, None)),
    ],
)
def test_parse_requirement(text: str, expected: tuple[object, ...]) -> None:
    t = parse_requirement(text)
    assert (t.metric, t.op, t.limit, t.cls) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ece=0.05", "expected METRIC OP NUMBER"),
        ("ece<=abc", "expected a number, not 'abc'"),
        ("ece<=nan", "expected a finite number"),
        ("eec<=0.05", "unknown metric 'eec'"),
        ("class_loss<=1", "class_loss is per class"),
        ("ece[cat]<=1", "ece is not per class"),
    ],
)
def test_parse_requirement_errors(text: str, fragment: str) -> None:
    with pytest.raises(CEError, match=None) as info:
        parse_requirement(text)
    assert fragment in str(info.value)
    assert f"--require {text!r}" in str(info.value)


def test_class_specs_bare_number_is_every_class_and_explicit_wins() -> None:
    specs = parse_class_specs(["1.5", "bird=2.5"], "--max-class-loss", "class_loss", "<=")
    expanded = expand_classes(specs, CLASSES)
    assert [(t.key, t.limit) for t in expanded] == [
        ("class_loss[cat]", 1.5),
        ("class_loss[dog]", 1.5),
        ("class_loss[bird]", 2.5),
    ]


def test_class_specs_mapping_number_and_later_spec_wins() -> None:
    assert [t.cls for t in parse_class_specs(0.5, "--f", "class_recall", ">=")] == ["*"]
    specs = parse_class_specs({"dog": 0.2}, "--f", "class_recall", ">=")
    specs += parse_class_specs(["dog=0.4"], "--f", "class_recall", ">=")
    assert [(t.key, t.limit) for t in expand_classes(specs, CLASSES)] == [
        ("class_recall[dog]", 0.4)
    ]


def test_unknown_class_is_an_error_naming_the_classes() -> None:
    specs = parse_class_specs(["horse=1"], "--max-class-loss", "class_loss", "<=")
    with pytest.raises(CEError) as info:
        expand_classes(specs, CLASSES)
    assert str(info.value) == (
        "--max-class-loss horse=1: no class 'horse'; the classes are cat, dog, bird"
    )


def test_evaluate_threshold_each_operator() -> None:
    assert evaluate_threshold(Threshold("loss", "<=", 0.8), 0.8, None).passed
    assert not evaluate_threshold(Threshold("loss", "<", 0.8), 0.8, None).passed
    assert evaluate_threshold(Threshold("accuracy", ">=", 0.7), 0.7, None).passed
    assert not evaluate_threshold(Threshold("accuracy", ">", 0.7), 0.7, None).passed
    failed = evaluate_threshold(Threshold("loss", "<=", 0.7, origin="--max-loss 0.7"), 0.75, 0.7)
    assert failed.message == "loss = 0.75 is above the limit 0.7 (--max-loss 0.7)"
    assert failed.delta == pytest.approx(0.05)
    undefined = evaluate_threshold(Threshold("class_recall", ">=", 0.5, "cat"), None, None)
    assert not undefined.passed and "undefined" in undefined.message


# ---------------------------------------------------------------------- margins, regression
def test_parse_margins() -> None:
    margins = parse_margins(["0.01", "ece=5%", "class_loss=0.2", "class_recall[cat]=0.1"])
    assert margins[None] == Margin(0.01)
    assert margins["ece"] == Margin(5, relative=True)
    assert margin_for("class_loss[dog]", margins) == Margin(0.2)
    assert margin_for("class_recall[cat]", margins) == Margin(0.1)
    assert margin_for("class_recall[dog]", margins) == Margin(0.01)
    assert margin_for("loss", {}) == Margin(0.0)
    assert Margin(5, relative=True).absolute(-0.8) == pytest.approx(0.04)
    for bad, fragment in (("-1", "must be >= 0"), ("x%", "expected a number"), ("foo=1", "foo")):
        with pytest.raises(CEError) as info:
            parse_margins([bad])
        assert fragment in str(info.value)


def test_regression_lower_is_better() -> None:
    ok = evaluate_regression("loss", 0.805, 0.8, Margin(0.01))
    assert ok.passed and ok.threshold == pytest.approx(0.81) and ok.op == "<="
    bad = evaluate_regression("loss", 0.82, 0.8, Margin(0.01))
    assert not bad.passed
    assert bad.message == ("loss = 0.82 is higher than the baseline 0.8 by 0.02 (allowed 0.01)")
    assert evaluate_regression("loss", 0.7, 0.8, Margin()).passed  # better is fine
    assert not evaluate_regression("loss", 0.84, 0.8, Margin(4, relative=True)).passed
    assert evaluate_regression("loss", 0.83, 0.8, Margin(4, relative=True)).passed


def test_regression_higher_is_better() -> None:
    r = evaluate_regression("class_recall[cat]", 0.69, 0.7, Margin(0.02))
    assert r.passed and r.op == ">=" and r.threshold == pytest.approx(0.68)
    assert not evaluate_regression("accuracy", 0.67, 0.7, Margin(0.02)).passed


class _Interval:
    def __init__(self, low: float, high: float) -> None:
        self.estimate, self.low, self.high, self.replicates, self.level = 0.0, low, high, 9, 0.95


def test_regression_significant_fails_only_when_the_whole_interval_is_worse() -> None:
    noisy = evaluate_regression(
        "loss", 0.81, 0.8, Margin(), fail_on="significant", interval=_Interval(-0.01, 0.03)
    )
    assert noisy.passed and noisy.decided_by == "interval"
    assert "not significant" in noisy.message
    real = evaluate_regression(
        "loss", 0.85, 0.8, Margin(0.01), fail_on="significant", interval=_Interval(0.02, 0.08)
    )
    assert not real.passed
    within = evaluate_regression(
        "loss", 0.85, 0.8, Margin(0.03), fail_on="significant", interval=_Interval(0.02, 0.08)
    )
    assert within.passed  # part of the interval is within the margin
    acc = evaluate_regression(
        "accuracy", 0.6, 0.7, Margin(), fail_on="significant", interval=_Interval(-0.15, -0.05)
    )
    assert not acc.passed
    no_ci = evaluate_regression("ece", 0.11, 0.1, Margin(), fail_on="significant")
    assert not no_ci.passed and "compared by value" in no_ci.message


def test_rounding_tolerance_is_relative_with_a_floor() -> None:
    assert rounding_tolerance(0.75, 0.7500000000000004) == pytest.approx(1e-12 * 0.7500000000000004)
    assert rounding_tolerance(-300.0, 2.0) == pytest.approx(3e-10)
    assert rounding_tolerance(0.0, 1e-9) == 1e-12  # the floor, for metrics near 0


def test_a_threshold_at_its_limit_up_to_rounding() -> None:
    limit = 0.750023100215107
    for value in (limit, 0.7500231002151072, 0.7500231002151068):  # batch sizes 1000, 1, 7
        assert evaluate_threshold(Threshold("loss", "<=", limit), value, None).passed
        assert not evaluate_threshold(Threshold("loss", "<", limit), value, None).passed
        assert evaluate_threshold(Threshold("accuracy", ">=", limit), value, None).passed
        assert not evaluate_threshold(Threshold("accuracy", ">", limit), value, None).passed
    assert not evaluate_threshold(Threshold("loss", "<=", limit), limit + 1e-9, None).passed
    assert evaluate_threshold(Threshold("loss", "<", limit), limit - 1e-9, None).passed


def test_a_regression_of_a_few_ulps_is_no_regression() -> None:
    same = evaluate_regression("loss", 0.7500231002151072, 0.7500231002151068, Margin())
    assert same.passed and same.delta == pytest.approx(4.4e-16, rel=0.1)
    assert not evaluate_regression("loss", 0.7500231012, 0.7500231002, Margin()).passed  # 1e-9
    assert evaluate_regression("accuracy", 0.729 - 1e-16, 0.729, Margin()).passed
    at_margin = evaluate_regression("loss", 0.81 + 2e-16, 0.8, Margin(0.01))
    assert at_margin.passed and at_margin.threshold == pytest.approx(0.81)
    noise = evaluate_regression(
        "loss", 0.8, 0.8, Margin(), fail_on="significant", interval=_Interval(3e-16, 5e-16)
    )
    assert noise.passed and noise.decided_by == "interval"
    real = evaluate_regression(
        "loss", 0.8, 0.8, Margin(), fail_on="significant", interval=_Interval(1e-9, 2e-9)
    )
    assert not real.passed


def test_margins_name_comparisons() -> None:
    plan = make_plan(
        CheckOptions(
            baseline="old.csv",
            compare=("class_recall[dog]",),
            max_regression=("0.01", "ece=0.02", "class_loss=5%", "accuracy=0.1"),
        )
    )
    assert plan.needs_calibration and plan.per_class_regression
    assert plan.metrics() == {"class_recall", "ece", "class_loss", "accuracy"}
    assert requested_keys(plan, CLASSES) == {
        "class_recall[dog]": "--compare class_recall[dog]",
        "ece": "--max-regression ece=0.02",
        **{f"class_loss[{c}]": "--max-regression class_loss=5%" for c in CLASSES},
        "accuracy": "--max-regression accuracy=0.1",
    }
    assert regression_keys(plan, [], CLASSES) == ["loss", *requested_keys(plan, CLASSES)]
    with pytest.raises(CEError) as info:
        requested_keys(
            make_plan(CheckOptions(baseline="b", max_regression="class_loss[x]=1")), CLASSES
        )
    assert str(info.value) == (
        "--max-regression class_loss[x]=1: no class 'x'; the classes are cat, dog, bird"
    )


# ---------------------------------------------------------------------- plan
def test_plan_needs_something_to_check() -> None:
    with pytest.raises(CEError, match="nothing to check"):
        make_plan(CheckOptions())


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (CheckOptions(max_loss=1, max_regression="1%"), "--max-regression compares"),
        (CheckOptions(max_loss=1, fail_on="significant"), "--fail-on significant compares"),
        (CheckOptions(max_loss=1, compare=("ece",)), "--compare compares"),
        (CheckOptions(max_loss=1, fail_on="maybe"), "--fail-on must be one of"),
        (CheckOptions(baseline="b.csv", bootstrap=-1), "--bootstrap must be >= 0"),
        (CheckOptions(max_loss=1, n_bins=0), "--bins must be at least 1"),
        (CheckOptions(max_loss=1, strategy="odd"), "--strategy must be one of"),
    ],
)
def test_plan_errors(options: CheckOptions, fragment: str) -> None:
    with pytest.raises(CEError) as info:
        make_plan(options)
    assert fragment in str(info.value)


def test_plan_regression_keys_and_sources() -> None:
    plan = make_plan(
        CheckOptions(
            max_ece=0.1,
            min_class_recall="0.2",
            baseline="old.csv",
            compare=("accuracy", "class_loss[dog]"),
        )
    )
    assert plan.needs_calibration and plan.per_class_regression
    thresholds = expand_classes(plan.thresholds, CLASSES)
    assert regression_keys(plan, thresholds, CLASSES) == [
        "loss",
        "ece",
        "class_recall[cat]",
        "class_recall[dog]",
        "class_recall[bird]",
        "accuracy",
        "class_loss[dog]",
    ]
    assert not make_plan(CheckOptions(max_loss=1)).needs_calibration


def test_not_applicable() -> None:
    assert not_applicable("accuracy", "multi-hot") is not None
    assert not_applicable("subset_accuracy", "index") is not None
    assert not_applicable("kl_divergence", "index") is not None
    assert not_applicable("accuracy", "index") is None
    assert not_applicable("hamming_loss", "multi-hot") is None


# ---------------------------------------------------------------------- baseline reports
SCORE = {
    "schema_version": 1,
    "kind": "score",
    "target_kind": "index",
    "loss": {"name": "ce", "mean": 0.75},
    "accuracy": 0.7,
    "normalized_cross_entropy": 0.5,
    "parameters": {"temperature": 1.0},
    "n_used": 10,
    "per_class": [{"name": "cat", "mean_loss": 0.4, "recall": 0.9}],
}


def test_baseline_from_score_and_check_reports() -> None:
    b = baseline_from_report(SCORE, "s.json", 1)
    assert b.metrics == {
        "loss": 0.75,
        "accuracy": 0.7,
        "nce": 0.5,
        "class_loss[cat]": 0.4,
        "class_recall[cat]": 0.9,
    }
    assert (b.loss_name, b.n_used, b.classes) == ("ce", 10, ["cat"])
    check = {"schema_version": 1, "kind": "check", "metrics": {"loss": 1, "ece": None}}
    assert baseline_from_report(check, "c.json", 1).metrics == {"loss": 1.0, "ece": None}
    assert score_metrics({**SCORE, "target_kind": "multi-hot"}).keys() >= {"subset_accuracy"}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([1, 2], "not a ce JSON report"),
        ({"schema_version": 9, "kind": "score"}, "schema_version 9"),
        ({"schema_version": 1, "kind": "weights"}, "'weights' report has no metrics"),
        ({"schema_version": 1, "kind": "score"}, "without the expected keys"),
    ],
)
def test_baseline_report_errors(data: object, fragment: str) -> None:
    with pytest.raises(CEError) as info:
        baseline_from_report(data, "b.json", 1)
    assert fragment in str(info.value) and "--baseline b.json" in str(info.value)


# ---------------------------------------------------------------------- configuration
def test_find_config_prefers_ce_toml_and_skips_tables_it_lacks(tmp_path: Path) -> None:
    assert find_config(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text("[tool.ce.check]\nmax_loss = 0.8\n")
    found = find_config(tmp_path)
    assert found is not None and found.table == "[tool.ce.check]"
    assert found.values == {"max-loss": 0.8}
    (tmp_path / "ce.toml").write_text("[score]\nloss = 'ce'\n")
    assert find_config(tmp_path).table == "[tool.ce.check]"  # type: ignore[union-attr]
    (tmp_path / "ce.toml").write_text("[check]\nmax-loss = 0.9\n")
    found = find_config(tmp_path)
    assert found is not None and found.table == "[check]" and found.values == {"max-loss": 0.9}


def test_read_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "ce.toml"
    bad.write_text("[check\n")
    with pytest.raises(CEError, match="not valid TOML"):
        read_config(bad)
    bad.write_text("[other]\n")
    with pytest.raises(CEError, match=r"has no \[check\] table"):
        read_config(bad)
    bad.write_text("[check]\nmax-loss = 1\nmax_loss = 2\n")
    with pytest.raises(CEError, match="given twice"):
        read_config(bad)
    with pytest.raises(CEError, match="cannot read"):
        read_config(tmp_path / "missing.toml")


def test_config_list() -> None:
    assert config_list({"cat": 0.9, "*": 1}, "k", "f") == ["cat=0.9", "*=1"]
    assert config_list(["ece<=0.1"], "k", "f") == ["ece<=0.1"]
    assert config_list(0.5, "k", "f") == ["0.5"]
    with pytest.raises(CEError, match="expected a string or a number"):
        config_list([True], "k", "f")


# ---------------------------------------------------------------------- bootstrap
def _rows(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "keys": rng.permutation(n * 3)[:n],
        "loss": rng.gamma(2.0, 0.4, n),
        "correct": (rng.random(n) < 0.7).astype(float),
        "weight": rng.choice([1.0, 2.0], n),
        "label": rng.integers(0, 3, n),
    }


def _sums(rows: dict[str, np.ndarray], parts: int, n_classes: int = 3) -> GroupSums:
    out = GroupSums.empty(512, n_classes)
    sums = []
    for idx in np.array_split(np.arange(rows["keys"].size), parts):
        s = GroupSums.empty(512, n_classes)
        s.update(
            key_hashes(rows["keys"][idx]),
            rows["loss"][idx],
            rows["correct"][idx],
            weight=rows["weight"][idx],
            label=rows["label"][idx],
        )
        sums.append(s)
    for s in sums:
        out = out.merge(s)
    return out


def test_group_sums_merge_equals_one_pass_for_any_chunking() -> None:
    rows = _rows(5000, 1)
    one = _sums(rows, 1)
    for parts in (2, 7, 50):
        merged = _sums(rows, parts)
        assert np.array_equal(merged.count, one.count)
        assert np.array_equal(merged.checksum, one.checksum)
        assert merged.same_rows(one) and merged.same_labels(one)
        for name in ("loss", "denom", "correct", "mass", "class_loss", "class_mass"):
            np.testing.assert_allclose(getattr(merged, name), getattr(one, name), rtol=1e-12)
    # the sums are the weighted totals
    w = rows["weight"]
    assert one.loss.sum() == pytest.approx(float(w @ rows["loss"]))
    assert one.class_mass[1].sum() == pytest.approx(float(w[rows["label"] == 1].sum()))  # type: ignore[index]


def test_group_sums_detect_other_rows_and_other_labels() -> None:
    rows = _rows(2000, 2)
    base = _sums(rows, 1)
    other = dict(rows, keys=rows["keys"].copy())
    other["keys"][0] = 10**9  # one id differs
    assert not _sums(other, 1).same_rows(base)
    relabel = dict(rows, label=rows["label"].copy())
    relabel["label"][5] = (relabel["label"][5] + 1) % 3
    changed = _sums(relabel, 1)
    assert changed.same_rows(base) and not changed.same_labels(base)
    shuffled = {k: v[::-1] for k, v in rows.items()}
    assert _sums(shuffled, 3).same_rows(base) and _sums(shuffled, 3).same_labels(base)


def test_key_hashes_are_stable_and_typed() -> None:
    assert np.array_equal(key_hashes([1, 2, 3]), key_hashes(np.array([1, 2, 3])))
    assert not np.array_equal(key_hashes([1, 2]), key_hashes(["1", "2"]))
    assert key_hashes(["img_1", "img_2"])[0] == key_hashes(["img_1"])[0]
    assert len(set(key_hashes(np.arange(10000)).tolist())) == 10000


def test_poisson_weights_do_not_depend_on_the_block_size() -> None:
    blocks = list(poisson_weights(64, 300, seed=5))
    assert [b.shape[0] for b in blocks] == [128, 128, 44]
    whole = np.random.default_rng(5).poisson(1.0, size=(300, 64))
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_paired_interval_is_deterministic_and_paired() -> None:
    rows = _rows(4000, 3)
    cand = _sums(rows, 1)
    noisy = dict(rows, loss=rows["loss"] + np.random.default_rng(9).normal(0, 0.01, 4000))
    base = _sums(noisy, 4)
    a = paired_difference(cand, base, "loss", replicates=500, seed=1)
    b = paired_difference(cand, base, "loss", replicates=500, seed=1)
    c = paired_difference(cand, base, "loss", replicates=500, seed=2)
    assert (a.low, a.high) == (b.low, b.high)
    assert (a.low, a.high) != (c.low, c.high)
    w = rows["weight"]
    expected = (w @ rows["loss"] - w @ noisy["loss"]) / w.sum()
    assert a.estimate == pytest.approx(expected, rel=1e-9)
    assert a.low <= a.estimate <= a.high
    # pairing: the interval is far narrower than the spread of either mean (~0.02)
    assert a.high - a.low < 0.002
    worse = dict(rows, loss=rows["loss"] + 0.1)
    d = paired_difference(_sums(worse, 1), cand, "loss", replicates=300)
    assert d.low > 0.09 and d.high < 0.11


def test_class_weighted_loss_denominator_and_per_class_parts() -> None:
    rows = _rows(3000, 4)
    sums = _sums(rows, 2)
    cw = [0.5, 1.0, 3.0]
    num, den = sums.parts("loss", class_weight=cw)
    w = rows["weight"]
    d = np.asarray(cw)[rows["label"]]
    assert den.sum() == pytest.approx(float(w @ d))
    assert num.sum() == pytest.approx(float(w @ rows["loss"]))
    num, den = sums.parts("class_recall", 2)
    mask = rows["label"] == 2
    assert num.sum() / den.sum() == pytest.approx(
        float(w[mask] @ rows["correct"][mask] / w[mask].sum())
    )
    with pytest.raises(ValueError, match="per-class arrays"):
        GroupSums.empty(8).parts("loss", class_weight=cw)


def test_replicates_that_miss_a_rare_class_are_dropped() -> None:
    sums = GroupSums.empty(256, 3)
    hashes = key_hashes(np.arange(100))
    label = np.zeros(100, np.int64)
    label[0] = 1  # class 1: one row; class 2: none
    sums.update(hashes, np.ones(100), np.ones(100), label=label)
    out = paired_intervals(
        {
            "one": (sums.parts("class_recall", 1), sums.parts("class_recall", 1)),
            "none": (sums.parts("class_recall", 2), sums.parts("class_recall", 2)),
        }
    )
    one = out["one"]
    assert one is not None and 560 < one.replicates < 700  # P(Poisson(1) > 0) = 0.632
    assert out["none"] is None


def test_groups_for_bounds_per_class_memory() -> None:
    assert groups_for(0) == groups_for(100) == 4096
    assert groups_for(1000) == 512
    assert groups_for(10**6) == 64


def test_calibration_metrics_keep_numbers_and_nulls_only() -> None:
    report = {"ece": 0.1, "mce": None, "brier": float("nan"), "nll": "x", "accuracy": 0.9}
    assert calibration_metrics(report) == {"ece": 0.1, "mce": None, "brier": None}


def test_run_check_as_a_library() -> None:
    from conftest import sample

    from ce_cli.io.dataset import InputOptions
    from ce_cli.report.check import run_check
    from ce_cli.report.score import ScoreOptions

    report = run_check(
        InputOptions(sample("multiclass.csv")),
        CheckOptions(max_loss=0.8, max_class_loss={"horse": 2.0}),
    )
    assert report.exit_code == 1 and not report.passed
    assert [c.name for c in report.failed] == ["class_loss[horse] <= 2"]
    focal = run_check(
        InputOptions(sample("binary.csv")), CheckOptions(max_loss=0.1), ScoreOptions(loss="focal")
    )
    assert focal.passed and focal.loss_name == "focal"
    assert focal.to_dict()["metrics"]["loss"] == pytest.approx(focal.metrics["loss"])
