"""Expected `ce score` results on the sample arrays and tensors, computed by PyTorch.

Run in an environment with torch and numpy (not needed by the test suite):

    python -m venv /tmp/goldenenv && /tmp/goldenenv/bin/pip install torch==2.13.0 numpy
    /tmp/goldenenv/bin/python tests/golden/make_array_golden.py

Writes tests/golden/arrays.json: one case per `ce score` invocation (its arguments, run from the
repository root) with the values ``torch.nn.functional`` gives on the same arrays, in float64
(the files hold float32; ce accumulates in float64, so both compute on the same numbers).
The safetensors file is read here with the same few lines of numpy as the format's
specification (8-byte header length, JSON header, raw little-endian buffers).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "sample_data"
OUT = Path(__file__).with_name("arrays.json")
torch.set_default_dtype(torch.float64)


def t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + length])
    dtypes = {"F32": "<f4", "I64": "<i8"}
    out = {}
    for key, spec in header.items():
        if key == "__metadata__":
            continue
        begin, end = spec["data_offsets"]
        data = raw[8 + length + begin : 8 + length + end]
        out[key] = np.frombuffer(data, dtype=dtypes[spec["dtype"]]).reshape(spec["shape"])
    return out


cases: list[dict] = []


def case(name: str, args: list[str], mean: float, total: float, **extra: object) -> None:
    cases.append({"name": name, "args": args, "mean": mean, "sum": total, **extra})


def per_sample(logits: torch.Tensor, target: torch.Tensor) -> list[float | None]:
    """F.cross_entropy(ignore_index=-100) of each image alone (None: every pixel ignored)."""
    out: list[float | None] = []
    for x, y in zip(logits, target, strict=True):
        used = int((y != -100).sum())
        out.append(F.cross_entropy(x[None], y[None], ignore_index=-100).item() if used else None)
    return out


def main() -> None:
    # multiclass [N, C] + labels [N], two .npy files
    x = t(np.load(DATA / "logits.npy"))
    y = torch.as_tensor(np.load(DATA / "labels.npy"))
    case(
        "npy_pair",
        ["sample_data/logits.npy", "--labels", "sample_data/labels.npy"],
        F.cross_entropy(x, y).item(),
        F.cross_entropy(x, y, reduction="sum").item(),
    )
    # binary [N] in one .npz
    with np.load(DATA / "outputs.npz") as z:
        xb, yb = t(z["logit"]), t(z["label"])
    case(
        "npz_binary",
        ["sample_data/outputs.npz"],
        F.binary_cross_entropy_with_logits(xb, yb).item(),
        F.binary_cross_entropy_with_logits(xb, yb, reduction="sum").item(),
    )
    # segmentation [N, C, H, W] + [N, H, W] with -100 borders, .npz and .safetensors
    with np.load(DATA / "segmentation.npz") as z:
        seg_x, seg_y = t(z["logits"]), torch.as_tensor(z["target"])
    st = read_safetensors(DATA / "segmentation.safetensors")
    assert np.array_equal(st["logits"], seg_x.numpy().astype(np.float32))
    assert np.array_equal(st["target"], seg_y.numpy())
    mean = F.cross_entropy(seg_x, seg_y, ignore_index=-100).item()
    total = F.cross_entropy(seg_x, seg_y, ignore_index=-100, reduction="sum").item()
    per_image = per_sample(seg_x, seg_y)
    used = int((seg_y != -100).sum())
    for name, path in [("npz", "segmentation.npz"), ("safetensors", "segmentation.safetensors")]:
        case(
            f"segmentation_{name}",
            [f"sample_data/{path}"],
            mean,
            total,
            n_used=used,
            per_sample=per_image,
        )
    OUT.write_text(json.dumps({"torch": torch.__version__, "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
