"""``ce check``'s rules: thresholds, configuration and baseline comparison.

Pure logic over report dicts and numbers — no file is streamed here (``report/check.py`` runs
the passes, ``report/baseline.py`` pairs a baseline). Metric names, as ``--require``,
``--compare``, ``--max-regression`` and the JSON report's ``metrics`` spell them:

==================  ======  ===========  ==================================================
metric              better  from         meaning
==================  ======  ===========  ==================================================
``loss``            lower   score        the loss's mean, Σ s·l / Σ s·d (``ce score``'s mean)
``accuracy``        higher  score        single-label accuracy
``nce``             lower   score        normalised cross-entropy (He et al. 2014)
``subset_accuracy`` higher  score        multi-label: every label right
``hamming_loss``    lower   score        multi-label: share of wrong labels
``kl_divergence``   lower   score        soft targets: KL(t‖p)
``ece`` ``mce`` …   lower   calibration  ``ece mce rmsce adaptive_ece classwise_ece brier nll``
``class_loss[C]``   lower   score        mean loss of the rows of class C
``class_recall[C]`` higher  score        recall of class C
``macro_f1`` …      higher  score        ``macro_f1 weighted_f1 micro_f1 macro_precision
                                         macro_recall balanced_accuracy cohen_kappa mcc``
``top_k_accuracy``  higher  score        needs ``--top-k-accuracy K``
``roc_auc``         higher  score        ROC-AUC macro (and ``average_precision``): ``--auc``
``class_f1[C]``     higher  score        F1 of class C (``class_precision[C]`` likewise)
``class_roc_auc[C]`` higher score        ROC-AUC of class C (one vs rest): ``--auc``
``confusion[A,B]``  lower   score        share of the rows labelled A predicted as B
==================  ======  ===========  ==================================================

A gate on ``roc_auc``, ``average_precision`` or ``class_roc_auc`` turns on exact ``--auc``
when neither ``--auc`` nor ``--auc-bins`` is given (``Metric.needs``); ``top_k_accuracy`` needs
its K, so without ``--top-k-accuracy K`` it is an error. ``confusion[A,B]`` names one pair of
the file's classes (class names may hold commas: the split must be the only one that names
two known classes).

A threshold is ``METRIC OP LIMIT`` with OP one of ``<= < >= >``. A regression check compares
the candidate with a baseline in the metric's direction: with margin m (absolute, or a
percentage of |baseline|) it fails when the candidate is worse by more than m; with
``fail_on='significant'`` only when the whole bootstrap interval of the difference is worse
than m. Compared: the loss, every metric with a threshold, and every metric ``--compare`` or
``--max-regression METRIC=X`` names (a comparison asked for by name that the baseline cannot
make is an error, ``requested_keys``).

Summation order (batch size, threads, engine) moves a metric by a few ulps, so every
comparison is made up to ``rounding_tolerance(a, b) = 1e-12 · max(|a|, |b|, 1)``: a value that
close to a limit counts as equal to it, and a regression must exceed m by more than that.
"""

from __future__ import annotations

import math
import operator
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ce_cli.core.classification import SCALAR_METRICS
from ce_cli.core.errors import CEError
from ce_cli.core.group_keys import key_text
from ce_cli.core.vocab import STRATEGIES
from ce_cli.report.check_flags import FLAG_THRESHOLDS

LOWER, HIGHER = "lower", "higher"
FAIL_ON = ("value", "significant")


@dataclass(frozen=True)
class Metric:
    name: str
    better: str  # lower | higher
    source: str  # score | calibration | label_issues
    per_class: bool = False
    pair: bool = False  # confusion[A,B]: a pair of classes
    needs: str | None = None  # a score option it needs: auc | top_k
    classification: bool = False  # from the score report's classification (hard labels only)


CLASSIFICATION_KEYS = SCALAR_METRICS
"""The scalar metrics of a score report's ``classification`` block, by the same names."""

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("loss", LOWER, "score"),
        Metric("accuracy", HIGHER, "score"),
        Metric("nce", LOWER, "score"),
        Metric("subset_accuracy", HIGHER, "score"),
        Metric("hamming_loss", LOWER, "score"),
        Metric("kl_divergence", LOWER, "score"),
        Metric("ece", LOWER, "calibration"),
        Metric("mce", LOWER, "calibration"),
        Metric("rmsce", LOWER, "calibration"),
        Metric("adaptive_ece", LOWER, "calibration"),
        Metric("classwise_ece", LOWER, "calibration"),
        Metric("brier", LOWER, "calibration"),
        Metric("nll", LOWER, "calibration"),
        Metric("class_loss", LOWER, "score", per_class=True),
        Metric("class_recall", HIGHER, "score", per_class=True),
        *(Metric(name, HIGHER, "score", classification=True) for name in CLASSIFICATION_KEYS),
        Metric("top_k_accuracy", HIGHER, "score", needs="top_k", classification=True),
        Metric("roc_auc", HIGHER, "score", needs="auc"),  # the report's roc_auc_macro
        Metric("average_precision", HIGHER, "score", needs="auc"),
        Metric("class_f1", HIGHER, "score", per_class=True, classification=True),
        Metric("class_precision", HIGHER, "score", per_class=True, classification=True),
        Metric("class_roc_auc", HIGHER, "score", per_class=True, needs="auc"),
        Metric("confusion", LOWER, "score", pair=True, classification=True),
        Metric("label_issues", LOWER, "label_issues"),  # cleanlab's num_label_issues
        Metric("label_issue_rate", LOWER, "label_issues"),  # label_issues / rows used
    )
}
ALIASES = {"normalized_cross_entropy": "nce", "kl": "kl_divergence"}
CALIBRATION_METRICS = tuple(m.name for m in METRICS.values() if m.source == "calibration")
EVERY_CLASS = "*"

PREDICTED_SUMS = (*CLASSIFICATION_KEYS, "class_f1", "class_precision")
"""The metrics made of per-class (multi-label: per-label) tp, predicted and support sums: their
paired bootstrap needs the predicted mass per class (``needs_class_predicted``)."""
SINGLE_LABEL_ONLY = ("balanced_accuracy", "cohen_kappa", "mcc", "top_k_accuracy", "confusion")

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
_FAILS = {"<=": "above", "<": "not below", ">=": "below", ">": "not above"}
_METRIC_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(.+)\])?\s*$")
_REQUIRE_RE = re.compile(r"^\s*(.+?)\s*(<=|>=|<|>)\s*([^<>=]+?)\s*$")

