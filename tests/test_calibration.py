"""ce_cli.core.calibration against torchmetrics / scikit-learn golden values, and its invariants.

The golden values come from tests/golden/make_calibration_golden.py (torch, torchmetrics and
scikit-learn, run in a separate venv); these tests run without torch.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ce_cli.core import calibration as cal
from ce_cli.core.losses import log_probs_from_probs

GOLDEN = json.loads((Path(__file__).parent / "golden" / "calibration.json").read_text())
CASES = {case["name"]: case for case in GOLDEN["cases"]}
TOL = 1e-9  # float64 references; ce_cli agrees to rounding
TOL_FLOAT32 = 1e-6  # torchmetrics' public multiclass function (float32 confidences)
CHUNKS = (1, 7, 1000)


def _cases(kind: str) -> list[dict[str, Any]]:
    return [c for c in GOLDEN["cases"] if c["kind"] == kind]


def _binned(case: dict[str, Any], **kw: Any) -> cal.CalibrationResult:
    scores, target = np.asarray(case["scores"]), np.asarray(case["target"])
    mode = kw.pop("mode", None) or case["mode"]
    conf, correct = cal.confidence_and_correct(
        scores, target, kind=case.get("score_kind", "probs"), mode=mode
    )
    acc = cal.CalibrationAccumulator(case["n_bins"], case.get("strategy", "uniform"), **kw)
    acc.update(conf, correct)
    return acc.compute()


def _walk_floats(value: Any) -> Iterator[float]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk_floats(getattr(value, f.name))
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _walk_floats(v)
    elif isinstance(value, float):
        yield value


def assert_no_nan(result: Any) -> None:
    values = list(_walk_floats(result))
    assert all(not math.isnan(v) for v in values), result


# ---------------------------------------------------------------------------------------------
# golden values


def test_golden_file_covers_every_kind() -> None:
    kinds = {c["kind"] for c in GOLDEN["cases"]}
    assert kinds == {"binned", "classwise", "curve", "brier", "log_loss", "temperature", "differ"}
    assert GOLDEN["versions"]["torchmetrics"] == "1.9.0"


@pytest.mark.parametrize("case", _cases("binned"), ids=lambda c: c["name"])
def test_binned_matches_torchmetrics(case: dict[str, Any]) -> None:
    result = _binned(case)
    for key, expected in case["expected"].items():
        assert getattr(result, key) == pytest.approx(expected, abs=TOL), key
    for key, expected in case.get("expected_float32", {}).items():
        assert getattr(result, key) == pytest.approx(expected, abs=TOL_FLOAT32), key


def test_torchmetrics_doc_example_reference_numbers() -> None:
    """reference/calibration.md: ECE 0.200 and MCE 0.2333 on the torchmetrics doc example."""
    result = _binned(CASES["torchmetrics_doc_example"])
    assert result.ece == pytest.approx(0.2, abs=1e-12)
    assert result.mce == pytest.approx(0.7 / 3, abs=1e-12)


def test_classwise_matches_mean_of_torchmetrics_binary() -> None:
    case = CASES["classwise"]
    probs, target = np.asarray(case["scores"]), np.asarray(case["target"])
    acc = cal.ClasswiseCalibrationAccumulator(probs.shape[1], case["n_bins"])
    acc.update(probs, target)
    result = acc.compute()
    assert result.ece == pytest.approx(case["expected"]["ece"], abs=TOL)
    per_class = [r.ece for r in result.per_class]
    assert per_class == pytest.approx(case["expected"]["per_class"], abs=TOL)
    assert result.reduction == "mean"


@pytest.mark.parametrize("case", _cases("curve"), ids=lambda c: c["name"])
def test_bins_match_sklearn_calibration_curve(case: dict[str, Any]) -> None:
    result = _binned(case, mode="positive")
    used = [b for b in result.bins if b.count]
    assert [b.accuracy for b in used] == pytest.approx(case["expected"]["prob_true"], abs=TOL)
    assert [b.confidence for b in used] == pytest.approx(case["expected"]["prob_pred"], abs=TOL)
    if case["strategy"] == "quantile":
        n = len(case["scores"])
        assert [b.count for b in result.bins] == [n // case["n_bins"]] * case["n_bins"]
        assert result.ece_error_bound == 0.0


@pytest.mark.parametrize("case", _cases("brier"), ids=lambda c: c["name"])
def test_brier_matches_sklearn(case: dict[str, Any]) -> None:
    acc = cal.BrierAccumulator()
    acc.update(np.asarray(case["scores"]), np.asarray(case["target"]), case["weight"])
    assert acc.compute().value == pytest.approx(case["expected"], abs=TOL)


@pytest.mark.parametrize("case", _cases("log_loss"), ids=lambda c: c["name"])
def test_nll_matches_sklearn_log_loss(case: dict[str, Any]) -> None:
    logp, _ = log_probs_from_probs(np.asarray(case["scores"]))
    acc = cal.NLLAccumulator()
    acc.update(logp, np.asarray(case["target"]), case["weight"])
    assert acc.compute().value == pytest.approx(case["expected"], abs=TOL)


@pytest.mark.parametrize("case", _cases("temperature"), ids=lambda c: c["name"])
def test_temperature_matches_sklearn(case: dict[str, Any]) -> None:
    fit = cal.fit_temperature_arrays(
        np.asarray(case["scores"]), np.asarray(case["target"]), case["weight"], batch_rows=64
    )
    assert fit.converged and fit.warnings == ()
    assert fit.temperature == pytest.approx(case["expected"]["temperature"], rel=1e-7)


def test_differ_confidence_exactly_one() -> None:
    """torchmetrics puts 1.0 in a hidden 11th bin (issue #3510): 0.525; Guo's bins: 0.475."""
    case = CASES["confidence_exactly_one"]
    assert case["reference"]["torchmetrics"] == pytest.approx(0.525)
    result = _binned(case)
    assert result.ece == pytest.approx(case["expected"]["ece"], abs=1e-12)
    assert len(result.bins) == 10 and result.bins[-1].count == 2


def test_differ_ones_and_halves() -> None:
    case = CASES["ones_and_halves"]
    result = _binned(case)
    assert result.ece == pytest.approx(case["expected"]["ece"], abs=1e-12)
    assert [b.count for b in result.bins] == [2, 2]  # 0.5 in the lower bin, 1.0 in the upper


def test_differ_binary_top_label_vs_positive() -> None:
    case = CASES["binary_top_label_vs_positive"]
    assert case["reference"]["torchmetrics"] == pytest.approx(0.0)
    for mode in ("positive", "top-label"):
        assert _binned(case, mode=mode).ece == pytest.approx(case["expected"][mode], abs=1e-12)


def test_differ_confidence_on_an_edge() -> None:
    """0.5 with two bins goes to the lower bin (lo, hi], as scikit-learn; torchmetrics' [lo, hi)
    puts it in the upper bin."""
    case = CASES["confidence_on_an_edge"]
    result = _binned(case)
    assert result.ece == pytest.approx(case["expected"]["ece"], abs=1e-12)
    assert case["reference"]["torchmetrics"] != pytest.approx(result.ece)
    assert [b.confidence for b in result.bins] == pytest.approx(
        case["reference"]["sklearn_prob_pred"]
    )


def test_differ_quantile_ties() -> None:
    case = CASES["quantile_ties"]
    result = _binned(case)
    assert [b.count for b in result.bins] == case["expected"]["counts"]
    assert result.ece == pytest.approx(case["expected"]["ece"], abs=1e-12)
    assert len(result.bins) == case["reference"]["sklearn_n_bins"]
    assert result.warnings and "2 of 4 bins" in result.warnings[0]


# ---------------------------------------------------------------------------------------------
# uniform bins


@pytest.mark.parametrize("n_bins", [1, 2, 3, 7, 10, 15, 30, 100])
def test_uniform_bin_index_equals_searchsorted(n_bins: int) -> None:
    rng = np.random.default_rng(n_bins)
    edges = cal.uniform_edges(n_bins)
    near = np.concatenate([edges, np.nextafter(edges, -1.0), np.nextafter(edges, 2.0)])
    c = np.clip(np.concatenate([rng.random(5000), near, np.arange(1001) / 1000]), 0.0, 1.0)
    expected = np.searchsorted(edges[1:-1], c, side="left")
    np.testing.assert_array_equal(cal.uniform_bin_index(c, n_bins), expected)


def test_zero_first_bin_one_last_bin_and_empty_bins_listed() -> None:
    acc = cal.CalibrationAccumulator(15)
    acc.update([0.0, 1.0, 1.0], [0, 1, 0])
    result = acc.compute()
    assert len(result.bins) == 15
    assert result.bins[0].count == 1 and result.bins[-1].count == 2
    assert all(b.count == 0 and b.gap is None for b in result.bins[1:-1])
    assert result.bins[0].lower == 0.0 and result.bins[-1].upper == 1.0
    # ECE = (1/3)·0 + (2/3)·|0.5 - 1|; MCE over non-empty bins only
    assert result.ece == pytest.approx(1 / 3, abs=1e-15)
    assert result.mce == pytest.approx(0.5, abs=1e-15)
    assert result.rmsce == pytest.approx(math.sqrt(2 / 3 * 0.25), abs=1e-15)


def test_mce_ignores_empty_bins_and_gap_sign() -> None:
    acc = cal.CalibrationAccumulator(10)
    acc.update([0.95, 0.95, 0.15], [0, 1, 1])  # over-confident top bin, under-confident low bin
    result = acc.compute()
    gaps = {round(b.upper, 1): b.gap for b in result.bins if b.count}
    assert gaps[1.0] == pytest.approx(0.5 - 0.95) and gaps[0.2] == pytest.approx(0.85)
    assert result.mce == pytest.approx(0.85)


# ---------------------------------------------------------------------------------------------
# quantile bins


def _exact_equal_mass_ece(c: np.ndarray, y: np.ndarray, n_bins: int, order: str) -> float:
    """ECE of an exact split of the sorted rows into n_bins equal chunks (N divisible by M),
    ties ordered by y ascending or descending."""
    key = y if order == "asc" else -y
    idx = np.lexsort((key, c))
    resid = (y - c)[idx].reshape(n_bins, -1).sum(axis=1)
    return float(np.abs(resid).sum() / c.size)


@pytest.mark.parametrize("seed", range(6))
def test_quantile_error_bound_holds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, n_bins = 1200, 10
    c = rng.beta(5.0, 0.7, n)  # piled up near 1
    if seed % 2:
        c[: n // 3] = 0.9  # a heavy tie
        c[n // 3 : n // 2] = 1.0
    y = (rng.random(n) < c**2).astype(float)
    acc = cal.CalibrationAccumulator(n_bins, "quantile")
    acc.update(c, y)
    result = acc.compute()
    assert all(b.count > 0 for b in result.bins)
    assert sum(b.count for b in result.bins) == n
    uppers = [b.upper for b in result.bins]
    assert uppers == sorted(set(uppers))  # no duplicate bins
    for order in ("asc", "desc"):
        exact = _exact_equal_mass_ece(c, y, n_bins, order)
        assert result.ece is not None
        assert abs(result.ece - exact) <= result.ece_error_bound + 1e-12


def test_quantile_bins_are_nearly_equal_mass_for_continuous_data() -> None:
    rng = np.random.default_rng(3)
    c = 1.0 - rng.exponential(1e-4, 20000).clip(max=1.0)  # all within ~1e-3 of 1
    acc = cal.CalibrationAccumulator(20, "quantile")
    acc.update(c, rng.random(c.size) < 0.9)
    result = acc.compute()
    counts = [b.count for b in result.bins]
    assert len(counts) == 20 and max(counts) - min(counts) <= 20  # within 2 % of a bin
    assert 0.0 < result.ece_error_bound <= 2 * 19 * acc.weight.max() / c.size  # the static bound
    assert result.ece_error_bound < 0.01


def test_quantile_all_confidences_identical() -> None:
    acc = cal.CalibrationAccumulator(15, "quantile")
    acc.update(np.full(100, 0.8), np.r_[np.ones(70), np.zeros(30)])
    result = acc.compute()
    assert len(result.bins) == 1 and result.bins[0].count == 100
    assert result.ece == pytest.approx(0.1, abs=1e-12)
    assert result.warnings and "1 of 15 bins" in result.warnings[0]
    assert_no_nan(result)


@pytest.mark.parametrize(
    ("mass", "n_bins", "starts"),
    [
        ([1.0, 8.0, 1.0], 4, [0, 1, 2]),  # targets 2.5, 5, 7.5 -> cuts at 1 (x2) and 9
        ([0.0, 4.0, 0.0, 4.0, 0.0], 4, [0, 2]),  # targets 2, 4, 6 -> 0 (none), 4, 4 (ties down)
        ([5.0, 5.0], 2, [0, 1]),
        ([1.0, 1.0, 1.0], 2, [0, 1]),  # target 1.5 is as near 1 as 2: the lower one wins
        ([0.0, 3.0, 0.0], 5, [0]),
        ([0.0, 0.0], 3, [0]),
        ([1.0] * 12, 4, [0, 3, 6, 9]),
    ],
)
def test_equal_mass_cuts_rule(mass: list[float], n_bins: int, starts: list[int]) -> None:
    cuts = cal.equal_mass_cuts(np.asarray(mass), n_bins)
    assert cuts.starts.tolist() == starts
    assert np.all(cuts.moved <= np.asarray(mass)[cuts.straddled])


def test_equal_mass_deviation_and_reported_bound() -> None:
    # targets 2.5, 5, 7.5 of 10 unit sub-bins pick 2, 5, 7: deviation 0.5 + 0 + 0.5
    cuts = cal.equal_mass_cuts(np.ones(10), 4)
    assert cuts.starts.tolist() == [0, 2, 5, 7]
    assert cuts.moved.tolist() == [0.5, 0.0, 0.5] and cuts.straddled.tolist() == [2, 4, 7]
    acc = cal.CalibrationAccumulator(4, "quantile")
    acc.update(np.linspace(0.05, 0.95, 10), np.ones(10))
    result = acc.compute()
    assert [b.count for b in result.bins] == [2, 3, 2, 3]
    # half of row 3 (c = 0.25, y = 1) and half of row 8 (c = 0.75, y = 1) are on the wrong side:
    # r = 0.5·(1 - 0.25) and 0.5·(1 - 0.75), so the bound is 2·(0.375 + 0.125)/10 = 0.1, not the
    # 2·(0.5 + 0.5)/10 = 0.2 of the plain |s_m - t_m| (up to the sub-bins' width)
    assert result.ece_error_bound == pytest.approx(0.1, abs=1e-3)


def test_fine_grid_is_monotone_and_covers_the_ends() -> None:
    c = np.sort(np.concatenate([np.random.default_rng(0).random(10000), [0.0, 1e-300, 1.0]]))
    idx = cal.fine_bin_index(c)
    assert np.all(np.diff(idx) >= 0) and idx[0] == 0 and idx[-1] == cal.QUANTILE_RESOLUTION - 1
    edges = cal.fine_edges()
    assert edges[0] == 0.0 and edges[-1] == 1.0 and np.all(np.diff(edges) >= 0)
    below = edges < 1.0 - 1e-12  # closer to 1 the grid is finer than float64's spacing there
    assert np.all(np.diff(edges[below]) > 0)
    inner = (c > 0) & (c < 1)
    assert np.all(edges[idx[inner]] <= c[inner] * (1 + 1e-12))
    assert np.all(c[inner] <= edges[idx[inner] + 1] * (1 + 1e-12))


# ---------------------------------------------------------------------------------------------
# streaming: chunked + merged == one pass


def _data(n: int = 600, c: int = 5, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, c)) * 2.5
    y = np.where(rng.random(n) < 0.6, z.argmax(axis=1), rng.integers(0, c, n))
    w = rng.uniform(0.0, 2.0, n)
    return z, y, w


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _chunked(make: Callable[[], Any], feed: Callable[[Any, slice], None], n: int, size: int) -> Any:
    total = make()
    for start in range(0, n, size):
        part = make()
        feed(part, slice(start, start + size))
        total.merge(part)
    return total.compute()


def _assert_results_close(a: Any, b: Any, tol: float = 1e-12) -> None:
    fa, fb = list(_walk_floats(a)), list(_walk_floats(b))
    assert len(fa) == len(fb)
    np.testing.assert_allclose(fa, fb, rtol=tol, atol=tol)
    assert [v for v in _walk_ints(a)] == [v for v in _walk_ints(b)]


def _walk_ints(value: Any) -> Iterator[int]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk_ints(getattr(value, f.name))
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _walk_ints(v)
    elif isinstance(value, int) and not isinstance(value, bool):
        yield value


@pytest.mark.parametrize("strategy", cal.STRATEGIES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("size", CHUNKS)
def test_calibration_chunks_merge_to_one_pass(strategy: str, weighted: bool, size: int) -> None:
    z, y, w = _data()
    conf, correct = cal.confidence_and_correct(z, y, kind="logits")
    ww = w if weighted else None

    def make() -> cal.CalibrationAccumulator:
        return cal.CalibrationAccumulator(10, strategy, resolution=4096)

    def feed(acc: cal.CalibrationAccumulator, sl: slice) -> None:
        acc.update(conf[sl], correct[sl], None if ww is None else ww[sl])

    one = make()
    one.update(conf, correct, ww)
    _assert_results_close(_chunked(make, feed, y.size, size), one.compute())
    perm = np.random.default_rng(1).permutation(y.size)
    shuffled = make()
    shuffled.update(conf[perm], correct[perm], None if ww is None else ww[perm])
    _assert_results_close(shuffled.compute(), one.compute())


@pytest.mark.parametrize("size", CHUNKS)
def test_classwise_brier_nll_accuracy_chunks_merge(size: int) -> None:
    z, y, w = _data()
    probs = _softmax(z)
    logp, _ = log_probs_from_probs(probs)
    pred = z.argmax(axis=1)
    makers: list[tuple[Callable[[], Any], Callable[[Any, slice], None]]] = [
        (
            lambda: cal.ClasswiseCalibrationAccumulator(5, 15),
            lambda a, s: a.update(probs[s], y[s], w[s]),
        ),
        (cal.BrierAccumulator, lambda a, s: a.update(probs[s], y[s], w[s])),
        (cal.NLLAccumulator, lambda a, s: a.update(logp[s], y[s], w[s])),
        (cal.AccuracyAccumulator, lambda a, s: a.update(pred[s], y[s], w[s])),
    ]
    for make, feed in makers:
        one = make()
        feed(one, slice(None))
        _assert_results_close(_chunked(make, feed, y.size, size), one.compute())


@pytest.mark.parametrize("size", CHUNKS)
def test_temperature_sums_chunks_merge(size: int) -> None:
    z, y, w = _data()
    one = cal.TemperatureAccumulator(0.7)
    one.update(z, y, w)
    merged = _chunked(
        lambda: cal.TemperatureAccumulator(0.7),
        lambda a, s: a.update(z[s], y[s], w[s]),
        y.size,
        size,
    )
    _assert_results_close(merged, one.compute())


def test_merge_refuses_different_bins() -> None:
    with pytest.raises(ValueError, match="cannot merge calibration bins"):
        cal.CalibrationAccumulator(10).merge(cal.CalibrationAccumulator(15))
    with pytest.raises(ValueError, match="cannot merge NLL sums at beta"):
        cal.TemperatureAccumulator(1.0).merge(cal.TemperatureAccumulator(2.0))
    with pytest.raises(ValueError, match="cannot merge a nll mean into a brier mean"):
        cal.BrierAccumulator().merge(cal.NLLAccumulator())  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# weights


def test_integer_weights_equal_repeated_rows() -> None:
    z, y, _ = _data(200)
    reps = np.random.default_rng(5).integers(0, 4, y.size)
    zr, yr = np.repeat(z, reps, axis=0), np.repeat(y, reps)
    probs, probs_r = _softmax(z), _softmax(zr)
    for strategy in cal.STRATEGIES:
        conf, cor = cal.confidence_and_correct(z, y, kind="logits")
        conf_r, cor_r = cal.confidence_and_correct(zr, yr, kind="logits")
        a, b = cal.CalibrationAccumulator(8, strategy), cal.CalibrationAccumulator(8, strategy)
        a.update(conf, cor, reps)
        b.update(conf_r, cor_r)
        ra, rb = a.compute(), b.compute()
        assert [x.weight for x in ra.bins] == [x.weight for x in rb.bins]
        for key in ("ece", "mce", "rmsce", "accuracy", "confidence"):
            assert getattr(ra, key) == pytest.approx(getattr(rb, key), abs=1e-12)
    brier_w, brier_r = cal.BrierAccumulator(), cal.BrierAccumulator()
    brier_w.update(probs, y, reps)
    brier_r.update(probs_r, yr)
    assert brier_w.compute().value == pytest.approx(brier_r.compute().value, abs=1e-12)
    fit_w = cal.fit_temperature_arrays(z, y, reps)
    fit_r = cal.fit_temperature_arrays(zr, yr)
    assert fit_w.temperature == pytest.approx(fit_r.temperature, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# temperature


def _nll_at(z: np.ndarray, y: np.ndarray, beta: float) -> float:
    """Whole-array NLL of softmax(β·z) (or sigmoid for a vector), for the in-memory reference."""
    if z.ndim == 1:
        t = beta * z
        return float(np.mean(np.logaddexp(0.0, t) - y * t))
    s = beta * z
    m = s.max(axis=1)
    lse = m + np.log(np.exp(s - m[:, None]).sum(axis=1))
    return float(np.mean(lse - s[np.arange(y.size), y]))


def _golden_section_temperature(z: np.ndarray, y: np.ndarray) -> float:
    """argmin_T NLL by golden-section search over log β in [-8, 8] to 1e-12."""
    a, b = -8.0, 8.0
    r = (math.sqrt(5.0) - 1.0) / 2.0
    while b - a > 1e-12:
        c, d = b - r * (b - a), a + r * (b - a)
        if _nll_at(z, y, math.exp(c)) < _nll_at(z, y, math.exp(d)):
            b = d
        else:
            a = c
    return math.exp(-(a + b) / 2.0)


@pytest.mark.parametrize("scale", [0.3, 1.0, 4.0, 20.0])
def test_temperature_fit_equals_in_memory(scale: float) -> None:
    z, y, _ = _data(800, 7, seed=int(scale * 10))
    z = (z * scale).astype(np.float32)
    fit = cal.fit_temperature_arrays(z, y, batch_rows=97)
    ref = _golden_section_temperature(z.astype(np.float64), y)
    assert fit.converged and fit.passes <= 12
    assert fit.temperature == pytest.approx(ref, abs=1e-4)
    assert fit.temperature == pytest.approx(ref, rel=1e-7)
    assert fit.nll_after is not None and fit.nll_before is not None
    assert fit.nll_after <= fit.nll_before
    assert fit.nll_after == pytest.approx(_nll_at(z.astype(np.float64), y, fit.beta), rel=1e-12)
    assert fit.history[0].beta == 1.0 and abs(fit.history[-1].grad or 0.0) < 1e-7


def test_temperature_fit_binary_equals_in_memory() -> None:
    rng = np.random.default_rng(11)
    z = rng.normal(size=3000) * 4.0
    y = (rng.random(z.size) < 1.0 / (1.0 + np.exp(-z / 2.5))).astype(float)
    fit = cal.fit_temperature_arrays(z, y, batch_rows=500)
    assert fit.converged
    assert fit.temperature == pytest.approx(_golden_section_temperature(z, y), rel=1e-7)
    assert fit.temperature == pytest.approx(2.5, rel=0.1)


def test_temperature_derivatives_match_finite_differences() -> None:
    z, y, _ = _data(300, 4)
    for beta in (0.2, 1.0, 3.0):
        stats = cal.TemperatureAccumulator(beta)
        stats.update(z, y)
        s = stats.compute()
        h = 1e-5
        up, down = _nll_at(z, y, beta + h), _nll_at(z, y, beta - h)
        assert s.nll == pytest.approx(_nll_at(z, y, beta), rel=1e-13)
        assert s.grad == pytest.approx((up - down) / (2 * h), rel=1e-6)
        assert s.hess == pytest.approx((up - 2 * s.nll + down) / h**2, rel=1e-4)


def test_temperature_leaves_accuracy_unchanged_and_improves_ece() -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(size=(4000, 6)) * 3.0
    u = rng.random(z.shape[0])[:, None]
    y = (u > np.cumsum(_softmax(z / 4.0), axis=1)).sum(axis=1)  # drawn from softmax(z / 4)
    fit = cal.fit_temperature_arrays(z, y)
    assert fit.temperature == pytest.approx(4.0, rel=0.1)
    before = cal.CalibrationAccumulator(15)
    after = cal.CalibrationAccumulator(15)
    acc_before, acc_after = cal.AccuracyAccumulator(), cal.AccuracyAccumulator()
    _, pred = cal.top_label(z, "logits")
    _, pred_t = cal.top_label(z, "logits", temperature=fit.temperature)
    np.testing.assert_array_equal(pred, pred_t)
    acc_before.update(pred, y)
    acc_after.update(pred_t, y)
    before.update(*cal.confidence_and_correct(z, y, kind="logits"))
    after.update(*cal.confidence_and_correct(z, y, kind="logits", temperature=fit.temperature))
    rb, ra = before.compute(), after.compute()
    assert acc_before.compute().value == acc_after.compute().value == rb.accuracy == ra.accuracy
    assert ra.ece is not None and rb.ece is not None and ra.ece < rb.ece / 4


def test_temperature_separable_data_stops_at_the_bound() -> None:
    z, _, _ = _data(50, 3)
    fit = cal.fit_temperature_arrays(z, z.argmax(axis=1))  # every row correct
    assert not fit.converged and fit.temperature < 1e-3
    assert len(fit.warnings) == 1 and "T → 0" in fit.warnings[0]
    assert_no_nan(fit)
    bounded = cal.fit_temperature_arrays(z, z.argmax(axis=1), beta_bounds=(0.5, 8.0))
    assert bounded.beta == 8.0 and not bounded.converged
    assert bounded.warnings == ("the NLL keeps decreasing past the bound T = 0.125 (T → 0)",)


def test_temperature_degenerate_inputs() -> None:
    flat = cal.fit_temperature_arrays(np.zeros((5, 3)), np.array([0, 1, 2, 0, 1]))
    assert (
        flat.temperature == 1.0 and flat.converged and "does not change with T" in flat.warnings[0]
    )
    one_class = cal.fit_temperature_arrays(np.ones((4, 1)), np.zeros(4, dtype=int))
    assert one_class.temperature == 1.0 and one_class.nll_after == 0.0
    empty = cal.fit_temperature_arrays(np.zeros((0, 3)), np.zeros(0, dtype=int))
    assert empty.nll_before is None and empty.temperature == 1.0 and "no rows" in empty.warnings[0]
    zero_w = cal.fit_temperature_arrays(np.eye(3), np.arange(3), np.zeros(3))
    assert zero_w.nll_after is None and zero_w.warnings
    for fit in (flat, one_class, empty, zero_w):
        assert_no_nan(fit)


def test_temperature_refuses_mixed_batches() -> None:
    acc = cal.TemperatureAccumulator()
    acc.update(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(
        ValueError, match="batch logits are sigmoid but earlier batches were softmax"
    ):
        acc.update(np.zeros(2), np.array([0, 1]))


# ---------------------------------------------------------------------------------------------
# confidences, Brier, classwise


def test_top_label_kinds_agree_and_ties_take_first_index() -> None:
    z, _, _ = _data(50)
    probs = _softmax(z)
    c_logits, p_logits = cal.top_label(z, "logits")
    c_probs, p_probs = cal.top_label(probs, "probs")
    c_logp, p_logp = cal.top_label(np.log(probs), "logp")
    np.testing.assert_allclose(c_logits, c_probs, rtol=1e-14)
    np.testing.assert_allclose(c_logp, c_probs, rtol=1e-14)
    assert (p_logits == p_probs).all() and (p_logp == p_probs).all()
    conf, pred = cal.top_label(np.array([[0.4, 0.4, 0.2]]))
    assert pred.tolist() == [0] and conf.tolist() == [0.4]
    c_t, _ = cal.top_label(np.log(probs), "logp", temperature=2.0)
    np.testing.assert_allclose(c_t, cal.top_label(z, "logits", temperature=2.0)[0], rtol=1e-12)


def test_binary_vector_conventions() -> None:
    p = np.array([0.2, 0.5, 0.8, 0.0, 1.0])
    conf, pred = cal.top_label(p)
    assert conf.tolist() == [0.8, 0.5, 0.8, 1.0, 1.0] and pred.tolist() == [0, 0, 1, 0, 1]
    z = np.log(p[:3] / (1 - p[:3]))
    conf_z, pred_z = cal.top_label(z, "logits")
    np.testing.assert_allclose(conf_z, conf[:3], rtol=1e-12)
    assert pred_z.tolist() == pred[:3].tolist()
    y = np.array([1, 0, 1])
    from_vector = cal.confidence_and_correct(z, y, kind="logits", mode="positive")
    two_cols = np.stack([np.zeros(3), z], axis=1) + 5.0  # logits are shift-invariant
    from_columns = cal.confidence_and_correct(two_cols, y, kind="logits", mode="positive")
    from_probs = cal.confidence_and_correct(p[:3], y, mode="positive")
    for got in (from_vector, from_columns):
        np.testing.assert_allclose(got[0], from_probs[0], rtol=1e-12)
        assert got[1].tolist() == [1.0, 0.0, 1.0]


def test_brier_terms_formulas() -> None:
    q = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    y = np.array([0, 1])
    expected = [0.09 + 0.04 + 0.01, 0.01 + 0.81 + 0.64]
    np.testing.assert_allclose(cal.brier_terms(q, y), expected, rtol=1e-14)
    np.testing.assert_allclose(cal.brier_terms(q, np.eye(3)[y]), expected, rtol=1e-14)
    np.testing.assert_allclose(
        cal.brier_terms(q, y, scale_by_half=True), np.divide(expected, 2), rtol=1e-14
    )
    assert cal.brier_terms(np.array([0.2, 0.7]), np.array([0, 1])).tolist() == pytest.approx(
        [0.04, 0.09]
    )


def test_classwise_is_mean_of_one_vs_rest_and_accepts_label_matrices() -> None:
    z, y, w = _data(400, 4)
    probs = _softmax(z)
    acc = cal.ClasswiseCalibrationAccumulator(4, 10)
    acc.update(probs, y, w)
    onehot = cal.ClasswiseCalibrationAccumulator(4, 10)
    onehot.update(probs, np.eye(4)[y], w)
    result = acc.compute()
    _assert_results_close(onehot.compute(), result)
    eces = []
    for k in range(4):
        single = cal.CalibrationAccumulator(10)
        single.update(probs[:, k], (y == k).astype(float), w)
        eces.append(single.compute().ece)
    assert result.ece == pytest.approx(float(np.mean(eces)), abs=1e-14)


# ---------------------------------------------------------------------------------------------
# degenerate inputs: no NaN, None + warnings


def test_degenerate_inputs_never_give_nan() -> None:
    results = []
    for strategy in cal.STRATEGIES:
        empty = cal.CalibrationAccumulator(15, strategy).compute()
        assert empty.ece is None and empty.mce is None and "no rows" in empty.warnings[0]
        one = cal.CalibrationAccumulator(15, strategy)
        one.update([0.7], [1])
        r = one.compute()
        assert r.ece == pytest.approx(0.3) and r.mce == pytest.approx(0.3)
        zero = cal.CalibrationAccumulator(15, strategy)
        zero.update([0.3, 0.9], [1, 0], [0.0, 0.0])
        rz = zero.compute()
        assert rz.ece is None and rz.n_rows == 2 and "weight 0" in rz.warnings[0]
        results += [empty, r, rz]
    one_class = cal.CalibrationAccumulator()
    one_class.update(*cal.confidence_and_correct(np.ones((3, 1)), np.zeros(3, dtype=int)))
    all_correct = cal.CalibrationAccumulator()
    all_correct.update(np.ones(4), np.ones(4))
    assert one_class.compute().ece == 0.0 and all_correct.compute().ece == 0.0
    brier, nll = cal.BrierAccumulator(), cal.NLLAccumulator()
    assert brier.compute().value is None and nll.compute().warnings == ("nll: no rows",)
    classwise = cal.ClasswiseCalibrationAccumulator(3).compute()
    assert classwise.ece is None and classwise.warnings
    for result in [*results, one_class.compute(), all_correct.compute(), classwise]:
        assert_no_nan(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0.2, 1.5], [0, 1]), r"confidence must lie in \[0, 1\]; got values in \[0.2, 1.5\]"),
        (([0.2, np.nan], [0, 1]), "confidence has 1 non-finite values"),
        (([0.2, 0.3], [0, 1, 1]), r"correct has shape \(3,\), confidence has shape \(2,\)"),
        (([0.2, 0.3], [0, 1], [1.0, -1.0]), "weight must be >= 0; got minimum -1"),
    ],
)
def test_update_errors(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cal.CalibrationAccumulator().update(*args)


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="n_bins must be an integer >= 1"):
        cal.CalibrationAccumulator(0)
    with pytest.raises(ValueError, match="strategy must be one of uniform, quantile"):
        cal.CalibrationAccumulator(10, "adaptive")
    with pytest.raises(ValueError, match="temperature needs logits"):
        cal.top_label(np.eye(2), "probs", temperature=2.0)


def test_temperature_fit_out_of_passes_says_so() -> None:
    """The search stops after max_passes with converged False and one warning saying why."""
    z, y, _ = _data(200, 4)
    fit = cal.fit_temperature_arrays(z * 3.0, y, max_passes=2)
    assert fit.passes == 2 and not fit.converged
    assert fit.warnings == ("no convergence to |Δβ| < 1e-08 in 2 passes",)
    full = cal.fit_temperature_arrays(z * 3.0, y)
    assert full.converged and full.passes > 2 and full.warnings == ()
    assert full.nll_after is not None and fit.nll_after is not None
    assert full.nll_after <= fit.nll_after
