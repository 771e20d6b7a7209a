"""Write tests/golden/label_issues.json: confident learning as cleanlab computes it.

Run with an interpreter that has cleanlab and scikit-learn (kept out of the project's venv):

    python3 -m venv /tmp/goldenenv
    /tmp/goldenenv/bin/pip install cleanlab scikit-learn numpy
    /tmp/goldenenv/bin/python tests/golden/make_label_issues_golden.py

Each case stores its inputs (labels, and probabilities or logits rounded to 8 decimals, so the
text parses to the same float64 everywhere), and cleanlab's answers on them: the thresholds
(``count.get_confident_thresholds``), the confident joint raw and calibrated
(``count.compute_confident_joint``), ``count.num_label_issues`` (default method), the rows of
``filter.find_label_issues`` for every ``filter_by`` (``n_jobs=1``), the ranked rows of the
default filter for every ``return_indices_ranked_by``, and ``rank.get_label_quality_scores`` of
every row for every method. Logits are turned into probabilities here (softmax, or sigmoid as
``[1 − p, p]`` for one binary column), in float64, before cleanlab sees them. The last case
is ``sample_data/label_errors.csv`` (21 labels flipped on purpose), read as written.

It also writes tests/golden/label_issues_multilabel.json: multi-label cases (``labels`` as 0/1
rows, probabilities or logits; logits are turned into probabilities with the sigmoid here) and
cleanlab's multi-label answers (``multi_label=True``): the (K, 2) thresholds, the (K, 2, 2)
confident joints, ``count.num_label_issues``, the rows of ``filter.find_label_issues`` and the
per-label masks of ``multilabel_classification.filter.find_multilabel_issues_per_class`` for
every ``filter_by``, the ranked rows for every ``return_indices_ranked_by``, and
``multilabel_classification.rank.get_label_quality_scores`` (its default aggregation: the
exponential moving average with alpha 0.8) for every method. The last multi-label case is
``sample_data/multilabel.csv``, read as written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cleanlab
import numpy as np
from cleanlab.count import compute_confident_joint, get_confident_thresholds, num_label_issues
from cleanlab.filter import find_label_issues
from cleanlab.multilabel_classification import rank as ml_rank
from cleanlab.multilabel_classification.filter import find_multilabel_issues_per_class
from cleanlab.rank import get_label_quality_scores

OUT = Path(__file__).with_name("label_issues.json")
OUT_MULTILABEL = Path(__file__).with_name("label_issues_multilabel.json")
FILTERS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
)
RANKS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))


def _noisy(
    rng: np.random.Generator, n: int, k: int, flip: float, sharp: float, missing: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(given labels, logits, indices flipped): a signal towards the true class, some labels
    flipped to another class."""
    prior = rng.dirichlet(np.full(k, 3.0))
    if missing is not None:
        prior[missing] = 0
        prior /= prior.sum()
    true = rng.choice(k, size=n, p=prior)
    logits = rng.normal(0, 1, size=(n, k))
    logits[np.arange(n), true] += sharp
    given = true.copy()
    flipped = np.flatnonzero(rng.random(n) < flip)
    for i in flipped:
        choices = [c for c in range(k) if c != true[i] and c != missing]
        given[i] = rng.choice(choices)
    return given, np.round(logits, 8), flipped


