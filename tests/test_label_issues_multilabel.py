"""`ce label-issues` on multi-label files: one-vs-rest per label, equal to cleanlab's
``multi_label=True`` on golden data (tests/golden/make_label_issues_golden.py writes
label_issues_multilabel.json from cleanlab 2.9.0 in a separate venv; cleanlab is never imported
here), streamed in bounded memory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run, run_json, sample

from ce_cli.core import confident_learning as cl
from ce_cli.core.losses import log_sigmoid_pair
from ce_cli.core.vocab import FILTER_BY, RANK_BY
from ce_cli.engine.label_issue_sums import LabelCellTops, LabelJointSums, ThresholdSums

GOLDEN = json.loads((Path(__file__).parent / "golden" / "label_issues_multilabel.json").read_text())
CASES = {c["name"]: c for c in GOLDEN["cases"]}
BIG = "1000000"
SAMPLE_LABELS = ["person", "car", "bicycle", "dog", "traffic_light", "bus"]


def probs_of(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    y, v = np.array(case["labels"]), np.array(case["values"], dtype=np.float64)
    return (np.exp(log_sigmoid_pair(v)[0]) if case["kind"] == "logits" else v), y


def names_of(case: dict[str, Any]) -> list[str]:
    if "sample" in case:
        return SAMPLE_LABELS
    return [f"l{j}" for j in range(len(case["labels"][0]))]


def case_table(case: dict[str, Any]) -> pa.Table:
    """``id``, ``label_l*`` (0/1) and ``prob_l*`` / ``logit_l*``."""
    y, v = np.array(case["labels"]), np.array(case["values"], dtype=np.float64)
    prefix = "prob" if case["kind"] == "probs" else "logit"
    names = names_of(case)
    columns: dict[str, Any] = {"id": [f"r{i}" for i in range(y.shape[0])]}
    columns.update({f"label_{n}": y[:, j] for j, n in enumerate(names)})
    columns.update({f"{prefix}_{n}": v[:, j] for j, n in enumerate(names)})
    return pa.table(columns)


def case_file(case: dict[str, Any], tmp_path: Path) -> str:
    if "sample" in case:
        return sample(case["sample"])
    path = tmp_path / f"{case['name']}.parquet"
    pq.write_table(case_table(case), path)
    return str(path)


def report(path: str, *args: str) -> dict[str, Any]:
    return run_json("label-issues", path, "--top", BIG, *args)


# ---------------------------------------------------------------------- against cleanlab
# every (case, filter) cleanlab answers: its predicted_neq_given refuses a label no row has
FILTER_CASES = [
    (n, f) for n, c in CASES.items() for f in FILTER_BY if f in c["expected"]["flagged"]
]


@pytest.mark.parametrize(("name", "filter_by"), FILTER_CASES)
def test_flagged_rows_equal_cleanlab(name: str, filter_by: str, tmp_path: Path) -> None:
    case = CASES[name]
    expected = case["expected"]
    got = report(case_file(case, tmp_path), "--filter-by", filter_by)
    assert got["task"] == "multilabel"
    assert sorted(t["row"] for t in got["top"]) == expected["flagged"][filter_by]
    assert got["n_flagged"] == len(expected["flagged"][filter_by])
    assert got["num_label_issues"] == expected["num_label_issues"]
    assert got["confident_joint"] == expected["confident_joint"]
    assert got["calibrated_joint"] == expected["calibrated_joint"]
    t = np.array(expected["thresholds"])
    got_t = [[c["threshold_negative"], c["threshold"]] for c in got["per_class"]]
    np.testing.assert_allclose(got_t, t, rtol=0, atol=1e-12)
    per_label = expected["per_label_flagged"][filter_by]
    assert [c["issues"] for c in got["per_class"]] == [len(rows) for rows in per_label]
    names = names_of(case)
    for row in got["top"]:
        flagged_on = [names[j] for j, rows in enumerate(per_label) if row["row"] in rows]
        assert row["issue_labels"] == flagged_on


@pytest.mark.parametrize("name", list(CASES))
def test_per_label_counts_and_rates(name: str, tmp_path: Path) -> None:
    """Per label: positives, flagged rows given / predicted the label, and the two noise rates
    of its calibrated 2×2 joint."""
    case = CASES[name]
    expected = case["expected"]
    probs, y = probs_of(case)
    got = report(case_file(case, tmp_path), "--filter-by", "confident_learning")
    flagged = np.zeros(y.shape, dtype=bool)
    for j, rows in enumerate(expected["per_label_flagged"]["confident_learning"]):
        flagged[rows, j] = True
    for j, c in enumerate(got["per_class"]):
        assert (c["support"], c["negatives"]) == (int(y[:, j].sum()), int((1 - y[:, j]).sum()))
        assert c["issues_given"] == int((flagged[:, j] & (y[:, j] == 1)).sum())
        assert c["issues_true"] == int((flagged[:, j] & (probs[:, j] > 1 - probs[:, j])).sum())
        cal = np.array(expected["calibrated_joint"][j])
        sides = ((c["noise_rate"], 1, c["support"]), (c["noise_rate_negative"], 0, c["negatives"]))
        for rate, side, n in sides:
            assert rate == (pytest.approx(1 - cal[side, side] / n, abs=1e-15) if n else None)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("rank_by", RANK_BY)
def test_ranking_and_quality_scores_equal_cleanlab(name: str, rank_by: str, tmp_path: Path) -> None:
    case = CASES[name]
    expected = case["expected"]
    got = report(case_file(case, tmp_path), "--rank-by", rank_by)
    assert [t["row"] for t in got["top"]] == expected["ranked"][rank_by]
    quality = np.array(expected["quality"][rank_by])
    for t in got["top"]:
        assert abs(t["quality"] - quality[t["row"]]) <= 1e-12


@pytest.mark.parametrize("name", list(CASES))
def test_core_kernels_equal_cleanlab(name: str) -> None:
    case = CASES[name]
    expected = case["expected"]
    probs, y = probs_of(case)
    for method in RANK_BY:
        np.testing.assert_allclose(
            cl.multilabel_quality_scores(probs, y, method),
            expected["quality"][method],
            rtol=0,
            atol=1e-12,
        )
    sums, counts = cl.label_threshold_sums(probs, y)
    t = cl.thresholds(sums, counts)
    np.testing.assert_allclose(t, expected["thresholds"], rtol=0, atol=1e-12)
    joint = LabelJointSums(t)
    joint.update(probs, y)
    cj = cl.per_label(cl.confident_joint, joint.pairs)  # each diagonal raised to at least 1
    assert cj.tolist() == expected["confident_joint"]
    assert joint.n_off_diagonal == expected["num_label_issues"]
    calibrated = cl.per_label(cl.calibrate, cj, counts)
    assert calibrated.tolist() == expected["calibrated_joint"]


@pytest.mark.parametrize("name", list(CASES))
def test_label_kernels_equal_the_binary_kernels_per_label(name: str) -> None:
    """The (n, L) kernels give, label by label, what the single-label kernels give on
    ``[1 − p_j, p_j]`` — also on exact ties (p = 0.5) and rows at a threshold."""
    probs, y = probs_of(CASES[name])
    probs = probs.copy()
    probs[:5] = 0.5
    t = cl.thresholds(*cl.label_threshold_sums(probs, y))
    probs[5:10, 0] = t[0, 1] - 1e-6  # exactly on label 0's confidence boundary
    facts = cl.label_row_facts(probs, y, t)
    off, neq = cl.label_issue_masks(facts, y)
    for j in range(y.shape[1]):
        binary = cl.binary_columns(probs[:, j])
        one = cl.row_facts(binary, y[:, j], t[j])
        assert facts.true_guess[:, j].tolist() == one.true_guess.tolist()
        assert facts.suggested[:, j].tolist() == (one.suggested == 1).tolist()
        assert facts.given_is_top[:, j].tolist() == one.given_is_top.tolist()
        one_off, one_neq = cl.issue_masks(one, y[:, j])
        assert off[:, j].tolist() == one_off.tolist() and neq[:, j].tolist() == one_neq.tolist()
        sums, counts = cl.threshold_sums(binary, y[:, j])
        assert cl.label_threshold_sums(probs, y)[1][j].tolist() == counts.tolist()
        np.testing.assert_allclose(cl.label_threshold_sums(probs, y)[0][j], sums, rtol=1e-13)
    pairs = cl.label_joint_counts(y, facts.true_guess)
    for j in range(y.shape[1]):
        one = cl.row_facts(cl.binary_columns(probs[:, j]), y[:, j], t[j])
        assert pairs[j].tolist() == cl.joint_counts(y[:, j], one.true_guess, 2).tolist()


def test_exponential_moving_average_is_cleanlabs() -> None:
    # cleanlab.internal.multilabel_scorer.exponential_moving_average's docstring example
    assert cl.exponential_moving_average(np.array([[0.1, 0.2, 0.3]]), alpha=0.5).tolist() == [0.175]
    # default alpha 0.8, sorted largest first: 0.9 → 0.8·0.5 + 0.2·0.9 → 0.8·0.1 + 0.2·that
    assert cl.exponential_moving_average(np.array([[0.5, 0.1, 0.9]]))[0] == pytest.approx(
        0.8 * 0.1 + 0.2 * (0.8 * 0.5 + 0.2 * 0.9), abs=1e-15
    )


def test_labels_no_row_or_every_row_has(tmp_path: Path) -> None:
    """A label no row has: its positive threshold is 2 (cleanlab's missing class), and
    predicted_neq_given still flags rows predicted to have it (cleanlab refuses: one class).
    A label every row has (cleanlab refuses it: "Labels must contain at least 2 classes") is
    the mirror case: its negative threshold is 2."""
    case = CASES["multilabel_empty_label"]
    assert len(FILTER_CASES) == 5 * len(CASES) - 1
    path = case_file(case, tmp_path)
    got = report(path, "--filter-by", "predicted_neq_given")
    empty = got["per_class"][1]
    assert (empty["support"], empty["threshold"]) == (0, 2.0)
    probs, _ = probs_of(case)
    assert empty["issues"] == int((probs[:, 1] > 1 - probs[:, 1]).sum())
    table = pq.read_table(path)
    full = table.set_column(2, "label_l1", pa.array(np.ones(table.num_rows, dtype=np.int64)))
    pq.write_table(full, tmp_path / "full.parquet")
    got = report(str(tmp_path / "full.parquet"))
    assert (got["per_class"][1]["negatives"], got["per_class"][1]["threshold_negative"]) == (0, 2.0)


def test_a_label_of_one_row_is_never_pruned(tmp_path: Path) -> None:
    """multilabel_rare_label: label l1 is given on one row only; the prune filters leave that
    row alone (cleanlab's min_examples_per_class=1), the rows without it are still flagged."""
    case = CASES["multilabel_rare_label"]
    got = report(case_file(case, tmp_path), "--filter-by", "prune_by_class")
    rare = got["per_class"][1]
    assert (rare["support"], rare["issues_given"]) == (1, 0)
    assert rare["issues"] == len(case["expected"]["per_label_flagged"]["prune_by_class"][1]) > 0


# ---------------------------------------------------------------------- streaming invariants
def _without_thresholds(got: dict[str, Any]) -> tuple[dict[str, Any], list[list[float]]]:
    t = [[c.pop("threshold"), c.pop("threshold_negative")] for c in got["per_class"]]
    return got, t


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "confident_learning"])
def test_batch_size_and_threads_change_nothing(filter_by: str, tmp_path: Path) -> None:
    path = case_file(CASES["multilabel_logits"], tmp_path)
    whole, t_whole = _without_thresholds(report(path, "--filter-by", filter_by))
    for args in (
        ["--batch-size", "1"],
        ["--batch-size", "7"],
        ["--batch-size", "1000"],
        ["--batch-size", "100", "--threads", "2"],
    ):
        chunked, t = _without_thresholds(report(path, "--filter-by", filter_by, *args))
        np.testing.assert_allclose(t, t_whole, rtol=1e-14)  # sums in another order
        assert chunked == whole


