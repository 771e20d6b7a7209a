"""Peer: temperature scaling as in Guo et al. 2017 — one T > 0 minimising the NLL of
softmax(z / T), fitted with torch.optim.LBFGS on T = exp(log_t) (float32, as a user would) —
for `ce calibrate --fit-temperature`.

Usage: python torch_temperature.py FILE.parquet
       (prints {"temperature": T, "nll_before": ..., "nll_after": ...} on stdout)
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
del table

log_t = torch.zeros(1, requires_grad=True)
optimizer = torch.optim.LBFGS(
    [log_t],
    lr=1.0,
    max_iter=100,
    tolerance_grad=1e-9,
    tolerance_change=1e-12,
    line_search_fn="strong_wolfe",
)


def closure() -> torch.Tensor:
    optimizer.zero_grad()
    loss = F.cross_entropy(logits / log_t.exp(), labels)
    loss.backward()
    return loss


with torch.no_grad():
    nll_before = F.cross_entropy(logits, labels).item()
optimizer.step(closure)
with torch.no_grad():
    temperature = log_t.exp().item()
    nll_after = F.cross_entropy(logits / temperature, labels).item()
print(json.dumps({"temperature": temperature, "nll_before": nll_before, "nll_after": nll_after}))
