"""File formats → streams of ``pyarrow.RecordBatch`` with bounded memory.

Every reader is a pyarrow streaming reader (never pandas): ``open_csv``, ``open_json``,
``ParquetFile.iter_batches`` (``pre_buffer=False``) and the IPC file/stream readers over a
memory map (for a URI: over the pyarrow filesystem's files and streams, ``ce_cli.io.remote``).

Text formats (CSV, TSV, JSON Lines) are parsed by ``open_csv``/``open_json`` readers with
1 MiB blocks, ``use_threads=False`` and every read column pinned to the probed type. On one
thread, one reader streams the whole (decompressed) text. On ``threads`` > 1 the calling thread
cuts the text into chunks of whole records (``CHUNK_BYTES``; a longer record makes a longer
chunk; near the end of a local uncompressed file, shorter ones down to ``TAIL_BYTES``, so that
no thread parses a long last chunk alone), each parsed by its own reader on a pool, at most
``PARSE_AHEAD`` chunks per thread in flight, and yielded strictly in file order, so memory is
bounded by the chunk size. A CSV chunk after the first is read with the header's column names.
Parsed blocks are re-cut to batches of exactly ``batch_size`` rows (``rechunk``); a batch made of
several blocks is copied once, its numeric columns laid out as one (K, n) block that the decode
views (``ce_cli.io.blocks``). Quoted CSV fields may hold line breaks
(pyarrow's ``newlines_in_values``): a CSV chunk ends only at a line break outside quoted fields
(``ce_cli.io.cuts.record_end``). Where the quotes do not follow the pattern that checks (a
literal ``"`` inside an unquoted field), or no record ends within ``MAX_BLOCK``, the chunks stop
and one reader on the calling thread reads the rest of the text. pyarrow numbers the rows of
what it parsed; adding the rows of the earlier chunks makes the line numbers in messages those
of one reader over the whole file, and the first failing chunk's error is the one raised, after
every batch before it.
(Measured on 2 cores, 203 MB of CSV with 100 float columns: ~1.0 s on one thread, ~0.6 s in
chunks on two; chunks parsed on one thread were ~8 % slower than the single reader.) Every
pyarrow failure becomes a one-line ``CEError``.

A row longer than the block (pyarrow: "straddling object") is not an error: the text (the file,
or the chunk in memory) is parsed again with blocks twice as large, up to ``MAX_BLOCK``
(256 MiB), skipping the rows already given; later readers start with the grown block. Only a row
longer than that, or a long row in a pipe read by one reader (a pipe cannot be read again), is
an error naming its line. For a URI, a failure of the store or the network (a timeout, a
refused or closed connection) is reported as such (``ce_cli.io.remote.error``), not as a
corrupt file.

Line numbers in messages count the CSV header as line 1 and assume no blank lines or quoted
newlines (pyarrow counts records, not physical lines).
"""

from __future__ import annotations

import copy
import io
import itertools
import os
import re
import stat
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from typing import Any, BinaryIO, TypeVar

import pyarrow as pa

from ce_cli.core.errors import CEError
from ce_cli.core.listing import shortened
from ce_cli.io.blocks import join
from ce_cli.io.cuts import line_end, record_end
from ce_cli.io.remote import RemoteFile, is_remote_failure
from ce_cli.io.remote import error as remote_error

FORMATS: tuple[str, ...] = ("csv", "tsv", "parquet", "ipc", "jsonl")

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "ipc",
    ".feather": "ipc",
    ".ipc": "ipc",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd"}
_ALIASES = {"arrow": "ipc", "feather": "ipc", "ndjson": "jsonl"}
_TEXT_FORMATS = ("csv", "tsv", "jsonl")
_NAMES = {
    "csv": "CSV",
    "tsv": "TSV",
    "parquet": "Parquet",
    "ipc": "Arrow IPC",
    "jsonl": "JSON Lines",
}
_BLOCK = 1 << 20  # bytes per text block: the unit of type inference and of pyarrow's parsing
MAX_BLOCK = 256 << 20  # the longest row read: blocks grow (doubling) up to this size
_STRADDLING = "straddling object straddles two block boundaries"
CHUNK_BYTES = 8 << 20  # bytes of text per chunk: the unit of parallel parsing
PARSE_AHEAD = 4  # chunks per thread parsed ahead of the one taken
TAIL_BYTES = 1 << 20  # the shortest chunk read near the end of a text of known size
_EMPTY = ("Empty CSV file", "Empty JSON stream")
_PRED_HINT = "check the column or pass the right --pred-cols"
_Text = tuple[Any, Callable[[], Any] | None]  # a stream to parse, and how to open it again
_INFERRED_HINT = "make the column's values consistent"


