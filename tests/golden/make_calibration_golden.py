"""Write tests/golden/calibration.json: calibration values from torchmetrics and scikit-learn.

Run with an interpreter that has torch, torchmetrics and scikit-learn (kept out of the
project's venv):

    python3 -m venv /work/venv-torch
    /work/venv-torch/bin/pip install torch==2.13.0 torchmetrics scikit-learn numpy
    /work/venv-torch/bin/python tests/golden/make_calibration_golden.py

Each case stores its inputs, the reference library call (``ref``) and the expected values,
one case per line. Inputs are seeded and rounded (to keep the file small), so reruns write the
same file. Reference calls run in float64; torchmetrics' public multiclass function casts
confidences to float32, so its multiclass cases store the float64 run of its own internals
(``expected``) and the public float32 value (``expected_float32``, for a looser check).

Where the references are right, the inputs avoid what they get wrong: no confidence within
1e-9 of a uniform bin edge (torchmetrics bins [lo, hi), Guo and scikit-learn (lo, hi]) and no
confidence of exactly 1.0 (torchmetrics' hidden extra bin, its issue #3510). Cases of kind
``differ`` pin where ce_cli deliberately differs, with the hand-computed value ce_cli must give
(``expected``) next to what the reference library returns (``reference``).

Binary calibration in torchmetrics is positive-class reliability (confidence = P(y=1),
"accuracy" = the label), so binary torchmetrics cases are ce_cli's ``mode='positive'``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
import torchmetrics
from sklearn.calibration import _TemperatureScaling, calibration_curve
from sklearn.metrics import brier_score_loss, log_loss
from torchmetrics.functional.classification import (
    binary_calibration_error,
    multiclass_calibration_error,
)
from torchmetrics.functional.classification.calibration_error import _ce_compute
from torchmetrics.utilities.compute import normalize_logits_if_needed

OUT = Path(__file__).with_name("calibration.json")
NORMS = {"ece": "l1", "rmsce": "l2", "mce": "max"}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _far_from_edges(conf: np.ndarray, n_bins: int) -> None:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    gap = np.abs(conf[:, None] - edges[None, :]).min()
    assert gap > 1e-9, f"a confidence is within {gap:g} of a bin edge"


def _tm(fn: Any, preds: np.ndarray, target: np.ndarray, **kw: Any) -> dict[str, float]:
    p, t = torch.tensor(preds, dtype=torch.float64), torch.tensor(target)
    return {k: float(fn(p, t, norm=norm, **kw)) for k, norm in NORMS.items()}


def _tm_multiclass64(preds: np.ndarray, target: np.ndarray, n_bins: int) -> dict[str, float]:
    """torchmetrics' multiclass path (``_multiclass_calibration_error_update`` + ``_ce_compute``)
    without its ``confidences.float()`` cast, so that it stays in float64."""
    p = normalize_logits_if_needed(torch.tensor(preds, dtype=torch.float64), "softmax")
    conf, pred = p.max(dim=1)
    acc = pred.eq(torch.tensor(target)).to(torch.float64)
    return {k: float(_ce_compute(conf, acc, n_bins, norm)) for k, norm in NORMS.items()}


def tm_binary_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    cases = []
    for name, n, n_bins in [("binary_small", 40, 10), ("binary_15", 300, 15), ("binary_7", 111, 7)]:
        p = np.round(rng.beta(2.0, 1.5, size=n), 6)
        y = (rng.random(n) < p**1.5).astype(np.int64)  # over-confident positive class
        _far_from_edges(p, n_bins)
        cases.append(
            {
                "name": name,
                "kind": "binned",
                "ref": "torchmetrics binary_calibration_error(norm=l1|l2|max)",
                "mode": "positive",
                "n_bins": n_bins,
                "scores": p.tolist(),
                "target": y.tolist(),
                "expected": _tm(binary_calibration_error, p, y, n_bins=n_bins),
            }
        )
    return cases


def tm_multiclass_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    cases = []
    doc_probs = np.array(
        [[0.25, 0.20, 0.55], [0.55, 0.05, 0.40], [0.10, 0.30, 0.60], [0.90, 0.05, 0.05]]
    )
    doc_target = np.array([0, 1, 2, 0])
    cases.append(
        {
            "name": "torchmetrics_doc_example",
            "kind": "binned",
            "ref": "torchmetrics multiclass_calibration_error docstring example (0.2000)",
            "mode": "top-label",
            "score_kind": "probs",
            "n_bins": 3,
            "scores": doc_probs.tolist(),
            "target": doc_target.tolist(),
            "expected": _tm_multiclass64(doc_probs, doc_target, 3),
            "expected_float32": _tm(
                multiclass_calibration_error, doc_probs, doc_target, num_classes=3, n_bins=3
            ),
        }
    )
    for name, n, c, n_bins, scale, kind in [
        ("multiclass_probs", 300, 5, 15, 2.5, "probs"),
        ("multiclass_logits", 200, 4, 10, 3.0, "logits"),
        ("multiclass_many_bins", 400, 6, 30, 4.0, "probs"),
    ]:
        z = np.round(rng.normal(size=(n, c)) * scale, 4)
        y = np.where(rng.random(n) < 0.7, z.argmax(axis=1), rng.integers(0, c, n))
        scores = z if kind == "logits" else _softmax(z)
        _far_from_edges(_softmax(z).max(axis=1), n_bins)
        cases.append(
            {
                "name": name,
                "kind": "binned",
                "ref": "torchmetrics multiclass_calibration_error(norm=l1|l2|max), float64",
                "mode": "top-label",
                "score_kind": kind,
                "n_bins": n_bins,
                "scores": scores.tolist(),
                "target": y.tolist(),
                "expected": _tm_multiclass64(scores, y, n_bins),
                "expected_float32": _tm(
                    multiclass_calibration_error, scores, y, num_classes=c, n_bins=n_bins
                ),
            }
        )
    return cases


def classwise_case(rng: np.random.Generator) -> dict[str, Any]:
    """Classwise ECE (Kull et al. 2019) = mean over k of torchmetrics' binary (positive-class)
    ECE of the one-vs-rest stream (p_k, [y = k])."""
    n, c, n_bins = 200, 4, 15
    z = np.round(rng.normal(size=(n, c)) * 2.0, 4)
    y = np.where(rng.random(n) < 0.6, z.argmax(axis=1), rng.integers(0, c, n))
    probs = _softmax(z)
    _far_from_edges(probs.ravel(), n_bins)
    per_class = [
        float(
            binary_calibration_error(
                torch.tensor(probs[:, k]), torch.tensor((y == k).astype(np.int64)), n_bins=n_bins
            )
        )
        for k in range(c)
    ]
    return {
        "name": "classwise",
        "kind": "classwise",
        "ref": "mean_k torchmetrics binary_calibration_error(p[:, k], y == k)",
        "n_bins": n_bins,
        "scores": probs.tolist(),
        "target": y.tolist(),
        "expected": {"per_class": per_class, "ece": float(np.mean(per_class))},
    }


def curve_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """sklearn calibration_curve (positive class): non-empty bins' accuracy and confidence.

    Quantile: N divisible by M, and consecutive sorted confidences around each split point at
    least 1e-3 apart (wider than any sub-bin of ce_cli's fine grid), so the equal-mass split is
    unambiguous and ce_cli's bins must equal scikit-learn's exactly.
    """
    cases = []
    for strategy, n, n_bins in [("uniform", 200, 10), ("uniform", 57, 15), ("quantile", 200, 5)]:
        while True:
            p = np.round(rng.beta(1.2, 1.2, size=n), 6)
            s = np.sort(p)
            splits = np.arange(1, n_bins) * n // n_bins
            if strategy == "uniform" or np.min(s[splits] - s[splits - 1]) > 1e-3:
                break
        y = (rng.random(n) < p).astype(np.int64)
        _far_from_edges(p, n_bins)
        prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
        cases.append(
            {
                "name": f"calibration_curve_{strategy}_{n}",
                "kind": "curve",
                "ref": f"sklearn calibration_curve(strategy={strategy!r})",
                "strategy": strategy,
                "n_bins": n_bins,
                "scores": p.tolist(),
                "target": y.tolist(),
                "expected": {"prob_true": prob_true.tolist(), "prob_pred": prob_pred.tolist()},
            }
        )
    return cases


def score_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Brier (sklearn >= 1.7, multiclass, scale_by_half='auto') and log_loss, with weights."""
    cases: list[dict[str, Any]] = []
    n, c = 60, 3
    probs = _softmax(rng.normal(size=(n, c)) * 1.5)
    y = rng.integers(0, c, n)
    w = np.round(rng.uniform(0.0, 3.0, n), 4)
    p_bin = np.round(rng.uniform(0.01, 0.99, n), 6)
    y_bin = rng.integers(0, 2, n)
    for weighted in (False, True):
        sw = w if weighted else None
        suffix = "_weighted" if weighted else ""
        cases.append(
            {
                "name": "brier_multiclass" + suffix,
                "kind": "brier",
                "ref": "sklearn brier_score_loss(labels=range(C))",
                "scores": probs.tolist(),
                "target": y.tolist(),
                "weight": None if sw is None else sw.tolist(),
                "expected": float(
                    brier_score_loss(y, probs, sample_weight=sw, labels=list(range(c)))
                ),
            }
        )
        cases.append(
            {
                "name": "brier_binary" + suffix,
                "kind": "brier",
                "ref": "sklearn brier_score_loss (binary P(y=1))",
                "scores": p_bin.tolist(),
                "target": y_bin.tolist(),
                "weight": None if sw is None else sw.tolist(),
                "expected": float(brier_score_loss(y_bin, p_bin, sample_weight=sw)),
            }
        )
        cases.append(
            {
                "name": "log_loss" + suffix,
                "kind": "log_loss",
                "ref": "sklearn log_loss(labels=range(C))",
                "scores": probs.tolist(),
                "target": y.tolist(),
                "weight": None if sw is None else sw.tolist(),
                "expected": float(log_loss(y, probs, sample_weight=sw, labels=list(range(c)))),
            }
        )
    two = np.stack([1.0 - p_bin, p_bin], axis=1)
    cases.append(
        {
            "name": "brier_two_columns",
            "kind": "brier",
            "ref": "sklearn brier_score_loss on (n, 2) probabilities (auto: halved)",
            "scores": two.tolist(),
            "target": y_bin.tolist(),
            "weight": None,
            "expected": float(brier_score_loss(y_bin, two, labels=[0, 1])),
        }
    )
    cases.append(
        {
            "name": "brier_reference_note",
            "kind": "brier",
            "ref": "reference/calibration.md: binary [0, 1] against [.2, .7] gives 0.065",
            "scores": [0.2, 0.7],
            "target": [0, 1],
            "weight": None,
            "expected": float(brier_score_loss([0, 1], [0.2, 0.7])),
        }
    )
    return cases


def temperature_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """sklearn's _TemperatureScaling (bounded Brent on log β, xatol 64·eps) on logits.

    Binary logits z are given to scikit-learn as two columns (0, z): softmax(β·(0, z)) =
    σ(β·z), which is ce_cli's sigmoid form. (scikit-learn maps a 1-d input x to (-x, x),
    i.e. σ(2βx), whose β is half of ours.)
    """
    cases = []
    for name, n, c, scale, weighted in [
        ("temperature_overconfident", 300, 5, 4.0, False),
        ("temperature_underconfident", 300, 3, 0.4, False),
        ("temperature_weighted", 300, 6, 2.5, True),
    ]:
        z = np.round(rng.normal(size=(n, c)) * scale, 4)
        y = np.where(rng.random(n) < 0.6, z.argmax(axis=1), rng.integers(0, c, n))
        w = np.round(rng.uniform(0.0, 2.0, n), 4) if weighted else None
        ts = _TemperatureScaling().fit(z, y, sample_weight=w)
        cases.append(
            {
                "name": name,
                "kind": "temperature",
                "ref": "sklearn.calibration._TemperatureScaling().fit(logits, y).beta_",
                "scores": z.tolist(),
                "target": y.tolist(),
                "weight": None if w is None else w.tolist(),
                "expected": {"beta": float(ts.beta_), "temperature": float(1.0 / ts.beta_)},
            }
        )
    n = 400
    z = np.round(rng.normal(size=n) * 3.0, 4)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z / 2.0))).astype(np.int64)
    ts = _TemperatureScaling().fit(np.stack([np.zeros(n), z], axis=1), y)
    cases.append(
        {
            "name": "temperature_binary",
            "kind": "temperature",
            "ref": "sklearn _TemperatureScaling on two-column logits (0, z)",
            "scores": z.tolist(),
            "target": y.tolist(),
            "weight": None,
            "expected": {"beta": float(ts.beta_), "temperature": float(1.0 / ts.beta_)},
        }
    )
    return cases


