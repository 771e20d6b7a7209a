"""CSV chunks are cut only between records: quoted fields may hold line breaks.

``cuts.record_end`` follows the quotes when they alternate open/close as pyarrow reads them; text
whose quotes it cannot follow is read by one reader from the last safe cut on. Either way the
batches, their values and the line numbers in messages are those of one reader over the file.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from conftest import read_error

from ce_cli.core.errors import CEError
from ce_cli.io import cuts, formats
from ce_cli.io.formats import Source, open_source

THREADS = [1, 2, 4]
CHUNKS = [512, 4096, 65536]  # bytes per chunk: a few rows, many rows, the whole small file
_FORCED = "check the column or pass the right --pred-cols"


def _quoted(
    n: int,
    every: int = 3,
    nl: str = "\n",
    bad: dict[int, str] | None = None,
    odd: dict[int, str] | None = None,
) -> bytes:
    """A quoted header and `n` rows ``id,label,score,note``; every `every`-th note is quoted and
    holds line breaks, a doubled quote and a comma; `bad` replaces scores, `odd` notes."""
    bad, odd = bad or {}, odd or {}
    lines = ['"id","label","score","note"']
    for i in range(n):
        note = f'"line one{nl}said ""hi"", {i}{nl}"' if i % every == 1 else f"plain{i}"
        score = bad.get(i, f"{(i % 97) / 97:.6f}")
        lines.append(",".join((str(i), str(i % 3), score, odd.get(i, note))))
    return (nl.join(lines) + nl).encode()


def _notes(n: int, every: int = 3, nl: str = "\n") -> list[str]:
    return [f'line one{nl}said "hi", {i}{nl}' if i % every == 1 else f"plain{i}" for i in range(n)]


def _source(tmp_path: Path, data: bytes, name: str = "d.csv") -> Source:
    path = tmp_path / name
    compression = {".gz": "gzip", ".zst": "zstd"}.get(path.suffix)
    with pa.output_stream(str(path), compression=compression) as out:
        out.write(data)
    return open_source(str(path))


def _table(source: Source, threads: int, **kwargs: object) -> pa.Table:
    batches = list(source.batches(threads=threads, **kwargs))  # type: ignore[arg-type]
    return pa.Table.from_batches(batches, schema=batches[0].schema if batches else None)


def _cut(
    data: bytes, chunk: int, monkeypatch: pytest.MonkeyPatch, delimiter: str = ","
) -> tuple[list[bytes], bool]:
    """The chunks of `data` as CSV (and whether they stopped early for one reader)."""
    monkeypatch.setattr(formats, "CHUNK_BYTES", chunk)
    rest = formats._Rest()
    stream = io.BytesIO(data)
    chunks = [c.to_pybytes() for c in formats._chunks(stream, b"", ord(delimiter), rest)]
    return chunks, rest.stopped


# -- record_end ---------------------------------------------------------------------------------


def _end(text: bytes, delimiter: str = ",") -> int | None:
    return cuts.record_end(memoryview(text), len(text), ord(delimiter))


@pytest.mark.parametrize(
    "text, cut",
    [
        (b"a,b\n1,2\n3,", 8),  # no quote: the last line break
        (b'"a","b"\n1,2\n3,', 12),  # a quoted header
        (b'a,b\n1,"x\ny"\n2,"p\nq', 12),  # the last line break is inside "p…q"
        (b'a,b\n1,"x\ny', 4),  # only the header ends outside quotes
        (b'1,"x ""q"" y\nmore\n', 0),  # an open field: no record ends here
        (b'a,b\n1,""\n2,"""a"""\n', 19),  # empty and doubled quotes
        (b'a,b\r\n1,"x\r\ny"\r\n2,', 15),  # CR LF
        (b'\xef\xbb\xbf"a",b\n1,2\n', 13),  # a UTF-8 BOM before the quoted header
        (b"a,b\n1,5'3\"\n2,x\n", None),  # a literal quote in an unquoted field
        (b'a,b\n1,"x"y\n2,z\n', None),  # text after a closing quote
        (b'a,b\n1, "x"\n2,z\n', None),  # a space before an opening quote
    ],
)
def test_record_end(text: bytes, cut: int | None) -> None:
    assert _end(text) == cut


def test_a_bom_only_at_the_start_of_the_text() -> None:
    text = b'\xef\xbb\xbf"a",b\n1,2\n'
    assert cuts.record_end(memoryview(text), len(text), ord(","), first=True) == 13
    assert cuts.record_end(memoryview(text), len(text), ord(","), first=False) is None


def test_record_end_with_tabs() -> None:
    assert _end(b'a\tb\n1\t"x\ny"\n2\t', "\t") == 12
    assert _end(b'a\tb\n1\t"x\ny"\n2\t', ",") is None  # the quote does not start a field


def test_record_end_agrees_with_pyarrow_at_every_length() -> None:
    """Every prefix of a quoted text: the cut is a record end pyarrow agrees with."""
    text = _quoted(40, every=2, nl="\r\n")
    whole = pcsv.read_csv(
        io.BytesIO(text), parse_options=pcsv.ParseOptions(newlines_in_values=True)
    )
    starts = {0}
    for end in range(1, len(text) + 1, 7):
        cut = _end(text[:end])
        assert cut is not None
        starts.add(cut)
    rows = sorted(starts)
    for cut in rows[1:]:  # each cut is after the header or after a whole row
        head = pcsv.read_csv(
            io.BytesIO(text[:cut]), parse_options=pcsv.ParseOptions(newlines_in_values=True)
        )
        assert head.to_pylist() == whole.slice(0, head.num_rows).to_pylist()
    assert len(rows) > 30


@pytest.mark.parametrize("at", [0, cuts._PIECE - 1, cuts._PIECE, 3 * cuts._PIECE + 5])
def test_has_quote_searches_every_piece_up_to_end(at: int) -> None:
    text = bytearray(b"x" * (4 * cuts._PIECE))
    assert not cuts.has_quote(memoryview(text), len(text))
    text[at] = cuts.QUOTE
    assert cuts.has_quote(memoryview(text), len(text))
    assert cuts.has_quote(memoryview(text), at + 1)
    assert not cuts.has_quote(memoryview(text), at)


def test_quotes_alternate_checks_every_quote() -> None:
    data = np.frombuffer(b'"a",x\n"b""c",y\n', dtype=np.uint8)
    quotes = np.flatnonzero(data == cuts.QUOTE)
    assert cuts.quotes_alternate(data, quotes, ord(","))
    data = np.frombuffer(b'"a",x\n"b"c",y\n', dtype=np.uint8)
    assert not cuts.quotes_alternate(data, np.flatnonzero(data == cuts.QUOTE), ord(","))


# -- the same batches as one reader ----------------------------------------------------------------


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("nl", ["\n", "\r\n"])
@pytest.mark.parametrize("name", ["d.csv", "d.csv.gz", "d.tsv"])
def test_quoted_line_breaks_give_identical_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, nl: str, name: str
) -> None:
    n = 1500
    data = _quoted(n, nl=nl)
    if name.endswith(".tsv"):
        data = data.replace(b",", b"\t")
    chunks, stopped = _cut(data, chunk, monkeypatch, "\t" if name.endswith(".tsv") else ",")
    assert not stopped and b"".join(chunks) == data
    if chunk < len(data):
        assert len(chunks) > 3
        assert all(c.endswith((b"\n", b"\r")) for c in chunks)
    source = _source(tmp_path, data, name)
    expected = _table(source, 1, batch_size=128)
    assert expected.column("id").to_pylist() == list(range(n))
    notes = _notes(n, nl=nl)
    if name.endswith(".tsv"):
        notes = [s.replace(",", "\t") for s in notes]
    assert expected.column("note").to_pylist() == notes
    for threads in THREADS[1:]:
        got = list(source.batches(threads=threads, batch_size=128))
        assert [b.num_rows for b in got] == [128] * (n // 128) + [n % 128]
        assert pa.Table.from_batches(got).equals(expected)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("chunk", CHUNKS)
def test_a_bad_value_after_quoted_line_breaks_names_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int, chunk: int
) -> None:
    monkeypatch.setattr(formats, "CHUNK_BYTES", chunk)
    source = _source(tmp_path, _quoted(1500, bad={1400: "oops"}))
    message, rows = read_error(source, threads, column_types={"score": pa.float64()})
    # pyarrow counts records: the header is line 1, row 1400 is record 1402
    assert (
        message
        == f"{source.path}: column score, line 1402: value 'oops' is not a number; {_FORCED}"
    )
    assert rows <= 1400


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("chunk", CHUNKS)
def test_quotes_that_cannot_be_followed_are_read_by_one_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int, chunk: int
) -> None:
    n = 1500
    data = _quoted(n, odd={700: "she is 5'3\" tall"})
    chunks, stopped = _cut(data, chunk, monkeypatch)
    assert len(data) < 65536
    assert stopped == (chunk < len(data))  # the chunks before the literal quote, then one reader
    assert len(chunks) > 2 if stopped else len(chunks) == 1
    source = _source(tmp_path, data)
    table = _table(source, threads, batch_size=100)
    assert table.column("id").to_pylist() == list(range(n))
    notes = _notes(n)
    notes[700] = "she is 5'3\" tall"
    assert table.column("note").to_pylist() == notes
    message, rows = read_error(
        _source(tmp_path, _quoted(n, bad={1300: "x"}, odd={700: "5'3\""}), "e.csv"),
        threads,
        column_types={"score": pa.float64()},
    )
    assert message.endswith(f"column score, line 1302: value 'x' is not a number; {_FORCED}")
    assert rows <= 1300


@pytest.mark.parametrize("threads", THREADS)
def test_one_reader_after_the_chunks_grows_its_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """A row longer than the block after the point where the chunks stopped: the rest is
    parsed again with larger blocks from that point (the file is read again and skipped)."""
    monkeypatch.setattr(formats, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(formats, "_BLOCK", 4096)
    n, long = 3000, "L" * 40_000
    data = _quoted(n, odd={500: "5'3\"", 2500: long})
    source = _source(tmp_path, data, "d.csv.gz")
    table = _table(source, threads, columns=["id", "note"], batch_size=97)
    assert table.column("id").to_pylist() == list(range(n))
    notes = table.column("note").to_pylist()
    assert (notes[500], notes[2500], notes[2499]) == ("5'3\"", long, "plain2499")


@pytest.mark.parametrize("threads", THREADS)
def test_stdin_with_quoted_line_breaks(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    monkeypatch.setattr(formats, "CHUNK_BYTES", 4096)
    n = 80_000  # past the probed head
    for odd in ({}, {60_000: "5'3\""}):
        data = _quoted(n, odd=odd)
        assert len(data) > 2 * formats._BLOCK
        monkeypatch.setattr(sys, "stdin", _Stdin(data))
        table = _table(open_source("-"), threads, columns=["id", "note"])
        assert table.column("id").to_pylist() == list(range(n))
        assert table.column("note").to_pylist() == [odd.get(i, s) for i, s in enumerate(_notes(n))]


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


# -- edges -------------------------------------------------------------------------------------


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("chunk, n", [(512, 1000), (4096, 1000), (65536, 1000), (4096, 40_000)])
@pytest.mark.parametrize("every", [2, 3])  # the last row's note quoted, or plain
def test_no_final_line_break(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int, chunk: int, n: int, every: int
) -> None:
    monkeypatch.setattr(formats, "CHUNK_BYTES", chunk)
    data = _quoted(n, every=every).rstrip(b"\n")
    assert (len(data) > formats._BLOCK) == (n > 1000)  # in the probed head, and beyond it
    table = _table(_source(tmp_path, data), threads)
    assert table.column("id").to_pylist() == list(range(n))
    assert table.column("note").to_pylist() == _notes(n, every=every)


@pytest.mark.parametrize("threads", THREADS[1:])
def test_a_bom_before_a_quoted_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    data = b"\xef\xbb\xbf" + _quoted(1500)
    chunks, stopped = _cut(data, 512, monkeypatch)
    assert not stopped and len(chunks) > 3  # still cut in parallel
    source = _source(tmp_path, data)
    assert source.schema.names == ["id", "label", "score", "note"]
    assert _table(source, threads).equals(_table(source, 1))
    assert _table(source, threads).column("note").to_pylist() == _notes(1500)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("header", [b'"id","note"\n', b'"id","note"', b"id,note\r\n"])
def test_header_only(tmp_path: Path, threads: int, header: bytes) -> None:
    source = _source(tmp_path, header)
    assert source.schema.names == ["id", "note"]
    assert list(source.batches(threads=threads)) == []


def test_a_stray_quote_late_in_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unclosed quote takes the rest of the file into one field: the same message either way,
    and chunks that find no record end within MAX_BLOCK stop (bounded memory)."""
    monkeypatch.setattr(formats, "MAX_BLOCK", 1 << 20)
    data = b"a,b\n" + b"3,4\n" * 300_000 + b'"1,2\n' + b"3,4\n" * 1_000_000
    path = tmp_path / "d.csv"
    path.write_bytes(data)
    messages = set()
    for threads in THREADS:
        with pytest.raises(CEError) as info:
            list(open_source(str(path)).batches(threads=threads))
        messages.add(str(info.value))
    assert len(messages) == 1
    assert messages.pop().startswith(f"{path}: line 300002: a row longer than 1 MiB, the longest")
    chunks, stopped = _cut(data, 1 << 16, monkeypatch)
    assert stopped and sum(map(len, chunks)) == data.index(b'"1,2')
