"""`ce check`'s classification metrics: the registry, the flags, their parsing, the values from
a score report, the paired bootstrap of the F1 family and confusion rates (against
scikit-learn's golden values), and `ce check` end to end on real files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_same_intervals

from ce_cli.core.bootstrap import (
    CLASS_TABLE,
    GroupSums,
    Statistic,
    classification_statistic,
    groups_for,
    key_hashes,
    paired_intervals,
)
from ce_cli.core.errors import CEError
from ce_cli.report.check import _score_options
from ce_cli.report.check_rules import (
    HIGHER,
    LOWER,
    METRICS,
    BaselineReport,
    CheckOptions,
    baseline_from_report,
    evaluate_regression,
    expand_classes,
    expand_requests,
    make_plan,
    margin_for,
    not_applicable,
    parse_margins,
    parse_metric,
    parse_requirement,
    resolve_pair,
    resolved_pairs,
    score_metrics,
)
from ce_cli.report.score import ScoreOptions

GOLDEN = json.loads((Path(__file__).parent / "golden" / "check_metrics.json").read_text())
CLASSES = ["cat", "dog", "bird"]


# ---------------------------------------------------------------------- the registry
@pytest.mark.parametrize(
    ("name", "better", "per_class", "pair", "needs"),
    [
        ("macro_f1", HIGHER, False, False, None),
        ("weighted_f1", HIGHER, False, False, None),
        ("micro_f1", HIGHER, False, False, None),
        ("macro_precision", HIGHER, False, False, None),
        ("macro_recall", HIGHER, False, False, None),
        ("balanced_accuracy", HIGHER, False, False, None),
        ("cohen_kappa", HIGHER, False, False, None),
        ("mcc", HIGHER, False, False, None),
        ("top_k_accuracy", HIGHER, False, False, "top_k"),
        ("roc_auc", HIGHER, False, False, "auc"),
        ("average_precision", HIGHER, False, False, "auc"),
        ("class_f1", HIGHER, True, False, None),
        ("class_precision", HIGHER, True, False, None),
        ("class_roc_auc", HIGHER, True, False, "auc"),
        ("confusion", LOWER, False, True, None),
    ],
)
def test_contract_metrics_are_registered(
    name: str, better: str, per_class: bool, pair: bool, needs: str | None
) -> None:
    m = METRICS[name]
    assert (m.better, m.per_class, m.pair, m.needs, m.source) == (
        better,
        per_class,
        pair,
        needs,
        "score",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("macro_f1>=0.8", ("macro_f1", ">=", 0.8, None)),
        ("class_f1[cat]>=0.7", ("class_f1", ">=", 0.7, "cat")),
        ("class_precision[*] > 0.5", ("class_precision", ">", 0.5, "*")),
        ("confusion[cat,dog]<=0.05", ("confusion", "<=", 0.05, "cat,dog")),
        ("class_roc_auc[bird]>=0.9", ("class_roc_auc", ">=", 0.9, "bird")),
        ("top_k_accuracy>=0.95", ("top_k_accuracy", ">=", 0.95, None)),
        ("MCC>0", ("mcc", ">", 0.0, None)),
    ],
)
def test_require_parses_every_new_metric(text: str, expected: tuple[object, ...]) -> None:
    t = parse_requirement(text)
    assert (t.metric, t.op, t.limit, t.cls) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "confusion<=0.1",
            "--require 'confusion<=0.1': confusion is of one pair of classes; name it, e.g. "
            "confusion[cat,dog] (the share of rows labelled cat predicted as dog)",
        ),
        (
            "confusion[cat]<=0.1",
            "--require 'confusion[cat]<=0.1': confusion is of one pair of classes; name it, e.g. "
            "confusion[cat,dog] (the share of rows labelled cat predicted as dog)",
        ),
        (
            "macro_f1[cat]>=0.1",
            "--require 'macro_f1[cat]>=0.1': macro_f1 is not per class; drop [cat]",
        ),
        (
            "class_f1>=0.1",
            "--require 'class_f1>=0.1': class_f1 is per class; name one, e.g. class_f1[cat] or "
            "class_f1[*]",
        ),
    ],
)
def test_metric_name_errors(text: str, message: str) -> None:
    with pytest.raises(CEError) as err:
        parse_requirement(text)
    assert str(err.value) == message


def test_unknown_metric_lists_the_new_names() -> None:
    with pytest.raises(CEError) as err:
        parse_metric("f1", "--require 'f1>=0.5'")
    message = str(err.value)
    for name in ("macro_f1", "class_f1[CLASS]", "confusion[A,B]", "roc_auc", "top_k_accuracy"):
        assert name in message


# ---------------------------------------------------------------------- pairs
@pytest.mark.parametrize(
    ("text", "classes", "pair"),
    [
        ("cat,dog", CLASSES, ("cat", "dog")),
        ("cat, dog", CLASSES, ("cat", "dog")),
        ("a,b,c", ["a,b", "c", "a"], ("a,b", "c")),  # the only split naming two classes
        ("x=1,y", ["x=1", "y"], ("x=1", "y")),
    ],
)
def test_resolve_pair(text: str, classes: list[str], pair: tuple[str, str]) -> None:
    assert resolve_pair(text, classes, "--max-confusion") == pair


@pytest.mark.parametrize(
    ("text", "classes", "message"),
    [
        (
            "cat,horse",
            CLASSES,
            "--max-confusion cat,horse=0.1: 'cat,horse' does not name two classes A,B; the "
            "classes are cat, dog, bird",
        ),
        (
            "a,b,c",
            ["a", "b", "c", "a,b", "b,c"],
            "--max-confusion a,b,c=0.1: 'a,b,c' names 2 pairs (a → b,c; a,b → c); the classes "
            "are a, b, c, a,b, b,c",
        ),
        (
            "cat,cat",
            CLASSES,
            "--max-confusion cat,cat=0.1: confusion[cat,cat] names one class twice; name two "
            "classes (rows labelled A predicted as B), or gate class_recall[cat]",
        ),
    ],
)
def test_resolve_pair_errors(text: str, classes: list[str], message: str) -> None:
    plan = make_plan(CheckOptions(max_confusion=(f"{text}=0.1",)))
    with pytest.raises(CEError) as err:
        expand_classes(plan.thresholds, classes)
    assert str(err.value) == message


def test_max_confusion_splits_on_the_last_equals() -> None:
    plan = make_plan(CheckOptions(max_confusion=("a=b,c=0.25", "cat,dog=0.05")))
    assert [(t.metric, t.op, t.limit, t.cls) for t in plan.thresholds] == [
        ("confusion", "<=", 0.25, "a=b,c"),
        ("confusion", "<=", 0.05, "cat,dog"),
    ]
    expanded = expand_classes(plan.thresholds, ["a=b", "c", "cat", "dog"])
    assert [t.key for t in expanded] == ["confusion[a=b,c]", "confusion[cat,dog]"]
    assert [t.name for t in expanded] == ["confusion[a=b,c] <= 0.25", "confusion[cat,dog] <= 0.05"]
    assert resolved_pairs(plan, ["a=b", "c", "cat", "dog"]) == [("a=b", "c"), ("cat", "dog")]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "cat,dog",
            "--max-confusion cat,dog: expected A,B=X (the largest allowed share of the rows "
            "labelled A that are predicted as B), e.g. cat,dog=0.05",
        ),
        (
            "cat=0.1",
            "--max-confusion cat=0.1: expected A,B=X (the largest allowed share of the rows "
            "labelled A that are predicted as B), e.g. cat,dog=0.05",
        ),
        ("cat,dog=lots", "--max-confusion cat,dog=lots: expected a number, not 'lots'"),
    ],
)
def test_max_confusion_errors(spec: str, message: str) -> None:
    with pytest.raises(CEError) as err:
        make_plan(CheckOptions(max_confusion=(spec,)))
    assert str(err.value) == message


# ---------------------------------------------------------------------- flags → thresholds
def test_f1_flags_make_thresholds() -> None:
    plan = make_plan(
        CheckOptions(min_macro_f1=0.8, min_class_f1=("0.5", "dog=0.7"), max_confusion="cat,dog=0")
    )
    got = [(t.key, t.op, t.limit, t.origin) for t in expand_classes(plan.thresholds, CLASSES)]
    assert got == [
        ("macro_f1", ">=", 0.8, "--min-macro-f1 0.8"),
        ("class_f1[cat]", ">=", 0.5, "--min-class-f1 0.5"),
        ("class_f1[bird]", ">=", 0.5, "--min-class-f1 0.5"),
        ("class_f1[dog]", ">=", 0.7, "--min-class-f1 dog=0.7"),
        ("confusion[cat,dog]", "<=", 0.0, "--max-confusion cat,dog=0"),
    ]


def test_min_class_f1_unknown_class() -> None:
    plan = make_plan(CheckOptions(min_class_f1=("horse=0.5",)))
    with pytest.raises(CEError) as err:
        expand_classes(plan.thresholds, CLASSES)
    assert str(err.value) == (
        "--min-class-f1 horse=0.5: no class 'horse'; the classes are cat, dog, bird"
    )


def test_margins_and_comparisons_of_new_metrics() -> None:
    margins = parse_margins(["macro_f1=0.01", "confusion[cat,dog]=2%", "class_f1=0.05"])
    assert str(margin_for("macro_f1", margins)) == "0.01"
    assert str(margin_for("confusion[cat,dog]", margins)) == "2%"
    assert str(margin_for("class_f1[bird]", margins)) == "0.05"
    plan = make_plan(
        CheckOptions(
            baseline="old.parquet",
            max_regression=("confusion[cat,dog]=0.01", "class_f1=0.05"),
            compare=("mcc",),
        )
    )
    keys = [k for k, _ in expand_requests(plan.requests, CLASSES)]
    assert keys == ["mcc", "confusion[cat,dog]", "class_f1[cat]", "class_f1[dog]", "class_f1[bird]"]
    with pytest.raises(CEError) as err:
        parse_margins(["confusion=0.01"])
    assert "confusion is of one pair of classes; name it" in str(err.value)


def test_pair_margins_are_spelled_as_the_checks() -> None:
    from ce_cli.report.check_rules import pair_margins

    margins = pair_margins(parse_margins(["confusion[cat, dog]=0.1", "0.5", "ece=1"]), CLASSES)
    assert {k: str(m) for k, m in margins.items()} == {
        "confusion[cat,dog]": "0.1",
        None: "0.5",
        "ece": "1",
    }


def test_plan_knows_what_the_metrics_need() -> None:
    plan = make_plan(CheckOptions(require=("roc_auc>=0.9", "class_roc_auc[cat]>0.8", "mcc>0")))
    assert plan.needing("auc") == ["roc_auc", "class_roc_auc"]
    assert plan.needing("top_k") == []
    assert not plan.needs_class_predicted  # no baseline: nothing to bootstrap
    plan = make_plan(CheckOptions(require=("top_k_accuracy>=0.9",), baseline="b.csv"))
    assert plan.needing("top_k") == ["top_k_accuracy"]
    assert not plan.needs_class_predicted
    plan = make_plan(CheckOptions(min_macro_f1=0.5, baseline="b.csv"))
    assert plan.needs_class_predicted and plan.per_class_regression


def test_score_options_turn_on_auc_and_require_top_k() -> None:
    plan = make_plan(CheckOptions(require=("average_precision>=0.5",)))
    score, notes = _score_options(plan, ScoreOptions())
    assert score.auc is True
    assert notes == [
        "average_precision: exact --auc turned on by the check (it keeps every score, 8·N·K "
        "bytes; --auc-bins B bounds the memory)"
    ]
    binned = dataclasses.replace(ScoreOptions(), auc_bins=64)
    assert _score_options(plan, binned) == (binned, [])
    plan = make_plan(CheckOptions(require=("top_k_accuracy>=0.9",)))
    with pytest.raises(CEError) as err:
        _score_options(plan, ScoreOptions())
    assert str(err.value) == (
        "top_k_accuracy needs its K: pass --top-k-accuracy K (e.g. --top-k-accuracy 5) with "
        "the check"
    )


# ---------------------------------------------------------------------- applicability
@pytest.mark.parametrize(
    ("metric", "kind", "message"),
    [
        ("macro_f1", "soft", "macro_f1 needs hard labels; this file has soft targets"),
        ("confusion", "soft", "confusion needs hard labels; this file has soft targets"),
        (
            "balanced_accuracy",
            "multi-hot",
            "balanced_accuracy is for single-label data; this file is multi-label (use "
            "macro_f1, micro_f1, class_f1[CLASS] or subset_accuracy)",
        ),
        (
            "confusion",
            "multi-hot",
            "confusion is for single-label data; this file is multi-label (use macro_f1, "
            "micro_f1, class_f1[CLASS] or subset_accuracy)",
        ),
        ("macro_f1", "multi-hot", None),
        ("class_f1", "multi-hot", None),
        ("mcc", "index", None),
        ("roc_auc", "multi-hot", None),
    ],
)
def test_not_applicable(metric: str, kind: str, message: str | None) -> None:
    assert not_applicable(metric, kind) == message


def test_top_k_accuracy_on_one_column() -> None:
    one = {"task": "binary", "target_kind": "index", "classification": {"top_k_accuracy": None}}
    assert not_applicable("top_k_accuracy", "index", one) == (
        "top_k_accuracy needs two or more prediction columns (class scores); this file has "
        "one (binary scores): use accuracy"
    )
    two = {**one, "classification": {"top_k_accuracy": {"k": 2, "value": 1.0}}}
    assert not_applicable("top_k_accuracy", "index", two) is None


# ---------------------------------------------------------------------- values from reports
SCORE: dict[str, Any] = {
    "kind": "score",
    "schema_version": 1,
    "task": "multiclass",
    "target_kind": "index",
    "loss": {"name": "ce", "mean": 0.5},
    "accuracy": 0.7,
    "normalized_cross_entropy": 0.4,
    "per_class": [
        {"name": "cat", "mean_loss": 0.3, "recall": 0.8, "precision": 0.75, "f1": 0.774,
         "predicted": 4.0, "roc_auc": 0.9, "average_precision": 0.8},
        {"name": "dog", "mean_loss": 0.6, "recall": 0.5, "precision": None, "f1": None,
         "predicted": 0.0, "roc_auc": None, "average_precision": None},
        {"name": "bird", "mean_loss": 0.9, "recall": 0.25, "precision": 0.5, "f1": 0.333,
         "predicted": 6.0, "roc_auc": 0.7, "average_precision": 0.6},
    ],
    "classification": {
        "threshold": None,
        "macro_precision": 0.41, "macro_recall": 0.51, "macro_f1": 0.37, "weighted_f1": 0.44,
        "micro_f1": 0.7, "balanced_accuracy": 0.51, "cohen_kappa": 0.2, "mcc": 0.25,
        "top_k_accuracy": {"k": 2, "value": 0.9},
        "confusion": {
            "classes": ["cat", "dog", "bird"],
            "matrix": [[4, 0, 1], [1, 1, 0], [0, 3, 1]],
            "top_pairs": [{"true": "bird", "predicted": "dog", "count": 3, "rate": 0.75}],
            "note": None,
        },
    },
    "auc": {"method": "exact", "bins": None, "max_error": 0, "roc_auc_macro": 0.8,
            "average_precision_macro": 0.7, "roc_auc_weighted": 0.8, "memory_bytes": 240},
}  # fmt: skip


def test_score_metrics_reads_the_contract_fields() -> None:
    m = score_metrics(SCORE, [("bird", "dog"), ("cat", "bird"), ("dog", "cat")])
    assert {k: m[k] for k in ("macro_f1", "weighted_f1", "micro_f1", "mcc", "top_k_accuracy")} == {
        "macro_f1": 0.37,
        "weighted_f1": 0.44,
        "micro_f1": 0.7,
        "mcc": 0.25,
        "top_k_accuracy": 0.9,
    }
    assert (m["macro_precision"], m["macro_recall"], m["balanced_accuracy"]) == (0.41, 0.51, 0.51)
    assert m["cohen_kappa"] == 0.2
    assert (m["roc_auc"], m["average_precision"]) == (0.8, 0.7)
    assert (m["class_f1[cat]"], m["class_f1[dog]"], m["class_precision[bird]"]) == (
        0.774,
        None,
        0.5,
    )
    assert (m["class_roc_auc[cat]"], m["class_roc_auc[dog]"]) == (0.9, None)
    assert m["confusion[bird,dog]"] == 0.75
    assert m["confusion[cat,bird]"] == 0.2
    assert m["confusion[dog,cat]"] == 0.5
    assert "confusion[cat,dog]" not in m  # only the pairs asked for


def test_score_metrics_without_the_blocks() -> None:
    bare = {k: v for k, v in SCORE.items() if k not in ("classification", "auc")}
    m = score_metrics(bare, [("cat", "dog")])
    assert not {"macro_f1", "roc_auc", "class_f1[cat]", "confusion[cat,dog]"} & m.keys()
    no_auc = {**SCORE, "auc": None}
    assert "roc_auc" not in score_metrics(no_auc) and "macro_f1" in score_metrics(no_auc)


def test_confusion_rate_from_top_pairs_when_the_matrix_is_too_big() -> None:
    big = json.loads(json.dumps(SCORE))
    big["classification"]["confusion"]["matrix"] = None
    m = score_metrics(big, [("bird", "dog"), ("cat", "bird")])
    assert m["confusion[bird,dog]"] == 0.75 and m["confusion[cat,bird]"] is None


def test_a_score_report_baseline_gives_the_pairs_asked_for() -> None:
    base = baseline_from_report(SCORE, "old.json", 1)
    assert isinstance(base, BaselineReport) and base.metrics["macro_f1"] == 0.37
    assert "confusion[bird,dog]" not in base.metrics
    base.add_pairs([("bird", "dog")])
    assert base.metrics["confusion[bird,dog]"] == 0.75


def test_regression_directions_of_new_metrics() -> None:
    from ce_cli.report.check_rules import Margin

    worse_f1 = evaluate_regression("macro_f1", 0.70, 0.72, Margin(0.01))
    assert not worse_f1.passed and worse_f1.op == ">="
    assert worse_f1.message == (
        "macro_f1 = 0.7 is lower than the baseline 0.72 by 0.02 (allowed 0.01)"
    )
    worse_confusion = evaluate_regression("confusion[cat,dog]", 0.12, 0.10, Margin(0.01))
    assert not worse_confusion.passed and worse_confusion.op == "<="
    better = evaluate_regression("confusion[cat,dog]", 0.05, 0.10, Margin(0.0))
    assert better.passed


# ---------------------------------------------------------------------- bootstrap sums
def _class_sums(
    labels: np.ndarray,
    predicted: np.ndarray,
    weight: np.ndarray | None,
    c: int,
    *,
    parts: int = 1,
    pairs: tuple[tuple[int, int], ...] = (),
    order: np.ndarray | None = None,
    groups: int = 256,
) -> GroupSums:
    n = labels.size
    order = np.arange(n) if order is None else order
    out = GroupSums.empty(groups, c, predicted=True, pairs=pairs)
    for idx in np.array_split(order, parts):
        s = GroupSums.empty(groups, c, predicted=True, pairs=pairs)
        s.update(
            key_hashes(idx.astype(np.int64)),
            np.zeros(idx.size),
            (labels[idx] == predicted[idx]).astype(float),
            weight=None if weight is None else weight[idx],
            label=labels[idx],
            predicted=predicted[idx],
        )
        out = out.merge(s)
    return out


@pytest.mark.parametrize("case", sorted(GOLDEN["cases"]))
def test_replicate_functions_equal_sklearn(case: str) -> None:
    g = GOLDEN["cases"][case]
    y, p, c = np.array(g["labels"]), np.array(g["predicted"]), g["n_classes"]
    w = None if g["weight"] is None else np.array(g["weight"])
    pairs = tuple((a, b) for a in range(c) for b in range(c) if a != b)
    sums = _class_sums(y, p, w, c, parts=3, pairs=pairs)
    want = g["sklearn"]
    for name in ("macro_f1", "weighted_f1", "macro_precision", "macro_recall"):
        assert classification_statistic(sums, name).value() == pytest.approx(want[name], 1e-12)
    for name in ("balanced_accuracy", "cohen_kappa", "mcc"):
        assert classification_statistic(sums, name).value() == pytest.approx(want[name], 1e-12)
    acc = sums.correct.sum() / sums.mass.sum()
    assert acc == pytest.approx(want["micro_f1"], 1e-12)
    for name in ("class_f1", "class_precision"):
        got = [classification_statistic(sums, name, i).value() for i in range(c)]
        assert [None if np.isnan(v) else pytest.approx(v, 1e-12) for v in got] == want[name]
    cm = np.array(want["confusion"], dtype=float)
    for i, (a, b) in enumerate(pairs):
        rate = classification_statistic(sums, "confusion", i).value()
        expected = cm[a, b] / cm[a].sum() if cm[a].sum() else None
        assert (None if np.isnan(rate) else pytest.approx(rate, 1e-12)) == expected


def test_class_table_covers_the_f1_family() -> None:
    from ce_cli.report.check_rules import PREDICTED_SUMS

    assert set(CLASS_TABLE) == set(PREDICTED_SUMS)


def test_predicted_sums_merge_and_shapes() -> None:
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 999), rng.integers(0, 4, 999)
    one = _class_sums(y, p, None, 4, pairs=((0, 1), (2, 3)))
    for parts in (7, 999):
        many = _class_sums(y, p, None, 4, parts=parts, pairs=((0, 1), (2, 3)))
        assert many.class_predicted is not None and one.class_predicted is not None
        assert np.array_equal(many.class_predicted, one.class_predicted)
        assert many.pair_count is not None and one.pair_count is not None
        assert np.array_equal(many.pair_count, one.pair_count)
    assert one.class_predicted is not None and one.pair_count is not None
    assert one.class_predicted.sum(axis=1).tolist() == np.bincount(p, minlength=4).tolist()
    assert one.pair_count.sum(axis=1).tolist() == [
        int(((y == 0) & (p == 1)).sum()),
        int(((y == 2) & (p == 3)).sum()),
    ]
    with pytest.raises(ValueError, match="different shapes"):
        one.merge(GroupSums.empty(256, 4, predicted=True))


def test_groups_for_keeps_its_memory_bound_with_a_fourth_array() -> None:
    assert groups_for(96) == groups_for(96, 4) == groups_for(128) == 4096
    assert groups_for(100, 4) == groups_for(128, 4) == 2048
    assert groups_for(1000, 4) == 256
    for c in (129, 500, 1000, 5000):
        assert groups_for(c, 4) * c * 4 <= 3 * (1 << 19) or groups_for(c, 4) == 64


def _two_models(seed: int, n: int = 3000, c: int = 4) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    base = np.where(rng.random(n) < 0.7, y, rng.integers(0, c, n))
    cand = np.where(rng.random(n) < 0.1, rng.integers(0, c, n), base)  # a little worse
    return y, base, cand


FAMILY = [*CLASS_TABLE, "confusion"]


def _pairs_of(cur: GroupSums, base: GroupSums) -> dict[str, tuple[Statistic, Statistic]]:
    out: dict[str, tuple[Statistic, Statistic]] = {}
    for name in FAMILY:
        index = 0 if name.startswith("class_") or name == "confusion" else None
        out[name] = (
            classification_statistic(cur, name, index),
            classification_statistic(base, name, index),
        )
    return out


def test_interval_contains_the_observed_difference() -> None:
    y, base_p, cand_p = _two_models(3)
    pairs = ((0, 1),)
    cur = _class_sums(y, cand_p, None, 4, pairs=pairs)
    base = _class_sums(y, base_p, None, 4, pairs=pairs)
    out = paired_intervals(_pairs_of(cur, base), 400, 1)
    for name in FAMILY:
        interval = out[name]
        assert interval is not None, name
        stat_c = classification_statistic(cur, name, 0 if name != "macro_f1" else None)
        assert interval.low <= interval.estimate <= interval.high, name
        assert interval.low < interval.high, name
        assert np.isfinite(stat_c.value())
    # the estimate is the full-data difference
    f1 = out["macro_f1"]
    assert f1 is not None
    assert f1.estimate == pytest.approx(
        classification_statistic(cur, "macro_f1").value()
        - classification_statistic(base, "macro_f1").value(),
        abs=1e-15,
    )


def test_identical_models_give_a_zero_interval() -> None:
    y, base_p, _ = _two_models(4)
    cur = _class_sums(y, base_p, None, 4, pairs=((0, 1),))
    base = _class_sums(y, base_p, None, 4, pairs=((0, 1),), parts=5)
    out = paired_intervals(_pairs_of(cur, base), 200, 0)
    for name in FAMILY:
        interval = out[name]
        assert interval is not None
        assert abs(interval.low) <= 1e-12 and abs(interval.high) <= 1e-12, name


def test_the_interval_does_not_depend_on_batches_or_row_order() -> None:
    y, base_p, cand_p = _two_models(5)
    rng = np.random.default_rng(9)
    cur = _class_sums(y, cand_p, None, 4, pairs=((0, 1),))
    ref = paired_intervals(
        _pairs_of(cur, _class_sums(y, base_p, None, 4, pairs=((0, 1),))),
        300,
        2,
    )
    for parts in (7, 1000):
        order = rng.permutation(y.size)
        base = _class_sums(y, base_p, None, 4, pairs=((0, 1),), parts=parts, order=order)
        got = paired_intervals(_pairs_of(cur, base), 300, 2)
        assert_same_intervals(ref, got, FAMILY)


# ====================================================================== end to end
from conftest import assert_user_error, run, sample  # noqa: E402

MULTICLASS = sample("multiclass.csv")
SCALARS = (
    "macro_f1",
    "weighted_f1",
    "micro_f1",
    "macro_precision",
    "macro_recall",
    "balanced_accuracy",
    "cohen_kappa",
    "mcc",
)


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file from the repository, no GitHub Actions environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


def check_json(*args: str, code: int | None = None) -> dict[str, Any]:
    result = run("check", *args, "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    if code is not None:
        assert result.exit_code == code, result.stdout
    report = json.loads(result.stdout)
    assert report["passed"] is (result.exit_code == 0)
    return report


def score_json(*args: str) -> dict[str, Any]:
    result = run("score", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def failed(report: dict[str, Any]) -> list[str]:
    return [c["name"] for c in report["checks"] if not c["passed"]]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """multiclass.csv's rows with other predictions: tiny noise, a worse model, shuffled rows,
    a copy (the same model), and 600 rows of the first and the worse (also shuffled)."""
    import pandas as pd

    out = tmp_path_factory.mktemp("models")
    data = pd.read_csv(MULTICLASS)
    cols = [c for c in data.columns if c.startswith("logit_")]
    rng = np.random.default_rng(7)
    noisy = data.copy()
    noisy[cols] += rng.normal(0, 0.01, size=(len(data), len(cols)))
    worse = data.copy()
    worse[cols] = worse[cols] * 0.6 + rng.normal(0, 0.8, size=(len(data), len(cols)))
    frames = {
        "copy": data,
        "noisy": noisy,
        "worse": worse,
        "rows": data.iloc[:600],
        "rows_shuffled": data.iloc[:600].sample(frac=1, random_state=2),
        "rows_worse": worse.iloc[:600],
        "rows_worse_shuffled": worse.iloc[:600].sample(frac=1, random_state=1),
    }
    paths = {}
    for name, frame in frames.items():
        paths[name] = str(out / f"{name}.csv")
        frame.to_csv(paths[name], index=False)
    return paths


def test_values_equal_the_score_report() -> None:
    score = score_json(MULTICLASS, "--auc", "--top-k-accuracy", "2")
    block = score["classification"]
    names = [*SCALARS, "top_k_accuracy", "roc_auc", "average_precision"]
    requires = [f"--require={n}>=-1" for n in names]
    requires += [f"--require=class_{m}[*]>=-1" for m in ("f1", "precision", "roc_auc")]
    report = check_json(
        MULTICLASS, *requires, "--max-confusion", "dog,cat=1", "--max-confusion", "horse,fish=1",
        "--top-k-accuracy", "2", code=0,
    )  # fmt: skip
    m = report["metrics"]
    for name in SCALARS:
        assert m[name] == block[name], name
    assert m["top_k_accuracy"] == block["top_k_accuracy"]["value"]
    assert (m["roc_auc"], m["average_precision"]) == (
        score["auc"]["roc_auc_macro"],
        score["auc"]["average_precision_macro"],
    )
    for c in score["per_class"]:
        assert m[f"class_f1[{c['name']}]"] == c["f1"]
        assert m[f"class_precision[{c['name']}]"] == c["precision"]
        assert m[f"class_roc_auc[{c['name']}]"] == c["roc_auc"]
    classes, matrix = block["confusion"]["classes"], block["confusion"]["matrix"]
    row = matrix[classes.index("dog")]
    assert m["confusion[dog,cat]"] == row[classes.index("cat")] / sum(row)
    assert m["confusion[dog,cat]"] == pytest.approx(147 / 972, abs=1e-15)
    assert not [k for k in m if k.startswith("confusion[") and k not in (
        "confusion[dog,cat]", "confusion[horse,fish]")]  # fmt: skip
    assert len(report["checks"]) == len(names) + 3 * 5 + 2


@pytest.mark.parametrize(
    ("args", "passing"),
    [
        (("--min-macro-f1", "0.64"), True),
        (("--min-macro-f1", "0.65"), False),
        (("--min-class-f1", "0.42"), True),
        (("--min-class-f1", "0.43"), False),
        (("--min-class-f1", "0.5", "--min-class-f1", "horse=0.42"), True),
        (("--max-confusion", "dog,cat=0.152"), True),
        (("--max-confusion", "dog,cat=0.151"), False),
        (("--require", "confusion[dog, cat]<0.152"), True),
        (("--require", "macro_f1>=0.8"), False),
        (("--require", "class_f1[cat]>=0.7"), True),
        (("--require", "confusion[cat,dog]<=0.05"), False),
        (("--require", "mcc>0.6", "--require", "cohen_kappa>0.6"), True),
        (("--require", "balanced_accuracy>=0.63"), False),
    ],
)
def test_each_flag_passes_and_fails(args: tuple[str, ...], passing: bool) -> None:
    result = run("check", MULTICLASS, *args)
    assert result.exit_code == (0 if passing else 1), result.stdout + result.stderr


def test_failure_messages_name_value_limit_and_flag() -> None:
    report = check_json(
        MULTICLASS, "--min-macro-f1", "0.65", "--min-class-f1", "horse=0.5",
        "--max-confusion", "dog,cat=0.1", code=1,
    )  # fmt: skip
    assert [c["message"] for c in report["checks"] if not c["passed"]] == [
        "macro_f1 = 0.64599 is below the limit 0.65 (--min-macro-f1 0.65)",
        "class_f1[horse] = 0.424242 is below the limit 0.5 (--min-class-f1 horse=0.5)",
        "confusion[dog,cat] = 0.151235 is above the limit 0.1 (--max-confusion dog,cat=0.1)",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--max-confusion", "cat,zebra=0.1"),
            "--max-confusion cat,zebra=0.1: 'cat,zebra' does not name two classes A,B; the "
            "classes are cat, dog, bird, fish, horse",
        ),
        (
            ("--max-confusion", "cat,dog"),
            "--max-confusion cat,dog: expected A,B=X (the largest allowed share of the rows "
            "labelled A that are predicted as B), e.g. cat,dog=0.05",
        ),
        (
            ("--max-confusion", "cat,cat=0.1"),
            "--max-confusion cat,cat=0.1: confusion[cat,cat] names one class twice",
        ),
        (
            ("--require", "top_k_accuracy>=0.9"),
            "top_k_accuracy needs its K: pass --top-k-accuracy K (e.g. --top-k-accuracy 5) "
            "with the check",
        ),
        (("--min-class-f1", "zebra=0.5"), "--min-class-f1 zebra=0.5: no class 'zebra'"),
        (("--min-macro-f1", "x"), "'x' is not a valid float"),
        (("--require", "confusion<=0.1"), "confusion is of one pair of classes; name it"),
        (
            ("--max-loss", "9", "--baseline", MULTICLASS, "--max-regression", "confusion=0.1"),
            "--max-regression confusion=0.1: confusion is of one pair of classes; name it",
        ),
        (
            ("--max-loss", "9", "--baseline", MULTICLASS, "--compare", "confusion[cat,emu]"),
            "--compare confusion[cat,emu]: 'cat,emu' does not name two classes A,B",
        ),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    assert_user_error(run("check", MULTICLASS, *args), message)


@pytest.mark.parametrize(
    ("file", "args", "message"),
    [
        (
            "binary.csv",
            ("--require", "top_k_accuracy>=0.9", "--top-k-accuracy", "2"),
            "binary.csv: top_k_accuracy needs two or more prediction columns (class scores); "
            "this file has one (binary scores): use accuracy",
        ),
        (
            "multilabel.csv",
            ("--require", "mcc>=0.5"),
            "multilabel.csv: mcc is for single-label data; this file is multi-label (use "
            "macro_f1, micro_f1, class_f1[CLASS] or subset_accuracy)",
        ),
        (
            "multilabel.csv",
            ("--max-confusion", "car,bus=0.1"),
            "multilabel.csv: confusion is for single-label data",
        ),
        (
            "soft_targets.parquet",
            ("--min-macro-f1", "0.5"),
            "soft_targets.parquet: macro_f1 needs hard labels; this file has soft targets",
        ),
    ],
)
def test_a_metric_the_data_lacks_is_exit_2(file: str, args: tuple[str, ...], message: str) -> None:
    assert_user_error(run("check", sample(file), *args), message)


def test_multilabel_f1_gates() -> None:
    score = score_json(sample("multilabel.csv"))
    report = check_json(
        sample("multilabel.csv"), "--min-macro-f1", "0.5", "--min-class-f1", "bus=0.3", code=1
    )
    assert report["metrics"]["macro_f1"] == score["classification"]["macro_f1"]
    assert failed(report) == ["class_f1[bus] >= 0.3"]


def test_auc_gates_turn_on_exact_auc_and_say_so(tmp_path: Path) -> None:
    report = check_json(MULTICLASS, "--require", "roc_auc>=0.9", "--require",
                        "class_roc_auc[horse]>=0.95", code=1)  # fmt: skip
    assert report["notes"][0] == (
        "roc_auc, class_roc_auc: exact --auc turned on by the check (it keeps every score, "
        "8·N·K bytes; --auc-bins B bounds the memory)"
    )
    exact = score_json(MULTICLASS, "--auc")
    assert report["metrics"]["roc_auc"] == exact["auc"]["roc_auc_macro"]
    import junitparser

    junit = tmp_path / "junit.xml"
    result = run("check", MULTICLASS, "--require", "roc_auc>=0.9", "--junit", str(junit))
    assert result.exit_code == 0
    (suite,) = list(junitparser.JUnitXml.fromfile(str(junit)))
    assert [case.name for case in suite] == ["roc_auc >= 0.9"]
    out = suite._elem.find("system-out")
    assert out is not None and out.text == f"note: {report['notes'][0]}".replace(
        "roc_auc, class_roc_auc:", "roc_auc:"
    )
    binned = check_json(MULTICLASS, "--require", "roc_auc>=0.5", "--auc-bins", "64", code=0)
    assert not any("turned on" in n for n in binned["notes"])
    assert (
        binned["metrics"]["roc_auc"]
        == score_json(MULTICLASS, "--auc-bins", "64")["auc"]["roc_auc_macro"]
    )


def test_config_keys(tmp_path: Path) -> None:
    (tmp_path / "ce.toml").write_text(
        "[check]\n"
        "min-macro-f1 = 0.6\n"
        'min_class_f1 = {horse = 0.5, "*" = 0.4}\n'
        'max-confusion = {"dog,cat" = 0.2}\n'
        'require = ["mcc>0.6"]\n'
    )
    report = check_json(MULTICLASS, code=1)
    assert [c["name"] for c in report["checks"]] == [
        "macro_f1 >= 0.6",
        "mcc > 0.6",
        "class_f1[horse] >= 0.5",
        "class_f1[cat] >= 0.4",
        "class_f1[dog] >= 0.4",
        "class_f1[bird] >= 0.4",
        "class_f1[fish] >= 0.4",
        "confusion[dog,cat] <= 0.2",
    ]
    assert failed(report) == ["class_f1[horse] >= 0.5"]
    # flags win over the file
    assert check_json(MULTICLASS, "--min-class-f1", "horse=0.4", code=0)["passed"]


# ---------------------------------------------------------------------- baselines
def test_max_regression_by_value(models: dict[str, str]) -> None:
    report = check_json(
        models["worse"], "--baseline", MULTICLASS, "--max-regression", "macro_f1=0.01",
        "--max-regression", "confusion[dog,cat]=0.02", "--bootstrap", "0", code=1,
    )  # fmt: skip
    by = {c["metric"]: c for c in report["checks"]}
    assert by["macro_f1"]["message"] == (
        "macro_f1 = 0.591382 is lower than the baseline 0.64599 by 0.0546085 (allowed 0.01)"
    )
    assert by["macro_f1"]["threshold"] == pytest.approx(0.64599044103712 - 0.01, abs=1e-12)
    assert by["confusion[dog,cat]"]["passed"] and by["confusion[dog,cat]"]["op"] == "<="
    assert by["confusion[dog,cat]"]["margin"] == "0.02"
    spaced = check_json(
        models["worse"], "--baseline", MULTICLASS, "--max-regression", "confusion[dog, cat]=0.5",
        "--bootstrap", "0",
    )  # fmt: skip
    (pair,) = [c for c in spaced["checks"] if c["metric"] == "confusion[dog,cat]"]
    assert pair["margin"] == "0.5"


FAMILY_ARGS = (
    "--compare", "macro_f1", "--compare", "weighted_f1", "--compare", "micro_f1",
    "--compare", "macro_precision", "--compare", "macro_recall",
    "--compare", "balanced_accuracy", "--compare", "cohen_kappa", "--compare", "mcc",
    "--compare", "class_f1[*]", "--compare", "class_precision[horse]",
    "--max-confusion", "dog,cat=1",
)  # fmt: skip
FAMILY_KEYS = [
    *SCALARS,
    *(f"class_f1[{c}]" for c in ("cat", "dog", "bird", "fish", "horse")),
    "class_precision[horse]",
    "confusion[dog,cat]",
]


def test_paired_bootstrap_of_the_f1_family(models: dict[str, str]) -> None:
    report = check_json(
        models["worse"], "--baseline", MULTICLASS, *FAMILY_ARGS, "--fail-on", "significant",
        "--bootstrap", "300", code=1,
    )  # fmt: skip
    assert set(FAMILY_KEYS) <= set(report["baseline"]["bootstrap"]["metrics"])
    base = report["baseline"]["metrics"]
    for c in report["checks"]:
        if c["kind"] != "regression":
            continue
        ci = c["ci"]
        assert ci is not None and c["decided_by"] == "interval", c["metric"]
        # the estimate is the reported difference, inside the interval
        assert ci["estimate"] == pytest.approx(c["value"] - base[c["metric"]], abs=1e-12)
        assert ci["low"] <= ci["estimate"] <= ci["high"], c["metric"]
    assert "macro_f1 vs baseline" in failed(report)
    assert "confusion[dog,cat] vs baseline" not in failed(report)  # +0.010, interval spans 0


def test_identical_models_give_zero_intervals(models: dict[str, str]) -> None:
    report = check_json(
        models["copy"], "--baseline", MULTICLASS, *FAMILY_ARGS, "--fail-on", "significant",
        "--bootstrap", "200", code=0,
    )  # fmt: skip
    for c in report["checks"]:
        if c["kind"] == "regression":
            assert (c["ci"]["low"], c["ci"]["high"], c["delta"]) == (0.0, 0.0, 0.0), c["metric"]


def test_noise_is_not_significant(models: dict[str, str]) -> None:
    report = check_json(
        models["noisy"], "--baseline", MULTICLASS, *FAMILY_ARGS, "--fail-on", "significant",
        "--bootstrap", "300", code=0,
    )  # fmt: skip
    assert all(c["decided_by"] == "interval" for c in report["checks"] if c["kind"] == "regression")


@pytest.mark.parametrize("batch_size", ["1", "7", "1000"])
def test_the_verdict_does_not_depend_on_batches_or_row_order(
    models: dict[str, str], batch_size: str
) -> None:
    verdicts = []
    for baseline in (models["rows_worse"], models["rows_worse_shuffled"]):
        report = check_json(
            models["rows"], "--baseline", baseline, *FAMILY_ARGS, "--fail-on", "significant",
            "--bootstrap", "200", "--batch-size", batch_size,
        )  # fmt: skip
        verdicts.append([(c["name"], c["passed"]) for c in report["checks"]])
        by = {c["metric"]: c for c in report["checks"]}
        assert by["macro_f1"]["ci"]["low"] > 0 and by["mcc"]["ci"]["low"] > 0
    assert verdicts[0] == verdicts[1]
    assert ("macro_f1 vs baseline", True) in verdicts[0]


def test_a_score_report_baseline_gives_confusion_pairs(
    models: dict[str, str], tmp_path: Path
) -> None:
    base = tmp_path / "worse.json"
    result = run("score", models["worse"], "--format", "json", "-o", str(base))
    assert result.exit_code == 0, result.stderr
    report = check_json(
        MULTICLASS, "--baseline", str(base), "--max-confusion", "dog,cat=0.2",
        "--compare", "macro_f1", code=0,
    )  # fmt: skip
    worse = json.loads(base.read_text())["classification"]
    classes, matrix = worse["confusion"]["classes"], worse["confusion"]["matrix"]
    row = matrix[classes.index("dog")]
    assert report["baseline"]["metrics"]["confusion[dog,cat]"] == row[0] / sum(row)
    regressions = {c["metric"]: c for c in report["checks"] if c["kind"] == "regression"}
    assert regressions["macro_f1"]["baseline"] == worse["macro_f1"]
    assert regressions["confusion[dog,cat]"]["baseline"] == row[0] / sum(row)
    assert regressions["confusion[dog,cat]"]["value"] == 147 / 972
    # a check report is a baseline too
    again = tmp_path / "check.json"
    assert run("check", MULTICLASS, "--max-confusion", "dog,cat=0.2", "--min-macro-f1", "0",
               "--format", "json", "-o", str(again)).exit_code == 0  # fmt: skip
    same = check_json(MULTICLASS, "--baseline", str(again), "--max-confusion", "dog,cat=0.2",
                      "--min-macro-f1", "0", code=0)  # fmt: skip
    assert {c["delta"] for c in same["checks"] if c["kind"] == "regression"} == {0.0}


def test_auc_is_compared_by_value_only(models: dict[str, str]) -> None:
    report = check_json(
        models["worse"], "--baseline", MULTICLASS, "--require", "roc_auc>=0.5",
        "--max-regression", "average_precision=0.5", "--bootstrap", "100", code=1,
    )  # fmt: skip
    regressions = {c["metric"]: c for c in report["checks"] if c["kind"] == "regression"}
    assert regressions["roc_auc"]["ci"] is None and regressions["average_precision"]["ci"] is None
    assert regressions["average_precision"]["passed"] and not regressions["roc_auc"]["passed"]
    assert (
        "roc_auc, average_precision compared with the baseline by value only: ROC-AUC and "
        "average precision are rankings, not sums of rows, so the paired bootstrap gives no "
        "interval"
    ) in report["notes"]
    assert "roc_auc" not in report["baseline"]["bootstrap"]["metrics"]


# ---------------------------------------------------------------------- outputs
def test_table_markdown_junit_and_github(models: dict[str, str], tmp_path: Path) -> None:
    import junitparser

    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    junit = tmp_path / "junit.xml"
    args = ("--min-macro-f1", "0.65", "--max-confusion", "dog,cat=0.2", "--junit", str(junit))
    result = run("check", MULTICLASS, *args, env=env)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"::error title=ce check%3A macro_f1 >= 0.65::{MULTICLASS}: macro_f1 = 0.64599 is below "
        "the limit 0.65 (--min-macro-f1 0.65)"
    )
    suites = junitparser.JUnitXml.fromfile(str(junit))
    cases = [case for suite in suites for case in suite]
    assert [case.name for case in cases] == ["macro_f1 >= 0.65", "confusion[dog,cat] <= 0.2"]
    assert [bool(case.result) for case in cases] == [True, False]
    text = summary.read_text()
    assert "| ❌ | macro_f1 >= 0.65 | 0.64599 | 0.65 |" in text
    assert "| ✅ | confusion[dog,cat] <= 0.2 | 0.151235 | 0.2 |" in text
    table = run("check", MULTICLASS, *args[:4])
    assert "confusion[dog,cat] <= 0.2" in table.stdout and table.exit_code == 1
    html = tmp_path / "check.html"
    assert run("check", MULTICLASS, *args[:4], "--format", "html", "-o", str(html)).exit_code == 1
    assert "confusion[dog,cat] &lt;= 0.2" in html.read_text()


def test_hostile_class_names_in_pair_keys(tmp_path: Path) -> None:
    """Class names with commas, '=', newlines, pipes and markup: the pair resolves, and every
    medium escapes the key."""
    import junitparser
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ce_cli.render.escape import one_line

    names = ("a,b", "c", "x=y|<z>\n::warning::hi")
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3), 90)
    columns: dict[str, Any] = {"label": [names[i % 3] for i in range(90)]}
    for j, name in enumerate(names):
        columns[f"prob_{name}"] = probs[:, j]
    path = tmp_path / "hostile.parquet"
    pq.write_table(pa.table(columns), path)
    summary = tmp_path / "summary.md"
    junit = tmp_path / "junit.xml"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    spec = f"a,b,{names[2]}=0"
    result = run("check", str(path), "--max-confusion", spec, "--junit", str(junit), env=env)
    assert result.exit_code == 1, result.stderr
    key = f"confusion[a,b,{names[2]}]"
    assert not any(line.startswith("::warning::hi") for line in result.stderr.splitlines())
    (case,) = [c for s in junitparser.JUnitXml.fromfile(str(junit)) for c in s]
    assert case.name == f"{one_line(key)} <= 0"
    assert "\n::warning" not in summary.read_text()
    report = check_json(str(path), "--max-confusion", spec)
    assert report["checks"][0]["metric"] == key  # JSON keeps the names exactly
    score = score_json(str(path))["classification"]["confusion"]
    row = score["matrix"][0]
    assert report["metrics"][key] == row[2] / sum(row)
    assert_user_error(
        run("check", str(path), "--max-confusion", "a,c=0.1"),
        "'a,c' does not name two classes A,B; the classes are a,b, c, x=y|<z>",
    )


def test_the_schema_validates_the_new_metrics(models: dict[str, str]) -> None:
    from test_check_schemas import errors, load_schema

    schema = load_schema("check")
    report = check_json(
        models["worse"], "--baseline", MULTICLASS, *FAMILY_ARGS, "--require", "roc_auc>=0",
        "--bootstrap", "50",
    )  # fmt: skip
    assert errors(report, schema, schema) == []
    assert "confusion[" in schema["$defs"]["metrics"]["description"]


def test_group_by_checks_and_group_baselines(tmp_path: Path) -> None:
    import pandas as pd

    data = pd.read_csv(MULTICLASS)
    data["grp"] = data["id"] % 3
    path = str(tmp_path / "grp.csv")
    data.to_csv(path, index=False)
    score = score_json(path, "--group-by", "grp")
    report = check_json(
        path, "--group-by", "grp", "--min-macro-f1", "0.63", "--max-confusion", "dog,cat=0.16",
        code=1,
    )  # fmt: skip
    by_group = {g["value"]: g["metrics"] for g in report["groups"]}
    for g in score["groups"]:
        block = g["classification"]
        assert by_group[g["value"]]["macro_f1"] == block["macro_f1"]
        classes, matrix = block["confusion"]["classes"], block["confusion"]["matrix"]
        row = matrix[classes.index("dog")]
        assert by_group[g["value"]]["confusion[dog,cat]"] == row[0] / sum(row)
    assert failed(report) == ["macro_f1 >= 0.63 [grp=0]", "confusion[dog,cat] <= 0.16 [grp=0]"]
    # a grouped score report as the baseline gives each group's pair
    base = tmp_path / "base.json"
    assert (
        run("score", path, "--group-by", "grp", "--format", "json", "-o", str(base)).exit_code == 0
    )
    again = check_json(
        path, "--group-by", "grp", "--baseline", str(base), "--max-confusion", "dog,cat=1",
        code=0,
    )  # fmt: skip
    pairs = [c for c in again["checks"] if c["kind"] == "regression" and "confusion" in c["name"]]
    assert len(pairs) == 4 and all(c["delta"] == 0.0 for c in pairs)


def test_multilabel_f1_gets_an_interval(tmp_path: Path) -> None:
    """Halved logits keep every decision (z ≥ 0): the per-label sums are the same, so the
    paired interval is [0, 0] (more in test_check_metrics_multilabel.py)."""
    import pandas as pd

    data = pd.read_csv(sample("multilabel.csv"))
    cols = [c for c in data.columns if c.startswith(("logit_", "prob_", "p_"))]
    worse = data.copy()
    worse[cols] = worse[cols] * 0.5
    path = str(tmp_path / "worse.csv")
    worse.to_csv(path, index=False)
    report = check_json(
        path, "--baseline", sample("multilabel.csv"), "--compare", "macro_f1",
        "--fail-on", "significant", "--bootstrap", "50",
    )  # fmt: skip
    (f1,) = [c for c in report["checks"] if c["metric"] == "macro_f1"]
    assert f1["decided_by"] == "interval" and f1["passed"]
    assert (f1["ci"]["low"], f1["ci"]["high"], f1["delta"]) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("batch_size", ["7", "1000"])
def test_rounding_never_decides_a_metric_verdict(models: dict[str, str], batch_size: str) -> None:
    """A limit equal to the value holds for >= and not for >, whatever the batch size; a
    shuffled copy of the same predictions passes every comparison with margin 0."""
    block = score_json(models["rows"])["classification"]
    f1, kappa = block["macro_f1"], block["cohen_kappa"]
    report = check_json(
        models["rows"], "--baseline", models["rows_shuffled"], *FAMILY_ARGS,
        "--min-macro-f1", repr(f1), "--require", f"macro_f1>{f1!r}",
        "--require", f"cohen_kappa>={kappa!r}", "--batch-size", batch_size, "--bootstrap", "0",
        code=1,
    )  # fmt: skip
    assert failed(report) == [f"macro_f1 > {f1:g}"]
    regressions = [c for c in report["checks"] if c["kind"] == "regression"]
    assert len(regressions) == 1 + len(FAMILY_KEYS)  # the loss and the family
    assert all(abs(c["delta"]) <= 1e-12 for c in regressions)


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> str:
    """2000 classes (no confusion matrix is kept): 60 rows labelled 0, of which 9 are
    predicted as 1 and 4 as 2; the other 240 rows random."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    c, n = 2000, 300
    rng = np.random.default_rng(0)
    label = np.concatenate([np.zeros(60, np.int64), rng.integers(3, c, n - 60)])
    logits = rng.normal(size=(n, c)).astype(np.float32)
    predicted = label.copy()
    predicted[:9], predicted[9:13] = 1, 2
    logits[np.arange(n), predicted] = 10.0
    columns: dict[str, Any] = {"label": label}
    columns.update({f"logit_{j}": logits[:, j] for j in range(c)})
    path = tmp_path_factory.mktemp("wide") / "wide.parquet"
    pq.write_table(pa.table(columns), path)
    return str(path)


