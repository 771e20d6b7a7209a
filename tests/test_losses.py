"""ce_cli.core.losses against PyTorch / scikit-learn golden values, and its invariants.

The golden values come from tests/golden/make_golden.py (torch + scikit-learn, run in a
separate venv); these tests run without torch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ce_cli.core import losses as L

GOLDEN = json.loads((Path(__file__).parent / "golden" / "losses.json").read_text())
CASES = {case["name"]: case for case in GOLDEN["cases"]}
FUNCS = {
    "cross_entropy": L.cross_entropy,
    "binary_cross_entropy_with_logits": L.binary_cross_entropy_with_logits,
    "binary_cross_entropy": L.binary_cross_entropy,
    "sigmoid_focal_loss": L.sigmoid_focal_loss,
    "softmax_focal_loss": L.softmax_focal_loss,
    "log_loss": L.log_loss,
}
PREDICTION_ARGS = ("input", "inputs", "y_proba")  # cast to the case's dtype
RTOL = 1e-6
# PyTorch 2.13's BCEWithLogits is (1 - y)·z - logsigmoid(z): for y = 0, z << 0 the two cancel
# and leave an absolute error of ~ulp(|z|) (2.842e-14 where the true term is 2.818e-14 at
# z = -31.2); ce_cli adds log1p(exp(-|z|)) to the exact part instead, so allow that much.
ATOL = 1e-12


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        return float(value)  # "nan", "inf", "-inf"
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _case_args(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs = {}
    for key, value in case["inputs"].items():
        arr = np.asarray(value)
        if key in PREDICTION_ARGS:
            cast = arr.astype(case["dtype"])
            assert np.array_equal(cast.astype(np.float64), arr), "input not representable"
            arr = cast
        inputs[key] = arr
    kwargs = {k: v for k, v in case["kwargs"].items() if v is not None}
    return inputs, kwargs


def test_golden_file_covers_every_function() -> None:
    assert GOLDEN["versions"]["torch"].startswith("2.")
    counts = {fn: sum(c["fn"] == fn for c in GOLDEN["cases"]) for fn in FUNCS}
    assert all(n >= 5 for n in counts.values()), counts
    assert len(CASES) == len(GOLDEN["cases"]), "duplicate case names"


@pytest.mark.parametrize("name", list(CASES))
def test_golden(name: str) -> None:
    case = CASES[name]
    inputs, kwargs = _case_args(case)
    got = FUNCS[case["fn"]](**inputs, **kwargs)
    expected = np.asarray(_decode(case["expected"]), dtype=np.float64)
    assert np.shape(got) == expected.shape
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), expected, rtol=RTOL, atol=ATOL)


def _ce_via_terms(
    input: np.ndarray,
    target: np.ndarray,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
) -> Any:
    """PyTorch's cross_entropy assembled from the generic kernels log_softmax + ce_terms."""
    keep = target != ignore_index if target.ndim == 1 else np.ones(len(target), bool)
    loss, denom = L.ce_terms(
        L.log_softmax(input[keep], temperature),
        target[keep],
        class_weight=weight,
        label_smoothing=label_smoothing,
    )
    if reduction == "none":
        out = np.zeros(len(target))
        out[keep] = loss
        return out
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / denom.sum() if denom.sum() else math.nan


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c["fn"] == "cross_entropy"])
def test_golden_cross_entropy_through_generic_kernels(name: str) -> None:
    case = CASES[name]
    inputs, kwargs = _case_args(case)
    got = _ce_via_terms(**inputs, **kwargs)
    expected = np.asarray(_decode(case["expected"]), dtype=np.float64)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)


# --- numbers quoted in /work/shared/reference/losses.md -------------------------------------------

REF_X = np.array([[2, 0.5, -1], [0.1, 1.2, 0.3], [-0.5, 0, 2.5], [1, 1, 1]])
REF_Y = np.array([0, 1, 2, 1])
REF_W = [1, 2, 0.5]
REF_Y_IGN = np.array([0, -100, 2, 1])


