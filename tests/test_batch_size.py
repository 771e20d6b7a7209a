"""The default ``--batch-size``: about 262144 values per batch, 32768 to 131072 rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_json

from ce_cli.io.dataset import Dataset, InputOptions


def write(path: Path, columns: dict[str, pa.Array]) -> str:
    pq.write_table(pa.table(columns), path)
    return str(path)


def logits(n: int, k: int) -> dict[str, pa.Array]:
    rng = np.random.default_rng(k)
    return {f"logit_{j}": pa.array(rng.normal(size=n)) for j in range(k)}


@pytest.mark.parametrize(
    ("k", "extra", "rows"),
    [
        (1, {}, 131072),  # label + logit: 2 values
        (2, {}, 65536),  # 3 values
        (3, {}, 65536),  # 4 values: 65536 exactly
        (4, {}, 32768),  # 5 values: 52428 → 32768
        (100, {}, 32768),
        (1, {"id": pa.array(np.arange(50))}, 65536),  # the id column is read too
    ],
)
def test_rows_follow_the_values_read(tmp_path: Path, k: int, extra: dict, rows: int) -> None:
    labels = pa.array(np.arange(50) % 2 if k == 1 else np.arange(50) % k)
    path = write(tmp_path / "f.parquet", {"label": labels, **logits(50, k), **extra})
    assert Dataset(InputOptions(path), read_preds=True).batch_size == rows
    assert Dataset(InputOptions(path, batch_size=7), read_preds=True).batch_size == 7


def test_weights_read_labels_only_and_list_columns_count_by_length(tmp_path: Path) -> None:
    n = 20
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(n * 40)), 40)
    path = write(tmp_path / "l.parquet", {"label": pa.array(np.arange(n) % 3), "logits": fixed})
    assert Dataset(InputOptions(path), read_preds=True).batch_size == 32768  # 41 values
    assert Dataset(InputOptions(path), read_preds=False).batch_size == 131072  # label only


def test_the_default_and_any_batch_size_give_one_result(tmp_path: Path) -> None:
    n = 5000
    rng = np.random.default_rng(0)
    path = write(
        tmp_path / "ctr.parquet",
        {"label": pa.array(rng.integers(0, 2, n)), "logit": pa.array(rng.normal(size=n))},
    )
    default = run_json("score", path, "--loss", "bce")
    small = run_json("score", path, "--loss", "bce", "--batch-size", "97")
    assert default["loss"]["mean"] == pytest.approx(small["loss"]["mean"], rel=1e-12)
    assert [t["row"] for t in default["top"]] == [t["row"] for t in small["top"]]
