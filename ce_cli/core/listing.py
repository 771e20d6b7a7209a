"""Lists of names in one line of a message: the first few, then how many more."""

from __future__ import annotations

from collections.abc import Sequence


def shortened(names: Sequence[str], limit: int = 20) -> str:
    """``"a, b, … (n more)"``: the first ``limit`` names joined, and a count of the rest."""
    shown = ", ".join(names[:limit])
    more = len(names) - limit
    return shown + (f", … ({more} more)" if more > 0 else "")
