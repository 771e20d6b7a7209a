"""``ce check``'s baselines: a JSON report's numbers, or the previous model's predictions
paired with the current model's row by row, and the bootstrap intervals of the differences.

- A report (``ce score`` / ``ce check`` / ``ce calibrate --format json``) gives its numbers; it
  must describe the same loss and classes (``compare_reports``).
- Predictions are scored with the same options; each model's per-row results land in
  ``GroupSums`` keyed by the id column, else the row number (``ce_cli.report.check.PairedRows``).
  ``pair_rows`` picks the key both files have; the rows, and their labels, must then be the same
  (``check_same_rows``).
- ``bootstrap_intervals``: a paired Poisson bootstrap over the groups gives the 95 % interval of
  candidate − baseline for ``loss``, ``accuracy``, ``class_loss[C]`` and ``class_recall[C]`` —
  exactly the reported quantities, with sample and class weights (Σ s·l / Σ s·w_y) — and the
  F1 family (macro/weighted/micro F1, macro precision/recall, ``class_f1[C]``,
  ``class_precision[C]``; single-label also balanced accuracy, Cohen's kappa, MCC) from per-class
  tp, predicted and support sums — per label for multi-label data, with the score's
  ``--threshold`` decisions — and ``confusion[A,B]``. Single-label ``micro_f1`` is the accuracy.
  ROC-AUC and average precision are rankings: compared by value only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ce_cli.core.bootstrap import (
    CLASS_TABLE,
    GroupSums,
    Interval,
    Parts,
    Statistic,
    classification_statistic,
    paired_intervals,
)
from ce_cli.core.errors import CEError
from ce_cli.core.progress import Progress
from ce_cli.report.check_rules import BaselineReport, baseline_from_report, resolve_pair
from ce_cli.report.score import ScoreReport
from ce_cli.report.view import SCHEMA_VERSION

LEVEL = 0.95
FEW_REPLICATES = 200  # fewer give a rough 95 % interval: warned about


@dataclass
class BaselineInfo:
    """The baseline as the check report shows it."""

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

    @property
    def described(self) -> str:
        """What the baseline is, for messages: 'this score report', 'the baseline's rows'."""
        if self.kind == "report":
            return f"this {self.report_kind} report"
        return "the baseline model's predictions"


# ---------------------------------------------------------------------- a JSON report
def is_report(path: str) -> bool:
    """A ``.json`` baseline is a report; anything else is predictions."""
    return Path(path).suffix.lower() == ".json"


