"""Bounds on sizes a user (or a file) can ask for, checked before anything is allocated.

Kept free of heavy imports so the CLI's option types can use them without slowing ``ce --help``.
"""

from __future__ import annotations

MAX_THREADS = 64
"""``--threads``: more worker threads than this only exhausts the process: each has a stack and
its own accumulators (measured under ``prlimit --as=4000000000``: 96 threads with ``--bins
10000`` fail to start). The default, 0, is every core."""

MAX_BINS = 10_000
"""``--bins``: calibration bins; more than this say nothing a reliability table can show, and the
per-class bins (``classes × bins``) grow with it."""

MAX_CLASSES = 1 << 24
"""``--num-classes`` / ``--classes``: a class set is named, counted and tabled class by class;
16.7 million classes is beyond any report a person reads, and far beyond memory at one float
per class per row. (Integer labels without a class list have a tighter bound, in io/layout.)"""

AUC_MAX_BYTES = 2 << 30
"""``--auc`` keeps every score (8·N·K bytes) and ``--auc-bins B`` 16·K·B bytes of histograms:
past 2 GiB, ``ce`` stops with a one-line error (before reading when the row count is known)
that points to ``--auc-bins``."""
