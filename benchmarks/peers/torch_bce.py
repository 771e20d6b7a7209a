"""Peer: the script a PyTorch user writes for a CTR log — pyarrow read, torch BCEWithLogits.

Usage: python torch_bce.py DIR_OR_FILE   (prints {"loss": ...} on stdout)
"""

import json
import sys

import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

table = pq.read_table(sys.argv[1], columns=["logit", "label"])
logit = torch.from_numpy(table.column("logit").to_numpy())
label = torch.from_numpy(table.column("label").to_numpy()).to(logit.dtype)
loss = F.binary_cross_entropy_with_logits(logit, label)
print(json.dumps({"loss": loss.item()}))
