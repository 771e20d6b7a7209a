"""A report's ``View`` as lines of text that fit a terminal, or unwrapped for a pipe.

Nothing is ever cut: a table too wide for the terminal first loses its least important
columns (``Table.optional``, in order; a line says which), then becomes one record per block
(``key  value`` lines); a value longer than the whole line goes on a line of its own, where the
terminal may wrap it. Piped (``width=None``) every table row is one line, every summary one
line, so a CI log stays greppable.

Lines are lists of ``(text, style)`` segments; ``render.formats.render_text`` joins them as
plain text, or hands them to rich for colour. Every segment's text has been through
``one_line`` already.
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ce_cli.render.escape import one_line
from ce_cli.report.view import Table, View

Segment = tuple[str, str]
Line = list[Segment]

STATUS_STYLES = {
    "FAIL": "bold red",
    "FAILED": "bold red",
    "pass": "green",
    "PASS": "green",
    "PASSED": "bold green",
    "warn": "yellow",
}
_GAP = "  "  # between columns of a colour (borderless) table


def cell_len(text: str) -> int:
    """Terminal cells ``text`` takes: East Asian wide characters 2, combining marks 0."""
    total = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * max(width - cell_len(text), 0)
    return fill + text if right else text + fill


@dataclass
class Grid:
    """A table as escaped text: header, cells, alignment, and which column holds verdicts."""

    header: list[str]
    cells: list[list[str]]
    right: list[bool]
    status: int | None

    @classmethod
    def of(cls, table: Table, fmt: Callable[[Any], str]) -> Grid:
        header = [one_line(name) for name in table.columns]
        cells = [[fmt(v) for v in row] for row in table.rows]
        right = []
        for i in range(len(header)):
            textual = all(isinstance(r[i], str) for r in table.rows if r[i] is not None)
            right.append(not textual)
        status = table.columns.index(table.status) if table.status in table.columns else None
        return cls(header, cells, right, status)

    def widths(self, keep: list[int]) -> list[int]:
        return [
            max([cell_len(self.header[i])] + [cell_len(r[i]) for r in self.cells]) for i in keep
        ]


def table_width(widths: list[int], boxed: bool) -> int:
    if boxed:
        return sum(widths) + 3 * len(widths) + 1
    return sum(widths) + len(_GAP) * (len(widths) - 1)


def _style(grid: Grid, i: int, text: str) -> str:
    return STATUS_STYLES.get(text.strip(), "") if i == grid.status else ""


def boxed_lines(grid: Grid, keep: list[int], widths: list[int]) -> list[Line]:
    """``+---+`` / ``| a | b |``: the plain (ASCII) table."""
    rule: Line = [("+" + "+".join("-" * (w + 2) for w in widths) + "+", "")]

    def row(texts: list[str], header: bool) -> Line:
        line: Line = [("|", "")]
        for i, w, text in zip(keep, widths, texts, strict=True):
            padded = _pad(text, w, grid.right[i])
            line += [(" " + padded + " ", "" if header else _style(grid, i, text))]
            line.append(("|", ""))
        return line

    lines = [rule, row([grid.header[i] for i in keep], True), rule]
    lines += [row([r[i] for i in keep], False) for r in grid.cells]
    return [*lines, rule]


def open_lines(grid: Grid, keep: list[int], widths: list[int]) -> list[Line]:
    """The colour table: no borders, a bold header over a rule."""

    def row(texts: list[str], header: bool) -> Line:
        line: Line = []
        for n, (i, w, text) in enumerate(zip(keep, widths, texts, strict=True)):
            if n:
                line.append((_GAP, ""))
            padded = _pad(text, w, grid.right[i])
            line.append((padded, "bold" if header else _style(grid, i, text)))
        return line

    rule: Line = [("─" * table_width(widths, boxed=False), "dim")]
    return [row([grid.header[i] for i in keep], True), rule] + [
        row([r[i] for i in keep], False) for r in grid.cells
    ]


def record_lines(grid: Grid, width: int) -> list[Line]:
    """One block per row: the first cell, then ``key  value`` lines (a value that does not fit
    beside its key goes on a line of its own)."""
    keys = grid.header[1:]
    key_w = max((cell_len(k) for k in keys), default=0)
    lines: list[Line] = []
    for cells in grid.cells:
        head = [(grid.header[0] + " ", "dim"), (cells[0], _style(grid, 0, cells[0]) or "bold")]
        fits = cell_len(grid.header[0]) + 1 + cell_len(cells[0]) <= width
        lines += [head] if fits else [head[:1], head[1:]]
        for i, key in enumerate(keys, start=1):
            value = cells[i]
            style = _style(grid, i, value)
            if 2 + key_w + 2 + cell_len(value) <= width:
                lines.append([("  " + _pad(key, key_w, False) + "  ", "dim"), (value, style)])
            else:
                lines += [[("  " + key, "dim")], [("    " + value, style)]]
    return lines


def fit_table(
    table: Table, fmt: Callable[[Any], str], width: int | None, boxed: bool
) -> list[Line]:
    """The table's lines: whole if it fits, else without its optional columns, else records."""
    grid = Grid.of(table, fmt)
    keep = list(range(len(grid.header)))
    hidden: list[str] = []
    for name in table.optional:
        if width is None or table_width(grid.widths(keep), boxed) <= width:
            break
        if name in table.columns and table.columns.index(name) in keep:
            keep.remove(table.columns.index(name))
            hidden.append(one_line(name))
    lines = wrap_words(one_line(table.caption), width, "") if table.caption else []
    if width is not None and table_width(grid.widths(keep), boxed) > width:
        return lines + record_lines(grid, width)
    draw = boxed_lines if boxed else open_lines
    lines += draw(grid, keep, grid.widths(keep))
    if hidden:
        items = ["(not shown at this width:"] + [f"{name}," for name in hidden]
        items[-1] = items[-1][:-1] + ")"
        lines += join_items([(item, "dim") for item in items], " ", width)
    return lines


