"""The temperature fit's passes: the third and fourth derivatives of the NLL, the Newton step
they refine, the pass the search expects to be the last (which ``ce calibrate`` fuses with the
metrics at the fitted T), and the numbers that must not change with any of it."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ce_cli.core import calibration as cal
from ce_cli.core import softmax_calibration as fused
from ce_cli.io.dataset import InputOptions
from ce_cli.report import calibrate
from ce_cli.report.calibrate import CalibrationOptions, compute_calibration

METRICS = ("ece", "mce", "rmsce", "adaptive_ece", "classwise_ece", "brier", "nll", "accuracy")


def _rows(n: int, k: int, scale: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, k, n)
    logits = (rng.normal(0, 2, (n, k)) + 3.0 * np.eye(k)[label]) * scale
    return logits.astype(np.float32), label


def _write(tmp_path: Path, n: int = 3000, k: int = 7, scale: float = 1.0) -> str:
    logits, label = _rows(n, k, scale)
    columns = {"label": pa.array(label)}
    columns |= {f"logit_{j}": pa.array(logits[:, j]) for j in range(k)}
    path = tmp_path / f"f{scale}.parquet"
    pq.write_table(pa.table(columns), path)
    return str(path)


def _nll(z: np.ndarray, y: np.ndarray, beta: float) -> float:
    s = beta * z.astype(np.float64)
    m = s.max(axis=1)
    lse = m + np.log(np.exp(s - m[:, None]).sum(axis=1))
    return float(np.mean(lse - s[np.arange(y.size), y]))


@pytest.mark.parametrize("beta", [0.3, 1.0, 2.5])
def test_third_and_fourth_derivatives_match_finite_differences(beta: float) -> None:
    z, y = _rows(400, 5, 1.0)
    for logits, target in ((z, y), (z[:, 0].astype(np.float64), (y == 0).astype(np.float64))):
        h = 1e-3  # softmax rows, then one binary column
        stats = [cal.TemperatureAccumulator(b) for b in (beta - h, beta, beta + h)]
        for acc in stats:
            acc.update(logits, target)
        lo, mid, hi = (acc.compute() for acc in stats)
        assert mid.hess is not None and lo.hess is not None and hi.hess is not None
        assert mid.d3 == pytest.approx((hi.hess - lo.hess) / (2 * h), rel=1e-5)
        assert mid.d4 == pytest.approx((hi.hess - 2 * mid.hess + lo.hess) / h**2, rel=1e-3)


def test_cumulants_do_not_depend_on_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    z, y = _rows(5000, 9, 1.5)
    sums = []
    for elements in (1 << 16, 1 << 10, 9 * 64):
        monkeypatch.setattr(cal, "_NLL_BLOCK_ELEMENTS", elements)
        acc = cal.TemperatureAccumulator(0.8)
        acc.update(z, y)
        sums.append(acc.compute())
    for other in sums[1:]:
        for name in ("nll", "grad", "hess", "d3", "d4"):
            assert getattr(other, name) == pytest.approx(getattr(sums[0], name), rel=1e-12), name


def test_a_pass_without_higher_derivatives_has_none_and_merges_to_none() -> None:
    z, y = _rows(300, 4, 1.0)
    plain = cal.TemperatureAccumulator(1.2, higher=False)
    plain.update(z, y)
    full = cal.TemperatureAccumulator(1.2)
    full.update(z, y)
    a, b = plain.compute(), full.compute()
    assert a.d3 is None and a.d4 is None and b.d3 is not None and b.d4 is not None
    assert (a.nll, a.grad, a.hess) == (b.nll, b.grad, b.hess)
    assert full.merge(plain).compute().d3 is None


def test_the_refined_step_is_the_root_of_the_taylor_polynomial() -> None:
    """L'(β + δ) = g + h·δ + d3·δ²/2 (d4 = 0): the refined step is its root; its error
    estimate is 0, and the terms must shrink for a step to be given at all."""
    g, h, d3 = -1e-3, 2.0, -4.0
    stats = cal.TemperatureStats(1.0, 1.0, 10, 10.0, 1.0, g, h, d3, 0.0)
    taylor = cal._taylor_step(stats)
    assert taylor is not None
    root = (-h + math.sqrt(h * h - 2 * d3 * g)) / d3
    assert taylor[0] == pytest.approx(root, rel=1e-14) and taylor[1] == 0.0
    assert abs(taylor[0] - (-g / h)) > 1e-7  # it is not the Newton step
    far = dataclasses.replace(stats, grad=-1.0)  # |δ| ≈ 0.5: the Taylor terms do not shrink
    assert cal._taylor_step(far) is None
    assert cal._taylor_step(dataclasses.replace(stats, d3=None)) is None


def test_a_newton_step_below_the_last_bit_of_beta_converges() -> None:
    """At the minimiser to float64 precision the step is lost in β's last bit: the search ends
    there (it used to bisect an already tiny bracket for many passes)."""
    search = cal._BetaSearch(*cal.BETA_BOUNDS, tol=1e-8)
    search.bracket = [0.5, 0.9]
    stats = cal.TemperatureStats(0.7, 1 / 0.7, 10, 10.0, 1.0, -1e-18, 5.0)
    assert search.next_beta(0.7, stats) is None and search.converged


@pytest.mark.parametrize("scale", [0.3, 1.0, 4.0])
def test_a_wrong_guess_of_the_last_pass_costs_passes_not_accuracy(
    scale: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every refined step claimed exact: the passes after it compute L, L', L'' only, the search
    goes on with plain Newton steps, and T is the same minimiser."""
    z, y = _rows(2000, 6, scale)
    honest = cal.fit_temperature_arrays(z, y, batch_rows=300)
    seen: list[float] = []

    def last(beta: float) -> cal.BatchSums:
        seen.append(beta)
        return lambda batch: cal._batch_sums(beta, batch, higher=False)

    original = cal._taylor_step

    def overconfident(stats: cal.TemperatureStats) -> tuple[float, float] | None:
        taylor = original(stats)
        return None if taylor is None else (taylor[0], 0.0)

    monkeypatch.setattr(cal, "_taylor_step", overconfident)
    guessed = cal.fit_temperature(
        lambda: ((z[i : i + 300], y[i : i + 300]) for i in range(0, 2000, 300)), last_sums=last
    )
    assert guessed.converged and honest.converged and guessed.passes >= honest.passes
    assert guessed.temperature == pytest.approx(honest.temperature, rel=1e-7)
    assert guessed.nll_after == pytest.approx(honest.nll_after, rel=1e-12)
    assert seen and all(s.d3 is None for s in guessed.history if s.beta in seen)