def default_threads() -> int:
    """The cores this process may run on (what ``--threads 0`` means)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def detect_format(path: str, override: str | None = None) -> tuple[str, str | None]:
    """(format, compression) from the file extension, or from `override` (one of FORMATS).

    '-' means CSV on stdin (or `override`); compression is 'gzip', 'bz2', 'zstd' or None.
    """
    fmt = None
    if override is not None:
        fmt = _ALIASES.get(override.lower(), override.lower())
        if fmt not in FORMATS:
            raise CEError(f"unknown input format {override!r}; choose one of {', '.join(FORMATS)}")
    if path == "-":
        return fmt or "csv", None
    stem, ext = os.path.splitext(os.path.basename(path).lower())
    compression = _COMPRESSIONS.get(ext)
    if compression is not None:
        stem, ext = os.path.splitext(stem)
    if fmt is None:
        fmt = _EXTENSIONS.get(ext)
    if fmt is None:
        what = f"unknown file extension {ext!r}" if ext else "no file extension"
        raise CEError(
            f"{path}: {what}; supported: {' '.join(_EXTENSIONS)} (text formats also with "
            f"{' '.join(_COMPRESSIONS)}); pass --input-format {'|'.join(FORMATS)}"
        )
    if compression is not None and fmt not in _TEXT_FORMATS:
        raise CEError(
            f"{path}: compressed {_NAMES[fmt]} files are not supported ({_NAMES[fmt]} "
            "compresses internally); decompress it first"
        )
    return fmt, compression


class Source:
    """One input file (or stdin) whose schema is known before the first batch is read."""

    path: str
    format: str
    schema: pa.Schema
    num_rows: int | None

    def __init__(
        self,
        path: str,
        fmt: str,
        compression: str | None = None,
        pipe: BinaryIO | None = None,
        close_pipe: bool = False,
        fs: Any = None,
        location: str | None = None,
    ) -> None:
        """Probe `path` (or the one-shot `pipe`, e.g. stdin) for its schema; see open_source.

        With `fs` (a pyarrow filesystem) the file is `location` on it and `path` is the URI
        that names it in messages.
        """
        self.path = path
        self.format = fmt
        self.compression = compression
        self._fs = fs
        self._location = location if location is not None else path
        self.num_rows = None
        self.row_groups: tuple[int, ...] | None = None  # Parquet: read only these
        self._group_rows: list[int] = []  # Parquet: rows per row group, from the probe
        self._pipe: Any = None  # decompressed one-shot stream, read after `_head`
        self._owned = pipe if close_pipe else None  # a named pipe we opened: close after use
        self._head = b""  # bytes already taken from the pipe to infer the schema
        self._whole: bytes | None = None  # the whole text when it lacks its final newline
        self._used = False
        self._block = _BLOCK
        self._ipc_stream = False
        if fmt in _TEXT_FORMATS:
            self.schema = self._probe_text(pipe)
        elif fmt == "parquet":
            self.schema = self._probe_parquet()
        else:
            self.schema = self._probe_ipc()

    def __repr__(self) -> str:
        return f"Source({self.path!r}, format={self.format!r}, num_rows={self.num_rows})"

    def batches(
        self,
        columns: list[str] | None = None,
        batch_size: int = 65536,
        column_types: dict[str, pa.DataType] | None = None,
        threads: int = 1,
    ) -> Iterator[pa.RecordBatch]:
        """Yield batches of exactly `batch_size` rows (the last may be shorter, none empty).

        Only `columns` are read, in the order given. `column_types` forces those columns'
        types: at parse time for text formats, by a cast for Parquet/IPC. Text formats are
        parsed on `threads` threads (1: on the calling thread; 0: every core), batches still in
        file order; Parquet and IPC ignore it. Files may be read any number of times, stdin and
        pipes once.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if threads < 0:
            raise ValueError(f"threads must be >= 0, got {threads}")
        names = self._check_columns(columns, column_types)
        types = {n: t for n, t in (column_types or {}).items() if n in names}
        if self._pipe is not None:
            if self._used:
                raise CEError(
                    f"{self.path}: standard input or a pipe can only be read once; "
                    "save it to a file to read it again"
                )
            self._used = True
        if self.format in _TEXT_FORMATS:
            raw = self._text_batches(names, types, threads or default_threads())
        elif self.format == "parquet":
            raw = self._parquet_batches(names, types, batch_size)
        else:
            raw = self._ipc_batches(names, types)
        return rechunk(raw, batch_size)

    # -- for engines that read the file elsewhere ---------------------------------------------

    @property
    def is_remote(self) -> bool:
        """Read through a pyarrow filesystem (a URI), not by a local path."""
        return self._fs is not None

    def absolute(self) -> Source:
        """This source with a local path made absolute (a worker has another directory)."""
        if self._fs is not None or os.path.isabs(self.path):
            return self
        out = copy.copy(self)
        out.path = out._location = os.path.abspath(self.path)
        return out

    def row_group_sizes(self) -> list[int]:
        """Rows per row group of a Parquet file ([] for other formats), as probed."""
        return list(self._group_rows)

    def with_row_groups(self, row_groups: tuple[int, ...], rows: int) -> Source:
        """This Parquet source reading only ``row_groups`` (``rows`` rows)."""
        out = copy.copy(self)
        out.row_groups, out.num_rows = row_groups, rows
        return out

    # -- probing ---------------------------------------------------------------------------

    def _probe_text(self, pipe: BinaryIO | None) -> pa.Schema:
        """Infer the schema from the first block (>= 1 MiB and a whole row, or all the text)."""
        try:
            stream = (
                self._open_text()
                if pipe is None
                else pa.input_stream(pipe, compression=self.compression)
            )
            head, complete = _read_head(stream)
        except (pa.ArrowException, OSError) as exc:
            raise self._text_error(exc, 0, {}) from None
        if pipe is not None:
            self._pipe, self._head = stream, head
        else:
            stream.close()
        if not head.strip():
            raise CEError(f"{self.path}: {'input' if pipe is not None else 'file'} is empty")
        # pyarrow needs the header (CSV) or the first row (JSON) inside its first block
        self._block = max(_BLOCK, 2 * (head.find(b"\n") + 1 or len(head)))
        if complete:  # the whole text: make sure its last line ends
            if not head.endswith((b"\n", b"\r")):
                self._whole = head + b"\n"
            sample = self._whole or head
        else:
            sample = head[: head.rfind(b"\n") + 1]
        try:
            block = max(self._block, len(sample) + 1)  # the sample in one block
            reader = self._text_reader(pa.BufferReader(sample), None, None, block=block)
        except (pa.ArrowException, OSError) as exc:
            raise self._text_error(exc, 0, {}) from None
        reader.close()
        return reader.schema

    def _probe_parquet(self) -> pa.Schema:
        import pyarrow.parquet as pq

        handle = self._open_random() if self._fs is not None else None
        try:
            pf = pq.ParquetFile(self.path if handle is None else handle, pre_buffer=False)
        except (pa.ArrowException, OSError) as exc:
            _close(handle)
            raise self._corrupt(exc) from None
        try:
            meta = pf.metadata
            self.num_rows = meta.num_rows
            self._group_rows = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
            return pf.schema_arrow
        finally:
            pf.close()
            _close(handle)

    def _probe_ipc(self) -> pa.Schema:
        with self._open_random() as src:
            reader = self._ipc_reader(src, None)
            if not self._ipc_stream:
                try:
                    self.num_rows = reader.count_rows()
                except (pa.ArrowException, OSError) as exc:
                    raise self._corrupt(exc) from None
            return reader.schema

    # -- reading ---------------------------------------------------------------------------

    def _text_reader(
        self,
        stream: Any,
        names: list[str] | None,
        types: dict[str, pa.DataType] | None,
        header: bool = True,
        block: int | None = None,
    ) -> Any:
        """A pyarrow streaming CSV/JSON reader over `stream` (it parses the first block).

        Without `header`, a CSV stream starts with a row and has the probed column names.
        `block`: bytes per block (default: the source's), longer than any row.
        """
        block = block or self._block
        if self.format == "jsonl":
            import pyarrow.json as pj

            parse = pj.ParseOptions()
            if names is not None and types is not None:
                fields = [pa.field(n, types[n]) for n in names]
                parse = pj.ParseOptions(
                    explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore"
                )
            read = pj.ReadOptions(use_threads=False, block_size=block)
            return pj.open_json(stream, read_options=read, parse_options=parse)
        import pyarrow.csv as pcsv

        read = pcsv.ReadOptions(
            use_threads=False,
            block_size=block,
            column_names=None if header else self.schema.names,
        )
        return pcsv.open_csv(
            stream,
            read_options=read,
            parse_options=pcsv.ParseOptions(
                delimiter="\t" if self.format == "tsv" else ",", newlines_in_values=True
            ),
            convert_options=pcsv.ConvertOptions(include_columns=names, column_types=types),
        )

    def _text_batches(
        self, names: list[str], forced: dict[str, pa.DataType], threads: int
    ) -> Iterator[pa.RecordBatch]:
        # Pin every read column to the probed type, so no later chunk can change it.
        types = {n: forced.get(n, self.schema.field(n).type) for n in names}
        parse = partial(self._parse_chunk, names, types)
        stream: Any = None
        rows = 0
        try:
            stream, head = self._text_stream()
            rest = _Rest()
            if threads > 1:
                chunks = _chunks(stream, head, self._delimiter(), rest, self._text_size())
                texts: Iterable[_Text] = map(_buffer_text, chunks)
            else:  # one reader over the whole text
                texts = [self._whole_text(stream, head)]
            with closing(_in_order(parse, enumerate(texts), threads)) as parsed:
                then = self._rest_parsed(parse, rest, stream)  # where the chunks stopped early
                for index, batches in enumerate(itertools.chain(parsed, then)):
                    lines_before = rows + 1 if index else 0  # CSV: the header, earlier chunks
                    try:
                        for batch in batches:
                            rows += batch.num_rows
                            yield batch
                    except (pa.ArrowException, OSError) as exc:
                        raise self._text_error(exc, rows, forced, lines_before) from None
        except (pa.ArrowException, OSError) as exc:
            raise self._text_error(exc, rows, forced) from None
        finally:
            if stream is not None and stream is not self._pipe:
                stream.close()
            if self._owned is not None:
                self._owned.close()

    def _delimiter(self) -> int | None:
        """The CSV delimiter's byte, for cutting the text outside quoted fields (None: JSON)."""
        return {"csv": ord(","), "tsv": ord("\t")}.get(self.format)

    def _rest_parsed(
        self,
        parse: Callable[[tuple[int, _Text]], Iterator[pa.RecordBatch]],
        rest: _Rest,
        stream: Any,
    ) -> Iterator[Iterator[pa.RecordBatch]]:
        """The batches of the text after the chunks, when they stopped early: one reader on
        this thread, streaming (bounded memory however long the rest)."""
        if not rest.stopped:
            return
        text = pa.PythonFile(_Prefixed(rest.head, stream), mode="r")
        again = None
        if stream is not self._pipe:
            again = partial(_skipped, self._text_stream, rest.offset)
        yield parse((rest.index, (text, again)))

    def _text_stream(self) -> tuple[Any, bytes]:
        """The text to read: a stream, and the bytes that come before it."""
        if self._whole is not None:
            return pa.BufferReader(self._whole), b""
        if self._pipe is not None:
            return self._pipe, self._head
        return self._open_text(), b""

    def _text_size(self) -> int | None:
        """Bytes of text to read, when known before reading it (a local uncompressed file)."""
        if self._whole is not None:
            return len(self._whole)
        if self._pipe is not None or self._fs is not None or self.compression:
            return None
        try:
            return os.path.getsize(self.path)
        except OSError:
            return None

    def _whole_text(self, stream: Any, head: bytes) -> _Text:
        """The whole text as one reader's input: ``stream`` after ``head``, and how to read it
        again from its start (not a pipe: that is read once)."""
        if head:  # a pipe's first bytes, taken to infer the schema
            return pa.PythonFile(_Prefixed(head, stream), mode="r"), None
        if stream is self._pipe:
            return stream, None
        return stream, lambda: self._text_stream()[0]

    def _parse_chunk(
        self, names: list[str], types: dict[str, pa.DataType], chunk: tuple[int, _Text]
    ) -> Iterator[pa.RecordBatch]:
        """The batches of chunk `(index, (stream, again))`; only the first holds the CSV header.

        A row longer than the block (pyarrow: "straddling object") is read by parsing the text
        again (``again()``: a new stream over it) with blocks twice as large, up to MAX_BLOCK,
        skipping the rows already given.
        """
        index, (stream, again) = chunk
        block, given, opened = self._block, 0, False
        try:
            while True:
                try:
                    parsed = self._parsed(stream, names, types, index == 0, block)
                    for batch in _skip(parsed, given):
                        given += batch.num_rows
                        yield batch
                    return
                except pa.ArrowInvalid as exc:
                    if not str(exc).startswith(_STRADDLING):
                        raise
                    block = self._grown(block, again is not None)
                if opened:
                    stream.close()
                stream, opened = again(), True  # type: ignore[misc]
        except (pa.ArrowException, OSError) as exc:
            if index == 0 or not str(exc).startswith(_EMPTY):  # a later one may be blank lines
                raise
        finally:
            if opened:
                stream.close()

    def _parsed(
        self,
        stream: Any,
        names: list[str],
        types: dict[str, pa.DataType],
        header: bool,
        block: int,
    ) -> Iterator[pa.RecordBatch]:
        """One reader's batches of `stream`, the columns in the order of `names`."""
        reader = self._text_reader(stream, names, types, header, block)
        try:
            for batch in reader:
                yield batch if batch.schema.names == names else batch.select(names)
        finally:
            reader.close()

    def _grown(self, block: int, again: bool) -> int:
        """The next block size after a row did not fit in `block` (raises _LongRow at the
        limit, or when the text cannot be read `again`); later readers start with it."""
        if not again or block >= MAX_BLOCK:
            raise _LongRow(block, can_grow=again)
        block = min(2 * block, MAX_BLOCK)
        self._block = max(self._block, block)
        return block

    def _parquet_batches(
        self, names: list[str], types: dict[str, pa.DataType], batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        handle = self._open_random() if self._fs is not None else None
        try:
            pf = pq.ParquetFile(self.path if handle is None else handle, pre_buffer=False)
        except (pa.ArrowException, OSError) as exc:
            _close(handle)
            raise self._corrupt(exc) from None
        try:
            groups = None if self.row_groups is None else list(self.row_groups)
            batches = pf.iter_batches(batch_size=batch_size, row_groups=groups, columns=names)
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    return
                except (pa.ArrowException, OSError) as exc:
                    raise self._corrupt(exc) from None
                if batch.schema.names != names:
                    batch = batch.select(names)
                yield self._cast(batch, types)
        finally:
            pf.close()
            _close(handle)

    def _ipc_batches(
        self, names: list[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        # Zero-copy views into the map; Arrow keeps the mapping alive while buffers use it.
        with self._open_random() as src:
            reader = self._ipc_reader(src, [self.schema.get_field_index(n) for n in names])
            try:
                if self._ipc_stream:
                    raw: Iterable[pa.RecordBatch] = reader
                else:
                    raw = (reader.get_batch(i) for i in range(reader.num_record_batches))
                for batch in raw:
                    if batch.schema.names != names:
                        batch = batch.select(names)
                    yield self._cast(batch, types)
            except (pa.ArrowException, OSError) as exc:
                raise self._corrupt(exc) from None

    def _open_text(self) -> Any:
        """A (decompressing) input stream over the file."""
        if self._fs is None:
            return pa.input_stream(self.path, compression=self.compression)
        try:
            return self._fs.open_input_stream(self._location, compression=self.compression)
        except (pa.ArrowException, OSError) as exc:
            raise remote_error(self.path, exc) from None

    def _open_random(self) -> Any:
        """A random-access file: a memory map locally, the filesystem's file otherwise."""
        if self._fs is None:
            return pa.memory_map(self.path)
        try:
            return self._fs.open_input_file(self._location)
        except (pa.ArrowException, OSError) as exc:
            raise remote_error(self.path, exc) from None

    def _ipc_reader(self, src: Any, fields: list[int] | None) -> Any:
        """IPC file reader, or a stream reader when the file holds the stream format."""
        import pyarrow.ipc as ipc

        options = ipc.IpcReadOptions(included_fields=fields)
        try:
            reader = ipc.open_file(src, options=options)
            self._ipc_stream = False
            return reader
        except (pa.ArrowException, OSError) as exc:
            file_error = exc
        try:
            src.seek(0)
            reader = ipc.open_stream(src, options=options)
            self._ipc_stream = True
            return reader
        except (pa.ArrowException, OSError):
            raise self._corrupt(file_error) from None

    # -- checks and errors -----------------------------------------------------------------

    def _check_columns(
        self, columns: list[str] | None, column_types: dict[str, pa.DataType] | None
    ) -> list[str]:
        names = list(self.schema.names) if columns is None else list(columns)
        for name in [*names, *(column_types or {})]:
            if self.schema.get_field_index(name) < 0:
                shown = shortened(self.schema.names)
                raise CEError(f"{self.path}: no column {name!r} (columns: {shown})")
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise CEError(f"{self.path}: column {dup!r} requested twice")
        return names

    def _cast(self, batch: pa.RecordBatch, types: dict[str, pa.DataType]) -> pa.RecordBatch:
        """Cast `batch`'s columns to `types` (Parquet, IPC); a failure is a CEError."""
        for name, typ in types.items():
            i = batch.schema.get_field_index(name)
            col = batch.column(i)
            if col.type == typ:
                continue
            try:
                batch = batch.set_column(i, pa.field(name, typ), col.cast(typ))
            except (pa.ArrowException, OSError) as exc:
                raise CEError(
                    f"{self.path}: column {name}: cannot convert {col.type} to {typ} "
                    f"({_one_line(exc)}); {_PRED_HINT}"
                ) from None
        return batch

    def _corrupt(self, exc: BaseException) -> CEError:
        if self._fs is not None and is_remote_failure(exc):
            return remote_error(self.path, exc)
        kind = "Parquet" if self.format == "parquet" else "Arrow IPC/Feather"
        return CEError(
            f"{self.path}: not a valid {kind} file (truncated or corrupt): {_one_line(exc)}"
        )

    def _text_error(
        self,
        exc: BaseException,
        rows_before: int,
        forced: dict[str, pa.DataType],
        lines_before: int = 0,
    ) -> CEError:
        """Translate a pyarrow CSV/JSON error into one line naming column, line and value.

        `rows_before`: the rows yielded before the failure (JSON rows count from the failing
        block). `lines_before`: the lines before the text the failing CSV reader was given
        (its CSV rows count from there).
        """
        msg = _one_line(exc)
        path = self.path
        if self._fs is not None and is_remote_failure(exc):
            return remote_error(path, exc)
        if isinstance(exc, _LongRow):
            return self._long_row(exc, rows_before)
        if m := _CSV_CONVERT.match(msg):
            idx, row, typ, value = int(m[1]), m[2], m[3], _clip(m[4])
            col = self.schema.names[idx] if idx < len(self.schema) else f"#{idx + 1}"
            where = f"column {col}" + (f", line {lines_before + int(row)}" if row else "")
            if col in forced:
                return CEError(
                    f"{path}: {where}: value {value!r} is not {_kind(typ)}; {_PRED_HINT}"
                )
            return CEError(
                f"{path}: {where}: value {value!r} does not match type {typ} inferred from "
                f"the column's first rows; {_INFERRED_HINT}"
            )
        if m := _CSV_FIELDS.match(msg):
            where = f"line {lines_before + int(m[1])}: " if m[1] else ""
            return CEError(
                f"{path}: {where}expected {m[2]} fields, got {m[3]} ({_clip(m[4])!r}); "
                "fix that row (a stray delimiter or quote?) or check the delimiter"
            )
        if json_error := self._json_error(msg, rows_before, forced):
            return json_error
        if msg.startswith(_EMPTY):
            return CEError(f"{path}: file is empty")
        packed = f" ({self.compression}-compressed)" if self.compression else ""
        return CEError(f"{path}: cannot read as {_NAMES[self.format]}{packed}: {msg}")

    def _json_error(
        self, msg: str, rows_before: int, forced: dict[str, pa.DataType]
    ) -> CEError | None:
        """A pyarrow JSON error as one line (None: not one of these)."""
        path = self.path
        if m := _JSON_CHANGED.match(msg):
            col, old, new, line = m[1].replace("/", "."), m[2], m[3], rows_before + int(m[4]) + 1
            where = f"{path}: column {col}, line {line}: found a {new}"
            if col in forced:
                return CEError(f"{where} where a {old} is expected; {_PRED_HINT}")
            return CEError(
                f"{where} but the column's first rows hold {old} values; {_INFERRED_HINT}"
            )
        if m := _JSON_PARSE.match(msg):
            line = rows_before + int(m[2]) + 1
            return CEError(f"{path}: line {line}: invalid JSON ({m[1]}); fix or remove that line")
        if m := _JSON_CONVERT.match(msg):
            typ, value = m[1], _clip(m[2])
            cols = [n for n, t in self._read_types(forced).items() if str(t) == typ]
            col = f"column {cols[0]}, " if len(cols) == 1 else ""
            fix = _PRED_HINT if len(cols) == 1 and cols[0] in forced else _INFERRED_HINT
            return CEError(
                f"{path}: {col}at line {rows_before + 1} or later: value {value} is not "
                f"{_kind(typ)}; {fix}"
            )
        return None

    def _long_row(self, exc: _LongRow, rows_before: int) -> CEError:
        """A row longer than the largest block (or than the block, on a pipe)."""
        line = exc.line or rows_before + (1 if self.format == "jsonl" else 2)  # CSV: a header
        where = f"{self.path}: line {line}: a row longer than {_size(exc.block)}"
        if exc.can_grow:
            return CEError(
                f"{where}, the longest ce reads; drop the long column from the file (or shorten "
                "that cell), or convert the file to Parquet"
            )
        return CEError(
            f"{where}, and a pipe cannot be read again with larger blocks; save the input to a "
            f"file (ce reads rows of up to {_size(MAX_BLOCK)} from files)"
        )

    def _read_types(self, forced: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
        """Column name -> the type it is read as, given forced `column_types`."""
        return {f.name: forced.get(f.name, f.type) for f in self.schema}


_CSV_CONVERT = re.compile(
    r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to ([^:]+): invalid value '(.*)'$"
)
_CSV_FIELDS = re.compile(
    r"CSV parse error: (?:Row #(\d+): )?Expected (\d+) columns, got (\d+): (.*)$"
)
_JSON_CHANGED = re.compile(
    r"JSON parse error: Column\(/?(.*)\) changed from (\w+) to (\w+) in row (\d+)"
)
_JSON_PARSE = re.compile(r"JSON parse error: (.*?)\.? in row (\d+)$")
_JSON_CONVERT = re.compile(r"Failed to convert JSON to (.+?), couldn't parse:(.*)$")


def _read_head(stream: Any) -> tuple[bytes, bool]:
    """At least _BLOCK bytes and two whole lines (a header and a row), or the whole stream;
    and whether it is the whole stream."""
    parts: list[bytes] = []
    have = lines = 0
    while have < _BLOCK or lines < 2:
        if have > MAX_BLOCK:  # no second line within the largest block
            raise _LongRow(MAX_BLOCK, can_grow=True, line=lines + 1)
        part = stream.read(_BLOCK)
        if not part:
            return b"".join(parts), True
        parts.append(part)
        have += len(part)
        lines += part.count(b"\n")
    return b"".join(parts), False


class _LongRow(pa.ArrowInvalid):
    """A row longer than ``block`` bytes; ``can_grow``: the text can be read again (a file,
    a chunk), so the block was the largest one; ``line`` when known here."""

    def __init__(self, block: int, can_grow: bool, line: int | None = None) -> None:
        super().__init__(f"{_STRADDLING}: a row longer than {block} bytes")
        self.block, self.can_grow, self.line = block, can_grow, line


def _size(n: int) -> str:
    """Bytes as MiB (or KiB when less)."""
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n / 2**10:g} KiB"


def _skip(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """`batches` without their first `rows` rows."""
    for batch in batches:
        if rows >= batch.num_rows:
            rows -= batch.num_rows
            continue
        yield batch.slice(rows) if rows else batch
        rows = 0


def _buffer_text(buffer: pa.Buffer) -> _Text:
    """A chunk in memory, readable any number of times."""
    return pa.BufferReader(buffer), lambda: pa.BufferReader(buffer)


def _close(handle: Any) -> None:
    if handle is not None:
        handle.close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _kind(typ: str) -> str:
    """'a number' for float types, 'an integer' for int types, else 'a valid <type>'."""
    if typ in ("halffloat", "float", "double"):
        return "a number"
    if re.fullmatch(r"u?int\d+", typ):
        return "an integer"
    return f"a valid {typ}"


class _Prefixed(io.RawIOBase):
    """A read-only stream: `head` bytes first, then the rest of `rest`."""

    def __init__(self, head: bytes, rest: Any) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head.nbytes:
            n = min(len(view), self._head.nbytes)
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


@dataclass
class _Rest:
    """Where `_chunks` stopped before the end of the text (``stopped``): after ``index``
    chunks, ``offset`` bytes into the text, with ``head`` (the bytes read after it)."""

    stopped: bool = False
    index: int = 0
    offset: int = 0
    head: bytes = b""


def _chunks(
    stream: Any,
    head: bytes,
    delimiter: int | None = None,
    rest: _Rest | None = None,
    size: int | None = None,
) -> Iterator[pa.Buffer]:
    """`head` then `stream`, cut after a line break into chunks of about CHUNK_BYTES (of
    ``_want(size, read)`` bytes when the text's `size` is known: shorter near its end).

    A chunk is longer when one line is; the last chunk is the rest of the text. With a CSV
    `delimiter`, only after a line break outside quoted fields (``cuts.record_end``). Where
    that cannot be followed, or no record ends within MAX_BLOCK bytes, the chunks stop early
    and `rest` says where (the caller reads the rest with one reader).
    """
    carry: bytes | memoryview = head  # text after the last cut so far
    read = len(head)
    want, first = _want(size, read), True
    while True:
        buffer = pa.allocate_buffer(len(carry) + want)  # pooled memory, not fresh pages
        view = memoryview(buffer).cast("B")
        view[: len(carry)] = carry
        got = _fill(stream, view[len(carry) :])
        read += got
        end = len(carry) + got
        if got < want:  # the end of the text
            if end:
                yield buffer.slice(0, end)
            return
        if delimiter is None:
            cut: int | None = line_end(view, end)
        else:
            cut = record_end(view, end, delimiter, first)
        if cut is None or (not cut and end >= MAX_BLOCK):
            if rest is None:
                raise ValueError("_chunks stops early only with a `rest` to say where")
            rest.stopped, rest.head = True, view[:end].tobytes()
            return
        if cut:
            yield buffer.slice(0, cut)
            first = False
            if rest is not None:
                rest.index, rest.offset = rest.index + 1, rest.offset + cut
            carry, want = view[cut:end], _want(size, read)
        else:  # no record ends yet: read twice as much
            carry, want = view[:end], max(end, CHUNK_BYTES)


def _want(size: int | None, read: int) -> int:
    """Bytes to read for the next chunk, `read` bytes into a text of `size` bytes (None: not
    known): CHUNK_BYTES, or a quarter of what is left when that is less (at least TAIL_BYTES).
    The last chunks are parsed while the other threads have nothing left to parse: short ones
    keep that tail short (one 8 MiB chunk: ~50 ms on one core)."""
    if size is None:
        return CHUNK_BYTES
    return min(CHUNK_BYTES, max(TAIL_BYTES, (size - read) // 4))


def _skipped(open_text: Callable[[], tuple[Any, bytes]], offset: int) -> Any:
    """The text from `open_text()` (a stream and no head: not a pipe), `offset` bytes in."""
    stream, _ = open_text()
    while offset > 0 and (part := stream.read(min(offset, CHUNK_BYTES))):
        offset -= len(part)
    return stream


def _fill(stream: Any, view: memoryview) -> int:
    """Read into `view` until it is full or the stream ends; the bytes read."""
    got = 0
    while got < len(view) and (n := stream.readinto(view[got:])):
        got += n
    return got


T = TypeVar("T")
R = TypeVar("R")


def _in_order(
    parse: Callable[[T], Iterable[R]], items: Iterable[T], threads: int
) -> Generator[Iterator[R], None, None]:
    """The results of `parse(item)` for each item, in the items' order.

    With threads <= 1 each item is parsed lazily, as its results are taken. Otherwise items are
    parsed whole on a pool of `threads` threads, at most 2 × threads ahead of the one taken. An
    error is raised where it would be without threads: after the results before it.
    """
    if threads <= 1:
        yield from (iter(parse(item)) for item in items)
        return
    pool = ThreadPoolExecutor(threads, thread_name_prefix="ce-parse")
    pending: deque[Future[Iterator[R]]] = deque()
    todo = iter(items)
    more, failure = True, None
    try:
        while True:
            while more and len(pending) < PARSE_AHEAD * threads:
                try:
                    pending.append(pool.submit(_drained, parse, next(todo)))
                except StopIteration:
                    more = False
                except Exception as exc:  # raised once the results before it are out
                    more, failure = False, exc
            if not pending:
                break
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if failure is not None:
        raise failure


def _drained(parse: Callable[[T], Iterable[R]], item: T) -> Iterator[R]:
    """Parse `item` to the end now; an iterator that replays its results, then its error."""
    done: list[R] = []
    try:
        for result in parse(item):
            done.append(result)
    except Exception as exc:
        return _replay(done, exc)
    return iter(done)


def _replay(done: list[R], exc: Exception) -> Iterator[R]:
    yield from done
    raise exc


def open_source(path: str, input_format: str | None = None) -> Source:
    """Open `path` ('-' for stdin), detect its format and read its schema.

    Like stdin, a pipe without an extension (``<(zcat preds.csv.gz)``) defaults to CSV.
    """
    if path == "-":
        fmt, _ = detect_format(path, input_format)
        if fmt not in _TEXT_FORMATS:
            raise CEError(f"<stdin>: {_NAMES[fmt]} cannot be read from stdin; pass a file path")
        return Source("<stdin>", fmt, None, pipe=sys.stdin.buffer)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CEError(f"{path}: no such file") from None
    except OSError as exc:
        raise CEError(f"{path}: cannot open ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise CEError(f"{path}: is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise CEError(f"{path}: permission denied")
    if stat.S_ISREG(info.st_mode):
        fmt, compression = detect_format(path, input_format)
        if info.st_size == 0:
            raise CEError(f"{path}: file is empty")
        return Source(path, fmt, compression)
    # a named pipe or device, e.g. <(zcat preds.csv.gz): readable once, text formats only
    if input_format is None and not os.path.splitext(path)[1]:
        input_format = "csv"
    fmt, compression = detect_format(path, input_format)
    if fmt not in _TEXT_FORMATS:
        raise CEError(f"{path}: {_NAMES[fmt]} cannot be read from a pipe; pass a file path")
    return Source(path, fmt, compression, pipe=open(path, "rb"), close_pipe=True)


def open_remote(file: RemoteFile, input_format: str | None = None) -> Source:
    """Open one file on a pyarrow filesystem (see ``ce_cli.io.remote``) and read its schema."""
    fmt, compression = detect_format(file.display.split("?", 1)[0], input_format)
    if file.size == 0:
        raise CEError(f"{file.display}: file is empty")
    return Source(file.display, fmt, compression, fs=file.fs, location=file.path)


def rechunk(batches: Iterable[pa.RecordBatch], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Re-slice `batches` into batches of exactly `batch_size` rows (the last may be shorter).

    Zero-copy slices where a batch is long enough; rows that straddle input batches are joined
    (``blocks.join``: one copy, each numeric type's columns one after another in one buffer, so
    the decode views them instead of stacking them). 0-row batches are dropped.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pending: list[pa.RecordBatch] = []
    have = 0
    for batch in batches:
        n, start = batch.num_rows, 0
        if pending and n:
            start = min(batch_size - have, n)
            pending.append(batch.slice(0, start))
            have += start
            if have == batch_size:
                yield join(pending)
                pending, have = [], 0
        while n - start >= batch_size:
            yield batch.slice(start, batch_size)
            start += batch_size
        if start < n:
            pending.append(batch.slice(start))
            have += n - start
    if pending:
        yield join(pending)
