"""`ce score` on the sample files equals PyTorch / scikit-learn (tests/golden/score.json,
written by tests/golden/make_score_golden.py; the suite does not need torch)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, run

GOLDEN = json.loads((Path(__file__).parent / "golden" / "score.json").read_text())["cases"]


def score_json(args: list[str]) -> dict[str, Any]:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = run("score", *args, "--format", "json")
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_matches_pytorch(case: dict[str, Any]) -> None:
    report = score_json(case["args"])
    expected = case["expected"]
    got = {
        "mean": report["loss"]["mean"],
        "sum": report["loss"]["sum"],
        "accuracy": report["accuracy"],
        "subset_accuracy": report["subset_accuracy"],
        "hamming_loss": report["hamming_loss"],
        "kl_divergence": report["kl_divergence"],
        "other": (report["loss"].get("other_convention") or {}).get("value"),
    }
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key
