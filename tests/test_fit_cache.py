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


def test_batches_kept_out_of_order_replay_in_input_order() -> None:
    """The first pass's workers keep their batches in any order; the later passes and the
    metrics read them in input order, and one batch over the budget keeps none."""
    batches = [(np.full((4, 3), k, np.float32), np.zeros(4, int), None, 0) for k in range(5)]
    cache = calibrate._FitCache(budget=10**6)
    for k in (3, 0, 4, 1, 2):
        cache.keep(k, batches[k])
    cache.finish()
    assert cache.complete and [b[0][0, 0] for b in cache.replay()] == [0, 1, 2, 3, 4]
    tight = calibrate._FitCache(budget=3 * (4 * 3 * 4 + 4 * 8))  # three batches' bytes
    for k in (4, 3, 2, 1, 0):
        tight.keep(k, batches[k])
    tight.finish()
    assert not tight.complete and tight.kept == {} and tight.batches == []


class _Meter:
    def update(self, rows: int, nbytes: int) -> None:
        pass

    def close(self) -> None:
        pass


def test_the_fit_opens_the_input_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its first pass reads the stream the plan opened (no second open for the row count or
    the pass), its later passes and the metrics the kept rows."""
    path = write(tmp_path, np.float32)
    opened = []
    original = calibrate.Dataset

    class Counted(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            opened.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(calibrate, "Dataset", Counted)
    opts = InputOptions(path, batch_size=512, threads=2, progress=lambda *a: _Meter())
    report = compute_calibration(opts, CalibrationOptions(fit_temperature=True)).to_dict()
    assert report["temperature_fit"]["passes"] > 1 and len(opened) == 1


def test_the_fused_metrics_are_the_same_floats_for_any_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fused pass adds its batches' metric rows in batch order on the consuming thread: the
    metrics before and after the fit (both from fused passes) do not depend on the thread
    count or the schedule."""
    path = write(tmp_path, np.float32)
    monkeypatch.setattr(calibrate, "_replay", None)  # the metrics after come from the fit
    runs = [
        compute_calibration(
            InputOptions(path, batch_size=128, threads=threads),
            CalibrationOptions(fit_temperature=True),
        ).to_dict()
        for threads in (1, 2, 3, 2, 3)
    ]
    assert runs[0]["temperature_fit"]["passes"] > 1
    for other in runs[1:]:
        assert other == runs[0]
