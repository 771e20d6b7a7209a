"""``ce label-issues`` as a library function: confident learning, streamed.

The rows whose given label is likely wrong, as cleanlab's ``filter.find_label_issues`` finds
them, ranked by its label-quality scores; the estimated count is ``count.num_label_issues``.
The input is read in bounded memory, in 2 passes (4 for the ``prune_by_*`` filters and
``both``; ``report.label_issue_passes``). Multi-label files are one-vs-rest per label, as
cleanlab's ``multi_label=True``. With ``--group-by COL`` every value of COL gets the report a run
on its rows alone would give, beside the overall one (the report without ``--group-by``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ce_cli.core.errors import CEError
from ce_cli.core.group_keys import sort_key
from ce_cli.core.vocab import FilterBy, InputKind, RankBy, TargetKind, Task
from ce_cli.engine import runner
from ce_cli.engine.label_issue_sums import OVERALL, FlaggedRows, Sink
from ce_cli.io.dataset import Dataset, InputOptions
from ce_cli.report.decisions import class_set, data_shape, decide_inputs
from ce_cli.report.groups import GroupEntry, attach, grouped_csv, groups_dict, with_groups
from ce_cli.report.label_issue_passes import Plan, Scope, joints, run_passes
from ce_cli.report.view import SCHEMA_VERSION, Table, View, finite_or_none

OUT_OF_SAMPLE = (
    "The predictions must be out-of-sample (cross-validated or from a held-out model): "
    "predictions of a model trained on these rows make the estimate meaningless"
)
MULTILABEL_NOTE = (
    "multi-label: one-vs-rest per label, as cleanlab's multi_label=True: label j is a binary "
    "problem [1 − p_j, p_j] with its own thresholds, confident joint and flagged rows; a row is "
    "flagged when any of its labels is; its quality is the exponential moving average "
    "(alpha 0.8) of its per-label scores, largest first"
)
WEIGHT_COL = (
    "--weight-col is not used by ce label-issues: confident learning counts rows (the "
    "thresholds are plain means, the confident joint and the number of issues are row counts) "
    "and cleanlab has no sample weight; drop it (leave rows out with --mask-col or --where)"
)


@dataclass(frozen=True)
class LabelIssuesOptions:
    filter_by: str = FilterBy.PRUNE_BY_NOISE_RATE
    rank_by: str = RankBy.SELF_CONFIDENCE
    inputs: str = InputKind.AUTO
    top: int = 20


@dataclass
class IssueRow:
    row: int  # 0-based input row
    id: Any
    given: str | list[str]  # multi-label: the labels given
    suggested: str | list[str]  # multi-label: the labels with p > 1 − p
    p_suggested: float | None  # None for multi-label (not in its JSON)
    quality: float
    issue_labels: list[str] | None = None  # multi-label: the labels flagged

    def to_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        for name in ("p_suggested", "issue_labels"):
            if out[name] is None:
                del out[name]
        return out


LABEL_COLUMNS = (
    *("label", "positives", "threshold", "noise rate", "missing rate"),
    *("flagged", "flagged given", "flagged predicted"),
)
MULTILABEL_FIELDS = ("negatives", "threshold_negative", "noise_rate_negative", "issues")


@dataclass
class ClassIssues:
    name: str
    index: int
    support: int  # rows labelled this class (multi-label: rows with the label)
    threshold: float
    noise_rate: float | None  # 1 − calibrated C[y][y] / rows labelled y
    issues_given: int  # flagged rows labelled this class (multi-label: flagged on it, given)
    issues_true: int  # flagged rows whose suggested label is this class (… predicted)
    # multi-label only: rows without the label, their threshold (mean 1 − p over them), the
    # share of them that truly have it, and the rows flagged on this label
    negatives: int | None = None
    threshold_negative: float | None = None
    noise_rate_negative: float | None = None
    issues: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        if self.issues is None:
            for name in MULTILABEL_FIELDS:
                del out[name]
        return out


@dataclass
class LabelIssuesReport:
    task: str
    n_samples: int
    n_used: int
    inputs: str
    inputs_decided_by: str
    filter_by: str
    rank_by: str
    num_label_issues: int
    n_flagged: int
    passes: int
    classes: list[str]
    confident_joint: list[Any]  # (K, K); multi-label (L, 2, 2)
    calibrated_joint: list[Any]
    per_class: list[ClassIssues]
    top: list[IssueRow]
    n_ignored: int = 0
    n_masked: int = 0
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    group_by: str | None = None
    groups: list[GroupEntry] = field(default_factory=list)

    @property
    def multilabel(self) -> bool:
        return self.task == Task.MULTILABEL

    @property
    def label_issue_rate(self) -> float | None:
        return self.num_label_issues / self.n_used if self.n_used else None

    @property
    def summary_line(self) -> str:
        rate = self.label_issue_rate
        pct = f"{100 * rate:.1f} %" if rate is not None else "n/a"
        return f"estimated {self.num_label_issues} label issues ({pct})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "label_issues",
            "task": self.task,
            "summary": self.summary_line,
            "n_samples": self.n_samples,
            "n_used": self.n_used,
            "n_ignored": self.n_ignored,
            "n_masked": self.n_masked,
            "inputs": {"kind": self.inputs, "decided_by": self.inputs_decided_by},
            "filter_by": self.filter_by,
            "rank_by": self.rank_by,
            "num_label_issues": self.num_label_issues,
            "label_issue_rate": finite_or_none(self.label_issue_rate),
            "n_flagged": self.n_flagged,
            "passes": self.passes,
            "classes": self.classes,
            "confident_joint": self.confident_joint,
            "calibrated_joint": self.calibrated_joint,
            "per_class": [c.to_dict() for c in self.per_class],
            "top": [t.to_dict() for t in self.top],
            "source": self.source,
            "notes": self.notes,
            "warnings": self.warnings,
            **groups_dict(self),
        }

    def group_row(self) -> dict[str, Any]:
        """The columns of this report's row in a ``--group-by`` table."""
        return {
            "N": self.n_samples,
            "used": self.n_used,
            "label issues": self.num_label_issues,
            "rate": self.label_issue_rate,
            "flagged": self.n_flagged,
        }

    def view(self) -> View:
        summary: list[tuple[str, Any]] = [
            ("", self.summary_line),
            ("flagged", self.n_flagged),
            ("filter", self.filter_by),
            ("N", self.n_samples),
            ("used", self.n_used),
            ("", self.task),
            ("inputs", self.inputs),
        ]
        top_columns = ["row", "id", "given", "suggested"]
        top_columns += ["labels flagged"] if self.multilabel else ["p_suggested"]
        tables = [
            self._class_table(),
            Table(
                [*top_columns, self.rank_by],
                self._rows(),
                caption=f"{len(self.top)} of {self.n_flagged} flagged rows, lowest "
                f"{self.rank_by} first (rows 0-based; all: -o rows.csv|.parquet)",
            ),
        ]
        title = f"ce label-issues · {self.source.get('file', '')}"
        notes = [n for n in self.notes if n != OUT_OF_SAMPLE]
        view = View(title, summary, tables, self.warnings, notes, closing=[OUT_OF_SAMPLE])
        return with_groups(view, self)

    def _class_table(self) -> Table:
        if not self.multilabel:
            return Table(
                ["class", "support", "threshold", "noise rate", "issues given", "issues true"],
                [
                    [c.name, c.support, c.threshold, c.noise_rate, c.issues_given, c.issues_true]
                    for c in self.per_class
                ],
                caption="noise rate: share of rows labelled the class whose true class is "
                "estimated to be another (calibrated confident joint)",
            )
        return Table(
            list(LABEL_COLUMNS),
            [
                [c.name, c.support, c.threshold, c.noise_rate, c.noise_rate_negative, *counts]
                for c in self.per_class
                for counts in [(c.issues, c.issues_given, c.issues_true)]
            ],
            caption="per label (one-vs-rest): noise rate: share of the rows with the label "
            "estimated not to have it; missing rate: share of the rows without it estimated to "
            "have it (calibrated confident joint)",
        )

    def _rows(self, none: str = "(none)") -> list[list[Any]]:
        """The listed rows; a multi-label list as its names joined by ``,`` (``none``: empty)."""

        def text(value: Any) -> Any:
            return (",".join(value) or none) if isinstance(value, list) else value

        return [
            [t.row, t.id, text(t.given), text(t.suggested), middle, t.quality]
            for t in self.top
            for middle in [text(t.issue_labels) if self.multilabel else t.p_suggested]
        ]

    def csv_table(self) -> Table:
        middle = "issue_labels" if self.multilabel else "p_suggested"
        overall = Table(["row", "id", "given", "suggested", middle, "quality"], self._rows(""))
        return grouped_csv(self, overall)


