"""Group keys (the values of a ``--group-by`` column) as reports show, store and sort them.

Pure Python, no imports: ``ce check``'s rules use it, and ``ce --help`` must stay light.
"""

from __future__ import annotations

from typing import Any


def key_text(key: Any) -> str:
    """A group key as reports show it (null as ``(null)``)."""
    if key is None:
        return "(null)"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def json_key(key: Any) -> Any:
    """A group key as JSON holds it: text, a number, a boolean or null (dates as text)."""
    return key if key is None or isinstance(key, (str, int, float, bool)) else key_text(key)


def sort_key(key: Any) -> tuple[int, str, Any]:
    """Order groups by value, nulls last, whatever the key types."""
    if key is None:
        return (1, "", 0)
    return (0, type(key).__name__, key)