def test_confusion_beyond_the_kept_matrix_counts_the_pairs_named(wide: str) -> None:
    report = check_json(
        wide, "--max-confusion", "0,1=0.2", "--max-confusion", "0,2=0.05",
        "--require", "confusion[0,3]<=0", code=1,
    )  # fmt: skip
    assert report["metrics"]["confusion[0,1]"] == 9 / 60
    assert report["metrics"]["confusion[0,2]"] == 4 / 60
    assert report["metrics"]["confusion[0,3]"] == 0.0
    assert failed(report) == ["confusion[0,2] <= 0.05"]
    score = score_json(wide)["classification"]["confusion"]
    assert score["matrix"] is None and "requested_pairs" not in score  # only a check asks
    # a baseline of other predictions: the pair's paired interval, at 2000 classes
    import pyarrow.parquet as pq

    table = pq.read_table(wide)
    better = table.set_column(
        table.schema.get_field_index("logit_1"), "logit_1", pq.read_table(wide)["logit_0"]
    )
    base = str(Path(wide).with_name("better.parquet"))
    pq.write_table(better, base)
    again = check_json(
        wide, "--baseline", base, "--max-confusion", "0,1=1", "--bootstrap", "200",
        "--fail-on", "significant",
    )  # fmt: skip
    (pair,) = [c for c in again["checks"] if c["metric"] == "confusion[0,1]" and c["ci"]]
    assert pair["baseline"] == 0.0 and pair["value"] == 9 / 60
    assert 0 < pair["ci"]["low"] <= pair["ci"]["estimate"] == pytest.approx(9 / 60)


