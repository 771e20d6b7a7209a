"""Option vocabularies, kept free of heavy imports so ``ce --help`` stays fast."""

from __future__ import annotations

INPUT_FORMATS = ("csv", "tsv", "parquet", "ipc", "jsonl")
OUTPUT_FORMATS = ("table", "json", "csv", "markdown")
TASKS = ("binary", "multiclass", "multilabel")
WEIGHT_SCHEMES = ("balanced", "inverse", "sqrt-inverse", "effective", "median")
LOSSES = ("auto", "ce", "bce", "focal")
INPUT_KINDS = ("auto", "logits", "probs")
REDUCTIONS = ("mean", "sum", "none")