def _report(path: str, **options: Any) -> dict[str, Any]:
    opts = InputOptions(path, batch_size=options.pop("batch_size", 500), threads=2)
    return compute_calibration(opts, CalibrationOptions(fit_temperature=True, **options)).to_dict()


@pytest.mark.parametrize("scale", [1.0, 0.35])
def test_the_fused_last_pass_equals_separate_passes(
    tmp_path: Path, scale: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fit's last pass measures the metrics at the fitted T (no metric pass after it): the
    same T, NLL and metrics as the fit with plain passes followed by a metric pass."""
    path = _write(tmp_path, scale=scale)
    replays: list[int] = []
    original = calibrate._replay

    def counted(*args: Any) -> Any:
        replays.append(1)
        return original(*args)

    monkeypatch.setattr(calibrate, "_replay", counted)
    fused_report = _report(path)
    assert replays == []
    monkeypatch.setattr(calibrate, "_fusable", lambda *a: False)
    separate = _report(path)
    assert replays == [1]
    a, b = fused_report["temperature_fit"], separate["temperature_fit"]
    assert a["passes"] == b["passes"] and a["converged"] and b["converged"]
    assert a["temperature"] == pytest.approx(b["temperature"], rel=1e-12)
    assert a["nll_after"] == pytest.approx(b["nll_after"], rel=1e-12)
    assert fused_report["n_samples"] == separate["n_samples"] == 3000
    for key in METRICS:
        assert fused_report[key] == pytest.approx(separate[key], rel=1e-12, abs=1e-15), key
        before, other = fused_report["before_fit"][key], separate["before_fit"][key]
        assert before == pytest.approx(other, rel=1e-12, abs=1e-15), key


def test_near_t_1_the_fit_takes_two_passes_over_the_data(tmp_path: Path) -> None:
    """Logits whose fitted T is near 1: the first pass's refined step lands within tol of the
    minimiser, so the second pass (the metrics at that T) is the last."""
    logits, label = _rows(3000, 7, 1.0)
    z = np.asarray(logits, dtype=np.float64)
    beta = cal.fit_temperature_arrays(z, label).beta
    columns = {"label": pa.array(label)}
    scaled = z * (beta * 1.0005)  # fitted T ≈ 1.0005: a first step of ≈ 5e-4
    columns |= {f"logit_{j}": pa.array(scaled[:, j].astype(np.float32)) for j in range(7)}
    path = tmp_path / "near1.parquet"
    pq.write_table(pa.table(columns), path)
    fit = _report(str(path))["temperature_fit"]
    assert fit["converged"] and fit["passes"] == 2
    assert fit["temperature"] == pytest.approx(1.0005, abs=1e-6)


def test_a_fit_ending_at_its_first_pass_counts_every_row_once(tmp_path: Path) -> None:
    """Equal logits: the fit stops at T = 1 after one pass, whose metrics are both before and
    after — the threads' sets merged once."""
    n, k = 2000, 3
    columns = {"label": pa.array(np.arange(n) % k)}
    columns |= {f"logit_{j}": pa.array(np.zeros(n, np.float32)) for j in range(k)}
    path = tmp_path / "flat.parquet"
    pq.write_table(pa.table(columns), path)
    report = _report(str(path), batch_size=100)
    assert report["temperature_fit"]["passes"] == 1 and report["n_samples"] == n
    assert report["nll"] == report["before_fit"]["nll"] == pytest.approx(math.log(k), rel=1e-12)


@pytest.mark.parametrize("state", [True, False])
def test_the_fit_restores_numpys_hugepage_switch(tmp_path: Path, state: bool) -> None:
    switch = np._core.multiarray._set_madvise_hugepage  # type: ignore[attr-defined]
    previous = switch(state)
    try:
        _report(_write(tmp_path))
        assert switch(state) is state
    finally:
        switch(previous)


@pytest.mark.parametrize("t", [1.0, 0.6, 3.0])
def test_fused_two_derivative_rows_equal_the_accumulator(t: float) -> None:
    """The last pass's kernel (first two derivatives only) agrees with the accumulator."""
    z, y = _rows(2500, 11, 1.0)
    rows = fused.softmax_calibration_rows(z, y, None, temperature=t, derivatives=True, higher=False)
    assert rows.grad is not None and rows.hess is not None and rows.d3 is None
    got = cal.TemperatureAccumulator(1.0 / t)
    got.add_rows("softmax", rows.nll, rows.grad, rows.hess)
    want = cal.TemperatureAccumulator(1.0 / t, higher=False)
    want.update(z, y)
    a, b = got.compute(), want.compute()
    assert a.nll == pytest.approx(b.nll, rel=1e-13)
    assert a.grad == pytest.approx(b.grad, rel=1e-11, abs=1e-15)
    assert a.hess == pytest.approx(b.hess, rel=1e-12)
    assert a.d3 is None and _nll(z, y, 1.0 / t) == pytest.approx(a.nll, rel=1e-12)
