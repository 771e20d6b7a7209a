"""ce: class weights, cross-entropy losses and calibration from label and prediction files."""

from __future__ import annotations

__version__ = "0.1.0"
