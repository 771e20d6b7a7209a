"""`ce score` on a ~2 GB .npy keeps its memory flat: peak RSS vs a 0.5 GB file, and vs a peer.

Writes (once; git-ignored) benchmarks/data/npy_5000k.npy (float32 [5M, 100], 2.0 GB),
npy_1250k.npy ([1.25M, 100], 0.5 GB) and their int64 labels, in blocks (this script never
holds a whole array). Then runs, each in a fresh subprocess, timed and with its own peak RSS
(ru_maxrss of that child, from os.wait4):

- ``ce score LOGITS --labels LABELS --format json`` on both sizes;
- the peer a user would write: ``np.load`` both arrays, then the same CE with log-sum-exp over
  row blocks in float64 (``--peer-python`` with torch: ``F.cross_entropy`` on the loaded
  arrays instead).

ce's peak should be about the same for 0.5 and 2 GB (bounded by its batches in flight), the
peer's grows with the file. Exit status 1 when ce's peak on 2 GB exceeds 1.5× its peak on
0.5 GB, or the losses disagree (rel 1e-6).

Usage: python benchmarks/bench_npy.py [--peer-python /path/to/python] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from time import perf_counter

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CLASSES = 100
SIZES = {"0.5 GB": 1_250_000, "2 GB": 5_000_000}
BLOCK = 250_000

PEER = r"""
import sys, numpy as np
x = np.load(sys.argv[1]); y = np.load(sys.argv[2])
if sys.argv[3] == "torch":
    import torch, torch.nn.functional as F
    print(F.cross_entropy(torch.from_numpy(x).double(), torch.from_numpy(y)).item())
else:
    total = 0.0
    for i in range(0, len(x), 4096):
        z = x[i:i + 4096].astype(np.float64)
        m = z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]
        total += float((lse - z[np.arange(len(z)), y[i:i + 4096]]).sum())
    print(total / len(x))
"""


def write_arrays(rows: int) -> tuple[Path, Path]:
    """The logits and labels files for ``rows`` rows (kept when they exist), written block by
    block with plain writes: this process stays small, and a child forked from it starts small
    (a child's ru_maxrss counts its parent's pages at fork time)."""
    DATA.mkdir(parents=True, exist_ok=True)
    logits = DATA / f"npy_{rows // 1000}k.npy"
    labels = DATA / f"npy_{rows // 1000}k_labels.npy"
    if logits.exists() and labels.exists():
        return logits, labels
    rng = np.random.default_rng(rows)
    fmt = np.lib.format
    with open(logits, "wb") as fx, open(labels, "wb") as fy:
        for f, dtype, shape in ((fx, "<f4", (rows, CLASSES)), (fy, "<i8", (rows,))):
            header = {"descr": dtype, "fortran_order": False, "shape": shape}
            fmt.write_array_header_1_0(f, header)
        for start in range(0, rows, BLOCK):
            n = min(rows, start + BLOCK) - start
            y = rng.integers(0, CLASSES, n)
            block = rng.standard_normal((n, CLASSES), dtype=np.float32)
            block[np.arange(n), y] += 2.0
            fx.write(block.tobytes())
            fy.write(y.astype("<i8").tobytes())
    return logits, labels


def run(cmd: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MiB, stdout) of one fresh subprocess: its own ru_maxrss (wait4)."""
    start = perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = perf_counter() - start
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return seconds, usage.ru_maxrss / 1024, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", help="a python with torch: the peer uses F.cross_entropy")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    ce = shutil.which("ce") or sys.exit("ce is not on PATH (activate the venv)")
    peer_python = args.peer_python or sys.executable
    peer_kind = "torch" if args.peer_python else "numpy"
    rows_out = []
    peaks: dict[str, float] = {}
    for size, rows in SIZES.items():
        logits, labels = write_arrays(rows)
        cmd = [ce, "score", str(logits), "--labels", str(labels), "--format", "json"]
        cmd += ["--threads", str(args.threads), "--no-progress"]
        seconds, peak, out = run(cmd)
        loss = json.loads(out)["loss"]["mean"]
        peaks[size] = peak
        rows_out.append((size, "ce score", seconds, peak, loss))
        peer = [peer_python, "-c", PEER, str(logits), str(labels), peer_kind]
        seconds, peak_peer, out = run(peer)
        peer_loss = float(out.strip().splitlines()[-1])
        rows_out.append((size, f"peer ({peer_kind}: np.load + CE)", seconds, peak_peer, peer_loss))
        if abs(peer_loss - loss) > 1e-6 * abs(loss):
            print(f"losses disagree on {size}: ce {loss} vs peer {peer_loss}")
            return 1
    print(f"{'file':<8} {'contender':<34} {'seconds':>8} {'peak RSS MiB':>13} {'loss':>12}")
    for size, name, seconds, peak, loss in rows_out:
        print(f"{size:<8} {name:<34} {seconds:>8.2f} {peak:>13.0f} {loss:>12.6f}")
    ratio = peaks["2 GB"] / peaks["0.5 GB"]
    print(f"ce peak RSS, 2 GB file / 0.5 GB file: {ratio:.2f}")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
