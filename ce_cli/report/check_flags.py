"""The ``ce check`` threshold flags (``--max-loss X`` …): which metric each bounds, and how.

A module of its own, with no imports, so that ``ce --help`` can build the options without
loading the check rules.
"""

from __future__ import annotations

FLAG_THRESHOLDS: tuple[tuple[str, str, str], ...] = (
    # (CheckOptions field / flag without --, metric, op)
    ("max_loss", "loss", "<="),
    ("min_accuracy", "accuracy", ">="),
    ("max_nce", "nce", "<="),
    ("max_ece", "ece", "<="),
    ("max_mce", "mce", "<="),
    ("max_brier", "brier", "<="),
    ("max_nll", "nll", "<="),
    ("min_subset_accuracy", "subset_accuracy", ">="),
    ("max_hamming_loss", "hamming_loss", "<="),
    ("min_macro_f1", "macro_f1", ">="),
)
