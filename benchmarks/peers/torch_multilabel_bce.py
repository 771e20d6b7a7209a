"""Peer: multi-label BCE in a PyTorch script — pyarrow read, numpy, torch
binary_cross_entropy_with_logits (float32, mean over every element), as `ce score` on a file
with `label_*` and `logit_*` columns.

Usage: python torch_multilabel_bce.py FILE.parquet   (prints {"loss": ...} on stdout)
"""

import json
import sys

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

table = pq.read_table(sys.argv[1])
logit_names = [n for n in table.column_names if n.startswith("logit_")]
label_names = [n for n in table.column_names if n.startswith("label_")]
logits = np.column_stack([table.column(n).to_numpy() for n in logit_names])
labels = np.column_stack([table.column(n).to_numpy() for n in label_names]).astype(np.float32)
loss = F.binary_cross_entropy_with_logits(torch.from_numpy(logits), torch.from_numpy(labels))
print(json.dumps({"loss": loss.item()}))