def read_baseline_report(path: str) -> BaselineReport:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CEError(f"--baseline {path}: cannot read it ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CEError(f"--baseline {path}: not valid JSON ({exc})") from None
    return baseline_from_report(data, path, SCHEMA_VERSION)


def report_info(base: BaselineReport) -> BaselineInfo:
    return BaselineInfo(
        base.path, "report", base.metrics, report_kind=base.kind, n_rows=base.n_used
    )


def compare_reports(base: BaselineReport, cand: ScoreReport, classes: list[str]) -> list[str]:
    """A JSON baseline must describe the same loss and classes; other loss parameters and row
    counts are only warned about (a report has no rows to match)."""
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
    """Loss parameters as comparable text (floats to 12 digits)."""

    def rounded(v: Any) -> Any:
        if isinstance(v, float):
            return round(v, 12)
        if isinstance(v, list):
            return [rounded(x) for x in v]
        return v

    return json.dumps({k: rounded(v) for k, v in p.items()}, sort_keys=True)


# ---------------------------------------------------------------------- predictions
def check_predictions_path(path: str, group_by: str | None) -> None:
    """Refuse, before any pass, a predictions baseline that cannot be paired."""
    if group_by is not None:
        raise CEError(
            f"--group-by {group_by} with --baseline {path}: the paired comparison "
            "of predictions is not made per group; pass a baseline report made with `ce score "
            f"--group-by {group_by} --format json` instead"
        )
    if path == "-":
        raise CEError("--baseline -: the baseline must be a file (stdin is the candidate's)")
    if not any(ch in path for ch in "*?[") and not Path(path).exists():
        raise CEError(f"--baseline {path}: no such file")


def check_same_scoring(base: ScoreReport, cand: ScoreReport, path: str, file: str) -> None:
    """Both models' predictions must be scored over the same classes with the same loss."""
    where = f"--baseline {path}"
    base_classes = [c.name for c in base.per_class]
    classes = [c.name for c in cand.per_class]
    if base_classes != classes:
        raise CEError(
            f"{where}: its classes ({', '.join(base_classes)}) differ from "
            f"{file}'s ({', '.join(classes)}); a paired comparison needs the same classes"
        )
    if base.loss_name != cand.loss_name:
        raise CEError(
            f"{where}: scored as {base.loss_name}, but {file} as {cand.loss_name}; "
            "pass --loss to score both the same way"
        )


class RowSums(Protocol):
    """One model's per-row results, summed by id and/or by row number."""

    by_id: GroupSums | None
    by_row: GroupSums | None
    id_type: str | None


@dataclass
class PairedSums:
    """The current and the baseline model's group sums over the same row keys."""

    current: GroupSums
    baseline: GroupSums
    matched_by: str  # id | row order
    warnings: list[str] = field(default_factory=list)


def pair_rows(current: RowSums, baseline: RowSums, path: str) -> PairedSums:
    """Match rows by id when both files have an id column, else by row order."""
    warnings = []
    cur: GroupSums | None
    base: GroupSums | None
    if current.by_id is not None and baseline.by_id is not None:
        cur, base, matched = current.by_id, baseline.by_id, "id"
    else:
        cur, base, matched = current.by_row, baseline.by_row, "row order"
        if current.by_id is not None:
            warnings.append(f"the baseline {path} has no id column: rows matched by their order")
    if cur is None or base is None:  # no used rows at all: compute_score raised already
        raise CEError(f"--baseline {path}: no rows to compare")
    return PairedSums(cur, base, matched, warnings)


def check_same_rows(
    pair: PairedSums, file: str, path: str, id_types: tuple[str | None, str | None]
) -> None:
    """The same rows (by key), carrying the same labels; ``id_types``: (current, baseline)."""
    where = f"--baseline {path}"
    cur, base, matched = pair.current, pair.baseline, pair.matched_by
    if cur.n_rows != base.n_rows:
        raise CEError(
            f"{where}: {base.n_rows} rows are scored there, {cur.n_rows} in {file} (rows "
            f"matched by {matched}); the baseline must be the previous model's predictions on "
            "the same rows"
        )
    if not cur.same_rows(base):
        hint = ""
        if matched == "id" and id_types[0] != id_types[1]:
            hint = f" (the id columns have different types: {id_types[0]} and {id_types[1]})"
        raise CEError(
            f"{where}: its rows differ from {file}'s (matched by {matched}){hint}; the baseline "
            "must be the previous model's predictions on the same rows"
        )
    if not cur.same_labels(base):
        raise CEError(
            f"{where}: the same rows carry other labels than in {file} (matched by "
            f"{matched}); compare both models on the same labelled evaluation set"
        )


# ---------------------------------------------------------------------- bootstrap
def bootstrap_intervals(
    keys: list[str],
    classes: list[str],
    reports: tuple[ScoreReport, ScoreReport],
    pair: PairedSums,
    replicates: int,
    seed: int,
    progress: Progress | None = None,
) -> dict[str, Interval | None]:
    """Paired bootstrap intervals of current − baseline for the compared metrics that are
    ratios of row sums; ``reports``: (current, baseline); ``progress``: a bar over the
    replicates."""
    pairs = {}
    for key in keys:
        try:
            parts = _ratio_parts(key, classes, reports, pair)
        except ValueError:
            continue
        if parts is not None:
            pairs[key] = parts
    return paired_intervals(pairs, replicates, seed, LEVEL, progress)


def _ratio_parts(
    key: str, classes: list[str], reports: tuple[ScoreReport, ScoreReport], pair: PairedSums
) -> tuple[Parts | Statistic, Parts | Statistic] | None:
    """(current, baseline) per-group (numerator, denominator) of one metric, or its
    ``Statistic`` of per-class sums; None when the row sums kept do not make it."""
    cur, base = pair.current, pair.baseline
    family, _, rest = key.partition("[")
    kind = reports[0].target_kind
    if kind in ("index", "multi-hot"):
        inside = rest[:-1] if rest else None
        stats = _classification_parts(family, inside, classes, pair, kind == "multi-hot")
        if stats is not None:
            return stats
    if family == "loss":
        weights = (_class_weight(reports[0]), _class_weight(reports[1]))
        if weights != (None, None) and cur.class_mass is None:
            return None
        return cur.parts("loss", None, weights[0]), base.parts("loss", None, weights[1])
    if family == "accuracy" and reports[0].target_kind != "multi-hot":
        return cur.parts("accuracy"), base.parts("accuracy")
    if family in ("class_loss", "class_recall") and cur.class_mass is not None:
        index = classes.index(rest[:-1])
        return cur.parts(family, index), base.parts(family, index)
    return None


def _classification_parts(
    family: str, inside: str | None, classes: list[str], pair: PairedSums, multilabel: bool
) -> tuple[Statistic | Parts, Statistic | Parts] | None:
    """micro_f1 (single-label: the accuracy), the F1 family (multi-label: of per-label sums)
    and confusion[A,B], when their sums were kept (ValueError when a class or pair was not)."""
    cur, base = pair.current, pair.baseline
    if family == "micro_f1" and not multilabel:
        return cur.parts("accuracy"), base.parts("accuracy")
    if family in CLASS_TABLE and cur.class_predicted is not None:
        index = None if inside is None else classes.index(inside)
        return (
            classification_statistic(cur, family, index),
            classification_statistic(base, family, index),
        )
    if family == "confusion" and cur.pair_count is not None and inside is not None:
        try:
            a, b = resolve_pair(inside, classes, family)
        except CEError:
            return None
        index = cur.pairs.index((classes.index(a), classes.index(b)))
        return (
            classification_statistic(cur, "confusion", index),
            classification_statistic(base, "confusion", index),
        )
    return None


def _class_weight(report: ScoreReport) -> list[float] | None:
    """The class weights of a weighted CE mean (its denominator is Σ s·w_y), else None."""
    w = report.parameters.get("class_weight")
    if w is not None and report.loss_name == "ce" and report.target_kind == "index":
        return [float(x) for x in w]
    return None


def bootstrap_summary(
    replicates: int, seed: int, groups: int, intervals: dict[str, Interval | None]
) -> tuple[dict[str, Any], list[str]]:
    """The report's ``baseline.bootstrap`` block, and a warning when replicates are few."""
    summary = {
        "replicates": replicates,
        "seed": seed,
        "level": LEVEL,
        "groups": groups,
        "metrics": sorted(k for k, v in intervals.items() if v is not None),
    }
    warnings = []
    if replicates < FEW_REPLICATES:
        warnings.append(
            f"--bootstrap {replicates}: fewer than {FEW_REPLICATES} replicates give a rough "
            "95% interval; use 1000 or more"
        )
    return summary, warnings


def missing_comparison(info: BaselineInfo, key: str, origin: str) -> str:
    """The error for a comparison the user asked for (``origin``) that the baseline cannot
    make: it lacks the metric, or the metric is undefined (null) there."""
    where = f"--baseline {info.file}"
    asked = f"so the comparison {origin} asks for cannot be made"
    if key in info.metrics:
        return (
            f"{where}: {key} is undefined (null) in {info.described}, {asked}; compare on rows "
            f"where {key} is defined, or drop {origin}"
        )
    return (
        f"{where}: {info.described} has no {key}, {asked}; pass a report that has it "
        f"(ce check OLD_PREDS --require '{key}>=0' --format json) or the baseline model's "
        "predictions"
    )
