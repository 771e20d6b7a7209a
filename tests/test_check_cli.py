"""`ce check` end to end: verdicts, per-class checks, config files, baselines, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from conftest import ROOT, assert_user_error, run, run_json, sample

MULTICLASS = sample(
    "multiclass.csv"
)  # ce 0.750023, accuracy 0.729, horse: loss 2.229, recall 0.3405
LOSS = 0.750023100215107


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file from the repository, no GitHub Actions environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


def check(*args: str, env: dict[str, str] | None = None) -> Result:
    return run("check", *args, env=env)


def check_json(*args: str, code: int | None = None) -> dict[str, Any]:
    result = check(*args, "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    if code is not None:
        assert result.exit_code == code, result.stdout
    report = json.loads(result.stdout)
    assert report["passed"] is (result.exit_code == 0)
    return report


def failed(report: dict[str, Any]) -> list[str]:
    return [c["name"] for c in report["checks"] if not c["passed"]]


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """multiclass.csv's rows with other predictions: tiny noise, a worse model, …"""
    out = tmp_path_factory.mktemp("variants")
    data = pd.read_csv(MULTICLASS)
    cols = [c for c in data.columns if c.startswith("logit_")]
    rng = np.random.default_rng(7)
    noisy = data.copy()
    noisy[cols] += rng.normal(0, 0.01, size=(len(data), len(cols)))
    worse = data.copy()
    worse[cols] = worse[cols] * 0.6 + rng.normal(0, 0.8, size=(len(data), len(cols)))
    relabelled = noisy.copy()
    relabelled.loc[3, "label"] = "horse" if relabelled.loc[3, "label"] != "horse" else "cat"
    other_ids = noisy.copy()
    other_ids.loc[10, "id"] = 10**6
    frames = {
        "noisy": noisy,
        "worse": worse,
        "shuffled": noisy.sample(frac=1, random_state=1),
        "noid": noisy.drop(columns=["id"]),
        "short": noisy.iloc[:-1],
        "relabelled": relabelled,
        "other_ids": other_ids,
    }
    paths = {}
    for name, frame in frames.items():
        paths[name] = str(out / f"{name}.csv")
        frame.to_csv(paths[name], index=False)
    return paths


# ---------------------------------------------------------------------- thresholds
@pytest.mark.parametrize(
    ("flag", "metric", "passing", "failing"),
    [
        ("--max-loss", "loss", "0.7501", "0.75"),
        ("--min-accuracy", "accuracy", "0.729", "0.7291"),
        ("--max-nce", "nce", "0.54", "0.53"),
    ],
)
def test_each_threshold_flag(flag: str, metric: str, passing: str, failing: str) -> None:
    ok = check_json(MULTICLASS, flag, passing, code=0)
    assert [(c["metric"], c["kind"]) for c in ok["checks"]] == [(metric, "threshold")]
    bad = check_json(MULTICLASS, flag, failing, code=1)
    assert bad["checks"][0]["value"] == pytest.approx(ok["metrics"][metric])


def test_thresholds_pass_and_fail_together() -> None:
    result = check(MULTICLASS, "--max-loss", "0.8", "--min-accuracy", "0.7")
    assert result.exit_code == 0, result.stdout
    assert "PASSED · checks 2 · failed 0" in result.stdout
    result = check(MULTICLASS, "--max-loss", "0.7", "--min-accuracy", "0.7")
    assert result.exit_code == 1
    assert "FAILED · checks 2 · failed 1" in result.stdout
    report = check_json(MULTICLASS, "--max-loss", "0.7", "--min-accuracy", "0.7", code=1)
    assert failed(report) == ["loss <= 0.7"]
    assert report["checks"][0]["message"] == (
        "loss = 0.750023 is above the limit 0.7 (--max-loss 0.7)"
    )
    assert report["metrics"]["loss"] == pytest.approx(LOSS, abs=1e-12)


def test_generic_require() -> None:
    report = check_json(
        MULTICLASS, "--require", "nce<0.6", "--require", "class_recall[fish] >= 0.6", code=1
    )
    assert failed(report) == ["class_recall[fish] >= 0.6"]
    result = check(MULTICLASS, "--require", "ece=0.05")
    assert_user_error(result, "--require 'ece=0.05': expected METRIC OP NUMBER")
    assert_user_error(check(MULTICLASS, "--require", "f1>0.5"), "unknown metric 'f1'")


