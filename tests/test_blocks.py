"""Batches joined column-major (``io/blocks.py``): one copy when parsed blocks become a batch, and
the decode views the (n, K) predictions instead of stacking them — with the same values, rows
and scores as the stacked path, for every block and chunk size."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ce_cli.io import blocks, formats
from ce_cli.io.blocks import column_block, join
from ce_cli.io.dataset import Dataset, InputOptions
from ce_cli.io.formats import open_source, rechunk
from ce_cli.report.score import compute_score
from tests.conftest import ROOT


def _piece(start: int, n: int) -> pa.RecordBatch:
    """Rows start … start+n-1 of columns of many kinds (null scores on every 7th row)."""
    rows = range(start, start + n)
    return pa.record_batch(
        {
            "label": pa.array([i % 3 for i in rows], pa.int64()),
            "name": pa.array([f"r{i}" for i in rows]),
            "a": pa.array([i + 0.5 for i in rows]),
            "flag": pa.array([i % 2 == 0 for i in rows]),
            "b": pa.array([-i - 0.25 for i in rows]),
            "c": pa.array([float(i) for i in rows], pa.float32()),
            "score": pa.array([None if i % 7 == 0 else i / 10 for i in rows]),
            "kind": pa.array([("x", "y")[i % 2] for i in rows]).dictionary_encode(),
            "small": pa.array([i % 100 for i in rows], pa.int8()),
        }
    )


def _pieces() -> list[pa.RecordBatch]:
    return [_piece(0, 5).slice(2), _piece(5, 4), _piece(9, 1), _piece(10, 6).slice(0, 4)]


def _addr(arr: pa.Array) -> int:
    return arr.buffers()[1].address + arr.offset * arr.type.bit_width // 8


def test_join_holds_what_concat_batches_does() -> None:
    pieces = _pieces()
    joined = join(pieces)
    assert joined.equals(pa.concat_batches(pieces))
    assert joined.schema == pieces[0].schema
    assert joined.column("label").to_pylist() == [i % 3 for i in range(2, 14)]
    assert joined.column("score").null_count == 1  # row 7


def test_join_lays_the_columns_of_each_numeric_type_out_one_after_another() -> None:
    joined = join(_pieces())
    n = joined.num_rows
    a, b, score = (joined.column(c) for c in ("a", "b", "score"))
    assert _addr(b) == _addr(a) + 8 * n and _addr(score) == _addr(b) + 8 * n  # float64
    assert joined.column("c").buffers()[1].address != a.buffers()[1].address  # float32 apart
    view = column_block([a, b])
    assert view is not None and view.shape == (n, 2) and view.flags.f_contiguous
    assert np.array_equal(view, np.stack([a.to_numpy(), b.to_numpy()], axis=0).T)
    assert view.__array_interface__["data"][0] == _addr(a)  # a view of the batch: no copy
    assert column_block([joined.column("label")]) is not None  # int64, alone in its type


def test_join_of_one_piece_is_that_piece() -> None:
    piece = _piece(0, 4)
    assert join([piece]) is piece


def test_join_of_batches_without_columns_keeps_their_rows() -> None:
    assert join([_piece(0, 3).select([]), _piece(3, 4).select([])]).num_rows == 7


def test_column_block_only_views_columns_laid_out_in_order() -> None:
    joined = join(_pieces())
    a, b, c, score = (joined.column(x) for x in ("a", "b", "c", "score"))
    assert column_block([b, a]) is None  # out of order
    assert column_block([a, score]) is None  # not next to each other
    assert column_block([b, score]) is None  # nulls: the stacked path fills them with NaN
    assert column_block([a, c]) is None  # two types
    assert column_block([joined.column("flag")]) is None  # booleans are bits
    assert column_block([]) is None
    plain = _piece(0, 8)  # one array per column, each in its own buffer
    assert column_block([plain.column("a"), plain.column("b")]) is None
    assert column_block([a.slice(1), b.slice(1)]) is None  # offsets 1 and n + 1: not n apart


def test_column_block_is_read_only_and_outlives_the_batch() -> None:
    joined = join(_pieces())
    expected = np.stack([joined.column("a").to_numpy(), joined.column("b").to_numpy()]).T
    view = column_block([joined.column("a"), joined.column("b")])
    del joined
    gc.collect()
    assert view is not None and not view.flags.writeable
    assert np.array_equal(view, expected)
    with pytest.raises(ValueError):
        view[0, 0] = 1.0


def test_rechunk_joins_straddling_rows_laid_out() -> None:
    pieces = _pieces()
    out = list(rechunk(pieces, 5))
    assert [b.num_rows for b in out] == [5, 5, 2]
    for batch in out[:2]:  # rows from two and three pieces
        assert column_block([batch.column("a"), batch.column("b")]) is not None
    assert _addr(out[2].column("a")) == _addr(pieces[3].column("a")) + 8 * 2  # a slice
    assert pa.Table.from_batches(out).to_pydict() == pa.Table.from_batches(pieces).to_pydict()


# -- a CSV file through the decode ------------------------------------------------------------


def _csv(path: Path, n: int = 2000, k: int = 4) -> str:
    rng = np.random.default_rng(5)
    logits = rng.normal(0, 2, (n, k))
    lines = ["label," + ",".join(f"logit_{j}" for j in range(k))]
    lines += [f"{i % k}," + ",".join(f"{v:.6f}" for v in row) for i, row in enumerate(logits)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsed blocks of ~80 rows and chunks of a few blocks, so every batch is joined."""
    monkeypatch.setattr(formats, "_BLOCK", 4096)
    monkeypatch.setattr(formats, "CHUNK_BYTES", 3 * 4096)
    monkeypatch.setattr(formats, "TAIL_BYTES", 4096)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("threads", [1, 2])
