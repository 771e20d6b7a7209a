"""Expected `ce score` results on the sample files, computed by PyTorch and scikit-learn.

Run in an environment with torch (not needed by the test suite):

    python -m venv /tmp/venv-torch && /tmp/venv-torch/bin/pip install torch==2.13.0 \
        scikit-learn pandas pyarrow
    /tmp/venv-torch/bin/python tests/golden/make_score_golden.py

Writes tests/golden/score.json: one case per `ce score` invocation, with the CLI arguments and
the values PyTorch / scikit-learn give. torchvision's sigmoid_focal_loss is written out below
(torchvision does not import beside this torch build).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, log_loss
from sklearn.utils.class_weight import compute_class_weight

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "sample_data"
OUT = Path(__file__).with_name("score.json")
ANIMALS = ["cat", "dog", "bird", "fish", "horse"]
TAGS = ["person", "car", "bicycle", "dog", "traffic_light", "bus"]
torch.set_default_dtype(torch.float64)


def t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss with reduction='none' (torchvision/ops/focal_loss.py)."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def softmax_focal_rows(x, y, alpha=None, gamma=2.0):
    """-α_y (1 - p_y)^γ log p_y per row."""
    logp = F.log_softmax(x, dim=1).gather(1, y.view(-1, 1)).squeeze(1)
    a = torch.ones_like(logp) if alpha is None else t(alpha)[y]
    return -a * (1 - logp.exp()) ** gamma * logp


cases: list[dict] = []


def case(
    name: str,
    args: list[str],
    mean: float | None = None,
    total: float | None = None,
    **extra: float,
) -> None:
    expected = {
        k: float(v) for k, v in {"mean": mean, "sum": total, **extra}.items() if v is not None
    }
    cases.append({"name": name, "args": args, "expected": expected})


# ---------------------------------------------------------------- multiclass (string labels)
mc = pd.read_csv(DATA / "multiclass.csv")
x = t(mc[[f"logit_{c}" for c in ANIMALS]].to_numpy())
y = torch.as_tensor(mc["label"].map({c: i for i, c in enumerate(ANIMALS)}).to_numpy())
w = [1.0, 2.0, 0.5, 3.0, 1.0]
wl = ",".join(map(str, w))
f = "sample_data/multiclass.csv"
acc = accuracy_score(y.numpy(), x.argmax(1).numpy())
case(
    "ce",
    [f],
    F.cross_entropy(x, y).item(),
    F.cross_entropy(x, y, reduction="sum").item(),
    accuracy=acc,
)
case(
    "ce weight",
    [f, "--alpha", wl],
    F.cross_entropy(x, y, weight=t(w)).item(),
    other=(F.cross_entropy(x, y, weight=t(w), reduction="none").mean()).item(),
)
case(
    "ce smoothing",
    [f, "--label-smoothing", "0.1"],
    F.cross_entropy(x, y, label_smoothing=0.1).item(),
)
case(
    "ce weight smoothing",
    [f, "--alpha", wl, "--label-smoothing", "0.1"],
    F.cross_entropy(x, y, weight=t(w), label_smoothing=0.1).item(),
    F.cross_entropy(x, y, weight=t(w), label_smoothing=0.1, reduction="sum").item(),
)
case(
    "ce temperature", [f, "--temperature", "1.5"], F.cross_entropy(x / 1.5, y).item(), accuracy=acc
)
balanced = compute_class_weight("balanced", classes=np.arange(5), y=y.numpy())
case("ce balanced", [f, "--alpha", "balanced"], F.cross_entropy(x, y, weight=t(balanced)).item())
case("softmax focal", [f, "--loss", "focal"], softmax_focal_rows(x, y).mean().item())
case(
    "softmax focal alpha gamma",
    [f, "--loss", "focal", "--alpha", wl, "--gamma", "1.5"],
    softmax_focal_rows(x, y, w, 1.5).mean().item(),
)
case(
    "softmax focal gamma 0 is ce",
    [f, "--loss", "focal", "--gamma", "0"],
    F.cross_entropy(x, y).item(),
)
onehot = F.one_hot(y, 5).double()
case("bce over one-hot", [f, "--loss", "bce"], F.binary_cross_entropy_with_logits(x, onehot).item())

# ---------------------------------------------------------------- multiclass probabilities
mp = pq.read_table(DATA / "multiclass.parquet").to_pandas()
p = mp[[f"prob_{c}" for c in ANIMALS]].to_numpy()
yp = mp["label"].to_numpy()
case(
    "log_loss probs",
    ["sample_data/multiclass.parquet"],
    log_loss(yp, p, labels=np.arange(5)),
    accuracy=accuracy_score(yp, p.argmax(1)),
)
case(
    "log_loss probs sample weight",
    ["sample_data/multiclass.parquet", "--weight-col", "weight"],
    log_loss(yp, p, labels=np.arange(5), sample_weight=mp["weight"].to_numpy()),
    accuracy=accuracy_score(yp, p.argmax(1), sample_weight=mp["weight"].to_numpy()),
)

# --temperature T on probabilities: log p / T, then a log-softmax (as calibrate does)
EPS = float(np.finfo(np.float64).eps)
logp_t = t(np.log(np.clip(p.astype(np.float64), EPS, 1 - EPS)))
yp_t = torch.as_tensor(yp)
case(
    "probs temperature",
    ["sample_data/multiclass.parquet", "--temperature", "2"],
    F.cross_entropy(logp_t / 2, yp_t).item(),
    F.cross_entropy(logp_t / 2, yp_t, reduction="sum").item(),
    accuracy=accuracy_score(yp, p.argmax(1)),
)
# sample weights s: the mean is Σ s·l / Σ s (scikit-learn); the other convention Σ s·l / N
sw = t(mp["weight"].to_numpy())
ce_rows = F.cross_entropy(logp_t, yp_t, reduction="none")
case(
    "probs sample weight other convention",
    ["sample_data/multiclass.parquet", "--weight-col", "weight"],
    ((ce_rows * sw).sum() / sw.sum()).item(),
    other=(ce_rows * sw).mean().item(),
)
# class weights w and sample weights s: PyTorch's Σ s·w_y·l / Σ s·w_y; the other Σ s·w_y·l / N
cw_rows = F.cross_entropy(logp_t, yp_t, weight=t(w), reduction="none")
case(
    "probs class and sample weights",
    ["sample_data/multiclass.parquet", "--weight-col", "weight", "--alpha", wl],
    ((cw_rows * sw).sum() / (sw * t(w)[yp_t]).sum()).item(),
    other=(cw_rows * sw).mean().item(),
)

# ---------------------------------------------------------------- binary
bn = pd.read_csv(DATA / "binary.csv")
z, yb = t(bn["logit"].to_numpy()), t(bn["label"].to_numpy())
f = "sample_data/binary.csv"
case(
    "bce",
    [f],
    F.binary_cross_entropy_with_logits(z, yb).item(),
    F.binary_cross_entropy_with_logits(z, yb, reduction="sum").item(),
    accuracy=accuracy_score(yb.numpy(), (z > 0).numpy()),
)
case("binary ce equals bce", [f, "--loss", "ce"], F.binary_cross_entropy_with_logits(z, yb).item())
pw = float((1 - yb).sum() / yb.sum())
case(
    "bce pos_weight balanced",
    [f, "--pos-weight", "balanced"],
    F.binary_cross_entropy_with_logits(z, yb, pos_weight=t([pw])).item(),
)
case(
    "bce pos_weight 3",
    [f, "--pos-weight", "3"],
    F.binary_cross_entropy_with_logits(z, yb, pos_weight=t([3.0])).item(),
)
case(
    "bce smoothing",
    [f, "--label-smoothing", "0.1"],
    F.binary_cross_entropy_with_logits(z, yb * 0.9 + 0.05).item(),
)
case("sigmoid focal default", [f, "--loss", "focal"], sigmoid_focal_loss(z, yb).mean().item())
case(
    "sigmoid focal alpha gamma",
    [f, "--loss", "focal", "--alpha", "0.75", "--gamma", "1"],
    sigmoid_focal_loss(z, yb, 0.75, 1.0).mean().item(),
)
case(
    "sigmoid focal no alpha gamma 0 is bce",
    [f, "--loss", "focal", "--alpha", "none", "--gamma", "0"],
    F.binary_cross_entropy_with_logits(z, yb).item(),
)
case(
    "bce temperature",
    [f, "--temperature", "2"],
    F.binary_cross_entropy_with_logits(z / 2, yb).item(),
)
bp = pq.read_table(DATA / "binary_probs.parquet").to_pandas()
case(
    "binary log_loss probs",
    ["sample_data/binary_probs.parquet"],
    log_loss(bp["label"].to_numpy(), bp["prob"].to_numpy().astype(np.float64)),
)

# --temperature T on one probability column: logit(p) / T, then BCE with logits
bp64 = np.clip(bp["prob"].to_numpy().astype(np.float64), EPS, 1 - EPS)
zb_t, yb_t = t(np.log(bp64) - np.log1p(-bp64)), t(bp["label"].to_numpy())
case(
    "binary probs temperature",
    ["sample_data/binary_probs.parquet", "--temperature", "2"],
    F.binary_cross_entropy_with_logits(zb_t / 2, yb_t).item(),
)
case(
    "binary probs focal temperature",
    ["sample_data/binary_probs.parquet", "--loss", "focal", "--temperature", "0.5"],
    sigmoid_focal_loss(zb_t / 0.5, yb_t).mean().item(),
)

# ---------------------------------------------------------------- multi-label
ml = pd.read_csv(DATA / "multilabel.csv")
zl = t(ml[[f"logit_{c}" for c in TAGS]].to_numpy())
yl = t(ml[[f"label_{c}" for c in TAGS]].to_numpy())
f = "sample_data/multilabel.csv"
yhat = (zl > 0).double()
case(
    "multilabel bce",
    [f],
    F.binary_cross_entropy_with_logits(zl, yl).item(),
    F.binary_cross_entropy_with_logits(zl, yl, reduction="sum").item(),
    subset_accuracy=(yhat == yl).all(1).double().mean().item(),
    hamming_loss=(yhat != yl).double().mean().item(),
)
wml = [1.0, 1.0, 2.0, 2.0, 3.0, 4.0]
case(
    "multilabel bce weight",
    [f, "--alpha", ",".join(map(str, wml))],
    F.binary_cross_entropy_with_logits(zl, yl, weight=t(wml)).item(),
)
pwl = (1 - yl).sum(0) / yl.sum(0)
case(
    "multilabel bce pos_weight balanced",
    [f, "--pos-weight", "balanced"],
    F.binary_cross_entropy_with_logits(zl, yl, pos_weight=pwl).item(),
)
case("multilabel focal", [f, "--loss", "focal"], sigmoid_focal_loss(zl, yl).mean().item())
case(
    "multilabel bce sum",
    [f, "--reduction", "sum"],
    None,
    F.binary_cross_entropy_with_logits(zl, yl, reduction="sum").item(),
)
mll = pq.read_table(DATA / "multilabel_lists.parquet")
zll = t(np.stack(mll.column("logits").to_pylist()))
case(
    "multilabel lists",
    ["sample_data/multilabel_lists.parquet", "--classes", "sample_data/multilabel_classes.txt"],
    F.binary_cross_entropy_with_logits(zll, yl).item(),
)

# ---------------------------------------------------------------- soft targets
st = pq.read_table(DATA / "soft_targets.parquet").to_pandas()
xs = t(st[[f"logit_{c}" for c in ANIMALS]].to_numpy())
ps = t(st[[f"label_{c}" for c in ANIMALS]].to_numpy())
f = "sample_data/soft_targets.parquet"
ce_soft = F.cross_entropy(xs, ps).item()
entropy = -(ps * ps.clamp_min(1e-300).log()).sum(1).mean().item()
case("soft targets", [f], ce_soft, kl_divergence=ce_soft - entropy)
case(
    "soft targets weight smoothing",
    [f, "--alpha", wl, "--label-smoothing", "0.1"],
    F.cross_entropy(xs, ps, weight=t(w), label_smoothing=0.1).item(),
)

# ---------------------------------------------------------------- ignore_index
sg = pd.read_csv(DATA / "segmentation_ignore.csv")
xg = t(sg[[f"logit_{i}" for i in range(4)]].to_numpy())
yg = torch.as_tensor(sg["label"].to_numpy())
f = "sample_data/segmentation_ignore.csv"
wg = [0.5, 1.0, 2.0, 4.0]
case(
    "ignore_index",
    [f],
    F.cross_entropy(xg, yg, ignore_index=-100).item(),
    F.cross_entropy(xg, yg, ignore_index=-100, reduction="sum").item(),
)
case(
    "ignore_index weight smoothing",
    [f, "--alpha", ",".join(map(str, wg)), "--label-smoothing", "0.1"],
    F.cross_entropy(xg, yg, weight=t(wg), ignore_index=-100, label_smoothing=0.1).item(),
)

# ---------------------------------------------------------------- labels from a second file
pr = pd.read_csv(DATA / "preds.csv")
lb = pd.read_csv(DATA / "labels.csv").set_index("id").loc[pr["id"]]
xj = t(pr[[f"logit_{c}" for c in ANIMALS]].to_numpy())
yj = torch.as_tensor(lb["label"].map({c: i for i, c in enumerate(ANIMALS)}).to_numpy())
case(
    "labels joined on id",
    ["sample_data/preds.csv", "--labels", "sample_data/labels.csv", "--on", "id"],
    F.cross_entropy(xj, yj).item(),
)

OUT.write_text(json.dumps({"torch": torch.__version__, "cases": cases}, indent=1) + "\n")
print(f"wrote {len(cases)} cases to {OUT.relative_to(ROOT)}")
