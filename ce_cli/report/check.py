"""``ce check`` as a library function: a pass/fail verdict for CI.

``run_check`` scores the file (``compute_score``), computes calibration metrics only when a
check needs them (``ce_cli.report.calibrate``, imported lazily), evaluates every threshold, and
compares with a baseline when one is given:

- a JSON report written earlier by ``ce score`` / ``ce check --format json``: its numbers;
- the previous model's predictions on the same rows: scored (and calibrated) with the same
  options, in the same pass collecting bounded-memory group sums (``bootstrap.GroupSums``)
  keyed by the id column, else the row number. The rows (and their labels) must match, or it
  is an error. A paired Poisson bootstrap over the groups gives the 95 % interval of each
  difference for ``loss``, ``accuracy``, ``class_loss[C]`` and ``class_recall[C]`` — exactly the
  reported quantities, with sample weights and class weights (Σ s·l / Σ s·w_y).

Regression checks: the loss always, every metric that has a threshold, and ``--compare``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ce_cli.core.bootstrap import GroupSums, Interval, groups_for, key_hashes, paired_intervals
from ce_cli.core.errors import CEError
from ce_cli.core.group_keys import json_key, key_text
from ce_cli.engine.loss_sums import RowTerms
from ce_cli.io.batch import Batch
from ce_cli.io.dataset import InputOptions
from ce_cli.report.check_rules import (
    METRICS,
    BaselineReport,
    CheckOptions,
    CheckPlan,
    CheckResult,
    Margin,
    Threshold,
    baseline_from_report,
    calibration_metrics,
    evaluate_regression,
    evaluate_threshold,
    expand_classes,
    make_plan,
    margin_for,
    not_applicable,
    regression_keys,
    score_metrics,
)
from ce_cli.report.score import ScoreOptions, ScoreReport, compute_score
from ce_cli.report.view import SCHEMA_VERSION, Table, View

LEVEL = 0.95


# ---------------------------------------------------------------------- the report
@dataclass
class BaselineInfo:
    file: str
    kind: str  # report | predictions
    metrics: dict[str, float | None]
    report_kind: str | None = None  # score | check | calibration (kind 'report')
    matched_by: str | None = None  # id | row order (kind 'predictions')
    n_rows: int | None = None
    bootstrap: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind,
            "report_kind": self.report_kind,
            "matched_by": self.matched_by,
            "n_rows": self.n_rows,
            "bootstrap": self.bootstrap,
            "metrics": self.metrics,
        }


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
        """The checks table: check, value, threshold, baseline, delta, [95% CI], result."""
        columns = ["check", "value", "threshold", "baseline", "delta"]
        with_ci = self.has_intervals
        if with_ci:
            columns.append(f"{LEVEL:.0%} CI")
        columns.append("result")
        rows = []
        for c in self.checks:
            row: list[Any] = [c.name, c.value, c.threshold, c.baseline, c.delta]
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
        title = f"ce check · {self.source.get('file', '')}"
        return View(title, summary, [Table(columns, rows)], self.warnings, self.notes)

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

    def __init__(self, keys: str = "both", per_class: bool = False) -> None:
        self.keys = keys
        self.per_class = per_class
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
        if self.by_id is not None:
            hashes = id_hashes(batch.ids, positions)
            self.by_id.update(hashes, loss, correct, weight=weight, label=label)
        if self.by_row is not None:
            hashes = key_hashes(np.asarray(terms.rows, dtype=np.int64))
            self.by_row.update(hashes, loss, correct, weight=weight, label=label)

    def _start(self, batch: Batch, classes: tuple[str, ...], task: str) -> None:
        self._started = True
        self.single_label = task != "multilabel"
        n_classes = len(classes) if self.per_class and self.single_label else 0
        groups = groups_for(n_classes)
        has_ids = batch.ids is not None
        if has_ids:
            self.id_type = str(getattr(batch.ids, "type", ""))
        if self.keys in ("both", "id") and has_ids:
            self.by_id = GroupSums.empty(groups, n_classes)
        if self.keys in ("both", "row") or (self.keys == "id" and not has_ids):
            self.by_row = GroupSums.empty(groups, n_classes)


def id_hashes(ids: Any, positions: np.ndarray) -> np.ndarray:
    """64-bit hashes of the id column's values at these batch positions (integers by value,
    anything else by its text; each distinct value of the batch is hashed once)."""
    import pyarrow as pa

    from ce_cli.io.convert import combine, dictionary_codes, numeric

    arr = combine(ids)
    if arr.null_count == 0 and pa.types.is_integer(arr.type):
        return key_hashes(numeric(arr)[positions].astype(np.int64))
    if arr.null_count == 0:
        codes, values = dictionary_codes(arr)
        return key_hashes(values)[codes[positions]]
    values = arr.to_pylist()
    return key_hashes([values[int(i)] for i in positions])


# ---------------------------------------------------------------------- run_check
def run_check(
    options: InputOptions,
    check: CheckOptions | None = None,
    score: ScoreOptions | None = None,
    *,
    config: str | None = None,
) -> CheckReport:
    """Score (and calibrate, if needed) the file, compare with the baseline, and judge.

    Raises ``CEError`` for any error (bad options, unreadable input, a baseline on other
    rows); a failed check is not an error — see ``CheckReport.passed``.
    """
    plan = make_plan(check or CheckOptions())
    score = dataclasses.replace(score or ScoreOptions(), reduction="mean", top=0)
    base_report: BaselineReport | None = None
    base_path = plan.baseline
    if base_path is not None and _is_report(base_path):
        base_report = _read_baseline_report(base_path)
        if plan.fail_on == "significant":
            raise CEError(
                f"--fail-on significant needs a paired bootstrap on the same rows: pass the "
                f"baseline model's predictions as --baseline, not a report ({base_path})"
            )
    predictions_baseline = base_path is not None and base_report is None
    if predictions_baseline and options.group_by is not None:
        raise CEError(
            f"--group-by {options.group_by} with --baseline {base_path}: the paired comparison "
            "of predictions is not made per group; pass a baseline report made with `ce score "
            f"--group-by {options.group_by} --format json` instead"
        )
    if predictions_baseline and base_path is not None:
        if base_path == "-":
            raise CEError("--baseline -: the baseline must be a file (stdin is the candidate's)")
        if not any(ch in base_path for ch in "*?[") and not Path(base_path).exists():
            raise CEError(f"--baseline {base_path}: no such file")
    if plan.needs_calibration and options.path == "-":
        raise CEError(
            "calibration metrics need a second pass over the file, and stdin can be read "
            "once: save it to a file first"
        )
    sink = None
    if predictions_baseline:
        weighted_ce = score.alpha is not None and score.loss in ("auto", "ce")
        sink = PairedRows("both", per_class=plan.per_class_regression or weighted_ce)

    cand = compute_score(options, score, row_sink=sink)
    classes = [c.name for c in cand.per_class]
    thresholds = expand_classes(plan.thresholds, classes)
    for metric in sorted(plan.metrics(), key=list(METRICS).index):
        why = not_applicable(metric, cand.target_kind)
        if why:
            raise CEError(f"{cand.source.get('file', options.path)}: {why}")
    metrics = score_metrics(cand.to_dict())
    warnings = list(cand.warnings)
    notes: list[str] = []
    calibration = None
    cal: dict[str, Any] = {}
    if plan.needs_calibration:
        cal, cal_warnings = _calibrate(options, plan, score)
        metrics.update(calibration_metrics(cal))
        warnings += [w for w in cal_warnings if w not in warnings]
        calibration = {"n_bins": plan.n_bins, "strategy": plan.strategy}
    groups = _group_metrics(cand, cal)

    baseline: BaselineInfo | None = None
    base_metrics: dict[str, float | None] = {}
    intervals: dict[str, Interval | None] = {}
    if base_report is not None:
        base_metrics = base_report.metrics
        baseline = BaselineInfo(
            base_report.path,
            "report",
            base_metrics,
            report_kind=base_report.kind,
            n_rows=base_report.n_used,
        )
        warnings += _compare_reports(base_report, cand, classes)
    elif predictions_baseline:
        assert base_path is not None and sink is not None
        baseline, intervals, more = _predictions_baseline(
            options, base_path, score, plan, cand, sink, thresholds, classes
        )
        base_metrics = baseline.metrics
        warnings += more

    def judge(
        values: dict[str, float | None], base: dict[str, float | None] | None, where: str
    ) -> list[CheckResult]:
        """The thresholds, and the regressions when there is a baseline, on one set of rows."""
        out = [
            evaluate_threshold(t, values.get(t.key), (base or {}).get(t.key)) for t in thresholds
        ]
        if baseline is None or base is None:
            return out
        for key in regression_keys(plan, thresholds, classes):
            b = base.get(key)
            if b is None:
                why = "no value" if key in base else "no such metric"
                if where and key not in base_metrics:
                    continue  # said once for all rows
                warnings.append(
                    f"baseline {baseline.file} has {why} for {key}{where}: not compared with it"
                )
                continue
            out.append(
                evaluate_regression(
                    key,
                    values.get(key),
                    b,
                    margin_for(key, plan.margins),
                    fail_on=plan.fail_on,
                    interval=intervals.get(key) if not where else None,
                )
            )
        return out

    checks = judge(metrics, base_metrics if baseline is not None else None, "")
    for g in groups:
        group, values = f"{options.group_by}={g.label}", g.metrics
        base_group = None
        if base_report is not None:
            base_group = base_report.groups.get(group)
            if base_group is None:
                warnings.append(
                    f"the baseline report {base_report.path} has no group {group}: "
                    "its checks are not compared with the baseline"
                )
        checks += [c.in_group(group) for c in judge(values, base_group, f" in {group}")]
    if baseline is not None:
        notes.append(_regression_note(plan))
    if groups:
        notes.append(
            f"every check also holds for each {options.group_by} on its own "
            f"({len(groups)} groups; a group's checks are named [{options.group_by}=VALUE])"
        )
    return CheckReport(
        checks=checks,
        metrics=metrics,
        task=cand.task,
        target_kind=cand.target_kind,
        n_samples=cand.n_samples,
        n_used=cand.n_used,
        loss_name=cand.loss_name,
        loss_parameters=cand.parameters,
        classes=classes,
        fail_on=plan.fail_on,
        baseline=baseline,
        calibration=calibration,
        config=config,
        source={"file": options.display, "labels_file": options.labels_path},
        notes=notes,
        warnings=warnings,
        group_by=options.group_by,
        groups=groups,
    )


@dataclass
class GroupMetrics:
    """The check metrics of one ``--group-by`` group."""

    value: Any  # as JSON holds it
    label: str  # as names show it
    metrics: dict[str, float | None]


def _group_metrics(cand: ScoreReport, cal: dict[str, Any]) -> list[GroupMetrics]:
    """The check metrics of each group (score, and calibration when computed); none without
    --group-by. A group without a report has no values, so its thresholds fail."""
    cal_groups = {key_text(g["value"]): g for g in cal.get("groups", []) if "error" not in g}
    out = []
    for g in cand.groups:
        values = {} if g.report is None else score_metrics(g.report.to_dict())
        if g.label in cal_groups:
            values.update(calibration_metrics(cal_groups[g.label]))
        out.append(GroupMetrics(json_key(g.key), g.label, values))
    return out


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
        "compared with the baseline: the loss, every metric with a threshold and --compare; "
        f"margins: {margins}; {how}"
    )


def _is_report(path: str) -> bool:
    return Path(path).suffix.lower() == ".json"


def _read_baseline_report(path: str) -> BaselineReport:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CEError(f"--baseline {path}: cannot read it ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CEError(f"--baseline {path}: not valid JSON ({exc})") from None
    return baseline_from_report(data, path, SCHEMA_VERSION)


def _compare_reports(base: BaselineReport, cand: ScoreReport, classes: list[str]) -> list[str]:
    """A JSON baseline must describe the same loss and classes; row counts are only warned
    about (a report has no rows to match)."""
    where = f"--baseline {base.path}"
    if base.loss_name is not None and base.loss_name != cand.loss_name:
        raise CEError(
            f"{where}: its loss is {base.loss_name}, this check's is {cand.loss_name}; compare "
            f"like with like (pass --loss {base.loss_name}, or recreate the baseline)"
        )
    if base.classes and list(base.classes) != classes:
        raise CEError(
            f"{where}: its classes ({', '.join(base.classes)}) differ from this file's "
            f"({', '.join(classes)})"
        )
    out = []
    if base.parameters is not None and _params(base.parameters) != _params(cand.parameters):
        out.append(
            f"the baseline report {base.path} was computed with other loss parameters "
            f"({json.dumps(base.parameters, sort_keys=True)}); its numbers may not compare"
        )
    if base.n_used is not None and base.n_used != cand.n_used:
        out.append(
            f"the baseline report {base.path} scored {base.n_used} rows, this file "
            f"{cand.n_used}: is it the same evaluation set?"
        )
    return out


def _params(p: dict[str, Any]) -> str:
    def rounded(v: Any) -> Any:
        if isinstance(v, float):
            return round(v, 12)
        if isinstance(v, list):
            return [rounded(x) for x in v]
        return v

    return json.dumps({k: rounded(v) for k, v in p.items()}, sort_keys=True)


def _calibrate(
    options: InputOptions, plan: CheckPlan, score: ScoreOptions
) -> tuple[dict[str, Any], list[str]]:
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


def _predictions_baseline(
    options: InputOptions,
    path: str,
    score: ScoreOptions,
    plan: CheckPlan,
    cand: ScoreReport,
    cand_rows: PairedRows,
    thresholds: list[Threshold],
    classes: list[str],
) -> tuple[BaselineInfo, dict[str, Interval | None], list[str]]:
    """Score the baseline's predictions on the same rows; match rows; bootstrap the deltas."""
    base_options = dataclasses.replace(options, path=path, more_paths=(), input_format=None)
    keys = "id" if cand_rows.by_id is not None else "row"
    base_rows = PairedRows(keys, per_class=cand_rows.per_class)
    base = compute_score(base_options, score, row_sink=base_rows)
    where = f"--baseline {path}"
    base_classes = [c.name for c in base.per_class]
    if base_classes != classes:
        raise CEError(
            f"{where}: its classes ({', '.join(base_classes)}) differ from "
            f"{options.display}'s ({', '.join(classes)}); a paired comparison needs the same "
            "classes"
        )
    if base.loss_name != cand.loss_name:
        raise CEError(
            f"{where}: scored as {base.loss_name}, but {options.display} as {cand.loss_name}; "
            "pass --loss to score both the same way"
        )
    warnings = [f"baseline: {w}" for w in base.warnings]
    c_sums: GroupSums | None
    b_sums: GroupSums | None
    if base_rows.by_id is not None and cand_rows.by_id is not None:
        c_sums, b_sums, matched = cand_rows.by_id, base_rows.by_id, "id"
    else:
        c_sums, b_sums, matched = cand_rows.by_row, base_rows.by_row, "row order"
        if cand_rows.by_id is not None:
            warnings.append(f"the baseline {path} has no id column: rows matched by their order")
    if c_sums is None or b_sums is None:  # no used rows at all: compute_score raised already
        raise CEError(f"{where}: no rows to compare")
    _check_same_rows(c_sums, b_sums, matched, options.display, path, cand_rows, base_rows)
    metrics = score_metrics(base.to_dict())
    if plan.needs_calibration:
        cal, cal_warnings = _calibrate(base_options, plan, score)
        metrics.update(calibration_metrics(cal))
        warnings += [f"baseline: {w}" for w in cal_warnings]
    intervals: dict[str, Interval | None] = {}
    bootstrap = None
    if plan.bootstrap > 0:
        intervals = _intervals(plan, thresholds, classes, cand, base, c_sums, b_sums)
        bootstrap = {
            "replicates": plan.bootstrap,
            "seed": plan.seed,
            "level": LEVEL,
            "groups": c_sums.groups,
            "metrics": sorted(k for k, v in intervals.items() if v is not None),
        }
        if plan.bootstrap < 200:
            warnings.append(
                f"--bootstrap {plan.bootstrap}: fewer than 200 replicates give a rough "
                "95% interval; use 1000 or more"
            )
    info = BaselineInfo(
        path,
        "predictions",
        metrics,
        matched_by=matched,
        n_rows=c_sums.n_rows,
        bootstrap=bootstrap,
    )
    return info, intervals, warnings


