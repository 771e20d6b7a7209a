"""ce: class weights, cross-entropy losses and calibration from label and prediction files.

The public API, imported lazily so that ``ce --help`` stays fast::

    from ce_cli import InputOptions, ScoreOptions, compute_score, compute_weights, losses
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "InputOptions": "ce_cli.io.dataset",
    "LabelOptions": "ce_cli.io.layout",
    "compute_weights": "ce_cli.weights_report",
    "WeightsReport": "ce_cli.weights_report",
    "compute_score": "ce_cli.score_report",
    "ScoreOptions": "ce_cli.score_report",
    "ScoreReport": "ce_cli.score_report",
    "CEError": "ce_cli.errors",
    "CalibrationOptions": "ce_cli.calibrate_report",
    "compute_calibration": "ce_cli.calibrate_report",
    "CalibrationReport": "ce_cli.calibrate_report",
    "run_check": "ce_cli.check_report",
    "CheckReport": "ce_cli.check_report",
    "CheckOptions": "ce_cli.check",
}

__all__ = [*_EXPORTS, "__version__", "losses"]


def __getattr__(name: str) -> Any:
    if name == "losses":
        return importlib.import_module("ce_cli.losses")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ce_cli' has no attribute {name!r}")
