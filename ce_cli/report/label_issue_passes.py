"""The passes of ``ce label-issues`` over the input, for every scope at once.

A scope is the whole input (``OVERALL``) or, with ``--group-by``, one value of the column: each
pass feeds every batch's piece to the overall accumulator and to its group's, made with that
group's own thresholds, quotas and flags — so a group's numbers are those of a run on its rows
alone, and the overall numbers those of a run without ``--group-by``.

1. the thresholds (``ThresholdSums``);
2. (``prune_by_*``, ``both``) the confident joint, whose calibration gives the prune quotas;
3. (same filters) per (given, class) cell the rows the quotas take (``CellTop``);
4. the flagged rows, listed, and the joint's counts again (``IssuePass``).

Multi-label files are one-vs-rest, one binary problem per label (``LabelJointSums``,
``LabelCellTops``, ``LabelIssuePass``); logits become probabilities first (softmax; sigmoid
for one binary column and for multi-label).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ce_cli.core import confident_learning as cl
from ce_cli.core import losses
from ce_cli.core.errors import CEError
from ce_cli.core.vocab import FilterBy, InputKind, TargetKind
from ce_cli.engine import runner
from ce_cli.engine.label_issue_sums import (
    OVERALL,
    CellTop,
    Flag,
    IssuePass,
    JointSums,
    LabelCellTops,
    LabelFlag,
    LabelIssuePass,
    LabelJointSums,
    Scopes,
    Sink,
    ThresholdSums,
)
from ce_cli.io.batch import Batch
from ce_cli.io.dataset import Dataset, InputOptions
from ce_cli.io.layout import Layout
from ce_cli.report.decisions import check_predictions

PRUNING = (FilterBy.PRUNE_BY_NOISE_RATE, FilterBy.PRUNE_BY_CLASS, FilterBy.BOTH)


class Plan(NamedTuple):
    """Decided once, before the first batch: classes (labels), input kind, one binary column."""

    layout: Layout
    classes: tuple[str, ...]
    inputs: InputKind
    decided_by: str
    one_column: bool

    @property
    def columns(self) -> tuple[str, ...]:
        assert self.layout.preds is not None
        return tuple(self.layout.preds.names)

    @property
    def multilabel(self) -> bool:
        return self.layout.target_kind == TargetKind.MULTI_HOT


class Rows(NamedTuple):
    probs: np.ndarray  # float64 (n, K): rows of the simplex; multi-label: p_j of each label
    given: np.ndarray  # int64 (n,); multi-label: 0/1 (n, L)
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
    logits = plan.inputs == InputKind.LOGITS
    if plan.multilabel:
        probs = np.exp(losses.log_sigmoid_pair(preds)[0]) if logits else preds
    elif logits and plan.one_column:
        log_p, log_1mp = losses.log_sigmoid_pair(preds[:, 0])
        probs = np.column_stack([np.exp(log_1mp), np.exp(log_p)])
    elif logits:
        probs = losses.softmax_inplace(preds)
    elif plan.one_column:
        probs = np.column_stack([1 - preds[:, 0], preds[:, 0]])
    else:
        probs = preds
    given = np.asarray(batch.target[used], dtype=np.int64)
    return Rows(probs, given, batch.row_start + used, used)


# ---------------------------------------------------------------------- one pass, all scopes
def run_pass(
    options: InputOptions,
    plan: Plan,
    make: Callable[[Any], Any],
    update: Callable[[Any, Rows, Batch], None],
    label: str,
    threads: int | None = None,
) -> Scopes:
    """One pass: ``update(accumulator, rows, batch)`` on the used rows of every batch, for the
    overall scope and (``--group-by``) the batch piece's group; ``make(key)`` makes a scope's
    accumulator (None: the group is left out of this pass)."""
    dataset = Dataset(options, read_preds=True)
    column = dataset.group.name if dataset.group is not None else None

    def scopes() -> Scopes:
        return Scopes(make, column)

    def work(acc: Any, batch: Batch) -> None:
        targets = [acc.overall] if isinstance(acc, Scopes) else [a for a in acc if a is not None]
        for target in targets:
            if isinstance(target, ThresholdSums):
                target.seen(batch.n, batch.n_ignored, batch.n_masked)
        rows = probabilities(batch, plan)
        if rows is not None:
            for target in targets:
                update(target, rows, batch)

    title = f"label issues pass {label}"
    if column is None:
        return runner.accumulate(dataset, scopes, work, options, title, threads)
    return runner.accumulate_pieces(dataset, scopes, work, options, title)


def by_scope(scopes: Scopes) -> dict[Any, Any]:
    """{OVERALL: the overall accumulator, key: each group's (None for a left-out group)}."""
    return {OVERALL: scopes.overall, **scopes.parts}


# ---------------------------------------------------------------------- what a scope found
@dataclass
class Scope:
    """What the passes found for one scope: pass 1's sums, the thresholds (None when every
    row was left out) and the last pass (None then too)."""

    first: ThresholdSums
    t: np.ndarray | None = None
    last: IssuePass | LabelIssuePass | None = None


def run_passes(
    options: InputOptions, plan: Plan, filter_by: str, rank_by: str, top: int, sink: Sink | None
) -> tuple[dict[Any, Scope], int]:
    """Every scope's ``Scope`` (key ``OVERALL`` for all rows), and the number of passes."""
    passes = 4 if filter_by in PRUNING else 2
    k = len(plan.classes)
    shape = (k, 2) if plan.multilabel else k
    first = run_pass(options, plan, lambda key: ThresholdSums(shape), _by_probs, f"1/{passes}")
    scopes = {key: Scope(acc) for key, acc in by_scope(first).items()}
    for scope in scopes.values():
        if scope.first.counts.sum() > 0:
            scope.t = cl.thresholds(scope.first.sums, scope.first.counts)
    if scopes[OVERALL].t is None:
        raise no_rows_error(plan)
    flags = _flags(options, plan, scopes, filter_by, passes)
    pass_class = LabelIssuePass if plan.multilabel else IssuePass

    def make(key: Any) -> Any:
        t = scopes[key].t
        if t is None:
            return None
        return pass_class(t, flags[key], rank_by, top, sink if key == OVERALL else None)  # type: ignore[arg-type]

    last = run_pass(
        options,
        plan,
        make,
        _issue_update,
        f"{passes}/{passes}",
        threads=1 if sink is not None else None,
    )
    for key, acc in by_scope(last).items():
        scopes[key].last = acc
    return scopes, passes


def joints(pairs: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the confident joint, calibrated to the label counts); multi-label: (L, 2, 2) each."""
    if pairs.ndim == 3:
        cj = cl.per_label(cl.confident_joint, pairs)
        return cj, cl.per_label(cl.calibrate, cj, counts)
    cj = cl.confident_joint(pairs)
    return cj, cl.calibrate(cj, counts)


# ---------------------------------------------------------------------- flags
def _flags(
    options: InputOptions, plan: Plan, scopes: dict[Any, Scope], filter_by: str, passes: int
) -> dict[Any, Flag | LabelFlag]:
    """Every scope's flag: threshold-only, or (``prune_by_*``, ``both``) the rows passes 2
    and 3 choose (multi-label: per label)."""
    if filter_by not in PRUNING:
        flag = label_threshold_flag(filter_by) if plan.multilabel else threshold_flag(filter_by)
        return {key: flag for key in scopes}
    joint_class = LabelJointSums if plan.multilabel else JointSums

    def make_joint(key: Any) -> Any:
        t = scopes[key].t
        return None if t is None else joint_class(t)

    joint = by_scope(run_pass(options, plan, make_joint, _by_probs, f"2/{passes}"))
    quotas = {}
    for key, acc in joint.items():
        if acc is not None:
            counts = scopes[key].first.counts
            calibrated = joints(acc.pairs, counts)[1]
            quotas[key] = (
                cl.per_label(cl.prune_quotas, calibrated, counts)
                if plan.multilabel
                else cl.prune_quotas(calibrated, counts)
            )
    cells_class = LabelCellTops if plan.multilabel else CellTop

    def make_cells(key: Any) -> Any:
        return cells_class(quotas[key]) if key in quotas else None

    cells = by_scope(run_pass(options, plan, make_cells, _by_cell, f"3/{passes}"))
    out: dict[Any, Flag | LabelFlag] = {}
    for key, acc in cells.items():
        if acc is None:
            continue
        if plan.multilabel:
            out[key] = label_chosen_flag(acc.chosen(), filter_by)
        else:
            noise, by_class = acc.chosen()
            out[key] = chosen_flag(noise, by_class, filter_by)
    return out


def threshold_flag(filter_by: str) -> Flag:
    """``confident_learning``: off the joint's diagonal; ``predicted_neq_given``: argmax ≠ y
    (both: unless y is the argmax within 1e-6)."""

    def flag(facts: cl.RowFacts, given: np.ndarray, rows: np.ndarray) -> np.ndarray:
        off, neq = cl.issue_masks(facts, given)
        return neq if filter_by == FilterBy.PREDICTED_NEQ_GIVEN else off

    return flag


def label_threshold_flag(filter_by: str) -> LabelFlag:
    """``threshold_flag`` of every label at once: (n, L) masks."""

    def flag(facts: cl.LabelFacts, given: np.ndarray, rows: np.ndarray) -> np.ndarray:
        off, neq = cl.label_issue_masks(facts, given)
        return neq if filter_by == FilterBy.PREDICTED_NEQ_GIVEN else off

    return flag


def _chosen(by_noise_rate: np.ndarray, by_class: np.ndarray, filter_by: str) -> np.ndarray:
    """The sorted rows a ``prune_by_*`` filter (or ``both``) takes."""
    return {
        FilterBy.PRUNE_BY_NOISE_RATE: by_noise_rate,
        FilterBy.PRUNE_BY_CLASS: by_class,
        FilterBy.BOTH: np.intersect1d(by_noise_rate, by_class),
    }[FilterBy(filter_by)]


def _in_sorted(chosen: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``rows`` found in the sorted array ``chosen``."""
    if chosen.size == 0:
        return np.zeros(rows.size, dtype=bool)
    at = np.minimum(np.searchsorted(chosen, rows), chosen.size - 1)
    return np.asarray(chosen[at] == rows)


def chosen_flag(by_noise_rate: np.ndarray, by_class: np.ndarray, filter_by: str) -> Flag:
    """The rows the prune quotas took, unless the given label is the argmax within 1e-6."""
    chosen = _chosen(by_noise_rate, by_class, filter_by)

    def flag(facts: cl.RowFacts, given: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return _in_sorted(chosen, rows) & ~facts.given_is_top

    return flag


def label_chosen_flag(chosen: list[tuple[np.ndarray, np.ndarray]], filter_by: str) -> LabelFlag:
    """``chosen_flag`` of every label (``chosen[j]``: label j's rows by noise rate, by class)."""
    per_label = [_chosen(noise, by_class, filter_by) for noise, by_class in chosen]

    def flag(facts: cl.LabelFacts, given: np.ndarray, rows: np.ndarray) -> np.ndarray:
        found = np.column_stack([_in_sorted(c, rows) for c in per_label])
        return found & ~facts.given_is_top

    return flag


def _by_probs(acc: ThresholdSums | JointSums | LabelJointSums, rows: Rows, batch: Batch) -> None:
    acc.update(rows.probs, rows.given)


def _by_cell(acc: CellTop | LabelCellTops, rows: Rows, batch: Batch) -> None:
    acc.update(rows.probs, rows.given, rows.rows)


def _issue_update(acc: IssuePass | LabelIssuePass, rows: Rows, batch: Batch) -> None:
    acc.update(rows.probs, rows.given, rows.rows, rows.positions, batch.ids)


def no_rows_error(plan: Plan) -> CEError:
    return CEError(
        f"{plan.layout.pred_file}: no label issues to look for: every row was left out "
        "(--ignore-index / --mask-col / --where)"
    )
