"""``pyarrow.compute``, imported on first use.

Importing it costs ~35 ms (it builds a Python wrapper for every compute function, and imports
``pydoc`` for their docstrings), and a run on numeric labels never calls it: ``pc.cast(...)``
through this stand-in imports it at the first call instead of at start-up.
"""

from __future__ import annotations

from typing import Any


class _Compute:
    def __getattr__(self, name: str) -> Any:
        import pyarrow.compute

        return getattr(pyarrow.compute, name)


pc: Any = _Compute()