def _answers(labels: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    cj, off = compute_confident_joint(
        labels, probs, calibrate=False, return_indices_of_off_diagonals=True
    )
    out: dict[str, Any] = {
        "thresholds": get_confident_thresholds(labels, probs).tolist(),
        "confident_joint": cj.tolist(),
        "calibrated_joint": compute_confident_joint(labels, probs).tolist(),
        "num_label_issues": int(num_label_issues(labels, probs)),
        "off_diagonal_rows": sorted(int(i) for i in off),
        "flagged": {
            f: np.flatnonzero(find_label_issues(labels, probs, filter_by=f, n_jobs=1)).tolist()
            for f in FILTERS
        },
        "ranked": {
            r: find_label_issues(labels, probs, return_indices_ranked_by=r, n_jobs=1).tolist()
            for r in RANKS
        },
        "quality": {r: get_label_quality_scores(labels, probs, method=r).tolist() for r in RANKS},
    }
    return out


def _case(name: str, labels: np.ndarray, values: np.ndarray, kind: str) -> dict[str, Any]:
    if kind == "logits":
        probs = _softmax(values) if values.shape[1] > 1 else None
        if probs is None:
            p = _sigmoid(values[:, 0])
            probs = np.column_stack([1 - p, p])
    else:
        probs = values if values.shape[1] > 1 else np.column_stack([1 - values[:, 0], values[:, 0]])
    return {
        "name": name,
        "kind": kind,
        "labels": labels.tolist(),
        "values": values.tolist(),
        "expected": _answers(labels, probs),
    }


def main() -> None:
    rng = np.random.default_rng(20261206)
    cases = []
    given, logits, _ = _noisy(rng, 700, 5, 0.08, 2.5)
    cases.append(_case("multiclass_probs", given, np.round(_softmax(logits), 8), "probs"))
    given, logits, _ = _noisy(rng, 900, 7, 0.12, 2.0)
    cases.append(_case("multiclass_logits", given, logits, "logits"))
    given, logits, _ = _noisy(rng, 500, 4, 0.1, 2.5, missing=2)
    cases.append(_case("missing_class", given, np.round(_softmax(logits), 8), "probs"))
    given, logits, _ = _noisy(rng, 400, 2, 0.1, 2.0)
    binary = np.round(logits[:, 1:] - logits[:, :1], 8)
    cases.append(_case("binary_one_logit", given, binary, "logits"))
    given, logits, _ = _noisy(rng, 1500, 10, 0.15, 2.2)
    cases.append(_case("many_classes_probs", given, np.round(_softmax(logits), 8), "probs"))
    sample = Path(__file__).parents[2] / "sample_data" / "label_errors.csv"
    table = np.genfromtxt(sample, delimiter=",", skip_header=1, dtype=float)
    case = _case("sample_label_errors", table[:, 1].astype(int), table[:, 3:], "logits")
    case["sample"] = "label_errors.csv"
    cases.append(case)
    doc = {
        "generated_by": "tests/golden/make_label_issues_golden.py",
        "versions": {"cleanlab": cleanlab.__version__, "numpy": np.__version__},
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


# ---------------------------------------------------------------------- multi-label
def _noisy_multilabel(
    rng: np.random.Generator, n: int, rates: list[float], flip: float, sharp: float
) -> tuple[np.ndarray, np.ndarray]:
    """(given 0/1 labels (n, L), logits): a signal towards each true label, some flipped."""
    true = (rng.random((n, len(rates))) < np.array(rates)).astype(int)
    logits = rng.normal(0, 1.5, size=true.shape) + np.where(true == 1, sharp, -sharp)
    flipped = rng.random(true.shape) < flip
    given = np.where(flipped, 1 - true, true)
    return given, np.round(logits, 8)


def _multilabel_answers(
    onehot: np.ndarray, probs: np.ndarray, filters: tuple[str, ...] = FILTERS
) -> dict[str, Any]:
    labels = [np.flatnonzero(row).tolist() for row in onehot]
    cj = compute_confident_joint(labels, probs, multi_label=True, calibrate=False)
    per_label = {
        f: find_multilabel_issues_per_class(labels, probs, filter_by=f, n_jobs=1) for f in filters
    }
    return {
        "thresholds": get_confident_thresholds(labels, probs, multi_label=True).tolist(),
        "confident_joint": cj.tolist(),
        "calibrated_joint": compute_confident_joint(labels, probs, multi_label=True).tolist(),
        "num_label_issues": int(num_label_issues(labels, probs, multi_label=True)),
        "flagged": {
            f: np.flatnonzero(
                find_label_issues(labels, probs, multi_label=True, filter_by=f, n_jobs=1)
            ).tolist()
            for f in filters
        },
        "per_label_flagged": {
            f: [np.flatnonzero(m).tolist() for m in per_label[f].T] for f in filters
        },
        "ranked": {
            r: find_label_issues(
                labels, probs, multi_label=True, return_indices_ranked_by=r, n_jobs=1
            ).tolist()
            for r in RANKS
        },
        "quality": {
            r: ml_rank.get_label_quality_scores(labels, probs, method=r).tolist() for r in RANKS
        },
    }


def _multilabel_case(
    name: str, onehot: np.ndarray, values: np.ndarray, kind: str, filters: tuple[str, ...] = FILTERS
) -> dict[str, Any]:
    probs = _sigmoid(values) if kind == "logits" else values
    return {
        "name": name,
        "kind": kind,
        "labels": onehot.tolist(),
        "values": values.tolist(),
        "expected": _multilabel_answers(onehot, probs, filters),
    }


def main_multilabel() -> None:
    rng = np.random.default_rng(20261207)
    cases = []
    given, logits = _noisy_multilabel(rng, 600, [0.4, 0.2, 0.5, 0.1, 0.3], 0.06, 2.0)
    cases.append(
        _multilabel_case("multilabel_probs", given, np.round(_sigmoid(logits), 8), "probs")
    )
    given, logits = _noisy_multilabel(rng, 800, [0.3, 0.6, 0.15, 0.25], 0.08, 1.8)
    cases.append(_multilabel_case("multilabel_logits", given, logits, "logits"))
    given, logits = _noisy_multilabel(rng, 300, [0.5, 0.02, 0.3], 0.0, 2.5)
    given[:, 1] = 0
    given[7, 1] = 1  # one positive: a class of one row is never pruned
    cases.append(_multilabel_case("multilabel_rare_label", given, logits, "logits"))
    given, logits = _noisy_multilabel(rng, 250, [0.3, 0.2, 0.4], 0.05, 2.0)
    given[:, 1] = 0  # a label no row has: cleanlab's predicted_neq_given refuses it (one class)
    filters = tuple(f for f in FILTERS if f != "predicted_neq_given")
    cases.append(_multilabel_case("multilabel_empty_label", given, logits, "logits", filters))
    sample = Path(__file__).parents[2] / "sample_data" / "multilabel.csv"
    table = np.genfromtxt(sample, delimiter=",", skip_header=1, dtype=float)
    case = _multilabel_case("sample_multilabel", table[:, 1:7].astype(int), table[:, 7:], "logits")
    case["sample"] = "multilabel.csv"
    cases.append(case)
    doc = {
        "generated_by": "tests/golden/make_label_issues_golden.py",
        "versions": {"cleanlab": cleanlab.__version__, "numpy": np.__version__},
        "cases": cases,
    }
    OUT_MULTILABEL.write_text(json.dumps(doc) + "\n")
    print(f"wrote {OUT_MULTILABEL} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
    main_multilabel()