ClassSpecs = Mapping[str, float] | float | str | Sequence[str] | None
MarginSpecs = Mapping[str, float | str] | float | str | Sequence[str] | None


# ---------------------------------------------------------------------- names
def metric_key(metric: str, cls: str | None = None) -> str:
    return f"{metric}[{cls}]" if cls is not None else metric


def parse_metric(text: str, where: str) -> tuple[str, str | None]:
    """``'ece'`` → ('ece', None); ``'class_loss[cat]'`` → ('class_loss', 'cat')."""
    match = _METRIC_RE.match(text)
    name = match.group(1).lower() if match else ""
    name = ALIASES.get(name, name)
    if not match or name not in METRICS:
        raise CEError(
            f"{where}: unknown metric {text.strip()!r}; known: {', '.join(_known_metrics())}"
        )
    cls = match.group(2)
    metric = METRICS[name]
    if metric.pair and (cls is None or cls.strip() == EVERY_CLASS or "," not in cls):
        raise CEError(
            f"{where}: {name} is of one pair of classes; name it, e.g. {name}[cat,dog] "
            "(the share of rows labelled cat predicted as dog)"
        )
    if metric.per_class and cls is None:
        raise CEError(f"{where}: {name} is per class; name one, e.g. {name}[cat] or {name}[*]")
    if not (metric.per_class or metric.pair) and cls is not None:
        raise CEError(f"{where}: {name} is not per class; drop [{cls}]")
    return name, None if cls is None else cls.strip()


def _known_metrics() -> list[str]:
    return [
        f"{m.name}[A,B]" if m.pair else f"{m.name}[CLASS]" if m.per_class else m.name
        for m in METRICS.values()
    ]


def resolve_pair(text: str, classes: Sequence[str], origin: str) -> tuple[str, str]:
    """``'cat,dog'`` → ('cat', 'dog'): the one split at a comma whose two sides are both
    classes (names may hold commas; spaces around the comma are allowed), else an error."""
    known = set(classes)
    found: list[tuple[str, str]] = []
    for i, ch in enumerate(text):
        if ch != ",":
            continue
        a, b = text[:i], text[i + 1 :]
        for pair in ((a, b), (a.strip(), b.strip())):
            if pair[0] in known and pair[1] in known and pair not in found:
                found.append(pair)
    if len(found) != 1:
        what = (
            "does not name two classes A,B"
            if not found
            else f"names {len(found)} pairs ({'; '.join(f'{a} → {b}' for a, b in found)})"
        )
        raise CEError(f"{origin}: {text!r} {what}; the classes are {', '.join(classes)}")
    a, b = found[0]
    if a == b:
        raise CEError(
            f"{origin}: confusion[{a},{b}] names one class twice; name two classes (rows "
            f"labelled A predicted as B), or gate class_recall[{a}]"
        )
    return a, b