def wrap_words(text: str, width: int | None, style: str) -> list[Line]:
    """``text`` on lines of at most ``width`` cells, broken at spaces only (a word longer than
    the line stays whole); one line when ``width`` is None."""
    if width is None or cell_len(text) <= width:
        return [[(text, style)]]
    indent = " " * (len(text) - len(text.lstrip(" ")) + 2)
    parts = textwrap.wrap(
        text, width, break_long_words=False, break_on_hyphens=False, subsequent_indent=indent
    )
    return [[(part, style)] for part in parts]


def join_items(items: list[Segment], sep: str, width: int | None) -> list[Line]:
    """Items joined by ``sep``, a new line only between items (each keeps its style)."""
    lines: list[Line] = [[]]
    used = 0
    for text, style in items:
        size = cell_len(text)
        if width is not None and size > width:  # prose longer than a line: wrap at spaces
            lines += [*wrap_words(text, width, style), []]
            used = 0
            continue
        if lines[-1] and width is not None and used + len(sep) + size > width:
            lines.append([])
            used = 0
        if lines[-1]:
            lines[-1].append((sep, ""))
            used += len(sep)
        lines[-1].append((text, style))
        used += size
    return [line for line in lines if line]


def view_lines(view: View, fmt: Callable[[Any], str], width: int | None, boxed: bool) -> list[Line]:
    """Title, summary, ``how:`` notes, tables, warnings (and a closing block, if any)."""
    lines = wrap_words(one_line(view.title), width, "bold") if view.title else []
    items = [f"{fmt(k)} {fmt(v)}" if k else fmt(v) for k, v in view.summary]
    if items:
        lines += join_items([(item, STATUS_STYLES.get(item, "")) for item in items], " · ", width)
    if view.notes:
        notes = [f"how: {one_line(view.notes[0])}"] + [one_line(n) for n in view.notes[1:]]
        lines += join_items([(note, "dim") for note in notes], "; ", width)
    for table in view.tables:
        lines += fit_table(table, fmt, width, boxed)
    if view.warnings:
        lines.append([("warnings:", "yellow")])
        for warning in view.warnings:
            lines += wrap_words(f"• {one_line(warning)}", width, "")
    for n, closing in enumerate(view.closing):
        style = STATUS_STYLES.get(closing.split(" ")[0], "") if n == 0 else ""
        lines += wrap_words(one_line(closing), width, style)
    return lines
