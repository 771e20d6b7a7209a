"""Mergeable accumulators of sufficient statistics: class counts, and one per group (``ByGroup``).

Every reduction is an object with ``update(batch)``, ``merge(other)`` and ``compute()`` whose
state is sums and counts merged by ``+`` — never per-row lists, never running means — so a
single pass, chunked passes, threads or a cluster give the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from ce_cli.core.errors import CEError
from ce_cli.core.group_keys import sort_key
from ce_cli.io.batch import Batch

A = TypeVar("A", bound="Accumulator")
MAX_GROUPS = 1000  # --group-by: distinct values allowed


class Mergeable(Protocol):
    def merge(self, other: Any) -> Any: ...


G = TypeVar("G", bound=Mergeable)


class Accumulator(Protocol):
    def update(self, batch: Batch) -> None: ...

    def merge(self: A, other: A) -> A: ...


@dataclass
class ClassCounts:
    """The result of a ``ClassCounter``: per-class (weighted) counts, in class order."""

    names: tuple[str, ...]
    counts: np.ndarray  # float64 (C,): rows of class c, or positives of label c
    total: float  # N: (weighted) rows used
    n_rows: int  # rows used, unweighted
    n_ignored: int
    n_masked: int

    def aligned(self, names: tuple[str, ...]) -> ClassCounts:
        """The same counts over the class list ``names`` (a superset of ``self.names``, e.g.
        every group's counts over the classes of all groups); absent classes count 0."""
        mine = dict(zip(self.names, self.counts, strict=True))
        counts = np.array([mine.get(name, 0.0) for name in names], dtype=np.float64)
        return ClassCounts(names, counts, self.total, self.n_rows, self.n_ignored, self.n_masked)


class ClassCounter:
    """Per-class sums of sample weights (1 per row without ``--weight-col``).

    ``classes`` is the class set when known. When it is None (labels with no class list), the
    counter discovers it: integer labels are class indices (the array grows to max + 1); string
    labels are counted by name and sorted at ``compute`` — so the result never depends on the
    order or the chunking of the rows.
    """

    def __init__(self, classes: tuple[str, ...] | None) -> None:
        self.classes = classes
        self.counts = np.zeros(len(classes) if classes else 0, dtype=np.float64)
        self.by_name: dict[str, float] = {}
        self.total = 0.0
        self.n_rows = 0
        self.n_ignored = 0
        self.n_masked = 0

    def update(self, batch: Batch) -> None:
        valid = batch.valid
        weight = np.ones(batch.n) if batch.sample_weight is None else batch.sample_weight
        used = np.where(valid, weight, 0.0)
        self.total += float(used.sum())
        self.n_rows += int(valid.sum())
        self.n_ignored += batch.n_ignored
        self.n_masked += batch.n_masked
        if batch.target is None:  # open set of names
            assert batch.label_codes is not None and batch.label_values is not None
            sums = np.bincount(batch.label_codes, weights=used, minlength=len(batch.label_values))
            present = np.bincount(batch.label_codes[valid], minlength=len(batch.label_values))
            for value, s, k in zip(batch.label_values, sums, present, strict=True):
                if k:
                    key = str(value)
                    self.by_name[key] = self.by_name.get(key, 0.0) + float(s)
            return
        if batch.target.ndim == 2:  # multi-hot positives or soft-target mass
            self._add(used @ batch.target)
        else:
            self._add(np.bincount(batch.target[valid], weights=used[valid]))

    def _add(self, sums: np.ndarray) -> None:
        if sums.size > self.counts.size:
            self.counts = np.pad(self.counts, (0, sums.size - self.counts.size))
        self.counts[: sums.size] += sums

    def merge(self, other: ClassCounter) -> ClassCounter:
        merged = ClassCounter(self.classes)
        merged.counts = np.zeros(max(self.counts.size, other.counts.size))
        merged._add(self.counts)
        merged._add(other.counts)
        merged.by_name = dict(self.by_name)
        for key, value in other.by_name.items():
            merged.by_name[key] = merged.by_name.get(key, 0.0) + value
        merged.total = self.total + other.total
        merged.n_rows = self.n_rows + other.n_rows
        merged.n_ignored = self.n_ignored + other.n_ignored
        merged.n_masked = self.n_masked + other.n_masked
        return merged

    def compute(self) -> ClassCounts:
        if self.by_name:
            names = tuple(sorted(self.by_name))
            counts = np.array([self.by_name[n] for n in names])
        elif self.classes is not None:
            names, counts = self.classes, self.counts
        else:  # integer class indices 0 … max; at least two classes (0/1 labels are binary)
            counts = np.pad(self.counts, (0, max(0, 2 - self.counts.size)))
            names = tuple(str(i) for i in range(counts.size))
        return ClassCounts(
            names, counts.copy(), self.total, self.n_rows, self.n_ignored, self.n_masked
        )


class ByGroup(Generic[G]):
    """One accumulator per group key (``--group-by``), made on first sight of the key; merges
    key by key, so threads and workers may each see any subset of the groups.

    At most ``limit`` groups: ``--group-by`` is for a few slices (countries, model versions),
    not for a per-row key.
    """

    def __init__(self, make: Callable[[], G], column: str, limit: int = MAX_GROUPS) -> None:
        self.make = make
        self.column = column
        self.limit = limit
        self.parts: dict[Any, G] = {}

    def part(self, key: Any) -> G:
        """The accumulator of ``key`` (a new one the first time)."""
        acc = self.parts.get(key)
        if acc is None:
            self._check_room(1)
            acc = self.parts[key] = self.make()
        return acc

    def merge(self, other: ByGroup[G]) -> ByGroup[G]:
        merged: ByGroup[G] = ByGroup(self.make, self.column, self.limit)
        merged.parts = dict(self.parts)
        merged._check_room(len(other.parts.keys() - self.parts.keys()))
        for key, acc in other.parts.items():
            mine = merged.parts.get(key)
            merged.parts[key] = acc if mine is None else mine.merge(acc)
        return merged

    def total(self) -> G:
        """Every group's accumulator merged into one: the ungrouped result."""
        total = self.make()
        for key in sorted(self.parts, key=sort_key):  # one order, however the rows arrived
            total = total.merge(self.parts[key])
        return total

    def _check_room(self, new: int) -> None:
        if len(self.parts) + new > self.limit:
            raise CEError(
                f"--group-by {self.column}: more than {self.limit} distinct values; group by a "
                "column with a few values (a country, a model version), or pick some with --where"
            )