def test_multilabel_metrics_and_a_metric_the_task_lacks() -> None:
    file = sample("multilabel.csv")  # subset accuracy 0.6525, Hamming 0.0674
    report = check_json(file, "--min-subset-accuracy", "0.65", "--max-hamming-loss", "0.07")
    assert report["passed"] and report["task"] == "multilabel"
    assert failed(check_json(file, "--min-subset-accuracy", "0.66", code=1)) == [
        "subset_accuracy >= 0.66"
    ]
    assert_user_error(
        check(file, "--min-accuracy", "0.5"),
        "accuracy is for single-label data; this file is multi-label",
    )
    assert_user_error(check(MULTICLASS, "--max-hamming-loss", "0.1"), "for multi-label data")


# ---------------------------------------------------------------------- per class
def test_an_average_can_hide_a_collapsed_class() -> None:
    report = check_json(MULTICLASS, "--max-loss", "0.8", "--max-class-loss", "2.0", code=1)
    assert failed(report) == ["class_loss[horse] <= 2"]
    assert [c["metric"] for c in report["checks"]][1:] == [
        f"class_loss[{c}]" for c in ("cat", "dog", "bird", "fish", "horse")
    ]


def test_per_class_recall_explicit_class_overrides_the_bare_number() -> None:
    report = check_json(MULTICLASS, "--min-class-recall", "0.35", code=1)
    assert failed(report) == ["class_recall[horse] >= 0.35"]
    report = check_json(
        MULTICLASS, "--min-class-recall", "0.5", "--min-class-recall", "horse=0.34", code=0
    )
    assert [c["threshold"] for c in report["checks"]] == [0.5, 0.5, 0.5, 0.5, 0.34]
    report = check_json(MULTICLASS, "--max-class-loss", "horse=2.2", code=1)
    assert len(report["checks"]) == 1


def test_per_class_unknown_class_is_an_error() -> None:
    assert_user_error(
        check(MULTICLASS, "--max-class-loss", "zebra=1"),
        "--max-class-loss zebra=1: no class 'zebra'; the classes are cat, dog, bird, fish, horse",
    )
    assert_user_error(check(MULTICLASS, "--max-class-loss", "cat=x"), "expected a number")


def test_the_table_shows_class_names() -> None:
    result = check(MULTICLASS, "--max-class-loss", "horse=2.2")
    assert result.exit_code == 1
    assert "class_loss[horse] <= 2.2" in result.stdout
    assert "FAIL" in result.stdout


# ---------------------------------------------------------------------- calibration
class FakeCalibration:
    def __init__(self, ece: float) -> None:
        self.calls: list[Any] = []
        self.ece = ece
        module = types.ModuleType("ce_cli.report.calibrate")

        class CalibrationOptions:
            def __init__(self, **kwargs: Any) -> None:
                self.__dict__.update(kwargs)

        def compute_calibration(options: Any, calib: Any) -> Any:
            self.calls.append((options.path, calib.__dict__))
            report = types.SimpleNamespace(warnings=["few rows in the top bin"])
            report.to_dict = lambda: {  # type: ignore[attr-defined]
                "ece": self.ece,
                "mce": 0.2,
                "rmsce": None,
                "brier": 0.3,
                "nll": 0.7,
                "accuracy": 0.7,
            }
            return report

        module.CalibrationOptions = CalibrationOptions  # type: ignore[attr-defined]
        module.compute_calibration = compute_calibration  # type: ignore[attr-defined]
        self.module = module


def test_calibration_thresholds_with_the_calibration_contract(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeCalibration(ece=0.04)
    monkeypatch.setitem(sys.modules, "ce_cli.report.calibrate", fake.module)
    check_json(MULTICLASS, "--max-loss", "1", code=0)
    assert fake.calls == []  # no calibration pass unless a check needs one
    report = check_json(
        MULTICLASS, "--max-ece", "0.05", "--max-brier", "0.25", "--bins", "10", code=1
    )
    assert failed(report) == ["brier <= 0.25"]
    assert report["metrics"]["ece"] == 0.04 and report["metrics"]["rmsce"] is None
    assert report["calibration"] == {"n_bins": 10, "strategy": "uniform"}
    assert "few rows in the top bin" in report["warnings"]
    path, options = fake.calls[0]
    assert path == MULTICLASS
    assert options == {"n_bins": 10, "strategy": "uniform", "temperature": 1.0, "inputs": "auto"}
    undefined = check_json(MULTICLASS, "--require", "rmsce<=0.1", code=1)
    assert "undefined" in undefined["checks"][0]["message"]


def test_calibration_thresholds_on_the_real_module() -> None:
    calibrate = pytest.importorskip("ce_cli.report.calibrate")
    from ce_cli.io.dataset import InputOptions

    expected = calibrate.compute_calibration(
        InputOptions(MULTICLASS), calibrate.CalibrationOptions()
    ).to_dict()
    report = check_json(MULTICLASS, "--max-ece", "0.09", "--max-nll", "0.76", code=0)
    assert report["metrics"]["ece"] == pytest.approx(expected["ece"], rel=1e-12)
    assert report["metrics"]["nll"] == pytest.approx(LOSS, rel=1e-9)
    assert failed(check_json(MULTICLASS, "--max-ece", "0.08", code=1)) == ["ece <= 0.08"]


# ---------------------------------------------------------------------- configuration
def test_pyproject_config_and_flags_override_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "model"\n\n[tool.ce.check]\nmax-loss = 0.7\n'
        'require = ["accuracy>=0.7"]\nmax-class-loss = {horse = 2.5, "*" = 1.5}\n'
    )
    report = check_json(MULTICLASS, code=1)
    assert report["config"] == "pyproject.toml [tool.ce.check]"
    assert failed(report) == ["loss <= 0.7"]
    assert len(report["checks"]) == 2 + 5
    assert check(MULTICLASS, "--max-loss", "0.8").exit_code == 0  # the flag wins
    assert check(MULTICLASS, "--no-config", "--max-loss", "0.8").exit_code == 0
    assert_user_error(check(MULTICLASS, "--no-config"), "nothing to check")


