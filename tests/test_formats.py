"""Tests for ce_cli.io.formats: every format yields the same batches; every error is one line."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from ce_cli.core.errors import CEError
from ce_cli.io.formats import FORMATS, Source, detect_format, open_source, rechunk

N = 50
_INFERRED = "make the column's values consistent"


def _table(n: int = N) -> pa.Table:
    """Reference data whose types every format infers back exactly."""
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "label": pa.array([i % 3 for i in range(n)], pa.int64()),
            "prob_a": pa.array([(i % 8) / 8 for i in range(n)], pa.float64()),
            "prob_b": pa.array([1 - (i % 8) / 8 for i in range(n)], pa.float64()),
            "name": pa.array([f"row{i}" for i in range(n)], pa.string()),
        }
    )


def _csv_bytes(table: pa.Table, delimiter: str = ",") -> bytes:
    sink = io.BytesIO()
    pcsv.write_csv(table, sink, pcsv.WriteOptions(delimiter=delimiter, quoting_style="none"))
    return sink.getvalue()


def _jsonl_bytes(table: pa.Table) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in table.to_pylist()).encode()


def _write_bytes(path: Path, data: bytes, compression: str | None = None) -> Path:
    with pa.output_stream(str(path), compression=compression) as out:
        out.write(data)
    return path


def _write(tmp_path: Path, kind: str, table: pa.Table | None = None) -> Path:
    """Write `table` as `kind` (a file name like 'data.csv.gz' or 'data.arrows')."""
    table = _table() if table is None else table
    path = tmp_path / kind
    compression = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}.get(path.suffix)
    base = path.with_suffix("") if compression else path
    if base.suffix == ".csv":
        return _write_bytes(path, _csv_bytes(table), compression)
    if base.suffix == ".tsv":
        return _write_bytes(path, _csv_bytes(table, "\t"), compression)
    if base.suffix in (".jsonl", ".ndjson"):
        return _write_bytes(path, _jsonl_bytes(table), compression)
    if base.suffix in (".parquet", ".pq"):
        pq.write_table(table, path, row_group_size=9)
    elif base.suffix == ".feather":
        feather.write_feather(table, path, chunksize=11, compression="zstd")
    elif base.suffix == ".arrows":  # IPC stream format under an IPC-ish name
        with ipc.new_stream(str(path), table.schema) as writer:
            writer.write_table(table, max_chunksize=13)
    else:
        with ipc.new_file(str(path), table.schema) as writer:
            writer.write_table(table, max_chunksize=13)
    return path


def _read(source: Source, **kwargs: object) -> pa.Table:
    batches = list(source.batches(**kwargs))  # type: ignore[arg-type]
    return pa.Table.from_batches(batches, schema=batches[0].schema if batches else None)


def _error(func: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(CEError) as info:
        result = func(*args, **kwargs)  # type: ignore[operator]
        if hasattr(result, "__next__"):
            list(result)
    message = str(info.value)
    assert "\n" not in message
    return message


ALL_KINDS = [
    "data.csv",
    "data.csv.gz",
    "data.csv.bz2",
    "data.csv.zst",
    "data.tsv",
    "data.tsv.gz",
    "data.jsonl",
    "data.ndjson.gz",
    "data.jsonl.zst",
    "data.parquet",
    "data.pq",
    "data.arrow",
    "data.feather",
    "data.ipc",
]


# -- detect_format ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "override", "expected"),
    [
        ("preds.csv", None, ("csv", None)),
        ("dir.v2/PREDS.CSV", None, ("csv", None)),
        ("preds.csv.gz", None, ("csv", "gzip")),
        ("preds.tsv.bz2", None, ("tsv", "bz2")),
        ("preds.jsonl.zst", None, ("jsonl", "zstd")),
        ("preds.ndjson", None, ("jsonl", None)),
        ("preds.parquet", None, ("parquet", None)),
        ("preds.pq", None, ("parquet", None)),
        ("preds.arrow", None, ("ipc", None)),
        ("preds.feather", None, ("ipc", None)),
        ("preds.ipc", None, ("ipc", None)),
        ("-", None, ("csv", None)),
        ("-", "tsv", ("tsv", None)),
        ("preds.txt", "csv", ("csv", None)),
        ("preds.txt.gz", "TSV", ("tsv", "gzip")),
        ("preds.dat", "feather", ("ipc", None)),
        ("preds.csv", "parquet", ("parquet", None)),
    ],
)
def test_detect_format(path: str, override: str | None, expected: tuple[str, str | None]) -> None:
    assert detect_format(path, override) == expected


def test_formats_constant() -> None:
    assert FORMATS == ("csv", "tsv", "parquet", "ipc", "jsonl")


@pytest.mark.parametrize("path", ["preds.xlsx", "preds", "preds.xlsx.gz"])
def test_detect_format_unknown_extension(path: str) -> None:
    message = _error(detect_format, path)
    assert message.startswith(f"{path}: ")
    assert "no file extension" in message if path == "preds" else "'.xlsx'" in message
    assert ".csv .tsv .parquet .pq .arrow .feather .ipc .jsonl .ndjson" in message
    assert "--input-format csv|tsv|parquet|ipc|jsonl" in message


def test_detect_format_bad_override() -> None:
    message = _error(detect_format, "preds.csv", "xlsx")
    assert message == "unknown input format 'xlsx'; choose one of csv, tsv, parquet, ipc, jsonl"


def test_detect_format_compressed_parquet() -> None:
    message = _error(detect_format, "preds.parquet.gz")
    assert message.startswith("preds.parquet.gz: compressed Parquet files are not supported")


# -- every format reads back the same data ------------------------------------------------


@pytest.mark.parametrize("kind", [*ALL_KINDS, "data.arrows"])
def test_every_format_yields_the_same_data(tmp_path: Path, kind: str) -> None:
    path = _write(tmp_path, kind)
    source = open_source(str(path), "ipc" if kind.endswith(".arrows") else None)
    assert source.path == str(path)
    assert source.schema == _table().schema
    assert _read(source).equals(_table())
    assert _read(source).equals(_table())  # files can be read again


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_batch_sizes_are_exact(tmp_path: Path, kind: str, batch_size: int) -> None:
    source = open_source(str(_write(tmp_path, kind)))
    batches = list(source.batches(batch_size=batch_size))
    sizes = [b.num_rows for b in batches]
    full, rest = divmod(N, batch_size)
    assert sizes == [batch_size] * full + ([rest] if rest else [])
    assert pa.Table.from_batches(batches).equals(_table())


@pytest.mark.parametrize(
    ("kind", "num_rows", "fmt"),
    [
        ("data.csv", None, "csv"),
        ("data.jsonl", None, "jsonl"),
        ("data.parquet", N, "parquet"),
        ("data.arrow", N, "ipc"),
        ("data.feather", N, "ipc"),
    ],
)
def test_num_rows_and_format(tmp_path: Path, kind: str, num_rows: int | None, fmt: str) -> None:
    source = open_source(str(_write(tmp_path, kind)))
    assert (source.num_rows, source.format) == (num_rows, fmt)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_column_selection_keeps_the_order_given(tmp_path: Path, kind: str) -> None:
    source = open_source(str(_write(tmp_path, kind)))
    table = _read(source, columns=["prob_b", "id"], batch_size=16)
    assert table.column_names == ["prob_b", "id"]
    assert table.equals(_table().select(["prob_b", "id"]))
    assert source.schema.names == _table().column_names  # the full schema stays


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_column_types_force_the_type(tmp_path: Path, kind: str) -> None:
    source = open_source(str(_write(tmp_path, kind)))
    table = _read(source, columns=["label", "id"], column_types={"label": pa.float64()})
    assert table.schema.field("label").type == pa.float64()
    assert table.schema.field("id").type == pa.int64()
    assert table.column("label").to_pylist() == [float(i % 3) for i in range(N)]


@pytest.mark.parametrize("kind", ["data.csv", "data.tsv.gz", "data.jsonl"])
def test_forced_type_holds_past_the_first_block(tmp_path: Path, kind: str) -> None:
    # 0/1 scores for more than a 1 MiB block, then a fraction: inferred int64 would break.
    n = 700_000
    if kind.endswith(".jsonl"):
        data = b'{"y": 0}\n{"y": 1}\n' * (n // 2) + b'{"y": 0}\n{"y": 0.25}\n'
    else:
        data = b"y\n" + b"0\n1\n" * (n // 2) + b"0\n0.25\n"
    path = _write_bytes(tmp_path / kind, data, "gzip" if kind.endswith(".gz") else None)
    source = open_source(str(path))
    assert source.schema.field("y").type == pa.int64()
    values = _read(source, column_types={"y": pa.float64()}).column("y")
    assert values.type == pa.float64()
    assert len(values) == n + 2
    assert values[-1].as_py() == 0.25
    message = _error(source.batches)  # unforced, the later block contradicts the first
    if kind.endswith(".jsonl"):  # pyarrow names neither row nor column; we find the column
        assert "column y, at line " in message
        assert message.endswith("or later: value 0.25 is not an integer; " + _INFERRED)
    else:
        assert f"column y, line {n + 3}: value '0.25' does not match type int64" in message
        assert message.endswith(_INFERRED)


def test_parquet_cast_failure_names_the_column(tmp_path: Path) -> None:
    source = open_source(str(_write(tmp_path, "data.parquet")))
    message = _error(source.batches, columns=["name"], column_types={"name": pa.float64()})
    assert message.startswith(f"{source.path}: column name: cannot convert string to double")
    assert "Failed to parse string: 'row" in message
    assert message.endswith("check the column or pass the right --pred-cols")


def test_missing_and_duplicate_columns(tmp_path: Path) -> None:
    source = open_source(str(_write(tmp_path, "data.csv")))
    message = _error(source.batches, columns=["id", "prob_c"])
    assert message == (
        f"{source.path}: no column 'prob_c' (columns: id, label, prob_a, prob_b, name)"
    )
    message = _error(source.batches, column_types={"nope": pa.float64()})
    assert "no column 'nope'" in message
    assert _error(source.batches, columns=["id", "id"]).endswith("column 'id' requested twice")


# -- stdin and pipes -----------------------------------------------------------------------


class _FakeStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_stdin_is_csv_and_single_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _FakeStdin(_csv_bytes(_table())))
    source = open_source("-")
    assert (source.path, source.format, source.num_rows) == ("<stdin>", "csv", None)
    assert source.schema == _table().schema
    batches = list(
        source.batches(columns=["label", "id"], batch_size=7, column_types={"label": pa.float64()})
    )
    assert [b.num_rows for b in batches] == [7] * 7 + [1]
    table = pa.Table.from_batches(batches)
    assert table.column("label").type == pa.float64()
    assert table.column("id").to_pylist() == list(range(N))
    message = _error(source.batches)
    assert message.startswith("<stdin>: standard input or a pipe can only be read once")


def test_stdin_larger_than_a_block_with_override(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 200_000
    table = pa.table({"a": pa.array(range(n), pa.int64()), "b": pa.array([0] * n, pa.int64())})
    data = _csv_bytes(table, "\t") + b"7\t0.5\n"
    monkeypatch.setattr(sys, "stdin", _FakeStdin(data))
    source = open_source("-", "tsv")
    out = _read(source, columns=["b"], batch_size=65536, column_types={"b": pa.float64()})
    assert out.num_rows == n + 1
    assert out.column("b")[-1].as_py() == 0.5


def test_stdin_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _FakeStdin(b""))
    assert _error(open_source, "-") == "<stdin>: input is empty"
    monkeypatch.setattr(sys, "stdin", _FakeStdin(b"a,b\n1,2\n"))
    message = _error(open_source, "-", "parquet")
    assert message == "<stdin>: Parquet cannot be read from stdin; pass a file path"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_read_once(tmp_path: Path) -> None:
    fifo = tmp_path / "preds.csv.gz"
    os.mkfifo(fifo)
    data = gzip.compress(_csv_bytes(_table()))

    def feed() -> None:
        with open(fifo, "wb") as out:
            out.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    source = open_source(str(fifo))
    assert _read(source).equals(_table())
    writer.join()
    assert "can only be read once" in _error(source.batches)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_pipe_without_extension_is_csv(tmp_path: Path) -> None:
    fifo = tmp_path / "63"  # like /dev/fd/63 from <(zcat preds.csv.gz)
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(_csv_bytes(_table())))
    writer.start()
    source = open_source(str(fifo))
    assert source.format == "csv"
    assert _read(source, batch_size=7).equals(_table())
    writer.join()
    message = _error(open_source, str(fifo), "parquet")  # fails before opening the pipe
    assert message == f"{fifo}: Parquet cannot be read from a pipe; pass a file path"


# -- empty and header-only inputs ----------------------------------------------------------


@pytest.mark.parametrize("text", [b"a,b\n", b"a,b", b"a,b\r\n"])
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_header_only_csv_has_a_schema_and_no_batches(
    tmp_path: Path, text: bytes, compression: str | None
) -> None:
    path = _write_bytes(tmp_path / ("h.csv.gz" if compression else "h.csv"), text, compression)
    source = open_source(str(path))
    assert source.schema.names == ["a", "b"]
    assert list(source.batches()) == []
    assert list(source.batches(columns=["b"], column_types={"b": pa.float64()})) == []


def test_header_only_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _FakeStdin(b"label,prob_a"))
    source = open_source("-")
    assert source.schema.names == ["label", "prob_a"]
    assert list(source.batches()) == []


def test_parquet_and_ipc_with_no_rows(tmp_path: Path) -> None:
    empty = _table().slice(0, 0)
    for kind in ("e.parquet", "e.arrow"):
        source = open_source(str(_write(tmp_path, kind, empty)))
        assert (source.schema, source.num_rows) == (empty.schema, 0)
        assert list(source.batches()) == []


@pytest.mark.parametrize("name", ["preds.csv", "preds.parquet", "preds.arrow", "preds.jsonl"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")
    assert _error(open_source, str(tmp_path / name)) == f"{tmp_path / name}: file is empty"


def test_empty_after_decompression(tmp_path: Path) -> None:
    path = _write_bytes(tmp_path / "preds.csv.gz", b"\n\n", "gzip")
    assert _error(open_source, str(path)) == f"{path}: file is empty"


# -- errors --------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _error(open_source, "preds.csv") == "preds.csv: no such file"


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "runs.csv").mkdir()
    message = _error(open_source, str(tmp_path / "runs.csv"))
    assert message == f"{tmp_path / 'runs.csv'}: is a directory, not a file"


def test_unknown_extension_via_open_source(tmp_path: Path) -> None:
    path = tmp_path / "preds.xlsx"
    path.write_bytes(b"x")
    message = _error(open_source, str(path))
    assert message.startswith(f"{path}: unknown file extension '.xlsx'; supported: .csv")
    assert message.endswith("pass --input-format csv|tsv|parquet|ipc|jsonl")


def test_malformed_csv_row(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    path.write_bytes(b"a,b\n1,2\n3,4,5\n")
    message = _error(open_source, str(path))
    assert message == (
        f"{path}: line 3: expected 2 fields, got 3 ('3,4,5'); "
        "fix that row (a stray delimiter or quote?) or check the delimiter"
    )


def test_malformed_csv_row_late_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 300_000 + b"3\n")
    source = open_source(str(path))
    batches = source.batches(batch_size=1000)
    assert next(batches).num_rows == 1000  # the error comes while iterating
    message = _error(lambda: batches)
    assert message.startswith(f"{path}: line 300002: expected 2 fields, got 1 ('3')")


def test_unclosed_quote(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    path.write_bytes(b'a,b\n"1,2\n' + b"3,4\n" * 300_000)
    message = _error(open_source, str(path))  # found in the first block
    assert message.startswith(f"{path}: line 2: expected 2 fields, got 1 (")
    assert message.endswith("fix that row (a stray delimiter or quote?) or check the delimiter")
    path.write_bytes(b"a,b\n" + b"3,4\n" * 300_000 + b'"1,2\n' + b"3,4\n" * 300_000)
    message = _error(lambda: open_source(str(path)).batches())  # found in a later block
    assert message.startswith(f"{path}: line 300002: expected 2 fields, got 1 (")


@pytest.mark.parametrize("kind", ["wide.csv", "wide.jsonl"])
def test_lines_longer_than_a_block(tmp_path: Path, kind: str) -> None:
    big = "x" * 1_500_000
    table = pa.table({"a": [big, "y", big], "b": [1, 2, 3]})
    path = _write(tmp_path, kind, table)
    assert _read(open_source(str(path)), batch_size=2).equals(table)
    wide = pa.table({f"{big[:1000]}{i}": [i] for i in range(1500)})  # a 1.5 MB header
    path = _write(tmp_path, "h" + kind, wide)
    assert _read(open_source(str(path))).equals(wide)


def test_non_numeric_value_in_forced_column(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    path.write_bytes(b"label,prob_cat,prob_dog\n0,0.9,0.1\n1,abc,0.8\n")
    source = open_source(str(path))
    message = _error(source.batches, column_types={"prob_cat": pa.float64()})
    assert message == (
        f"{path}: column prob_cat, line 3: value 'abc' is not a number; "
        "check the column or pass the right --pred-cols"
    )


def test_non_numeric_value_with_columns_reordered(tmp_path: Path) -> None:
    path = tmp_path / "preds.tsv"
    path.write_bytes(b"a\tb\tc\n1\t2\t3\n4\t5\t?\n")
    source = open_source(str(path))
    forced = {"c": pa.float64(), "a": pa.float64()}
    message = _error(source.batches, columns=["c", "a"], column_types=forced)
    assert message.startswith(f"{path}: column c, line 3: value '?' is not a number")


def test_corrupt_parquet(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.parquet").read_bytes()
    path = tmp_path / "bad.parquet"
    path.write_bytes(good[: len(good) // 2])
    message = _error(open_source, str(path))
    assert message.startswith(f"{path}: not a valid Parquet file (truncated or corrupt): ")
    path.write_bytes(b"PAR")
    assert "not a valid Parquet file (truncated or corrupt)" in _error(open_source, str(path))


def test_parquet_corrupt_in_the_middle_fails_while_iterating(tmp_path: Path) -> None:
    table = pa.table({"x": pa.array([float(i) for i in range(100_000)])})
    data = bytearray(_write(tmp_path, "good.parquet", table).read_bytes())
    data[len(data) // 3 : len(data) // 3 + 200] = b"\xff" * 200
    path = tmp_path / "bad.parquet"
    path.write_bytes(bytes(data))
    source = open_source(str(path))  # the footer is intact
    assert source.num_rows == 100_000
    message = _error(source.batches)
    assert message.startswith(f"{path}: not a valid Parquet file (truncated or corrupt): ")


@pytest.mark.parametrize("kind", ["good.arrow", "good.arrows"])
def test_corrupt_ipc(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.arrow"
    path.write_bytes(b"this is not an arrow file at all")
    message = _error(open_source, str(path))
    assert message == (
        f"{path}: not a valid Arrow IPC/Feather file (truncated or corrupt): Not an Arrow file"
    )
    table = pa.table({"x": pa.array([float(i) for i in range(10_000)])})
    good = _write(tmp_path, kind, table).read_bytes()
    path.write_bytes(good[: len(good) // 2])
    message = _error(lambda: open_source(str(path), "ipc").batches())
    assert message.startswith(f"{path}: not a valid Arrow IPC/Feather file (truncated or corrupt)")


def test_bad_json_line(tmp_path: Path) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_bytes(b'{"a": 1, "b": 2.5}\n' * 100_000 + b'{"a": 1, "b": 2.5\n')
    source = open_source(str(path))
    message = _error(source.batches)
    assert message == (
        f"{path}: line 100001: invalid JSON "
        "(Missing a comma or '}' after an object member); fix or remove that line"
    )


def test_json_string_in_forced_column(tmp_path: Path) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_bytes(b'{"prob": 0.5}\n' * 100_000 + b'{"prob": "high"}\n')
    source = open_source(str(path))
    message = _error(source.batches, column_types={"prob": pa.float64()})
    assert message == (
        f"{path}: column prob, line 100001: found a string where a number is expected; "
        "check the column or pass the right --pred-cols"
    )


def test_garbage_in_compressed_file(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv.gz"
    path.write_bytes(b"a,b\n1,2\n")
    message = _error(open_source, str(path))
    assert message.startswith(f"{path}: cannot read as CSV (gzip-compressed): ")


# -- rechunk -------------------------------------------------------------------------------


def _batch(start: int, n: int) -> pa.RecordBatch:
    return pa.record_batch({"x": pa.array(range(start, start + n), pa.int64())})


def test_rechunk_exact_sizes_and_drops_empty_batches() -> None:
    inputs = [_batch(0, 3), _batch(3, 0), _batch(3, 10), _batch(13, 1), _batch(14, 0)]
    out = list(rechunk(inputs, 4))
    assert [b.num_rows for b in out] == [4, 4, 4, 2]
    assert pa.Table.from_batches(out).column("x").to_pylist() == list(range(14))
    assert list(rechunk([_batch(0, 0)], 4)) == []
    assert list(rechunk([], 4)) == []


def test_rechunk_is_zero_copy_within_a_batch() -> None:
    source = _batch(0, 100)
    out = list(rechunk([source], 30))
    assert [b.num_rows for b in out] == [30, 30, 30, 10]
    address = source.column(0).buffers()[1].address
    assert all(b.column(0).buffers()[1].address == address for b in out)


def test_rechunk_rejects_bad_batch_size() -> None:
    with pytest.raises(ValueError):
        list(rechunk([_batch(0, 3)], 0))


# -- resources -----------------------------------------------------------------------------


def test_parquet_reads_row_groups_lazily(tmp_path: Path) -> None:
    table = pa.table({"x": pa.array([float(i) for i in range(1_000_000)])})
    path = tmp_path / "big.parquet"
    pq.write_table(table, path, row_group_size=10_000, compression="none")  # 8 MB of values
    del table
    before = pa.total_allocated_bytes()
    batches = open_source(str(path)).batches(batch_size=10)
    first, second = next(batches), next(batches)
    assert first.column(0)[0].as_py() == 0.0 and second.column(0)[0].as_py() == 10.0
    assert pa.total_allocated_bytes() - before < 2_000_000


def test_reading_never_imports_pandas(tmp_path: Path) -> None:
    paths = [_write(tmp_path, kind) for kind in ("d.csv.gz", "d.jsonl", "d.parquet", "d.arrow")]
    script = (
        "import sys, pyarrow as pa\n"
        "from ce_cli.io.formats import open_source\n"
        f"for path in {[str(p) for p in paths]!r}:\n"
        "    s = open_source(path)\n"
        "    for b in s.batches(batch_size=7, column_types={'label': pa.float64()}):\n"
        "        pass\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_source_cut_for_another_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the dask engine uses: absolute paths, row-group sizes, a subset of row groups."""
    table = pa.table({"x": pa.array(range(25))})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=10)
    monkeypatch.chdir(tmp_path)
    src = open_source("p.parquet")
    moved = src.absolute()
    assert moved.path == str(tmp_path / "p.parquet") and src.path == "p.parquet"
    assert moved.absolute() is moved and not moved.is_remote
    monkeypatch.chdir("/")
    assert moved.row_group_sizes() == [10, 10, 5]
    last_two = moved.with_row_groups((1, 2), 15)
    assert last_two.num_rows == 15 and moved.row_groups is None
    got = [v for b in last_two.batches(batch_size=4) for v in b.column(0).to_pylist()]
    assert got == list(range(10, 25))
    pcsv.write_csv(table, tmp_path / "t.csv")
    assert open_source(str(tmp_path / "t.csv")).row_group_sizes() == []