def pair_indices(specs: Sequence[str], classes: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """The (true, predicted) class indices of the ``A,B`` texts that name two classes, once
    each; one that does not is skipped here (``expand_classes`` reports it)."""
    out = []
    for text in specs:
        try:
            a, b = resolve_pair(text, classes, "")
        except CEError:
            continue
        out.append((list(classes).index(a), list(classes).index(b)))
    return tuple(dict.fromkeys(out))


def pair_key(a: str, b: str) -> str:
    """The metric key of the pair: ``confusion[A,B]``."""
    return metric_key("confusion", f"{a},{b}")


def _number(text: Any, where: str) -> float:
    if isinstance(text, bool):
        raise CEError(f"{where}: expected a number, not {text!r}")
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CEError(f"{where}: expected a number, not {text!r}") from None
    if not math.isfinite(value):
        raise CEError(f"{where}: expected a finite number, not {text!r}")
    return value


# ---------------------------------------------------------------------- thresholds
@dataclass(frozen=True)
class Threshold:
    """``metric[cls] op limit``; ``cls`` is a class name, ``*`` (every class) or None."""

    metric: str
    op: str
    limit: float
    cls: str | None = None
    origin: str = ""  # the flag or text it came from, for messages

    @property
    def key(self) -> str:
        return metric_key(self.metric, self.cls)

    @property
    def name(self) -> str:
        return f"{self.key} {self.op} {self.limit:g}"


def parse_requirement(text: str) -> Threshold:
    """``'ece<=0.05'``, ``'accuracy >= 0.7'``, ``'class_recall[horse]>0.3'``."""
    where = f"--require {text!r}"
    match = _REQUIRE_RE.match(text)
    if not match:
        raise CEError(
            f"{where}: expected METRIC OP NUMBER with OP one of <=, <, >=, > "
            "(e.g. 'ece<=0.05' or 'class_recall[cat]>=0.5')"
        )
    metric, cls = parse_metric(match.group(1), where)
    return Threshold(metric, match.group(2), _number(match.group(3), where), cls, origin=where)


def parse_class_specs(specs: ClassSpecs, flag: str, metric: str, op: str) -> list[Threshold]:
    """``cat=0.9`` (one class) or a bare ``0.9`` (every class); also a mapping or a number."""
    out = []
    for cls, raw in _class_items(specs, flag):
        where = f"{flag} {raw if cls is None else f'{cls}={raw}'}"
        value = _number(raw, where)
        out.append(Threshold(metric, op, value, cls or EVERY_CLASS, origin=where))
    return out


def _class_items(specs: ClassSpecs, flag: str) -> list[tuple[str | None, Any]]:
    if specs is None:
        return []
    if isinstance(specs, Mapping):
        return [(None if k == EVERY_CLASS else str(k), v) for k, v in specs.items()]
    if isinstance(specs, bool):
        raise CEError(f"{flag}: expected CLASS=NUMBER or a NUMBER, not {specs!r}")
    if isinstance(specs, (int, float)):
        return [(None, specs)]
    items = [specs] if isinstance(specs, str) else list(specs)
    out: list[tuple[str | None, Any]] = []
    for item in items:
        if not isinstance(item, str):
            out.append((None, item))
            continue
        name, eq, value = item.rpartition("=")
        if not eq:
            out.append((None, item.strip()))
        elif not name.strip():
            raise CEError(f"{flag} {item!r}: expected CLASS=NUMBER or a NUMBER for every class")
        else:
            cls = name.strip()
            out.append((None if cls == EVERY_CLASS else cls, value.strip()))
    return out


def expand_classes(thresholds: Sequence[Threshold], classes: Sequence[str]) -> list[Threshold]:
    """Per-class thresholds for these classes: ``*`` becomes one per class, except where the
    same metric and operator name the class explicitly (the explicit limit wins)."""
    explicit = {(t.metric, t.op, t.cls) for t in thresholds if t.cls not in (None, EVERY_CLASS)}
    out: list[Threshold] = []
    for t in thresholds:
        if METRICS[t.metric].pair and t.cls is not None:
            out.append(replace(t, cls=",".join(resolve_pair(t.cls, classes, t.origin))))
        elif t.cls is None:
            out.append(t)
        elif t.cls == EVERY_CLASS:
            out += [
                Threshold(t.metric, t.op, t.limit, c, t.origin)
                for c in classes
                if (t.metric, t.op, c) not in explicit
            ]
        else:
            if t.cls not in classes:
                raise CEError(
                    f"{t.origin}: no class {t.cls!r}; the classes are {', '.join(classes)}"
                )
            out.append(t)
    seen: set[tuple[str, str, str | None]] = set()
    unique = []
    for t in reversed(out):  # a later spec for the same class and metric replaces an earlier
        if t.cls is not None and (t.metric, t.op, t.cls) in seen:
            continue
        seen.add((t.metric, t.op, t.cls))
        unique.append(t)
    return unique[::-1]


@dataclass(frozen=True)
class Comparison:
    """A metric the user asked to compare with the baseline, and the option that asked
    (``--compare ece``, ``--max-regression class_loss=5%``); ``cls`` ``*`` is every class."""

    metric: str
    cls: str | None
    origin: str


def expand_requests(
    requests: Sequence[Comparison], classes: Sequence[str]
) -> list[tuple[str, str]]:
    """(metric key, origin) per requested comparison, ``[*]`` spelled out per class; a class
    that the file does not have is an error."""
    out: list[tuple[str, str]] = []
    for r in requests:
        if METRICS[r.metric].pair and r.cls is not None:
            out.append((pair_key(*resolve_pair(r.cls, classes, r.origin)), r.origin))
        elif r.cls == EVERY_CLASS:
            out += [(metric_key(r.metric, c), r.origin) for c in classes]
        elif r.cls is not None and r.cls not in classes:
            raise CEError(f"{r.origin}: no class {r.cls!r}; the classes are {', '.join(classes)}")
        else:
            out.append((metric_key(r.metric, r.cls), r.origin))
    return out


# ---------------------------------------------------------------------- margins
@dataclass(frozen=True)
class Margin:
    """How much worse than the baseline a metric may get: absolute, or % of |baseline|."""

    amount: float = 0.0
    relative: bool = False

    def absolute(self, baseline: float) -> float:
        return self.amount / 100 * abs(baseline) if self.relative else self.amount

    def __str__(self) -> str:
        return f"{self.amount:g}%" if self.relative else f"{self.amount:g}"


def parse_margin(text: Any, where: str) -> Margin:
    if isinstance(text, str) and text.strip().endswith("%"):
        value, relative = _number(text.strip()[:-1], where), True
    else:
        value, relative = _number(text, where), False
    if value < 0:
        raise CEError(f"{where}: a margin must be >= 0, not {text}")
    return Margin(value, relative)


def parse_margins(specs: MarginSpecs) -> dict[str | None, Margin]:
    """``0.01`` / ``2%`` (every compared metric) or ``METRIC=X`` (``class_loss=5%`` covers
    every class; ``class_loss[cat]=0.1`` one)."""
    return {key: margin for key, margin, _ in _parsed_margins(specs)}


def _parsed_margins(specs: MarginSpecs) -> list[tuple[str | None, Margin, str]]:
    """(metric key or family, or None for every metric; margin; the text it came from)."""
    out = []
    for name, raw in _margin_items(specs):
        where = "--max-regression " + (str(raw) if name is None else f"{name}={raw}")
        out.append((_margin_key(name, where), parse_margin(raw, where), where))
    return out


def _margin_items(specs: MarginSpecs) -> list[tuple[str | None, Any]]:
    if specs is None:
        return []
    if isinstance(specs, bool):
        raise CEError(f"--max-regression: expected a number, X% or METRIC=X, not {specs!r}")
    if isinstance(specs, Mapping):
        return [(str(k), v) for k, v in specs.items()]
    if isinstance(specs, (int, float)):
        return [(None, specs)]
    items: list[tuple[str | None, Any]] = []
    for item in [specs] if isinstance(specs, str) else list(specs):
        if isinstance(item, str) and "=" in item:
            left, _, value = item.rpartition("=")
            items.append((left.strip(), value.strip()))
        else:
            items.append((None, item))
    return items


def _margin_key(name: str | None, where: str) -> str | None:
    if name is None:
        return None
    match = _METRIC_RE.match(name)
    family = ALIASES.get(match.group(1).lower(), match.group(1).lower()) if match else ""
    if match and match.group(2) is None and family in METRICS and not METRICS[family].pair:
        return family  # a family name (class_loss) covers every class
    metric, cls = parse_metric(name, where)
    return metric_key(metric, cls)


def _margin_requests(margins: list[tuple[str | None, Margin, str]]) -> tuple[Comparison, ...]:
    """A margin that names a metric asks to compare it (a per-class family: every class)."""
    out = []
    for key, _, where in margins:
        if key is not None:
            metric, _, rest = key.partition("[")
            cls = rest[:-1] if rest else (EVERY_CLASS if METRICS[metric].per_class else None)
            out.append(Comparison(metric, cls, where))
    return tuple(out)


def pair_margins(
    margins: Mapping[str | None, Margin], classes: Sequence[str]
) -> dict[str | None, Margin]:
    """The margins with each ``confusion[A,B]`` key spelled as its check is (``cat, dog`` →
    ``cat,dog``), once the classes are known."""
    out: dict[str | None, Margin] = {}
    for key, margin in margins.items():
        family, _, rest = (key or "").partition("[")
        if key is not None and family in METRICS and METRICS[family].pair and rest:
            key = pair_key(*resolve_pair(rest[:-1], classes, f"--max-regression {key}"))
        out[key] = margin
    return out


def margin_for(key: str, margins: Mapping[str | None, Margin]) -> Margin:
    if key in margins:
        return margins[key]
    family = key.split("[", 1)[0]
    if family in margins:
        return margins[family]
    return margins.get(None, Margin())


# ---------------------------------------------------------------------- options
@dataclass(frozen=True)
class CheckOptions:
    """What to check (``ce check`` options beyond the input and loss options)."""

    max_loss: float | None = None
    min_accuracy: float | None = None
    max_nce: float | None = None
    max_ece: float | None = None
    max_mce: float | None = None
    max_brier: float | None = None
    max_nll: float | None = None
    min_subset_accuracy: float | None = None
    max_hamming_loss: float | None = None
    min_macro_f1: float | None = None
    max_label_issues: float | str | None = None  # N rows, or 'P%' of the rows used
    require: tuple[str, ...] = ()
    max_class_loss: ClassSpecs = None
    min_class_recall: ClassSpecs = None
    min_class_f1: ClassSpecs = None
    max_confusion: Sequence[str] | str | None = None  # 'A,B=X', repeatable
    baseline: str | None = None
    max_regression: MarginSpecs = None
    compare: tuple[str, ...] = ()
    bootstrap: int = 1000
    seed: int = 0
    fail_on: str = "value"  # value | significant
    n_bins: int = 15
    strategy: str = "uniform"


@dataclass(frozen=True)
class CheckPlan:
    """The options, parsed and validated before any file is read."""

    thresholds: tuple[Threshold, ...]
    margins: dict[str | None, Margin]
    compare: tuple[tuple[str, str | None], ...]  # --compare, as (metric, class)
    baseline: str | None
    bootstrap: int
    seed: int
    fail_on: str
    n_bins: int
    strategy: str
    requests: tuple[Comparison, ...] = ()  # --compare and every --max-regression METRIC=X

    def metrics(self) -> set[str]:
        """Every metric (family) a threshold, --compare or --max-regression names."""
        return {t.metric for t in self.thresholds} | {r.metric for r in self.requests}

    def needing(self, need: str) -> list[str]:
        """The named metrics that need a score option (``auc``, ``top_k``), in METRICS order."""
        return [m for m in METRICS if m in self.metrics() and METRICS[m].needs == need]

    def pair_specs(self) -> list[tuple[str, str]]:
        """(``A,B`` as written, origin) of every ``confusion[A,B]`` a check names."""
        out = [(t.cls, t.origin) for t in self.thresholds if METRICS[t.metric].pair and t.cls]
        out += [(r.cls, r.origin) for r in self.requests if METRICS[r.metric].pair and r.cls]
        return out

    @property
    def needs_class_predicted(self) -> bool:
        """A compared metric is made of per-class tp, predicted and support sums (F1 and
        friends): the paired bootstrap keeps a C × G array of predicted mass."""
        return bool(self.baseline) and bool(self.metrics() & set(PREDICTED_SUMS))

    @property
    def needs_calibration(self) -> bool:
        wanted = {t.metric for t in self.thresholds}
        if self.baseline:
            wanted |= {r.metric for r in self.requests}
        return any(METRICS[m].source == "calibration" for m in wanted)

    @property
    def needs_label_issues(self) -> bool:
        """A threshold names label_issues / label_issue_rate (``ce label-issues``' count)."""
        return any(METRICS[t.metric].source == "label_issues" for t in self.thresholds)

    @property
    def per_class_regression(self) -> bool:
        if not self.baseline:
            return False
        return (
            any(t.cls is not None for t in self.thresholds)
            or any(r.cls is not None for r in self.requests)
            or self.needs_class_predicted
        )


def make_plan(check: CheckOptions) -> CheckPlan:
    """Parse and check every option before any file is read."""
    thresholds = _thresholds(check)
    compare = tuple(parse_metric(c, f"--compare {c}") for c in _strings(check.compare))
    _check_modes(check)
    margins = _parsed_margins(check.max_regression)
    _check_baseline_given(check, bool(margins), bool(compare), bool(thresholds))
    requests = tuple(Comparison(m, c, f"--compare {metric_key(m, c)}") for m, c in compare)
    return CheckPlan(
        thresholds=tuple(thresholds),
        margins={key: margin for key, margin, _ in margins},
        compare=compare,
        baseline=check.baseline,
        bootstrap=check.bootstrap,
        seed=check.seed,
        fail_on=check.fail_on,
        n_bins=check.n_bins,
        strategy=check.strategy,
        requests=requests + _margin_requests(margins),
    )


def _thresholds(check: CheckOptions) -> list[Threshold]:
    """The thresholds of the flags (--max-loss, …), of --require, and per class."""
    thresholds: list[Threshold] = []
    for name, metric, op in FLAG_THRESHOLDS:
        value = getattr(check, name)
        if value is not None:
            flag = "--" + name.replace("_", "-")
            limit = _number(value, flag)
            thresholds.append(Threshold(metric, op, limit, origin=f"{flag} {limit:g}"))
    if check.max_label_issues is not None:
        thresholds.append(parse_max_label_issues(check.max_label_issues))
    thresholds += [parse_requirement(r) for r in _strings(check.require)]
    thresholds += parse_class_specs(check.max_class_loss, "--max-class-loss", "class_loss", "<=")
    thresholds += parse_class_specs(
        check.min_class_recall, "--min-class-recall", "class_recall", ">="
    )
    thresholds += parse_class_specs(check.min_class_f1, "--min-class-f1", "class_f1", ">=")
    thresholds += parse_confusion_specs(check.max_confusion)
    return thresholds


def parse_confusion_specs(specs: Sequence[str] | str | None) -> list[Threshold]:
    """``--max-confusion A,B=X`` (repeatable): confusion[A,B] <= X. Split on the last ``=``;
    which comma separates A from B is decided against the file's classes (``resolve_pair``)."""
    out = []
    for item in _strings(specs):
        text = str(item)
        pair, eq, raw = text.rpartition("=")
        where = f"--max-confusion {text}"
        if not eq or "," not in pair or not pair.strip():
            raise CEError(
                f"{where}: expected A,B=X (the largest allowed share of the rows labelled A "
                "that are predicted as B), e.g. cat,dog=0.05"
            )
        limit = _number(raw.strip(), where)
        out.append(Threshold("confusion", "<=", limit, pair.strip(), origin=where))
    return out


def parse_max_label_issues(value: float | str) -> Threshold:
    """``--max-label-issues N`` (label_issues <= N) or ``P%`` (label_issue_rate <= P/100)."""
    flag = "--max-label-issues"
    text = str(value).strip()
    if text.endswith("%"):
        pct = _number(text[:-1], f"{flag} {text}")
        if not 0 <= pct <= 100:
            raise CEError(f"{flag} {text}: a percentage must be in 0 … 100")
        return Threshold("label_issue_rate", "<=", pct / 100, origin=f"{flag} {text}")
    count = _number(text, f"{flag} {text}")
    if count < 0 or count != int(count):
        raise CEError(f"{flag} {text}: expected a row count (an integer >= 0) or a percentage P%")
    return Threshold("label_issues", "<=", count, origin=f"{flag} {int(count)}")


def _check_modes(check: CheckOptions) -> None:
    if check.fail_on not in FAIL_ON:
        raise CEError(f"--fail-on must be one of {', '.join(FAIL_ON)}, not {check.fail_on!r}")
    if check.bootstrap < 0:
        raise CEError(f"--bootstrap must be >= 0 (0 turns it off), not {check.bootstrap}")
    if check.n_bins < 1:
        raise CEError(f"--bins must be at least 1, not {check.n_bins}")
    if check.strategy not in STRATEGIES:
        raise CEError(f"--strategy must be one of {', '.join(STRATEGIES)}, not {check.strategy!r}")
    if check.fail_on == "significant" and check.bootstrap == 0:
        raise CEError(
            "--fail-on significant needs the bootstrap interval; --bootstrap 0 turns it off"
        )


def _check_baseline_given(
    check: CheckOptions, margins: bool, compare: bool, thresholds: bool
) -> None:
    """Flags that compare with a baseline need one; and something must be checked."""
    if not check.baseline:
        for flag, given in (
            ("--max-regression", margins),
            ("--compare", compare),
            ("--fail-on significant", check.fail_on == "significant"),
        ):
            if given:
                raise CEError(f"{flag} compares with a baseline; pass --baseline FILE too")
    if not thresholds and not check.baseline:
        raise CEError(
            "nothing to check: give a threshold (--max-loss, --min-accuracy, --max-ece, "
            "--require 'METRIC<=X', …) or --baseline FILE, on the command line or in "
            "pyproject.toml [tool.ce.check] / ce.toml [check]"
        )


def _strings(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def resolved_pairs(plan: CheckPlan, classes: Sequence[str]) -> list[tuple[str, str]]:
    """Every (A, B) a ``confusion[A,B]`` check names, resolved against the classes."""
    pairs = [resolve_pair(text, classes, origin) for text, origin in plan.pair_specs()]
    return list(dict.fromkeys(pairs))


def regression_keys(
    plan: CheckPlan, thresholds: Sequence[Threshold], classes: Sequence[str]
) -> list[str]:
    """The metrics compared with a baseline: the loss always, every metric with a threshold
    (per class: the classes it names), and every metric ``--compare`` or ``--max-regression
    METRIC=X`` names."""
    keys = ["loss"] + [t.key for t in thresholds] + list(requested_keys(plan, classes))
    return list(dict.fromkeys(keys))


def requested_keys(plan: CheckPlan, classes: Sequence[str]) -> dict[str, str]:
    """The metric keys the user asked to compare, each with the option that asked first."""
    out: dict[str, str] = {}
    for key, origin in expand_requests(plan.requests, classes):
        out.setdefault(key, origin)
    return out


# ---------------------------------------------------------------------- applicability
def not_applicable(
    metric: str, target_kind: str, report: Mapping[str, Any] | None = None
) -> str | None:
    """Why ``metric`` has no meaning for this kind of target (or, given the score report
    dict, for this file), or None."""
    multilabel = target_kind == "multi-hot"
    spec = METRICS[metric]
    if spec.classification and target_kind == "soft":
        return f"{metric} needs hard labels; this file has soft targets"
    if metric in SINGLE_LABEL_ONLY and multilabel:
        return (
            f"{metric} is for single-label data; this file is multi-label (use macro_f1, "
            "micro_f1, class_f1[CLASS] or subset_accuracy)"
        )
    if metric == "top_k_accuracy" and report is not None and _one_column(report):
        return (
            "top_k_accuracy needs two or more prediction columns (class scores); this file "
            "has one (binary scores): use accuracy"
        )
    if metric == "accuracy" and multilabel:
        return (
            "accuracy is for single-label data; this file is multi-label (use "
            "--min-subset-accuracy or --max-hamming-loss)"
        )
    if metric in ("subset_accuracy", "hamming_loss") and not multilabel:
        return f"{metric} is for multi-label data; this file is single-label (use --min-accuracy)"
    if metric == "kl_divergence" and target_kind != "soft":
        return "kl_divergence is defined for soft targets only"
    if METRICS[metric].source == "label_issues" and target_kind == "soft":
        return f"{metric} needs one given class per row, or 0/1 labels (multi-label)"
    return None


def _one_column(report: Mapping[str, Any]) -> bool:
    """A single-label report whose classification block has no top-k accuracy although it
    was asked for: its predictions are one column (``classification.top_k_accuracy`` is
    defined for K >= 2 columns only)."""
    block = report.get("classification")
    return (
        isinstance(block, Mapping)
        and report.get("target_kind") == "index"
        and report.get("task") == "binary"
        and block.get("top_k_accuracy") is None
    )


# ---------------------------------------------------------------------- metrics from reports
def score_metrics(
    report: Mapping[str, Any], pairs: Sequence[tuple[str, str]] = ()
) -> dict[str, float | None]:
    """The check metrics of a ``ce score`` report dict; ``pairs``: the (A, B) whose
    ``confusion[A,B]`` to include (all C² would be too many)."""
    out = _loss_metrics(report)
    block = report.get("classification")
    if isinstance(block, Mapping):
        out.update({name: _value(block.get(name)) for name in CLASSIFICATION_KEYS})
        top_k = block.get("top_k_accuracy")
        if isinstance(top_k, Mapping):
            out["top_k_accuracy"] = _value(top_k.get("value"))
        for a, b in pairs:
            out[pair_key(a, b)] = confusion_rate(block.get("confusion"), a, b)
    auc = report.get("auc")
    if isinstance(auc, Mapping):
        out["roc_auc"] = _value(auc.get("roc_auc_macro"))
        out["average_precision"] = _value(auc.get("average_precision_macro"))
    for c in report.get("per_class", []):
        if isinstance(block, Mapping):
            out[metric_key("class_f1", c["name"])] = _value(c.get("f1"))
            out[metric_key("class_precision", c["name"])] = _value(c.get("precision"))
        if isinstance(auc, Mapping):
            out[metric_key("class_roc_auc", c["name"])] = _value(c.get("roc_auc"))
    return out


def metric_bounds(report: Mapping[str, Any]) -> dict[str, float]:
    """The worst-case error of each binned metric of a ``ce score`` report dict (``--auc-bins``):
    ``roc_auc`` and every ``class_roc_auc[C]`` get ``auc.max_error`` (the largest bound over the
    classes), ``average_precision`` gets ``auc.average_precision_max_error``. Empty for exact
    values."""
    auc = report.get("auc")
    if not isinstance(auc, Mapping) or auc.get("method") != "binned":
        return {}
    out: dict[str, float] = {}
    roc, ap = _value(auc.get("max_error")), _value(auc.get("average_precision_max_error"))
    if roc is not None:
        out["roc_auc"] = roc
        out.update({metric_key("class_roc_auc", c["name"]): roc for c in report["per_class"]})
    if ap is not None:
        out["average_precision"] = ap
    return out


def _value(x: Any) -> float | None:
    """A report's number as a metric value (None for null and non-finite numbers)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


def confusion_rate(confusion: Any, a: str, b: str) -> float | None:
    """confusion[A,B] = C[A][B] / Σ_j C[A][j] from the score report's ``confusion`` block: the
    matrix, else (C > CONFUSION_MAX_CLASSES) the pairs ce check asked the score to count
    (``requested_pairs``), else its top pairs; None when A has no rows or the pair is not in
    the report."""
    if not isinstance(confusion, Mapping):
        return None
    classes = list(confusion.get("classes") or [])
    matrix = confusion.get("matrix")
    if matrix is not None and a in classes and b in classes:
        row = matrix[classes.index(a)]
        support = math.fsum(row)
        return row[classes.index(b)] / support if support > 0 else None
    for p in [*(confusion.get("requested_pairs") or []), *(confusion.get("top_pairs") or [])]:
        if p.get("true") == a and p.get("predicted") == b:
            return _value(p.get("rate"))
    return None


def _loss_metrics(report: Mapping[str, Any]) -> dict[str, float | None]:
    """The loss-side metrics of a score report dict: loss, accuracy, nce, … per class."""
    kind = report.get("target_kind")
    out: dict[str, float | None] = {"loss": report["loss"]["mean"]}
    if kind == "multi-hot":
        out["subset_accuracy"] = report.get("subset_accuracy")
        out["hamming_loss"] = report.get("hamming_loss")
    else:
        out["accuracy"] = report.get("accuracy")
    out["nce"] = report.get("normalized_cross_entropy")
    if kind == "soft":
        out["kl_divergence"] = report.get("kl_divergence")
    for c in report.get("per_class", []):
        out[metric_key("class_loss", c["name"])] = c.get("mean_loss")
        out[metric_key("class_recall", c["name"])] = c.get("recall")
    return out


def calibration_metrics(report: Mapping[str, Any]) -> dict[str, float | None]:
    """The check metrics of a calibration report dict (top-level numbers or null)."""
    out: dict[str, float | None] = {}
    for name in CALIBRATION_METRICS:
        value = report.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value) if math.isfinite(value) else None
        elif value is None and name in report:
            out[name] = None
    return out


@dataclass
class BaselineReport:
    """A JSON report used as a baseline: its metrics, and what it was computed with."""

    path: str
    kind: str  # score | check | calibration
    metrics: dict[str, float | None]
    loss_name: str | None = None
    parameters: dict[str, Any] | None = None
    n_used: int | None = None
    classes: list[str] | None = None
    group_by: str | None = None
    groups: dict[str, dict[str, float | None]] = field(default_factory=dict)  # 'COL=V' → metrics
    confusion: dict[str | None, Any] = field(default_factory=dict)  # score: group → its block

    def add_pairs(self, pairs: Sequence[tuple[str, str]]) -> None:
        """A score report's ``confusion[A,B]`` for these pairs (a check report holds the pairs
        it checked already), of all rows and of each group."""
        for group, block in self.confusion.items():
            metrics = self.metrics if group is None else self.groups.get(group)
            if metrics is not None:
                metrics.update({pair_key(a, b): confusion_rate(block, a, b) for a, b in pairs})


def baseline_from_report(data: Any, path: str, schema_version: int) -> BaselineReport:
    """Read the metrics of a ``ce score`` / ``ce check`` / ``ce calibrate`` JSON report."""
    if not isinstance(data, dict) or "kind" not in data:
        raise CEError(
            f"--baseline {path}: not a ce JSON report (no 'kind'); pass a report written by "
            "ce score/ce check --format json, or the baseline model's predictions"
        )
    version = data.get("schema_version")
    if not isinstance(version, int) or version > schema_version:
        raise CEError(
            f"--baseline {path}: schema_version {version!r} is not one this ce reads "
            f"(<= {schema_version}); upgrade ce or recreate the report"
        )
    kind = data["kind"]
    try:
        report = _baseline_metrics(data, path, kind)
        report.group_by = data.get("group_by")
        report.confusion = _confusion_block(data, kind, None)
        for g in data.get("groups") or []:
            label = f"{report.group_by}={key_text(g['value'])}"
            if kind == "check":
                report.groups[label] = _float_metrics(g["metrics"])
            elif "error" not in g:
                report.groups[label] = _baseline_metrics(g, path, kind).metrics
                report.confusion.update(_confusion_block(g, kind, label))
        return report
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CEError(
            f"--baseline {path}: a {kind} report without the expected keys ({exc})"
        ) from None


def _confusion_block(data: dict[str, Any], kind: str, group: str | None) -> dict[str | None, Any]:
    """A score report's (or group's) ``classification.confusion``, keyed by the group."""
    block = data.get("classification") if kind == "score" else None
    if isinstance(block, dict) and isinstance(block.get("confusion"), dict):
        return {group: block["confusion"]}
    return {}


def _baseline_metrics(data: dict[str, Any], path: str, kind: str) -> BaselineReport:
    """The metrics of one report dict (or of one group's entry in it)."""
    if kind == "score":
        return BaselineReport(
            path,
            kind,
            score_metrics(data),
            data["loss"]["name"],
            data.get("parameters"),
            data.get("n_used"),
            [c["name"] for c in data.get("per_class", [])],
        )
    if kind == "check":
        loss = data.get("loss") or {}
        return BaselineReport(
            path,
            kind,
            _float_metrics(data["metrics"]),
            loss.get("name"),
            loss.get("parameters"),
            data.get("n_used"),
            data.get("classes"),
        )
    if kind in ("calibration", "calibrate"):
        return BaselineReport(path, kind, calibration_metrics(data), n_used=data.get("n_used"))
    raise CEError(
        f"--baseline {path}: a {kind!r} report has no metrics to compare; use a ce score or "
        "ce check JSON report"
    )


def _float_metrics(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    return {str(k): (None if v is None else float(v)) for k, v in metrics.items()}


# ---------------------------------------------------------------------- evaluation
@dataclass
class CheckResult:
    """One check: a threshold, or a regression against the baseline."""

    name: str
    kind: str  # threshold | regression
    metric: str  # key, e.g. loss or class_loss[cat]
    op: str
    threshold: float | None  # regression: the bound baseline ± margin
    value: float | None
    passed: bool
    message: str
    baseline: float | None = None
    delta: float | None = None  # value − baseline
    margin: str | None = None
    ci: dict[str, float] | None = None  # {low, high, level, replicates}: of the delta
    decided_by: str = "value"  # value | interval
    group: str | None = None  # --group-by: 'COL=VALUE' when the check is of one group
    bound: float | None = None  # ± worst-case error of a binned value (--auc-bins)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "metric": self.metric,
            "op": self.op,
            "threshold": self.threshold,
            "value": self.value,
            "baseline": self.baseline,
            "delta": self.delta,
            "margin": self.margin,
            "ci": self.ci,
            "decided_by": self.decided_by,
            "passed": self.passed,
            "message": self.message,
            "group": self.group,
            "bound": self.bound,
        }

    def in_group(self, group: str) -> CheckResult:
        """This check, of the rows of one group (``COL=VALUE``)."""
        return replace(
            self, name=f"{self.name} [{group}]", message=f"{group}: {self.message}", group=group
        )


RELATIVE_TOLERANCE = 1e-12
SCALE_FLOOR = 1.0


def rounding_tolerance(a: float, b: float) -> float:
    """How far apart two results of the same data may be from summation order alone:

        tol(a, b) = 1e-12 · max(|a|, |b|, 1)

    Batch size, threads and engine change the order in which float64 sums are added, which
    moves a metric by a few ulps (~1e-16 relative), far below 1e-12. The floor of 1 (an
    absolute 1e-12) covers metrics near 0, whose rounding error follows the size of the terms
    summed (probabilities, losses of order 1), not the size of the result.
    """
    return RELATIVE_TOLERANCE * max(abs(a), abs(b), SCALE_FLOOR)


def holds(value: float, op: str, limit: float) -> bool:
    """``value op limit``, where values within ``rounding_tolerance`` of the limit count as
    equal to it: ``<=`` and ``>=`` hold there, ``<`` and ``>`` do not, whatever the rounding."""
    if abs(value - limit) <= rounding_tolerance(value, limit):
        return op in ("<=", ">=")
    return OPS[op](value, limit)


def evaluate_threshold(
    t: Threshold, value: float | None, baseline: float | None, bound: float | None = None
) -> CheckResult:
    """``value op limit`` (with ``holds``'s tolerance); ``baseline``, if any, is only shown.
    A binned value with worst-case error ``bound`` is judged by ``binned_verdict``."""
    delta = None if value is None or baseline is None else value - baseline
    if value is None:
        passed, message = False, f"{t.key} is undefined here, so {t.op} {t.limit:g} cannot hold"
    elif bound is not None:
        passed, message = binned_verdict(t, value, bound)
    else:
        passed = holds(value, t.op, t.limit)
        message = (
            f"{t.key} = {value:.6g} {t.op} {t.limit:g}"
            if passed
            else f"{t.key} = {value:.6g} is {_FAILS[t.op]} the limit {t.limit:g} ({t.origin})"
        )
    return CheckResult(
        name=t.name,
        kind="threshold",
        metric=t.key,
        op=t.op,
        threshold=t.limit,
        value=value,
        passed=passed,
        message=message,
        baseline=baseline,
        delta=delta,
        bound=bound,
    )


def binned_verdict(t: Threshold, value: float, bound: float) -> tuple[bool, str]:
    """(passed, message) of ``value op limit`` for a binned estimate whose exact value lies in
    value ± bound. With the slack d = value − limit (``>=``, ``>``) or limit − value (``<=``,
    ``<``): it passes when d > bound, fails when d < −bound, and is undecided — failed, so a
    gate never passes on a guess — otherwise, with the advice to compute it exactly."""
    slack = value - t.limit if t.op in (">=", ">") else t.limit - value
    shown = f"{t.key} = {value:.6g} (binned, ±{bound:.2g})"
    if slack > bound:
        return True, f"{shown} {t.op} {t.limit:g}"
    if slack < -bound:
        return False, (
            f"{shown} is {_FAILS[t.op]} the limit {t.limit:g} by more than its bound ({t.origin})"
        )
    return False, (
        f"{shown} is within ±{bound:.2g} of the limit {t.limit:g}, so the binned estimate "
        f"cannot decide {t.op} {t.limit:g}: use --auc (exact) or more --auc-bins ({t.origin})"
    )


@dataclass(frozen=True)
class Regression:
    """One metric against its baseline: worse means higher for a ``lower`` metric.

    ``allowed`` is the margin m in the metric's units; a value passes when
    ``worse_by(value) <= m + rounding_tolerance(value, baseline)``.
    """

    key: str
    baseline: float
    allowed: float
    lower: bool

    @classmethod
    def of(cls, key: str, baseline: float, margin: Margin) -> Regression:
        lower = METRICS[key.split("[", 1)[0]].better == LOWER
        return cls(key, baseline, margin.absolute(baseline), lower)

    @property
    def bound(self) -> float:
        """baseline + m (lower is better) or baseline − m."""
        return self.baseline + self.allowed if self.lower else self.baseline - self.allowed

    @property
    def op(self) -> str:
        return "<=" if self.lower else ">="

    @property
    def direction(self) -> str:
        """The worse direction, as a message says it."""
        return "higher" if self.lower else "lower"

    def worse_by(self, value: float) -> float:
        return value - self.baseline if self.lower else self.baseline - value

    def within(self, worse_by: float, value: float) -> bool:
        """``worse_by`` is at most the margin, up to rounding (NaN is not)."""
        return worse_by <= self.allowed + rounding_tolerance(value, self.baseline)

    def exceeds(self, worse_by: float, value: float) -> bool:
        """``worse_by`` is more than the margin, beyond rounding (NaN is not)."""
        return worse_by > self.allowed + rounding_tolerance(value, self.baseline)


def evaluate_regression(
    key: str,
    value: float | None,
    baseline: float,
    margin: Margin,
    *,
    fail_on: str = "value",
    interval: Any = None,
) -> CheckResult:
    """Fail when ``value`` is worse than ``baseline`` by more than the margin (or, with
    ``fail_on='significant'`` and an interval, when all of the interval is), each up to
    ``rounding_tolerance`` so that summation order alone never decides."""
    rule = Regression.of(key, baseline, margin)
    decided_by = "value"
    if value is None:
        passed, message = False, f"{key} is undefined here (baseline {baseline:.6g})"
    elif fail_on == "significant" and interval is not None:
        passed, message = _judged_by_interval(rule, value, interval)
        decided_by = "interval"
    else:
        passed, message = _judged_by_value(rule, value)
        if fail_on == "significant":
            message += "; no bootstrap interval for this metric: compared by value"
    return CheckResult(
        name=f"{key} vs baseline",
        kind="regression",
        metric=key,
        op=rule.op,
        threshold=rule.bound,
        value=value,
        passed=passed,
        message=message,
        baseline=baseline,
        delta=None if value is None else value - baseline,
        margin=str(margin),
        ci=_ci(interval),
        decided_by=decided_by,
    )


def _judged_by_value(rule: Regression, value: float) -> tuple[bool, str]:
    worse_by = rule.worse_by(value)
    if rule.within(worse_by, value):
        return True, (
            f"{rule.key} = {value:.6g}, baseline {rule.baseline:.6g} "
            f"(allowed {rule.op} {rule.bound:.6g})"
        )
    return False, (
        f"{rule.key} = {value:.6g} is {rule.direction} than the baseline {rule.baseline:.6g} "
        f"by {worse_by:.6g} (allowed {rule.allowed:.6g})"
    )


def _judged_by_interval(rule: Regression, value: float, interval: Any) -> tuple[bool, str]:
    """Fail only when even the best end of the interval of the difference is worse than m."""
    best_case = interval.low if rule.lower else -interval.high
    passed = not rule.exceeds(best_case, value)
    key, base, m = rule.key, rule.baseline, rule.allowed
    level = f"{interval.level:.0%}"
    span = f"[{interval.low:+.6g}, {interval.high:+.6g}]"
    if not passed:
        return False, (
            f"{key} = {value:.6g} is {rule.direction} than the baseline {base:.6g}: the "
            f"{level} interval of the difference {span} is worse than the allowed {m:.6g} "
            "throughout"
        )
    worse_by = rule.worse_by(value)
    if rule.within(worse_by, value):
        return True, f"{key} = {value:.6g}, baseline {base:.6g}, difference {span} ({level})"
    return True, (
        f"{key} = {value:.6g} is worse than the baseline {base:.6g} by {worse_by:.6g}, but the "
        f"{level} interval of the difference {span} reaches the allowed {m:.6g}: not "
        "significant"
    )


def _ci(interval: Any) -> dict[str, float] | None:
    """The interval as the report's ``ci`` block."""
    if interval is None:
        return None
    return {
        "estimate": interval.estimate,
        "low": interval.low,
        "high": interval.high,
        "level": interval.level,
        "replicates": interval.replicates,
    }


# ---------------------------------------------------------------------- configuration
CONFIG_FILES = ("ce.toml", "pyproject.toml")


@dataclass
class Config:
    """The ``check`` table of a TOML file; keys are flag names without dashes."""

    path: str
    table: str  # "[check]" or "[tool.ce.check]"
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.path} {self.table}"


