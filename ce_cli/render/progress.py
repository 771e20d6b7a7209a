"""A progress bar on stderr for long runs: rows and data done, rate, ETA.

Shown only when stderr is a terminal and the pass has taken more than a second; never on
stdout, so ``--format json | jq`` stays clean. Every long pass has one: reading (and the
``--reduction none`` rows it streams), each temperature-fit pass ("fit pass 3/≤30"), the
bootstrap ("bootstrap (1000 replicates)"). ``bar`` is the ``core.progress.Progress``
callback the CLI hands to the library.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ce_cli.render.escape import one_line

DELAY_SECONDS = 1.0


class _Bar:
    """One pass's meter: silent for the first ``DELAY_SECONDS``, then a rich bar."""

    def __init__(self, label: str, total_rows: int | None) -> None:
        self.label, self.total = one_line(label), total_rows
        self.unit = "replicates" if "replicates" in label else "rows"
        self.start = time.monotonic()
        self.bar: Any = None
        self.task: Any = None

    def update(self, rows: int, nbytes: int) -> None:
        if self.bar is None:
            if time.monotonic() - self.start <= DELAY_SECONDS:
                return
            self._open()
        elapsed = max(time.monotonic() - self.start, 1e-9)
        self.bar.update(self.task, completed=rows, mb=nbytes / 2**20, rate=rows / elapsed)

    def _open(self) -> None:
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn(escape(self.label)),  # a format string read as markup: escape it
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                f"{self.unit} · {{task.fields[mb]:.0f}} MB · "
                f"{{task.fields[rate]:,.0f}} {self.unit}/s"
            ),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=self.total, mb=0.0, rate=0.0)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class _Silent:
    def update(self, rows: int, nbytes: int) -> None:
        pass

    def close(self) -> None:
        pass


def bar(label: str, total_rows: int | None) -> _Bar | _Silent:
    """A meter that draws on stderr when it is a terminal, else nothing."""
    if not sys.stderr.isatty():
        return _Silent()
    return _Bar(label, total_rows)
