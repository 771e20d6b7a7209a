"""Shared helpers: run the CLI in-process, find the sample data."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ce_cli.cli.main import cli
from ce_cli.core import native
from ce_cli.core.errors import CEError

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"


def run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
    """``ce ARGS`` in-process; stdout and stderr are kept apart (click >= 8.2)."""
    return CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)


def run_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def sample(name: str) -> str:
    return str(SAMPLES / name)


def assert_user_error(result: Result, *fragments: str) -> None:
    """Exit 2, one line on stderr starting 'ce: error:', no traceback, nothing on stdout."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ce: error: "), lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def assert_same_intervals(ref: Any, got: Any, names: Any) -> None:
    """Two ``paired_intervals`` results agree on every name: estimate and both ends to 1e-12."""
    for name in names:
        a, b = ref[name], got[name]
        assert a is not None and b is not None
        for x, z in ((a.low, b.low), (a.high, b.high), (a.estimate, b.estimate)):
            assert abs(x - z) <= 1e-12 * max(abs(x), abs(z), 1.0), name


@pytest.fixture
def write_csv(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(text: str, name: str = "data.csv") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


@pytest.fixture(params=["compiled", "numpy"])
def ce_kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once with the compiled CE kernel (``native.KERNEL``) and once with the numpy
    one. The compiled one must be built here (``pip install -e .`` with a C compiler); only
    ``CE_NATIVE=0`` skips it on purpose."""
    if request.param == "numpy":
        monkeypatch.setattr(native, "KERNEL", None)
    else:
        compiled_kernel()
    return str(request.param)


def compiled_kernel() -> Any:
    """``native.KERNEL``; the test is skipped under ``CE_NATIVE=0`` and fails when the kernel
    was not built."""
    if native.KERNEL is None:
        if os.environ.get("CE_NATIVE") == "0":
            pytest.skip("CE_NATIVE=0 turns the compiled kernel off")
        pytest.fail(f"the compiled kernel is missing: {native.describe()}")
    return native.KERNEL


@pytest.fixture(autouse=True)
def _outside_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that want GitHub Actions set it themselves; a CI runner's own must not leak in."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


def read_error(source: Any, threads: int, **kwargs: Any) -> tuple[str, int]:
    """The message of the error reading ``source`` (an ``io.formats.Source``) raises, and the
    rows yielded before it, checked to come in order (an ``id`` column counting from 0)."""
    rows = 0
    with pytest.raises(CEError) as info:
        for batch in source.batches(threads=threads, **kwargs):
            assert batch.column("id").to_pylist() == list(range(rows, rows + batch.num_rows))
            rows += batch.num_rows
    return str(info.value), rows
