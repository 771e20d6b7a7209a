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
    picked = fused._Picked(4, 4, None, cal.uniform_edges(4))
    every = np.arange(16)  # every entry a candidate: the exact q decides
    cls, row = np.divmod(every, 4)
    picked.add(e.T.copy(), s, 1.0 / s, every, cls, row, slice(0, 4))
    sums = picked.bin_into(e[np.arange(4), y] / s, y)
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


def _softmax_reference(
    x: np.ndarray, y: np.ndarray, w: np.ndarray | None, t: float, n_bins: int
) -> tuple[np.ndarray, np.ndarray, cal.ClasswiseCalibrationAccumulator]:
    """The probabilities as ``exp(x − max) / Σ`` (exact where the kernel's are: q = 1/4 from
    four equal logits), the first argmax's correctness and the classwise bins of them."""
    z = (x.astype(np.float64) - x.max(axis=1, keepdims=True)) / t
    q = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    classwise = cal.ClasswiseCalibrationAccumulator(x.shape[1], n_bins)
    classwise.update(q, y, w)
    return q, (np.argmax(x, axis=1) == y).astype(np.float64), classwise


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shift", [0.0, 700.0])  # 700: every row's maximum is subtracted
@pytest.mark.parametrize("t", [1.0, 0.5])
@pytest.mark.parametrize("derivatives", [False, True])  # True: d = x − x_max unscaled
def test_ties_and_probabilities_on_the_edges(
    dtype: type, shift: float, t: float, derivatives: bool
) -> None:
    """Rows with two or four equal maxima (correct only for the first of them, as np.argmax),
    q exactly on an edge (1/4 of 4 bins: bin 0), just above it (a logit of 1e-6: bin 1), and
    flat rows without a q above 1/M: the same cells, correctness and values as the reference
    (also on the derivatives' path, whose candidates compare the unscaled ``d`` with ``T·L``)."""
    rows = [
        [0.0, 0.0, 0.0, 0.0],  # q = 1/4 each, on the first edge; four maxima
        [1e-6, 0.0, 0.0, 0.0],  # q_0 just above 1/4
        [0.0, 3.0, 3.0, -1.0],  # two maxima: the first (1) is the argmax
        [-2.0, 1.0, 5.0, 5.0],
        [7.0, -3.0, 0.5, 2.0],
    ]
    base = np.array(rows * 50) * t  # the same q at every temperature
    x: np.ndarray = (base + shift).astype(dtype)
    y = np.tile([3, 0, 2, 3, 0], 50)
    w = np.linspace(0.5, 2.0, y.size)
    got = fused.softmax_calibration_rows(x, y, w, temperature=t, n_bins=4, derivatives=derivatives)
    q, correct, classwise = _softmax_reference(x, y, w, t, 4)
    np.testing.assert_array_equal(got.correct, correct)
    assert got.correct[:5].tolist() == [0.0, 1.0, 0.0, 0.0, 1.0]
    np.testing.assert_allclose(got.confidence, q.max(axis=1), rtol=1e-14)
    np.testing.assert_allclose(got.nll, -np.log(q[np.arange(y.size), y]), rtol=1e-12)
    np.testing.assert_array_equal(got.classwise.count, classwise.count)
    np.testing.assert_allclose(got.classwise.weight, classwise.weight, rtol=1e-13)
    np.testing.assert_allclose(got.classwise.conf_sum, classwise.confidence_sum, rtol=1e-13)
    np.testing.assert_allclose(got.classwise.correct_sum, classwise.correct_sum, rtol=1e-13)


