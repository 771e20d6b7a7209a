"""The compiled CE kernel (``ce_cli/core/_native.c``): its exp, its per-row values against
numpy's, its argument checks, and how the loss kernel and ``ce --version`` use it. The
kernel-level tests in test_losses.py and test_fused_kernels.py run with both kernels
(the ``ce_kernel`` fixture)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from ce_cli.core import calibration, losses, native
from ce_cli.core.softmax_calibration import softmax_calibration_rows
from tests.conftest import compiled_kernel, run, sample

pytestmark = pytest.mark.skipif(
    os.environ.get("CE_NATIVE") == "0", reason="CE_NATIVE=0 turns the compiled kernel off"
)


@pytest.fixture
def kernel() -> Any:
    return compiled_kernel()


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
    block = x.T  # (C, m): class-major for an F-order x, row-major for a C-order one
    m = x.shape[0]
    out = _outputs(m)
    finite = kernel.ce_block(block, y.astype(np.int64), inv_t, *out)
    return (finite, *out)


@pytest.mark.parametrize("order", ["F", "C"])  # class-major and row-major blocks
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [1, 2, 9, 16, 17, 100, 1000])
@pytest.mark.parametrize("rows", [1, 255, 256, 257, 1500])
def test_block_values_are_numpys(
    kernel: Any, dtype: type, n_classes: int, rows: int, order: str
) -> None:
    rng = np.random.default_rng(rows * n_classes)
    x = np.asarray(rng.normal(0, 4, (rows, n_classes)).astype(dtype), order=order)
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
    assert calls == [400, 400, 200]  # C-order rows of ≤ 64 classes and float16: numpy's path
    wide = np.ascontiguousarray(np.zeros((300, 65), dtype=np.float32))
    losses.ce_index_rows(wide, np.zeros(300, dtype=np.int64), block_rows=100)
    assert calls == [400, 400, 200, 100, 100, 100]  # row-major blocks of > 64 classes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros((3, 4), np.int32),), "float32 or float64"),
        ((np.zeros((3, 4, 1)),), "float32 or float64"),
        ((np.zeros((3, 4, 2))[:, :, 0],), "contiguous"),
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


def _exp_moments(x: np.ndarray, y: np.ndarray, beta: float, k: int) -> list[np.ndarray]:
    block = x.T  # (C, m), each class's values contiguous
    c, m = block.shape
    bufs = (np.empty((c, m)), np.empty((c, m)), np.empty((c, m)))
    sums = (np.empty(m), np.empty(m), np.empty((3, 2 * m))[:, :m], np.empty(m), np.empty(m, int))
    moments = np.empty((k, 2 * m))[:, :m] if k else None
    calibration.exp_moments(block, y, beta, bufs, sums, moments)
    return [bufs[1], *sums] + ([] if moments is None else [moments])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [0, 2, 4])
@pytest.mark.parametrize(("rows", "n_classes"), [(1, 1), (255, 3), (257, 100), (1000, 7)])
def test_exp_moments_are_numpys(
    kernel: Any, monkeypatch: pytest.MonkeyPatch, dtype: type, k: int, rows: int, n_classes: int
) -> None:
    rng = np.random.default_rng(rows + k)
    x = np.asfortranarray(rng.normal(0, 3, (rows, n_classes)).astype(dtype))
    y = rng.integers(0, n_classes, rows)
    x[::5, n_classes // 2] = x[::5].max(axis=1)  # ties: the first index wins
    got = _exp_moments(x, y, 0.8, k)
    monkeypatch.setattr(native, "KERNEL", None)
    want = _exp_moments(x, y, 0.8, k)
    np.testing.assert_array_equal(got[3][0], want[3][0])  # x_y
    np.testing.assert_array_equal(got[3][2], want[3][2])  # d_y = x_y − max, exact
    np.testing.assert_array_equal(got[4], want[4])  # each row's maximum
    np.testing.assert_array_equal(got[5], np.argmax(x, axis=1))  # and its first argmax
    np.testing.assert_array_equal(want[5], np.argmax(x, axis=1))
    for a, b in zip(got[:3] + got[6:], want[:3] + want[6:], strict=True):  # e, s, sumsq, moments
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)
    np.testing.assert_allclose(got[3][1], want[3][1], rtol=1e-13)  # e_y


def test_candidates_are_the_entries_near_the_first_edge_and_the_rest_is_summed(
    kernel: Any,
) -> None:
    rng = np.random.default_rng(4)
    e = np.exp(rng.normal(0, 2, (9, 700)) - 6)
    e[rng.integers(0, 9, 700), np.arange(700)] = 1.0  # each row's maximum
    s, w = e.sum(axis=0), rng.uniform(0.5, 2, 700)
    mask = np.zeros(9 * 700 + 4, dtype=bool)
    conf, weight = np.full(9, 0.5), np.full(9, 0.25)  # added to, not overwritten
    kernel.candidates(e, s, 0.1, w / s, w, mask, conf, weight)
    want = e >= np.minimum(s * 0.1, 1.0)
    np.testing.assert_array_equal(mask[: e.size].reshape(e.shape), want)
    assert want[e == 1.0].all()
    np.testing.assert_allclose(conf, 0.5 + np.where(want, 0.0, e) @ (w / s), rtol=1e-14)
    np.testing.assert_allclose(weight, 0.25 + (~want) @ w, rtol=1e-14)
    with pytest.raises(ValueError, match="mask must be a bool array"):
        kernel.candidates(e, s, 0.1, w / s, None, mask[:10], conf, None)


def test_exp_moments_checks_its_arguments(kernel: Any) -> None:
    x, y = np.zeros((3, 4)), np.zeros(4, np.int64)
    e, rows = np.zeros((3, 4)), [np.zeros(4), np.zeros(4), np.zeros((3, 4))]
    tail = [np.zeros(4), np.zeros(4, np.int64)]  # top, argmax
    with pytest.raises(ValueError, match="moments must have 2 or 4 rows"):
        kernel.exp_moments(x, y, 1.0, e, *rows, *tail, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"e must be a float64 \(3, 4\) array, C-contiguous"):
        kernel.exp_moments(x, y, 1.0, np.zeros((3, 8))[:, :4], *rows, *tail, None)
    with pytest.raises(ValueError, match="argmax must be a contiguous 8-byte array of 4 values"):
        kernel.exp_moments(x, y, 1.0, e, *rows, np.zeros(4), np.zeros(3, np.int64), None)
    with pytest.raises(ValueError, match=r"target\[2\] = 3 is not a class index below 3"):
        kernel.exp_moments(x, np.array([0, 1, 3, 0]), 1.0, e, *rows, *tail, None)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("derivatives", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 1.7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_calibration_rows_are_the_same_with_either_kernel(
    kernel: Any,
    monkeypatch: pytest.MonkeyPatch,
    derivatives: bool,
    temperature: float,
    dtype: type,
    weighted: bool,
) -> None:
    rng = np.random.default_rng(11)
    x = np.asfortranarray(rng.normal(0, 4, (3000, 12)).astype(dtype))
    x[::7, 3] = x[::7].max(axis=1)  # tied maxima
    y, w = rng.integers(0, 12, 3000), rng.uniform(0.5, 2, 3000) if weighted else None
    kw = {"temperature": temperature, "derivatives": derivatives, "n_bins": 10}
    got = softmax_calibration_rows(x, y, w, **kw)
    monkeypatch.setattr(native, "KERNEL", None)
    want = softmax_calibration_rows(x, y, w, **kw)
    np.testing.assert_array_equal(got.correct, want.correct)
    for name in ("confidence", "nll", "brier", "grad", "hess", "d3", "d4"):
        a, b = getattr(got, name), getattr(want, name)
        assert (
            (a is None) == (b is None) == (name in ("grad", "hess", "d3", "d4") and not derivatives)
        )
        if a is not None:  # κ3, κ4 cancel: their errors scale with the largest values
            scale = float(np.abs(b).max())
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14 * scale, err_msg=name)
    np.testing.assert_array_equal(got.classwise.count, want.classwise.count)
    for name in ("weight", "conf_sum", "correct_sum"):
        a, b = getattr(got.classwise, name), getattr(want.classwise, name)
        np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=name)


def test_the_temperature_fit_is_the_same_with_either_kernel(
    kernel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("calibrate", sample("multiclass.csv"), "--fit-temperature", "--format", "json")
    compiled = json.loads(run(*args).stdout)
    monkeypatch.setattr(native, "KERNEL", None)
    plain = json.loads(run(*args).stdout)
    assert compiled["temperature"] == pytest.approx(plain["temperature"], rel=1e-12)
    for key in ("ece", "mce", "classwise_ece", "brier", "nll", "accuracy"):
        assert compiled[key] == pytest.approx(plain[key], rel=1e-12, abs=1e-15), key
    assert compiled["temperature_fit"]["passes"] == plain["temperature_fit"]["passes"]


def test_version_names_the_kernel_in_use() -> None:
    assert "CE kernel: compiled" in run("--version").stdout
    env = {**os.environ, "CE_NATIVE": "0"}
    off = subprocess.run(
        [sys.executable, "-m", "ce_cli", "--version"], capture_output=True, text=True, env=env
    )
    assert off.returncode == 0 and "CE kernel: numpy (CE_NATIVE=0)" in off.stdout
