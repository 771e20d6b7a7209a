"""`ce check` on a binned ROC-AUC / average precision (`--auc-bins B`): the verdict honours the
estimate's worst-case error bound — pass beyond it, fail beyond it, otherwise undecided (failed,
exit 1, with a one-line message) — and the bound is in the JSON and the table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run, sample

from ce_cli.report.check_rules import Threshold, binned_verdict, evaluate_threshold, metric_bounds

MULTICLASS = sample("multiclass.csv")
BINS = ("--auc-bins", "64")


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def auc() -> dict[str, Any]:
    result = run("score", MULTICLASS, *BINS, "--format", "json")
    assert result.exit_code == 0, result.stderr
    block = json.loads(result.stdout)["auc"]
    assert block["method"] == "binned" and block["max_error"] > 0.01
    return block


def check(*args: str, code: int) -> dict[str, Any]:
    result = run("check", MULTICLASS, *args, "--format", "json")
    assert result.exit_code == code, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def only(report: dict[str, Any]) -> dict[str, Any]:
    (c,) = report["checks"]
    return c


# ---------------------------------------------------------------------- the rule
@pytest.mark.parametrize(
    ("op", "limit", "passed", "words"),
    [
        (">=", 0.7, True, "(binned, ±0.1) >= 0.7"),
        (">=", 0.95, False, "is below the limit 0.95 by more than its bound (--require x)"),
        (">=", 0.85, False, "is within ±0.1 of the limit 0.85"),
        (">", 0.9, False, "is within ±0.1 of the limit 0.9"),  # the slack equals the bound
        ("<=", 0.95, True, "(binned, ±0.1) <= 0.95"),
        ("<", 0.7, False, "is not below the limit 0.7 by more than its bound"),
        ("<=", 0.85, False, "cannot decide <= 0.85: use --auc (exact) or more --auc-bins"),
    ],
)
def test_binned_verdict(op: str, limit: float, passed: bool, words: str) -> None:
    t = Threshold("roc_auc", op, limit, None, origin="--require x")
    got, message = binned_verdict(t, 0.8, 0.1)
    assert got is passed and words in message and "\n" not in message
    result = evaluate_threshold(t, 0.8, None, 0.1)
    assert (result.passed, result.message, result.bound) == (passed, message, 0.1)
    assert evaluate_threshold(t, 0.8, None).bound is None  # exact: the plain rule


def test_metric_bounds_of_a_report() -> None:
    per_class = [{"name": "cat"}, {"name": "dog"}]
    binned = {"method": "binned", "max_error": 0.02, "average_precision_max_error": 0.03}
    assert metric_bounds({"auc": binned, "per_class": per_class}) == {
        "roc_auc": 0.02,
        "class_roc_auc[cat]": 0.02,
        "class_roc_auc[dog]": 0.02,
        "average_precision": 0.03,
    }
    exact = {**binned, "method": "exact", "max_error": 0.0}
    assert metric_bounds({"auc": exact, "per_class": per_class}) == {}
    assert metric_bounds({"auc": None, "per_class": per_class}) == {}


# ---------------------------------------------------------------------- end to end
def test_a_clear_pass(auc: dict[str, Any]) -> None:
    limit = auc["roc_auc_macro"] - auc["max_error"] - 0.01
    c = only(check(*BINS, "--require", f"roc_auc>={limit}", code=0))
    assert c["passed"] and c["bound"] == auc["max_error"] and c["value"] == auc["roc_auc_macro"]


def test_a_clear_fail(auc: dict[str, Any]) -> None:
    limit = auc["roc_auc_macro"] + auc["max_error"] + 0.01
    c = only(check(*BINS, "--require", f"roc_auc>={limit}", code=1))
    assert not c["passed"] and "by more than its bound" in c["message"]


def test_undecided_fails_and_says_why(auc: dict[str, Any]) -> None:
    """The binned value passes the limit, but by less than its bound: exit 1, one line; the
    exact ROC-AUC decides it."""
    limit = round(auc["roc_auc_macro"] - auc["max_error"] / 2, 4)
    report = check(*BINS, "--require", f"roc_auc>={limit}", code=1)
    c = only(report)
    bound = f"±{auc['max_error']:.2g}"
    assert c["message"] == (
        f"roc_auc = {auc['roc_auc_macro']:.6g} (binned, {bound}) is within {bound} of the limit "
        f"{limit:g}, so the binned estimate cannot decide >= {limit:g}: use --auc (exact) or more "
        f"--auc-bins (--require 'roc_auc>={limit}')"
    )
    assert only(check("--auc", "--require", f"roc_auc>={limit}", code=0))["bound"] is None
    text = run("check", MULTICLASS, *BINS, "--require", f"roc_auc>={limit}")
    assert text.exit_code == 1
    assert "± bound" in text.stdout and f"{auc['max_error']:.4g}"[:5] in text.stdout
    assert sum("cannot decide" in line for line in text.stdout.splitlines()) == 1


def test_average_precision_and_class_roc_auc_use_their_bounds(auc: dict[str, Any]) -> None:
    ap, ap_bound = auc["average_precision_macro"], auc["average_precision_max_error"]
    report = check(
        *BINS, "--require", f"average_precision>={ap - ap_bound / 2}",
        "--require", "class_roc_auc[cat]>=0", code=1,
    )  # fmt: skip
    by = {c["metric"]: c for c in report["checks"]}
    assert by["average_precision"]["bound"] == ap_bound and not by["average_precision"]["passed"]
    assert by["class_roc_auc[cat]"]["bound"] == auc["max_error"]
    assert by["class_roc_auc[cat]"]["passed"]


def test_the_schema_and_groups(tmp_path: Path, auc: dict[str, Any]) -> None:
    import pandas as pd
    from test_check_schemas import errors, load_schema

    data = pd.read_csv(MULTICLASS)
    data["grp"] = data["id"] % 2
    path = str(tmp_path / "grp.csv")
    data.to_csv(path, index=False)
    result = run(
        "check", path, *BINS, "--group-by", "grp", "--require", "roc_auc>=0.5", "--format", "json"
    )
    report = json.loads(result.stdout)
    schema = load_schema("check")
    assert errors(report, schema, schema) == []
    score = json.loads(run("score", path, *BINS, "--group-by", "grp", "--format", "json").stdout)
    bounds = {f"grp={g['value']}": g["auc"]["max_error"] for g in score["groups"]}
    grouped = [c for c in report["checks"] if c["group"] is not None]
    assert len(grouped) == 2 and all(c["bound"] == bounds[c["group"]] for c in grouped)
