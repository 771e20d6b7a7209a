"""Peer: pyarrow's own read of a CSV file — ``pyarrow.csv.read_csv`` with its defaults (parsed
on every core, types inferred), into one Arrow table; no conversion to numpy, no loss. The
floor a CSV read by `ce score` is compared with.

Usage: python pyarrow_csv_read.py FILE.csv   (prints {"rows": N, "columns": K} on stdout)
"""

import json
import sys

import pyarrow.csv as pcsv

table = pcsv.read_csv(sys.argv[1])
print(json.dumps({"rows": table.num_rows, "columns": table.num_columns}))
