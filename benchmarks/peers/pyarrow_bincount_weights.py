"""Peer: the script a user writes for class weights — pyarrow read of the label column,
numpy bincount, N / (C · count) (scikit-learn's 'balanced').

Usage: python pyarrow_bincount_weights.py DIR_OR_FILE   (prints {"weights": [...]} on stdout)
"""

import json
import sys

import numpy as np
import pyarrow.parquet as pq

labels = pq.read_table(sys.argv[1], columns=["label"]).column("label").to_numpy()
counts = np.bincount(labels)
weights = labels.size / (counts.size * counts)
print(json.dumps({"weights": weights.tolist(), "counts": counts.tolist()}))