# ---------------------------------------------------------------------- decisions
def _check(options: InputOptions, li: LabelIssuesOptions, sink: Sink | None) -> None:
    FilterBy.parse(li.filter_by, "--filter-by")
    RankBy.parse(li.rank_by, "--rank-by")
    InputKind.parse(li.inputs, "--inputs")
    if li.top < 0:
        raise CEError(f"--top must be >= 0, not {li.top}")
    if options.path == "-" or options.labels_path == "-":
        raise CEError(
            "ce label-issues reads the input two or more times; stdin can be read once: "
            "save it to a file"
        )
    if options.weight_col is not None:
        raise CEError(WEIGHT_COL)
    if sink is not None:
        runner.require_local(options, "-o rows (every flagged row)")
        if options.group_by is not None:
            raise CEError(
                "-o rows.csv|.parquet writes the flagged rows of one analysis, not one per "
                "--group-by value; drop --group-by, or run once per group with --where"
            )


def _plan(dataset: Dataset, li: LabelIssuesOptions) -> Plan:
    layout = dataset.layout
    classes = class_set(layout)
    first = dataset.first_batch()
    assert first.preds is not None
    if layout.target_kind == TargetKind.SOFT:
        raise CEError(
            f"{layout.label_file}: soft targets (class probabilities); label issues need one "
            "given class per row (or 0/1 labels per row: multi-label)"
        )
    data_shape(layout, first.preds.shape[1], len(classes))
    inputs, decided_by = decide_inputs(layout, first, li.inputs)
    multilabel = layout.target_kind == TargetKind.MULTI_HOT
    return Plan(layout, classes, inputs, decided_by, first.preds.shape[1] == 1 and not multilabel)