def test_config_lists_for_comma_options(tmp_path: Path) -> None:
    (tmp_path / "ce.toml").write_text(
        "[check]\nalpha = [1, 2, 0.5, 3, 1]\nmax-loss = 2\nmin-class-recall = 0.3\n"
    )
    report = check_json(MULTICLASS, code=0)
    assert report["loss"]["parameters"]["class_weight"] == [1.0, 2.0, 0.5, 3.0, 1.0]
    assert len(report["checks"]) == 1 + 5


def test_ce_toml_wins_and_sets_loss_options(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ce.check]\nmax-loss = 0.1\n")
    (tmp_path / "ce.toml").write_text('[check]\nloss = "focal"\nmax_loss = 0.6\n')
    report = check_json(MULTICLASS, code=0)
    assert report["config"] == "ce.toml [check]"
    assert report["loss"]["name"] == "focal"
    assert check_json(MULTICLASS, "--loss", "ce", code=1)["loss"]["name"] == "ce"


def test_explicit_config_file_with_input_options(tmp_path: Path) -> None:
    config = tmp_path / "gate.toml"
    config.write_text(
        f'[check]\nlabels = "{sample("labels.csv")}"\non = "id"\nmin-accuracy = 0.5\n'
    )
    report = check_json(sample("preds.csv"), "--config", str(config), code=0)
    assert report["source"]["labels_file"] == sample("labels.csv")
    assert report["config"] == f"{config} [check]"
    assert_user_error(check(MULTICLASS, "--config", str(tmp_path / "missing.toml")), "cannot read")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "[tool.ce.check]\nmax-los = 0.7\nfoo = 1\n",
            [
                "pyproject.toml [tool.ce.check]: unknown keys max-los (did you mean max-loss?), "
                "foo; keys are ce check's flag names without the dashes"
            ],
        ),
        ("[tool.ce.check]\nmax-loss = 'low'\n", ["pyproject.toml [tool.ce.check]: max-loss"]),
        ("[tool.ce.check]\nfail-on = 'sometimes'\n", ["fail-on = 'sometimes'"]),
        ("[tool.ce.check]\nmax-loss = [1, 2]\n", ["max-loss = [1, 2]: expected a single value"]),
        ("[tool.ce.check]\nconfig = 'x.toml'\n", ["unknown key config"]),
        ("[tool.ce.check\n", ["pyproject.toml: not valid TOML"]),
    ],
)
def test_bad_config_is_exit_2_naming_file_and_key(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    assert_user_error(check(MULTICLASS, "--max-loss", "1"), *fragments)


# ---------------------------------------------------------------------- baseline: reports
def test_baseline_score_report(tmp_path: Path, variants: dict[str, str]) -> None:
    base = tmp_path / "base.json"
    assert run("score", MULTICLASS, "-o", str(base)).exit_code == 0
    report = check_json(MULTICLASS, "--baseline", str(base), code=0)
    (regression,) = report["checks"]
    assert regression["metric"] == "loss" and regression["delta"] == 0
    assert report["baseline"]["kind"] == "report"
    assert report["baseline"]["report_kind"] == "score"
    worse = check_json(variants["worse"], "--baseline", str(base), code=1)
    assert worse["checks"][0]["delta"] > 0.05
    relaxed = check_json(variants["worse"], "--baseline", str(base), "--max-regression", "20%")
    assert relaxed["passed"] and relaxed["checks"][0]["margin"] == "20%"


def test_a_check_report_is_a_baseline(tmp_path: Path, variants: dict[str, str]) -> None:
    base = tmp_path / "check.json"
    result = check(MULTICLASS, "--max-class-loss", "3", "-o", str(base))
    assert result.exit_code == 0, result.stderr
    report = check_json(
        variants["noisy"], "--baseline", str(base), "--max-class-loss", "3", "--compare",
        "accuracy", "--max-regression", "0.01",
    )  # fmt: skip
    metrics = [c["metric"] for c in report["checks"] if c["kind"] == "regression"]
    assert metrics[:2] == ["loss", "class_loss[cat]"] and metrics[-1] == "accuracy"
    assert report["passed"]
    assert report["baseline"]["report_kind"] == "check"


def test_baseline_report_errors(tmp_path: Path) -> None:
    focal = tmp_path / "focal.json"
    assert run("score", MULTICLASS, "--loss", "focal", "-o", str(focal)).exit_code == 0
    assert_user_error(
        check(MULTICLASS, "--baseline", str(focal)),
        f"--baseline {focal}: its loss is focal, this check's is ce",
    )
    assert_user_error(
        check(MULTICLASS, "--baseline", str(focal), "--loss", "focal", "--fail-on", "significant"),
        "--fail-on significant needs a paired bootstrap on the same rows",
    )
    weights = tmp_path / "w.json"
    assert run("weights", MULTICLASS, "-o", str(weights)).exit_code == 0
    assert_user_error(check(MULTICLASS, "--baseline", str(weights)), "'weights' report")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert_user_error(check(MULTICLASS, "--baseline", str(broken)), "not valid JSON")


def test_baseline_report_without_the_metric_warns(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    assert run("score", MULTICLASS, "-o", str(base)).exit_code == 0
    fake = FakeCalibration(0.05)
    sys.modules["ce_cli.report.calibrate"] = fake.module
    try:
        report = check_json(MULTICLASS, "--baseline", str(base), "--max-ece", "0.1", code=0)
    finally:
        del sys.modules["ce_cli.report.calibrate"]
    assert [c["name"] for c in report["checks"]] == ["ece <= 0.1", "loss vs baseline"]
    assert any("has no such metric for ece" in w for w in report["warnings"])


def test_a_requested_comparison_the_baseline_report_lacks_is_an_error(tmp_path: Path) -> None:
    """--compare / --max-regression METRIC name a comparison: if the baseline cannot make it,
    exit 2 (a metric only implied by a threshold is still just warned about, above)."""
    base = tmp_path / "base.json"
    assert run("score", MULTICLASS, "-o", str(base)).exit_code == 0
    fix = (
        "pass a report that has it (ce check OLD_PREDS --require 'ece>=0' --format json) or "
        "the baseline model's predictions"
    )
    result = check(MULTICLASS, "--baseline", str(base), "--compare", "ece")
    assert_user_error(result)
    assert result.stderr == (
        f"ce: error: --baseline {base}: this score report has no ece, so the comparison "
        f"--compare ece asks for cannot be made; {fix}\n"
    )
    result = check(MULTICLASS, "--baseline", str(base), "--max-regression", "ece=0.01")
    assert_user_error(result)
    assert result.stderr == (
        f"ce: error: --baseline {base}: this score report has no ece, so the comparison "
        f"--max-regression ece=0.01 asks for cannot be made; {fix}\n"
    )


def test_a_requested_comparison_with_a_null_baseline_value_is_an_error(tmp_path: Path) -> None:
    data = run_json("score", MULTICLASS)
    data["per_class"][0]["recall"] = None  # class cat: undefined on the baseline's rows
    base = tmp_path / "base.json"
    base.write_text(json.dumps(data))
    result = check(MULTICLASS, "--baseline", str(base), "--compare", "class_recall[*]")
    assert_user_error(result)
    assert result.stderr == (
        f"ce: error: --baseline {base}: class_recall[cat] is undefined (null) in this score "
        "report, so the comparison --compare class_recall[*] asks for cannot be made; compare "
        "on rows where class_recall[cat] is defined, or drop --compare class_recall[*]\n"
    )
    implied = check_json(MULTICLASS, "--baseline", str(base), "--min-class-recall", "0", code=0)
    assert (
        "baseline " + str(base) + " has no value for class_recall[cat]: not compared with it"
        in (implied["warnings"])
    )


def test_max_regression_of_a_metric_compares_it(variants: dict[str, str]) -> None:
    report = check_json(
        variants["noisy"], "--baseline", MULTICLASS, "--max-regression", "accuracy=0.01",
        "--max-regression", "class_loss=0.5", code=1,
    )  # fmt: skip
    names = [c["name"] for c in report["checks"]]
    assert names == ["loss vs baseline", "accuracy vs baseline"] + [
        f"class_loss[{c}] vs baseline" for c in report["classes"]
    ]
    assert report["checks"][1]["margin"] == "0.01" and report["checks"][2]["margin"] == "0.5"
    assert_user_error(
        check(MULTICLASS, "--baseline", MULTICLASS, "--max-regression", "class_loss[zebra]=0.1"),
        "--max-regression class_loss[zebra]=0.1: no class 'zebra'; the classes are ",
    )


@pytest.fixture(scope="module")
def same_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """600 rows of multiclass.csv, and the same rows in another order (matched by id)."""
    out = tmp_path_factory.mktemp("same_rows")
    rows = pd.read_csv(MULTICLASS).iloc[:600]
    paths = (str(out / "rows.csv"), str(out / "shuffled.csv"))
    rows.to_csv(paths[0], index=False)
    rows.sample(frac=1, random_state=3).to_csv(paths[1], index=False)
    return paths


@pytest.mark.parametrize("threads", ["1", "2"])
@pytest.mark.parametrize("batch_size", ["1", "7", "1000"])
def test_summation_order_never_decides_a_verdict(
    same_rows: tuple[str, str], batch_size: str, threads: str
) -> None:
    """The same predictions in another order differ by a few ulps: with margin 0 they still
    pass, and a limit equal to the loss is judged the same way whatever the batch size or
    thread count (the loss's last bits move with them)."""
    rows, shuffled = same_rows
    order = ("--batch-size", batch_size, "--threads", threads)
    loss = run_json("score", rows)["loss"]["mean"]
    report = check_json(
        rows, "--baseline", shuffled, "--compare", "accuracy", "--min-class-recall", "0",
        "--max-loss", repr(loss), "--require", f"loss<{loss!r}", "--bootstrap", "0", *order,
    )  # fmt: skip
    assert failed(report) == [f"loss < {loss:g}"]
    assert report["baseline"]["matched_by"] == "id"
    regressions = [c for c in report["checks"] if c["kind"] == "regression"]
    assert len(regressions) == 2 + len(report["classes"])  # loss, accuracy, class_recall[*]
    assert all(c["passed"] for c in regressions)
    assert all(abs(c["delta"]) < 1e-14 for c in regressions)
    significant = check_json(
        rows, "--baseline", shuffled, "--fail-on", "significant", "--compare", "accuracy",
        "--min-class-recall", "0", "--bootstrap", "200", *order, code=0,
    )  # fmt: skip
    assert {c["decided_by"] for c in significant["checks"] if c["kind"] == "regression"} == {
        "interval"
    }


# ---------------------------------------------------------------------- baseline: predictions
def test_noise_fails_by_value_but_not_when_significant(variants: dict[str, str]) -> None:
    noisy = variants["noisy"]  # the same model with 1e-2 noise on the logits: loss +4e-5
    by_value = check_json(noisy, "--baseline", MULTICLASS, "--compare", "accuracy", code=1)
    loss, accuracy = by_value["checks"]
    assert 0 < loss["delta"] < 1e-3 and loss["decided_by"] == "value" and not loss["passed"]
    assert loss["ci"]["low"] < 0 < loss["ci"]["high"]
    assert accuracy["passed"] and accuracy["ci"]["low"] < 0 < accuracy["ci"]["high"]
    significant = check_json(
        noisy, "--baseline", MULTICLASS, "--fail-on", "significant", "--compare", "accuracy",
        "--min-class-recall", "0.3", code=0,
    )  # fmt: skip
    assert all(c["decided_by"] == "interval" for c in significant["checks"][5:])
    assert "not significant" in significant["checks"][5]["message"]
    margin = check_json(noisy, "--baseline", MULTICLASS, "--max-regression", "0.001")
    assert margin["passed"]
    relative = check_json(noisy, "--baseline", MULTICLASS, "--max-regression", "0.1%")
    assert relative["passed"] and relative["checks"][0]["threshold"] == pytest.approx(
        LOSS * 1.001, rel=1e-12
    )


def test_a_real_regression_fails_even_when_significant(variants: dict[str, str]) -> None:
    report = check_json(
        variants["worse"], "--baseline", MULTICLASS, "--fail-on", "significant",
        "--compare", "accuracy", "--min-class-recall", "0.1", code=1,
    )  # fmt: skip
    regressions = {c["metric"]: c for c in report["checks"] if c["kind"] == "regression"}
    assert not regressions["loss"]["passed"] and regressions["loss"]["ci"]["low"] > 0.05
    assert not regressions["accuracy"]["passed"] and regressions["accuracy"]["ci"]["high"] < 0
    assert {k for k in regressions if k.startswith("class_recall")} == {
        f"class_recall[{c}]" for c in ("cat", "dog", "bird", "fish", "horse")
    }
    assert all(c["ci"] is not None for c in regressions.values())
    assert report["baseline"]["matched_by"] == "id"
    # the interval is of the reported difference
    for c in regressions.values():
        assert c["ci"]["estimate"] == pytest.approx(c["delta"], abs=1e-12)
    # a wide margin absorbs it
    relaxed = check_json(
        variants["worse"], "--baseline", MULTICLASS, "--fail-on", "significant",
        "--max-regression", "0.2",
    )  # fmt: skip
    assert relaxed["passed"]


def test_rows_are_matched_by_id_in_any_order(variants: dict[str, str]) -> None:
    noisy = check_json(MULTICLASS, "--baseline", variants["noisy"], "--seed", "3")
    shuffled = check_json(MULTICLASS, "--baseline", variants["shuffled"], "--seed", "3")
    assert shuffled["baseline"]["matched_by"] == "id"
    assert shuffled["checks"][0]["ci"] == noisy["checks"][0]["ci"]
    assert shuffled["baseline"]["metrics"]["loss"] == pytest.approx(
        noisy["baseline"]["metrics"]["loss"], rel=1e-12
    )


def test_without_ids_rows_are_matched_by_order(variants: dict[str, str]) -> None:
    report = check_json(MULTICLASS, "--baseline", variants["noid"], "--seed", "3")
    assert report["baseline"]["matched_by"] == "row order"
    assert any("has no id column: rows matched by their order" in w for w in report["warnings"])
    noisy = check_json(MULTICLASS, "--baseline", variants["noisy"], "--seed", "3")
    assert report["checks"][0]["delta"] == pytest.approx(noisy["checks"][0]["delta"], rel=1e-9)


@pytest.mark.parametrize(
    ("variant", "fragment"),
    [
        ("short", "3999 rows are scored there, 4000 in"),
        ("other_ids", "its rows differ from"),
        ("relabelled", "the same rows carry other labels than in"),
        ("shuffled_noid", "its rows differ from"),
    ],
)
def test_a_baseline_on_other_rows_is_an_error(
    variants: dict[str, str], tmp_path: Path, variant: str, fragment: str
) -> None:
    if variant == "shuffled_noid":  # row order cannot match shuffled rows
        frame = pd.read_csv(variants["shuffled"]).drop(columns=["id"])
        path = str(tmp_path / "shuffled_noid.csv")
        frame.to_csv(path, index=False)
    else:
        path = variants[variant]
    result = check(MULTICLASS, "--baseline", path, "--bootstrap", "0")
    if variant == "shuffled_noid":  # same row count, same ids (none): labels differ by row
        assert_user_error(result, "carry other labels")
    else:
        assert_user_error(result, f"--baseline {path}: ", fragment)


def test_bootstrap_is_deterministic_with_a_seed(variants: dict[str, str]) -> None:
    args = (MULTICLASS, "--baseline", variants["noisy"], "--min-class-recall", "0.1")
    a = check_json(*args, "--seed", "11")
    b = check_json(*args, "--seed", "11")
    c = check_json(*args, "--seed", "12")
    cis = [[k["ci"] for k in r["checks"] if k["ci"]] for r in (a, b, c)]
    assert cis[0] == cis[1] and cis[0] != cis[2]
    assert a["baseline"]["bootstrap"] == {
        "replicates": 1000,
        "seed": 11,
        "level": 0.95,
        "groups": 4096,
        "metrics": sorted(["loss", *(f"class_recall[{x}]" for x in a["classes"])]),
    }
    off = check_json(*args, "--bootstrap", "0")
    assert off["baseline"]["bootstrap"] is None
    assert all(k["ci"] is None for k in off["checks"])
    assert_user_error(
        check(*args, "--bootstrap", "0", "--fail-on", "significant"), "--bootstrap 0 turns it off"
    )


def test_weighted_interval_is_of_the_reported_weighted_mean(tmp_path: Path) -> None:
    """Sample weights and class weights: Σ s·l / Σ s·w_y, exactly as the report's mean
    (explicit weights: with 'balanced' ones Σ s·w_y happens to equal Σ s)."""
    table = pd.read_parquet(sample("multiclass.parquet"))
    cols = [c for c in table.columns if c.startswith("prob_")]
    other = table.copy()
    p = other[cols].to_numpy(dtype=np.float64) ** 1.3
    other[cols] = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
    path = str(tmp_path / "other.parquet")
    other.to_parquet(path)
    report = check_json(
        sample("multiclass.parquet"), "--weight-col", "weight", "--alpha", "1,2,0.5,3,1",
        "--baseline", path, "--compare", "accuracy", "--max-class-loss", "horse=9",
    )  # fmt: skip
    regressions = [c for c in report["checks"] if c["kind"] == "regression"]
    assert [c["metric"] for c in regressions] == ["loss", "class_loss[horse]", "accuracy"]
    for c in regressions:
        assert c["ci"] is not None
        assert c["ci"]["estimate"] == pytest.approx(c["delta"], abs=1e-12), c["metric"]


def test_baseline_predictions_with_a_labels_file(tmp_path: Path) -> None:
    preds = pd.read_csv(sample("preds.csv"))
    cols = [c for c in preds.columns if c.startswith("logit_")]
    preds[cols] += np.random.default_rng(3).normal(0, 0.01, size=(len(preds), len(cols)))
    path = str(tmp_path / "old_preds.csv")
    preds.sample(frac=1, random_state=2).to_csv(path, index=False)
    report = check_json(
        sample("preds.csv"), "--labels", sample("labels.csv"), "--on", "id", "--baseline",
        path, "--fail-on", "significant", code=0,
    )  # fmt: skip
    assert report["baseline"]["matched_by"] == "id" and report["baseline"]["n_rows"] == 1000


# ---------------------------------------------------------------------- exit codes
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["missing.csv", "--max-loss", "1"], "missing.csv"),
        ([MULTICLASS, "--baseline", "missing.csv"], "--baseline missing.csv: no such file"),
        (["-", "--max-ece", "0.1"], "stdin can be read once"),
        ([MULTICLASS], "nothing to check"),
        ([MULTICLASS, "--max-loss", "1", "--max-regression", "1%"], "pass --baseline FILE too"),
        ([MULTICLASS, "--max-loss", "1", "--format", "json", "-o", MULTICLASS], "refusing"),
        ([MULTICLASS, "--max-loss", "1", "--junit", "no/such/dir/j.xml"], "does not exist"),
        ([MULTICLASS, "--max-loss", "1", "--junit", MULTICLASS], "refusing to write over"),
    ],
)
def test_errors_exit_2_never_1(args: list[str], fragment: str) -> None:
    assert_user_error(check(*args), fragment)