def load_toml(path: str | Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise CEError(f"{path}: cannot read the configuration ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CEError(f"{path}: not valid TOML ({exc})") from None


def _check_table(data: dict[str, Any], path: Path) -> tuple[str, Any] | None:
    if path.name == "pyproject.toml" or "tool" in data:
        tool = data.get("tool")
        ce = tool.get("ce") if isinstance(tool, dict) else None
        if isinstance(ce, dict) and "check" in ce:
            return "[tool.ce.check]", ce["check"]
    if path.name != "pyproject.toml" and "check" in data:
        return "[check]", data["check"]
    return None


def read_config(path: str | Path) -> Config:
    """An explicit ``--config FILE``: its ``[check]`` table (``[tool.ce.check]`` in a
    pyproject.toml)."""
    p = Path(path)
    found = _check_table(load_toml(p), p)
    if found is None:
        table = "[tool.ce.check]" if p.name == "pyproject.toml" else "[check]"
        raise CEError(f"--config {path}: the file has no {table} table")
    return _config(p, *found)


def find_config(directory: str | Path = ".") -> Config | None:
    """``ce.toml`` with a ``[check]`` table, else ``pyproject.toml`` with ``[tool.ce.check]``,
    in this directory only."""
    for name in CONFIG_FILES:
        p = Path(directory) / name
        if p.is_file():
            found = _check_table(load_toml(p), p)
            if found is not None:
                return _config(Path(name) if Path(directory) == Path(".") else p, *found)
    return None


def _config(path: Path, table: str, values: Any) -> Config:
    if not isinstance(values, dict):
        raise CEError(f"{path}: {table} must be a table of options")
    normalised: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("_", "-")
        if name in normalised:
            raise CEError(f"{path} {table}: {key!r} is given twice (with - and _)")
        normalised[name] = value
    return Config(str(path), table, normalised)


def config_list(value: Any, key: str, where: str) -> list[str]:
    """A list-valued option from the file: a string, a number, a list of them, or a table
    ``{cat = 0.9}`` (→ ``cat=0.9``)."""
    if isinstance(value, dict):
        return [f"{k}={_scalar(v, key, where)}" for k, v in value.items()]
    if isinstance(value, list):
        return [_scalar(v, key, where) for v in value]
    return [_scalar(value, key, where)]


def _scalar(value: Any, key: str, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise CEError(f"{where}: {key} = {value!r}: expected a string or a number")
    return str(value)