def _check_same_rows(
    cand: GroupSums,
    base: GroupSums,
    matched: str,
    file: str,
    path: str,
    cand_rows: PairedRows,
    base_rows: PairedRows,
) -> None:
    where = f"--baseline {path}"
    if cand.n_rows != base.n_rows:
        raise CEError(
            f"{where}: {base.n_rows} rows are scored there, {cand.n_rows} in {file} (rows "
            f"matched by {matched}); the baseline must be the previous model's predictions on "
            "the same rows"
        )
    if not cand.same_rows(base):
        hint = ""
        if matched == "id" and cand_rows.id_type != base_rows.id_type:
            hint = f" (the id columns have different types: {cand_rows.id_type} and "
            hint += f"{base_rows.id_type})"
        raise CEError(
            f"{where}: its rows differ from {file}'s (matched by {matched}){hint}; the baseline "
            "must be the previous model's predictions on the same rows"
        )
    if not cand.same_labels(base):
        raise CEError(
            f"{where}: the same rows carry other labels than in {file} (matched by "
            f"{matched}); compare both models on the same labelled evaluation set"
        )


def _intervals(
    plan: CheckPlan,
    thresholds: list[Threshold],
    classes: list[str],
    cand: ScoreReport,
    base: ScoreReport,
    c_sums: GroupSums,
    b_sums: GroupSums,
) -> dict[str, Interval | None]:
    """Paired bootstrap intervals for the compared metrics that are ratios of row sums."""

    def class_weight(report: ScoreReport) -> list[float] | None:
        w = report.parameters.get("class_weight")
        if w is not None and report.loss_name == "ce" and report.target_kind == "index":
            return [float(x) for x in w]
        return None

    cw, bw = class_weight(cand), class_weight(base)
    pairs = {}
    for key in regression_keys(plan, thresholds, classes):
        family, _, rest = key.partition("[")
        try:
            if family == "loss":
                if (cw is not None or bw is not None) and c_sums.class_mass is None:
                    continue
                pairs[key] = (c_sums.parts("loss", class_weight=cw), b_sums.parts("loss", None, bw))
            elif family == "accuracy" and cand.target_kind != "multi-hot":
                pairs[key] = (c_sums.parts("accuracy"), b_sums.parts("accuracy"))
            elif family in ("class_loss", "class_recall") and c_sums.class_mass is not None:
                index = classes.index(rest[:-1])
                pairs[key] = (c_sums.parts(family, index), b_sums.parts(family, index))
        except ValueError:
            continue
    return paired_intervals(pairs, plan.bootstrap, plan.seed, LEVEL)


__all__ = ["CheckOptions", "CheckReport", "PairedRows", "run_check"]