# -- a row longer than the block ------------------------------------------------------------------


def _csv_with_a_5mb_cell(path: Path, at: int, size: int = 5 << 20) -> Path:
    """A valid CSV of 3000 rows whose row `at` holds `size` bytes in a column no command
    reads."""
    lines = ["id,label,prob_a,prob_b,comment"]
    lines += [f"{i},{i % 2},{(i % 9) / 10},{1 - (i % 9) / 10},ok" for i in range(3000)]
    lines[at + 1] = lines[at + 1].removesuffix("ok") + "x" * size
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("at", [0, 2000])
def test_a_5mb_cell_in_an_unused_column_is_read(tmp_path: Path, at: int) -> None:
    from conftest import run

    path = _csv_with_a_5mb_cell(tmp_path / "notes.csv", at)
    plain = _csv_with_a_5mb_cell(tmp_path / "plain.csv", at, size=2)
    for command in (["score", "--top", "3"], ["weights"], ["calibrate", "--bins", "5"]):
        for threads in ("1", "2"):
            args = [*command, "--format", "json", "--threads", threads]
            got = run(command[0], str(path), *args[1:])
            want = run(command[0], str(plain), *args[1:])
            assert got.exit_code == want.exit_code == 0, (got.stderr, want.stderr)
            assert _without_paths(got.stdout) == _without_paths(want.stdout)


def _without_paths(report: str) -> dict[str, object]:
    data = json.loads(report)
    data.pop("source", None)
    data.get("inputs", {}).pop("file", None)
    return data
