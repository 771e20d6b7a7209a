"""`ce label-issues`: confident learning equal to cleanlab on golden data, streamed.

The golden values come from cleanlab itself (tests/golden/make_label_issues_golden.py, run in a
separate venv); cleanlab is never imported here.
"""

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
from ce_cli.core.losses import log_sigmoid_pair, log_softmax
from ce_cli.core.vocab import FILTER_BY, RANK_BY
from ce_cli.engine.label_issue_sums import CellTop

GOLDEN = json.loads((Path(__file__).parent / "golden" / "label_issues.json").read_text())
CASES = {c["name"]: c for c in GOLDEN["cases"]}
BIG = "1000000"


def probs_of(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    y, v = np.array(case["labels"]), np.array(case["values"], dtype=np.float64)
    if case["kind"] == "logits" and v.shape[1] == 1:
        log_p, log_1mp = log_sigmoid_pair(v[:, 0])
        return np.column_stack([np.exp(log_1mp), np.exp(log_p)]), y
    if case["kind"] == "logits":
        return np.exp(log_softmax(v)), y
    return v, y


def case_file(case: dict[str, Any], tmp_path: Path, suffix: str = ".parquet") -> str:
    """The case as a file ce reads: ``label``, ``id`` and ``prob_c*`` / ``logit_c*`` (or one
    ``logit`` column for binary)."""
    if "sample" in case:
        return sample(case["sample"])
    v = np.array(case["values"], dtype=np.float64)
    prefix = "prob" if case["kind"] == "probs" else "logit"
    columns: dict[str, Any] = {
        "id": [f"r{i}" for i in range(v.shape[0])],
        "label": np.array(case["labels"]),
    }
    if v.shape[1] == 1:
        columns[prefix] = v[:, 0]
    else:
        columns.update({f"{prefix}_c{j}": v[:, j] for j in range(v.shape[1])})
    table = pa.table(columns)
    path = tmp_path / f"{case['name']}{suffix}"
    if suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return str(path)


def report(path: str, *args: str) -> dict[str, Any]:
    return run_json("label-issues", path, "--top", BIG, *args)


# ---------------------------------------------------------------------- against cleanlab
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("filter_by", FILTER_BY)
def test_flagged_rows_equal_cleanlab(name: str, filter_by: str, tmp_path: Path) -> None:
    case = CASES[name]
    expected = case["expected"]
    got = report(case_file(case, tmp_path), "--filter-by", filter_by)
    assert sorted(t["row"] for t in got["top"]) == expected["flagged"][filter_by]
    assert got["n_flagged"] == len(expected["flagged"][filter_by])
    assert got["num_label_issues"] == expected["num_label_issues"]
    assert got["confident_joint"] == expected["confident_joint"]
    assert got["calibrated_joint"] == expected["calibrated_joint"]
    thresholds = [c["threshold"] for c in got["per_class"]]
    np.testing.assert_allclose(thresholds, expected["thresholds"], rtol=0, atol=1e-12)
    assert got["passes"] == (4 if filter_by.startswith("prune") or filter_by == "both" else 2)


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
            cl.quality_scores(probs, y, method), expected["quality"][method], rtol=0, atol=1e-12
        )
    sums, counts = cl.threshold_sums(probs, y)
    t = cl.thresholds(sums, counts)
    facts = cl.row_facts(probs, y, t)
    pairs = cl.joint_counts(y, facts.true_guess, probs.shape[1])
    off = np.flatnonzero((facts.true_guess >= 0) & (facts.true_guess != y))
    assert off.tolist() == expected["off_diagonal_rows"]
    assert cl.calibrate(cl.confident_joint(pairs), counts).tolist() == expected["calibrated_joint"]


def test_missing_class_threshold_is_two() -> None:
    thresholds = CASES["missing_class"]["expected"]["thresholds"]
    assert thresholds[2] == 2.0
    t = cl.thresholds(np.array([0.5, 0.0, 1e-9]), np.array([1, 0, 1]))
    assert t.tolist() == [0.5, 2.0, 2e-6]


