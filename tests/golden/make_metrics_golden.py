"""Expected classification metrics of `ce score`, computed by scikit-learn (issue 14, part 2).

Run in an environment with scikit-learn and pandas (not needed by the test suite):

    /work/venv-torch/bin/python tests/golden/make_metrics_golden.py

Writes small data files tests/golden/metrics_{binary,binary2,multiclass,multilabel}.csv and
tests/golden/metrics_golden.json: one case per `ce score` invocation (file, arguments) with
the values scikit-learn gives on the same rows, read back from the CSV files:
  - binary: one probability column with exact p = 0.5 and p = 0.3 ties (decision p ≥ t);
  - binary2: two probability columns, --threshold 0.3 (class 1 when p_1 ≥ t) or the argmax;
  - multiclass: five classes of logits; class "e" never a label (but predicted), class "d"
    never predicted; rows with tied logits (top-k ties: the higher class index first);
  - multilabel: four labels of probabilities, "w" never positive, "z" never predicted
    positive at t = 0.3 … and exact p = 0.3 ties;
each with and without sample weights (a few of them 0).
Per-class values use zero_division=np.nan (undefined → null, as ce reports them per class);
averages use scikit-learn's default (undefined → 0).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn import metrics as skm

HERE = Path(__file__).resolve().parent
OUT = HERE / "metrics_golden.json"
MULTI = ["a", "b", "c", "d", "e"]
TAGS = ["w", "x", "y", "z"]
warnings.simplefilter("ignore")  # zero_division and "k >= n_classes" warnings


def write(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Write ``df`` as CSV (floats round-trip) and read it back as ce will read it."""
    path = HERE / f"metrics_{name}.csv"
    df.to_csv(path, index=False, float_format="%.17g")
    return pd.read_csv(path, float_precision="round_trip")


def weights(rng: np.random.Generator, n: int) -> np.ndarray:
    w = rng.uniform(0.1, 3.0, n).round(3)
    w[rng.choice(n, 5, replace=False)] = 0.0
    return w


def binary_data(rng: np.random.Generator) -> pd.DataFrame:
    n = 200
    y = rng.integers(0, 2, n)
    p = np.clip(rng.beta(2, 2, n) * 0.6 + 0.4 * y, 0.001, 0.999).round(4)
    p[:12] = 0.5
    p[12:20] = 0.3
    return write("binary", pd.DataFrame({"label": y, "prob": p, "weight": weights(rng, n)}))


def binary2_data(rng: np.random.Generator) -> pd.DataFrame:
    n = 150
    y = rng.integers(0, 2, n)
    p = np.clip(rng.beta(2, 3, n) + 0.3 * y, 0.01, 0.99).round(3)
    p[:10] = 0.3
    frame = {"label": np.where(y == 1, "pos", "neg"), "prob_neg": 1 - p, "prob_pos": p}
    return write("binary2", pd.DataFrame({**frame, "weight": weights(rng, n)}))


def multiclass_data(rng: np.random.Generator) -> pd.DataFrame:
    n, c = 300, len(MULTI)
    y = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])  # "e" (4) is never a label
    z = rng.normal(0, 1, (n, c)).round(3)
    z[np.arange(n), y] += 1.0
    z[:, 3] = z.min(axis=1) - 1.0  # "d" is never the argmax …
    for i in range(30):  # … tied logits: another class (not d) copies the true one's
        j = rng.choice([k for k in (0, 1, 2, 4) if k != y[i]])
        z[i, j] = z[i, y[i]]
    z[30:40] = 0.25  # every class tied: the argmax is "a", top-k ranks "e" first
    frame = {"label": np.array(MULTI)[y]}
    frame.update({f"logit_{name}": z[:, k] for k, name in enumerate(MULTI)})
    return write("multiclass", pd.DataFrame({**frame, "weight": weights(rng, n)}))


def multilabel_data(rng: np.random.Generator) -> pd.DataFrame:
    n, k = 160, len(TAGS)
    y = (rng.uniform(size=(n, k)) < [0.0, 0.4, 0.3, 0.5]).astype(int)
    p = np.clip(rng.beta(2, 3, (n, k)) + 0.35 * y, 0.001, 0.999).round(3)
    p[:, 3] = np.minimum(p[:, 3], 0.29)  # "z": never positive at t = 0.3
    p[:15, 1] = 0.3
    p[15:25, 2] = 0.5
    frame = {f"label_{t}": y[:, j] for j, t in enumerate(TAGS)}
    frame.update({f"prob_{t}": p[:, j] for j, t in enumerate(TAGS)})
    return write("multilabel", pd.DataFrame({**frame, "weight": weights(rng, n)}))


def nan_to_none(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in np.asarray(values, dtype=float)]


def label_metrics(y, yp, labels, w) -> dict:
    """Per-class and averaged precision / recall / F1 (labels = every class)."""
    p, r, f, _ = skm.precision_recall_fscore_support(
        y, yp, labels=labels, sample_weight=w, zero_division=np.nan
    )
    out = {"precision": nan_to_none(p), "recall": nan_to_none(r), "f1": nan_to_none(f)}
    kw = {"labels": labels, "sample_weight": w}
    out["macro_precision"] = float(skm.precision_score(y, yp, average="macro", **kw))
    out["macro_recall"] = float(skm.recall_score(y, yp, average="macro", **kw))
    for average in ("macro", "weighted", "micro"):
        out[f"{average}_f1"] = float(skm.f1_score(y, yp, average=average, **kw))
    return out


