"""``--engine dask``: the same accumulators, one task per file or Parquet row group on a cluster.

The driver (this process) opens the input as usual and makes every decision — columns, layout,
loss setup — from the schemas and the first batch. It then plans *parts*: one per file, or one
per row group (a few consecutive ones when there are many) when the input is a single Parquet
file. Each part knows the global number of its first row: Parquet and IPC files say how many
rows they hold; text files (CSV, TSV, JSON Lines) are counted first, one task per file, on the
cluster. A task re-opens its part on a worker, decodes its batches with the driver's ``Layout``,
feeds them to a fresh accumulator and returns it; partials are merged pairwise on the cluster
in part order (a tree, deterministic), and only the merged one comes back.

So row numbers in messages and in the top-K rows are the local engine's, and the sums agree
with it to ~1e-15 relative (they are added in another order). Of several failing parts the
earliest one's error is raised: the error the local engine gives.

Without an address (``--scheduler``, else ``$DASK_SCHEDULER_ADDRESS``) a ``LocalCluster`` is
started on 127.0.0.1 (worker processes, one thread each, no dashboard) and kept for the life of
the process. Workers need ce-cli (the same version) and its dependencies, and must see the
files at the same paths: relative paths are made absolute here, and messages name the path as
the user gave it.

Connecting to an address is bounded by ``$CE_REMOTE_TIMEOUT`` seconds (default
``CONNECT_TIMEOUT``) at each step: the TCP connection, Dask's handshake (probed first on a
throwaway connection, since ``distributed.Client`` waits forever for a handshake that never
comes, and reads an HTTP server's reply as a 3 EiB message), the client and the first worker.
Whatever fails, the error is one line naming the address, and no half-made client is left to
print a traceback when the interpreter exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import pyarrow as pa

from ce_cli.core import version
from ce_cli.core.errors import CEError
from ce_cli.core.progress import Progress
from ce_cli.engine.allocator import tune_allocator
from ce_cli.io import remote
from ce_cli.io.files import MultiSource
from ce_cli.io.formats import Source, default_threads
from ce_cli.io.where import RowFilter, filtered

if TYPE_CHECKING:
    from ce_cli.io.dataset import Dataset, InputOptions, RawBatch

A = TypeVar("A")
INSTALL_HINT = "pip install 'ce-cli[dask]'"
ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler
MAX_ROW_GROUP_TASKS = 512  # a single Parquet file: at most this many tasks (row groups merged)
_TEXT_FORMATS = ("csv", "tsv", "jsonl")


# ---------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Reading:
    """What every part reads (shipped with each task; picklable). How a batch is decoded and
    added travels with the task as its ``feed``."""

    columns: tuple[str, ...]
    types: dict[str, pa.DataType] | None  # forced at parse time (text formats)
    batch_size: int
    row_filter: RowFilter | None = None  # --where
    where_only: tuple[str, ...] = ()  # columns read for --where only, dropped after it


@dataclass(frozen=True)
class Part:
    """A file, or some row groups of a Parquet file, and the global number of its first row.

    ``source`` is the driver's reader for just this file (a ``Source``, or a ``MultiSource``
    over this one file that still casts to the first file's types and adds its partition
    columns), with a local path made absolute (``path`` → ``display`` in messages).
    """

    index: int  # position in row order
    source: Any
    path: str  # as the worker opens it (absolute, or a URI)
    display: str  # as the user named it
    row_start: int = 0
    num_rows: int | None = None  # None: count it first (text formats)
    read: bool = True  # False: --where rules out its partition values (its rows still count)


@dataclass(frozen=True)
class Failure:
    """A part's ``CEError``, returned rather than raised so the earliest one can be chosen."""

    index: int
    message: str


def plan(dataset: Dataset, options: InputOptions) -> tuple[Reading, list[Part]]:
    """The parts of ``dataset``'s input in row order (row starts still unknown for text files)."""
    _check_supported(dataset, options)
    main = dataset.main
    sources = list(getattr(main, "sources", [main]))
    columns, types, where_only = dataset.main_reading()  # as the local engine reads it
    reading = Reading(
        columns=tuple(columns),
        types=types,
        batch_size=dataset.batch_size,
        row_filter=dataset.row_filter,
        where_only=tuple(where_only),
    )
    read = [True] * len(sources)
    if dataset.row_filter is not None and isinstance(main, MultiSource):
        # files whose partition values fail a condition, and whose row count is known
        passes = dataset.row_filter.files(main.partition_fields, main.partition_values)
        read = [ok or s.num_rows is None for ok, s in zip(passes, sources, strict=True)]
    parts: list[Part] = []
    for i, src in enumerate(sources):
        worker_src = src.absolute()
        groups = _row_groups(worker_src) if len(sources) == 1 else []
        if len(groups) > 1:
            for rows, row_groups in groups:
                one = worker_src.with_row_groups(row_groups, rows)
                parts.append(_part(len(parts), main, i, one, src.path, rows, read[i]))
        else:
            parts.append(_part(len(parts), main, i, worker_src, src.path, src.num_rows, read[i]))
    return reading, parts


