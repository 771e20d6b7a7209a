"""Which columns hold labels, predictions, ids, weights and masks (DESIGN.md, "Columns").

Resolution uses column names only; the values are looked at later, in ``layout``.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ce_cli.core.errors import CEError

LABEL_NAMES = ("label", "labels", "target", "y", "y_true", "class", "gt")
LABEL_PREFIXES = ("label_", "target_", "y_")
PRED_PREFIXES = (
    "logit_",
    "logits_",
    "prob_",
    "probs_",
    "p_",
    "score_",
    "pred_",
    "proba_",  # scikit-learn's predict_proba, by the names people give its columns
    "predict_proba_",
    "y_proba_",
    "decision_function_",  # scikit-learn's decision_function: logits
)
PRED_NAMES = (
    "logit",
    "logits",
    "prob",
    "probs",
    "probability",
    "score",
    "y_score",
    "y_proba",
    "proba",
    "decision_function",
)
# Hard predictions (scikit-learn's y_pred = model.predict(X)): class ids or names, never scores;
# checked against the argmax. Last-resort score column when it holds fractions.
HARD_PRED_NAMES = ("y_pred", "pred", "prediction", "predicted")
ID_NAMES = ("id", "row_id", "sample_id", "uid")
# pandas' index written by to_csv (empty name; read back and written again: "Unnamed: 0") or
# to_parquet (__index_level_0__): a row id when its values are unique.
INDEX_NAMES = ("", "unnamed: 0", "__index_level_0__")
INDEX_SHOWN = "(unnamed index column)"
# Single-column names that a prefix group must not swallow (y_pred is not a label column).
_NOT_GROUP_MEMBERS = {n for n in PRED_NAMES + LABEL_NAMES + ID_NAMES + HARD_PRED_NAMES}
_LOGIT_STEMS = ("logit", "decision_function")
_PROB_STEMS = ("prob", "p_", "predict_proba", "y_proba")


@dataclass(frozen=True)
class PredColumns:
    """Prediction columns: several scalar columns (one per class) or one column (scalar or list)."""

    names: tuple[str, ...]
    prefix: str | None  # "logit_" etc. for a prefix group, None otherwise
    class_names: tuple[str, ...] | None  # suffixes of a prefix group; the class-named columns
    # How they were found: prefix | single | option (--pred-cols) | class-names (columns named
    # as the classes, confirmed by the labels in ``layout``) | hard (y_pred as the only score)
    found_as: str = "prefix"

    @property
    def kind_hint(self) -> str | None:
        """'logits' or 'probs' when the column names say so (DESIGN.md), else None."""
        if self.found_as == "class-names":
            return None
        stem = (self.prefix or self.names[0]).lower()
        if stem.startswith(_LOGIT_STEMS):
            return "logits"
        if stem.startswith(_PROB_STEMS):
            return "probs"
        return None


def show_column(name: str) -> str:
    """A column name as messages show it (pandas' unnamed index is not an empty string)."""
    return INDEX_SHOWN if name == "" else name


def show_columns(columns: Iterable[str]) -> str:
    return ", ".join(map(show_column, columns))


def is_index_name(name: str) -> bool:
    """pandas' index column, by name (``""``, ``Unnamed: 0``, ``__index_level_0__``)."""
    return name.lower() in INDEX_NAMES


def _lookup(columns: Sequence[str], wanted: Sequence[str]) -> str | None:
    """The first column whose lower-cased name is in ``wanted`` (in ``wanted``'s order)."""
    lower = {c.lower(): c for c in reversed(columns)}
    for name in wanted:
        if name in lower:
            return lower[name]
    return None


def _prefix_groups(columns: Sequence[str], prefixes: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Prefix groups in file order of their first column: [(prefix, [columns...])]."""
    groups: dict[str, list[str]] = {}
    for col in columns:
        low = col.lower()
        if low in _NOT_GROUP_MEMBERS:
            continue
        # The longest matching prefix wins, so "logits_a" is not read as "logit_" + "s_a".
        matches = [p for p in prefixes if low.startswith(p) and len(low) > len(p)]
        if matches:
            groups.setdefault(max(matches, key=len), []).append(col)
    return list(groups.items())


def select(columns: Sequence[str], spec: str, *, what: str, file: str) -> list[str]:
    """Columns named by ``spec``: a name, a comma list, or a glob (``'label_*'``), in file order
    for a glob and in the given order for a list."""
    found: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if any(ch in part for ch in "*?["):
            matched = [c for c in columns if fnmatch.fnmatchcase(c, part)]
            if not matched:
                raise CEError(
                    f"{file}: no column matches {what} pattern {part!r}; "
                    f"the file has columns: {show_columns(columns)}"
                )
            found.extend(m for m in matched if m not in found)
        elif part in columns:
            found.append(part)
        else:
            raise CEError(
                f"{file}: {what} column {part!r} not found; "
                f"the file has columns: {show_columns(columns)}"
            )
    if not found:
        raise CEError(f"{file}: {what} option {spec!r} names no column")
    return found


def strip_prefix(names: Sequence[str]) -> tuple[str, tuple[str, ...]] | None:
    """(prefix, suffixes) when every name is ``<prefix><suffix>`` with one common known prefix."""
    for prefix in sorted(PRED_PREFIXES + LABEL_PREFIXES, key=len, reverse=True):
        if all(n.lower().startswith(prefix) and len(n) > len(prefix) for n in names):
            return prefix, tuple(n[len(prefix) :] for n in names)
    return None


def find_labels(columns: Sequence[str], spec: str | None, file: str) -> list[str]:
    """The label column(s): ``--label-col``, else a conventional name, else a ``label_*`` group."""
    if spec:
        return select(columns, spec, what="label", file=file)
    single = _lookup(columns, LABEL_NAMES)
    if single is not None:
        return [single]
    for _prefix, group in _prefix_groups(columns, LABEL_PREFIXES):
        if len(group) >= 2:
            return group
    raise CEError(
        f"{file}: no label column found (looked for {', '.join(LABEL_NAMES)} or label_* columns); "
        f"the file has columns: {show_columns(columns)}; pass --label-col NAME"
    )


def find_preds(columns: Sequence[str], spec: str | None, file: str) -> PredColumns | None:
    """The prediction column(s), or None when the file has none (fine for ``ce weights``)."""
    if spec:
        names = select(columns, spec, what="prediction", file=file)
        stripped = strip_prefix(names) if len(names) > 1 else None
        return PredColumns(
            tuple(names),
            stripped[0] if stripped else None,
            stripped[1] if stripped else None,
            "prefix" if stripped else "option",
        )
    groups = _prefix_groups(columns, PRED_PREFIXES)
    if groups:
        prefix, group = groups[0]
        suffixes = tuple(c[len(prefix) :] for c in group)
        return PredColumns(tuple(group), prefix, suffixes)
    single = _lookup(columns, PRED_NAMES)
    if single:
        return PredColumns((single,), None, None, "single")
    hard = _lookup(columns, HARD_PRED_NAMES)
    return PredColumns((hard,), None, None, "hard") if hard else None


def class_named_candidates(columns: Sequence[str], used: Iterable[str | None]) -> list[str]:
    """Columns that may be named as the classes (``pd.DataFrame(model.predict_proba(X),
    columns=model.classes_)``): every column not used otherwise, not pandas' index, not a
    conventional name; ``layout`` keeps them only when the labels' values name them."""
    taken = {u for u in used if u is not None}
    taken |= {c for c, n in Counter(columns).items() if n > 1}  # read by name: one each
    conventional = {n for n in LABEL_NAMES + ID_NAMES + HARD_PRED_NAMES}
    return [
        c
        for c in columns
        if c not in taken and not is_index_name(c) and c.lower() not in conventional
    ]


def find_hard_preds(columns: Sequence[str], preds: PredColumns | None) -> str | None:
    """The hard-prediction column (``y_pred``, ``pred``, ``prediction``), unless it is the
    prediction column itself."""
    hard = _lookup(columns, HARD_PRED_NAMES)
    return None if hard is None or (preds is not None and hard in preds.names) else hard


def find_index(columns: Sequence[str], pandas_index: Sequence[str] = ()) -> str | None:
    """pandas' index column: named so in the Parquet pandas metadata, else by name."""
    for name in pandas_index:
        if name in columns:
            return name
    return next((c for c in columns if is_index_name(c)), None)


def find_optional(
    columns: Sequence[str], spec: str | None, names: Sequence[str], what: str, file: str
) -> str | None:
    """An id / weight / mask column: the one named by the option, else a conventional name."""
    if spec:
        return select(columns, spec, what=what, file=file)[0]
    return _lookup(columns, names) if names else None


def check_unique(columns: Sequence[str], used: Iterable[str | None], file: str) -> None:
    """A column that is read must have its own name: columns are read by name, so a name
    the file holds twice is an error naming it (columns nobody reads may share names)."""
    seen = Counter(columns)
    for name in used:
        if name is not None and seen[name] > 1:
            raise CEError(
                f"{file}: column {name} appears {seen[name]} times; rename the copies so "
                "each column has its own name"
            )