def test_reference_cross_entropy_1_1() -> None:
    per_sample = L.cross_entropy(REF_X, REF_Y, reduction="none")
    np.testing.assert_allclose(per_sample, [0.241311, 0.553564, 0.123873, 1.098612], atol=5e-7)
    cases = [
        (L.cross_entropy(REF_X, REF_Y), 0.504340),
        (L.cross_entropy(REF_X, REF_Y, REF_W), 0.655927),
        (np.mean(L.cross_entropy(REF_X, REF_Y, REF_W, reduction="none")), 0.901900),
        (L.cross_entropy(REF_X, REF_Y_IGN), 0.487932),
        (L.cross_entropy(REF_X, REF_Y_IGN, REF_W), 0.714421),
        (L.cross_entropy(REF_X, REF_Y, label_smoothing=0.1), 0.604340),
        (L.cross_entropy(REF_X, REF_Y, REF_W, label_smoothing=0.1), 0.718278),
        (L.cross_entropy(REF_X, REF_Y_IGN, REF_W, label_smoothing=0.1), 0.810819),
        (L.cross_entropy(REF_X, np.eye(3)[REF_Y], REF_W), 0.901900),
        (L.cross_entropy(REF_X, np.eye(3)[REF_Y], REF_W, label_smoothing=0.1), 0.987633),
    ]
    for got, want in cases:
        assert got == pytest.approx(want, abs=5e-7)
    all_ignored = np.full(4, -100)
    assert math.isnan(L.cross_entropy(REF_X, all_ignored))  # type: ignore[arg-type]
    assert L.cross_entropy(REF_X, all_ignored, reduction="sum") == 0.0


def test_reference_probabilities_fed_as_logits_floor() -> None:
    # softmax of a one-hot probability vector: CE floor log(e + C - 1) - 1
    for n_classes, floor in ((2, 0.3133), (3, 0.5514), (10, 1.461150), (100, 3.6222)):
        eye = np.eye(n_classes)
        assert L.cross_entropy(eye, np.arange(n_classes)) == pytest.approx(floor, abs=5e-5)


def test_reference_bce_with_logits_1_2() -> None:
    z = np.array([[1.5, -0.3, 0], [-2, 0.7, 3]])
    y = np.array([[1.0, 0, 1], [0, 1, 0]])
    pw = [3, 1, 0.5]
    assert L.binary_cross_entropy_with_logits(z, y, pos_weight=pw) == pytest.approx(
        0.847312, abs=5e-7
    )
    assert L.binary_cross_entropy_with_logits(
        z, y, weight=[[2], [0.5]], pos_weight=pw
    ) == pytest.approx(0.799948, abs=5e-7)
    # BCE-with-logits has no cap: float32 x = 40, y = 0 gives 40
    assert L.binary_cross_entropy_with_logits(np.float32([40.0]), np.array([0.0])) == pytest.approx(
        40.0, rel=1e-12
    )


def test_reference_sigmoid_focal_1_3() -> None:
    x, t = np.array([2, -1, 0.5, -3]), np.array([1.0, 1, 0, 0])
    np.testing.assert_allclose(
        L.sigmoid_focal_loss(x, t), [4.5089e-4, 1.7547e-1, 2.8306e-1, 8.1962e-5], rtol=2e-4
    )
    assert L.sigmoid_focal_loss(x, t, reduction="mean") == pytest.approx(0.114765, abs=5e-7)
    np.testing.assert_allclose(
        L.sigmoid_focal_loss(x, t, alpha=-1),
        [1.8036e-3, 7.0187e-1, 3.7741e-1, 1.0928e-4],
        rtol=2e-4,
    )


def test_reference_softmax_focal_3() -> None:
    x, y = np.array([[2, 0.5, -1], [0.1, 1.2, 0.3]]), np.array([0, 2])
    assert L.softmax_focal_loss(x, y) == pytest.approx(0.432284, abs=5e-7)
    assert L.softmax_focal_loss(x, y, alpha=[0.2, 0.3, 0.5]) == pytest.approx(0.214478, abs=5e-7)


