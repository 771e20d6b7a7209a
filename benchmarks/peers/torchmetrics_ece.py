"""Peer: a torchmetrics script for what `ce calibrate` reports first — top-label ECE (15
equal-width bins) and the log loss, from logits.

Usage: python torchmetrics_ece.py FILE.parquet   (prints {"ece": ..., "loss": ...})
"""

import json
import sys

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import multiclass_calibration_error

table = pq.read_table(sys.argv[1])
names = [n for n in table.column_names if n.startswith("logit_")]
logits = torch.from_numpy(np.column_stack([table.column(n).to_numpy() for n in names]))
labels = torch.from_numpy(table.column("label").to_numpy())
probs = F.softmax(logits, dim=1)
ece = multiclass_calibration_error(probs, labels, num_classes=len(names), n_bins=15, norm="l1")
loss = F.cross_entropy(logits, labels)
print(json.dumps({"ece": ece.item(), "loss": loss.item()}))
