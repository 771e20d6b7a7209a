"""Text formats parsed on several threads: the same batches, in order, with the same errors.

``CHUNK_BYTES`` is made small so that small files span many chunks; threads=1 is the single
reader over the whole text that the chunks must agree with.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import read_error

from ce_cli.core.errors import CEError
from ce_cli.io import formats
from ce_cli.io.files import open_input
from ce_cli.io.formats import Source, open_source

CHUNK = 4096
THREADS = [1, 2, 4]
_FORCED = "check the column or pass the right --pred-cols"


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "CHUNK_BYTES", CHUNK)


@pytest.fixture
def parsed_on(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that parse each chunk (or the whole text), in order."""
    names: list[str] = []
    parse = Source._parse_chunk

    def spy(self: Source, *args: object) -> Iterator[pa.RecordBatch]:
        names.append(threading.current_thread().name)
        return parse(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Source, "_parse_chunk", spy)
    return names


def _rows(n: int, bad: dict[int, str] | None = None, sep: str = ",", nl: str = "\n") -> bytes:
    """A header and `n` rows ``id,label,score,name``; `bad` replaces some rows' score."""
    bad = bad or {}
    lines = [sep.join(("id", "label", "score", "name"))]
    for i in range(n):
        score = bad.get(i, f"{(i % 97) / 97:.6f}")
        lines.append(sep.join((str(i), str(i % 3), score, f"row{i}")))
    return (nl.join(lines) + nl).encode()


def _jsonl(n: int, bad: dict[int, str] | None = None) -> bytes:
    bad = bad or {}
    out = []
    for i in range(n):
        score = bad.get(i, json.dumps((i % 97) / 97))
        out.append(f'{{"id": {i}, "label": {i % 3}, "score": {score}, "name": "row{i}"}}\n')
    return "".join(out).encode()


def _write(path: Path, data: bytes) -> Path:
    compression = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}.get(path.suffix)
    with pa.output_stream(str(path), compression=compression) as out:
        out.write(data)
    return path


def _batches(source: Source, threads: int, **kwargs: object) -> list[pa.RecordBatch]:
    return list(source.batches(threads=threads, **kwargs))  # type: ignore[arg-type]


def _chunk_count(data: bytes) -> int:
    return len(list(formats._chunks(io.BytesIO(data), b"")))


class _FakeStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


# -- the same batches --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["d.csv", "d.tsv", "d.csv.gz", "d.tsv.bz2", "d.jsonl", "d.jsonl.gz"]
)
def test_threads_give_identical_batches(tmp_path: Path, name: str) -> None:
    n = 3000
    data = _jsonl(n) if ".jsonl" in name else _rows(n, sep="\t" if ".tsv" in name else ",")
    assert _chunk_count(data) > 10
    source = open_source(str(_write(tmp_path / name, data)))
    expected = _batches(source, 1, batch_size=256)
    assert [b.num_rows for b in expected] == [256] * 11 + [n - 11 * 256]
    table = pa.Table.from_batches(expected)
    assert table.column("id").to_pylist() == list(range(n))  # file order
    assert table.column("name")[-1].as_py() == f"row{n - 1}"
    for threads in THREADS[1:]:
        got = _batches(source, threads, batch_size=256)
        assert len(got) == len(expected)
        assert all(a.equals(b) for a, b in zip(got, expected, strict=True))