def test_row_order_and_shards_change_nothing_but_row_numbers(tmp_path: Path) -> None:
    case = CASES["multilabel_probs"]
    table = case_table(case)
    path = tmp_path / "whole.parquet"
    pq.write_table(table, path)
    whole = report(str(path))
    order = np.random.default_rng(5).permutation(table.num_rows)
    shuffled = tmp_path / "shuffled.parquet"
    pq.write_table(table.take(pa.array(order)), shuffled)
    shards = tmp_path / "shards"
    shards.mkdir()
    for i, start in enumerate(range(0, table.num_rows, 250)):
        pq.write_table(table.slice(start, 250), shards / f"part-{i}.parquet")
    for path_ in (str(shuffled), str(shards)):
        got = report(path_)
        for key in ("num_label_issues", "n_flagged", "confident_joint", "calibrated_joint"):
            assert got[key] == whole[key]
        assert {(t["id"], t["quality"]) for t in got["top"]} == {
            (t["id"], t["quality"]) for t in whole["top"]
        }
    assert report(str(shards))["top"] == whole["top"]  # same rows, same numbers


def test_label_cell_heaps_merge_as_one_pass() -> None:
    probs, y = probs_of(CASES["multilabel_logits"])
    sums, counts = cl.label_threshold_sums(probs, y)
    t = cl.thresholds(sums, counts)
    joint = LabelJointSums(t)
    joint.update(probs, y)
    calibrated = cl.per_label(cl.calibrate, cl.per_label(cl.confident_joint, joint.pairs), counts)
    quota = cl.per_label(cl.prune_quotas, calibrated, counts)
    one = LabelCellTops(quota)
    one.update(probs, y, np.arange(y.shape[0]))
    parts = []
    for start in range(0, y.shape[0], 37):
        part = LabelCellTops(quota)
        block = slice(start, start + 37)
        part.update(probs[block], y[block], np.arange(y.shape[0])[block])
        parts.append(part)
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    assert [[a.tolist() for a in c] for c in merged.chosen()] == [
        [a.tolist() for a in c] for c in one.chosen()
    ]
    halves = ThresholdSums((y.shape[1], 2))
    halves.update(probs[:400], y[:400])
    rest = ThresholdSums((y.shape[1], 2))
    rest.update(probs[400:], y[400:])
    both = halves.merge(rest)
    assert both.counts.tolist() == counts.tolist()
    np.testing.assert_allclose(both.sums, sums, rtol=1e-15)


