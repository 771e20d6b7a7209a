"""``--group-by COL``: every group's report equals the report of that group's rows alone.

Expectations are made the long way: the group's rows (selected with pandas) written to a file
of their own and run through the same command without grouping; row numbers in the top rows
mapped back to input rows.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run
from test_check_schemas import errors, load_schema
from test_partitions import assert_close, frame, partitioned

from ce_cli.engine.accumulate import ByGroup, ClassCounter
from ce_cli.io.batch import Batch
from ce_cli.io.groups import GroupColumn, split
from ce_cli.io.where import InputRows

OVERALL_ONLY = ("schema_version", "kind", "source", "group_by", "groups")


def as_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def alone(tmp_path: Path, df: pd.DataFrame, name: str) -> tuple[str, np.ndarray]:
    """``df``'s rows in a file of their own, and their input rows (0-based)."""
    path = tmp_path / f"{name}.parquet"
    df.drop(columns=["country", "day"], errors="ignore").to_parquet(path, index=False)
    return str(path), df.index.to_numpy()


def comparable(report: dict[str, Any], rows: np.ndarray | None = None) -> dict[str, Any]:
    """A report without what names files or the grouping; top rows mapped to input rows."""
    out = {k: v for k, v in report.items() if k not in (*OVERALL_ONLY, "notes", "value")}
    if isinstance(out.get("inputs"), dict):
        out["inputs"] = {k: v for k, v in out["inputs"].items() if k != "file"}
    if rows is not None:
        out["top"] = [{**t, "row": int(rows[t["row"]])} for t in out["top"]]  # rows 0-based
    return out


COMMANDS = [
    ["score", "--top", "6"],
    ["score", "--loss", "focal", "--weight-col", "weight", "--top", "4"],
    ["weights"],
    ["weights", "--scheme", "effective", "--weight-col", "weight"],
    ["calibrate", "--bins", "7"],
    ["calibrate", "--strategy", "quantile", "--fit-temperature"],
]


@pytest.mark.parametrize("options", [["--batch-size", "7", "--threads", "1"], ["--threads", "2"]])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_each_group_equals_its_rows_alone(
    tmp_path: Path, command: list[str], options: list[str]
) -> None:
    df = frame()
    root = str(partitioned(tmp_path / "ds", df))
    name, *rest = command
    got = as_json(name, root, "--group-by", "country", *rest, *options)
    assert got["group_by"] == "country"
    assert [g["value"] for g in got["groups"]] == ["de", "fr", "us"]
    fitted = got.get("temperature_fit")
    unfitted = [a for a in rest if a != "--fit-temperature"]
    for g in got["groups"]:
        path, rows = alone(tmp_path, df[df.country == g["value"]], g["value"])
        if fitted:  # one temperature fitted on all rows; each group before and after it
            t = repr(fitted["temperature"])
            want = as_json(name, path, *unfitted, "--temperature", t)
            before = as_json(name, path, *unfitted)
            assert g["temperature"] == fitted["temperature"] and g["temperature_fit"] is None
            assert_close(g["before_fit"]["bins"], before["bins"])
            assert g["before_fit"]["ece"] == pytest.approx(before["ece"], rel=1e-12)
            g = {k: v for k, v in g.items() if k not in ("before_fit", "temperature_fit")}
            want = {k: v for k, v in want.items() if k not in ("before_fit", "temperature_fit")}
        else:
            want = as_json(name, path, *rest)
        assert_close(comparable(g), comparable(want, rows if name == "score" else None))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_the_overall_report_is_the_ungrouped_one(tmp_path: Path, command: list[str]) -> None:
    root = str(partitioned(tmp_path / "ds", frame()))
    name, *rest = command
    grouped = as_json(name, root, "--group-by", "day", *rest)
    plain = as_json(name, root, *rest)
    assert [g["value"] for g in grouped["groups"]] == [2, 10]  # integers, in value order
    assert_close(comparable(grouped), comparable(plain))


def test_a_column_of_the_file_and_where(tmp_path: Path) -> None:
    """Rows of a group are scattered over the batches; --where drops rows first."""
    df = frame(n=500, seed=3)
    path = tmp_path / "all.parquet"
    df.to_parquet(path, index=False)
    got = as_json(
        "score", str(path), "--group-by", "split", "--where", "day=2", "--batch-size", "13"
    )
    assert [g["value"] for g in got["groups"]] == ["test", "train", "val"]
    for g in got["groups"]:
        mine = df[(df.split == g["value"]) & (df.day == 2)]
        file, rows = alone(tmp_path, mine, g["value"])
        assert_close(comparable(g), comparable(as_json("score", file), rows))