def test_an_unreadable_file_is_2(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"\x00\x01not parquet")
    assert_user_error(check(str(garbage), "--max-loss", "1"), "garbage.parquet")
    empty = tmp_path / "empty.csv"
    empty.write_text("id,label,logit_a,logit_b\n")
    assert_user_error(check(str(empty), "--max-loss", "1"), "no data rows")


def test_usage_errors_are_2() -> None:
    result = check(MULTICLASS, "--fail-on", "sometimes")
    assert result.exit_code == 2 and "Invalid value for '--fail-on'" in result.stderr
    assert check(MULTICLASS, "--max-loss", "abc").exit_code == 2


# ---------------------------------------------------------------------- outputs
def test_markdown_and_csv_outputs(tmp_path: Path) -> None:
    args = (MULTICLASS, "--max-loss", "0.7", "--min-class-recall", "horse=0.3")
    md = check(*args, "--format", "markdown")
    assert md.exit_code == 1
    lines = md.stdout.splitlines()
    assert lines[0] == "### ❌ ce check failed: 1 of 2 checks"
    assert "| ❌ | loss <= 0.7 | 0.750023 | 0.7 | — | — |" in lines
    assert "| ✅ | class_recall[horse] >= 0.3 | 0.340541 | 0.3 | — | — |" in lines
    assert "ce: check FAILED: 1 of 2 checks" in md.stderr
    csv = check(*args, "--format", "csv")
    rows = [line.split(",") for line in csv.stdout.splitlines()]
    assert rows[0][:3] == ["check", "kind", "metric"] and rows[1][-1] == "False"
    out = tmp_path / "gate.md"
    written = check(*args, "-o", str(out))
    assert written.exit_code == 1 and written.stdout == ""
    assert out.read_text() == md.stdout


