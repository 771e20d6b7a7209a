"""Write tests/golden/losses.json: loss values computed by PyTorch and scikit-learn.

Run with an interpreter that has torch and scikit-learn (kept out of the project's venv):

    python3 -m venv /work/venv-torch
    /work/venv-torch/bin/pip install torch==2.13.0 numpy scikit-learn
    /work/venv-torch/bin/python tests/golden/make_golden.py

Every case stores its inputs, the keyword arguments, the ce_cli.core.losses function that must
reproduce it (``fn``) and the expected value from the reference library (``ref``). Inputs are
seeded, so reruns write the same file. Float inputs marked ``dtype: float32`` / ``float16``
hold values exactly representable in that dtype; the expected value is the reference computed
in float64 on those exact values (ce_cli accumulates in float64 whatever the input dtype).

torchvision's ``sigmoid_focal_loss`` is written out below from torchvision/ops/focal_loss.py
(0.28), because torchvision's compiled ops do not import against this CPU torch build.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
import torch.nn.functional as F
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_class_weight

OUT = Path(__file__).with_name("losses.json")
N, C = 7, 4
REDUCTIONS = ("mean", "sum", "none")


def tv_sigmoid_focal_loss(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
) -> torch.Tensor:
    """torchvision.ops.sigmoid_focal_loss, verbatim apart from the logging call."""
    if not (0 <= alpha <= 1) and alpha != -1:
        raise ValueError(f"Invalid alpha value: {alpha}. alpha must be in the range [0,1] or -1.")
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "none":
        pass
    elif reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


def torch_softmax_focal(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha: list[float] | None,
    gamma: float,
    reduction: str,
    ignore_index: int = -100,
) -> torch.Tensor:
    """-α_y (1 - p_y)^γ log p_y per row; 'mean' over non-ignored rows; ignored rows give 0."""
    keep = target != ignore_index
    safe = torch.where(keep, target, torch.zeros_like(target))
    logp_y = F.log_softmax(logits, dim=1).gather(1, safe[:, None])[:, 0]
    loss = -((1 - logp_y.exp()) ** gamma) * logp_y
    if alpha is not None:
        loss = loss * torch.tensor(alpha, dtype=logits.dtype)[safe]
    loss = torch.where(keep, loss, torch.zeros_like(loss))
    if reduction == "mean":
        return loss.sum() / keep.sum()
    return loss.sum() if reduction == "sum" else loss


def t64(a: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def encode(value: Any) -> Any:
    """JSON-safe: tensors/arrays to lists, nan/inf to strings (JSON has no NaN)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().numpy()
    if isinstance(value, np.ndarray):
        return encode(value.tolist())  # a 0-d array becomes a Python scalar
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else str(f)
    if isinstance(value, np.integer):
        return int(value)
    return value


def dump(doc: dict[str, Any]) -> str:
    """Pretty JSON, but one line per case so diffs of a regenerated file stay readable."""
    head = {k: v for k, v in doc.items() if k != "cases"}
    lines = json.dumps(head, indent=1)[:-2] + ',\n "cases": [\n'
    cases = ",\n".join("  " + json.dumps(c, separators=(",", ":")) for c in doc["cases"])
    return lines + cases + "\n ]\n}\n"


CASES: list[dict[str, Any]] = []


def add(
    name: str,
    fn: str,
    ref: str,
    inputs: dict[str, Any],
    kwargs: dict[str, Any],
    expected: Any,
    dtype: str = "float64",
) -> None:
    if any(c["name"] == name for c in CASES):
        raise SystemExit(f"duplicate case name {name}")
    CASES.append(
        {
            "name": name,
            "fn": fn,
            "ref": ref,
            "dtype": dtype,
            "inputs": encode(inputs),
            "kwargs": encode(kwargs),
            "expected": encode(expected),
        }
    )


def rounded(a: np.ndarray, dtype: str) -> np.ndarray:
    """Values exactly representable in ``dtype``, held as float64."""
    return np.asarray(a).astype(dtype).astype(np.float64)


