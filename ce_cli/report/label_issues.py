"""``ce label-issues`` as a library function: confident learning, streamed.

The rows whose given label is likely wrong, as cleanlab's ``filter.find_label_issues`` finds
them, ranked by its label-quality scores; the estimated count is ``count.num_label_issues``.
The input is read in bounded memory, in passes:

1. the per-class thresholds ``t_j`` (mean ``p_j`` over rows labelled j);
2. the confident joint ``C[given][true]`` and the threshold-only counts — for
   ``confident_learning`` and ``predicted_neq_given`` this pass also lists the flagged rows;
3. (``prune_by_noise_rate``, ``prune_by_class``, ``both``) per (given, class) cell the rows the
   quota of the calibrated joint takes (at most Σ quota entries: about the estimated issues);
4. (same filters) the flagged rows, listed.

Logits become probabilities first (softmax; one binary column: sigmoid, as ``[1 − p, p]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ce_cli.core import confident_learning as cl
from ce_cli.core import losses
from ce_cli.core.errors import CEError
from ce_cli.core.vocab import FilterBy, InputKind, RankBy, TargetKind, Task
from ce_cli.engine import runner
from ce_cli.engine.label_issue_sums import (
    CellTop,
    Flag,
    FlaggedRows,
    IssuePass,
    JointSums,
    Sink,
    ThresholdSums,
)
from ce_cli.io.batch import Batch
from ce_cli.io.dataset import Dataset, InputOptions
from ce_cli.io.layout import Layout
from ce_cli.report.decisions import check_predictions, class_set, data_shape, decide_inputs
from ce_cli.report.view import SCHEMA_VERSION, Table, View, finite_or_none

OUT_OF_SAMPLE = (
    "The predictions must be out-of-sample (cross-validated or from a held-out model): "
    "predictions of a model trained on these rows make the estimate meaningless"
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
    given: str
    suggested: str
    p_suggested: float
    quality: float


@dataclass
class ClassIssues:
    name: str
    index: int
    support: int
    threshold: float
    noise_rate: float | None  # 1 − calibrated C[y][y] / rows labelled y
    issues_given: int  # flagged rows labelled this class
    issues_true: int  # flagged rows whose suggested label is this class


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
    confident_joint: list[list[int]]
    calibrated_joint: list[list[int]]
    per_class: list[ClassIssues]
    top: list[IssueRow]
    n_ignored: int = 0
    n_masked: int = 0
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

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
            "per_class": [vars(c) for c in self.per_class],
            "top": [vars(t) for t in self.top],
            "source": self.source,
            "notes": self.notes,
            "warnings": self.warnings,
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
        tables = [
            Table(
                ["class", "support", "threshold", "noise rate", "issues given", "issues true"],
                [
                    [c.name, c.support, c.threshold, c.noise_rate, c.issues_given, c.issues_true]
                    for c in self.per_class
                ],
                caption="noise rate: share of rows labelled the class whose true class is "
                "estimated to be another (calibrated confident joint)",
            ),
            Table(
                ["row", "id", "given", "suggested", "p_suggested", self.rank_by],
                self._rows(),
                caption=f"{len(self.top)} of {self.n_flagged} flagged rows, lowest "
                f"{self.rank_by} first (rows 0-based; all: -o rows.csv|.parquet)",
            ),
        ]
        title = f"ce label-issues · {self.source.get('file', '')}"
        notes = [n for n in self.notes if n != OUT_OF_SAMPLE]
        return View(title, summary, tables, self.warnings, notes, closing=[OUT_OF_SAMPLE])

    def _rows(self) -> list[list[Any]]:
        return [[t.row, t.id, t.given, t.suggested, t.p_suggested, t.quality] for t in self.top]

    def csv_table(self) -> Table:
        return Table(["row", "id", "given", "suggested", "p_suggested", "quality"], self._rows())


# ---------------------------------------------------------------------- decisions
class Plan(NamedTuple):
    """Decided once, before the first batch: classes, input kind, binary single column."""

    layout: Layout
    classes: tuple[str, ...]
    inputs: InputKind
    decided_by: str
    one_column: bool

    @property
    def columns(self) -> tuple[str, ...]:
        assert self.layout.preds is not None
        return tuple(self.layout.preds.names)


def _check(options: InputOptions, li: LabelIssuesOptions) -> None:
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
    for flag, value in (("--weight-col", options.weight_col), ("--group-by", options.group_by)):
        if value is not None:
            raise CEError(f"{flag} is not used by ce label-issues (cleanlab has none); drop it")


def _plan(dataset: Dataset, li: LabelIssuesOptions) -> Plan:
    layout = dataset.layout
    classes = class_set(layout)
    first = dataset.first_batch()
    assert first.preds is not None
    if layout.target_kind == TargetKind.MULTI_HOT:
        raise CEError(
            f"{layout.label_file}: multi-label data; ce label-issues finds issues in "
            "single-label (binary or multiclass) data only so far"
        )
    if layout.target_kind == TargetKind.SOFT:
        raise CEError(
            f"{layout.label_file}: soft targets (class probabilities); label issues need one "
            "given class per row"
        )
    data_shape(layout, first.preds.shape[1], len(classes))
    inputs, decided_by = decide_inputs(layout, first, li.inputs)
    return Plan(layout, classes, inputs, decided_by, first.preds.shape[1] == 1)


# ---------------------------------------------------------------------- per batch
class Rows(NamedTuple):
    probs: np.ndarray  # float64 (n, K), rows of the simplex (or as given)
    given: np.ndarray  # int64 (n,)
    rows: np.ndarray  # int64 (n,): 0-based input rows
    positions: np.ndarray  # positions in the batch


def probabilities(batch: Batch, plan: Plan) -> Rows | None:
    """The used rows of ``batch`` as probabilities (softmax / sigmoid of logits)."""
    assert batch.preds is not None and batch.target is not None
    used = np.flatnonzero(batch.valid)
    if used.size == 0:
        return None
    preds = cl.c_order_rows(batch.preds, None if used.size == batch.n else used)
    check_predictions(
        preds,
        batch.row_start + used,
        plan.layout.pred_file,
        plan.columns,
        probs=plan.inputs == InputKind.PROBS,
    )
    if plan.inputs == InputKind.LOGITS:
        if plan.one_column:
            log_p, log_1mp = losses.log_sigmoid_pair(preds[:, 0])
            probs = np.column_stack([np.exp(log_1mp), np.exp(log_p)])
        else:
            probs = cl.softmax_inplace(preds)
    elif plan.one_column:
        probs = np.column_stack([1 - preds[:, 0], preds[:, 0]])
    else:
        probs = preds
    given = np.asarray(batch.target[used], dtype=np.int64)
    return Rows(probs, given, batch.row_start + used, used)


# ---------------------------------------------------------------------- the passes
PRUNING = (FilterBy.PRUNE_BY_NOISE_RATE, FilterBy.PRUNE_BY_CLASS, FilterBy.BOTH)


def compute_label_issues(
    options: InputOptions, li: LabelIssuesOptions = LabelIssuesOptions(), sink: Sink | None = None
) -> LabelIssuesReport:
    """Label issues of a predictions file, as cleanlab finds them, in 2 passes (4 for the
    ``prune_by_*`` filters and ``both``). ``sink`` receives every flagged row (``-o``)."""
    _check(options, li)
    if sink is not None:
        runner.require_local(options, "-o rows (every flagged row)")
    dataset = Dataset(options, read_preds=True)
    plan = _plan(dataset, li)
    passes = 4 if li.filter_by in PRUNING else 2
    k = len(plan.classes)
    first = _run(dataset, plan, lambda: ThresholdSums(k), _by_probs, f"pass 1/{passes}")
    if first.counts.sum() == 0:
        raise CEError(
            f"{plan.layout.pred_file}: no label issues to look for: every row was left out "
            "(--ignore-index / --mask-col / --where)"
        )
    t = cl.thresholds(first.sums, first.counts)
    flag: Flag = _threshold_flag(li.filter_by)
    if li.filter_by in PRUNING:
        flag = _pruned_flag(options, plan, t, first.counts, li.filter_by)

    def make() -> IssuePass:
        return IssuePass(t, flag, li.rank_by, li.top, sink)

    last = _run(
        Dataset(options, read_preds=True),
        plan,
        make,
        _issue_update,
        f"pass {passes}/{passes}",
        threads=1 if sink is not None else None,
    )
    return _report(last, first, t, plan, li, options, passes)


def _run(
    dataset: Dataset,
    plan: Plan,
    make: Callable[[], Any],
    update: Callable[[Any, Rows, Batch], None],
    label: str,
    threads: int | None = None,
) -> Any:
    """One pass: ``update(accumulator, rows, batch)`` on the used rows of every batch."""

    def work(acc: Any, batch: Batch) -> None:
        if isinstance(acc, ThresholdSums):
            acc.seen(batch.n, batch.n_ignored, batch.n_masked)
        rows = probabilities(batch, plan)
        if rows is not None:
            update(acc, rows, batch)

    return runner.accumulate(dataset, make, work, dataset.options, f"label issues {label}", threads)


def _by_probs(acc: ThresholdSums | JointSums, rows: Rows, batch: Batch) -> None:
    acc.update(rows.probs, rows.given)


def _by_cell(acc: CellTop, rows: Rows, batch: Batch) -> None:
    acc.update(rows.probs, rows.given, rows.rows)


def _issue_update(acc: IssuePass, rows: Rows, batch: Batch) -> None:
    acc.update(rows.probs, rows.given, rows.rows, rows.positions, batch.ids)


def _threshold_flag(filter_by: str) -> Flag:
    """``confident_learning``: off the joint's diagonal; ``predicted_neq_given``: argmax ≠ y
    (both: unless y is the argmax within 1e-6)."""

    def flag(facts: cl.RowFacts, given: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if filter_by == FilterBy.PREDICTED_NEQ_GIVEN:
            out = facts.suggested != given
        else:
            out = (facts.true_guess >= 0) & (facts.true_guess != given)
        return out & ~facts.given_is_top

    return flag


def _pruned_flag(
    options: InputOptions, plan: Plan, t: np.ndarray, counts: np.ndarray, filter_by: str
) -> Flag:
    """Passes 2 and 3 of the ``prune_by_*`` filters: the joint, its quotas, the rows taken."""
    joint = _run(Dataset(options, read_preds=True), plan, lambda: JointSums(t), _by_probs, "2/4")
    calibrated = cl.calibrate(cl.confident_joint(joint.pairs), counts)
    quota = cl.prune_quotas(calibrated, counts)
    cells = _run(Dataset(options, read_preds=True), plan, lambda: CellTop(quota), _by_cell, "3/4")
    by_noise_rate, by_class = cells.chosen()
    chosen = {
        FilterBy.PRUNE_BY_NOISE_RATE: by_noise_rate,
        FilterBy.PRUNE_BY_CLASS: by_class,
        FilterBy.BOTH: np.intersect1d(by_noise_rate, by_class),
    }[FilterBy(filter_by)]

    def flag(facts: cl.RowFacts, given: np.ndarray, rows: np.ndarray) -> np.ndarray:
        at = np.searchsorted(chosen, rows)
        found = chosen[np.minimum(at, max(chosen.size - 1, 0))] == rows if chosen.size else at < 0
        return found & ~facts.given_is_top

    return flag


# ---------------------------------------------------------------------- the report
def _report(
    last: IssuePass,
    first: ThresholdSums,
    t: np.ndarray,
    plan: Plan,
    li: LabelIssuesOptions,
    options: InputOptions,
    passes: int,
) -> LabelIssuesReport:
    counts = first.counts
    cj = cl.confident_joint(last.joint.pairs)
    calibrated = cl.calibrate(cj, counts)
    flagged = last.flagged
    n_used = int(counts.sum())
    notes = [
        OUT_OF_SAMPLE,
        *plan.layout.notes,
        f"inputs: {plan.inputs} (from {plan.decided_by})"
        + ("; softmax/sigmoid first" if plan.inputs == InputKind.LOGITS else ""),
        f"read in {passes} passes; num_label_issues is cleanlab's count.num_label_issues "
        "(off_diagonal); the flagged rows are filter.find_label_issues(filter_by="
        f"{li.filter_by!r})",
    ]
    return LabelIssuesReport(
        task=plan.layout.task or (Task.BINARY if len(plan.classes) <= 2 else Task.MULTICLASS),
        n_samples=first.n_rows,
        n_used=n_used,
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
        per_class=_per_class(plan.classes, counts, t, calibrated, flagged),
        top=_top_rows(flagged, plan.classes),
        source={"file": options.display, "labels_file": options.labels_path},
        notes=notes,
    )


def _per_class(
    classes: tuple[str, ...],
    counts: np.ndarray,
    t: np.ndarray,
    calibrated: np.ndarray,
    flagged: FlaggedRows,
) -> list[ClassIssues]:
    out = []
    for j, name in enumerate(classes):
        n = int(counts[j])
        out.append(
            ClassIssues(
                name=name,
                index=j,
                support=n,
                threshold=float(t[j]),
                noise_rate=1 - calibrated[j, j] / n if n else None,
                issues_given=int(flagged.by_given[j]),
                issues_true=int(flagged.by_suggested[j]),
            )
        )
    return out


def _top_rows(flagged: FlaggedRows, classes: tuple[str, ...]) -> list[IssueRow]:
    top = flagged.top
    return [
        IssueRow(
            row=row,
            id=flagged.top_ids.get(row),
            given=classes[int(top.payload["given"][i])],
            suggested=classes[int(top.payload["suggested"][i])],
            p_suggested=float(top.payload["p_suggested"][i]),
            quality=float(-top.keys[i]),
        )
        for i, row in enumerate(top.rows.tolist())
    ]