def test_round_preserving_sum_equals_cleanlab() -> None:
    # cleanlab.internal.util.round_preserving_sum on the same inputs (cleanlab 2.9.0)
    assert cl.round_preserving_sum(np.array([0.4, 0.4, 0.4, 1.8])).tolist() == [0, 0, 1, 2]
    assert cl.round_preserving_sum(np.array([2.5, 2.5])).tolist() == [2, 3]
    assert cl.round_preserving_sum(np.array([0.6, 0.6, 0.6, 0.2])).tolist() == [0, 1, 1, 0]


# ---------------------------------------------------------------------- streaming invariants
@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "both", "confident_learning"])
def test_chunking_and_threads_change_nothing(filter_by: str, tmp_path: Path) -> None:
    path = case_file(CASES["many_classes_probs"], tmp_path)
    whole = report(path, "--filter-by", filter_by)
    t_whole = [c.pop("threshold") for c in whole["per_class"]]
    for args in (["--batch-size", "7"], ["--batch-size", "100", "--threads", "2"]):
        chunked = report(path, "--filter-by", filter_by, *args)
        t = [c.pop("threshold") for c in chunked["per_class"]]
        np.testing.assert_allclose(t, t_whole, rtol=1e-14)  # sums in another order
        assert chunked == whole


def test_cell_heaps_stay_within_their_quotas() -> None:
    probs, y = probs_of(CASES["many_classes_probs"])
    counts = np.bincount(y, minlength=probs.shape[1])
    t = cl.thresholds(*cl.threshold_sums(probs, y))
    pairs = cl.joint_counts(y, cl.row_facts(probs, y, t).true_guess, probs.shape[1])
    quota = cl.prune_quotas(cl.calibrate(cl.confident_joint(pairs), counts), counts)
    cells = CellTop(quota)
    cells.limit = 50  # force many cut-backs
    for start in range(0, y.size, 16):
        block = slice(start, start + 16)
        cells.update(probs[block], y[block], np.arange(y.size)[block])
        assert cells.cells.size <= quota.sum()  # kept: at most the quotas
        assert cells.n_pending <= cells.limit + 16 * probs.shape[1]  # buffered: one block more
    by_noise_rate, by_class = cells.chosen()
    assert cells.cells.size == quota.sum()
    assert np.bincount(y[by_class], minlength=quota.shape[0]).tolist() == np.diag(quota).tolist()
    one = CellTop(quota)
    one.update(probs, y, np.arange(y.size))
    assert [a.tolist() for a in one.chosen()] == [by_noise_rate.tolist(), by_class.tolist()]


