"""`ce label-issues --group-by COL`: every group's report is the report of a run on its rows
alone (its own thresholds, confident joint, quotas and flagged rows; rows stay input rows), and
the overall report is the report without --group-by. `--weight-col` is refused: a sample weight
has no meaning in confident learning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run, run_json, sample
from test_label_issues_multilabel import CASES as MULTILABEL
from test_label_issues_multilabel import case_table as multilabel_table

GOLDEN = json.loads((Path(__file__).parent / "golden" / "label_issues.json").read_text())
CASES = {c["name"]: c for c in GOLDEN["cases"]}
BIG = "1000000"
PER_GROUP_ONLY = ("group_by", "groups", "source")


def grouped_file(tmp_path: Path, multilabel: bool = False) -> str:
    """many_classes_probs (or multilabel_logits) with a column ``src`` of three values."""
    if multilabel:
        table = multilabel_table(MULTILABEL["multilabel_logits"])
    else:
        case = CASES["many_classes_probs"]
        v = np.array(case["values"])
        columns: dict[str, Any] = {
            "id": [f"r{i}" for i in range(v.shape[0])],
            "label": np.array(case["labels"]),
        }
        columns.update({f"prob_c{j}": v[:, j] for j in range(v.shape[1])})
        table = pa.table(columns)
    src = np.array(["a", "b", "c"])[np.random.default_rng(1).integers(0, 3, table.num_rows)]
    path = tmp_path / ("multilabel.parquet" if multilabel else "grouped.parquet")
    pq.write_table(table.append_column("src", pa.array(src)), path)
    return str(path)


def report(path: str, *args: str) -> dict[str, Any]:
    return run_json("label-issues", path, "--top", BIG, *args)


def same(got: dict[str, Any], alone: dict[str, Any]) -> None:
    """Equal reports, thresholds to 1e-14 (their sums may run in another order)."""
    got, alone = dict(got), dict(alone)
    for r in (got, alone):
        for key in (*PER_GROUP_ONLY, "schema_version", "kind", "value"):
            r.pop(key, None)
        r["per_class"] = [dict(c) for c in r["per_class"]]
        r["notes"] = [n for n in r["notes"] if not n.endswith("(--where)")]
    for name in ("threshold", "threshold_negative"):
        if name in got["per_class"][0]:
            t = [c.pop(name) for c in got["per_class"]]
            np.testing.assert_allclose(t, [c.pop(name) for c in alone["per_class"]], rtol=1e-14)
    assert got == alone


@pytest.mark.parametrize(
    "filter_by", ["prune_by_noise_rate", "prune_by_class", "both", "confident_learning"]
)
@pytest.mark.parametrize("multilabel", [False, True])
def test_each_group_equals_a_run_on_its_rows(
    filter_by: str, multilabel: bool, tmp_path: Path
) -> None:
    path = grouped_file(tmp_path, multilabel)
    grouped = report(path, "--group-by", "src", "--filter-by", filter_by)
    assert grouped["group_by"] == "src"
    assert [g["value"] for g in grouped["groups"]] == ["a", "b", "c"]
    for group in grouped["groups"]:
        alone = report(path, "--where", f"src={group['value']}", "--filter-by", filter_by)
        same(group, alone)
    same(grouped, report(path, "--filter-by", filter_by))  # overall: as without --group-by
    assert sum(g["n_samples"] for g in grouped["groups"]) == grouped["n_samples"]


def test_groups_do_not_depend_on_batches_or_threads(tmp_path: Path) -> None:
    path = grouped_file(tmp_path)
    whole = report(path, "--group-by", "src")
    for args in (
        ["--batch-size", "1"],
        ["--batch-size", "7"],
        ["--batch-size", "100", "--threads", "2"],
    ):
        got = report(path, "--group-by", "src", *args)
        for mine, theirs in zip(got["groups"], whole["groups"], strict=True):
            same(mine, theirs)
        same(got, whole)


def test_a_group_without_used_rows_has_an_error_entry(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    rows = ["g,label,prob_a,prob_b"]
    rows += [
        f"x,{i % 2},{0.8 if i % 2 == 0 else 0.3},{0.2 if i % 2 == 0 else 0.7}" for i in range(8)
    ]
    rows += ["y,-100,0.5,0.5", "y,-100,0.4,0.6"]
    path.write_text("\n".join(rows) + "\n")
    got = report(str(path), "--group-by", "g")
    assert got["n_samples"] == 10 and got["n_used"] == 8
    groups = {g["value"]: g for g in got["groups"]}
    assert groups["x"]["n_used"] == 8
    assert groups["y"] == {
        "value": "y",
        "error": "no label issues to look for: every row of this group was left out "
        "(--ignore-index / --mask-col)",
    }
    assert "g=y: no report for this group: no label issues to look for" in got["warnings"][0]
    ignored = tmp_path / "ignored.csv"
    ignored.write_text("g,label,prob_a,prob_b\ny,-100,0.5,0.5\n")
    for args in ([], ["--group-by", "g"]):
        assert_user_error(
            run("label-issues", str(ignored), *args),
            "ignored.csv: no label issues to look for: every row was left out "
            "(--ignore-index / --mask-col / --where)",
        )


def test_grouped_table_csv_and_schema(tmp_path: Path) -> None:
    from test_check_schemas import validate

    path = grouped_file(tmp_path)
    result = run("label-issues", path, "--group-by", "src", "--top", "2")
    assert result.exit_code == 0, result.stderr
    assert "by src (3 groups)" in result.stdout
    assert "| src |" in result.stdout and "label issues" in result.stdout
    csv = run("label-issues", path, "--group-by", "src", "--top", "2", "--format", "csv")
    lines = csv.stdout.splitlines()
    assert lines[0] == "src,row,id,given,suggested,p_suggested,quality"
    assert [line.split(",")[0] for line in lines[1:]] == ["a", "a", "b", "b", "c", "c"]
    validate(report(path, "--group-by", "src"), "label_issues")
    validate(report(grouped_file(tmp_path, multilabel=True), "--group-by", "src"), "label_issues")


def test_group_by_errors(tmp_path: Path) -> None:
    path = grouped_file(tmp_path)
    assert_user_error(
        run("label-issues", path, "--group-by", "src", "-o", str(tmp_path / "rows.csv")),
        "-o rows.csv|.parquet writes the flagged rows of one analysis, not one per --group-by "
        "value; drop --group-by, or run once per group with --where",
    )
    assert_user_error(
        run("label-issues", path, "--group-by", "nope"), "--group-by nope: no such column"
    )
    assert_user_error(
        run("label-issues", sample("multilabel.csv"), "--weight-col", "label_car"),
        "--weight-col is not used by ce label-issues: confident learning counts rows (the "
        "thresholds are plain means, the confident joint and the number of issues are row "
        "counts) and cleanlab has no sample weight; drop it (leave rows out with --mask-col or "
        "--where)",
    )


def test_check_gates_each_group_on_its_own_label_issues(tmp_path: Path) -> None:
    path = grouped_file(tmp_path)
    grouped = report(path, "--group-by", "src", "--top", "0")
    counts = {g["value"]: g["num_label_issues"] for g in grouped["groups"]}
    assert counts == {"a": 101, "b": 102, "c": 93}
    args = ("check", path, "--group-by", "src", "--format", "json", "--max-label-issues")
    result = run(*args, "101")
    assert result.exit_code == 1, result.stderr  # the overall 296 and group b's 102 fail
    checks = {c["name"]: (c["value"], c["passed"]) for c in json.loads(result.stdout)["checks"]}
    assert checks == {
        "label_issues <= 101": (grouped["num_label_issues"], False),
        "label_issues <= 101 [src=a]": (101, True),
        "label_issues <= 101 [src=b]": (102, False),
        "label_issues <= 101 [src=c]": (93, True),
    }


def test_dask_engine_gives_the_same_reports(tmp_path: Path) -> None:
    """The scopes' keys survive pickling to Dask workers; every scope merges as on threads."""
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
        dask = ("--engine", "dask", "--scheduler", cluster.scheduler_address)
        for path, args in (
            (grouped_file(tmp_path), ("--group-by", "src", "--filter-by", "both")),
            (grouped_file(tmp_path, multilabel=True), ("--group-by", "src")),
        ):
            local, remote = report(path, *args), report(path, *args, *dask)
            same(remote, local)
            for mine, theirs in zip(remote["groups"], local["groups"], strict=True):
                same(mine, theirs)
    finally:
        cluster.close()