@pytest.mark.parametrize("threads", THREADS)
def test_columns_and_forced_types_hold_in_every_chunk(tmp_path: Path, threads: int) -> None:
    # The probe sees only the first 1 MiB: label is inferred int64 there.
    n = 60_000
    data = _rows(n).replace(b"\n59990,2,", b"\n59990,2.5,")
    assert data.index(b"2.5") > formats._BLOCK
    source = open_source(str(_write(tmp_path / "d.csv", data)))
    assert source.schema.field("label").type == pa.int64()
    columns = ["name", "label", "id"]
    table = pa.Table.from_batches(
        _batches(source, threads, columns=columns, column_types={"label": pa.float64()})
    )
    assert table.column_names == columns
    assert table.schema.field("label").type == pa.float64()
    assert table.column("label")[59990].as_py() == 2.5
    assert table.column("id").to_pylist() == list(range(n))
    message, rows = read_error(source, threads, columns=columns)
    assert message == (
        f"{source.path}: column label, line 59992: value '2.5' does not match type int64 "
        "inferred from the column's first rows; make the column's values consistent"
    )
    assert rows <= 59990


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("nl", ["\r\n", "\r"])
def test_crlf_and_cr_line_ends(tmp_path: Path, threads: int, nl: str) -> None:
    data = _rows(2000, nl=nl)
    source = open_source(str(_write(tmp_path / "d.csv", data)))
    plain = open_source(str(_write(tmp_path / "p.csv", _rows(2000))))
    assert pa.Table.from_batches(_batches(source, threads)).equals(
        pa.Table.from_batches(_batches(plain, 1))
    )