def test_a_group_column_from_the_labels_file(tmp_path: Path) -> None:
    df = frame(n=300, seed=5)
    preds, labels = tmp_path / "preds.parquet", tmp_path / "labels.parquet"
    df[["id", "logit_a", "logit_b", "logit_c"]].to_parquet(preds, index=False)
    df[["id", "label", "country"]].to_parquet(labels, index=False)
    got = as_json("score", str(preds), "--labels", str(labels), "--group-by", "country")
    for g in got["groups"]:
        file, rows = alone(tmp_path, df[df.country == g["value"]], g["value"])
        assert_close(comparable(g), comparable(as_json("score", file), rows))


def test_text_output_has_a_row_per_group_and_csv_is_long(tmp_path: Path) -> None:
    root = str(partitioned(tmp_path / "ds", frame()))
    text = run("score", root, "--group-by", "country")
    assert text.exit_code == 0, text.stderr
    assert "by country (3 groups)" in text.stdout
    for country in ("de", "fr", "us"):
        assert f"| {country} " in text.stdout
    csv = run("weights", root, "--group-by", "country", "--format", "csv")
    table = pd.read_csv(pd.io.common.StringIO(csv.stdout))
    assert list(table.columns[:2]) == ["country", "name"]
    assert table.groupby("country")["count"].sum().to_dict() == (
        frame().groupby("country").size().astype(float).to_dict()
    )


def test_null_date_and_boolean_keys(tmp_path: Path) -> None:
    n = 12
    table = pa.table(
        {
            "label": [i % 2 for i in range(n)],
            "logit": [float(i % 5) - 2 for i in range(n)],
            "day": [None if i % 4 == 0 else dt.date(2026, 1, 1 + i % 3) for i in range(n)],
            "flag": [i % 3 == 0 for i in range(n)],
        }
    )
    path = tmp_path / "keys.parquet"
    pq.write_table(table, path)
    days = as_json("score", str(path), "--group-by", "day")
    values = [g["value"] for g in days["groups"]]
    assert values == ["2026-01-01", "2026-01-02", "2026-01-03", None]  # dates in order, null last
    assert sum(g["n_samples"] for g in days["groups"]) == n
    flags = as_json("weights", str(path), "--group-by", "flag")
    assert [(g["value"], g["n_samples"]) for g in flags["groups"]] == [(False, 8), (True, 4)]


def test_a_group_with_no_usable_rows_is_reported_not_fatal(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "label": [0, 1, -100, -100, 2, 0],
            "logit_a": [1.0, 0.0, 0.5, 0.2, 0.0, 2.0],
            "logit_b": [0.0, 1.0, 0.5, 0.1, 0.0, 0.0],
            "logit_c": [0.0, 0.0, 0.5, 0.3, 1.0, 0.0],
            "site": ["x", "x", "y", "y", "z", "z"],
        }
    )
    path = tmp_path / "ignored.csv"
    df.to_csv(path, index=False)
    got = as_json("score", str(path), "--group-by", "site")
    y = next(g for g in got["groups"] if g["value"] == "y")
    assert "every row was left out" in y["error"] and "loss" not in y
    assert any(w.startswith("site=y: no report for this group") for w in got["warnings"])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--group-by", "nope"], "--group-by nope: no such column"),
        (["--group-by", "logit_a"], "--group-by column logit_a is double"),
        (["--group-by", "id"], "--group-by id: more than 1000 distinct values"),
        (["--group-by", "country", "--reduction", "none"], "needs every row"),
    ],
)
def test_errors(tmp_path: Path, args: list[str], fragment: str) -> None:
    df = frame(n=1200)
    path = tmp_path / "f.parquet"
    df.to_parquet(path, index=False)
    assert_user_error(run("score", str(path), *args), fragment)


# ---------------------------------------------------------------------- ce check
def test_check_holds_every_threshold_in_every_group(tmp_path: Path) -> None:
    df = frame()
    root = str(partitioned(tmp_path / "ds", df))
    groups = as_json("score", root, "--group-by", "country")["groups"]
    losses = {g["value"]: g["loss"]["mean"] for g in groups}
    worst = max(losses, key=losses.__getitem__)
    limit = f"{(losses[worst] + sorted(losses.values())[-2]) / 2:.6f}"  # only `worst` is above
    result = run("check", root, "--group-by", "country", "--max-loss", limit, "--format", "json")
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    failed = [c["name"] for c in report["checks"] if not c["passed"]]
    assert failed == [f"loss <= {float(limit):g} [country={worst}]"]
    assert [g["value"] for g in report["groups"]] == ["de", "fr", "us"]
    assert not errors(report, load_schema("check"), load_schema("check"))
    passing = run("check", root, "--group-by", "country", "--max-loss", "100")
    assert passing.exit_code == 0, passing.stderr


