"""Shell completion of column options: the column names of the file already on the command line.

``ce score preds.parquet --label-col <Tab>`` lists that file's columns. Only the schema is
read (a Parquet/Arrow footer, a CSV header line, a JSON Lines first record), so a completion
stays fast whatever the file's size; any problem (no file yet, unreadable) completes nothing.
File arguments and file options complete file names: they are ``click.Path``.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

_OPENERS: dict[str, Any] = {".gz": gzip.open, ".bz2": bz2.open}
_OPERATORS = ("<", ">", "=", "!", " ")


def _first_file(path: str) -> Path | None:
    """``path`` itself, or the first data file of a directory (a partitioned dataset)."""
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "_")))
        return files[0] if files else None
    return None


def _text_header(path: Path, suffixes: list[str]) -> list[str]:
    opener = _OPENERS.get(suffixes[-1], open) if suffixes else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        first = fh.readline()
    kind = [s for s in suffixes if s not in _OPENERS]
    if kind and kind[-1] in (".jsonl", ".ndjson", ".json"):
        record = json.loads(first)
        return [str(k) for k in record] if isinstance(record, dict) else []
    delimiter = "\t" if kind and kind[-1] == ".tsv" else ","
    return next(csv.reader(io.StringIO(first), delimiter=delimiter), [])


def column_names(path: str) -> list[str]:
    """The column names of the file (or dataset directory) ``path``; [] when unreadable."""
    try:
        file = _first_file(path)
        if file is None:
            return []
        parts = file.relative_to(path).parent.parts if Path(path).is_dir() else ()
        return [*_read_names(file), *(p.split("=")[0] for p in parts if "=" in p)]
    except Exception:  # completion must never fail loudly
        return []


def _read_names(file: Path) -> list[str]:
    """The columns the file's schema names (a footer, a header line or a first record)."""
    suffixes = [s.lower() for s in file.suffixes]
    last = suffixes[-1] if suffixes else ""
    if last in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return list(pq.read_schema(file).names)
    if last in (".arrow", ".feather", ".ipc"):
        import pyarrow as pa

        with pa.memory_map(str(file)) as source:
            try:
                return list(pa.ipc.open_file(source).schema.names)
            except pa.ArrowInvalid:
                source.seek(0)
                return list(pa.ipc.open_stream(source).schema.names)
    return _text_header(file, suffixes)


def complete_columns(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Column names of the files on the command line (``FILE...`` and ``--labels``); for a comma
    list (``--pred-cols a,b``) the last item; for ``--where`` the column before its operator."""
    if param.name == "where" and any(op in incomplete for op in _OPERATORS):
        return []
    head, _, last = (
        incomplete.rpartition(",") if param.name == "pred_cols" else ("", "", incomplete)
    )
    prefix = head + "," if head else ""
    names: list[str] = []
    # the FILE... argument; while an option waits for its value click leaves it in ctx.args
    files = ctx.params.get("files") or [a for a in ctx.args if not a.startswith("-")]
    sources = [*list(files)[:1], ctx.params.get("labels_path")]
    for source in sources:
        if source:
            names += [n for n in column_names(str(source)) if n not in names]
    return [CompletionItem(prefix + n) for n in names if n.startswith(last)]
