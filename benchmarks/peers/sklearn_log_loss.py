"""Peer: pandas read_parquet + scikit-learn log_loss on softmax probabilities.

Usage: python sklearn_log_loss.py FILE.parquet   (prints {"loss": ...} on stdout)
"""

import json
import sys

import pandas as pd
from scipy.special import softmax
from sklearn.metrics import log_loss

df = pd.read_parquet(sys.argv[1])
names = [n for n in df.columns if n.startswith("logit_")]
# float64 probabilities, as a careful user would compute them (float32 ones are clipped at
# float32 eps by log_loss and drift from the logits' CE by ~1e-7 per row).
probs = softmax(df[names].to_numpy(dtype="float64"), axis=1)
loss = log_loss(df["label"], probs, labels=range(len(names)))
print(json.dumps({"loss": float(loss)}))
