"""``ordered_map``: ``map`` on worker threads, results in input order, a bounded window.

For passes whose result must not depend on the thread count (the temperature fit adds each
batch's sums in batch order, so one thread and many give the same floats): the items are
consumed lazily, at most ``2 × threads`` ahead of the results taken.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    threads: int,
) -> Callable[[Callable[[T], R], Iterable[T]], Iterator[R]]:
    """A ``map(fn, items)`` running ``fn`` on ``threads`` threads (inline for 1 thread)."""

    def mapper(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        if threads <= 1:
            yield from map(fn, items)
            return
        with ThreadPoolExecutor(threads) as pool:
            window: deque[Future[R]] = deque()
            try:
                for item in items:
                    window.append(pool.submit(fn, item))
                    if len(window) >= 2 * threads:
                        yield window.popleft().result()
                while window:
                    yield window.popleft().result()
            finally:
                for future in window:
                    future.cancel()

    return mapper
