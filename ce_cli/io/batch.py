"""The unit every accumulator consumes: one record batch, decoded into numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ce_cli.io.ids import IdColumn  # imports pyarrow; a Batch needs only numpy


@dataclass
class Batch:
    """Labels, predictions and per-row extras of ``n`` consecutive rows.

    ``target`` is, by the layout's ``target_kind``:
      - ``"index"``: int64 class indices, shape (n,); 0 on rows that are not ``valid``;
      - ``"multi-hot"``: float64 0/1, shape (n, C);
      - ``"soft"``: float64 class probabilities, shape (n, C).
    Targets read from K label columns are column-major (Fortran order), as ``preds`` stacked
    from K prediction columns are: one contiguous run per column.
    ``target`` is None when the class set is still open (string labels with no class list):
    then ``label_codes``/``label_values`` hold them (``label_values[label_codes[i]]`` is row i).
    ``valid`` is False on rows left out by ``--ignore-index`` or ``--mask-col``.
    """

    n: int
    row_start: int  # 0-based position of the first row in the input
    target: np.ndarray | None
    valid: np.ndarray  # bool (n,)
    n_ignored: int  # rows whose label is the ignore index
    n_masked: int  # rows whose mask is false (and not ignored)
    preds: np.ndarray | None = None  # float (n, K), any memory order
    sample_weight: np.ndarray | None = None  # float64 (n,)
    ids: IdColumn | None = None  # the id column, decoded on request, when there is one
    label_codes: np.ndarray | None = None
    label_values: list[object] | None = None
    hard_pred: np.ndarray | None = None  # int64 class of y_pred (-1: not a class), when read
