"""ce's optional compiled kernel, ``_native`` (built from ``_native.c`` at install when a C
compiler is there): the cross-entropy block pass behind ``losses.ce_index_rows``.

``KERNEL`` is the module, or ``None`` when it was not built or ``CE_NATIVE=0`` turns it off;
the numpy kernel then gives the same losses (within a few ulp), only slower. ``ce --version``
prints ``describe()``, so a user can see which one runs.
"""

from __future__ import annotations

import os
from types import ModuleType


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