# ---------------------------------------------------------------------- the passes
def compute_label_issues(
    options: InputOptions, li: LabelIssuesOptions = LabelIssuesOptions(), sink: Sink | None = None
) -> LabelIssuesReport:
    """Label issues of a predictions file, as cleanlab finds them, in 2 passes (4 for the
    ``prune_by_*`` filters and ``both``). ``sink`` receives every flagged row (``-o``)."""
    _check(options, li, sink)
    plan = _plan(Dataset(options, read_preds=True), li)
    scopes, passes = run_passes(options, plan, li.filter_by, li.rank_by, li.top, sink)
    report = _report(scopes.pop(OVERALL), plan, li, passes)
    report.source = {"file": options.display, "labels_file": options.labels_path}
    if options.group_by is not None:
        entries = []
        for key in sorted(scopes, key=sort_key):
            scope = scopes[key]
            if scope.last is None:
                why = "every row of this group was left out (--ignore-index / --mask-col)"
                entries.append(GroupEntry(key, None, f"no label issues to look for: {why}"))
            else:
                entries.append(GroupEntry(key, _report(scope, plan, li, passes)))
        attach(report, options.group_by, entries)
    return report


# ---------------------------------------------------------------------- the report
def _report(scope: Scope, plan: Plan, li: LabelIssuesOptions, passes: int) -> LabelIssuesReport:
    first, last, t = scope.first, scope.last, scope.t
    assert last is not None and t is not None
    counts = first.counts
    cj, calibrated = joints(last.joint.pairs, counts)
    flagged = last.flagged
    notes = [
        OUT_OF_SAMPLE,
        *plan.layout.notes,
        f"inputs: {plan.inputs} (from {plan.decided_by})"
        + ("; softmax/sigmoid first" if plan.inputs == InputKind.LOGITS else ""),
        f"read in {passes} passes; num_label_issues is cleanlab's count.num_label_issues "
        "(off_diagonal); the flagged rows are filter.find_label_issues(filter_by="
        f"{li.filter_by!r})",
        *([MULTILABEL_NOTE] if plan.multilabel else []),
    ]
    per_class = _per_label if plan.multilabel else _per_class
    return LabelIssuesReport(
        task=plan.layout.task or _task(plan),
        n_samples=first.n_rows,
        n_used=last.joint.n_rows,
        n_ignored=first.n_ignored,
        n_masked=first.n_masked,
        inputs=str(plan.inputs),
        inputs_decided_by=plan.decided_by,
        filter_by=str(li.filter_by),
        rank_by=str(li.rank_by),
        num_label_issues=last.joint.n_off_diagonal,
        n_flagged=flagged.n_flagged,
        passes=passes,
        classes=list(plan.classes),
        confident_joint=cj.tolist(),
        calibrated_joint=calibrated.tolist(),
        per_class=per_class(plan.classes, counts, t, calibrated, flagged),
        top=_top_rows(flagged, plan),
        notes=notes,
    )


