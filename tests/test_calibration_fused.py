"""The fused softmax calibration kernel and the threaded temperature fit: the same numbers as
the one-metric-at-a-time accumulators, whatever the block, dtype, weights or thread count."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ce_cli.core import calibration as cal
from ce_cli.core import losses
from ce_cli.core import softmax_calibration as fused
from ce_cli.engine.ordered_map import ordered_map
from ce_cli.io.dataset import InputOptions
from ce_cli.report.calibrate import CalibrationOptions, compute_calibration


def _reference(
    x: np.ndarray, y: np.ndarray, w: np.ndarray | None, t: float, n_bins: int
) -> tuple[np.ndarray, ...]:
    conf, correct = cal.confidence_and_correct(x, y, kind="logits", temperature=t)
    logp = losses.log_softmax(x, t)
    q = np.exp(logp)
    classwise = cal.ClasswiseCalibrationAccumulator(x.shape[1], n_bins)
    classwise.update(q, y, w)
    return conf, correct, cal.nll_terms(logp, y), cal.brier_terms(q, y), classwise


@pytest.mark.parametrize(
    ("n", "n_classes", "t", "weighted", "dtype"),
    [
        (5000, 7, 1.0, False, np.float64),
        (5000, 7, 0.7, True, np.float64),
        (9000, 100, 1.0, False, np.float32),
        (3000, 3, 1.3, True, np.float32),
        (200, 1, 1.0, False, np.float64),
    ],
)
@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_fused_rows_equal_the_separate_metrics(
    n: int, n_classes: int, t: float, weighted: bool, dtype: type, n_bins: int
) -> None:
    rng = np.random.default_rng(n + n_classes)
    x = (rng.normal(size=(n, n_classes)) * 3).astype(dtype)
    y = rng.integers(0, n_classes, n)
    w = rng.random(n) if weighted else None
    got = fused.softmax_calibration_rows(x, y, w, temperature=t, n_bins=n_bins)
    conf, correct, nll, brier, classwise = _reference(x, y, w, t, n_bins)
    np.testing.assert_allclose(got.confidence, conf, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(got.correct, correct)
    np.testing.assert_allclose(got.nll, nll, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got.brier, brier, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(got.classwise.count, classwise.count)
    np.testing.assert_allclose(got.classwise.weight, classwise.weight, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got.classwise.conf_sum, classwise.confidence_sum, rtol=1e-11)
    np.testing.assert_allclose(got.classwise.correct_sum, classwise.correct_sum, rtol=1e-12)


def test_classwise_bins_probabilities_exactly_on_the_edges() -> None:
    """q = e / s exactly 1/4, 1/2, 3/4 (edges of 4 bins, closed on the right), and q = 1/4
    from e > 1/4 (a candidate that stays in bin 0): the same cells as binning q directly."""
    e = np.array(
        [
            [1.0, 0.5, 0.5, 0.0],  # q = 1/2, 1/4, 1/4, 0
            [1.0, 1.0, 0.0, 0.0],  # q = 1/2, 1/2, 0, 0
            [1.0, 0.0, 0.0, 0.0],  # q = 1, 0, 0, 0
            [1.0, 1.0, 1.0, 1.0],  # q = 1/4 each: e = 1 > 1/4, yet q is on the first edge
        ]
    )
    s = e.sum(axis=1)
    y = np.array([1, 0, 0, 3])
    sums = fused.ClassBinSums.zeros(4, 4)
    picked = fused._Picked(4, 4, None, cal.uniform_edges(4))
    picked.add(e.T.copy(), s, 1.0 / s, y, slice(0, 4))
    picked.bin_into(sums, y)
    reference = cal.ClasswiseCalibrationAccumulator(4, 4)
    reference.update(e / s[:, None], y)
    np.testing.assert_array_equal(sums.count, reference.count)
    np.testing.assert_array_equal(sums.conf_sum, reference.confidence_sum)
    np.testing.assert_array_equal(sums.correct_sum, reference.correct_sum)
    # bins [0, 1/4], (1/4, 1/2], (1/2, 3/4], (3/4, 1]: an edge belongs to the bin below it
    assert sums.count.tolist() == [[1, 2, 0, 1], [3, 1, 0, 0], [4, 0, 0, 0], [4, 0, 0, 0]]
    assert sums.correct_sum.tolist() == [[0, 1, 0, 1], [1, 0, 0, 0], [0] * 4, [1, 0, 0, 0]]


def test_ordered_map_keeps_order_and_reads_ahead_a_bounded_window() -> None:
    taken: list[int] = []
    lock = threading.Lock()

    def items() -> Iterator[int]:
        for i in range(100):
            with lock:
                taken.append(i)
            yield i

    results = ordered_map(2)(lambda i: (i, len(taken)), items())
    first = next(results)
    assert first[0] == 0 and len(taken) <= 5  # 2 × 2 threads ahead, plus the one in hand
    rest = list(results)
    assert [r[0] for r in [first, *rest]] == list(range(100))
    assert list(ordered_map(1)(lambda i: i * i, range(5))) == [0, 1, 4, 9, 16]


def _write(tmp_path: Path, n: int = 4000, k: int = 6) -> str:
    rng = np.random.default_rng(3)
    label = rng.integers(0, k, n)
    logits = rng.normal(0, 2, (n, k)) + 2.5 * np.eye(k)[label]
    columns = {"label": pa.array(label)}
    columns |= {f"logit_{j}": pa.array(logits[:, j].astype(np.float32)) for j in range(k)}
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table(columns), path)
    return str(path)


def test_the_fit_is_the_same_on_one_thread_and_two(tmp_path: Path) -> None:
    """Each pass adds its batches' sums in batch order: the thread count changes no bit of
    the fit; the metrics from the kept rows equal those of a second read."""
    path = _write(tmp_path)
    fits, reports = [], []
    for threads, budget in ((1, None), (2, None), (2, 0)):
        opts = InputOptions(path, batch_size=300, threads=threads)
        report = compute_calibration(
            opts, CalibrationOptions(fit_temperature=True, memory_budget=budget)
        ).to_dict()
        fits.append(report["temperature_fit"])
        reports.append(report)
    assert fits[0] == fits[1] == fits[2]
    for key in ("ece", "mce", "classwise_ece", "brier", "nll", "accuracy"):
        for other in reports[1:]:
            assert other[key] == pytest.approx(reports[0][key], rel=1e-12), key
            assert other["before_fit"][key] == pytest.approx(
                reports[0]["before_fit"][key], rel=1e-12
            )


def test_the_first_fit_pass_gives_the_metrics_before_the_fit(tmp_path: Path) -> None:
    """At T = 1 the fit's first pass also measures the metrics before it: the same numbers as
    calibrate without a fit, and a fit equal to the in-memory one."""
    path = _write(tmp_path)
    opts = InputOptions(path, batch_size=700, threads=2)
    fitted = compute_calibration(opts, CalibrationOptions(fit_temperature=True)).to_dict()
    plain = compute_calibration(opts, CalibrationOptions()).to_dict()
    for key in ("ece", "mce", "rmsce", "adaptive_ece", "classwise_ece", "brier", "nll"):
        assert fitted["before_fit"][key] == pytest.approx(plain[key], rel=1e-12), key
    table = pq.read_table(path)
    z = np.column_stack([table.column(f"logit_{j}").to_numpy() for j in range(6)])
    y = table.column("label").to_numpy()
    memory = cal.fit_temperature_arrays(z, y)
    fit = fitted["temperature_fit"]
    assert fit["temperature"] == pytest.approx(memory.temperature, rel=1e-12)
    assert fit["nll_before"] == pytest.approx(memory.nll_before, rel=1e-13)
    assert fit["nll_after"] == pytest.approx(memory.nll_after, rel=1e-13)
    assert fit["passes"] == memory.passes


@pytest.mark.parametrize("t", [1.0, 2.0, 0.7])
def test_derivative_rows_equal_the_temperature_accumulator(t: float) -> None:
    """The fused kernel's NLL derivatives at T equal the accumulator's at β = 1/T (derivatives
    at any T: the fit's last pass measures the metrics at the fitted T on the way)."""
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(3000, 9)) * 2).astype(np.float32)
    y = rng.integers(0, 9, 3000)
    w = rng.random(3000)
    rows = fused.softmax_calibration_rows(x, y, w, temperature=t, derivatives=True)
    assert rows.grad is not None and rows.hess is not None
    assert rows.d3 is not None and rows.d4 is not None
    got = cal.TemperatureAccumulator(1.0 / t)
    got.add_rows("softmax", rows.nll, rows.grad, rows.hess, w, (rows.d3, rows.d4))
    want = cal.TemperatureAccumulator(1.0 / t)
    want.update(x, y, w)
    a, b = got.compute(), want.compute()
    assert (a.n_rows, a.weight) == (b.n_rows, b.weight)
    assert a.nll == pytest.approx(b.nll, rel=1e-13)
    assert a.grad == pytest.approx(b.grad, rel=1e-11, abs=1e-15)
    assert a.hess == pytest.approx(b.hess, rel=1e-12)
    assert a.d3 == pytest.approx(b.d3, rel=1e-11)
    assert a.d4 == pytest.approx(b.d4, rel=1e-11)
