"""The engine: where accumulators' ``update`` and ``merge`` run.

``run`` feeds items (undecoded record batches) to ``threads`` worker threads, each with its own
accumulator, through a bounded queue (memory stays bounded by a few batches), then merges the
partial accumulators. numpy and pyarrow release the GIL in their kernels, so threads use all
cores. Sums merge in a different order than one pass, so results agree to ~1e-15 relative.
If a batch raises, the error of the earliest such batch is raised — the same error a single
thread would give, since every batch before it was fed and finished.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar


class Mergeable(Protocol):
    def merge(self, other: Any) -> Any: ...


A = TypeVar("A", bound=Mergeable)
T = TypeVar("T")
_STOP = object()


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run(
    items: Iterable[T],
    make: Callable[[], A],
    work: Callable[[A, T], None],
    threads: int = 1,
    order: Callable[[T], int] = lambda item: 0,
) -> A:
    """Apply ``work(accumulator, item)`` to every item and return the merged accumulator.

    ``order(item)`` ranks items (e.g. their first row) to pick the earliest error.
    """
    if threads <= 1:
        acc = make()
        for item in items:
            work(acc, item)
        return acc
    feed: queue.Queue[Any] = queue.Queue(maxsize=2 * threads)
    accs = [make() for _ in range(threads)]
    errors: list[tuple[int, BaseException]] = []
    lock = threading.Lock()

    def worker(acc: A) -> None:
        while (item := feed.get()) is not _STOP:
            if errors:
                continue  # drain: the producer stops soon
            try:
                work(acc, item)
            except BaseException as exc:
                with lock:
                    errors.append((order(item), exc))

    pool = [threading.Thread(target=worker, args=(acc,), daemon=True) for acc in accs]
    for t in pool:
        t.start()
    try:
        for item in items:
            if errors:
                break
            feed.put(item)
    finally:
        for _ in pool:
            feed.put(_STOP)
        for t in pool:
            t.join()
    if errors:
        raise min(errors, key=lambda e: e[0])[1]
    return _merge_tree(accs)


def _merge_tree(accs: list[A]) -> A:
    while len(accs) > 1:
        accs = [
            accs[i].merge(accs[i + 1]) if i + 1 < len(accs) else accs[i]
            for i in range(0, len(accs), 2)
        ]
    return accs[0]
