"""Peer: pyarrow read + numpy BCE with logits in float64 (log(1 + e^z) − y·z, stable form).

Usage: python numpy_bce.py DIR_OR_FILE   (prints {"loss": ...} on stdout)
"""

import json
import sys

import numpy as np
import pyarrow.parquet as pq

table = pq.read_table(sys.argv[1], columns=["logit", "label"])
z = table.column("logit").to_numpy().astype(np.float64)
y = table.column("label").to_numpy()
loss = np.mean(np.logaddexp(0.0, z) - y * z)
print(json.dumps({"loss": float(loss)}))
