"""The compiled CE kernel (``ce_cli/core/_native.c``): its exp, its per-row values against
numpy's, its argument checks, and how the loss kernel and ``ce --version`` use it. The
kernel-level tests in test_losses.py and test_fused_kernels.py run with both kernels
(the ``ce_kernel`` fixture)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from ce_cli.core import losses, native
from tests.conftest import run

pytestmark = pytest.mark.skipif(
    os.environ.get("CE_NATIVE") == "0", reason="CE_NATIVE=0 turns the compiled kernel off"
)


@pytest.fixture
def kernel() -> Any:
    if native.KERNEL is None:
        pytest.fail(f"the compiled kernel is missing: {native.describe()}")
    return native.KERNEL


def test_exp_within_two_ulp_of_libm(kernel: Any) -> None:
    rng = np.random.default_rng(0)
    ds = np.concatenate(
        [-rng.exponential(3.0, 20_000), rng.uniform(-708, 0, 20_000), -np.arange(709.0)]
    )
    got = np.array([kernel.exp_nonpositive(float(d)) for d in ds])
    want = np.array([math.exp(d) for d in ds])
    ulps = np.abs(got - want) / np.spacing(want)
    assert ulps.max() <= 2.0, (ds[ulps.argmax()], ulps.max())


def test_exp_edges(kernel: Any) -> None:
    assert kernel.exp_nonpositive(0.0) == 1.0
    assert kernel.exp_nonpositive(-0.0) == 1.0
    assert kernel.exp_nonpositive(-708.5) == 0.0
    assert kernel.exp_nonpositive(-math.inf) == 0.0
    assert math.isnan(kernel.exp_nonpositive(math.nan))


def _outputs(m: int) -> tuple[Any, ...]:
    """top, picked, argmax, sums"""
    return np.empty(m), np.empty(m), np.empty(m, dtype=np.int64), np.empty(m)


def _block_values(x: np.ndarray, y: np.ndarray, inv_t: float, kernel: Any) -> tuple[Any, ...]:
    block = x.T  # x is F-order (m, C): the class-major view the loss kernel hands over
    m = x.shape[0]
    out = _outputs(m)
    finite = kernel.ce_block(block, y.astype(np.int64), inv_t, *out)
    return (finite, *out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [1, 2, 9, 100, 1000])
@pytest.mark.parametrize("rows", [1, 255, 256, 257, 1500])
def test_block_values_are_numpys(kernel: Any, dtype: type, n_classes: int, rows: int) -> None:
    rng = np.random.default_rng(rows * n_classes)
    x = np.asfortranarray(rng.normal(0, 4, (rows, n_classes)).astype(dtype))
    x[::3, n_classes // 2] = x[::3].max(axis=1)  # ties: the first index wins
    y = rng.integers(0, n_classes, rows)
    inv_t = 1 / 1.3
    finite, top, picked, argmax, sums = _block_values(x, y, inv_t, kernel)
    x64 = x.astype(np.float64)
    assert finite
    np.testing.assert_array_equal(top, x64.max(axis=1))
    np.testing.assert_array_equal(argmax, np.argmax(x, axis=1))
    np.testing.assert_array_equal(picked, x64[np.arange(rows), y])
    want = np.exp((x64 - x64.max(axis=1, keepdims=True)) * inv_t).sum(axis=1)
    np.testing.assert_allclose(sums, want, rtol=4e-16 * n_classes)


def test_a_block_of_a_wider_batch_reads_only_its_rows(kernel: Any) -> None:
    rng = np.random.default_rng(1)
    x = np.asfortranarray(rng.normal(0, 2, (1000, 30)).astype(np.float32))
    y = rng.integers(0, 30, 1000)
    whole = _block_values(x, y, 1.0, kernel)
    part = _block_values(x[300:700], y[300:700], 1.0, kernel)  # strides of the whole batch
    for a, b in zip(whole[1:], part[1:], strict=True):
        np.testing.assert_array_equal(a[300:700], b)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_row_is_reported_and_the_loss_takes_numpys_path(
    kernel: Any, bad: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(2)
    x = np.asfortranarray(rng.normal(0, 2, (600, 5)))
    y = rng.integers(0, 5, 600)
    x[123, :] = bad  # a whole row: -inf alone too makes its max non-finite
    assert not _block_values(x, y, 1.0, kernel)[0]
    with np.errstate(invalid="ignore"):
        got = losses.ce_index_rows(x, y, block_rows=256)[0]
        monkeypatch.setattr(native, "KERNEL", None)
        want = losses.ce_index_rows(x, y, block_rows=256)[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_minus_inf_logits_in_a_finite_row_are_zero_terms(kernel: Any) -> None:
    x = np.asfortranarray([[0.0, -math.inf, 1.0], [2.0, 2.0, -math.inf]])
    finite, _top, _picked, argmax, sums = _block_values(x, np.array([0, 1]), 1.0, kernel)
    assert finite
    np.testing.assert_array_equal(argmax, [2, 0])
    np.testing.assert_allclose(sums, [1 + math.exp(-1), 2.0], rtol=1e-15)


def test_loss_kernel_uses_it_for_column_major_batches(
    kernel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    class Spy:
        @staticmethod
        def ce_block(block: Any, *args: Any) -> bool:
            calls.append(block.shape[1])
            return bool(kernel.ce_block(block, *args))

    monkeypatch.setattr(native, "KERNEL", Spy)
    x = np.asfortranarray(np.random.default_rng(3).normal(0, 1, (1000, 10)).astype(np.float32))
    losses.ce_index_rows(x, np.zeros(1000, dtype=np.int64), block_rows=400)
    assert calls == [400, 400, 200]
    losses.ce_index_rows(np.ascontiguousarray(x), np.zeros(1000, dtype=np.int64))
    losses.ce_index_rows(x.astype(np.float16), np.zeros(1000, dtype=np.int64))
    assert calls == [400, 400, 200]  # C-order rows and float16 stay on numpy's path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros((3, 4), np.int32),), "float32 or float64"),
        ((np.zeros((3, 4, 1)),), "float32 or float64"),
        ((np.zeros((4, 3)).T,), "contiguous rows"),
        ((np.zeros((3, 4)), np.zeros(4, np.int32)), "target must be a contiguous 8-byte array"),
        ((np.zeros((3, 4)), np.array([0, 1, 2, 3])), "target\\[3\\] = 3 is not a class index"),
        ((np.zeros((3, 4)), np.array([0, -1, 0, 0])), "target\\[1\\] = -1"),
        ((np.zeros((3, 4)), np.zeros(4, np.int64), 1.0, np.zeros(5)), "top must be"),
        (
            (np.zeros((3, 4)), np.zeros(4, np.int64), 1.0, np.zeros(4), np.zeros(4), np.zeros(4)),
            "argmax must be a contiguous 8-byte array",
        ),
    ],
)
def test_arguments_are_checked(kernel: Any, args: tuple[Any, ...], message: str) -> None:
    defaults = [None, np.zeros(4, np.int64), 1.0, *_outputs(4)]
    full = [*args, *defaults[len(args) :]]
    with pytest.raises(ValueError, match=message):
        kernel.ce_block(*full)


def test_outputs_must_be_writable(kernel: Any) -> None:
    top = np.zeros(4)
    top.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        kernel.ce_block(np.zeros((3, 4)), np.zeros(4, np.int64), 1.0, top, *_outputs(4)[1:])


def test_version_names_the_kernel_in_use() -> None:
    assert "CE kernel: compiled" in run("--version").stdout
    env = {**os.environ, "CE_NATIVE": "0"}
    off = subprocess.run(
        [sys.executable, "-m", "ce_cli", "--version"], capture_output=True, text=True, env=env
    )
    assert off.returncode == 0 and "CE kernel: numpy (CE_NATIVE=0)" in off.stdout