@pytest.mark.parametrize("threads", THREADS)
def test_a_chunk_that_ends_between_cr_and_lf(
    tmp_path: Path, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _rows(2000, bad={1500: "x"}, nl="\r\n")
    monkeypatch.setattr(formats, "CHUNK_BYTES", data.index(b"\r\n", 3000) + 1)
    chunks = list(formats._chunks(io.BytesIO(data), b""))
    assert chunks[0].to_pybytes().endswith(b"\r") and chunks[1].to_pybytes().startswith(b"\n")
    source = open_source(str(_write(tmp_path / "d.csv", data)))
    message, _ = read_error(source, threads, column_types={"score": pa.float64()})
    assert message.startswith(f"{source.path}: column score, line 1502: value 'x' is not")
    table = pa.Table.from_batches(_batches(source, threads, columns=["id"]))
    assert table.column("id").to_pylist() == list(range(2000))


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name", ["d.csv", "d.jsonl"])
@pytest.mark.parametrize("n", [1000, 50_000])  # inside the probed head, and beyond it
def test_no_final_newline(tmp_path: Path, threads: int, name: str, n: int) -> None:
    data = (_jsonl(n) if name.endswith(".jsonl") else _rows(n)).rstrip(b"\n")
    source = open_source(str(_write(tmp_path / name, data)))
    table = pa.Table.from_batches(_batches(source, threads))
    assert table.column("id").to_pylist() == list(range(n))
    assert table.column("name")[-1].as_py() == f"row{n - 1}"


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name", ["d.csv", "d.jsonl"])
def test_trailing_blank_lines(tmp_path: Path, threads: int, name: str) -> None:
    body = _jsonl(1000) if name.endswith(".jsonl") else _rows(1000)
    data = body + b"\n" * (3 * CHUNK)  # whole chunks of nothing but line ends
    assert _chunk_count(data) > _chunk_count(body) + 1
    source = open_source(str(_write(tmp_path / name, data)))
    table = pa.Table.from_batches(_batches(source, threads))
    assert table.column("id").to_pylist() == list(range(1000))


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name", ["d.csv", "d.jsonl"])
def test_lines_longer_than_a_chunk(tmp_path: Path, threads: int, name: str) -> None:
    n = 1000
    long = "y" * (5 * CHUNK)
    table = pa.table(
        {
            "id": list(range(n)),
            "name": [long if i in (10, 500, 501) else f"row{i}" for i in range(n)],
        }
    )
    if name.endswith(".jsonl"):
        data = "".join(json.dumps(r) + "\n" for r in table.to_pylist()).encode()
    else:
        data = (
            "id,name\n" + "".join(f"{r['id']},{r['name']}\n" for r in table.to_pylist())
        ).encode()
    chunks = [c.size for c in formats._chunks(io.BytesIO(data), b"")]
    assert max(chunks) > 5 * CHUNK
    source = open_source(str(_write(tmp_path / name, data)))
    assert pa.Table.from_batches(_batches(source, threads)).equals(table)


def test_chunks_get_shorter_near_the_end_of_a_text_of_known_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A quarter of what is left once that is below CHUNK_BYTES, down to TAIL_BYTES; each
    chunk still ends at a line end, and together they are the text."""
    monkeypatch.setattr(formats, "TAIL_BYTES", 1024)
    data = _rows(3000)
    line = 40  # longer than any line: what a cut at a line end adds or leaves
    chunks = list(formats._chunks(io.BytesIO(data), b"", ord(","), None, len(data)))
    sizes = [c.size for c in chunks]
    assert b"".join(c.to_pybytes() for c in chunks) == data
    assert all(c.to_pybytes().endswith(b"\n") for c in chunks)
    assert CHUNK - line < sizes[0] <= CHUNK + line
    assert sizes[-4] < CHUNK // 2  # shorter near the end
    tail = sizes[-8:-1]
    assert all(a >= b - line for a, b in itertools.pairwise(tail))  # non-increasing
    assert min(sizes[:-1]) > 1024 - line  # TAIL_BYTES
    unknown = [c.size for c in formats._chunks(io.BytesIO(data), b"")]  # no size: CHUNK_BYTES
    assert min(unknown[:-1]) > CHUNK - line


@pytest.mark.parametrize("threads", THREADS)
def test_tail_chunks_give_the_same_batches(
    tmp_path: Path, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "TAIL_BYTES", 512)
    data = _rows(3000)
    source = open_source(str(_write(tmp_path / "d.csv", data)))
    assert source._text_size() == len(data)
    table = pa.Table.from_batches(_batches(source, threads, batch_size=300))
    assert table.column("id").to_pylist() == list(range(3000))
    assert table.column("name")[-1].as_py() == "row2999"


@pytest.mark.parametrize("threads", THREADS)
def test_a_header_longer_than_a_chunk(tmp_path: Path, threads: int) -> None:
    names = [f"col_{'h' * 100}_{i}" for i in range(200)]  # a 21 kB header
    data = (",".join(names) + "\n" + f"{','.join(['1'] * 200)}\n" * 500).encode()
    source = open_source(str(_write(tmp_path / "d.csv", data)))
    table = pa.Table.from_batches(_batches(source, threads, columns=names[::-1]))
    assert table.column_names == names[::-1]
    assert table.num_rows == 500


# -- stdin and pipes ---------------------------------------------------------------------------


@pytest.mark.parametrize("threads", THREADS)
def test_stdin(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    n = 120_000  # more than the probed head, so chunks follow it
    data = _rows(n, bad={110_000: "oops"})
    assert len(data) > 2 * formats._BLOCK
    monkeypatch.setattr(sys, "stdin", _FakeStdin(data))
    table = pa.Table.from_batches(_batches(open_source("-"), threads, columns=["id", "name"]))
    assert table.column("id").to_pylist() == list(range(n))
    assert table.column("name")[-1].as_py() == f"row{n - 1}"
    monkeypatch.setattr(sys, "stdin", _FakeStdin(data))
    message, rows = read_error(open_source("-"), threads, column_types={"score": pa.float64()})
    assert message == (
        f"<stdin>: column score, line 110002: value 'oops' is not a number; {_FORCED}"
    )
    assert rows <= 110_000


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("threads", [1, 2])
def test_gzip_named_pipe(tmp_path: Path, threads: int) -> None:
    n = 100_000
    data = gzip.compress(_rows(n))
    fifo = tmp_path / "preds.csv.gz"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(data,))
    writer.start()
    try:
        source = open_source(str(fifo))
        table = pa.Table.from_batches(_batches(source, threads, columns=["id"]))
    finally:
        writer.join()
    assert table.column("id").to_pylist() == list(range(n))


# -- errors: the same line, the earliest chunk first --------------------------------------------


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name", ["d.csv", "d.tsv.gz"])
def test_bad_value_in_a_late_chunk_names_its_line(tmp_path: Path, threads: int, name: str) -> None:
    data = _rows(3000, bad={2900: "abc"}, sep="\t" if ".tsv" in name else ",")
    source = open_source(str(_write(tmp_path / name, data)))
    message, rows = read_error(source, threads, column_types={"score": pa.float64()})
    assert (
        message == f"{source.path}: column score, line 2902: value 'abc' is not a number; {_FORCED}"
    )
    assert rows <= 2900


@pytest.mark.parametrize("threads", THREADS)
def test_a_late_row_with_too_many_fields(tmp_path: Path, threads: int) -> None:
    data = _rows(60_000).replace(b"\n55000,", b"\n55000,7,")
    assert data.index(b"55000,7,") > formats._BLOCK  # past the probed head
    source = open_source(str(_write(tmp_path / "d.csv", data)))
    message, rows = read_error(source, threads)
    assert message.startswith(f"{source.path}: line 55002: expected 4 fields, got 5 ('55000,7,")
    assert rows <= 55_000


@pytest.mark.parametrize("threads", THREADS[1:])
def test_line_numbers_match_one_reader_over_the_whole_file(tmp_path: Path, threads: int) -> None:
    # blank lines are not counted by pyarrow; chunks must count them the same way
    data = _rows(3000, bad={2950: "abc"}).replace(b"\n1000,", b"\n\n\n1000,")
    source = open_source(str(_write(tmp_path / "d.csv", data)))
    message, _ = read_error(source, threads, column_types={"score": pa.float64()})
    assert read_error(source, 1, column_types={"score": pa.float64()})[0] == message
    assert ", line 2952: " in message


@pytest.mark.parametrize("threads", THREADS)
def test_jsonl_errors_in_a_late_chunk(tmp_path: Path, threads: int) -> None:
    data = _jsonl(25_000, bad={24_000: '"high"'})
    assert data.index(b'"high"') > formats._BLOCK  # past the probed head
    path = _write(tmp_path / "d.jsonl", data)
    message, rows = read_error(open_source(str(path)), threads)
    assert message == (
        f"{path}: column score, line 24001: found a string but the column's first rows hold "
        "number values; make the column's values consistent"
    )
    assert rows <= 24_000
    path = _write(tmp_path / "e.jsonl", _jsonl(25_000, bad={23_000: "1,"}))
    message, _ = read_error(open_source(str(path)), threads)
    assert message.startswith(f"{path}: line 23001: invalid JSON (")


@pytest.mark.parametrize("threads", THREADS)
def test_the_earliest_bad_chunk_wins(
    tmp_path: Path, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _rows(3000, bad={700: "early", 900: "late"})
    chunks = [c.to_pybytes() for c in formats._chunks(io.BytesIO(data), b"")]
    early = next(i for i, c in enumerate(chunks) if b"early" in c)
    late = next(i for i, c in enumerate(chunks) if b"late" in c)
    assert 0 < early < late <= early + 2  # in flight together from two threads on
    path = _write(tmp_path / "d.csv", data)
    failed: list[str] = []
    late_failed = threading.Event()
    parse = Source._parse_chunk

    def slow_early(
        self: Source, names: list[str], types: dict[str, pa.DataType], chunk: tuple[int, object]
    ) -> Iterator[pa.RecordBatch]:
        which = {early: "early", late: "late"}.get(chunk[0], "other")
        if which == "early":
            assert late_failed.wait(10)  # with threads, the later chunk fails first
        try:
            yield from parse(self, names, types, chunk)
        except pa.ArrowInvalid:
            failed.append(which)
            late_failed.set()
            raise

    monkeypatch.setattr(Source, "_parse_chunk", slow_early)
    message, rows = read_error(
        open_source(str(path)), threads, column_types={"score": pa.float64()}
    )
    assert message.startswith(f"{path}: column score, line 702: value 'early' is not")
    assert rows <= 700
    assert failed == (["other"] if threads == 1 else ["late", "early"])  # 1: one reader


def test_a_read_error_comes_after_the_rows_before_it(tmp_path: Path) -> None:
    packed = gzip.compress(_rows(200_000))
    path = tmp_path / "d.csv.gz"
    path.write_bytes(packed[: len(packed) * 3 // 4])  # truncated, after the probed head
    seen = []
    for threads in THREADS:
        message, rows = read_error(open_source(str(path)), threads, batch_size=100)
        assert message == (
            f"{path}: cannot read as CSV (gzip-compressed): Truncated compressed stream"
        )
        seen.append(rows)
    assert seen[0] > 10_000  # one reader
    assert seen[1] == seen[2] > 100_000  # every whole chunk before the cut


# -- threads and memory ------------------------------------------------------------------------


@pytest.mark.parametrize("threads", THREADS)
def test_parsing_runs_on_the_threads_asked_for_and_not_far_ahead(
    tmp_path: Path, threads: int, monkeypatch: pytest.MonkeyPatch, parsed_on: list[str]
) -> None:
    source = open_source(str(_write(tmp_path / "d.csv", _rows(5000))))
    read: list[int] = []
    chunks = formats._chunks

    def count_chunks(*args: object) -> Iterator[pa.Buffer]:
        for chunk in chunks(*args):
            read.append(chunk.size)
            yield chunk

    monkeypatch.setattr(formats, "_chunks", count_chunks)
    batches = source.batches(batch_size=10, threads=threads)
    next(batches)
    time.sleep(0.05)  # time for the pool to run ahead, if it would
    assert len(read) == (0 if threads == 1 else formats.PARSE_AHEAD * threads)  # bounded
    rest = list(batches)
    assert sum(b.num_rows for b in rest) == 5000 - 10
    names = set(parsed_on)
    if threads == 1:  # one reader over the whole text, on the calling thread
        assert (read, parsed_on) == ([], [threading.current_thread().name])
    else:
        ahead = formats.PARSE_AHEAD * threads
        assert len(read) == len(parsed_on) == _chunk_count(_rows(5000)) > ahead
        assert all(n.startswith("ce-parse") for n in names)
        assert len(names) <= threads


def test_stopping_early_stops_the_pool(tmp_path: Path) -> None:
    source = open_source(str(_write(tmp_path / "d.csv", _rows(5000))))
    before = threading.active_count()
    batches = source.batches(batch_size=10, threads=4)
    next(batches)
    assert threading.active_count() > before
    batches.close()
    assert threading.active_count() == before


def test_zero_threads_means_every_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parsed_on: list[str]
) -> None:
    source = open_source(str(_write(tmp_path / "d.csv", _rows(3000))))
    assert formats.default_threads() >= 1
    monkeypatch.setattr(formats, "default_threads", lambda: 3)
    assert pa.Table.from_batches(_batches(source, 0)).equals(
        pa.Table.from_batches(_batches(source, 1))
    )
    *chunks, whole = parsed_on
    assert whole == threading.current_thread().name  # threads=1: one reader
    assert len(chunks) == _chunk_count(_rows(3000))
    assert all(n.startswith("ce-parse") for n in chunks) and len(set(chunks)) <= 3
    with pytest.raises(ValueError, match="threads must be >= 0"):
        source.batches(threads=-1)


@pytest.mark.parametrize("threads", [1, 3])
def test_several_files_pass_threads_on(tmp_path: Path, threads: int, parsed_on: list[str]) -> None:
    for k in range(3):
        _write(tmp_path / f"part{k}.csv", _rows(2000))
    multi = open_input([str(tmp_path)])
    got = list(multi.batches(["id"], 700, threads=threads))
    assert [b.num_rows for b in got] == [700] * 8 + [400]
    ids = pa.Table.from_batches(got).column("id").to_pylist()
    assert ids == list(range(2000)) * 3
    if threads == 1:
        assert parsed_on == [threading.current_thread().name] * 3  # one reader per file
    else:
        assert len(parsed_on) == 3 * _chunk_count(_rows(2000))
        assert all(n.startswith("ce-parse") for n in parsed_on)


# -- rows longer than the block ------------------------------------------------------------------

SMALL_BLOCK = 4096


def _long_cell(n: int, at: int, size: int, jsonl: bool = False) -> bytes:
    """`_rows(n)` (or `_jsonl(n)`) whose row `at` has a `size`-byte name."""
    long = "L" * size
    if jsonl:
        lines = _jsonl(n).decode().splitlines(keepends=True)
        lines[at] = lines[at].replace(f'"row{at}"', f'"{long}"')
        return "".join(lines).encode()
    lines = _rows(n).decode().splitlines(keepends=True)
    lines[at + 1] = lines[at + 1].replace(f"row{at}", long)
    return "".join(lines).encode()


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 4 KiB (pyarrow's unit of parsing), so that a 40 kB cell is a long row."""
    monkeypatch.setattr(formats, "_BLOCK", SMALL_BLOCK)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name", ["d.csv", "d.jsonl", "d.csv.gz"])
@pytest.mark.parametrize("at", [0, 2500])  # in the probed head, and far beyond it
def test_a_row_longer_than_the_block_grows_it(
    tmp_path: Path, threads: int, name: str, at: int
) -> None:
    n, size = 3000, 40_000
    data = _long_cell(n, at, size, jsonl=name.endswith(".jsonl"))
    source = open_source(str(_write(tmp_path / name, data)))
    table = pa.Table.from_batches(_batches(source, threads, columns=["id", "name"], batch_size=97))
    assert table.column("id").to_pylist() == list(range(n))
    names = table.column("name").to_pylist()
    assert names[at] == "L" * size
    assert names[:at] + names[at + 1 :] == [f"row{i}" for i in range(n) if i != at]
    assert SMALL_BLOCK * 8 <= source._block <= 2 * formats.MAX_BLOCK  # kept for the next read
    again = pa.Table.from_batches(_batches(source, threads, columns=["id", "name"]))
    assert again.equals(table)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name, line", [("d.csv", 2502), ("d.jsonl", 2501)])
def test_a_row_longer_than_the_largest_block(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, threads: int, name: str, line: int
) -> None:
    monkeypatch.setattr(formats, "MAX_BLOCK", 4 * SMALL_BLOCK)
    data = _long_cell(3000, 2500, 40_000, jsonl=name.endswith(".jsonl"))
    path = _write(tmp_path / name, data)
    message, rows = read_error(open_source(str(path)), threads, columns=["id"], batch_size=100)
    assert message == (
        f"{path}: line {line}: a row longer than 16 KiB, the longest ce reads; drop the long "
        "column from the file (or shorten that cell), or convert the file to Parquet"
    )
    assert rows == 2500
    early = _write(tmp_path / f"early-{name}", _long_cell(3000, 0, 40_000, name.endswith("l")))
    with pytest.raises(CEError) as info:  # in the probed head: found before any batch
        open_source(str(early))
    assert str(info.value).startswith(f"{early}: line {line - 2500}: a row longer than 16 KiB")


@pytest.mark.usefixtures("small_blocks")
def test_a_long_row_on_a_pipe_read_by_one_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipe cannot be parsed again: one thread says so; chunks (in memory) grow the block."""
    data = _long_cell(3000, 2500, 40_000)
    monkeypatch.setattr(sys, "stdin", _FakeStdin(data))
    message, rows = read_error(open_source("-"), 1, columns=["id"], batch_size=100)
    assert message == (
        "<stdin>: line 2502: a row longer than 4 KiB, and a pipe cannot be read again with "
        "larger blocks; save the input to a file (ce reads rows of up to 256 MiB from files)"
    )
    assert rows == 2500
    monkeypatch.setattr(sys, "stdin", _FakeStdin(data))
    table = pa.Table.from_batches(_batches(open_source("-"), 2, columns=["id"]))
    assert table.column("id").to_pylist() == list(range(3000))