def test_junit_xml(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    junit = tmp_path / "junit.xml"
    result = check(
        MULTICLASS, "--max-loss", "0.7", "--max-class-loss", "2.0", "--junit", str(junit)
    )
    assert result.exit_code == 1
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == int(suite.get("tests", "")) == 6
    failures = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures", "")) == len(failures) == 2
    assert int(root.get("failures", "")) == 2 and suite.get("errors") == "0"
    assert [c.get("name") for c in failures] == ["loss <= 0.7", "class_loss[horse] <= 2"]
    assert all(c.get("classname") == "ce.check.multiclass_csv" for c in cases)
    failure = failures[0].find("failure")
    assert failure is not None and failure.get("message", "").startswith("loss = 0.750023")
    assert "threshold: <= 0.7" in (failure.text or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["file"] == MULTICLASS and props["loss"] == "ce"


def test_junit_never_replaces_an_input(tmp_path: Path) -> None:
    second = tmp_path / "second.csv"
    second.write_text(Path(MULTICLASS).read_text())
    before = second.read_text()
    result = check(MULTICLASS, str(second), "--max-loss", "1", "--junit", str(second))
    assert_user_error(result, "refusing to write over")
    assert second.read_text() == before


def test_junit_on_error_has_an_error_case(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    junit = tmp_path / "junit.xml"
    result = check("missing.csv", "--max-loss", "1", "--junit", str(junit))
    assert_user_error(result, "missing.csv")
    root = ET.parse(junit).getroot()
    (case,) = root.iter("testcase")
    error = case.find("error")
    assert error is not None and "missing.csv" in error.get("message", "")
    assert root.get("errors") == "1" and root.get("failures") == "0"


def test_github_actions_annotations_and_step_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = check(
        sample("segmentation_ignore.csv"), "--max-loss", "0.4", "--min-accuracy", "0.5", env=env
    )
    assert result.exit_code == 1
    errors = [x for x in result.stderr.splitlines() if x.startswith("::error")]
    warnings = [x for x in result.stderr.splitlines() if x.startswith("::warning")]
    assert errors == [
        "::error title=ce check%3A loss <= 0.4::"
        f"{sample('segmentation_ignore.csv')}: loss = 0.501957 is above the limit 0.4 "
        "(--max-loss 0.4)"
    ]
    assert len(warnings) == 1 and "99 rows with label -100" in warnings[0]
    text = summary.read_text()
    assert text.startswith("earlier step\n### ❌ ce check failed: 1 of 2 checks")
    passing = check(sample("segmentation_ignore.csv"), "--max-loss", "0.6", env=env)
    assert passing.exit_code == 0 and "::error" not in passing.stderr
    assert "### ✅ ce check passed: 1 of 1 checks" in summary.read_text()
    error = check("missing.csv", "--max-loss", "1", env=env)
    assert error.exit_code == 2
    assert error.stderr.splitlines()[0].startswith("::error title=ce check error::missing.csv")


def test_annotation_escaping_and_limit() -> None:
    from ce_cli.render.ci import _limit, annotation

    assert annotation("error", "a: b, c", "50% done\nnext\r") == (
        "::error title=a%3A b%2C c::50%25 done%0Anext%0D"
    )
    lines = _limit([annotation("error", "t", str(i)) for i in range(15)], "error", "failed checks")
    assert len(lines) == 10 and lines[-1].endswith(
        "… and 6 more failed checks (see the job summary)"
    )


def test_step_summary_fits_in_one_mebibyte() -> None:
    from ce_cli.render.ci import _fit

    text = "".join(f"| row {i} | {'x' * 60} |\n" for i in range(20000))
    fitted = _fit(text, limit=10_000)
    assert len(fitted.encode()) <= 10_000 and fitted.endswith("see --format json)\n")
    assert _fit("short") == "short"


# ---------------------------------------------------------------------- a real process
def test_real_process_exit_codes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}

    def ce(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ce_cli", "check", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
        )

    ok = ce(MULTICLASS, "--max-loss", "0.8", "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["passed"] is True
    bad = ce(MULTICLASS, "--max-loss", "0.7")
    assert bad.returncode == 1 and "FAILED" in bad.stdout
    error = ce(str(tmp_path / "nope.csv"), "--max-loss", "0.7")
    assert error.returncode == 2 and error.stderr.startswith("ce: error: ")
    assert "Traceback" not in error.stderr


def test_the_command_module_imports_on_its_own() -> None:
    code = "import ce_cli.cli.check as m; import ce_cli.cli.main as c; "
    code += "assert m.check_command is c.cli.commands['check']; print(m.check_command.name)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "check\n", done.stderr


def ci_commands(markdown: str) -> list[str]:
    """The `ce check` lines of the YAML code blocks (CI recipes) of a Markdown text."""
    commands, in_yaml = [], False
    for raw in markdown.splitlines():
        if raw.strip().startswith("```"):
            in_yaml = not in_yaml and raw.strip() in ("```yaml", "```yml")
            continue
        line = raw.strip().removeprefix("- ").removeprefix("run: ").strip()
        if in_yaml and line.startswith("ce check "):
            commands.append(line)
    return commands


def test_readme_ci_recipes_run_as_written(tmp_path: Path) -> None:
    """Every `ce check` line of the README's CI recipes exits 0 where the repository's
    sample_data is (in a scratch directory, so their --junit files land there)."""
    commands = ci_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    if not commands:
        pytest.skip("the README has no CI recipe with a ce check line yet")
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    for line in commands:
        shell = line.replace("ce check ", f"{sys.executable} -m ce_cli check ", 1)
        result = subprocess.run(
            shell, shell=True, cwd=tmp_path, capture_output=True, text=True, env=env
        )
        assert result.returncode == 0, (line, result.stdout, result.stderr)
        assert "--junit" not in line or list(tmp_path.glob("*.xml"))
