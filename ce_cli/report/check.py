"""``ce check`` as a library function: a pass/fail verdict for CI.

``run_check`` scores the file (``compute_score``), computes calibration metrics only when a
check needs them (``ce_cli.report.calibrate``, imported lazily), evaluates every threshold, and
compares with a baseline when one is given (``ce_cli.report.baseline``):

- a JSON report written earlier by ``ce score`` / ``ce check --format json``: its numbers;
- the previous model's predictions on the same rows: scored (and calibrated) with the same
  options, in the same pass collecting bounded-memory group sums (``PairedRows``) keyed by the
  id column, else the row number. The rows (and their labels) must match, or it is an error.
  A paired Poisson bootstrap over the groups gives the 95 % interval of each difference.

Regression checks: the loss always, every metric that has a threshold, and every metric
``--compare`` or ``--max-regression METRIC=X`` names; a comparison asked for by name that the
baseline cannot make is an error. Rules and tolerances: ``ce_cli.report.check_rules``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ce_cli.core.bootstrap import GroupSums, Interval, groups_for, key_hashes
from ce_cli.core.errors import CEError
from ce_cli.core.group_keys import json_key, key_text
from ce_cli.engine.loss_sums import RowTerms
from ce_cli.io.batch import Batch
from ce_cli.io.dataset import InputOptions
from ce_cli.report.baseline import (
    LEVEL,
    BaselineInfo,
    bootstrap_intervals,
    bootstrap_summary,
    check_predictions_path,
    check_same_rows,
    check_same_scoring,
    compare_reports,
    is_report,
    missing_comparison,
    pair_rows,
    read_baseline_report,
    report_info,
)
from ce_cli.report.check_rules import (
    METRICS,
    BaselineReport,
    CheckOptions,
    CheckPlan,
    CheckResult,
    Margin,
    Threshold,
    calibration_metrics,
    evaluate_regression,
    evaluate_threshold,
    expand_classes,
    make_plan,
    margin_for,
    metric_bounds,
    not_applicable,
    pair_indices,
    pair_margins,
    regression_keys,
    requested_keys,
    resolved_pairs,
    score_metrics,
)
from ce_cli.report.score import ScoreOptions, ScoreReport, compute_score
from ce_cli.report.view import SCHEMA_VERSION, Table, View

if TYPE_CHECKING:
    from ce_cli.io.ids import IdColumn


# ---------------------------------------------------------------------- the report
@dataclass
class CheckReport:
    checks: list[CheckResult]
    metrics: dict[str, float | None]
    task: str
    target_kind: str
    n_samples: int
    n_used: int
    loss_name: str
    loss_parameters: dict[str, Any]
    classes: list[str]
    fail_on: str = "value"
    baseline: BaselineInfo | None = None
    calibration: dict[str, Any] | None = None  # {n_bins, strategy} when computed
    config: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    group_by: str | None = None
    groups: list[GroupMetrics] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    @property
    def exit_code(self) -> int:
        """0 when every check passes, 1 when any fails (errors raise CEError: exit 2)."""
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "check",
            "passed": self.passed,
            "n_checks": len(self.checks),
            "n_failed": len(self.failed),
            "fail_on": self.fail_on,
            "task": self.task,
            "target_kind": self.target_kind,
            "n_samples": self.n_samples,
            "n_used": self.n_used,
            "loss": {"name": self.loss_name, "parameters": self.loss_parameters},
            "classes": self.classes,
            "checks": [c.to_dict() for c in self.checks],
            "metrics": self.metrics,
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
            "calibration": self.calibration,
            "config": self.config,
            "source": self.source,
            "notes": self.notes,
            "warnings": self.warnings,
            **(
                {
                    "group_by": self.group_by,
                    "groups": [{"value": g.value, "metrics": g.metrics} for g in self.groups],
                }
                if self.group_by is not None
                else {}
            ),
        }

    @property
    def has_intervals(self) -> bool:
        return any(c.ci is not None for c in self.checks)

    def rows(self) -> tuple[list[str], list[list[Any]]]:
        """The checks table: check, value, [± bound of binned values], threshold, baseline,
        delta, [95% CI], result."""
        with_bound = any(c.bound is not None for c in self.checks)
        columns = ["check", "value", *(["± bound"] if with_bound else [])]
        columns += ["threshold", "baseline", "delta"]
        with_ci = self.has_intervals
        if with_ci:
            columns.append(f"{LEVEL:.0%} CI")
        columns.append("result")
        rows = []
        for c in self.checks:
            row: list[Any] = [c.name, c.value, *([c.bound] if with_bound else [])]
            row += [c.threshold, c.baseline, c.delta]
            if with_ci:
                row.append(f"[{c.ci['low']:.3g}, {c.ci['high']:.3g}]" if c.ci else None)
            row.append("pass" if c.passed else "FAIL")
            rows.append(row)
        return columns, rows

    def view(self) -> View:
        summary: list[tuple[str, Any]] = [
            ("", "PASSED" if self.passed else "FAILED"),
            ("checks", len(self.checks)),
            ("failed", len(self.failed)),
            ("", self.task),
            ("N", self.n_samples),
            (self.loss_name, self.metrics.get("loss")),
        ]
        if self.baseline is not None:
            summary.append(("baseline", self.baseline.file))
        columns, rows = self.rows()
        if self.baseline is None:  # no baseline: no baseline and delta columns
            keep = [i for i, c in enumerate(columns) if c not in ("baseline", "delta")]
            columns, rows = [columns[i] for i in keep], [[r[i] for i in keep] for r in rows]
        table = Table(columns, rows, optional=("threshold", f"{LEVEL:.0%} CI"), status="result")
        title = f"ce check · {self.source.get('file', '')}"
        return View(
            title, summary, [table], self.warnings, self.notes, closing=self.verdict_lines()
        )

    def verdict_lines(self) -> list[str]:
        """The closing block: ``FAILED 2 of 18:`` and each failed check's message (its value,
        its limit and the option that set it), or ``PASSED 18 of 18``."""
        n = len(self.checks)
        if self.passed:
            return [f"PASSED {n} of {n} checks"]
        failed = self.failed
        return [f"FAILED {len(failed)} of {n}:"] + [f"  ✗ {c.message}" for c in failed]

    def csv_table(self) -> Table:
        return Table(
            [
                "check",
                "kind",
                "metric",
                "op",
                "threshold",
                "value",
                "baseline",
                "delta",
                "ci_low",
                "ci_high",
                "passed",
            ],
            [
                [
                    c.name,
                    c.kind,
                    c.metric,
                    c.op,
                    c.threshold,
                    c.value,
                    c.baseline,
                    c.delta,
                    c.ci["low"] if c.ci else None,
                    c.ci["high"] if c.ci else None,
                    c.passed,
                ]
                for c in self.checks
            ],
        )


# ---------------------------------------------------------------------- paired rows
class PairedRows:
    """A ``compute_score`` row sink: each used row's loss, correctness, sample weight and label
    into ``GroupSums`` keyed by the id column (``by_id``) and/or the row number (``by_row``).

    ``keys``: ``both`` (ids when the file has them, and row numbers), ``id`` (row numbers when
    the file has no id column) or ``row``.
    """

    def __init__(
        self,
        keys: str = "both",
        per_class: bool = False,
        predicted: bool = False,
        pair_specs: tuple[str, ...] = (),
    ) -> None:
        self.keys = keys
        self.per_class = per_class
        self.predicted = predicted  # the predicted mass per class (F1-type intervals)
        self.pair_specs = pair_specs  # confusion[A,B]'s 'A,B' as written: one array per pair
        self.by_id: GroupSums | None = None
        self.by_row: GroupSums | None = None
        self.id_type: str | None = None
        self.single_label = True
        self._started = False

    def __call__(self, batch: Batch, terms: RowTerms, classes: tuple[str, ...], task: str) -> None:
        if not self._started:
            self._start(batch, classes, task)
        positions = terms.batch_positions
        weight = None if batch.sample_weight is None else batch.sample_weight[positions]
        if self.single_label:
            correct = (terms.predicted == terms.label).astype(np.float64)
            label: np.ndarray | None = terms.label
        else:
            correct, label = np.zeros(terms.loss.size), None
        loss = np.asarray(terms.loss, dtype=np.float64)
        rows: dict[str, Any] = {"weight": weight, "label": label}
        if self.single_label:
            rows["predicted"] = terms.predicted
        else:  # the labels, for the checksum; per-label decisions for the F1 family
            rows["truth"] = terms.truth
            if self.predicted:
                rows["decision"] = terms.decision
        if self.by_id is not None:
            self.by_id.update(id_hashes(batch.ids, positions), loss, correct, **rows)
        if self.by_row is not None:
            hashes = key_hashes(np.asarray(terms.rows, dtype=np.int64))
            self.by_row.update(hashes, loss, correct, **rows)

    def _start(self, batch: Batch, classes: tuple[str, ...], task: str) -> None:
        self._started = True
        self.single_label = task != "multilabel"
        if self.single_label:
            n_classes = len(classes) if self.per_class else 0
            self.predicted = self.predicted and n_classes > 0
            pairs = list(pair_indices(self.pair_specs, classes)) if n_classes else []
            arrays = 4 if self.predicted else 3
        else:  # per label: tp, predicted positives and positives, for the F1 family only
            n_classes = len(classes) if self.predicted else 0
            pairs, arrays = [], 3
        sums = functools.partial(
            GroupSums.empty,
            groups_for(n_classes, arrays),
            n_classes,
            predicted=self.predicted,
            pairs=pairs,
            multilabel=not self.single_label,
        )
        has_ids = batch.ids is not None
        if batch.ids is not None:
            self.id_type = batch.ids.type_name
        if self.keys in ("both", "id") and has_ids:
            self.by_id = sums()
        if self.keys in ("both", "row") or (self.keys == "id" and not has_ids):
            self.by_row = sums()


def id_hashes(ids: IdColumn | None, positions: np.ndarray) -> np.ndarray:
    """64-bit hashes of the id column's values at these batch positions (integers by value,
    anything else by its text; each distinct value is hashed once)."""
    assert ids is not None
    codes, distinct = ids.codes(positions)
    return key_hashes(distinct)[codes]


# ---------------------------------------------------------------------- run_check
def run_check(
    options: InputOptions,
    check: CheckOptions | None = None,
    score: ScoreOptions | None = None,
    *,
    config: str | None = None,
) -> CheckReport:
    """Score (and calibrate, if needed) the file, compare with the baseline, and judge.

    The steps: plan (every option checked) → the current model's metrics → the baseline's
    (a report's numbers, or its predictions scored and paired row by row) → the checks.
    Raises ``CEError`` for any error (bad options, unreadable input, a baseline on other
    rows, a requested comparison the baseline cannot make); a failed check is not an error —
    see ``CheckReport.passed``.
    """
    plan = make_plan(check or CheckOptions())
    score = dataclasses.replace(score or ScoreOptions(), reduction="mean", top=0)
    score, notes = _score_options(plan, score)
    base_report = _read_baseline(plan, options)
    rows = _row_sink(plan, score) if plan.baseline and base_report is None else None
    current = _measure(options, plan, score, rows)
    plan = dataclasses.replace(plan, margins=pair_margins(plan.margins, current.classes))
    baseline = None
    if base_report is not None:
        baseline = _report_baseline(base_report, current)
    elif rows is not None:
        baseline = _predictions_baseline(options, plan, score, current, rows)
    judge = _Judge(plan, current, baseline)
    checks = judge.all_rows(current.metrics, current.bounds)
    for g in current.groups:
        checks += judge.group(f"{options.group_by}={g.label}", g.metrics, g.bounds)
    notes += _value_only_note(judge.keys) if baseline is not None else []
    report = _check_report(options, plan, current, baseline, checks, judge.warnings, config)
    report.notes = notes + report.notes
    return report


def _score_options(plan: CheckPlan, score: ScoreOptions) -> tuple[ScoreOptions, list[str]]:
    """The score options the checks need: the ``confusion[A,B]`` pairs to count (at any C); a
    top-k gate needs its K (an error without it); a ranking gate (roc_auc, average_precision,
    class_roc_auc) turns on exact --auc unless --auc or --auc-bins is given. Returns the
    options and a note saying what was turned on."""
    specs = tuple(dict.fromkeys(text for text, _ in plan.pair_specs()))
    score = dataclasses.replace(score, confusion_pairs=specs)
    top_k = plan.needing("top_k")
    if top_k and score.top_k_accuracy is None:
        raise CEError(
            f"{top_k[0]} needs its K: pass --top-k-accuracy K (e.g. --top-k-accuracy 5) "
            "with the check"
        )
    ranking = plan.needing("auc")
    if not ranking or score.auc or score.auc_bins is not None:
        return score, []
    note = (
        f"{', '.join(ranking)}: exact --auc turned on by the check (it keeps every score, "
        "8·N·K bytes; --auc-bins B bounds the memory)"
    )
    return dataclasses.replace(score, auc=True), [note]


def _value_only_note(keys: list[str]) -> list[str]:
    """Which compared metrics have no bootstrap interval by their nature (rankings)."""
    ranking = [k for k in keys if METRICS[k.split("[", 1)[0]].needs == "auc"]
    if not ranking:
        return []
    return [
        f"{', '.join(ranking)} compared with the baseline by value only: ROC-AUC and average "
        "precision are rankings, not sums of rows, so the paired bootstrap gives no interval"
    ]


@dataclass
class GroupMetrics:
    """The check metrics of one ``--group-by`` group."""

    value: Any  # as JSON holds it
    label: str  # as names show it
    metrics: dict[str, float | None]
    bounds: dict[str, float] = field(default_factory=dict)  # binned metrics: ± error


@dataclass
class _Current:
    """The current model's numbers: its score report and every metric a check needs."""

    score: ScoreReport
    classes: list[str]
    thresholds: list[Threshold]  # [*] spelled out for these classes
    pairs: list[tuple[str, str]]  # the (A, B) of every confusion[A,B] named
    metrics: dict[str, float | None]
    groups: list[GroupMetrics]
    calibration: dict[str, Any] | None  # {n_bins, strategy} when computed
    warnings: list[str]
    bounds: dict[str, float] = field(default_factory=dict)  # binned metrics: ± error


@dataclass
class _Baseline:
    """The baseline's numbers, and what pairing gave: intervals, per-group metrics."""

    info: BaselineInfo
    intervals: dict[str, Interval | None] = field(default_factory=dict)
    groups: dict[str, dict[str, float | None]] | None = None  # a report's 'COL=V' → metrics
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- steps
def _read_baseline(plan: CheckPlan, options: InputOptions) -> BaselineReport | None:
    """A JSON baseline, read; a predictions baseline, checked. Both before any pass."""
    path = plan.baseline
    report = None
    if path is not None and is_report(path):
        report = read_baseline_report(path)
        if plan.fail_on == "significant":
            raise CEError(
                f"--fail-on significant needs a paired bootstrap on the same rows: pass the "
                f"baseline model's predictions as --baseline, not a report ({path})"
            )
    elif path is not None:
        check_predictions_path(path, options.group_by)
    if plan.needs_calibration and options.path == "-":
        raise CEError(
            "calibration metrics need a second pass over the file, and stdin can be read "
            "once: save it to a file first"
        )
    return report


def _row_sink(plan: CheckPlan, score: ScoreOptions) -> PairedRows:
    """Per-row sums for pairing with a predictions baseline (per class when a per-class
    metric is compared, or a class-weighted CE mean needs Σ s·w_y)."""
    weighted_ce = score.alpha is not None and score.loss in ("auto", "ce")
    return PairedRows(
        "both",
        per_class=plan.per_class_regression or weighted_ce,
        predicted=plan.needs_class_predicted,
        pair_specs=score.confusion_pairs,
    )


def _measure(
    options: InputOptions, plan: CheckPlan, score: ScoreOptions, rows: PairedRows | None
) -> _Current:
    """Score the current model's predictions (feeding ``rows``), then calibrate if needed."""
    report = compute_score(options, score, row_sink=rows)
    classes = [c.name for c in report.per_class]
    data = report.to_dict()
    for metric in sorted(plan.metrics(), key=list(METRICS).index):
        why = not_applicable(metric, report.target_kind, data)
        if why:
            raise CEError(f"{report.source.get('file', options.path)}: {why}")
    thresholds = expand_classes(plan.thresholds, classes)
    pairs = resolved_pairs(plan, classes)
    issue_groups: dict[str, dict[str, float | None]] = {}
    metrics, cal, cal_warnings = _metrics(report, options, plan, score, pairs, issue_groups)
    return _Current(
        score=report,
        classes=classes,
        thresholds=thresholds,
        pairs=pairs,
        metrics=metrics,
        groups=_group_metrics(report, cal, pairs, issue_groups),
        calibration=(
            {"n_bins": plan.n_bins, "strategy": plan.strategy} if plan.needs_calibration else None
        ),
        warnings=report.warnings + [w for w in cal_warnings if w not in report.warnings],
        bounds=metric_bounds(data),
    )


def _metrics(
    report: ScoreReport,
    options: InputOptions,
    plan: CheckPlan,
    score: ScoreOptions,
    pairs: list[tuple[str, str]],
    issue_groups: dict[str, dict[str, float | None]] | None = None,
) -> tuple[dict[str, float | None], dict[str, Any], list[str]]:
    """A scored file's check metrics (``confusion[A,B]`` of ``pairs``), with calibration's
    when a check needs them: (metrics, the calibration report dict or {}, its warnings).
    ``issue_groups`` receives each ``--group-by`` group's label-issue metrics."""
    metrics = score_metrics(report.to_dict(), pairs)
    if plan.needs_label_issues:
        metrics.update(label_issue_metrics(options, score, issue_groups))
    if not plan.needs_calibration:
        return metrics, {}, []
    cal, cal_warnings = _calibrate(options, plan, score)
    metrics.update(calibration_metrics(cal))
    return metrics, cal, cal_warnings


def label_issue_metrics(
    options: InputOptions,
    score: ScoreOptions,
    groups: dict[str, dict[str, float | None]] | None = None,
) -> dict[str, float | None]:
    """``label_issues`` and ``label_issue_rate``: cleanlab's num_label_issues, by
    ``ce label-issues`` (its passes: 2 with the threshold-only filter it needs); ``groups``
    receives those of each ``--group-by`` group with a report, by its label."""
    from ce_cli.report.label_issues import LabelIssuesOptions, compute_label_issues

    li = LabelIssuesOptions(filter_by="confident_learning", inputs=score.inputs, top=0)
    found = compute_label_issues(options, li)
    if groups is not None:
        for g in found.groups:
            if g.report is not None:
                groups[g.label] = {
                    "label_issues": g.report.num_label_issues,
                    "label_issue_rate": g.report.label_issue_rate,
                }
    return {"label_issues": found.num_label_issues, "label_issue_rate": found.label_issue_rate}


def _report_baseline(base: BaselineReport, current: _Current) -> _Baseline:
    """A JSON report as the baseline: its numbers (same loss and classes, or an error)."""
    base.add_pairs(current.pairs)
    warnings = compare_reports(base, current.score, current.classes)
    return _Baseline(report_info(base), groups=base.groups, warnings=warnings)


def _predictions_baseline(
    options: InputOptions,
    plan: CheckPlan,
    score: ScoreOptions,
    current: _Current,
    rows: PairedRows,
) -> _Baseline:
    """Score the baseline model's predictions on the same rows; match rows; bootstrap."""
    assert plan.baseline is not None
    path = plan.baseline
    base_options = dataclasses.replace(options, path=path, more_paths=(), input_format=None)
    base_rows = PairedRows(
        "id" if rows.by_id is not None else "row",
        per_class=rows.per_class,
        predicted=rows.predicted,
        pair_specs=rows.pair_specs,
    )
    base = compute_score(base_options, score, row_sink=base_rows)
    check_same_scoring(base, current.score, path, options.display)
    warnings = [f"baseline: {w}" for w in base.warnings]
    pair = pair_rows(rows, base_rows, path)
    warnings += pair.warnings
    check_same_rows(pair, options.display, path, (rows.id_type, base_rows.id_type))
    metrics, _, cal_warnings = _metrics(base, base_options, plan, score, current.pairs)
    warnings += [f"baseline: {w}" for w in cal_warnings]
    info = BaselineInfo(
        path, "predictions", metrics, matched_by=pair.matched_by, n_rows=pair.current.n_rows
    )
    intervals: dict[str, Interval | None] = {}
    if plan.bootstrap > 0:
        keys = regression_keys(plan, current.thresholds, current.classes)
        reports = (current.score, base)
        intervals = bootstrap_intervals(
            keys, current.classes, reports, pair, plan.bootstrap, plan.seed, options.progress
        )
        info.bootstrap, more = bootstrap_summary(
            plan.bootstrap, plan.seed, pair.current.groups, intervals
        )
        warnings += more
    return _Baseline(info, intervals=intervals, warnings=warnings)


def _calibrate(
    options: InputOptions, plan: CheckPlan, score: ScoreOptions
) -> tuple[dict[str, Any], list[str]]:
    """The calibration report (as a dict) and its warnings, with the check's bins."""
    try:
        from ce_cli.report.calibrate import CalibrationOptions, compute_calibration
    except ModuleNotFoundError as exc:
        if exc.name != "ce_cli.report.calibrate":
            raise
        raise CEError(
            "calibration metrics (ece, mce, brier, nll, …) need ce_cli.report.calibrate, "
            "which this installation of ce lacks"
        ) from None
    report = compute_calibration(
        options,
        CalibrationOptions(
            n_bins=plan.n_bins,
            strategy=plan.strategy,
            temperature=score.temperature,
            inputs=score.inputs,
        ),
    )
    return report.to_dict(), list(getattr(report, "warnings", []) or [])


def _group_metrics(
    cand: ScoreReport,
    cal: dict[str, Any],
    pairs: list[tuple[str, str]],
    issues: dict[str, dict[str, float | None]] | None = None,
) -> list[GroupMetrics]:
    """The check metrics of each group (score, and calibration when computed); none without
    --group-by. A group without a report has no values, so its thresholds fail."""
    cal_groups = {key_text(g["value"]): g for g in cal.get("groups", []) if "error" not in g}
    out = []
    for g in cand.groups:
        data = {} if g.report is None else g.report.to_dict()
        values = score_metrics(data, pairs) if data else {}
        if g.label in cal_groups:
            values.update(calibration_metrics(cal_groups[g.label]))
        if issues and g.label in issues:
            values.update(issues[g.label])
        out.append(GroupMetrics(json_key(g.key), g.label, values, metric_bounds(data)))
    return out


# ---------------------------------------------------------------------- judging
class _Judge:
    """Every check on one set of rows: the thresholds, and with a baseline the regressions
    (the loss, every metric with a threshold, and every requested comparison)."""

    def __init__(self, plan: CheckPlan, current: _Current, baseline: _Baseline | None) -> None:
        self.plan = plan
        self.thresholds = current.thresholds
        self.baseline = baseline
        self.keys = regression_keys(plan, current.thresholds, current.classes)
        self.requested = requested_keys(plan, current.classes)
        self.warnings = current.warnings + (baseline.warnings if baseline else [])

    def all_rows(
        self, values: dict[str, float | None], bounds: dict[str, float]
    ) -> list[CheckResult]:
        """The checks of every row; a requested comparison the baseline lacks is an error."""
        if self.baseline is None:
            return self._thresholds(values, None, bounds)
        base = self.baseline.info.metrics
        for key, origin in self.requested.items():
            if base.get(key) is None:
                raise CEError(missing_comparison(self.baseline.info, key, origin))
        return self._thresholds(values, base, bounds) + self._regressions(values, base, "")

    def group(
        self, group: str, values: dict[str, float | None], bounds: dict[str, float]
    ) -> list[CheckResult]:
        """The checks of one group's rows (``COL=VALUE``), against the report's group."""
        base = None
        if self.baseline is not None and self.baseline.groups is not None:
            base = self.baseline.groups.get(group)
            if base is None:
                self.warnings.append(
                    f"the baseline report {self.baseline.info.file} has no group {group}: "
                    "its checks are not compared with the baseline"
                )
        checks = self._thresholds(values, base, bounds)
        if base is not None:
            checks += self._regressions(values, base, f" in {group}")
        return [c.in_group(group) for c in checks]

    def _thresholds(
        self,
        values: dict[str, float | None],
        base: dict[str, float | None] | None,
        bounds: dict[str, float],
    ) -> list[CheckResult]:
        base = base or {}
        return [
            evaluate_threshold(t, values.get(t.key), base.get(t.key), bounds.get(t.key))
            for t in self.thresholds
        ]

    def _regressions(
        self, values: dict[str, float | None], base: dict[str, float | None], where: str
    ) -> list[CheckResult]:
        assert self.baseline is not None
        out = []
        for key in self.keys:
            b = base.get(key)
            if b is None:
                self._not_compared(key, base, where)
                continue
            interval = self.baseline.intervals.get(key) if not where else None
            margin = margin_for(key, self.plan.margins)
            out.append(
                evaluate_regression(
                    key, values.get(key), b, margin, fail_on=self.plan.fail_on, interval=interval
                )
            )
        return out

    def _not_compared(self, key: str, base: dict[str, float | None], where: str) -> None:
        """Warn that a metric (not asked for by name) is not compared: once for all rows."""
        assert self.baseline is not None
        if where and key not in self.baseline.info.metrics:
            return  # said once for all rows
        why = "no value" if key in base else "no such metric"
        self.warnings.append(
            f"baseline {self.baseline.info.file} has {why} for {key}{where}: not compared with it"
        )


def _check_report(
    options: InputOptions,
    plan: CheckPlan,
    current: _Current,
    baseline: _Baseline | None,
    checks: list[CheckResult],
    warnings: list[str],
    config: str | None,
) -> CheckReport:
    notes = [_regression_note(plan)] if baseline is not None else []
    if current.groups:
        notes.append(
            f"every check also holds for each {options.group_by} on its own "
            f"({len(current.groups)} groups; a group's checks are named "
            f"[{options.group_by}=VALUE])"
        )
    cand = current.score
    return CheckReport(
        checks=checks,
        metrics=current.metrics,
        task=cand.task,
        target_kind=cand.target_kind,
        n_samples=cand.n_samples,
        n_used=cand.n_used,
        loss_name=cand.loss_name,
        loss_parameters=cand.parameters,
        classes=current.classes,
        fail_on=plan.fail_on,
        baseline=None if baseline is None else baseline.info,
        calibration=current.calibration,
        config=config,
        source={"file": options.display, "labels_file": options.labels_path},
        notes=notes,
        warnings=warnings,
        group_by=options.group_by,
        groups=current.groups,
    )


def _regression_note(plan: CheckPlan) -> str:
    margins = (
        ", ".join(f"{'every metric' if k is None else k} {m}" for k, m in plan.margins.items())
        or f"every metric {Margin()}"
    )
    how = (
        "fail only when the whole 95% interval of the difference is worse than the margin"
        if plan.fail_on == "significant"
        else "fail when the value is worse than the baseline by more than the margin"
    )
    return (
        "compared with the baseline: the loss, every metric with a threshold, --compare and "
        f"--max-regression METRIC; margins: {margins}; {how}"
    )


__all__ = ["CheckOptions", "CheckReport", "PairedRows", "run_check"]
