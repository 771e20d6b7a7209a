"""`ce calibrate`: metrics against hand computation, temperature fit, pictures, edge cases."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run, run_json, sample

ANIMALS = ["cat", "dog", "bird", "fish", "horse"]


def calibrate(*args: str) -> dict[str, Any]:
    result = run("calibrate", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def multiclass_arrays() -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_csv(sample("multiclass.csv"))
    logits = df[[f"logit_{c}" for c in ANIMALS]].to_numpy()
    y = df["label"].map({c: i for i, c in enumerate(ANIMALS)}).to_numpy()
    return logits, y


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def guo_ece(conf: np.ndarray, correct: np.ndarray, bins: int = 15) -> tuple[float, float]:
    """ECE and MCE with bins ((m-1)/M, m/M], written out independently."""
    index = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    ece, mce = 0.0, 0.0
    for m in range(bins):
        inside = index == m
        if inside.any():
            gap = abs(correct[inside].mean() - conf[inside].mean())
            ece += inside.mean() * gap
            mce = max(mce, gap)
    return ece, mce


def nll(logits: np.ndarray, y: np.ndarray, t: float) -> float:
    z = logits / t
    lse = np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def test_top_label_metrics_match_hand_computation() -> None:
    logits, y = multiclass_arrays()
    q = softmax(logits)
    conf, pred = q.max(axis=1), q.argmax(axis=1)
    ece, mce = guo_ece(conf, (pred == y).astype(float))
    report = calibrate(sample("multiclass.csv"))
    assert report["ece"] == pytest.approx(ece, rel=1e-9)
    assert report["mce"] == pytest.approx(mce, rel=1e-9)
    assert report["accuracy"] == pytest.approx((pred == y).mean())
    assert report["nll"] == pytest.approx(nll(logits, y, 1.0), rel=1e-9)
    onehot = np.eye(5)[y]
    assert report["brier"] == pytest.approx(((q - onehot) ** 2).sum(axis=1).mean(), rel=1e-9)
    assert len(report["bins"]) == 15 and sum(b["count"] for b in report["bins"]) == 4000
    classwise = np.mean([guo_ece(q[:, k], (y == k).astype(float))[0] for k in range(5)])
    assert report["classwise_ece"] == pytest.approx(classwise, rel=1e-9)


def test_binary_positive_confidence_matches_hand_computation() -> None:
    df = pd.read_csv(sample("binary.csv"))
    p = 1 / (1 + np.exp(-df["logit"].to_numpy()))
    y = df["label"].to_numpy().astype(float)
    positive = calibrate(sample("binary.csv"), "--confidence", "positive", "--bins", "10")
    assert positive["ece"] == pytest.approx(guo_ece(p, y, 10)[0], rel=1e-9)
    top = calibrate(sample("binary.csv"), "--bins", "10")
    conf = np.maximum(p, 1 - p)
    assert top["ece"] == pytest.approx(guo_ece(conf, ((p > 0.5) == (y == 1)).astype(float), 10)[0])
    assert top["brier"] == pytest.approx(np.mean((p - y) ** 2), rel=1e-9)


def test_fitted_temperature_equals_in_memory_fit_and_keeps_accuracy() -> None:
    logits, y = multiclass_arrays()
    lo, hi = 0.05, 20.0  # golden-section search on the whole array, in memory
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(200):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if nll(logits, y, a) < nll(logits, y, b):
            hi = b
        else:
            lo = a
    expected = (lo + hi) / 2
    report = calibrate(sample("multiclass.csv"), "--fit-temperature", "--batch-size", "333")
    fit = report["temperature_fit"]
    assert fit["temperature"] == pytest.approx(expected, abs=1e-4)
    assert fit["converged"] and report["temperature"] == fit["temperature"]
    assert report["accuracy"] == report["before_fit"]["accuracy"]
    assert report["ece"] < report["before_fit"]["ece"] / 2
    assert report["nll"] == pytest.approx(nll(logits, y, expected), rel=1e-6)


def test_temperature_round_trip_through_json(tmp_path: Path) -> None:
    saved = tmp_path / "t.json"
    run(
        "calibrate", sample("multiclass.csv"), "--fit-temperature", "--save-temperature", str(saved)
    )
    t = json.loads(saved.read_text())["temperature"]
    applied = calibrate(sample("multiclass.csv"), "--temperature", str(saved))
    fitted = calibrate(sample("multiclass.csv"), "--fit-temperature")
    assert applied["temperature"] == pytest.approx(t)
    assert applied["ece"] == pytest.approx(fitted["ece"], rel=1e-9)
    score = run("score", sample("multiclass.csv"), "--temperature", str(t), "--format", "json")
    assert json.loads(score.stdout)["loss"]["mean"] == pytest.approx(fitted["nll"], rel=1e-9)


def test_probabilities_and_logits_agree() -> None:
    a = calibrate(sample("multiclass.csv"))
    b = calibrate(sample("multiclass.parquet"))  # float32 softmax of the same logits
    for key in ("ece", "nll", "brier", "accuracy"):
        assert a[key] == pytest.approx(b[key], abs=2e-6), key


@pytest.mark.parametrize("batch_size", ["1", "7", "1000"])
def test_batch_size_and_threads_do_not_change_results(batch_size: str) -> None:
    base = calibrate(sample("multiclass.csv"), "--strategy", "quantile")
    for threads in ("1", "2"):
        other = calibrate(
            sample("multiclass.csv"),
            "--strategy",
            "quantile",
            "--batch-size",
            batch_size,
            "--threads",
            threads,
        )
        for key in ("ece", "mce", "rmsce", "adaptive_ece", "classwise_ece", "brier", "nll"):
            assert other[key] == pytest.approx(base[key], rel=1e-10), key
        assert [b["count"] for b in other["bins"]] == [b["count"] for b in base["bins"]]


def test_quantile_bins_have_equal_mass_without_empty_bins() -> None:
    report = calibrate(sample("multiclass.csv"), "--strategy", "quantile", "--bins", "10")
    counts = [b["count"] for b in report["bins"]]
    assert len(counts) == 10 and min(counts) > 0
    assert max(counts) - min(counts) <= 0.05 * 400
    assert report["adaptive_ece"] == pytest.approx(report["ece"], rel=0.2)


def test_multilabel_per_label_and_pooled() -> None:
    report = calibrate(sample("multilabel.csv"))
    assert report["task"] == "multilabel" and report["confidence"] == "positive"
    assert [c["name"] for c in report["per_class"]] == [
        "person",
        "car",
        "bicycle",
        "dog",
        "traffic_light",
        "bus",
    ]
    assert all(c["ece"] is not None for c in report["per_class"])
    assert sum(b["count"] for b in report["bins"]) == 2000 * 6


def test_one_row_and_one_class_give_warnings_not_nan(tmp_path: Path) -> None:
    one = tmp_path / "one.parquet"
    pq.write_table(pa.table({"label": [1], "logit_a": [0.2], "logit_b": [1.0]}), one)
    result = run("calibrate", str(one), "--format", "json")
    assert result.exit_code == 0 and "NaN" not in result.stdout
    assert json.loads(result.stdout)["warnings"]
    single = tmp_path / "single.parquet"
    pq.write_table(
        pa.table({"label": [0, 0, 0], "logit_a": [2.0, 1.0, 3.0], "logit_b": [0.0, 0.5, 1.0]}),
        single,
    )
    result = run("calibrate", str(single), "--format", "json")
    assert result.exit_code == 0 and "NaN" not in result.stdout


def test_table_shows_a_bar_per_bin() -> None:
    out = run("calibrate", sample("multiclass.csv")).stdout
    assert "reliability" in out and "█" in out and "ECE" in out


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("ext", ["png", "svg"])
def test_plots_are_valid_files(tmp_path: Path, ext: str) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / f"rel.{ext}"
    result = run("calibrate", sample("multiclass.csv"), "--fit-temperature", "--plot", str(out))
    assert result.exit_code == 0, result.stderr
    chart = tmp_path / f"w.{ext}"
    assert run("weights", sample("multiclass.csv"), "--plot", str(chart)).exit_code == 0
    if ext == "png":
        assert png_size(out) == (960, 960)
        assert png_size(chart)[0] >= 960
    else:
        text = out.read_text()
        assert text.lstrip().startswith("<?xml") and "<svg" in text and 'width="460.8pt"' in text
        assert "<svg" in chart.read_text()


def test_missing_matplotlib_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run("calibrate", sample("multiclass.csv"), "--plot", str(tmp_path / "r.png"))
    assert_user_error(result, "pip install 'ce-cli[plot]'")


def test_bad_input() -> None:
    assert_user_error(run("calibrate", sample("soft_targets.parquet")), "soft targets")
    assert_user_error(
        run("calibrate", sample("multiclass.csv"), "--confidence", "positive"), "binary"
    )
    assert_user_error(
        run("calibrate", sample("multiclass.csv"), "--save-temperature", "t.json"),
        "--fit-temperature",
    )
    assert_user_error(run("calibrate", sample("multiclass.csv"), "--bins", "0"), "--bins")
    assert_user_error(run("calibrate", sample("multiclass.csv"), "--plot", "x.pdf"), ".png")
    assert_user_error(
        run("calibrate", sample("multiclass.csv"), "--temperature", "abc"), "--temperature"
    )
    stdin = run(
        "calibrate", "-", "--fit-temperature", input=Path(sample("multiclass.csv")).read_bytes()
    )
    assert_user_error(stdin, "stdin")


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_extreme_logits_use_the_stable_sigmoid(tmp_path: Path) -> None:
    """Binary and multi-label logits of ±1000: σ by the stable kernel, no overflow warning
    (raised as an error here), and exact metrics: every row right with confidence 1."""
    binary = tmp_path / "b.csv"
    binary.write_text("label,logit\n0,-1000\n1,1000\n0,-800\n1,750\n")
    report = calibrate(str(binary))
    assert report["accuracy"] == 1.0 and report["brier"] == 0.0 and report["ece"] == 0.0
    assert report["nll"] == 0.0
    multi = tmp_path / "m.csv"
    multi.write_text("label_a,label_b,logit_a,logit_b\n1,0,1000,-1000\n0,1,-900,900\n")
    report = calibrate(str(multi))
    assert report["accuracy"] == 1.0 and report["brier"] == 0.0 and report["ece"] == 0.0
    shifted = calibrate(str(binary), "--temperature", "0.5")
    assert shifted["brier"] == 0.0


def test_nothing_counted_is_an_error(tmp_path: Path) -> None:
    """Every label ignored, or every sample weight 0: exit 2, one line naming file and reason."""
    ignored = tmp_path / "ignored.csv"
    ignored.write_text("label,logit_a,logit_b,w\n-100,1,2,1\n-100,2,1,1\n")
    result = run("calibrate", str(ignored))
    assert_user_error(result)
    assert result.stderr == (
        f"ce: error: {ignored}: the calibration metrics are undefined: every row was left out "
        "(--ignore-index / --mask-col / --where)\n"
    )
    weightless = tmp_path / "weightless.csv"
    weightless.write_text("label,logit_a,logit_b,w\n0,1,2,0\n1,2,1,0\n")
    for extra in ([], ["--fit-temperature"]):
        result = run("calibrate", str(weightless), "--weight-col", "w", *extra)
        assert_user_error(result)
        assert result.stderr == (
            f"ce: error: {weightless}: the calibration metrics are undefined: every used row "
            "has sample weight 0 (--weight-col w)\n"
        )


def test_an_empty_group_is_not_an_error(tmp_path: Path) -> None:
    """--group-by: a group whose rows are all ignored has null metrics; the rest is reported."""
    path = tmp_path / "g.csv"
    path.write_text("g,label,logit_a,logit_b\nx,0,2,1\nx,1,1,2\ny,-100,1,2\n")
    report = calibrate(str(path), "--group-by", "g")
    assert report["n_samples"] == 2 and report["accuracy"] == 1.0
    groups = {g["value"]: g for g in report["groups"]}
    assert groups["y"]["n_samples"] == 0 and groups["y"]["ece"] is None


def test_library_checks_its_options() -> None:
    """A library caller gets one CEError per bad option (the CLI's click types come first)."""
    from ce_cli.core.errors import CEError
    from ce_cli.io.dataset import InputOptions
    from ce_cli.report.calibrate import CalibrationOptions, compute_calibration

    options = InputOptions(sample("multiclass.csv"))
    for bad, message in (
        (CalibrationOptions(n_bins=0), "--bins must be in 1 … 10000, not 0"),
        (CalibrationOptions(n_bins=100_000_000), "--bins must be in 1 … 10000, not 100000000"),
        (CalibrationOptions(strategy="equal"), "--strategy must be uniform or quantile"),
        (CalibrationOptions(temperature=float("nan")), "--temperature must be > 0, not nan"),
    ):
        with pytest.raises(CEError, match="^" + message):
            compute_calibration(options, bad)


def test_schema_vocabularies_are_the_option_vocabularies() -> None:
    """The calibration schema's enums and the --bins bound are the CLI's."""
    from importlib import resources

    from ce_cli.core.limits import MAX_BINS
    from ce_cli.core.vocab import CONFIDENCE_MODES, STRATEGIES, TASKS

    text = resources.files("ce_cli").joinpath("schemas", "calibration.json").read_text("utf-8")
    props = json.loads(text)["properties"]
    assert props["strategy"]["enum"] == list(STRATEGIES)
    assert props["confidence"]["enum"] == list(CONFIDENCE_MODES)
    assert props["task"]["enum"] == list(TASKS)
    assert props["n_bins"]["maximum"] == MAX_BINS


@pytest.mark.skipif(not shutil.which("prlimit"), reason="needs prlimit (util-linux)")
def test_the_largest_allowed_options_fit_in_4_gb() -> None:
    """--threads and --bins at their bounds (core/limits.py) run under a 4 GB address space."""
    from ce_cli.core.limits import MAX_BINS, MAX_THREADS

    args = ["calibrate", sample("multiclass.csv"), "--threads", str(MAX_THREADS)]
    args += ["--bins", str(MAX_BINS), "--strategy", "quantile", "--fit-temperature"]
    proc = subprocess.run(
        ["prlimit", "--as=4000000000", sys.executable, "-m", "ce_cli", *args, "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_bins"] == MAX_BINS


def test_probability_rows_off_the_simplex_are_renormalised_and_said(tmp_path: Path) -> None:
    """calibrate takes p as q = p / Σp: the same metrics as the renormalised file, and a warning
    counting the rows it changed (ce score scores them as given)."""
    rows = [(0, 0.5, 0.3, 0.1), (1, 0.2, 0.7, 0.1), (2, 0.1, 0.1, 0.8), (0, 0.6, 0.3, 0.1)]
    raw, fixed = tmp_path / "raw.csv", tmp_path / "fixed.csv"
    header = "label,prob_a,prob_b,prob_c\n"
    raw.write_text(header + "".join(f"{y},{a},{b},{c}\n" for y, a, b, c in rows))
    fixed.write_text(
        header
        + "".join(
            f"{y},{a / (a + b + c)!r},{b / (a + b + c)!r},{c / (a + b + c)!r}\n"
            for y, a, b, c in rows
        )
    )
    got, want = run_json("calibrate", str(raw)), run_json("calibrate", str(fixed))
    for key in ("ece", "nll", "brier"):
        assert got[key] == pytest.approx(want[key], rel=1e-12)
    assert (
        "1 probability rows do not sum to 1; calibration takes each as q = p / Σp (softmax of "
        "log p), while ce score scores them as given"
    ) in got["warnings"]
    assert not any("do not sum to 1" in w for w in want["warnings"])