@pytest.mark.parametrize("shift", [0.0, 700.0])
@pytest.mark.parametrize("t", [0.5, 2.0])
def test_the_derivatives_path_gives_the_same_metrics(shift: float, t: float) -> None:
    """With derivatives the kernel keeps ``d = x − x_max`` unscaled and its candidates compare
    ``d`` with ``T·L`` (at T > 1, ``L`` alone would miss entries with ``q > 1/M``): the same
    bins, correctness and per-row values as without derivatives and as the reference."""
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(2000, 5)) * 1.5 + shift).astype(np.float32)
    y = rng.integers(0, 5, 2000)
    w = rng.random(2000)
    plain = fused.softmax_calibration_rows(x, y, w, temperature=t, n_bins=4)
    rows = fused.softmax_calibration_rows(x, y, w, temperature=t, n_bins=4, derivatives=True)
    _, correct, classwise = _softmax_reference(x, y, w, t, 4)
    np.testing.assert_array_equal(rows.correct, correct)
    np.testing.assert_array_equal(rows.classwise.count, classwise.count)
    np.testing.assert_array_equal(rows.classwise.count, plain.classwise.count)
    np.testing.assert_allclose(rows.classwise.conf_sum, classwise.confidence_sum, rtol=1e-13)
    for name in ("confidence", "nll", "brier"):
        got, want = getattr(rows, name), getattr(plain, name)  # brier: near 0 when confident
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("weighted", [False, True])
def test_block_size_changes_no_row_and_no_bin(
    monkeypatch: pytest.MonkeyPatch, weighted: bool
) -> None:
    """Blocks of 64 or 256 rows (powers of two: a candidate's class and row by bit operations;
    the last block by division) or all 1000 rows in one block: the same per-row values and
    bins, up to the order of the sums over blocks."""
    rng = np.random.default_rng(11)
    n, n_classes = 1000, 12
    x = (rng.normal(size=(n, n_classes)) * 2).astype(np.float32)
    x[::7, 3] = x[::7].max(axis=1)  # ties at the maximum in every block
    y = rng.integers(0, n_classes, n)
    w = rng.random(n) if weighted else None
    results = []
    for elements in (64 * n_classes, 256 * n_classes, 1 << 20):
        monkeypatch.setattr(fused, "BLOCK_ELEMENTS", elements)
        monkeypatch.setattr(fused, "MIN_BLOCK_ROWS", 1)
        results.append(fused.softmax_calibration_rows(x, y, w, temperature=0.8))
    assert fused.block_rows(n, n_classes) == n  # the last: one block
    first = results[0]
    for other in results[1:]:
        np.testing.assert_array_equal(other.correct, first.correct)
        for name in ("confidence", "nll", "brier"):
            np.testing.assert_allclose(getattr(other, name), getattr(first, name), rtol=1e-15)
        np.testing.assert_array_equal(other.classwise.count, first.classwise.count)
        for name in ("weight", "conf_sum", "correct_sum"):
            got, want = getattr(other.classwise, name), getattr(first.classwise, name)
            np.testing.assert_allclose(got, want, rtol=1e-13)
    _, correct, classwise = _softmax_reference(x, y, w, 0.8, 15)
    np.testing.assert_array_equal(first.correct, correct)
    np.testing.assert_array_equal(first.classwise.count, classwise.count)


def test_block_rows_are_powers_of_two_within_the_budget() -> None:
    for n_classes in (1, 3, 7, 100, 1000, 10_000):
        rows = fused.block_rows(10**7, n_classes)
        assert rows & (rows - 1) == 0
        assert rows >= fused.MIN_BLOCK_ROWS
        assert rows * n_classes <= max(fused.BLOCK_ELEMENTS, fused.MIN_BLOCK_ROWS * n_classes)
        assert 2 * rows * n_classes > fused.BLOCK_ELEMENTS or rows == fused.MIN_BLOCK_ROWS
    assert fused.block_rows(10, 100) == 10


@pytest.mark.parametrize("n_bins", [1, 2, 3, 4, 10, 15, 97, 1000])
def test_bin_table_equals_uniform_bin_index_on_and_around_the_edges(n_bins: int) -> None:
    edges = cal.uniform_edges(n_bins)
    around = [edges, np.nextafter(edges, 2.0), np.nextafter(edges, -1.0)]
    around += [np.nextafter(a, d) for a, d in ((around[1], 2.0), (around[2], -1.0))]
    grid = np.arange(8 * n_bins + 1) / (8 * n_bins)
    q = np.clip(np.concatenate([*around, grid, np.random.default_rng(n_bins).random(5000)]), 0, 1)
    cls = np.arange(q.size) % 3
    want = cls * n_bins + cal.uniform_bin_index(q, n_bins, edges)
    np.testing.assert_array_equal(fused.BinTable(edges).cell(q, cls), want)


@pytest.mark.parametrize("size", [0, 1, 5, 8, 1001, 4096])
def test_flat_nonzero_by_words_ignores_the_tail(size: int) -> None:
    rng = np.random.default_rng(size)
    mask = rng.random(size + 4) < 0.05
    mask[size:] = True  # stale bytes past the block: not found
    want = np.flatnonzero(mask[:size])
    np.testing.assert_array_equal(fused._flat_nonzero(mask, size), want)
