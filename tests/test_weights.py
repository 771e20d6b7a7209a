"""Weight schemes against the seed's formulas and scikit-learn's verified numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ce_cli.core.weights import class_weights, imbalance_ratio, normalized_entropy, pos_weights

COUNTS = np.array([6.0, 3.0, 1.0])  # reference/losses.md §2, "Example [run], counts (6, 3, 1)"


def seed_binary(y: list[int]) -> list[float]:
    """The seed's get_class_weights_binary, written out."""
    y1 = sum(y)
    y0 = len(y) - y1
    return [len(y) / (y0 * 2), len(y) / (y1 * 2)]


def seed_multilabel(y: list[list[int]]) -> list[float]:
    """The seed's get_class_weights, written out."""
    c = len(y[0])
    counts = [sum(row[i] for row in y) for i in range(c)]
    return [len(y) / (count * c) for count in counts]


def test_balanced_matches_sklearn_verified_values() -> None:
    # sklearn compute_class_weight('balanced') [run]: [0.555556, 1.111111, 3.333333]
    np.testing.assert_allclose(
        class_weights(COUNTS, 10), [0.5555556, 1.1111111, 3.3333333], rtol=1e-6
    )


def test_balanced_with_sample_weights_matches_sklearn() -> None:
    # s = [2, 1, …, 1] on the first row of class 0: [0.523810, 1.222222, 3.666667]
    np.testing.assert_allclose(
        class_weights(np.array([7.0, 3.0, 1.0]), 11), [0.5238095, 1.2222222, 3.6666667], rtol=1e-6
    )


def test_balanced_docstring_example() -> None:
    # y = [1,1,1,1,0,0] → [1.5, 0.75]
    np.testing.assert_allclose(class_weights(np.array([2.0, 4.0]), 6), [1.5, 0.75])


def test_balanced_equals_seed_binary() -> None:
    y = [0] * 17 + [1] * 3
    np.testing.assert_allclose(class_weights(np.array([17.0, 3.0]), 20), seed_binary(y))


def test_balanced_equals_seed_multilabel() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((100, 6)) ** 3 > 0.5).astype(int).tolist()
    counts = np.array(y).sum(axis=0).astype(float)
    np.testing.assert_allclose(class_weights(counts, 100), seed_multilabel(y))


@pytest.mark.parametrize(
    ("scheme", "beta", "expected"),
    [
        ("inverse", 0.0, [10 / 6, 10 / 3, 10.0]),
        ("sqrt-inverse", 0.0, [math.sqrt(10 / 6), math.sqrt(10 / 3), math.sqrt(10)]),
        ("effective", 0.9, [0.4046, 0.6996, 1.8958]),  # reference table, β = 0.9
        ("effective", 0.99, [0.34, 0.67, 1.99]),
        ("effective", 0.0, [1.0, 1.0, 1.0]),
        ("median", 0.0, [0.5, 1.0, 3.0]),
    ],
)
def test_schemes_match_reference_table(scheme: str, beta: float, expected: list[float]) -> None:
    np.testing.assert_allclose(class_weights(COUNTS, 10, scheme, beta), expected, rtol=5e-3)


def test_effective_sums_to_number_of_classes() -> None:
    assert class_weights(COUNTS, 10, "effective", 0.999).sum() == pytest.approx(3.0)


def test_zero_count_class_is_nan_not_inf() -> None:
    counts = np.array([5.0, 0.0, 5.0])
    for scheme in ("balanced", "inverse", "sqrt-inverse", "effective", "median"):
        w = class_weights(counts, 10, scheme)
        assert math.isnan(w[1]) and np.isfinite(w[[0, 2]]).all(), scheme
    assert math.isnan(pos_weights(counts, 10)[1])


def test_pos_weight_is_negatives_over_positives() -> None:
    # reference: Y = [[1,0,1],[0,0,1],[1,0,0],[0,1,0]] → pos_weight [1, 3, 1]
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=float)
    np.testing.assert_allclose(pos_weights(y.sum(axis=0), 4), [1.0, 3.0, 1.0])


def test_summary_statistics() -> None:
    assert imbalance_ratio(np.array([6.0, 0.0, 3.0, 1.0])) == 6.0
    assert normalized_entropy(np.array([5.0, 5.0]), 10) == pytest.approx(1.0)
    assert normalized_entropy(np.array([10.0, 0.0]), 10) == pytest.approx(0.0)
    # multi-label: mean binary entropy; prevalence 0.5 → 1, prevalence 0 → 0
    assert normalized_entropy(np.array([5.0, 0.0]), 10, multilabel=True) == pytest.approx(0.5)
    assert math.isnan(normalized_entropy(np.array([3.0]), 3))


def test_unknown_scheme_and_bad_beta() -> None:
    with pytest.raises(ValueError, match="unknown scheme"):
        class_weights(COUNTS, 10, "nope")
    with pytest.raises(ValueError, match="beta"):
        class_weights(COUNTS, 10, "effective", 1.0)
