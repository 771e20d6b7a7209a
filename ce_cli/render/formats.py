"""Renderers: a report → rich table, plain text, JSON, CSV or Markdown; atomic file output.

Every string that may come from data (class, column and file names, ids, group keys, the
warnings that quote them) goes through ``render.escape`` for its medium on the way out.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ce_cli.core.errors import CEError
from ce_cli.render.escape import github_guard, markdown, one_line
from ce_cli.render.signals import SignalGuard
from ce_cli.report.view import Report, Table, View

_EXTENSIONS = {
    ".json": "json",
    ".csv": "csv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "table",
    ".html": "html",
    ".htm": "html",
}
UNDEFINED = "—"


def fmt_number(value: Any) -> str:
    """Six significant digits; whole floats as integers; None/NaN/inf as an em dash."""
    if value is None:
        return UNDEFINED
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return UNDEFINED
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}"
    return str(value)


def format_for_path(path: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    fmt = _EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise CEError(
            f"-o {path}: cannot tell the format from the extension; use .json, .csv, "
            ".md, .txt or .html, or pass --format"
        )
    return fmt


def _text(value: Any) -> str:
    """A table cell or summary value as one line of plain text."""
    return one_line(fmt_number(value))


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    if fmt == "json":
        return render_json(report.to_dict())
    if fmt == "csv":
        return render_csv(report.csv_table())
    if fmt == "markdown":
        return render_markdown(report.view())
    if fmt == "html":
        from ce_cli.render.html import render_html

        return render_html(report, fmt_number)
    return render_text(report.view(), color=color, width=width)


def render_json(data: Any) -> str:
    """Indented JSON. ``json.dumps`` escapes every control character; ``##[`` (GitHub's
    legacy command marker, which can only occur inside a string) is written ``#\\u0023[``."""
    return json.dumps(data, indent=2, allow_nan=False).replace("##[", "#\\u0023[") + "\n"


def render_csv(table: Table) -> str:
    """RFC 4180 CSV; text cells as one line, quoted also when they start with ``:`` or ``#``
    (a CI log must never see a line that starts a workflow command)."""
    lines = [",".join(csv_cell(name) for name in table.columns)]
    lines += [",".join(csv_cell(_csv_value(v)) for v in row) for row in table.rows]
    return "".join(line + "\n" for line in lines)


def csv_cell(value: Any) -> str:
    """One CSV field: ``None`` empty, text escaped (``one_line``) and quoted when needed."""
    if value is None:
        return ""
    text = one_line(value)
    if any(ch in text for ch in ',"') or text[:1] in (":", "#", " "):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_value(value: Any) -> Any:
    """Floats exactly (``repr``), whole ones as integers (a count: ``30``, not ``30.0``)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return value


def _summary_line(view: View, cell: Any = _text) -> str:
    return " · ".join(
        f"{cell(label)} {cell(value)}" if label else cell(value) for label, value in view.summary
    )


def _markdown_cell(value: Any) -> str:
    return markdown(fmt_number(value))


def _markdown_rule(table: Table, i: int) -> str:
    """``---:`` under a column of numbers (right-aligned, as in every table), ``---`` else."""
    values = [row[i] for row in table.rows if row[i] is not None]
    numeric = bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    )
    return "---:" if numeric else "---"


def render_markdown(view: View) -> str:
    lines = [f"## {markdown(view.title)}", "", _summary_line(view, _markdown_cell), ""]
    if view.notes:
        lines += ["how: " + "; ".join(markdown(n) for n in view.notes), ""]
    for table in view.tables:
        if table.caption:
            lines += [f"**{markdown(table.caption)}**", ""]
        lines.append("| " + " | ".join(markdown(c) for c in table.columns) + " |")
        lines.append(
            "|" + "|".join(_markdown_rule(table, i) for i in range(len(table.columns))) + "|"
        )
        for row in table.rows:
            lines.append("| " + " | ".join(_markdown_cell(v) for v in row) + " |")
        lines.append("")
    if view.warnings:
        lines += ["**Warnings**", ""] + [f"- {markdown(w)}" for w in view.warnings] + [""]
    if view.closing:
        lines += [markdown(view.closing[0]), ""]
        lines += [f"- {markdown(c.strip())}" for c in view.closing[1:]] + [""]
    return "\n".join(lines)


def render_text(view: View, *, color: bool, width: int | None = None) -> str:
    """The report for a person: fitted to ``width`` terminal cells (``render.text``), or
    unwrapped (one table row per line) when ``width`` is None. Without colour it is plain text
    with ASCII tables and no escape code at all; with colour, rich styles the same lines. Data
    reaches rich only as ``Text`` (never markup) and only through ``one_line``."""
    from ce_cli.render.text import view_lines

    lines = view_lines(view, _text, width, boxed=not color)
    if not color:
        return "".join("".join(text for text, _ in line).rstrip() + "\n" for line in lines)
    from rich.console import Console
    from rich.text import Text

    out = io.StringIO()
    console = Console(
        file=out,
        force_terminal=True,
        width=max(width or 0, 4096),
        highlight=False,
        soft_wrap=True,
        emoji=False,
    )
    for line in lines:
        console.print(Text.assemble(*line))
    return out.getvalue()


def text_width(explicit: int | None, stream: Any = None) -> int | None:
    """The width a table must fit: ``--width N``; else the terminal's (``COLUMNS`` first) when
    ``stream`` (stdout) is one; else None — piped output is never wrapped."""
    if explicit:
        return explicit
    stream = sys.stdout if stream is None else stream
    try:
        tty = stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return shutil.get_terminal_size().columns if tty else None


def use_color() -> bool:
    """Colour on a terminal stdout (not a closed one) unless ``NO_COLOR`` is set."""
    return sys.stdout is not None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def is_regular_file(stream: Any) -> bool:
    """Whether ``stream`` is redirected into a file (which no CI log parser reads)."""
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


def guard_stdout(text: str, fmt: str, stream: Any = None) -> str:
    """A rendered report as it goes to stdout: in GitHub Actions, text for people (table,
    Markdown) between stop-commands lines. JSON, CSV and HTML are left whole — they are escaped
    by construction (no line of theirs can start a workflow command; HTML's lines that hold data
    start with a tag) and are often piped into a program that must parse them — and so is
    anything written to a file."""
    if fmt in ("json", "csv", "html") or is_regular_file(sys.stdout if stream is None else stream):
        return text
    return github_guard(text)


def write_stderr(lines: Iterable[str]) -> None:
    """Messages that may quote data (``ce: warning: …``) to stderr, one line each
    (``one_line``); in GitHub Actions between stop-commands lines."""
    text = "".join(one_line(line) + "\n" for line in lines)
    if text:
        sys.stderr.write(github_guard(text))
        sys.stderr.flush()


def write_atomic(path: str, text: str, inputs: list[str]) -> None:
    """Write ``text`` to ``path`` via a temp file + rename; never over an input file."""
    target = Path(path)
    for src in inputs:
        if target.exists() and Path(src).exists() and target.resolve() == Path(src).resolve():
            raise CEError(f"-o {path}: refusing to write over the input file {src}")
    if target.parent and not target.parent.exists():
        raise CEError(f"-o {path}: directory {target.parent} does not exist")
    with SignalGuard():  # SIGTERM/SIGHUP unwind through the except below
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            publish(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def publish(tmp: str, target: Path) -> None:
    """Give a finished temp file the usual permissions (mkstemp makes it 0600) and rename it."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, target)