def test_check_compares_each_group_with_a_grouped_baseline(tmp_path: Path) -> None:
    df = frame()
    root = str(partitioned(tmp_path / "ds", df))
    base = tmp_path / "base.json"
    assert run("score", root, "--group-by", "country", "-o", str(base)).exit_code == 0
    # the candidate: worse logits for fr only (the logits are noise: more confident is worse)
    worse = df.copy()
    fr = worse.country == "fr"
    worse.loc[fr, ["logit_a", "logit_b", "logit_c"]] *= 3
    cand = str(partitioned(tmp_path / "cand", worse))
    result = run(
        "check", cand, "--group-by", "country", "--baseline", str(base), "--format", "json"
    )
    report = json.loads(result.stdout)
    failed = {c["name"] for c in report["checks"] if not c["passed"]}
    assert failed == {"loss vs baseline [country=fr]", "loss vs baseline"}
    assert result.exit_code == 1
    de = next(c for c in report["checks"] if c["group"] == "country=de")
    assert de["passed"] and de["delta"] == 0


def test_check_with_a_predictions_baseline_is_refused(tmp_path: Path) -> None:
    root = str(partitioned(tmp_path / "ds", frame()))
    result = run("check", root, "--group-by", "country", "--baseline", root, "--max-loss", "9")
    assert_user_error(result, "--group-by country with --baseline", "ce score --group-by")


@pytest.mark.parametrize("command", ["score", "weights", "calibrate"])
def test_grouped_reports_match_their_schema(tmp_path: Path, command: str) -> None:
    root = str(partitioned(tmp_path / "ds", frame()))
    report = as_json(command, root, "--group-by", "country")
    kind = "calibration" if command == "calibrate" else command
    schema = load_schema(kind)
    assert not errors(report, schema, schema)


# ---------------------------------------------------------------------- the pieces
def test_split_keeps_input_rows_and_merging_any_way_is_one_pass() -> None:
    keys = ["b", "a", None, "b", "b", "a", None, "c"]
    rb = pa.record_batch({"g": keys, "label": [0, 1, 1, 0, 1, 0, 0, 1]})
    pieces = dict(split((rb, rb, 100), GroupColumn("g")))
    assert list(pieces) == ["b", "a", None, "c"]
    b_main, b_labels, b_row = pieces["b"]
    assert b_labels is b_main and b_main.column("label").to_pylist() == [0, 0, 1]
    assert isinstance(b_row, InputRows) and list(b_row.rows) == [100, 103, 104]
    assert pieces["c"][2] == 107 and not isinstance(pieces["c"][2], InputRows)
    one = dict(split((rb.slice(3, 2), rb.slice(3, 2), 5), GroupColumn("g")))
    assert list(one) == ["b"] and one["b"][2] == 5  # one key: the batch itself

    def batch(labels: list[int]) -> Batch:
        n = len(labels)
        return Batch(n, 0, np.array(labels), np.ones(n, dtype=bool), 0, 0)

    def counter() -> ClassCounter:
        return ClassCounter(("0", "1"))

    whole: ByGroup[ClassCounter] = ByGroup(counter, "g")
    left: ByGroup[ClassCounter] = ByGroup(counter, "g")
    right: ByGroup[ClassCounter] = ByGroup(counter, "g")
    for i, (key, labels) in enumerate([("x", [0, 1]), ("y", [1]), ("x", [1, 1]), ("z", [0])]):
        whole.part(key).update(batch(labels))
        (left if i % 2 else right).part(key).update(batch(labels))
    merged = left.merge(right)
    assert sorted(merged.parts) == ["x", "y", "z"]
    for key in whole.parts:
        assert list(merged.parts[key].counts) == list(whole.parts[key].counts)
    assert list(merged.total().counts) == [2.0, 4.0]


def test_the_readme_example_is_what_ce_prints() -> None:
    from conftest import ROOT, sample

    text = run("score", sample("eval_by_country"), "--group-by", "country")
    assert text.exit_code == 0, text.stderr
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = [line.rstrip() for line in text.stdout.splitlines()[3:11]]  # notes: one line, piped
    assert table[0] == "by country (3 groups)" and table[4].startswith("| de ")
    assert "\n".join(table) in readme
    check = run("check", sample("eval_by_country"), "--group-by", "country", "--max-loss", "1")
    assert check.exit_code == 1
    assert "| loss <= 1 [country=us] |  1.09438 |" in check.stdout
    assert check.stdout.count("FAIL ") == 1
