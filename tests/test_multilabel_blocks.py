"""The multi-label logit path by row blocks (``engine.multilabel_sums``) against the whole-batch
per-element path (``LossAccumulator._sigmoid``): the same loss sums bit for bit, the same
per-row terms, top-K and decisions, with and without the (n, K) arrays a row sink reads."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
import pytest

from ce_cli.core import losses
from ce_cli.engine import multilabel_sums
from ce_cli.engine.loss_sums import LossAccumulator, LossSetup, RowTerms
from ce_cli.io.batch import Batch
from tests.test_fast_paths import SPECIAL, logits_with_edges

K = 7


class ElementPath(LossAccumulator):
    """The accumulator as it was: multi-hot logits through ``_sigmoid`` on whole batches."""

    def _multilabel_logits(
        self, preds: np.ndarray, y: np.ndarray, weight: np.ndarray | None, unit: bool
    ) -> RowTerms:
        return self._sigmoid(preds, y, weight, unit)


SETUPS: dict[str, dict[str, Any]] = {
    "plain": {},
    "threshold": {"threshold": 0.3},
    "temperature": {"temperature": 2.0},
    "weighted": {
        "class_weight": np.linspace(0.5, 2.0, K),
        "pos_weight": np.linspace(3.0, 0.25, K),
    },
    "pos-weight": {"pos_weight": np.full(K, 2.5), "threshold": 0.7},
    "smoothing": {"label_smoothing": 0.1},
    "focal": {"loss": "focal", "gamma": 2.0, "focal_alpha": 0.25, "temperature": 2.0},
    "focal-gamma": {"loss": "focal", "gamma": 0.5, "focal_alpha": None, "threshold": 0.3},
}


def setup_of(name: str, **more: Any) -> LossSetup:
    fields: dict[str, Any] = {
        "loss": "bce",
        "geometry": "sigmoid",
        "inputs": "logits",
        "n_classes": K,
        "n_cols": K,
        "target_kind": "multi-hot",
        "top_k": 9,
    }
    return LossSetup(**{**fields, **SETUPS[name], **more})


def batches(weighted: bool, fortran: bool, seed: int = 5) -> list[Batch]:
    """float32 logits (column-major as the reader stacks them, or row-major), 0/1 float64
    targets, ties, values at the cut of t = 0.3 and 0.7, NaN rows and masked rows."""
    rng = np.random.default_rng(seed)
    n = 9_000
    z = np.round(rng.normal(-0.5, 3.0, (n, K)), 1).astype(np.float32)
    z[:40] = np.float32(np.log(0.3) - np.log(0.7))  # logit(0.3)
    z[40:80] = np.float32(np.log(0.7) - np.log(0.3))
    z[rng.choice(n, 20, replace=False), rng.integers(0, K, 20)] = np.nan
    y = (rng.random((n, K)) < 0.35).astype(np.float64)
    valid = rng.random(n) > 0.03
    weight = rng.uniform(0, 3, n) if weighted else None
    out = []
    for lo, hi in itertools.pairwise([0, 1, 2, 700, 701, 5000, n]):
        preds = np.asfortranarray(z[lo:hi]) if fortran else np.ascontiguousarray(z[lo:hi])
        target = np.asfortranarray(y[lo:hi]) if fortran else y[lo:hi].copy()
        sw = None if weight is None else weight[lo:hi]
        masked = int((~valid[lo:hi]).sum())
        out.append(Batch(hi - lo, lo, target, valid[lo:hi], 0, masked, preds, sw))
    return out


def assert_same_sums(mine: LossAccumulator, theirs: LossAccumulator, weighted: bool) -> None:
    exact = ("loss_sum", "plain_sum", "weight_mass", "denom_sum", "sample_mass", "correct")
    for name in (*exact, "label_errors", "n_used", "n_invalid", "n_masked", "rows_on_simplex"):
        assert getattr(mine, name) == getattr(theirs, name), name  # bit for bit
    counts = ("support", "prior", "class_hits")
    for name in counts:
        check = np.testing.assert_allclose if weighted else np.testing.assert_array_equal
        kwargs = {"rtol": 1e-13} if weighted else {}
        check(getattr(mine, name), getattr(theirs, name), **kwargs)
    # per-label loss sums: added block by block, the last bits may differ
    np.testing.assert_allclose(mine.class_loss, theirs.class_loss, rtol=1e-13)
    assert mine.metrics is not None and theirs.metrics is not None
    for name in ("tp", "predicted", "support"):
        a, b = getattr(mine.metrics, name), getattr(theirs.metrics, name)
        if weighted:
            np.testing.assert_allclose(a, b, rtol=1e-13)
        else:
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mine.top.rows, theirs.top.rows)
    np.testing.assert_array_equal(mine.top.keys, theirs.top.keys)
    np.testing.assert_array_equal(mine.top.payload["worst"], theirs.top.payload["worst"])


@pytest.mark.parametrize("fortran", [True, False], ids=["column-major", "row-major"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample-weights"])
@pytest.mark.parametrize("name", list(SETUPS))
def test_blocks_equal_the_element_path(
    name: str, weighted: bool, fortran: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(multilabel_sums, "LABEL_BLOCK_ELEMENTS", 1000 * K)  # several blocks
    setup = setup_of(name)
    mine, theirs = LossAccumulator(setup), ElementPath(setup)
    for batch in batches(weighted, fortran):
        a, b = mine.update(batch), theirs.update(batch)
        assert a is not None and b is not None
        np.testing.assert_array_equal(a.loss, b.loss)  # the row means, bit for bit
        np.testing.assert_array_equal(a.rows, b.rows)
        assert a.elements is None and a.decision is None and a.truth is None  # not kept
    assert mine.n_invalid > 0 and mine.n_masked > 0 and mine.correct > 0
    assert_same_sums(mine, theirs, weighted)


@pytest.mark.parametrize("name", ["plain", "weighted", "focal"])
def test_kept_terms_and_decisions_equal_the_element_path(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``row_terms`` (a row sink: --reduction none, the bootstrap) keeps the (n, K) arrays,
    equal to the element path's, and changes no sum."""
    monkeypatch.setattr(multilabel_sums, "LABEL_BLOCK_ELEMENTS", 1000 * K)
    kept = setup_of(name, row_terms=True)
    mine, lean, theirs = LossAccumulator(kept), LossAccumulator(setup_of(name)), ElementPath(kept)
    for batch in batches(weighted=True, fortran=True, seed=8):
        a, b = mine.update(batch), theirs.update(batch)
        lean.update(batch)
        assert a is not None and b is not None
        for field in ("elements", "decision", "truth"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
        np.testing.assert_array_equal(a.loss, b.loss)
    assert_same_sums(mine, theirs, weighted=True)
    for field in dataclasses.fields(LossSetup):
        if field.name != "row_terms":
            continue
        assert getattr(kept, field.name) and not getattr(lean.setup, field.name)
    assert_same_sums(mine, lean, weighted=False)  # the same code: every sum equal


def test_no_lone_last_row_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch one row longer than a whole number of blocks: the last row joins the block
    before it (numpy would sum a lone row's K terms in another order)."""
    monkeypatch.setattr(multilabel_sums, "LABEL_BLOCK_ELEMENTS", 64 * K)
    rng = np.random.default_rng(2)
    n = 3 * 64 + 1
    z = np.asfortranarray(rng.normal(0, 40, (n, 40)))
    y = np.asfortranarray((rng.random((n, 40)) < 0.5).astype(np.float64))
    setup = setup_of("plain", n_classes=40, n_cols=40)
    batch = Batch(n, 0, y, np.ones(n, dtype=bool), 0, 0, z)
    a, b = LossAccumulator(setup).update(batch), ElementPath(setup).update(batch)
    assert a is not None and b is not None
    np.testing.assert_array_equal(a.loss, b.loss)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fortran", [True, False], ids=["column-major", "row-major"])
def test_binary_logit_terms_are_binary_logit_elements(dtype: Any, fortran: bool) -> None:
    """The multi-label kernel (booleans in, fewer passes) gives the general kernel's terms bit
    for bit, at 0, ±tiny, the 1/2 band's edges and logits whose exp underflows."""
    rng = np.random.default_rng(4)
    z = logits_with_edges(rng, 6_000, dtype)
    z = z[: z.size // 6 * 6].reshape(-1, 6)
    y = rng.integers(0, 2, z.shape)
    y[: len(SPECIAL) // 6 + 1] ^= 1  # both labels on the special values
    z = np.asfortranarray(z) if fortran else np.ascontiguousarray(z)
    mine = losses.binary_logit_terms(z, y == 1, fortran=fortran)
    theirs, _ = losses.binary_logit_elements(z, y)
    np.testing.assert_array_equal(mine, theirs)
    assert mine.flags.f_contiguous == fortran and np.signbit(mine).sum() == 0
    with pytest.raises(ValueError, match="boolean"):
        losses.binary_logit_terms(z, y)


def test_targets_other_than_zero_or_one_are_refused() -> None:
    y = np.zeros((3, K))
    y[1, 2] = 0.5
    batch = Batch(3, 0, y, np.ones(3, dtype=bool), 0, 0, np.zeros((3, K), dtype=np.float32))
    with pytest.raises(ValueError, match="binary targets must be 0 or 1"):
        LossAccumulator(setup_of("plain")).update(batch)


# --------------------------------------------------------------------- end to end
def multilabel_file(tmp_path: Any, n: int = 3000, k: int = 100) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(6)
    y = (rng.random((n, k)) < 0.3).astype(np.int8)
    z = rng.normal(-1, 2, (n, k)).astype(np.float32)
    columns = {f"label_{j}": y[:, j] for j in range(k)}
    columns |= {f"logit_{j}": z[:, j] for j in range(k)}
    path = str(tmp_path / "ml.parquet")
    pq.write_table(pa.table(columns), path, row_group_size=1000)
    return path


def test_a_row_sink_gets_the_terms_and_changes_no_number(tmp_path: Any) -> None:
    """``--reduction none`` (a row sink) keeps the (n, K) terms; the report is the same as
    without one, and the top rows' worst labels are their terms' argmax."""
    from ce_cli.io.dataset import InputOptions
    from ce_cli.report.score import ScoreOptions, compute_score

    path = multilabel_file(tmp_path)
    seen: list[RowTerms] = []
    lean = compute_score(InputOptions(path=path, batch_size=700), ScoreOptions(top=5))
    kept = compute_score(
        InputOptions(path=path, batch_size=700),
        ScoreOptions(top=5),
        row_sink=lambda batch, terms, classes, task: seen.append(terms),
    )
    assert lean.to_dict() == kept.to_dict()
    assert all(t.elements is not None and t.decision is not None for t in seen)
    elements = np.concatenate([t.elements for t in seen if t.elements is not None])
    np.testing.assert_array_equal(elements.mean(axis=1), np.concatenate([t.loss for t in seen]))
    assert len(kept.top) == 5
    for row in kept.top:
        assert row.worst_label == f"{np.argmax(elements[row.row])}"


def test_multi_label_batches_are_counted_in_decoded_bytes(tmp_path: Any) -> None:
    """K label columns count as the float64 (n, K) target: 1M × 100 multi-label reads 4096
    rows a batch (half the bytes of 32768 rows of one label), single-label 32768."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ce_cli.io.dataset import Dataset, InputOptions

    path = multilabel_file(tmp_path, n=50)
    assert Dataset(InputOptions(path=path), read_preds=True).batch_size == 4096
    z = np.zeros(50, dtype=np.float32)
    single = {"label": np.zeros(50, dtype=np.int64)} | {f"logit_{j}": z for j in range(100)}
    pq.write_table(pa.table(single), str(tmp_path / "one.parquet"))
    options = InputOptions(path=str(tmp_path / "one.parquet"))
    assert Dataset(options, read_preds=True).batch_size == 32768
