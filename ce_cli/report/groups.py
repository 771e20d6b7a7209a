"""``--group-by COL`` in reports: one report per value of COL beside the overall one.

Every report kind keeps its own shape; a grouped report adds ``group_by`` (the column) and
``groups`` (one entry per value, sorted, nulls last) to its JSON, a table with one row per group
to its text and Markdown (the columns come from the report's ``group_row``), and writes its CSV
in long form: the group's value in the first column, then the report's usual CSV rows.

A group whose numbers are undefined (e.g. every row of it was left out by ``--ignore-index``)
gets an ``error`` instead of a report, and a warning in the overall report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ce_cli.core.errors import CEError
from ce_cli.core.group_keys import json_key, key_text, sort_key
from ce_cli.engine.accumulate import ByGroup, Mergeable
from ce_cli.report.view import Table, View

A = TypeVar("A", bound=Mergeable)
_OVERALL_ONLY = ("schema_version", "kind", "source")  # said once, at the top


class GroupedReport(Protocol):
    """What a report kind provides to be grouped."""

    group_by: str | None
    groups: list[GroupEntry]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]: ...

    def csv_table(self) -> Table: ...

    def group_row(self) -> dict[str, Any]: ...


@dataclass
class GroupEntry:
    """One value of the ``--group-by`` column and its report (or why it has none)."""

    key: Any
    report: Any | None
    error: str | None = None

    @property
    def label(self) -> str:
        return key_text(self.key)


def build_groups(by: ByGroup[A], build: Callable[[A], Any]) -> list[GroupEntry]:
    """``build(accumulator)`` for every group, in value order (nulls last)."""
    entries = []
    for key in sorted(by.parts, key=sort_key):
        try:
            entries.append(GroupEntry(key, build(by.parts[key])))
        except CEError as exc:
            entries.append(GroupEntry(key, None, str(exc)))
    return entries


def attach(report: GroupedReport, column: str, groups: list[GroupEntry]) -> None:
    """Set ``report``'s groups and warn about the groups without numbers."""
    report.group_by, report.groups = column, groups
    report.warnings += [
        f"{column}={g.label}: no report for this group: {g.error}" for g in groups if g.error
    ]


def groups_dict(report: GroupedReport) -> dict[str, Any]:
    """The JSON keys a grouped report adds (none when it is not grouped)."""
    if report.group_by is None:
        return {}
    out = []
    for g in report.groups:
        if g.report is None:
            out.append({"value": json_key(g.key), "error": g.error})
            continue
        body = {k: v for k, v in g.report.to_dict().items() if k not in _OVERALL_ONLY}
        out.append({"value": json_key(g.key), **body})
    return {"group_by": report.group_by, "groups": out}


def with_groups(view: View, report: GroupedReport) -> View:
    """``view`` with the table of groups first, one row per group."""
    if report.group_by is None or not report.groups:
        return view
    cells = [None if g.report is None else g.report.group_row() for g in report.groups]
    columns = list(next((c for c in cells if c is not None), {}))
    table = Table(
        [report.group_by, *columns],
        [
            [g.label, *([None] * len(columns) if c is None else c.values())]
            for g, c in zip(report.groups, cells, strict=True)
        ],
        caption=f"by {report.group_by} ({len(report.groups)} groups)",
    )
    view.title += f" · by {report.group_by}"
    view.tables.insert(0, table)
    return view


def grouped_csv(report: GroupedReport, overall: Table) -> Table:
    """The CSV of a grouped report: every group's rows, its value in the first column."""
    if report.group_by is None:
        return overall
    name = report.group_by if report.group_by not in overall.columns else f"group_{report.group_by}"
    rows = [
        [g.label, *row]
        for g in report.groups
        if g.report is not None
        for row in g.report.csv_table().rows
    ]
    return Table([name, *overall.columns], rows)
