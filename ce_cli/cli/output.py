"""Where a report goes: stdout or ``-o FILE`` (atomically), warnings to stderr, charts."""

from __future__ import annotations

import shutil
import sys
from typing import Any

import click


def emit(report: Any, fmt: str | None, output: str | None, inputs: list[str]) -> None:
    """Render the report to stdout or, atomically, to ``-o FILE``; warnings also to stderr
    whenever stdout is not a human-readable table."""
    from ce_cli.render.formats import format_for_path, render, use_color, write_atomic

    if output:
        text = render(report, format_for_path(output, fmt))
        write_atomic(output, text, inputs)
        click.echo(f"ce: wrote {output}", err=True)
        warn(report.warnings)
        return
    fmt = fmt or "table"
    color = fmt == "table" and use_color()
    width = shutil.get_terminal_size().columns if color else None
    sys.stdout.write(render(report, fmt, color=color, width=width))
    if fmt != "table":
        warn(report.warnings)


def warn(warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(f"ce: warning: {warning}", err=True)


def draw(chart: str, report: Any, path: str) -> None:
    """Draw ``report`` with ``render.plots.<chart>`` into ``path`` (checked before reading)."""
    from ce_cli.render import plots

    getattr(plots, chart)(report, path)
    click.echo(f"ce: wrote {path}", err=True)


def input_files(options: Any) -> list[str]:
    from ce_cli.io.dataset import input_files

    return input_files(options)