def test_the_decode_views_a_joined_csv_batch(tmp_path: Path, threads: int) -> None:
    path = _csv(tmp_path / "p.csv")
    dataset = Dataset(InputOptions(path, batch_size=512, threads=threads), read_preds=True)
    table = open_source(path).batches(batch_size=4000, threads=1)
    expected = np.stack([c.to_numpy() for c in next(table).columns[1:]], axis=1)
    rows = 0
    for raw in dataset.pairs():
        batch = dataset.decode(raw)
        assert batch.preds is not None and not batch.preds.flags.writeable  # a view
        assert batch.preds.__array_interface__["data"][0] == _addr(raw[0].column("logit_0"))
        assert np.array_equal(batch.preds, expected[rows : rows + batch.n])
        rows += batch.n
    assert rows == 2000


@pytest.mark.parametrize("block", [4096, 16384, 1 << 20])
@pytest.mark.parametrize("threads", [1, 2])
def test_scores_are_those_of_the_stacked_path_for_every_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, threads: int
) -> None:
    """Same floats, bit for bit, as concat_batches + np.stack (the path before io/blocks.py)."""
    path = _csv(tmp_path / "p.csv", n=3000, k=5)
    monkeypatch.setattr(formats, "_BLOCK", block)
    monkeypatch.setattr(formats, "CHUNK_BYTES", 2 * block)
    options = InputOptions(path, batch_size=700, threads=threads)
    got = compute_score(options).to_dict()
    monkeypatch.setattr(formats, "join", pa.concat_batches)
    monkeypatch.setattr(blocks, "column_block", lambda arrays: None)
    monkeypatch.setattr("ce_cli.io.layout.column_block", lambda arrays: None)
    assert compute_score(options).to_dict() == got


def test_a_score_on_integer_labels_does_not_import_numpy_ma(tmp_path: Path) -> None:
    """``np.unique`` imports ``numpy.ma`` (~10-30 ms at start-up); the layout's distinct labels
    do without it, so ``ce score`` on a CSV of integer labels never imports it."""
    path = _csv(tmp_path / "p.csv", n=50)
    code = (
        "import sys\n"
        "from ce_cli.cli.main import main\n"
        "sys.argv = ['ce', 'score', sys.argv[1], '--format', 'json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('numpy.ma' in sys.modules, file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    done = subprocess.run(
        [sys.executable, "-c", code, path], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "False"
