"""The fused CE kernel: its argmax is np.argmax's (ties: first index) and costs the loss nothing;
the default batch is capped by bytes (many classes: fewer rows, same memory)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ce_cli.core import losses
from ce_cli.io.dataset import MAX_BATCH_BYTES, Dataset, InputOptions


@pytest.mark.usefixtures("ce_kernel")
@pytest.mark.parametrize("n_classes", [1, 2, 3, 64, 65, 100, 1000])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_fused_argmax_is_numpys_with_ties_first(n_classes: int, order: str, dtype: type) -> None:
    rng = np.random.default_rng(n_classes)
    x = np.array(rng.integers(-3, 3, (517, n_classes)), dtype=dtype, order=order)  # many ties
    y = rng.integers(0, n_classes, 517)
    out = np.empty(517, dtype=np.int64)
    loss, denom = losses.ce_index_rows(x, y, argmax_out=out, block_rows=50)
    np.testing.assert_array_equal(out, np.argmax(x, axis=1))
    plain_loss, plain_denom = losses.ce_index_rows(x, y, block_rows=50)
    np.testing.assert_array_equal(loss, plain_loss)
    np.testing.assert_array_equal(denom, plain_denom)


@pytest.mark.usefixtures("ce_kernel")
def test_fused_argmax_with_temperature_weights_and_smoothing() -> None:
    rng = np.random.default_rng(7)
    x = np.asfortranarray(rng.normal(0, 3, (300, 7)).astype(np.float32))
    x[::5, 2] = x[::5].max(axis=1)  # a tie with an earlier or later column
    y = rng.integers(0, 7, 300)
    w = rng.random(7) + 0.5
    out = np.zeros(300, dtype=np.int64)
    kw = {"temperature": 1.7, "label_smoothing": 0.1, "class_weight": w}
    loss, _ = losses.ce_index_rows(x, y, argmax_out=out, **kw)
    np.testing.assert_array_equal(out, np.argmax(x, axis=1))
    np.testing.assert_array_equal(loss, losses.ce_index_rows(x, y, **kw)[0])


def test_fused_argmax_checks_its_buffer() -> None:
    with pytest.raises(ValueError, match=r"argmax_out must have shape \(3,\), got \(2,\)"):
        losses.ce_index_rows(np.zeros((3, 4)), [0, 1, 2], argmax_out=np.empty(2, np.int64))


@pytest.mark.parametrize(
    ("n_classes", "dtype", "rows"),
    [
        (100, pa.float32(), 32768),  # 404 bytes a row: the values rule, unchanged
        (1000, pa.float32(), 8192),  # 4,008 bytes: 32 MiB / 4,008 = 8,372 → 8,192
        (10_000, pa.float32(), 512),  # 40,008 bytes → 838 → 512
        (10_000, pa.float64(), 256),
        (100_000, pa.float16(), 128),  # 200,008 bytes → 167 → 128
    ],
)
def test_many_classes_batch_by_bytes(
    tmp_path: Path, n_classes: int, dtype: pa.DataType, rows: int
) -> None:
    values = pa.array(np.zeros(2 * n_classes), type=dtype)
    logits = pa.FixedSizeListArray.from_arrays(values, n_classes)
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"label": pa.array([0, 1], pa.int32()), "logits": logits}), path)
    got = Dataset(InputOptions(str(path)), read_preds=True).batch_size
    assert got == rows
    row_bytes = 4 + n_classes * dtype.bit_width // 8
    assert got * row_bytes <= MAX_BATCH_BYTES
    if n_classes > 100:  # bound by bytes: the largest power of two that fits
        assert 2 * got * row_bytes > MAX_BATCH_BYTES


def test_multilabel_logits_match_the_unfused_elements() -> None:
    """(n, K) logits with 0/1 targets: binary_logit_rows gives log_sigmoid_pair's BCE, σ(z) of
    the true value and the decision σ(z) > 1/2, also for logits inside the half band."""
    rng = np.random.default_rng(3)
    z = np.asfortranarray(rng.normal(0, 3, (400, 9)))
    z[::3, 1] = rng.choice([1e-18, -1e-18, 0.0, 2.0**-21, -(2.0**-21)], size=z[::3, 1].shape)
    y = (rng.random((400, 9)) < 0.3).astype(np.float64)
    loss, q_true, positive = losses.binary_logit_rows(z, y)
    log_p, log_1mp = losses.log_sigmoid_pair(z)
    np.testing.assert_allclose(loss, -(y * log_p + (1 - y) * log_1mp), rtol=1e-15, atol=1e-15)
    np.testing.assert_array_equal(positive, np.exp(log_p) > 0.5)
    sig = np.exp(log_p)
    np.testing.assert_allclose(q_true, np.where(y == 1, sig, 1 - sig), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("fortran", [False, True])
@pytest.mark.parametrize("alpha", [0.25, 0.3, 0.9, None])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 3.0])
def test_fused_sigmoid_focal_is_sigmoid_focal_terms_bit_for_bit(
    fortran: bool, alpha: float | None, gamma: float
) -> None:
    """One exp(−|z|) for the focal terms and the plain BCE: the same bits as the two kernels
    it replaces, edge values included, and the plain terms in the layout asked for."""
    rng = np.random.default_rng(11)
    z = rng.normal(0, 4, (300, 9))
    z[:10, 0] = [0.0, -0.0, np.nan, 1e-30, -1e-30, 40, -40, 800, -800, 1]  # NaN: an invalid row
    z = np.asfortranarray(z.astype(np.float32)) if fortran else z.astype(np.float32)
    y = (rng.random(z.shape) < 0.4).astype(np.float64)
    truth = y == 1
    focal, plain = losses.sigmoid_focal_logit_terms(
        z, y, truth, alpha=alpha, gamma=gamma, fortran=fortran
    )
    want = losses.sigmoid_focal_terms(z, y, alpha=alpha, gamma=gamma)
    np.testing.assert_array_equal(focal, want)
    assert focal.flags.c_contiguous  # as sigmoid_focal_terms lays it out: its row sums' order
    np.testing.assert_array_equal(plain, losses.binary_logit_terms(z, truth, fortran=fortran))
    assert plain.flags.f_contiguous == fortran
    assert np.isnan(focal[2, 0]) and np.isfinite(np.delete(focal[:, 0], 2)).all()


def test_fused_sigmoid_focal_checks_its_truth() -> None:
    with pytest.raises(ValueError, match=r"target and truth \(booleans\) must have shape"):
        losses.sigmoid_focal_logit_terms(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)))