def main() -> None:
    rng = np.random.default_rng(20240611)
    logits = np.round(rng.normal(0.0, 2.0, (N, C)), 6)
    labels = np.array([0, 1, 2, 3, 1, 0, 2])
    labels_ignored = labels.copy()
    labels_ignored[[1, 4]] = -100
    weight = [0.7, 1.3, 2.0, 0.4]
    x = t64(logits)

    # --- cross-entropy, index targets: weight × smoothing × ignore × reduction --------------------
    for wname, w in (("noweight", None), ("weight", weight)):
        for ls in (0.0, 0.1):
            for iname, y in (("noignore", labels), ("ignore", labels_ignored)):
                for red in REDUCTIONS:
                    out = F.cross_entropy(
                        x,
                        torch.as_tensor(y),
                        weight=None if w is None else t64(w),
                        reduction=red,
                        label_smoothing=ls,
                    )
                    add(
                        f"ce-index-{wname}-ls{ls}-{iname}-{red}",
                        "cross_entropy",
                        "torch.nn.functional.cross_entropy",
                        {"input": logits, "target": y},
                        {"weight": w, "reduction": red, "label_smoothing": ls},
                        out,
                    )

    # a real class as ignore_index: its rows drop out, its logit stays in every softmax
    out = F.cross_entropy(x, torch.as_tensor(labels), weight=t64(weight), ignore_index=2)
    add(
        "ce-index-weight-ignore_index=2-mean",
        "cross_entropy",
        "torch.nn.functional.cross_entropy",
        {"input": logits, "target": labels},
        {"weight": weight, "ignore_index": 2},
        out,
    )

    # every target ignored: mean is nan, sum 0, none zeros
    all_ignored = np.full(N, -100)
    for wname, w in (("noweight", None), ("weight", weight)):
        for red in REDUCTIONS:
            out = F.cross_entropy(
                x,
                torch.as_tensor(all_ignored),
                weight=None if w is None else t64(w),
                reduction=red,
            )
            add(
                f"ce-index-all-ignored-{wname}-{red}",
                "cross_entropy",
                "torch.nn.functional.cross_entropy",
                {"input": logits, "target": all_ignored},
                {"weight": w, "reduction": red},
                out,
            )

    # every remaining target has class weight 0: mean is nan (0/0) too
    zero_w = [0.0, 0.0, 1.0, 1.0]
    y01 = np.array([0, 1, 1, 0, 1, 0, 0])
    for ls in (0.0, 0.1):
        out = F.cross_entropy(x, torch.as_tensor(y01), weight=t64(zero_w), label_smoothing=ls)
        add(
            f"ce-index-zero-weight-targets-ls{ls}-mean",
            "cross_entropy",
            "torch.nn.functional.cross_entropy",
            {"input": logits, "target": y01},
            {"weight": zero_w, "label_smoothing": ls},
            out,
        )

    # balanced class weights from scikit-learn, fed to torch
    y_imb = np.array([0, 0, 0, 0, 1, 1, 2])
    bal = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=y_imb)
    bal4 = [*bal.tolist(), 1.0]  # class 3 absent: only matters under smoothing
    for ls in (0.0, 0.1):
        out = F.cross_entropy(x, torch.as_tensor(y_imb), weight=t64(bal4), label_smoothing=ls)
        add(
            f"ce-index-sklearn-balanced-weight-ls{ls}-mean",
            "cross_entropy",
            "torch.nn.functional.cross_entropy + sklearn compute_class_weight('balanced')",
            {"input": logits, "target": y_imb},
            {"weight": bal4, "label_smoothing": ls},
            out,
        )

    # temperature: cross_entropy(logits / T)
    for temp in (0.5, 2.5):
        for wname, w in (("noweight", None), ("weight", weight)):
            for ls in (0.0, 0.1):
                out = F.cross_entropy(
                    x / temp,
                    torch.as_tensor(labels_ignored),
                    weight=None if w is None else t64(w),
                    label_smoothing=ls,
                )
                add(
                    f"ce-index-temperature{temp}-{wname}-ls{ls}-ignore-mean",
                    "cross_entropy",
                    "torch.nn.functional.cross_entropy(input / T)",
                    {"input": logits, "target": labels_ignored},
                    {"weight": w, "label_smoothing": ls, "temperature": temp},
                    out,
                )

    # extreme logits ±1e4
    huge = np.array(
        [
            [1e4, -1e4, 0.0, 5.0],
            [1e4, -1e4, 0.0, 5.0],
            [-1e4, -1e4, -1e4, -1e4],
            [1e4, 1e4, -1e4, 0.0],
            [3.0, -1e4, 1e4, -2.0],
        ]
    )
    y_huge = np.array([0, 1, 2, 0, 0])
    for ls in (0.0, 0.1):
        for red in ("mean", "none"):
            out = F.cross_entropy(
                t64(huge),
                torch.as_tensor(y_huge),
                weight=t64(weight),
                reduction=red,
                label_smoothing=ls,
            )
            add(
                f"ce-index-logits-1e4-weight-ls{ls}-{red}",
                "cross_entropy",
                "torch.nn.functional.cross_entropy",
                {"input": huge, "target": y_huge},
                {"weight": weight, "reduction": red, "label_smoothing": ls},
                out,
            )

    # low-precision inputs: reference in float64 on the exactly-representable values
    for dt in ("float32", "float16"):
        xr = rounded(logits * 3.0, dt)
        for ls in (0.0, 0.1):
            out = F.cross_entropy(
                t64(xr),
                torch.as_tensor(labels_ignored),
                weight=t64(weight),
                label_smoothing=ls,
                reduction="none",
            )
            add(
                f"ce-index-{dt}-weight-ls{ls}-ignore-none",
                "cross_entropy",
                "torch.nn.functional.cross_entropy (float64 on the rounded inputs)",
                {"input": xr, "target": labels_ignored},
                {"weight": weight, "label_smoothing": ls, "reduction": "none"},
                out,
                dtype=dt,
            )

    # a larger case: 53 rows × 10 classes
    big_x = np.round(rng.normal(0.0, 3.0, (53, 10)), 6)
    big_y = rng.integers(0, 10, 53)
    big_y[[3, 17, 40]] = -100
    big_w = np.round(rng.uniform(0.2, 3.0, 10), 4)
    for ls in (0.0, 0.2):
        out = F.cross_entropy(
            t64(big_x), torch.as_tensor(big_y), weight=t64(big_w), label_smoothing=ls
        )
        add(
            f"ce-index-53x10-weight-ls{ls}-ignore-mean",
            "cross_entropy",
            "torch.nn.functional.cross_entropy",
            {"input": big_x, "target": big_y},
            {"weight": big_w, "label_smoothing": ls},
            out,
        )

    # --- cross-entropy, probability (soft) targets ------------------------------------------------
    soft = np.round(torch.softmax(t64(rng.normal(0.0, 1.5, (N, C))), 1).numpy(), 6)
    soft[:, -1] = 1.0 - soft[:, :-1].sum(axis=1)
    for wname, w in (("noweight", None), ("weight", weight)):
        for ls in (0.0, 0.1):
            for red in REDUCTIONS:
                out = F.cross_entropy(
                    x,
                    t64(soft),
                    weight=None if w is None else t64(w),
                    reduction=red,
                    label_smoothing=ls,
                )
                add(
                    f"ce-prob-{wname}-ls{ls}-{red}",
                    "cross_entropy",
                    "torch.nn.functional.cross_entropy",
                    {"input": logits, "target": soft},
                    {"weight": w, "reduction": red, "label_smoothing": ls},
                    out,
                )
    onehot = np.eye(C)[labels]
    for ls in (0.0, 0.1):
        out = F.cross_entropy(x, t64(onehot), weight=t64(weight), label_smoothing=ls)
        add(
            f"ce-prob-onehot-weight-ls{ls}-mean",
            "cross_entropy",
            "torch.nn.functional.cross_entropy (mean divides by N, not by Σ w_y)",
            {"input": logits, "target": onehot},
            {"weight": weight, "label_smoothing": ls},
            out,
        )
    out = F.cross_entropy(x, t64(2.0 * soft))
    add(
        "ce-prob-rows-sum-to-2-mean",
        "cross_entropy",
        "torch.nn.functional.cross_entropy (targets are not validated)",
        {"input": logits, "target": 2.0 * soft},
        {},
        out,
    )
    out = F.cross_entropy(x / 2.5, t64(soft), weight=t64(weight), label_smoothing=0.1)
    add(
        "ce-prob-temperature2.5-weight-ls0.1-mean",
        "cross_entropy",
        "torch.nn.functional.cross_entropy(input / T)",
        {"input": logits, "target": soft},
        {"weight": weight, "label_smoothing": 0.1, "temperature": 2.5},
        out,
    )

    # --- BCE with logits: multi-label (N, C) and binary (N,) --------------------------------------
    ml_y = (rng.uniform(size=(N, C)) < 0.4).astype(np.float64)
    pos_w = [3.0, 1.0, 0.5, 2.0]
    row_w = np.round(rng.uniform(0.5, 2.0, (N, 1)), 4)
    variants: list[tuple[str, dict[str, Any]]] = [
        ("plain", {}),
        ("weightC", {"weight": weight}),
        ("weightN1", {"weight": row_w}),
        ("posweight", {"pos_weight": pos_w}),
        ("weightC-posweight", {"weight": weight, "pos_weight": pos_w}),
        ("ls0.1", {"label_smoothing": 0.1}),
        (
            "ls0.1-posweight-weightN1",
            {"label_smoothing": 0.1, "pos_weight": pos_w, "weight": row_w},
        ),
    ]
    for vname, opts in variants:
        ls = opts.get("label_smoothing", 0.0)
        y_s = ml_y * (1 - ls) + ls / 2
        for red in REDUCTIONS:
            out = F.binary_cross_entropy_with_logits(
                x,
                t64(y_s),
                weight=t64(opts["weight"]) if "weight" in opts else None,
                pos_weight=t64(opts["pos_weight"]) if "pos_weight" in opts else None,
                reduction=red,
            )
            add(
                f"bce-logits-multilabel-{vname}-{red}",
                "binary_cross_entropy_with_logits",
                "torch.nn.functional.binary_cross_entropy_with_logits (target y(1-ε)+ε/2)",
                {"input": logits, "target": ml_y},
                {**opts, "reduction": red},
                out,
            )
    soft_y = np.round(rng.uniform(size=(N, C)), 4)
    out = F.binary_cross_entropy_with_logits(x, t64(soft_y), pos_weight=t64(pos_w))
    add(
        "bce-logits-multilabel-soft-targets-posweight-mean",
        "binary_cross_entropy_with_logits",
        "torch.nn.functional.binary_cross_entropy_with_logits",
        {"input": logits, "target": soft_y},
        {"pos_weight": pos_w},
        out,
    )

    bin_z = logits[:, 0]
    bin_y = ml_y[:, 1]
    for vname, opts in (
        ("plain", {}),
        ("posweight", {"pos_weight": [2.5]}),
        ("ls0.2", {"label_smoothing": 0.2}),
        ("weightN", {"weight": row_w[:, 0]}),
    ):
        ls = opts.get("label_smoothing", 0.0)
        for red in ("mean", "none"):
            out = F.binary_cross_entropy_with_logits(
                t64(bin_z),
                t64(bin_y * (1 - ls) + ls / 2),
                weight=t64(opts["weight"]) if "weight" in opts else None,
                pos_weight=t64(opts["pos_weight"]) if "pos_weight" in opts else None,
                reduction=red,
            )
            add(
                f"bce-logits-binary-{vname}-{red}",
                "binary_cross_entropy_with_logits",
                "torch.nn.functional.binary_cross_entropy_with_logits (target y(1-ε)+ε/2)",
                {"input": bin_z, "target": bin_y},
                {**opts, "reduction": red},
                out,
            )

    huge_z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 40.0]])
    huge_y = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    for red in ("mean", "none"):
        out = F.binary_cross_entropy_with_logits(
            t64(huge_z), t64(huge_y), pos_weight=t64([2.0, 1.0, 3.0]), reduction=red
        )
        add(
            f"bce-logits-1e4-posweight-{red}",
            "binary_cross_entropy_with_logits",
            "torch.nn.functional.binary_cross_entropy_with_logits",
            {"input": huge_z, "target": huge_y},
            {"pos_weight": [2.0, 1.0, 3.0], "reduction": red},
            out,
        )
    z32 = rounded(logits * 8.0, "float32")  # |z| up to ~40: σ saturates in float32
    out = F.binary_cross_entropy_with_logits(t64(z32), t64(ml_y), reduction="none")
    add(
        "bce-logits-multilabel-float32-none",
        "binary_cross_entropy_with_logits",
        "torch.nn.functional.binary_cross_entropy_with_logits (float64 on the rounded inputs)",
        {"input": z32, "target": ml_y},
        {"reduction": "none"},
        out,
        dtype="float32",
    )

    # --- BCE from probabilities -------------------------------------------------------------------
    probs_ml = np.round(rng.uniform(0.02, 0.98, (N, C)), 6)
    for red in REDUCTIONS:
        out = F.binary_cross_entropy(t64(probs_ml), t64(ml_y), weight=t64(weight), reduction=red)
        add(
            f"bce-probs-multilabel-weightC-{red}",
            "binary_cross_entropy",
            "torch.nn.functional.binary_cross_entropy",
            {"input": probs_ml, "target": ml_y},
            {"weight": weight, "reduction": red},
            out,
        )
    probs_edge = probs_ml.copy()
    probs_edge[0, :] = [0.0, 1.0, 0.0, 1.0]
    probs_edge[3, 1:3] = [1.0, 0.0]
    expected = float(
        np.mean([log_loss(ml_y[:, c], probs_edge[:, c], labels=[0, 1]) for c in range(C)])
    )
    add(
        "bce-probs-multilabel-exact-0-1-mean",
        "binary_cross_entropy",
        "mean over columns of sklearn.metrics.log_loss (eps clip)",
        {"input": probs_edge, "target": ml_y},
        {},
        expected,
    )

    # --- sigmoid focal (torchvision) --------------------------------------------------------------
    for alpha in (0.25, -1.0, 0.75):
        for gamma in (0.0, 2.0):
            for red in REDUCTIONS:
                out = tv_sigmoid_focal_loss(x, t64(ml_y), alpha=alpha, gamma=gamma, reduction=red)
                add(
                    f"sigmoid-focal-multilabel-alpha{alpha}-gamma{gamma}-{red}",
                    "sigmoid_focal_loss",
                    "torchvision.ops.sigmoid_focal_loss",
                    {"inputs": logits, "targets": ml_y},
                    {"alpha": alpha, "gamma": gamma, "reduction": red},
                    out,
                )
    for gamma in (0.5, 1.0, 3.0):
        out = tv_sigmoid_focal_loss(x, t64(ml_y), alpha=0.25, gamma=gamma, reduction="mean")
        add(
            f"sigmoid-focal-multilabel-alpha0.25-gamma{gamma}-mean",
            "sigmoid_focal_loss",
            "torchvision.ops.sigmoid_focal_loss",
            {"inputs": logits, "targets": ml_y},
            {"alpha": 0.25, "gamma": gamma, "reduction": "mean"},
            out,
        )
    for red in ("mean", "none"):
        out = tv_sigmoid_focal_loss(t64(bin_z), t64(bin_y), reduction=red)
        add(
            f"sigmoid-focal-binary-default-{red}",
            "sigmoid_focal_loss",
            "torchvision.ops.sigmoid_focal_loss",
            {"inputs": bin_z, "targets": bin_y},
            {"reduction": red},
            out,
        )
    out = tv_sigmoid_focal_loss(x, t64(soft_y), alpha=0.25, gamma=2.0, reduction="mean")
    add(
        "sigmoid-focal-multilabel-soft-targets-mean",
        "sigmoid_focal_loss",
        "torchvision.ops.sigmoid_focal_loss",
        {"inputs": logits, "targets": soft_y},
        {"reduction": "mean"},
        out,
    )
    out = tv_sigmoid_focal_loss(t64(huge_z), t64(huge_y), reduction="none")
    add(
        "sigmoid-focal-1e4-none",
        "sigmoid_focal_loss",
        "torchvision.ops.sigmoid_focal_loss",
        {"inputs": huge_z, "targets": huge_y},
        {"reduction": "none"},
        out,
    )

    # --- softmax focal (written out in torch) -----------------------------------------------------
    alpha_c = [0.2, 0.3, 0.5, 0.4]
    for aname, a in (("noalpha", None), ("alpha", alpha_c)):
        for gamma in (0.0, 0.5, 2.0):
            for iname, y in (("noignore", labels), ("ignore", labels_ignored)):
                out = torch_softmax_focal(x, torch.as_tensor(y), a, gamma, "mean")
                add(
                    f"softmax-focal-{aname}-gamma{gamma}-{iname}-mean",
                    "softmax_focal_loss",
                    "torch: -α_y (1-p_y)^γ log_softmax_y, mean over rows",
                    {"input": logits, "target": y},
                    {"alpha": a, "gamma": gamma},
                    out,
                )
    for red in ("sum", "none"):
        out = torch_softmax_focal(x, torch.as_tensor(labels_ignored), alpha_c, 2.0, red)
        add(
            f"softmax-focal-alpha-gamma2.0-ignore-{red}",
            "softmax_focal_loss",
            "torch: -α_y (1-p_y)^γ log_softmax_y",
            {"input": logits, "target": labels_ignored},
            {"alpha": alpha_c, "gamma": 2.0, "reduction": red},
            out,
        )
    out = torch_softmax_focal(t64(huge), torch.as_tensor(y_huge), None, 2.0, "none")
    add(
        "softmax-focal-logits-1e4-none",
        "softmax_focal_loss",
        "torch: -α_y (1-p_y)^γ log_softmax_y",
        {"input": huge, "target": y_huge},
        {"reduction": "none"},
        out,
    )
    out = torch_softmax_focal(x / 2.5, torch.as_tensor(labels), alpha_c, 2.0, "mean")
    add(
        "softmax-focal-temperature2.5-alpha-gamma2.0-mean",
        "softmax_focal_loss",
        "torch: -α_y (1-p_y)^γ log_softmax_y of input / T",
        {"input": logits, "target": labels},
        {"alpha": alpha_c, "gamma": 2.0, "temperature": 2.5},
        out,
    )

    # --- scikit-learn log_loss from probabilities -------------------------------------------------
    probs_mc = np.round(torch.softmax(x, 1).numpy(), 8)
    probs_mc[:, -1] = 1.0 - probs_mc[:, :-1].sum(axis=1)
    sw = np.round(rng.uniform(0.0, 3.0, N), 4)
    add(
        "logloss-multiclass",
        "log_loss",
        "sklearn.metrics.log_loss",
        {"y_true": labels, "y_proba": probs_mc},
        {},
        log_loss(labels, probs_mc, labels=list(range(C))),
    )
    add(
        "logloss-multiclass-sample-weight",
        "log_loss",
        "sklearn.metrics.log_loss",
        {"y_true": labels, "y_proba": probs_mc},
        {"sample_weight": sw},
        log_loss(labels, probs_mc, sample_weight=sw, labels=list(range(C))),
    )
    add(
        "logloss-multiclass-sample-weight-normalize-false",
        "log_loss",
        "sklearn.metrics.log_loss",
        {"y_true": labels, "y_proba": probs_mc},
        {"sample_weight": sw, "normalize": False},
        log_loss(labels, probs_mc, sample_weight=sw, normalize=False, labels=list(range(C))),
    )
    hard = probs_mc.copy()
    hard[0] = [1.0, 0.0, 0.0, 0.0]  # right, exactly: clipped to 1 - eps
    hard[1] = [1.0, 0.0, 0.0, 0.0]  # wrong, exactly: -log(eps)
    hard[2] = [0.0, 0.0, 1.0, 0.0]
    for dt in ("float64", "float32"):
        h = hard.astype(dt)
        add(
            f"logloss-multiclass-exact-0-1-{dt}",
            "log_loss",
            "sklearn.metrics.log_loss (clip to finfo(dtype).eps)",
            {"y_true": labels, "y_proba": h.astype(np.float64)},
            {},
            log_loss(labels, h, labels=list(range(C))),
            dtype=dt,
        )
    p_bin = np.round(1.0 / (1.0 + np.exp(-bin_z)), 8)
    y_bin = bin_y.astype(int)
    add(
        "logloss-binary-1d",
        "log_loss",
        "sklearn.metrics.log_loss",
        {"y_true": y_bin, "y_proba": p_bin},
        {},
        log_loss(y_bin, p_bin, labels=[0, 1]),
    )
    p_bin_hard = p_bin.copy()
    p_bin_hard[:3] = [bin_y[0], 1.0 - bin_y[1], bin_y[2]]  # exactly right, wrong, right
    for dt in ("float64", "float32"):
        h = p_bin_hard.astype(dt)
        add(
            f"logloss-binary-1d-exact-0-1-{dt}",
            "log_loss",
            "sklearn.metrics.log_loss (clip to finfo(dtype).eps)",
            {"y_true": y_bin, "y_proba": h.astype(np.float64)},
            {},
            log_loss(y_bin, h, labels=[0, 1]),
            dtype=dt,
        )
    # the same probabilities as BCE terms: log_loss of a binary problem = mean BCE
    add(
        "bce-probs-binary-exact-0-1-mean",
        "binary_cross_entropy",
        "sklearn.metrics.log_loss (eps clip)",
        {"input": p_bin_hard, "target": bin_y},
        {},
        log_loss(y_bin, p_bin_hard, labels=[0, 1]),
    )

    doc = {
        "generator": "tests/golden/make_golden.py",
        "versions": {
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "note": "expected 'nan' / 'inf' are strings; inputs of dtype float32/float16 are exactly "
        "representable there and expected values are float64 references on them",
        "cases": CASES,
    }
    OUT.write_text(dump(doc))
    families: dict[str, int] = {}
    for case in CASES:
        families[case["fn"]] = families.get(case["fn"], 0) + 1
    print(f"wrote {len(CASES)} cases to {OUT}")
    for fn, count in sorted(families.items()):
        print(f"  {fn}: {count}")


if __name__ == "__main__":
    main()
