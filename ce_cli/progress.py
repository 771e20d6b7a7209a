"""A progress bar on stderr for long runs: rows and data done, rate, ETA.

Shown only when stderr is a terminal and the run has taken more than a second; never on
stdout, so ``--format json | jq`` stays clean.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

from ce_cli.io.dataset import RawBatch

DELAY_SECONDS = 1.0


def track(
    items: Iterator[RawBatch], total_rows: int | None, enabled: bool, label: str = "reading"
) -> Iterator[RawBatch]:
    """Pass items through, drawing a progress bar once the run is longer than DELAY_SECONDS."""
    if not enabled or not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    start, rows, nbytes = time.monotonic(), 0, 0
    bar: Progress | None = None
    task = None
    try:
        for item in items:
            yield item
            rows += item[0].num_rows
            nbytes += item[0].nbytes
            if bar is None and time.monotonic() - start > DELAY_SECONDS:
                bar = Progress(
                    TextColumn(f"{label}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("rows · {task.fields[mb]:.0f} MB · {task.fields[rate]:,.0f} rows/s"),
                    TimeElapsedColumn(),
                    TimeRemainingColumn(),
                    console=Console(stderr=True),
                    transient=True,
                )
                bar.start()
                task = bar.add_task(label, total=total_rows, mb=0.0, rate=0.0)
            if bar is not None and task is not None:
                elapsed = max(time.monotonic() - start, 1e-9)
                bar.update(task, completed=rows, mb=nbytes / 2**20, rate=rows / elapsed)
    finally:
        if bar is not None:
            bar.stop()