# ---------------------------------------------------------------------- rows, table, errors
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_o_writes_every_flagged_row_with_its_labels(suffix: str, tmp_path: Path) -> None:
    case = CASES["multilabel_logits"]
    out = tmp_path / f"rows{suffix}"
    path = case_file(case, tmp_path)
    result = run("label-issues", path, "--top", "3", "-o", str(out), "--format", "json")
    assert result.exit_code == 0, result.stderr
    flagged = case["expected"]["flagged"]["prune_by_noise_rate"]
    assert f"ce: wrote {out} ({len(flagged)} rows)" in result.stderr
    table = pq.read_table(out) if suffix == ".parquet" else pacsv.read_csv(out)
    columns = ["row", "id", "given", "suggested", "issue_labels", "quality"]
    assert table.column_names == columns
    rows = table.column("row").to_pylist()
    assert rows == flagged
    probs, y = probs_of(case)
    names = np.array(names_of(case))
    given = [names[y[r] == 1].tolist() for r in rows]
    suggested = [names[probs[r] > 1 - probs[r]].tolist() for r in rows]
    if suffix == ".csv":
        given = [",".join(g) for g in given]
        suggested = [",".join(s) for s in suggested]
    got_given = [g if g is not None else "" for g in table.column("given").to_pylist()]
    got_suggested = [s if s is not None else "" for s in table.column("suggested").to_pylist()]
    assert got_given == given
    assert got_suggested == suggested
    np.testing.assert_allclose(
        table.column("quality").to_numpy(),
        np.array(case["expected"]["quality"]["self_confidence"])[rows],
        rtol=0,
        atol=1e-12,
    )


