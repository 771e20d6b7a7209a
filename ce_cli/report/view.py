"""Reports are plain data. Each report kind can give a JSON-ready dict and a ``View``
(summary, tables, warnings) that the renderers in ``render/`` turn into text.
Only renderers format numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

SCHEMA_VERSION = 1


@dataclass
class Table:
    """``optional``: columns a narrow terminal may hide, least important first; ``status``: the
    column whose cells are verdicts (pass/FAIL/warn), which a colour terminal styles."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""
    optional: tuple[str, ...] = ()
    status: str | None = None


@dataclass
class View:
    """What a human reads: a title, a one-line summary, tables and warnings."""

    title: str
    summary: list[tuple[str, Any]]
    tables: list[Table]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    closing: list[str] = field(default_factory=list)  # last lines (ce check: what failed)


class Report(Protocol):
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]: ...

    def view(self) -> View: ...

    def csv_table(self) -> Table: ...


def finite_or_none(x: float | None) -> float | None:
    """JSON never holds NaN or inf: an undefined number is null."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