def _task(plan: Plan) -> str:
    if plan.multilabel:
        return Task.MULTILABEL
    return Task.BINARY if len(plan.classes) <= 2 else Task.MULTICLASS


def _rate(calibrated: np.ndarray, counts: np.ndarray, j: int) -> float | None:
    """``1 − calibrated[j][j] / counts[j]`` (None without rows)."""
    n = int(counts[j])
    return 1 - calibrated[j, j] / n if n else None


def _per_class(
    classes: tuple[str, ...],
    counts: np.ndarray,
    t: np.ndarray,
    calibrated: np.ndarray,
    flagged: FlaggedRows,
) -> list[ClassIssues]:
    return [
        ClassIssues(
            name=name,
            index=j,
            support=int(counts[j]),
            threshold=float(t[j]),
            noise_rate=_rate(calibrated, counts, j),
            issues_given=int(flagged.by_given[j]),
            issues_true=int(flagged.by_suggested[j]),
        )
        for j, name in enumerate(classes)
    ]


def _per_label(
    labels: tuple[str, ...],
    counts: np.ndarray,
    t: np.ndarray,
    calibrated: np.ndarray,
    flagged: FlaggedRows,
) -> list[ClassIssues]:
    """Per label j (``counts``, ``t``: (L, 2); ``calibrated``: (L, 2, 2)): side 1 is the
    label given, side 0 not given."""
    return [
        ClassIssues(
            name=name,
            index=j,
            support=int(counts[j, 1]),
            threshold=float(t[j, 1]),
            noise_rate=_rate(calibrated[j], counts[j], 1),
            issues_given=int(flagged.by_given[j]),
            issues_true=int(flagged.by_suggested[j]),
            negatives=int(counts[j, 0]),
            threshold_negative=float(t[j, 0]),
            noise_rate_negative=_rate(calibrated[j], counts[j], 0),
            issues=int(flagged.by_label[j]),
        )
        for j, name in enumerate(labels)
    ]


def _top_rows(flagged: FlaggedRows, plan: Plan) -> list[IssueRow]:
    top, classes = flagged.top, plan.classes
    names = np.array(classes, dtype=object)
    out = []
    for i, row in enumerate(top.rows.tolist()):
        given, suggested = top.payload["given"][i], top.payload["suggested"][i]
        if plan.multilabel:
            out.append(
                IssueRow(
                    row=row,
                    id=flagged.top_ids.get(row),
                    given=names[given].tolist(),
                    suggested=names[suggested].tolist(),
                    p_suggested=None,
                    quality=float(-top.keys[i]),
                    issue_labels=names[top.payload["issue"][i]].tolist(),
                )
            )
            continue
        out.append(
            IssueRow(
                row=row,
                id=flagged.top_ids.get(row),
                given=classes[int(given)],
                suggested=classes[int(suggested)],
                p_suggested=float(top.payload["p_suggested"][i]),
                quality=float(-top.keys[i]),
            )
        )
    return out
