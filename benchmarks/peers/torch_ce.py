"""Peer: the script a PyTorch user writes — pyarrow read, numpy, torch cross_entropy.

Usage: python torch_ce.py FILE.parquet   (prints {"loss": ...} on stdout)
"""

import json
import sys

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

table = pq.read_table(sys.argv[1])
names = [n for n in table.column_names if n.startswith("logit_")]
logits = np.column_stack([table.column(n).to_numpy() for n in names])
labels = table.column("label").to_numpy()
loss = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels))
print(json.dumps({"loss": loss.item()}))