def single_label(y, yp, scores, labels, w, k) -> dict:
    out = label_metrics(y, yp, labels, w)
    out["accuracy"] = float(skm.accuracy_score(y, yp, sample_weight=w))
    out["balanced_accuracy"] = float(skm.balanced_accuracy_score(y, yp, sample_weight=w))
    kappa = skm.cohen_kappa_score(y, yp, labels=labels, sample_weight=w)
    out["cohen_kappa"] = None if np.isnan(kappa) else float(kappa)
    out["mcc"] = float(skm.matthews_corrcoef(y, yp, sample_weight=w))
    cm = skm.confusion_matrix(y, yp, labels=labels, sample_weight=w)
    out["confusion"] = cm.astype(float).tolist()
    if k is not None:
        out["top_k_accuracy"] = {
            "k": k,
            "value": float(
                skm.top_k_accuracy_score(y, scores, k=k, labels=labels, sample_weight=w)
            ),
        }
    return out


def binary_cases(df: pd.DataFrame) -> dict:
    y, p, w = df["label"].to_numpy(), df["prob"].to_numpy(), df["weight"].to_numpy()
    cases = {}
    for name, t, weighted in (
        ("binary", 0.5, False),
        ("binary_weighted", 0.5, True),
        ("binary_t03", 0.3, False),
    ):
        args = (["--threshold", str(t)] if t != 0.5 else []) + (
            ["--weight-col", "weight"] if weighted else []
        )
        yp = (p >= t).astype(int)
        expected = single_label(y, yp, None, [0, 1], w if weighted else None, None)
        cases[name] = {"file": "metrics_binary.csv", "args": args, "threshold": t, **expected}
    return cases


def binary2_cases(df: pd.DataFrame) -> dict:
    y = (df["label"] == "pos").to_numpy().astype(int)
    scores = df[["prob_neg", "prob_pos"]].to_numpy()
    w = df["weight"].to_numpy()
    cases = {}
    for name, t, weighted in (("binary2_t03", 0.3, True), ("binary2_argmax", None, False)):
        yp = (scores[:, 1] >= t).astype(int) if t else np.argmax(scores, axis=1)
        args = (["--threshold", str(t)] if t else []) + (
            ["--weight-col", "weight"] if weighted else []
        )
        expected = single_label(y, yp, None, [0, 1], w if weighted else None, None)
        cases[name] = {"file": "metrics_binary2.csv", "args": args, "threshold": t, **expected}
    return cases


def multiclass_cases(df: pd.DataFrame) -> dict:
    y = df["label"].map({name: i for i, name in enumerate(MULTI)}).to_numpy()
    z = df[[f"logit_{m}" for m in MULTI]].to_numpy()
    w = df["weight"].to_numpy()
    yp = np.argmax(z, axis=1)  # first index on ties, as ce
    labels = list(range(len(MULTI)))
    cases = {}
    for name, k, weighted in (
        ("multiclass_top2", 2, False),
        ("multiclass_top1", 1, False),
        ("multiclass_weighted_top3", 3, True),
        ("multiclass_top5", 5, False),
    ):
        args = ["--top-k-accuracy", str(k)] + (["--weight-col", "weight"] if weighted else [])
        expected = single_label(y, yp, z, labels, w if weighted else None, k)
        cases[name] = {
            "file": "metrics_multiclass.csv",
            "args": args,
            "threshold": None,
            **expected,
        }
    return cases


def multilabel_cases(df: pd.DataFrame) -> dict:
    y = df[[f"label_{t}" for t in TAGS]].to_numpy()
    p = df[[f"prob_{t}" for t in TAGS]].to_numpy()
    w = df["weight"].to_numpy()
    labels = list(range(len(TAGS)))
    cases = {}
    for name, t, weighted in (
        ("multilabel_t03", 0.3, False),
        ("multilabel_weighted_t03", 0.3, True),
        ("multilabel", 0.5, False),
    ):
        yp = (p >= t).astype(int)
        sw = w if weighted else None
        args = (["--threshold", str(t)] if t != 0.5 else []) + (
            ["--weight-col", "weight"] if weighted else []
        )
        expected = label_metrics(y, yp, labels, sw)
        expected["subset_accuracy"] = float(skm.accuracy_score(y, yp, sample_weight=sw))
        expected["hamming_loss"] = float(skm.hamming_loss(y, yp, sample_weight=sw))
        cases[name] = {"file": "metrics_multilabel.csv", "args": args, "threshold": t, **expected}
    return cases


def main() -> None:
    rng = np.random.default_rng(14)
    cases = {
        **binary_cases(binary_data(rng)),
        **binary2_cases(binary2_data(rng)),
        **multiclass_cases(multiclass_data(rng)),
        **multilabel_cases(multilabel_data(rng)),
    }
    meta = {"generator": "tests/golden/make_metrics_golden.py", "sklearn": sklearn.__version__}
    OUT.write_text(json.dumps({"meta": meta, "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
