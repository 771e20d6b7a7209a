"""Mergeable accumulators of sufficient statistics, and the engine that feeds them batches.

Every reduction is an object with ``update(batch)``, ``merge(other)`` and ``compute()`` whose
state is sums and counts merged by ``+`` — never per-row lists, never running means — so a
single pass, chunked passes, threads or a cluster give the same result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from ce_cli.io.batch import Batch

A = TypeVar("A", bound="Accumulator")


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
