"""Peer: torchvision's sigmoid_focal_loss (α = 0.25, γ = 2, reduction "mean": over every
label of every row) written out in torch (torchvision is not installed with torch here),
on a multi-label file — for `ce score FILE --loss focal`.

Usage: python torch_sigmoid_focal.py FILE.parquet   (prints {"loss": ...} on stdout)
"""

import json
import sys

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F


def sigmoid_focal_loss(
    inputs: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """torchvision.ops.sigmoid_focal_loss(inputs, targets, alpha, gamma, reduction="mean")."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss.mean()


table = pq.read_table(sys.argv[1])
logit_names = [n for n in table.column_names if n.startswith("logit_")]
label_names = [n for n in table.column_names if n.startswith("label_")]
logits = torch.from_numpy(np.column_stack([table.column(n).to_numpy() for n in logit_names]))
labels = np.column_stack([table.column(n).to_numpy() for n in label_names])
targets = torch.from_numpy(labels.astype(np.float32))
print(json.dumps({"loss": sigmoid_focal_loss(logits, targets).item()}))