def differ_cases() -> list[dict[str, Any]]:
    """Hand-computed values where ce_cli deliberately differs from a reference."""

    def tm_bin(p: list[float], y: list[int], n_bins: int, norm: str = "l1") -> float:
        t = torch.tensor(p, dtype=torch.float64)
        return float(binary_calibration_error(t, torch.tensor(y), n_bins=n_bins, norm=norm))

    return [
        {
            # bins (0.9, 1.0] holds both rows: conf 0.975, acc 0.5 -> |0.5 - 0.975| = 0.475.
            # torchmetrics puts 1.0 in a hidden 11th bin: 0.5·0.05 + 0.5·1.0 = 0.525 (#3510).
            "name": "confidence_exactly_one",
            "kind": "differ",
            "mode": "positive",
            "n_bins": 10,
            "scores": [0.95, 1.0],
            "target": [1, 0],
            "expected": {"ece": 0.475},
            "reference": {"torchmetrics": tm_bin([0.95, 1.0], [1, 0], 10)},
        },
        {
            # (0.5, 1.0]: conf 1, acc 0.5 on two rows; [0, 0.5]: conf 0.5, acc 1 on two rows:
            # ECE = 0.5·0.5 + 0.5·0.5 = 0.5. torchmetrics: 1.0 in the extra bin and 0.5 in the
            # upper bin gives 0.5 too, for a different reason; netcal gives 0.0.
            "name": "ones_and_halves",
            "kind": "differ",
            "mode": "positive",
            "n_bins": 2,
            "scores": [1.0, 1.0, 0.5, 0.5],
            "target": [1, 0, 1, 1],
            "expected": {"ece": 0.5},
            "reference": {"torchmetrics": tm_bin([1.0, 1.0, 0.5, 0.5], [1, 0, 1, 1], 2)},
        },
        {
            # One bin. Positive class: conf 0.5, acc 0.5 -> 0. Top-label: both rows predicted
            # right with confidence 0.8 -> |1 - 0.8| = 0.2.
            "name": "binary_top_label_vs_positive",
            "kind": "differ",
            "mode": "both",
            "n_bins": 1,
            "scores": [0.2, 0.8],
            "target": [0, 1],
            "expected": {"positive": 0.0, "top-label": 0.2},
            "reference": {"torchmetrics": tm_bin([0.2, 0.8], [0, 1], 1)},
        },
        {
            # Edge 0.5 with 2 bins: Guo / sklearn put 0.5 in the lower bin (lo, hi]; torchmetrics
            # [lo, hi) puts it in the upper bin. Lower: conf 0.3/0.5 avg 0.4, acc 0 ; upper: 0.9,
            # acc 1 -> ECE = (2/3)·0.4 + (1/3)·0.1 = 0.3.
            "name": "confidence_on_an_edge",
            "kind": "differ",
            "mode": "positive",
            "n_bins": 2,
            "scores": [0.3, 0.5, 0.9],
            "target": [0, 0, 1],
            "expected": {"ece": 0.3},
            "reference": {
                "torchmetrics": tm_bin([0.3, 0.5, 0.9], [0, 0, 1], 2),
                "sklearn_prob_pred": calibration_curve([0, 0, 1], [0.3, 0.5, 0.9], n_bins=2)[
                    1
                ].tolist(),
            },
        },
        {
            # Quantile with ties: sklearn's percentile edges collapse (4 bins requested, fewer
            # returned). ce_cli: targets 2, 4, 6 of 8 snap to the cumulative weights 0, 4, 4
            # (ties to the lower), so two bins {0.2 ×4} and {0.7 ×4}, never an empty or
            # duplicate one: ECE = 0.5·|0.25 - 0.2| + 0.5·|0.75 - 0.7| = 0.05.
            "name": "quantile_ties",
            "kind": "differ",
            "mode": "positive",
            "strategy": "quantile",
            "n_bins": 4,
            "scores": [0.2, 0.2, 0.2, 0.2, 0.7, 0.7, 0.7, 0.7],
            "target": [0, 0, 1, 0, 1, 1, 0, 1],
            "expected": {"counts": [4, 4], "ece": 0.05},
            "reference": {
                "sklearn_n_bins": len(
                    calibration_curve(
                        [0, 0, 1, 0, 1, 1, 0, 1],
                        [0.2, 0.2, 0.2, 0.2, 0.7, 0.7, 0.7, 0.7],
                        n_bins=4,
                        strategy="quantile",
                    )[0]
                )
            },
        },
    ]


def main() -> None:
    rng = np.random.default_rng(20240917)
    cases = [
        *tm_binary_cases(rng),
        *tm_multiclass_cases(rng),
        classwise_case(rng),
        *curve_cases(rng),
        *score_cases(rng),
        *temperature_cases(rng),
        *differ_cases(),
    ]
    versions = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torchmetrics": torchmetrics.__version__,
        "sklearn": sklearn.__version__,
    }
    head = f'{{"generated_by": "{Path(__file__).name}", "versions": {json.dumps(versions)},'
    body = ",\n".join(json.dumps(case) for case in cases)
    OUT.write_text(f'{head}\n"cases": [\n{body}\n]}}\n')
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
