"""Option vocabularies: every mode is one ``str`` enum, defined once.

Kept free of heavy imports (no numpy) so ``ce --help`` stays fast. A member *is* its string
(``Reduction.MEAN == "mean"``, ``f"{Reduction.MEAN}" == "mean"``, JSON writes ``"mean"``), so
options may arrive as plain strings and be compared with members. The tuples below (``LOSSES``,
``REDUCTIONS``, …) are the enums' values, in order, for ``click.Choice`` and error messages.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from ce_cli.core.errors import CEError

V = TypeVar("V", bound="Vocab")


class Vocab(str, Enum):
    """A string-valued mode: prints, formats and serialises as its value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The vocabulary's words, in declaration order."""
        return tuple(str(m.value) for m in cls)

    @classmethod
    def parse(cls: type[V], value: str, option: str) -> V:
        """The member named ``value``; a one-line error naming ``option`` and the choices."""
        try:
            return cls(value)
        except ValueError:
            raise CEError(
                f"{option} must be one of {', '.join(cls.values())}, not {value!r}"
            ) from None


class Loss(Vocab):
    """``--loss``: ``auto`` picks ce (softmax) or bce (one column / multi-label)."""

    AUTO = "auto"
    CE = "ce"
    BCE = "bce"
    FOCAL = "focal"


class InputKind(Vocab):
    """``--inputs``: what the prediction columns hold."""

    AUTO = "auto"
    LOGITS = "logits"
    PROBS = "probs"


class Reduction(Vocab):
    """``--reduction``, as in PyTorch."""

    MEAN = "mean"
    SUM = "sum"
    NONE = "none"


class Task(Vocab):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    MULTILABEL = "multilabel"


class TargetKind(Vocab):
    """What one row's label is: a class index, a 0/1 vector, or class probabilities."""

    INDEX = "index"
    MULTI_HOT = "multi-hot"
    SOFT = "soft"


class Geometry(Vocab):
    """How predictions become probabilities: one softmax per row, or one sigmoid per value."""

    SOFTMAX = "softmax"
    SIGMOID = "sigmoid"


class DataShape(Vocab):
    """The shape of (targets, predictions) a loss is asked to score.

    ``multiclass``: a class index per row, one column per class (softmax); ``binary``: one
    prediction column for two classes; ``multilabel``: 0/1 per label, one column per label;
    ``soft``: class probabilities as targets, one column per class.
    """

    MULTICLASS = "multiclass"
    BINARY = "binary"
    MULTILABEL = "multilabel"
    SOFT = "soft"


class SmoothingSpread(Vocab):
    """``--smoothing-spread``: label smoothing's ε over every class (PyTorch, Keras: ε/K each)
    or over the other classes only (seed 001 §5.1: 1−ε on the true class, ε/(K−1) elsewhere)."""

    ALL = "all"
    OTHERS = "others"


class OnInvalid(Vocab):
    """``--on-invalid``: NaN / infinite predictions are an error, or their rows are skipped."""

    ERROR = "error"
    SKIP = "skip"


class WeightScheme(Vocab):
    BALANCED = "balanced"
    INVERSE = "inverse"
    SQRT_INVERSE = "sqrt-inverse"
    EFFECTIVE = "effective"
    MEDIAN = "median"


class Strategy(Vocab):
    """Calibration binning: equal-width bins, or equal-mass bins."""

    UNIFORM = "uniform"
    QUANTILE = "quantile"


class Confidence(Vocab):
    """Calibration confidence: the top label's probability, or P(y = 1) (binary)."""

    TOP_LABEL = "top-label"
    POSITIVE = "positive"


class OutputFormat(Vocab):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"
    HTML = "html"


class InputFormat(Vocab):
    CSV = "csv"
    TSV = "tsv"
    PARQUET = "parquet"
    IPC = "ipc"
    JSONL = "jsonl"
    NPY = "npy"
    NPZ = "npz"
    SAFETENSORS = "safetensors"


class FilterBy(Vocab):
    """``ce label-issues --filter-by``: cleanlab's ``filter_by`` methods (its default first)."""

    PRUNE_BY_NOISE_RATE = "prune_by_noise_rate"
    PRUNE_BY_CLASS = "prune_by_class"
    BOTH = "both"
    CONFIDENT_LEARNING = "confident_learning"
    PREDICTED_NEQ_GIVEN = "predicted_neq_given"


class RankBy(Vocab):
    """``ce label-issues --rank-by``: cleanlab's label-quality scores."""

    SELF_CONFIDENCE = "self_confidence"
    NORMALIZED_MARGIN = "normalized_margin"
    CONFIDENCE_WEIGHTED_ENTROPY = "confidence_weighted_entropy"


class AucMethod(Vocab):
    """How ROC-AUC and average precision are computed: every score kept (``--auc``), or
    histograms of B bins (``--auc-bins B``)."""

    EXACT = "exact"
    BINNED = "binned"


INPUT_FORMATS = InputFormat.values()
OUTPUT_FORMATS = OutputFormat.values()
TASKS = Task.values()
WEIGHT_SCHEMES = WeightScheme.values()
LOSSES = Loss.values()
INPUT_KINDS = InputKind.values()
REDUCTIONS = Reduction.values()
ON_INVALID = OnInvalid.values()
STRATEGIES = Strategy.values()
SMOOTHING_SPREADS = SmoothingSpread.values()
CONFIDENCE_MODES = Confidence.values()
FILTER_BY = FilterBy.values()
RANK_BY = RankBy.values()
