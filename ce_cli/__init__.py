"""ce: class weights, cross-entropy losses and calibration from label and prediction files.

The public API, imported lazily so that ``ce --help`` stays fast::

    from ce_cli import InputOptions, ScoreOptions, compute_score, compute_weights, losses
"""

from __future__ import annotations

import importlib
from typing import Any

from ce_cli.core.version import __version__

_EXPORTS = {
    "InputOptions": "ce_cli.io.dataset",
    "LabelOptions": "ce_cli.io.layout",
    "compute_weights": "ce_cli.report.weights",
    "WeightsReport": "ce_cli.report.weights",
    "compute_score": "ce_cli.report.score",
    "ScoreOptions": "ce_cli.report.score",
    "ScoreReport": "ce_cli.report.score",
    "CEError": "ce_cli.core.errors",
    "CalibrationOptions": "ce_cli.report.calibrate",
    "compute_calibration": "ce_cli.report.calibrate",
    "CalibrationReport": "ce_cli.report.calibrate",
    "run_check": "ce_cli.report.check",
    "CheckReport": "ce_cli.report.check",
    "CheckOptions": "ce_cli.report.check_rules",
    "compute_label_issues": "ce_cli.report.label_issues",
    "LabelIssuesOptions": "ce_cli.report.label_issues",
    "LabelIssuesReport": "ce_cli.report.label_issues",
}

__all__ = [*_EXPORTS, "__version__", "losses"]


def __getattr__(name: str) -> Any:
    if name == "losses":
        return importlib.import_module("ce_cli.core.losses")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ce_cli' has no attribute {name!r}")
