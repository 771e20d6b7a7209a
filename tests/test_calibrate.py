"""`ce calibrate`: metrics against hand computation, temperature fit, pictures, edge cases."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run, sample

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
