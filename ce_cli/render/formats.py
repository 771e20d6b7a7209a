"""Renderers: a report → rich table, plain text, JSON, CSV or Markdown; atomic file output."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from ce_cli.core.errors import CEError
from ce_cli.report.view import Report, Table, View

_EXTENSIONS = {
    ".json": "json",
    ".csv": "csv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "table",
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
            ".md or .txt, or pass --format"
        )
    return fmt


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
    if fmt == "csv":
        return render_csv(report.csv_table())
    if fmt == "markdown":
        return render_markdown(report.view())
    return render_text(report.view(), color=color, width=width)


def render_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if v is None else _csv_value(v) for v in row])
    return out.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return value


def _summary_line(view: View) -> str:
    return " · ".join(
        f"{label} {fmt_number(value)}" if label else fmt_number(value)
        for label, value in view.summary
    )


def render_markdown(view: View) -> str:
    lines = [f"## {view.title}", "", _summary_line(view), ""]
    if view.notes:
        lines += ["how: " + "; ".join(view.notes), ""]
    for table in view.tables:
        if table.caption:
            lines += [f"**{table.caption}**", ""]
        lines.append("| " + " | ".join(table.columns) + " |")
        lines.append("|" + "|".join("---" for _ in table.columns) + "|")
        for row in table.rows:
            lines.append("| " + " | ".join(fmt_number(v) for v in row) + " |")
        lines.append("")
    if view.warnings:
        lines += ["**Warnings**", ""] + [f"- {w}" for w in view.warnings] + [""]
    return "\n".join(lines)


def render_text(view: View, *, color: bool, width: int | None = None) -> str:
    """A rich table with a one-line summary and a warnings panel; plain text without color."""
    from rich import box
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table as RichTable
    from rich.text import Text

    out = io.StringIO()
    console = Console(
        file=out,
        force_terminal=color,
        no_color=not color,
        width=width or 100,
        highlight=False,
        soft_wrap=False,
        emoji=False,
    )
    console.print(f"[bold]{view.title}[/bold]" if color else view.title, markup=color)
    console.print(_summary_line(view), markup=False)
    if view.notes:
        console.print("how: " + "; ".join(view.notes), markup=False, style="dim" if color else None)
    for table in view.tables:
        rich_table = RichTable(
            box=box.SIMPLE_HEAVY if color else box.ASCII2,
            title=table.caption or None,
            title_justify="left",
        )
        for i, name in enumerate(table.columns):
            textual = all(isinstance(row[i], str) for row in table.rows if row[i] is not None)
            rich_table.add_column(name, justify="left" if i == 0 or textual else "right")
        for row in table.rows:  # Text, not markup: '[cat]' in class_loss[cat] must stay
            rich_table.add_row(*(Text(fmt_number(v)) for v in row))
        console.print(rich_table)
    if view.warnings:
        text = "\n".join(f"• {w}" for w in view.warnings)
        if color:
            console.print(
                Panel(text, title="warnings", border_style="yellow", expand=False), markup=False
            )
        else:
            console.print("warnings:\n" + text, markup=False)
    return out.getvalue()


def use_color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def write_atomic(path: str, text: str, inputs: list[str]) -> None:
    """Write ``text`` to ``path`` via a temp file + rename; never over an input file."""
    target = Path(path)
    for src in inputs:
        if target.exists() and Path(src).exists() and target.resolve() == Path(src).resolve():
            raise CEError(f"-o {path}: refusing to write over the input file {src}")
    if target.parent and not target.parent.exists():
        raise CEError(f"-o {path}: directory {target.parent} does not exist")
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