def test_the_dask_engine_gives_the_same_metrics() -> None:
    pytest.importorskip("dask.distributed")
    args = ("--min-macro-f1", "0.6", "--max-confusion", "dog,cat=0.2", "--min-class-f1", "0.4")
    local = check_json(MULTICLASS, *args, code=0)
    dask = check_json(MULTICLASS, *args, "--engine", "dask", code=0)
    assert dask["metrics"].keys() == local["metrics"].keys()
    for key, value in local["metrics"].items():
        assert dask["metrics"][key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


@pytest.mark.parametrize("n_classes", [6, 1030])
def test_requested_pairs_are_counted_at_any_class_count(n_classes: int) -> None:
    """With or without the matrix, merged over batches, a named pair's count is Σ s of its rows;
    the score block lists it (valid against the schema)."""
    from test_check_schemas import errors, load_schema

    from ce_cli.engine.metric_sums import ClassificationSums
    from ce_cli.report.classification import _confusion

    rng = np.random.default_rng(2)
    y, p = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    w = rng.uniform(0.5, 2.0, 500)
    pairs = ((0, 1), (2, 0), (4, 5))
    whole = ClassificationSums(n_classes, pairs=pairs)
    merged = ClassificationSums(n_classes, pairs=pairs)
    for idx in np.array_split(np.arange(500), 7):
        part = ClassificationSums(n_classes, pairs=pairs)
        part.add_labels(y[idx], p[idx], w[idx])
        merged = merged.merge(part)
    whole.add_labels(y, p, w)
    assert (whole.matrix is None) == (n_classes > 1024) and merged == whole
    for i, (a, b) in enumerate(pairs):
        want = w[(y == a) & (p == b)].sum()
        assert merged.pair_count(i) == pytest.approx(want, rel=1e-12)
    classes = tuple(str(j) for j in range(n_classes))
    block = _confusion(merged, merged.sums(), classes, False)
    assert block["requested_pairs"][0]["rate"] == pytest.approx(
        w[(y == 0) & (p == 1)].sum() / w[y == 0].sum(), rel=1e-12
    )
    no_rows = {"true": "4", "predicted": "5", "count": 0.0, "rate": None}
    assert block["requested_pairs"][2] == no_rows
    schema = load_schema("score")
    sub = schema["$defs"]["classification"]["properties"]["confusion"]
    assert errors(block, sub, schema) == []
    assert errors({**block, "requested_pairs": [{"true": "0"}]}, sub, schema) != []
