"""Where a report goes: stdout or ``-o FILE`` (atomically), warnings to stderr, charts.

A write that the system refuses (disk full, read-only directory, stdout closed or on
``/dev/full``) is a user's condition, not a bug: one line naming the target and the cause.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click

from ce_cli.core.errors import CEError

STDOUT = "stdout"


def emit(report: Any, fmt: str | None, output: str | None, inputs: list[str]) -> None:
    """Render the report to stdout or, atomically, to ``-o FILE``; warnings also to stderr
    whenever stdout is not a human-readable table."""
    from ce_cli.render.formats import format_for_path, render, use_color

    if output:
        write_file(output, render(report, format_for_path(output, fmt)), inputs)
        click.echo(f"ce: wrote {output}", err=True)
        warn(report.warnings)
        return
    fmt = fmt or "table"
    color = fmt == "table" and use_color()
    to_stdout(render(report, fmt, color=color, width=text_width()), fmt)
    if fmt != "table":
        warn(report.warnings)


def meta(key: str, default: Any = None) -> Any:
    """A display setting of this run (``--width``, ``--quiet``: ``cli.options.display_options``)."""
    ctx = click.get_current_context(silent=True)
    return default if ctx is None else ctx.meta.get(f"ce.{key}", default)


def text_width() -> int | None:
    """``--width N``, else the terminal's width when stdout is one, else None (unwrapped)."""
    from ce_cli.render.formats import text_width as width_for

    return width_for(meta("width"), sys.stdout)


def to_stdout(text: str, fmt: str) -> None:
    """A rendered report on stdout (in GitHub Actions guarded as ``guard_stdout`` says); a
    closed or full stdout is one line."""
    from ce_cli.render.formats import guard_stdout

    out = stdout()
    with writing(STDOUT):
        out.write(guard_stdout(text, fmt, out))
        out.flush()


def write_file(path: str, text: str, inputs: list[str], flag: str = "-o") -> None:
    """``text`` into ``path``: atomically (temp file + rename) for a file; straight into a
    device or a pipe (``/dev/stdout``, a FIFO), which a rename would replace."""
    from ce_cli.render.formats import write_atomic

    with writing(f"{flag} {path}"):
        if _is_special(path):
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        else:
            write_atomic(path, text, inputs)


def _is_special(path: str) -> bool:
    """An existing path that is neither a regular file nor a directory (a device, a FIFO)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def stdout() -> TextIO:
    """``sys.stdout``, or a one-line error when the caller closed it (``ce … >&-``)."""
    if sys.stdout is None:
        raise CEError(f"{STDOUT}: closed; pass -o FILE, or leave stdout open")
    return sys.stdout


@contextmanager
def writing(target: str, *, with_reads: bool = False) -> Iterator[None]:
    """OS errors while writing ``target`` (``-o PATH``, ``stdout``) → ``CEError`` naming it and
    the cause. A broken pipe passes on (the group ends quietly: the reader left).
    ``with_reads``: the block also reads files, whose errors name them; only an error that
    names no file is the write's."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        if with_reads and exc.filename is not None:
            raise
        if target == STDOUT:
            _silence_stdout()
        raise CEError(f"{target}: cannot write: {exc.strerror or exc}") from None


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's last flush of the refused text cannot fail
    a second time (and print a traceback) at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass


def warn(warnings: list[str]) -> None:
    from ce_cli.render.formats import write_stderr  # escapes data; stop-commands in GitHub

    write_stderr(f"ce: warning: {warning}" for warning in warnings)


def draw(chart: str, report: Any, path: str) -> None:
    """Draw ``report`` with ``render.plots.<chart>`` into ``path`` (checked before reading)."""
    from ce_cli.render import plots

    with writing(f"--plot {path}"):
        getattr(plots, chart)(report, path)
    click.echo(f"ce: wrote {path}", err=True)


def input_files(options: Any) -> list[str]:
    from ce_cli.io.dataset import input_files

    return input_files(options)
