"""The tooling gate: ruff (lint + format), mypy and the import-linter floor contracts are clean,
as the README promises; no function in the package is longer than 60 lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"], ["lint-imports"]],
    ids=["ruff-check", "ruff-format", "mypy", "import-contracts"],
)
def test_tool_is_clean(command: list[str]) -> None:
    exe = shutil.which(command[0], path=str(Path(sys.executable).parent))
    assert exe, f"{command[0]} is in the test extra; install with pip install -e '.[test]'"
    result = subprocess.run([exe, *command[1:]], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


MAX_FUNCTION_LINES = 60


def test_no_function_over_60_lines() -> None:
    """Long functions split into named steps (issue 10): none in the package over 60 lines."""
    import ast

    long = []
    for path in sorted((ROOT / "ce_cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({size})")
    assert not long, "\n".join(long)


def test_package_has_no_import_cycle() -> None:
    """No module imports, directly or through others, a module that imports it back."""
    import grimp

    graph = grimp.build_graph("ce_cli")
    cycles = [
        (a, b)
        for a in sorted(graph.modules)
        for b in graph.find_modules_directly_imported_by(a)
        if b.startswith("ce_cli.") and graph.chain_exists(importer=b, imported=a)
    ]
    assert not cycles, cycles
