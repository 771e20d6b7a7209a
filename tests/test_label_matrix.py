"""Multi-hot labels from K columns: one vectorised decode into the (n, K) float64 target, and
the fused logit kernel on 0/1 targets of any numeric dtype and memory order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ce_cli.core import losses
from ce_cli.core.errors import CEError
from ce_cli.io.batch import Batch
from ce_cli.io.dataset import Dataset, InputOptions
from ce_cli.io.layout import LabelOptions

Y = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 1], [1, 0, 0]])
LOGITS = {f"logit_{c}": pa.array(np.linspace(-2, 2, 5) + c, pa.float32()) for c in range(3)}


def _batches(tmp_path: Path, labels: dict[str, pa.Array], batch_size: int = 2) -> list[Batch]:
    path = tmp_path / "ml.parquet"
    pq.write_table(pa.table({**labels, **LOGITS}), path)
    options = InputOptions(str(path), batch_size=batch_size)
    return list(Dataset(options, read_preds=True))


@pytest.mark.parametrize(
    "arrow_type", [pa.int8(), pa.uint8(), pa.int64(), pa.bool_(), pa.float32(), pa.float64()]
)
def test_multi_hot_columns_decode_to_one_float64_matrix(
    tmp_path: Path, arrow_type: pa.DataType
) -> None:
    labels = {f"label_{c}": pa.array(Y[:, c].astype(bool)).cast(arrow_type) for c in range(3)}
    batches = _batches(tmp_path, labels)
    target = np.concatenate([b.target for b in batches if b.target is not None])
    assert target.dtype == np.float64 and target.shape == (5, 3)
    np.testing.assert_array_equal(target, Y.astype(np.float64))
    assert all(
        b.target is not None and b.target.flags.f_contiguous for b in batches
    )  # column-major, as the preds


def test_mixed_label_column_types_decode_together(tmp_path: Path) -> None:
    types = [pa.int8(), pa.bool_(), pa.float32()]
    labels = {f"label_{c}": pa.array(Y[:, c].astype(bool)).cast(types[c]) for c in range(3)}
    target = np.concatenate([b.target for b in _batches(tmp_path, labels)])
    np.testing.assert_array_equal(target, Y.astype(np.float64))


@pytest.mark.parametrize(
    ("arrow_type", "bad", "shown"),
    [(pa.int8(), 2, "2"), (pa.int16(), -1, "-1"), (pa.float32(), 0.5, "0.5")],
)
def test_a_label_that_is_not_0_or_1_in_a_later_batch_names_row_and_column(
    tmp_path: Path, arrow_type: pa.DataType, bad: float, shown: str
) -> None:
    values = Y.astype(np.float64)
    values[3, 2] = bad  # row 4, label_2: after the first batch (2 rows), which decides the layout
    labels = {f"label_{c}": pa.array(values[:, c]).cast(arrow_type) for c in range(3)}
    with pytest.raises(CEError) as err:
        _batches(tmp_path, labels)
    assert str(err.value) == (
        f"{tmp_path / 'ml.parquet'}: column label_2 has value {shown} at row 4; "
        "multi-label targets must be 0 or 1"
    )


@pytest.mark.parametrize("arrow_type", [pa.float32(), pa.float64()])
def test_soft_label_columns_decode_to_their_float64_values(
    tmp_path: Path, arrow_type: pa.DataType
) -> None:
    soft = np.array([[0.25, 0.5, 0.25], [0.0, 1.0, 0.0], [0.5, 0.25, 0.25]] * 2)[:5]
    labels = {f"label_{c}": pa.array(soft[:, c]).cast(arrow_type) for c in range(3)}
    batches = _batches(tmp_path, labels)
    target = np.concatenate([b.target for b in batches if b.target is not None])
    np.testing.assert_array_equal(target, soft)  # exact in float32 too
    assert all(b.target is not None and b.target.flags.writeable for b in batches)


def test_one_hot_integer_columns_become_class_indices(tmp_path: Path) -> None:
    one_hot = np.eye(3, dtype=np.int8)[[2, 0, 1, 1, 0]]
    labels = {f"label_{c}": pa.array(one_hot[:, c]) for c in range(3)}
    path = tmp_path / "oh.parquet"
    pq.write_table(pa.table({**labels, **LOGITS}), path)
    options = InputOptions(str(path), batch_size=2, label=LabelOptions(task="multiclass"))
    got = np.concatenate([b.target for b in Dataset(options, read_preds=True)])
    assert got.dtype == np.int64 and got.tolist() == [2, 0, 1, 1, 0]


# --------------------------------------------------------------------- the fused logit kernel


def _logits(order: str) -> np.ndarray:
    rng = np.random.default_rng(5)
    z = rng.normal(0, 4, (5000, 7)).astype(np.float32)
    z[::4, 3] = np.float32(1e-17)  # z > 0, but σ(z) rounds to exactly 1/2 in float64
    z[::8, 3] = np.float32(2.0**-23)  # inside the half band, σ(z) = 1/2 + 2^-25 > 1/2
    z[1, 3] = np.nan  # a NaN in the same chunk must not hide the band
    z[2, 4], z[3, 4] = np.inf, -np.inf
    return np.asfortranarray(z) if order == "F" else z


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int64, np.float32])
def test_logit_kernel_takes_01_targets_of_any_dtype_bit_for_bit(order: str, dtype: type) -> None:
    z = _logits(order)
    y64 = (np.random.default_rng(6).random(z.shape) < 0.3).astype(np.float64)
    y: np.ndarray = y64.astype(dtype)
    if order == "F":
        y = np.asfortranarray(y)
    want = losses.binary_logit_rows(z, y64)
    got = losses.binary_logit_rows(z, y)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    elements = losses.binary_logit_elements(z, y)
    np.testing.assert_array_equal(elements[0], want[0])
    np.testing.assert_array_equal(elements[1], want[2])


def test_logit_kernel_decides_by_the_rounded_sigmoid_and_handles_infinities() -> None:
    z = _logits("F")
    y = np.zeros(z.shape)
    y[3, 4] = 1.0  # z = -inf with y = 1: loss inf; z = +inf with y = 0: loss inf
    loss, p_true, positive = losses.binary_logit_rows(z, y)
    with np.errstate(invalid="ignore"):
        log_p, log_1mp = losses.log_sigmoid_pair(z)
    finite = np.isfinite(z)
    np.testing.assert_array_equal(positive[finite], (np.exp(log_p) > 0.5)[finite])
    band = np.zeros(len(z), dtype=bool)
    band[::4] = True
    assert not positive[band & (np.arange(len(z)) % 8 != 0), 3].any()  # σ(1e-17) = 1/2
    assert positive[::8, 3].all()
    np.testing.assert_allclose(loss[finite], -log_1mp[finite], rtol=1e-12, atol=1e-14)
    assert np.isnan(loss[1, 3]) and not positive[1, 3]
    assert loss[2, 4] == np.inf and loss[3, 4] == np.inf and positive[2, 4]
    np.testing.assert_array_equal(p_true[finite], np.exp(-loss[finite]))


@pytest.mark.parametrize("bad", [np.array([0, 2]), np.array([0.0, 0.5]), np.array([np.nan, 1.0])])
def test_logit_kernel_rejects_targets_other_than_0_and_1(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="binary targets must be 0 or 1"):
        losses.binary_logit_elements(np.zeros(2), bad)
