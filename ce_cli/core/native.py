"""ce's optional compiled kernels, ``_native`` (built from ``_native.c`` at install when a C
compiler is there): the cross-entropy block pass behind ``losses.ce_index_rows``, and the
exponentials and moments of the temperature fit (``calibration.exp_moments``).

``KERNEL`` is the module, or ``None`` when it was not built or ``CE_NATIVE=0`` turns it off;
the numpy kernels then give the same numbers (within a few ulp), only slower. ``ce --version``
prints ``describe()``, so a user can see which one runs.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any


def _load() -> tuple[ModuleType | None, str]:
    if os.environ.get("CE_NATIVE", "1") == "0":
        return None, "numpy (CE_NATIVE=0)"
    try:
        from ce_cli.core import _native
    except ImportError:
        return None, "numpy (the compiled kernel was not built: no C compiler at install)"
    return _native, "compiled (ce_cli.core._native)"


KERNEL, _DESCRIPTION = _load()


def describe() -> str:
    """Which cross-entropy kernel runs, for ``ce --version``."""
    return _DESCRIPTION


def takes(block: Any, row_major: bool = False) -> bool:
    """Whether the compiled kernels take this class-major block (C, m): float32 or float64,
    each class's values contiguous (a column-major batch's rows, transposed) — or, with
    ``row_major`` (``ce_block`` only), each row's values contiguous (a C-ordered batch)."""
    if KERNEL is None or block.ndim != 2 or block.dtype.char not in "fd":
        return False
    size = block.itemsize
    return _inner_contiguous(block.strides, size) or (
        row_major and _inner_contiguous(block.strides[::-1], size)
    )


def _inner_contiguous(strides: tuple[int, int], size: int) -> bool:
    outer, inner = strides
    return inner == size and outer >= 0 and outer % size == 0