def test_table_lists_labels_and_flagged_labels() -> None:
    result = run("label-issues", sample("multilabel.csv"), "--top", "2")
    assert result.exit_code == 0, result.stderr
    assert "estimated 304 label issues (15.2 %)" in result.stdout
    assert "missing rate" in result.stdout and "labels flagged" in result.stdout
    assert "person,bicycle,bus" in result.stdout  # row 1253's flagged labels
    assert "multi-label: one-vs-rest per label" in result.stdout
    csv = run("label-issues", sample("multilabel.csv"), "--top", "5", "--format", "csv")
    lines = csv.stdout.splitlines()
    assert lines[0] == "row,id,given,suggested,issue_labels,quality"
    assert lines[1].startswith('1253,1253,"person,bus",bicycle,"person,bicycle,bus",0.0220497')
    assert lines[5].startswith('115,115,"car,bus",,"car,bus",')  # nothing predicted: empty
    table = run("label-issues", sample("multilabel.csv"), "--top", "5")
    assert "| (none)     |" in table.stdout


def test_multilabel_reports_match_the_schema(tmp_path: Path) -> None:
    from test_check_schemas import validate

    validate(run_json("label-issues", sample("multilabel.csv")), "label_issues")
    path = case_file(CASES["multilabel_probs"], tmp_path)
    validate(report(path, "--filter-by", "both", "--rank-by", "normalized_margin"), "label_issues")


def test_multilabel_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("label_a,label_b,prob_a,prob_b\n1,0,0.2,0.8\n0,1,1.5,0.1\n")
    assert_user_error(
        run("label-issues", str(bad), "--inputs", "probs"),
        "bad.csv: column prob_a has a value outside [0, 1] (row 2: 1.5)",
    )
    three = tmp_path / "three.csv"
    three.write_text("label_a,label_b,prob_a,prob_b,prob_c\n1,0,0.2,0.8,0.1\n")
    assert_user_error(
        run("label-issues", str(three)),
        "three.csv: 2 label columns (label_a, label_b) but 3 classes (a, b, c); they must match",
    )


# ---------------------------------------------------------------------- ce check
@pytest.mark.parametrize(("limit", "code"), [("304", 0), ("303", 1), ("16%", 0), ("15%", 1)])
def test_check_gates_on_multilabel_label_issues(limit: str, code: int) -> None:
    result = run("check", sample("multilabel.csv"), "--max-label-issues", limit, "--format", "json")
    assert result.exit_code == code, result.stderr
    got = json.loads(result.stdout)
    assert (
        got["metrics"]["label_issues"] == CASES["sample_multilabel"]["expected"]["num_label_issues"]
    )
    assert got["metrics"]["label_issue_rate"] == 304 / 2000
