"""Expected `ce score` results for the layouts of issue 12 and the seed's label smoothing.

The layouts (scikit-learn / pandas frames, 1-based labels) are scored by scikit-learn's
`log_loss`, reading the files as a user would (pandas); the seed's smoothing (seed 001 §5.1:
1−ε on the true class, ε/(K−1) on each other) is written out below in numpy, with and without
class weights (l_n = −Σ_k w_k p̃_{n,k} log q_{n,k}, the mean over Σ_n w_{y_n}). Run in an
environment with scikit-learn and pandas (not needed by the test suite):

    python -m venv /tmp/goldenenv && /tmp/goldenenv/bin/pip install scikit-learn pandas pyarrow
    /tmp/goldenenv/bin/python tests/golden/make_layouts_golden.py

Writes tests/golden/layouts.json: one case per `ce score` invocation (arguments, mean, sum).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "sample_data"
OUT = Path(__file__).with_name("layouts.json")
ANIMALS = ["cat", "dog", "bird", "fish", "horse"]

cases: list[dict] = []


def csv(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name)  # pandas >= 3 parses floats exactly (round trip)


def case(name: str, args: list[str], mean: float, total: float) -> None:
    cases.append({"name": name, "args": args, "expected": {"mean": mean, "sum": total}})


def sk_case(name: str, args: list[str], y, p, labels) -> None:
    case(
        name,
        args,
        log_loss(y, p, labels=labels),
        log_loss(y, p, labels=labels, normalize=False),
    )


def log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(z))


def seed_smoothed(z: np.ndarray, y: np.ndarray, eps: float, w=None) -> tuple[float, float]:
    """Seed 001 §5.1 written out: p̃_y = 1 − ε, p̃_k = ε/(K−1) for k ≠ y;
    l_n = −Σ_k w_k p̃_{n,k} log q_{n,k}; mean = Σ_n l_n / Σ_n w_{y_n}."""
    n, k = z.shape
    w = np.ones(k) if w is None else np.asarray(w, dtype=np.float64)
    target = np.full((n, k), eps / (k - 1))
    target[np.arange(n), y] = 1.0 - eps
    loss = -(target * w * log_softmax(z)).sum(axis=1)
    return loss.sum() / w[y].sum(), loss.sum()


# ---------------------------------------------------------------- scikit-learn / pandas frames
digits = csv("sklearn_proba.csv")  # to_csv with the index: first column "Unnamed: 0"
cols = [str(k) for k in range(10)]
sk_case(
    "predict_proba frame, classes 0..9, index",
    ["sample_data/sklearn_proba.csv"],
    digits["y_true"],
    digits[cols].to_numpy(),
    list(range(10)),
)
sk_case(
    "predict_proba frame, --pred-cols 0..9",
    ["sample_data/sklearn_proba.csv", "--pred-cols", ",".join(cols)],
    digits["y_true"],
    digits[cols].to_numpy(),
    list(range(10)),
)
cancer = pd.read_parquet(DATA / "sklearn_proba_names.parquet")  # index: __index_level_0__
names = sorted(["malignant", "benign"])  # log_loss's label order
for args in ([], ["--classes", "benign,malignant"]):
    sk_case(
        "predict_proba frame, classes malignant/benign, parquet index"
        + (" --classes" * bool(args)),
        ["sample_data/sklearn_proba_names.parquet", *args],
        cancer["y_true"],
        cancer[names].to_numpy(),
        names,
    )
iris = csv("sklearn_ypred_proba.csv")
sk_case(
    "y_true, y_pred, proba_*",
    ["sample_data/sklearn_ypred_proba.csv"],
    iris["y_true"],
    iris[[f"proba_{k}" for k in range(3)]].to_numpy(),
    [0, 1, 2],
)
linear = csv("sklearn_decision.csv")
z = linear[[f"decision_function_{k}" for k in range(4)]].to_numpy()
sk_case(
    "y_true, decision_function_*",
    ["sample_data/sklearn_decision.csv"],
    linear["y_true"],
    softmax(z),
    [0, 1, 2, 3],
)
one_based = csv("labels_1based.csv")
z = one_based[[f"logit_{k}" for k in range(4)]].to_numpy()
sk_case(
    "1-based labels, --label-offset 1",
    ["sample_data/labels_1based.csv", "--label-offset", "1"],
    one_based["label"] - 1,
    softmax(z),
    [0, 1, 2, 3],
)

# ---------------------------------------------------------------- the seed's smoothing
mc = csv("multiclass.csv")
z = mc[[f"logit_{c}" for c in ANIMALS]].to_numpy()
y = mc["label"].map({c: i for i, c in enumerate(ANIMALS)}).to_numpy()
w = [1.0, 2.0, 0.5, 3.0, 1.0]
f = "sample_data/multiclass.csv"
for eps in (0.1, 0.3):
    case(
        f"seed smoothing others {eps}",
        [f, "--label-smoothing", str(eps), "--smoothing-spread", "others"],
        *seed_smoothed(z, y, eps),
    )
case(
    "seed smoothing others 0.1, class weights",
    [f, "--label-smoothing", "0.1", "--smoothing-spread", "others", "--alpha", "1,2,0.5,3,1"],
    *seed_smoothed(z, y, 0.1, w),
)
seg = csv("segmentation_ignore.csv")
kept = seg["label"] != -100
z = seg.loc[kept, [f"logit_{k}" for k in range(4)]].to_numpy()
case(
    "seed smoothing others 0.2, ignore_index rows",
    [
        "sample_data/segmentation_ignore.csv",
        "--label-smoothing",
        "0.2",
        "--smoothing-spread",
        "others",
    ],
    *seed_smoothed(z, seg.loc[kept, "label"].to_numpy(), 0.2),
)
binary = csv("binary.csv")
z2 = np.stack([np.zeros(len(binary)), binary["logit"].to_numpy()], axis=1)  # CE over (0, z)
case(
    "seed smoothing others 0.1, binary, --loss ce",
    [
        "sample_data/binary.csv",
        "--loss",
        "ce",
        "--label-smoothing",
        "0.1",
        "--smoothing-spread",
        "others",
    ],
    *seed_smoothed(z2, binary["label"].to_numpy(), 0.1),
)

OUT.write_text(json.dumps({"cases": cases}, indent=1) + "\n")
print(f"wrote {len(cases)} cases to {OUT}")