def test_reference_log_loss_1_5() -> None:
    y, p = np.array([0, 1, 1]), np.array([[0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    assert L.log_loss(y, p) == pytest.approx(0.228393, abs=5e-7)
    assert L.log_loss(y, p[:, 1]) == pytest.approx(0.228393, abs=5e-7)
    assert L.log_loss(y, p, sample_weight=[1, 2, 3]) == pytest.approx(0.208762, abs=5e-7)
    assert L.log_loss(y, p, sample_weight=[1, 2, 3], normalize=False) == pytest.approx(
        1.252575, abs=5e-7
    )
    hard = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert L.log_loss([0, 1], hard) == pytest.approx(18.021827, abs=5e-7)
    # sklearn sums in float32 (7.97119236); ce_cli in float64 (7.97119264)
    assert L.log_loss([0, 1], hard.astype(np.float32)) == pytest.approx(7.971192, abs=1e-6)
    # no renormalisation of rows that do not sum to 1
    assert L.log_loss([0, 1], [[0.2, 0.3], [0.2, 0.3]]) == pytest.approx(1.406705, abs=5e-7)


# --- invariants -----------------------------------------------------------------------------------


@pytest.fixture
def data() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    n, n_classes = 1001, 13
    return {
        "x": rng.normal(0, 3, (n, n_classes)),
        "y": rng.integers(0, n_classes, n),
        "w": rng.uniform(0.1, 3, n_classes),
        "multi": (rng.uniform(size=(n, n_classes)) < 0.3).astype(float),
        "rng": rng,
    }


@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_ce_rows_invariant_to_per_row_shift(data: dict[str, Any], smoothing: float) -> None:
    x, y, w = data["x"], data["y"], data["w"]
    shifted = x + data["rng"].uniform(-100, 100, (len(x), 1))
    base = L.ce_index_rows(x, y, w, label_smoothing=smoothing)[0]
    assert np.ptp(base) > 1.0
    np.testing.assert_allclose(
        L.ce_index_rows(shifted, y, w, label_smoothing=smoothing)[0], base, rtol=1e-9
    )
    generic = L.ce_terms(L.log_softmax(shifted), y, class_weight=w, label_smoothing=smoothing)
    np.testing.assert_allclose(generic[0], base, rtol=1e-9)


@pytest.mark.usefixtures("ce_kernel")
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_extreme_logits_are_finite_and_exact(dtype: str, order: str) -> None:
    x = np.array([[1e4, -1e4], [1e4, -1e4], [-1e4, -1e4]], dtype=dtype, order=order)
    y = np.array([0, 1, 0])
    np.testing.assert_array_equal(L.ce_index_rows(x, y)[0], [0.0, 2e4, math.log(2)])
    np.testing.assert_array_equal(L.ce_terms(L.log_softmax(x), y)[0], [0.0, 2e4, math.log(2)])
    smooth = L.cross_entropy(x, y, label_smoothing=0.1, reduction="none")
    np.testing.assert_allclose(smooth, [0.05 * 2e4, 0.95 * 2e4, math.log(2)], rtol=1e-12)
    z = np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype)
    t = np.array([1.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(L.bce_terms_from_logits(z, t), [0.0, 1e4, 1e4, 0.0])
    np.testing.assert_array_equal(L.sigmoid_focal_terms(z, t, alpha=None), [0.0, 1e4, 1e4, 0.0])
    log_p, log_1mp = L.log_sigmoid_pair(z)
    np.testing.assert_array_equal(log_p, [0.0, -1e4, 0.0, -1e4])
    np.testing.assert_array_equal(log_1mp, [-1e4, 0.0, -1e4, 0.0])


def test_gamma_zero_focal_is_bce_and_ce(data: dict[str, Any]) -> None:
    x, y, w, multi = data["x"], data["y"], data["w"], data["multi"]
    bce = L.bce_terms_from_logits(x, multi)
    np.testing.assert_allclose(L.sigmoid_focal_terms(x, multi, alpha=-1, gamma=0), bce, rtol=1e-12)
    alpha_t = 0.3 * multi + 0.7 * (1 - multi)
    np.testing.assert_allclose(
        L.sigmoid_focal_terms(x, multi, alpha=0.3, gamma=0), alpha_t * bce, rtol=1e-12
    )
    p = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(
        L.sigmoid_focal_terms_from_probs(p, multi, alpha=None, gamma=0)[0],
        L.bce_terms_from_probs(p, multi)[0],
        rtol=1e-12,
    )
    logp = L.log_softmax(x)
    np.testing.assert_allclose(
        L.softmax_focal_terms(logp, y, gamma=0), L.ce_terms(logp, y)[0], rtol=1e-12
    )
    np.testing.assert_allclose(
        L.softmax_focal_terms(logp, y, alpha=w, gamma=0),
        L.ce_terms(logp, y, class_weight=w)[0],
        rtol=1e-12,
    )


def test_focal_down_weights_easy_examples(data: dict[str, Any]) -> None:
    x, multi = data["x"], data["multi"]
    bce = L.bce_terms_from_logits(x, multi)
    focal = L.sigmoid_focal_terms(x, multi, alpha=None, gamma=2.0)
    assert np.all(focal < bce)
    easy = np.abs(x) > 5  # confidently right or wrong
    right = easy & ((x > 0) == (multi == 1))
    assert np.all(focal[right] < 1e-4 * bce[right])


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_probs_path_matches_logits_path(data: dict[str, Any], smoothing: float) -> None:
    x, y, w, multi = data["x"] / 3, data["y"], data["w"], data["multi"]  # away from the clip
    probs = np.exp(L.log_softmax(x))
    logp, n_clipped = L.log_probs_from_probs(probs)
    assert n_clipped == 0
    for target in (y, np.eye(x.shape[1])[y] * 0.8 + 0.2 / x.shape[1]):
        from_probs = L.ce_terms(logp, target, class_weight=w, label_smoothing=smoothing)
        from_logits = L.ce_terms(
            L.log_softmax(x), target, class_weight=w, label_smoothing=smoothing
        )
        np.testing.assert_allclose(from_probs[0], from_logits[0], rtol=1e-9)
        np.testing.assert_array_equal(from_probs[1], from_logits[1])
    p = 1 / (1 + np.exp(-x))
    opts: dict[str, Any] = {"weight": w, "pos_weight": w[::-1], "label_smoothing": smoothing}
    np.testing.assert_allclose(
        L.bce_terms_from_probs(p, multi, **opts)[0],
        L.bce_terms_from_logits(x, multi, **opts),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        L.bce_terms(*L.log_sigmoid_pair(x), multi, **opts),
        L.bce_terms_from_logits(x, multi, **opts),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        L.sigmoid_focal_terms_from_probs(p, multi, alpha=0.25, gamma=1.5)[0],
        L.sigmoid_focal_terms(x, multi, alpha=0.25, gamma=1.5),
        rtol=1e-9,
    )


def test_probability_clip_counts_and_caps() -> None:
    logp, n_clipped = L.log_probs_from_probs(np.array([[0.0, 1.0], [0.5, 0.5]]))
    assert n_clipped == 2
    assert -logp[0, 0] == pytest.approx(36.04365338911715, rel=1e-12)
    _, n32 = L.log_probs_from_probs(np.array([[1e-8, 1 - 1e-8]], dtype=np.float32))
    assert n32 == 2  # float32 inputs clip at float32's eps, as sklearn
    terms, n = L.bce_terms_from_probs(np.array([0.0, 1.0, 0.3]), np.array([1.0, 1.0, 0.0]))
    assert n == 2
    np.testing.assert_allclose(terms, [-math.log(L.EPS), -math.log1p(-L.EPS), -math.log(0.7)])


@pytest.mark.usefixtures("ce_kernel")
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("margin", [0.0, 4.0, 15.0, 30.0])
@pytest.mark.parametrize("scale", [1.0, 50.0])
def test_unshifted_ce_rows_keep_the_shifted_precision(
    margin: float, scale: float, order: str
) -> None:
    """Unshifted exp (``losses.EXP_UNSHIFTED``) with ``log(Σ e / e_max)``: a row's loss is
    within a few rounding errors of ``1 + loss`` — also a confident row's (true class ahead by
    ``margin``), whatever the logits' scale, as when each row's maximum is subtracted first."""
    rng = np.random.default_rng(3)
    x = (rng.normal(0, 1, (2000, 50)) * scale).astype(np.float32)
    y = rng.integers(0, 50, 2000)
    x[np.arange(2000), y] = x.max(axis=1) + np.float32(margin)
    got = L.ce_index_rows(np.asarray(x, order=order), y)[0]
    want = L.ce_terms(L.log_softmax(x.astype(np.float64)), y)[0]
    np.testing.assert_array_less(np.abs(got - want), 8 * 2.0**-52 * (1 + want))


@pytest.mark.usefixtures("ce_kernel")
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("big", [599.0, 601.0, 1e4, -1e4])
def test_a_block_with_huge_logits_is_shifted_and_no_other(big: float, order: str) -> None:
    """A row whose max/T leaves ±EXP_UNSHIFTED makes its block subtract each row's maximum;
    the rows of every block equal log_softmax's to 1e-12 either way."""
    rng = np.random.default_rng(5)
    x = rng.normal(0, 3, (200, 9)).astype(np.float32)
    x[57] = np.float32(big) + x[57]
    x = np.asarray(x, order=order)
    y = rng.integers(0, 9, 200)
    want = L.ce_terms(L.log_softmax(x), y)[0]
    for temperature in (1.0, 2.5):
        want_t = L.ce_terms(L.log_softmax(x, temperature), y)[0]
        for rows in (1, 7, 200):
            got = L.ce_index_rows(x, y, temperature=temperature, block_rows=rows)[0]
            np.testing.assert_allclose(got, want_t, rtol=1e-12)
    np.testing.assert_allclose(L.ce_index_rows(x, y, block_rows=7)[0], want, rtol=1e-12)


@pytest.mark.usefixtures("ce_kernel")
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_dtypes_accepted_and_accumulated_in_float64(
    data: dict[str, Any], dtype: str, order: str
) -> None:
    x, y, w, multi = data["x"].astype(dtype, order=order), data["y"], data["w"], data["multi"]
    x64 = x.astype(np.float64)  # the exact values the float64 path should see
    loss, denom = L.ce_index_rows(x, y, w, label_smoothing=0.1, temperature=1.7)
    assert loss.dtype == denom.dtype == np.float64
    want = L.ce_terms(L.log_softmax(x64, 1.7), y, class_weight=w, label_smoothing=0.1)[0]
    np.testing.assert_allclose(loss, want, rtol=1e-12)
    assert L.log_softmax(x).dtype == np.float64
    for fn in (L.bce_terms_from_logits, L.sigmoid_focal_terms):
        got = fn(x, multi)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, fn(x64, multi), rtol=1e-12)
    assert isinstance(L.cross_entropy(x, y, w), float)


@pytest.mark.usefixtures("ce_kernel")
@pytest.mark.parametrize("block_rows", [1, 7, 64, 1000, 1001, 5000, None])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("n_classes", [13, 300])  # class-major and (C-order, C > 64) row-major
def test_block_size_and_memory_order_do_not_change_results(
    block_rows: int | None, order: str, n_classes: int
) -> None:
    rng = np.random.default_rng(n_classes)
    x = np.asarray(rng.normal(0, 3, (1001, n_classes)).astype(np.float32), order=order)
    y, w = rng.integers(0, n_classes, 1001), rng.uniform(0.1, 3, n_classes)
    want = L.ce_terms(L.log_softmax(x, 0.8), y, class_weight=w, label_smoothing=0.2)[0]
    got, denom = L.ce_index_rows(
        x, y, w, label_smoothing=0.2, temperature=0.8, block_rows=block_rows
    )
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_array_equal(denom, w[y])
    strided = L.ce_index_rows(x[::2], y[::2], w, label_smoothing=0.2, temperature=0.8)[0]
    np.testing.assert_allclose(strided, want[::2], rtol=1e-12)


def test_chunk_size_does_not_change_chunked_kernels(
    data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    x, multi, w = data["x"].astype(np.float32), data["multi"], data["w"]
    p = 1 / (1 + np.exp(-x.astype(np.float64)))
    p[:5, :5] = 0.0  # 25 clipped entries, spread over several chunks below
    kernels = {  # each returns a tuple of arrays / counts
        "bce": lambda: (L.bce_terms_from_logits(x, multi, pos_weight=w, weight=w[::-1]),),
        "focal": lambda: (L.sigmoid_focal_terms(x, multi, alpha=0.3, gamma=1.5),),
        "bce_probs": lambda: L.bce_terms_from_probs(p, multi, pos_weight=w, label_smoothing=0.1),
        "focal_probs": lambda: L.sigmoid_focal_terms_from_probs(p, multi),
        "logp": lambda: L.log_probs_from_probs(p),
        "pair": lambda: L.log_prob_pair_from_probs(p),
        "log_softmax": lambda: (L.log_softmax(x, 1.3),),
    }
    default = {name: fn() for name, fn in kernels.items()}
    assert default["bce_probs"][1] == default["logp"][1] == default["pair"][2] == 25
    monkeypatch.setattr(L, "CHUNK_ELEMENTS", 40)  # 3 rows of 13 per chunk, 1001 rows
    monkeypatch.setattr(L, "BLOCK_ELEMENTS", 40)
    for name, fn in kernels.items():
        for got, want in zip(fn(), default[name], strict=True):
            np.testing.assert_array_equal(got, want, err_msg=name)


def test_scalar_and_1d_inputs() -> None:
    assert L.binary_cross_entropy_with_logits(0.0, 1.0) == pytest.approx(math.log(2))
    assert L.bce_terms_from_logits(0.0, 1.0).shape == ()
    assert (
        L.sigmoid_focal_terms(np.zeros(3), np.ones(3), alpha=None, gamma=1).tolist()
        == [0.5 * math.log(2)] * 3
    )
    terms, n = L.bce_terms_from_probs(0.5, 1.0)
    assert terms.shape == () and n == 0 and float(terms) == pytest.approx(math.log(2))


def test_batch_terms_sum_to_the_whole_array_reduction(data: dict[str, Any]) -> None:
    x, y, w = data["x"], data["y"].copy(), data["w"]
    y[::5] = -100
    whole = L.cross_entropy(x, y, w, label_smoothing=0.1)
    loss_sum = denom_sum = 0.0
    for part in np.array_split(np.arange(len(y)), 4):
        keep = part[y[part] != -100]  # the streaming layer drops ignored rows
        loss, denom = L.ce_index_rows(x[keep], y[keep], w, label_smoothing=0.1)
        loss_sum += loss.sum()
        denom_sum += denom.sum()
    assert loss_sum / denom_sum == pytest.approx(whole, rel=1e-12)


def test_empty_input() -> None:
    loss, denom = L.ce_index_rows(np.empty((0, 3), np.float32), np.empty(0, np.int64))
    assert loss.shape == denom.shape == (0,)
    assert math.isnan(L.cross_entropy(np.empty((0, 3)), np.empty(0, np.int64)))  # type: ignore[arg-type]


def test_ignored_rows_do_not_need_valid_logits() -> None:
    x = np.array([[1.0, 2.0], [np.nan, np.nan]])
    y = np.array([1, -100])
    np.testing.assert_allclose(
        L.cross_entropy(x, y, reduction="none"), [math.log1p(math.exp(-1)), 0.0]
    )


# --- argument checks ------------------------------------------------------------------------------

X3 = np.zeros((2, 3))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: L.cross_entropy(X3, np.array([0, 3])), "target 3 is out of bounds"),
        (lambda: L.cross_entropy(X3, np.array([0, -1])), "target -1 is out of bounds"),
        (lambda: L.cross_entropy(X3, np.array([0.0, 1.0])), "must hold integers"),
        (lambda: L.cross_entropy(X3, np.array([0, 1, 2])), "fits neither"),
        (lambda: L.cross_entropy(X3, np.array([0, 1]), weight=[1, 2]), r"shape \(3,\)"),
        (lambda: L.cross_entropy(X3, np.array([0, 1]), reduction="avg"), "reduction"),
        (lambda: L.cross_entropy(X3, np.array([0, 1]), label_smoothing=1.0), "label_smoothing"),
        (lambda: L.cross_entropy(X3, np.array([0, 1]), label_smoothing=-0.1), "label_smoothing"),
        (lambda: L.cross_entropy(X3, np.array([0, 1]), temperature=0), "temperature"),
        (lambda: L.cross_entropy(X3, X3, ignore_index=0), "not supported for probability"),
        (lambda: L.cross_entropy(np.zeros(3), np.array([0])), r"shape \(n, C\)"),
        (lambda: L.ce_index_rows(X3, np.array([0, 1]), block_rows=0), "block_rows"),
        (lambda: L.ce_terms(X3, np.zeros((2, 2))), "probability target shape"),
        (lambda: L.sigmoid_focal_loss([1.0], [1.0], gamma=-1), "gamma"),
        (lambda: L.sigmoid_focal_loss([1.0], [1.0], alpha=-0.5), "alpha"),
        (lambda: L.sigmoid_focal_loss([1.0], [1.0], alpha=1.5), "alpha"),
        (lambda: L.sigmoid_focal_loss([1.0, 2.0], [1.0]), "shape"),
        (lambda: L.softmax_focal_loss(X3, np.array([0, 1]), gamma=-0.5), "gamma"),
        (lambda: L.softmax_focal_loss(X3, np.array([0, 1]), alpha=[1, 2]), "alpha"),
        (lambda: L.binary_cross_entropy_with_logits(X3, X3, pos_weight=[1, 2]), "pos_weight"),
        (lambda: L.binary_cross_entropy_with_logits(X3, X3, weight=np.ones((2, 3, 1))), "weight"),
        (lambda: L.binary_cross_entropy_with_logits(X3, X3, label_smoothing=2), "label_smoothing"),
        (lambda: L.binary_cross_entropy(X3 + 1.5, X3), "between 0 and 1"),
        (lambda: L.log_loss([0, 1], [[0.5, 1.5], [0.5, 0.5]]), r"outside \[0, 1\]"),
        (lambda: L.log_loss([0, 1], [[0.5, 0.5]] * 2, sample_weight=[0, 0]), "sum to zero"),
    ],
)
def test_invalid_arguments_raise_value_error(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_valid_edge_arguments() -> None:
    # alpha -1 / None disable weighting; (N, 1) weights act per row; gamma 0 and ε = 0 allowed
    off = L.sigmoid_focal_loss([1.0, -2.0], [1.0, 0.0], alpha=-1)
    np.testing.assert_array_equal(off, L.sigmoid_focal_loss([1.0, -2.0], [1.0, 0.0], alpha=None))
    per_row = L.binary_cross_entropy_with_logits(
        X3, np.ones((2, 3)), weight=[[1.0], [3.0]], reduction="none"
    )
    np.testing.assert_allclose(per_row[:, 0], [math.log(2), 3 * math.log(2)])
