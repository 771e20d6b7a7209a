"""The fast paths agree with the general ones: the fused binary-logit kernel and accumulator path,
the pre-filtered top-K, and the small-integer label decoding."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from ce_cli.core import losses
from ce_cli.core.errors import CEError
from ce_cli.core.topk import TopK
from ce_cli.engine import loss_sums as scoring
from ce_cli.engine.loss_sums import LossAccumulator, LossSetup, RowTerms
from ce_cli.io.batch import Batch
from ce_cli.io.layout import Layout

TINY = [0.0, -0.0, 1e-17, -1e-17, 2.0**-53, -(2.0**-53), 2.0**-54, 1e-9, -1e-9, 1e-6, -1e-6]
EDGES = [2.0**-20, -(2.0**-20), np.nextafter(2.0**-20, 0), np.nextafter(-(2.0**-20), 0)]
HUGE = [1e4, -1e4, 800.0, -800.0, 745.5, -745.5, 40.0, -40.0, 36.7, -36.7]


SPECIAL = TINY + EDGES + HUGE


def logits_with_edges(rng: np.random.Generator, n: int, dtype: Any) -> np.ndarray:
    """Every special value twice (rows 0 … 2·S−1, see ``binary_labels``), then n random logits
    with ties."""
    body = np.round(rng.normal(-1.0, 4.0, n), 1)  # rounding makes ties
    return np.concatenate([SPECIAL, SPECIAL, body]).astype(dtype)


def binary_labels(rng: np.random.Generator, z: np.ndarray) -> np.ndarray:
    """Random 0/1 labels; the special values once with each label."""
    s = len(SPECIAL)
    y = rng.integers(0, 2, len(z))
    y[:s], y[s : 2 * s] = 0, 1
    return y


# --------------------------------------------------------------------- the fused kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_logit_rows_match_the_general_kernels(dtype: Any) -> None:
    rng = np.random.default_rng(7)
    z = logits_with_edges(rng, 100_000, dtype)  # > 3 chunks
    y = binary_labels(rng, z)
    loss, p_true, positive = losses.binary_logit_rows(z, y)

    np.testing.assert_array_equal(loss, losses.bce_terms_from_logits(z, y))  # bit for bit
    log_p, _ = losses.log_sigmoid_pair(z)
    np.testing.assert_array_equal(positive, np.exp(log_p) > 0.5)
    np.testing.assert_array_equal(p_true[y == 1], np.exp(log_p)[y == 1])
    # y = 0: σ(−z) without the cancellation of 1 − σ(z); against 80-bit long doubles.
    u = np.where(y == 1, -z, z).astype(np.longdouble)
    reference = (1 / (1 + np.exp(u))).astype(np.float64)
    normal = reference > 1e-300
    np.testing.assert_allclose(p_true[normal], reference[normal], rtol=1e-14)
    assert np.all(p_true[~normal] < 1e-300)


def test_the_decision_is_sigma_above_one_half_not_the_sign() -> None:
    z = np.array([1e-17, 2.0**-53, 1e-9, 0.0, -1e-17])
    _, _, positive = losses.binary_logit_rows(z, np.zeros(5, dtype=np.int64))
    # σ(1e-17) rounds to exactly 0.5, so the general path predicts class 0 there.
    assert positive.tolist() == [False, False, True, False, False]


@pytest.mark.parametrize("target", [[0, 2], [0.0, 0.5], [-1, 1]])
def test_binary_logit_rows_rejects_non_binary_targets(target: list[float]) -> None:
    with pytest.raises(ValueError, match="binary targets must be 0 or 1"):
        losses.binary_logit_rows(np.zeros(2), np.array(target))


# --------------------------------------------------------------------- the accumulator
class GeneralPath(LossAccumulator):
    """The accumulator with the fused binary path switched off: everything via ``_sigmoid``."""

    def _binary_logits(
        self, preds: np.ndarray, target: np.ndarray, weight: np.ndarray | None
    ) -> RowTerms:
        low, high = float(preds.min()), float(preds.max())
        return self._sigmoid(preds, target, weight, low >= 0 and high <= 1)


SETUPS = {
    "bce": {},
    "weighted": {"class_weight": np.array([2.5]), "pos_weight": np.array([3.0])},
    "ones": {"class_weight": np.array([1.0]), "pos_weight": np.array([1.0])},
    "smoothing": {"label_smoothing": 0.1},
    "temperature": {"temperature": 2.5},
    "focal": {"loss": "focal", "gamma": 2.0, "focal_alpha": 0.25},
    "focal-no-alpha": {"loss": "focal", "gamma": 0.5, "focal_alpha": None},
}


def binary_setup(**changes: Any) -> LossSetup:
    fields: dict[str, Any] = {
        "loss": "bce",
        "geometry": "sigmoid",
        "inputs": "logits",
        "n_classes": 2,
        "n_cols": 1,
        "target_kind": "index",
        "top_k": 7,
    }
    return LossSetup(**{**fields, **changes})


def binary_batches(weighted: bool, seed: int = 3) -> list[Batch]:
    """float32 logits as the reader gives them ((n, 1) views), masked and invalid rows, ties."""
    rng = np.random.default_rng(seed)
    z = logits_with_edges(rng, 20_000, np.float32)
    n = len(z)
    y = binary_labels(rng, z)
    body = np.arange(2 * len(SPECIAL), n)
    z[rng.choice(body, 30, replace=False)] = np.nan
    z[rng.choice(body, 5, replace=False)] = -np.inf
    valid = rng.random(n) > 0.05
    y[~valid] = 0  # the Batch contract: 0 on rows that are not valid
    weight = rng.uniform(0, 3, n) if weighted else None
    if weight is not None:
        weight[rng.choice(n, 50, replace=False)] = 0.0
    cuts = [0, 1, 37, 5000, 5001, 13_000, n]
    batches = []
    for lo, hi in itertools.pairwise(cuts):
        preds = np.stack([z[lo:hi]], axis=0).T
        sw = None if weight is None else weight[lo:hi]
        batches.append(
            Batch(hi - lo, lo, y[lo:hi], valid[lo:hi], 0, int((~valid[lo:hi]).sum()), preds, sw)
        )
    return batches


def assert_same_accumulators(fast: LossAccumulator, general: LossAccumulator) -> None:
    for name, value in vars(general).items():
        mine = getattr(fast, name)
        if name in ("setup", "top_ids"):
            continue
        if name == "top":
            np.testing.assert_array_equal(mine.rows, value.rows)
            np.testing.assert_allclose(mine.keys, value.keys, rtol=1e-15)
            for key in ("label", "predicted", "worst"):
                np.testing.assert_array_equal(mine.payload[key], value.payload[key])
            # the general path's 1 − σ(z) loses digits to cancellation; ours does not
            np.testing.assert_allclose(
                mine.payload["p_true"], value.payload["p_true"], rtol=1e-12, atol=1e-15
            )
        elif isinstance(value, np.ndarray | float):
            np.testing.assert_allclose(mine, value, rtol=1e-12, atol=1e-300, err_msg=name)
        else:
            assert mine == value, name


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample-weights"])
@pytest.mark.parametrize("name", list(SETUPS))
def test_fused_binary_path_equals_the_general_path(
    name: str, weighted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scoring, "SUM_BLOCK_ROWS", 1000)  # several blocks per batch, and a rest
    setup = binary_setup(**SETUPS[name])
    fast, general = LossAccumulator(setup), GeneralPath(setup)
    for batch in binary_batches(weighted):
        mine, theirs = fast.update(batch), general.update(batch)
        assert mine is not None and theirs is not None
        np.testing.assert_array_equal(mine.rows, theirs.rows)
        np.testing.assert_array_equal(mine.loss, theirs.loss)  # the same kernels: bit for bit
        np.testing.assert_array_equal(mine.label, theirs.label)
        np.testing.assert_array_equal(mine.predicted, theirs.predicted)
        np.testing.assert_allclose(mine.p_true, theirs.p_true, rtol=1e-12, atol=1e-15)
        assert mine.elements is not None and theirs.elements is not None
        np.testing.assert_array_equal(mine.elements, theirs.elements)
    assert fast.n_used > 0 and fast.n_invalid > 0 and fast.n_masked > 0
    assert_same_accumulators(fast, general)


def test_fused_binary_path_merges_like_one_pass() -> None:
    setup = binary_setup(class_weight=np.array([0.5]), pos_weight=np.array([4.0]))
    batches = binary_batches(weighted=True, seed=11)
    whole = LossAccumulator(setup)
    for batch in batches:
        whole.update(batch)
    parts = [LossAccumulator(setup) for _ in range(2)]
    for i, batch in enumerate(batches):
        parts[i % 2].update(batch)
    assert_same_accumulators(parts[1].merge(parts[0]), whole)


# --------------------------------------------------------------------- top-K
def one_pass_top(keys: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((rows, -keys))[:k]
    return keys[order], rows[order]


def stream(top: TopK, keys: np.ndarray, rows: np.ndarray, cuts: list[int]) -> None:
    for lo, hi in itertools.pairwise(cuts):
        pick = top.candidates(keys[lo:hi])
        top.update(keys[lo:hi][pick], rows[lo:hi][pick], tag=rows[lo:hi][pick] * 10)


@pytest.mark.parametrize("k", [1, 5, 50])
@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "rows-shuffled"])
def test_topk_with_ties_across_batches_equals_one_pass(k: int, shuffled: bool) -> None:
    rng = np.random.default_rng(k)
    n = 5000
    keys = rng.integers(0, 20, n).astype(np.float64)  # heavy ties, also at every cut
    rows = rng.permutation(n) if shuffled else np.arange(n)
    cuts = [0, 3, 4, 700, 701, 2500, n]
    top = TopK(k)
    stream(top, keys, rows, cuts)
    want_keys, want_rows = one_pass_top(keys, rows, k)
    np.testing.assert_array_equal(top.keys, want_keys)
    np.testing.assert_array_equal(top.rows, want_rows)
    np.testing.assert_array_equal(top.payload["tag"], want_rows * 10)
    halves = TopK(k), TopK(k)
    stream(halves[0], keys[: n // 2], rows[: n // 2], [0, 1000, n // 2])
    stream(halves[1], keys[n // 2 :], rows[n // 2 :], [0, 10, n - n // 2])
    merged = halves[1].merge(halves[0])
    np.testing.assert_array_equal(merged.rows, want_rows)


def test_topk_offers_only_rows_that_reach_the_kth_best() -> None:
    top = TopK(3)
    top.update(np.array([5.0, 4.0, 3.0]), np.array([10, 11, 12]))
    # nothing below the cut is offered, however many rows a batch has
    assert top.candidates(np.full(1000, 2.5)).size == 0
    # a tie at the cut is offered and wins by its smaller row number
    keys = np.array([1.0, 3.0, 2.0, 3.0])
    pick = top.candidates(keys)
    assert pick.tolist() == [1, 3]
    top.update(keys[pick], np.array([7, 20]))
    assert top.keys.tolist() == [5.0, 4.0, 3.0] and top.rows.tolist() == [10, 11, 7]


# --------------------------------------------------------------------- label decoding
def int_layout(ignore_index: int | None = -100, classes: tuple[str, ...] = ("0", "1")) -> Layout:
    return Layout("f.parquet", ["label"], "int", "index", classes, "binary", ignore_index)


def decode(layout: Layout, labels: pa.Array, row_start: int = 0) -> Batch:
    rb = pa.record_batch({"label": labels})
    return layout.to_batch(rb, rb, row_start, read_preds=False)


@pytest.mark.parametrize("type_", [pa.int8(), pa.int16(), pa.int64(), pa.float64()])
def test_small_int_labels_with_ignored_rows(type_: pa.DataType) -> None:
    values = [1, -100, 0, 0, 1, -100]
    batch = decode(int_layout(), pa.array(values, type_))
    assert batch.target is not None and batch.target.dtype == np.int64
    assert batch.target.tolist() == [1, 0, 0, 0, 1, 0]
    assert batch.valid.tolist() == [v != -100 for v in values]
    assert batch.n_ignored == 2


@pytest.mark.parametrize("type_", [pa.uint8(), pa.int8(), pa.bool_()])
def test_labels_without_ignored_rows(type_: pa.DataType) -> None:
    values = [True, False, False, True] if type_ == pa.bool_() else [1, 0, 0, 1]
    batch = decode(int_layout(), pa.array(values, type_))
    assert batch.target is not None and batch.target.dtype == np.int64
    assert batch.target.tolist() == [1, 0, 0, 1] and batch.valid.all() and batch.n_ignored == 0


def test_a_non_negative_ignore_index_zeroes_those_rows() -> None:
    batch = decode(
        int_layout(ignore_index=2, classes=("0", "1", "2")), pa.array([2, 1, 0, 2], pa.int8())
    )
    assert batch.target is not None
    assert batch.target.tolist() == [0, 1, 0, 0]
    assert batch.valid.tolist() == [False, True, True, False]


@pytest.mark.parametrize("type_", [pa.int8(), pa.uint8(), pa.int64()])
def test_labels_outside_the_class_set_name_the_row(type_: pa.DataType) -> None:
    with pytest.raises(CEError) as err:
        decode(int_layout(), pa.array([0, 1, 5, 1, 5], type_), row_start=100)
    assert str(err.value) == (
        "f.parquet: column label has 2 labels outside the class set (first at row 103: 5); "
        "classes are [0, 1]; pass --num-classes or --classes with every class"
    )


def test_negative_labels_suggest_the_ignore_index() -> None:
    with pytest.raises(CEError, match=r"first at row 2: -1\).*, or --ignore-index -1 to leave"):
        decode(int_layout(), pa.array([0, -1, -100], pa.int8()))
