"""The engine: where accumulators' ``update`` and ``merge`` run.

``run`` feeds items (undecoded record batches) to ``threads`` worker threads, each with its own
accumulator, round-robin through bounded queues (memory stays bounded by a few batches), then
merges the partial accumulators in a fixed tree. numpy and pyarrow release the GIL in their
kernels, so threads use all cores. Which thread adds which batch is fixed, so a run gives the
same floats every time; sums merge in a different order than one pass, so results for different
thread counts agree to ~1e-15 relative.
If a batch raises, the error of the earliest such batch is raised — the same error a single
thread would give, since every batch before it was fed and finished.

``accumulate`` is what the commands call: it runs ``update(accumulator, batch)`` over a
``Dataset`` on the engine the options name — ``local`` (``run`` on threads) or ``dask``
(``ce_cli.engine.cluster``: one task per file or row group on a Dask cluster). ``make`` and
``update`` must be picklable for ``dask`` (module-level functions, or closures over picklable
values: cloudpickle ships them by value). ``accumulate_by_group`` does the same with one
accumulator per value of the ``--group-by`` column (a ``ByGroup``, merged value by value). On
either engine a ``Feed`` does the per-item work: decode, split by group if asked, update.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ce_cli.core.errors import CEError
from ce_cli.core.progress import metered
from ce_cli.engine.accumulate import ByGroup, Mergeable
from ce_cli.engine.allocator import tune_allocator
from ce_cli.io.dataset import InputOptions, RawBatch
from ce_cli.io.formats import default_threads
from ce_cli.io.groups import GroupColumn, split

if TYPE_CHECKING:
    from ce_cli.io.batch import Batch
    from ce_cli.io.dataset import Dataset
    from ce_cli.io.layout import Layout

ENGINES = ("local", "dask")


A = TypeVar("A", bound=Mergeable)
T = TypeVar("T")
_STOP = object()


def run(
    items: Iterable[T],
    make: Callable[[], A],
    work: Callable[[A, T], object],
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
    # item k goes to thread k mod threads, so which sums each accumulator adds, and in what
    # order, does not depend on scheduling: a run gives the same floats every time
    feeds: list[queue.Queue[Any]] = [queue.Queue(maxsize=2) for _ in range(threads)]
    accs = [make() for _ in range(threads)]
    errors: list[tuple[int, BaseException]] = []
    lock = threading.Lock()

    def worker(acc: A, feed: queue.Queue[Any]) -> None:
        while (item := feed.get()) is not _STOP:
            if errors:
                continue  # drain: the producer stops soon
            try:
                work(acc, item)
            except BaseException as exc:
                with lock:
                    errors.append((order(item), exc))

    pairs = zip(accs, feeds, strict=True)
    pool = [threading.Thread(target=worker, args=pair, daemon=True) for pair in pairs]
    for t in pool:
        t.start()
    try:
        for k, item in enumerate(items):
            if errors:
                break
            feeds[k % threads].put(item)
    finally:
        for feed in feeds:
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


# ---------------------------------------------------------------------- engines
@dataclass(frozen=True)
class EngineOptions:
    """Where the accumulators run (``--engine``, ``--scheduler``; ``--threads`` stays in
    ``InputOptions``)."""

    engine: str = "local"  # local | dask
    scheduler: str | None = None  # dask: scheduler address, else $DASK_SCHEDULER_ADDRESS


def with_engine(options: InputOptions, engine: str | None, scheduler: str | None) -> InputOptions:
    """``options`` that run on ``engine`` (``--scheduler`` alone means ``--engine dask``)."""
    if scheduler is not None and engine == "local":
        raise CEError("--scheduler is for --engine dask; drop it, or pass --engine dask")
    engine = engine or ("dask" if scheduler is not None else "local")
    if engine not in ENGINES:
        raise CEError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "local":
        return options
    return replace(options, engine=engine, scheduler=scheduler)


def engine_options(options: InputOptions) -> EngineOptions:
    """The engine an ``InputOptions`` asks for (``local`` unless it says otherwise)."""
    engine = options.engine or "local"
    if engine not in ENGINES:
        raise CEError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    return EngineOptions(engine, options.scheduler)


def require_local(options: InputOptions, what: str) -> None:
    """A CEError when ``what`` (e.g. '--reduction none') is asked of a distributed engine."""
    chosen = engine_options(options).engine
    if chosen != "local":
        raise CEError(
            f"{what} needs every row in this process, which --engine {chosen} does not do "
            "(it merges per-task sums); drop --engine or use --engine local"
        )


@dataclass(frozen=True)
class Feed:
    """The work on one raw item: decode it and ``update`` the accumulator with it — with a
    ``group`` column, piece by piece into ``ByGroup``'s accumulator of each piece's key.
    Picklable (shipped to dask workers) when ``update`` is."""

    layout: Layout
    read_preds: bool
    update: Callable[[Any, Batch], object]
    group: GroupColumn | None = None

    def __call__(self, acc: Any, raw: RawBatch) -> None:
        if self.group is None:
            self.update(acc, self.decode(raw))
            return
        for key, piece in split(raw, self.group):
            self.update(acc.part(key), self.decode(piece))

    def decode(self, raw: RawBatch) -> Batch:
        return self.layout.to_batch(raw[0], raw[1], raw[2], read_preds=self.read_preds)


def accumulate(
    dataset: Dataset,
    make: Callable[[], A],
    update: Callable[[A, Batch], object],
    options: InputOptions,
    label: str = "reading",
    threads: int | None = None,
) -> A:
    """``update(accumulator, batch)`` over every batch of ``dataset``; the merged accumulator.

    ``threads`` overrides ``options.threads`` on the local engine (1 for per-row sinks).
    """
    feed = Feed(dataset.layout, dataset.read_preds, update)
    result: A = _run(dataset, make, feed, options, label, threads)
    return result


def accumulate_by_group(
    dataset: Dataset,
    make: Callable[[], A],
    update: Callable[[A, Batch], object],
    options: InputOptions,
    label: str = "reading",
) -> ByGroup[A]:
    """As ``accumulate``, one accumulator per value of the ``--group-by`` column."""
    group = dataset.group
    if group is None:
        raise ValueError("accumulate_by_group needs a dataset opened with --group-by")
    feed = Feed(dataset.layout, dataset.read_preds, update, group)
    result: ByGroup[A] = _run(dataset, partial(ByGroup, make, group.name), feed, options, label)
    return result


def accumulate_pieces(
    dataset: Dataset,
    make: Callable[[], A],
    update: Callable[[Any, Batch], object],
    options: InputOptions,
    label: str = "reading",
) -> A:
    """As ``accumulate_by_group``, for an accumulator that keeps its groups itself: ``update``
    gets ``accumulator.part(key)`` and that key's piece of every batch (``ce label-issues``:
    each group's accumulator is made with that group's own thresholds)."""
    group = dataset.group
    if group is None:
        raise ValueError("accumulate_pieces needs a dataset opened with --group-by")
    feed = Feed(dataset.layout, dataset.read_preds, update, group)
    result: A = _run(dataset, make, feed, options, label)
    return result


def _run(
    dataset: Dataset,
    make: Callable[[], Any],
    feed: Feed,
    options: InputOptions,
    label: str,
    threads: int | None = None,
) -> Any:
    """``feed`` over every raw item of ``dataset`` on the engine the options name."""
    chosen = engine_options(options)
    if chosen.engine == "dask":
        from ce_cli.engine.cluster import accumulate as on_dask

        return on_dask(dataset, make, feed, options, chosen.scheduler, label)
    tune_allocator()
    if threads is None:
        threads = options.threads if options.threads > 0 else default_threads()
    return run(
        metered(dataset.pairs(), options.progress, label, dataset.num_rows, _size),
        make,
        feed,
        threads=threads,
        order=lambda raw: raw[2],
    )


def _size(raw: RawBatch) -> tuple[int, int]:
    return raw[0].num_rows, raw[0].nbytes
