"""Progress as a callback: the engine says how far it got, the caller decides what to draw.

``Progress(label, total_rows)`` starts one pass ("reading", "fit pass 2", "bootstrap") and
returns a ``Meter``; the engine calls ``meter.update(rows_done, bytes_done)`` (running totals)
and ``meter.close()`` at the end. The CLI passes a bar on stderr (``render.progress.bar``);
library callers pass nothing, or their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")


class Meter(Protocol):
    def update(self, rows: int, nbytes: int) -> None: ...

    def close(self) -> None: ...


Progress = Callable[[str, "int | None"], Meter]


def metered(
    items: Iterable[T],
    progress: Progress | None,
    label: str,
    total_rows: int | None,
    size: Callable[[T], tuple[int, int]],
) -> Iterator[T]:
    """Pass ``items`` through, telling ``progress`` the running (rows, bytes) that ``size``
    gives each item."""
    if progress is None:
        yield from items
        return
    meter = progress(label, total_rows)
    rows = nbytes = 0
    try:
        for item in items:
            yield item
            r, b = size(item)
            rows, nbytes = rows + r, nbytes + b
            meter.update(rows, nbytes)
    finally:
        meter.close()
