"""Peer: softmax focal loss in a PyTorch script (torch has no built-in softmax focal):
-(1 - p_y)^γ log p_y, γ = 2, mean over rows, float32 — as `ce score --loss focal`.

Usage: python torch_focal.py FILE.parquet   (prints {"loss": ...} on stdout)
"""

import json
import sys

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

table = pq.read_table(sys.argv[1])
names = [n for n in table.column_names if n.startswith("logit_")]
logits = torch.from_numpy(np.column_stack([table.column(n).to_numpy() for n in names]))
labels = torch.from_numpy(table.column("label").to_numpy())
logp = F.log_softmax(logits, dim=1).gather(1, labels[:, None])[:, 0]
loss = (-((1 - logp.exp()) ** 2) * logp).mean()
print(json.dumps({"loss": loss.item()}))