def _part(
    index: int, main: Any, i: int, src: Any, display: str, rows: int | None, read: bool
) -> Part:
    """File ``i`` of ``main`` alone, read through ``src``: as a ``MultiSource`` reads it (the
    first file's types, this file's partition values) when ``main`` is one."""
    reader = src
    if hasattr(main, "subset"):
        reader = main.subset([i])
        reader.sources = [src]
    return Part(index, reader, src.path, display, num_rows=rows, read=read)


def _check_supported(dataset: Dataset, options: InputOptions) -> None:
    if options.labels_path:
        raise CEError(
            "--labels FILE is read on the local engine only (the two files are aligned row by "
            "row in this process); drop --engine dask, or put the labels in the prediction files"
        )
    for src in getattr(dataset.main, "sources", [dataset.main]):
        path = src.path
        if path == "<stdin>" or (not src.is_remote and not os.path.isfile(path)):
            raise CEError(
                f"{path}: --engine dask re-reads the input on its workers, so it must be a "
                "file (not stdin or a pipe); save it to a file"
            )


def _row_groups(src: Source) -> list[tuple[int, tuple[int, ...]]]:
    """(rows, row groups) per part of a Parquet file: one row group each, consecutive ones
    merged past MAX_ROW_GROUP_TASKS; [] for other formats."""
    sizes = src.row_group_sizes()
    if not sizes:
        return []
    per_task = -(-len(sizes) // MAX_ROW_GROUP_TASKS)
    out = []
    for first in range(0, len(sizes), per_task):
        groups = tuple(range(first, min(first + per_task, len(sizes))))
        out.append((sum(sizes[g] for g in groups), groups))
    return out


# ---------------------------------------------------------------------- on a worker
def read_part(reading: Reading, part: Part) -> Iterator[pa.RecordBatch]:
    """The part's record batches, exactly as the local engine reads that file."""
    return part.source.batches(list(reading.columns), reading.batch_size, reading.types)


def run_part(
    reading: Reading,
    part: Part,
    make: Callable[[], A],
    feed: Callable[[A, RawBatch], object],
) -> A | Failure:
    """One task: a fresh accumulator over the part's batches (a ``Failure`` on a CEError)."""

    tune_allocator()
    acc = make()
    try:
        for raw in _items(reading, part):
            feed(acc, raw)
    except CEError as exc:
        return Failure(part.index, _as_given(str(exc), part))
    return acc


def _items(reading: Reading, part: Part) -> Iterator[RawBatch]:
    """The part's raw items with their global first rows, filtered as the local engine does."""

    def numbered() -> Iterator[RawBatch]:
        row = part.row_start
        for rb in read_part(reading, part):
            yield rb, rb, row
            row += rb.num_rows

    if reading.row_filter is None:
        return numbered()
    return filtered(numbered(), reading.row_filter, reading.batch_size, reading.where_only)


def count_part(reading: Reading, part: Part) -> int | Failure:
    """Rows of a part whose files do not say (text formats), reading what ``run_part`` reads."""
    try:
        return sum(rb.num_rows for rb in read_part(reading, part))
    except CEError as exc:
        return Failure(part.index, _as_given(str(exc), part))


def merge(a: Any, b: Any) -> Any:
    """Two partials (or failures: the earlier one wins) → one. ``a`` is copied, not changed,
    since some accumulators merge in place."""
    failures = [x for x in (a, b) if isinstance(x, Failure)]
    if failures:
        return min(failures, key=lambda f: f.index)
    return copy.deepcopy(a).merge(b)


def _as_given(message: str, part: Part) -> str:
    """Messages name files as the user gave them, not as the worker opened them."""
    return message.replace(part.path, part.display) if part.path != part.display else message


# ---------------------------------------------------------------------- the driver
def accumulate(
    dataset: Dataset,
    make: Callable[[], A],
    feed: Callable[[A, RawBatch], object],
    options: InputOptions,
    scheduler: str | None,
    label: str = "reading",
) -> A:
    """``feed(accumulator, raw item)`` over every record batch of ``dataset`` on a Dask
    cluster (``engine.Feed``: decode, then update); the merged accumulator."""
    reading, parts = plan(dataset, options)
    client = connect(scheduler, options.threads)
    futures: list[Any] = []
    try:
        parts, failure = _with_row_starts(client, reading, parts)
        parts = [p for p in parts if p.read]
        futures = [client.submit(run_part, reading, part, make, feed, pure=False) for part in parts]
        _wait(client, futures, parts, options.progress, label)
        level = futures
        while len(level) > 1:
            level = [
                client.submit(merge, level[i], level[i + 1], pure=False)
                if i + 1 < len(level)
                else level[i]
                for i in range(0, len(level), 2)
            ]
        outcome = level[0].result() if level else None
    finally:
        del futures  # released: the scheduler forgets (and stops) what nobody wants
        release(client)
    failures = [f for f in (outcome, failure) if isinstance(f, Failure)]
    if failures:
        raise CEError(min(failures, key=lambda f: f.index).message)
    return make() if outcome is None else outcome


def _with_row_starts(
    client: Any, reading: Reading, parts: list[Part]
) -> tuple[list[Part], Failure | None]:
    """Parts with their global first row; text files are counted on the cluster first. Parts
    after a file that cannot be read are dropped (its error is the one to raise, unless an
    earlier part has one)."""
    from dataclasses import replace

    uncounted = [p for p in parts if p.num_rows is None]
    counts: dict[int, int | Failure] = {}
    if len(parts) == 1 and uncounted:  # a single text file starts at row 0: no count needed
        return [replace(parts[0], row_start=0)], None
    if uncounted:
        futures = [client.submit(count_part, reading, p, pure=False) for p in uncounted]
        counts = dict(zip((p.index for p in uncounted), client.gather(futures), strict=True))
    out: list[Part] = []
    row = 0
    for part in parts:
        n = counts.get(part.index, part.num_rows)
        if isinstance(n, Failure):
            return out, n
        out.append(replace(part, row_start=row, num_rows=n))
        row += n or 0
    return out, None


def _wait(
    client: Any, futures: list[Any], parts: Sequence[Part], progress: Progress | None, label: str
) -> None:
    """Tell ``progress`` the rows of finished parts while the part tasks run."""
    if progress is None or not futures:
        return  # the merge waits
    from distributed import as_completed

    rows_of = {f.key: p.num_rows or 0 for f, p in zip(futures, parts, strict=True)}
    meter = progress(f"{label} (dask)", sum(rows_of.values()))
    done = 0
    try:
        for future in as_completed(futures, loop=client.loop):
            done += rows_of.get(future.key, 0)
            meter.update(done, 0)
    finally:
        meter.close()


# ---------------------------------------------------------------------- clusters
_local: dict[int, tuple[Any, Any]] = {}  # n_workers → (LocalCluster, Client), kept per process


def connect(address: str | None, threads: int = 0) -> Any:
    """A ``distributed.Client``: to ``address`` (else ``$DASK_SCHEDULER_ADDRESS``), else to a
    local cluster of ``threads`` (0: every core) single-threaded worker processes."""
    try:
        import distributed
    except ImportError:
        raise CEError(f"--engine dask needs Dask's distributed scheduler: {INSTALL_HINT}") from None
    address = address or os.environ.get(ADDRESS_ENV) or None
    if address is None:
        return _local_client(threads)
    seconds = connect_timeout()
    _reachable(address, seconds)
    _handshake(address, seconds)
    client = _new_client(distributed, address, seconds)
    try:
        _check_workers(client, address)
    except BaseException:
        client.close()
        raise
    return client


def connect_timeout() -> float:
    """Seconds each step of connecting to a scheduler may take."""
    return remote.timeout(CONNECT_TIMEOUT)


def _unreachable(address: str, cause: object) -> CEError:
    return CEError(
        f"cannot connect to the Dask scheduler at {address} ({cause}); check the address "
        f"(--scheduler or ${ADDRESS_ENV}) and that the scheduler is running"
    )


def _not_a_scheduler(address: str, cause: str) -> CEError:
    return CEError(
        f"{address} is not a Dask scheduler ({cause}); pass the address the scheduler prints, "
        "tcp://HOST:8786 by default (8787 is its dashboard)"
    )


def _handshake(address: str, seconds: float) -> None:
    """Raise a CEError unless a Dask scheduler answers Dask's handshake at ``address`` within
    ``seconds`` (tried on a connection of its own, on a thread of its own). In-process and UCX
    addresses are left to distributed."""
    if address.startswith(("inproc://", "ucx://")):
        return
    outcome: list[BaseException | None] = []
    probe = threading.Thread(
        target=lambda: outcome.append(_probe(address, seconds)), name="ce-dask-probe", daemon=True
    )
    probe.start()
    probe.join(seconds + 5)
    failure = outcome[0] if outcome else TimeoutError()
    if failure is not None:
        raise _probe_failure(address, failure, seconds)


def _probe_failure(address: str, failure: BaseException, seconds: float) -> CEError:
    """One line for a failed handshake: no answer, no connection, or not Dask's answer."""
    text = " ".join(str(failure).split())
    what = f"{type(failure).__name__}: {text if len(text) <= 120 else text[:119] + '…'}"
    if isinstance(failure, (TimeoutError, asyncio.TimeoutError)):
        return _not_a_scheduler(address, f"no Dask handshake within {seconds:g} s")
    if isinstance(failure, MemoryError):  # its first 8 bytes read as a message's length
        return _not_a_scheduler(address, "its first bytes announce a message of exabytes")
    if isinstance(failure, OSError):
        if "closed" in str(failure).lower():
            return _not_a_scheduler(address, f"it closed the connection: {what}")
        return _unreachable(address, failure)
    return _not_a_scheduler(address, f"its answer is not Dask's protocol: {what}")


def _probe(address: str, seconds: float) -> BaseException | None:
    """Connect and shake hands as a client would (None), or what went wrong."""
    from distributed.comm import connect as dask_connect
    from distributed.security import Security

    async def shake() -> None:
        args = Security().get_connection_args("client")
        comm = await asyncio.wait_for(dask_connect(address, timeout=seconds, **args), seconds)
        await comm.close()

    try:
        asyncio.run(shake())
    except BaseException as exc:  # reported by the caller, as one line
        return exc
    return None


def _new_client(distributed: Any, address: str, seconds: float) -> Any:
    """``distributed.Client(address)``; a failure is one line, and a half-made client is
    marked closed (its ``__del__`` would print a traceback at exit)."""
    before = set(map(id, _clients(distributed)))
    try:
        return distributed.Client(address, timeout=seconds, set_as_default=False)
    except Exception as exc:
        for client in _clients(distributed):
            if id(client) not in before:
                _abandon(client)
        if isinstance(exc, (OSError, TimeoutError)):
            raise _unreachable(address, exc) from None
        raise _not_a_scheduler(address, f"{type(exc).__name__}: {exc}") from None


def _clients(distributed: Any) -> list[Any]:
    return list(getattr(distributed.Client, "_instances", ()))


def _abandon(client: Any) -> None:
    """Stop a client that never connected, without the wait ``close()`` would make."""
    client.status = "closed"
    runner = getattr(client, "_loop_runner", None)
    if runner is not None:
        with contextlib.suppress(Exception):  # best effort: ce is ending with an error
            runner.stop()


def worker_version() -> str:
    """ce's version on a worker (run there by ``_check_workers``)."""
    return version.__version__


def _check_workers(client: Any, address: str) -> None:
    """Workers exist and run this version of ce (else every task would fail obscurely)."""
    seconds = connect_timeout()
    try:
        client.wait_for_workers(1, timeout=seconds)
    except (OSError, TimeoutError):
        raise CEError(
            f"the Dask scheduler at {address} has no workers (waited {seconds:g} s); "
            "start some with: dask worker " + address
        ) from None
    try:
        versions = client.run(worker_version)
    except Exception as exc:
        raise CEError(
            f"the Dask workers of {address} cannot run ce ({type(exc).__name__}: {exc}); "
            f"install ce-cli=={version.__version__} and its dependencies on every worker"
        ) from None
    other = {v for v in versions.values() if v != version.__version__}
    if other:
        raise CEError(
            f"the Dask workers of {address} run ce {', '.join(sorted(other))}, this is "
            f"{version.__version__}; install the same version everywhere"
        )


def release(client: Any) -> None:
    """Close a client to a remote scheduler; the local cluster's stays for the next call."""
    if not any(client is c for _, c in _local.values()):
        client.close()


def _reachable(address: str, seconds: float) -> None:
    """Fail fast, naming the address, when nothing listens there (tcp only)."""
    if address.startswith(("http://", "https://")):
        raise _not_a_scheduler(address, "an http:// address is a web page, e.g. the dashboard")
    if "://" in address and not address.startswith(("tcp://", "tls://")):
        return  # inproc://, ucx://, …: let distributed judge
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise CEError(
            f"--scheduler {address}: expected an address like tcp://HOST:PORT "
            "(as the scheduler prints it)"
        )
    try:
        with socket.create_connection((host, port), timeout=seconds):
            pass
    except OSError as exc:
        raise _unreachable(address, exc.strerror or exc) from None


def _local_client(threads: int) -> Any:
    from distributed import Client, LocalCluster

    n = threads if threads > 0 else default_threads()
    if n in _local:
        return _local[n][1]
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        # no dashboard; the scheduler's health endpoint on a free loopback port, not 8787
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
    )
    client = Client(cluster, set_as_default=False)
    _local[n] = (cluster, client)  # distributed closes it when the interpreter exits
    return client
