"""--fit-temperature reads the input once when its rows fit the memory budget; the fit is the
same whether the later passes read memory or the file again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ce_cli.io.dataset import InputOptions
from ce_cli.report import calibrate
from ce_cli.report.calibrate import CalibrationOptions, compute_calibration


def write(tmp_path: Path, dtype: type) -> str:
    rng = np.random.default_rng(0)
    n, k = 3000, 5
    label = rng.integers(0, k, n)
    logits = rng.normal(0, 2, (n, k)) + 3 * np.eye(k)[label]
    columns = {"label": pa.array(label)}
    columns |= {f"logit_{j}": pa.array(logits[:, j].astype(dtype)) for j in range(k)}
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table(columns), path)
    return str(path)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fit_reads_once_within_the_budget_and_agrees_with_passes(
    tmp_path: Path, dtype: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, dtype)
    reads = []
    original = calibrate._fit_batches

    def counted(*args: object) -> object:
        reads.append(1)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(calibrate, "_fit_batches", counted)
    opts = InputOptions(path, batch_size=512)
    cached = compute_calibration(opts, CalibrationOptions(fit_temperature=True))
    assert len(reads) == 1
    passes = compute_calibration(opts, CalibrationOptions(fit_temperature=True, memory_budget=0))
    assert len(reads) == 1 + passes.to_dict()["temperature_fit"]["passes"] > 3
    assert cached.to_dict()["temperature_fit"] == passes.to_dict()["temperature_fit"]


def test_a_budget_too_small_falls_back_to_passes() -> None:
    cache = calibrate._FitCache(budget=20_000)  # 6 × 512 × (5 float32 + an int64): 86 kB
    batches = [(np.zeros((512, 5), np.float32).astype(np.float64), np.zeros(512, int), None)] * 6
    assert len(list(cache.record(iter(batches)))) == 6
    assert not cache.complete and cache.batches == []
    small = calibrate._FitCache(budget=10**9)
    list(small.record(iter(batches)))
    assert small.complete and small.batches[0][0].dtype == np.float32
    assert small.nbytes == 6 * (512 * 5 * 4 + 512 * 8)
    np.testing.assert_array_equal(next(small.replay())[0], batches[0][0])