def test_top_caps_the_listed_rows_only(tmp_path: Path) -> None:
    path = case_file(CASES["multiclass_probs"], tmp_path)
    got = run_json("label-issues", path, "--top", "5")
    expected = CASES["multiclass_probs"]["expected"]
    assert [t["row"] for t in got["top"]] == expected["ranked"]["self_confidence"][:5]
    assert got["n_flagged"] == len(expected["flagged"]["prune_by_noise_rate"])
    assert got["top"][0]["id"] == f"r{got['top'][0]['row']}"


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_o_writes_every_flagged_row_in_input_order(suffix: str, tmp_path: Path) -> None:
    case = CASES["multiclass_logits"]
    path = case_file(case, tmp_path)
    out = tmp_path / f"rows{suffix}"
    result = run("label-issues", path, "--top", "3", "-o", str(out), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert f"ce: wrote {out} (184 rows)" in result.stderr
    assert len(json.loads(result.stdout)["top"]) == 3
    table = pq.read_table(out) if suffix == ".parquet" else pacsv.read_csv(out)
    assert table.column_names == ["row", "id", "given", "suggested", "p_suggested", "quality"]
    rows = table.column("row").to_pylist()
    assert rows == case["expected"]["flagged"]["prune_by_noise_rate"]
    assert table.column("id").to_pylist() == [f"r{r}" for r in rows]
    probs, y = probs_of(case)
    assert table.column("given").to_pylist() == [f"c{y[r]}" for r in rows]
    suggested = probs[rows].argmax(axis=1)
    assert table.column("suggested").to_pylist() == [f"c{s}" for s in suggested]
    np.testing.assert_allclose(
        table.column("quality").to_numpy(),
        np.array(case["expected"]["quality"]["self_confidence"])[rows],
        rtol=0,
        atol=1e-12,
    )


# ---------------------------------------------------------------------- the sample file
def test_sample_file_finds_the_flipped_labels() -> None:
    import pandas as pd

    df = pd.read_csv(sample("label_errors.csv"))
    flipped = set(np.flatnonzero(df["label"] != df["original_label"]).tolist())
    assert len(flipped) == 21
    got = report(sample("label_errors.csv"))
    flagged = {t["row"] for t in got["top"]}
    assert got["summary"] == "estimated 16 label issues (2.2 %)"
    assert len(flagged) == 20 and flagged <= flipped
    for t in got["top"]:
        assert t["suggested"] == str(df["original_label"][t["row"]])
        assert t["id"] == f"img_{t['row']:04d}"


def test_table_says_predictions_must_be_out_of_sample() -> None:
    result = run("label-issues", sample("label_errors.csv"), "--top", "3")
    assert result.exit_code == 0, result.stderr
    assert "estimated 16 label issues (2.2 %)" in result.stdout
    assert "The predictions must be out-of-sample (cross-validated" in result.stdout
    assert "3 of 20 flagged rows" in result.stdout


def test_ignored_rows_are_left_out(tmp_path: Path) -> None:
    case = CASES["multiclass_probs"]
    path = tmp_path / "ignored.parquet"
    table = pq.read_table(case_file(case, tmp_path))
    labels = table.column("label").to_numpy().copy()
    labels[:50] = -100
    pq.write_table(table.set_column(1, "label", pa.array(labels)), path)
    got = report(str(path), "--filter-by", "confident_learning")
    assert got["n_samples"] == 700 and got["n_used"] == 650 and got["n_ignored"] == 50
    probs, y = probs_of(case)
    t = cl.thresholds(*cl.threshold_sums(probs[50:], y[50:]))
    facts = cl.row_facts(probs[50:], y[50:], t)
    off = (facts.true_guess >= 0) & (facts.true_guess != y[50:]) & ~facts.given_is_top
    assert sorted(r["row"] for r in got["top"]) == (np.flatnonzero(off) + 50).tolist()


# ---------------------------------------------------------------------- errors
def test_errors_are_one_line(tmp_path: Path) -> None:
    # multi-label data is supported since (tests/test_label_issues_multilabel.py)
    assert_user_error(
        run("label-issues", sample("soft_targets.parquet")), "soft targets (class probabilities)"
    )
    assert_user_error(
        run("label-issues", "-", input="label,logit\n1,0.3\n"),
        "ce label-issues reads the input two or more times; stdin can be read once",
    )
    assert_user_error(
        run("label-issues", sample("multiclass.parquet"), "--weight-col", "weight"),
        "--weight-col is not used by ce label-issues",
        "confident learning counts rows",
        "cleanlab has no sample weight; drop it",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("label,prob_a,prob_b\na,0.2,0.8\nb,1.5,0.1\n")
    assert_user_error(
        run("label-issues", str(bad), "--inputs", "probs"),
        "bad.csv: column prob_a has a value outside [0, 1] (row 2: 1.5)",
        "pass --inputs logits",
    )
    nan = tmp_path / "nan.csv"
    nan.write_text("label,logit_a,logit_b\na,0.2,0.8\nb,nan,0.1\n")
    assert_user_error(
        run("label-issues", str(nan)), "nan.csv: column logit_a has NaN or infinite predictions"
    )
    assert_user_error(
        run("label-issues", sample("binary.csv"), "-o", str(tmp_path / "rows.xlsx")),
        "rows.xlsx",
    )
    assert_user_error(
        run("label-issues", sample("binary.csv"), "--filter-by", "best"), "--filter-by"
    )


def test_report_goes_to_o_json(tmp_path: Path) -> None:
    out = tmp_path / "issues.json"
    result = run("label-issues", sample("label_errors.csv"), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text())["num_label_issues"] == 16


# ---------------------------------------------------------------------- the JSON Schema
def test_reports_match_the_schema(tmp_path: Path) -> None:
    from test_check_schemas import errors, load_schema, validate

    schema = load_schema("label_issues")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["kind"]["const"] == "label_issues"
    assert schema["properties"]["filter_by"]["enum"] == list(FILTER_BY)
    assert schema["properties"]["rank_by"]["enum"] == list(RANK_BY)
    validate(run_json("label-issues", sample("label_errors.csv")), "label_issues")
    binary = case_file(CASES["binary_one_logit"], tmp_path)
    validate(
        report(binary, "--filter-by", "both", "--rank-by", "normalized_margin"), "label_issues"
    )
    broken = run_json("label-issues", sample("label_errors.csv"))
    broken["top"][0]["row"] = -1
    broken["filter_by"] = "best"
    assert errors(broken, schema, schema) == [
        "$.filter_by: 'best' not in " + str(list(FILTER_BY)),
        "$.top[0].row: -1 < 0",
    ]


# ---------------------------------------------------------------------- ce check
@pytest.mark.parametrize(
    ("limit", "code", "metric", "value"),
    [
        ("16", 0, "label_issues", 16),
        ("15", 1, "label_issues", 16),
        ("3%", 0, "label_issue_rate", 16 / 720),
        ("2%", 1, "label_issue_rate", 16 / 720),
    ],
)
def test_check_gates_on_label_issues(limit: str, code: int, metric: str, value: float) -> None:
    result = run(
        "check", sample("label_errors.csv"), "--max-label-issues", limit, "--format", "json"
    )
    assert result.exit_code == code, result.stderr
    got = json.loads(result.stdout)
    assert got["checks"][0]["metric"] == metric
    assert got["checks"][0]["value"] == value
    assert got["metrics"]["label_issues"] == 16


def test_check_label_issue_errors() -> None:
    assert_user_error(
        run("check", sample("label_errors.csv"), "--max-label-issues", "1.5"),
        "--max-label-issues 1.5: expected a row count (an integer >= 0) or a percentage P%",
    )
    assert_user_error(
        run("check", sample("label_errors.csv"), "--max-label-issues", "120%"),
        "--max-label-issues 120%: a percentage must be in 0 … 100",
    )
    assert_user_error(
        run("check", sample("soft_targets.parquet"), "--max-label-issues", "5"),
        "soft_targets.parquet: label_issues needs one given class per row",
    )
    result = run("check", sample("label_errors.csv"), "--require", "label_issue_rate<0.02")
    assert result.exit_code == 1
    assert "label_issue_rate = 0.0222222 is not below the limit 0.02" in result.stdout


def test_where_keeps_input_row_numbers() -> None:
    got = report(sample("label_errors.csv"), "--where", "label in 2,3,4")
    assert got["n_samples"] == 219
    assert got["summary"] == "estimated 3 label issues (1.4 %)"
    for t in got["top"]:
        assert t["given"] in ("2", "3", "4")
        assert t["id"] == f"img_{t['row']:04d}"


def test_click_choices_are_the_vocabularies() -> None:
    import click

    from ce_cli.cli.label_issues import label_issues_command

    choices = {
        p.name: list(p.type.choices)
        for p in label_issues_command.params
        if isinstance(p.type, click.Choice)
    }
    assert choices["filter_by"] == list(FILTER_BY)
    assert choices["rank_by"] == list(RANK_BY)
    assert FILTER_BY[0] == "prune_by_noise_rate"  # cleanlab's default
