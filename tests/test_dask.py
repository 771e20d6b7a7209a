"""``--engine dask`` gives the local engine's reports, on a real two-process local cluster.

The cluster (``distributed.LocalCluster`` on loopback, 2 worker processes of one thread) is
started once for the module; these tests are skipped when dask is not installed, except the
one that checks the message a user without dask gets.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run, sample

SHARDS = 4
ROW_GROUP = 300  # rows per row group of the single-file inputs
NO_HTTP_PORT = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}  # not 8787


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs=NO_HTTP_PORT,
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sample files as directories of shards (Parquet and CSV) and as single files of many
    row groups."""
    root = tmp_path_factory.mktemp("dask")
    tables = {
        "multiclass": pacsv.read_csv(sample("multiclass.csv")),
        "weighted": pq.read_table(sample("multiclass.parquet")),
        "multilabel": pacsv.read_csv(sample("multilabel.csv")),
        "binary": pacsv.read_csv(sample("binary.csv")),
    }
    for name, table in tables.items():
        (root / name).mkdir()
        n = table.num_rows
        for i in range(SHARDS):
            start, stop = i * n // SHARDS, (i + 1) * n // SHARDS
            pq.write_table(table.slice(start, stop - start), root / name / f"part-{i}.parquet")
        pq.write_table(table, root / f"{name}.parquet", row_group_size=ROW_GROUP)
    csv_dir = root / "csv"
    csv_dir.mkdir()
    table = tables["multiclass"]
    for i in range(3):
        start, stop = i * table.num_rows // 3, (i + 1) * table.num_rows // 3
        pacsv.write_csv(table.slice(start, stop - start), csv_dir / f"part-{i}.csv")
    return root


def as_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = run(*args, "--format", "json", env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def assert_same(dask: Any, local: Any, path: str = "") -> None:
    """Equal structure and values; numbers to 1e-12 relative (sums add in another order)."""
    if isinstance(local, dict):
        assert isinstance(dask, dict) and dask.keys() == local.keys(), path
        for key in local:
            assert_same(dask[key], local[key], f"{path}.{key}")
    elif isinstance(local, list):
        assert isinstance(dask, list) and len(dask) == len(local), path
        for i, (a, b) in enumerate(zip(dask, local, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(local, float) and not math.isnan(local):
        assert dask == pytest.approx(local, rel=1e-12, abs=1e-15), path
    else:
        assert dask == local, path


CASES = [
    ["score", "multiclass", "--alpha", "1,2,0.5,3,1", "--label-smoothing", "0.1"],
    ["score", "weighted", "--weight-col", "weight", "--top", "7"],
    ["score", "multiclass", "--alpha", "balanced"],
    ["score", "multilabel", "--loss", "focal"],
    ["score", "binary", "--pos-weight", "balanced"],
    ["weights", "multiclass"],
    ["weights", "weighted", "--weight-col", "weight", "--scheme", "effective"],
    ["weights", "multilabel"],
    ["calibrate", "multiclass", "--strategy", "quantile"],
    ["calibrate", "binary", "--fit-temperature"],
]
IDS = ["ce", "weighted-top", "balanced", "focal", "bce", "weights", "effective", "ml", "cal", "fit"]


@pytest.mark.parametrize("layout", ["shards", "row-groups"])
@pytest.mark.parametrize("args", CASES, ids=IDS)
def test_dask_equals_local(scheduler: str, data: Path, args: list[str], layout: str) -> None:
    command, name, *rest = args
    path = str(data / name) if layout == "shards" else str(data / f"{name}.parquet")
    local = as_json(command, path, *rest, "--batch-size", "256")
    dask = as_json(command, path, *rest, "--scheduler", scheduler)
    assert_same(dask, local)
    if command == "score":
        assert [t["row"] for t in dask["top"]] == [t["row"] for t in local["top"]]


def test_text_files_are_counted_for_global_row_numbers(scheduler: str, data: Path) -> None:
    args = ["score", str(data / "csv"), "--top", "20", "--id-col", "id"]
    local = as_json(*args, "--threads", "1")
    dask = as_json(*args, "--engine", "dask", "--scheduler", scheduler)
    assert_same(dask, local)
    assert {t["row"] for t in dask["top"]} == {t["id"] for t in dask["top"]}  # rows 0-based
    assert max(t["row"] for t in dask["top"]) > 2 * 4000 // 3  # rows of the third file too
    weights = ["weights", str(data / "csv")]
    assert_same(as_json(*weights, "--scheduler", scheduler), as_json(*weights))


def test_scheduler_from_the_environment(scheduler: str, data: Path) -> None:
    args = ["weights", str(data / "multiclass")]
    dask = as_json(*args, "--engine", "dask", env={"DASK_SCHEDULER_ADDRESS": scheduler})
    assert_same(dask, as_json(*args))


def test_library_call(scheduler: str, data: Path) -> None:
    from ce_cli import InputOptions, ScoreOptions, compute_score
    from ce_cli.engine.runner import with_engine

    options = InputOptions(str(data / "multiclass"))
    local = compute_score(options, ScoreOptions(top=3))
    dask = compute_score(with_engine(options, "dask", scheduler), ScoreOptions(top=3))
    assert_same(dask.to_dict(), local.to_dict())


@pytest.mark.parametrize("command", ["score", "weights", "calibrate"])
def test_group_by_equals_local(scheduler: str, tmp_path: Path, command: str) -> None:
    """Hive partitions (one group per file) and a column of the files (groups in every file)."""
    from test_partitions import frame, partitioned

    root = str(partitioned(tmp_path / "ds", frame()))
    for column in ("country", "split"):
        local = as_json(command, root, "--group-by", column, "--batch-size", "50")
        dask = as_json(command, root, "--group-by", column, "--scheduler", scheduler)
        assert len(local["groups"]) == 3
        assert_same(dask, local)


WHERE_CASES = [
    ["--where", "country=de"],  # partitions: the other files are not read
    ["--where", "day>=5", "--where", "logit_a<=0.25"],  # and a column of the files
    ["--where", "split in train,val", "--group-by", "country"],
]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("where", WHERE_CASES, ids=lambda w: " ".join(w))
def test_where_equals_local(scheduler: str, tmp_path: Path, where: list[str], fmt: str) -> None:
    from test_partitions import frame, partitioned

    root = str(partitioned(tmp_path / "ds", frame(), fmt))
    for command in (["score", "--top", "5"], ["weights"]):
        local = as_json(*command, root, *where, "--batch-size", "40")
        dask = as_json(*command, root, *where, "--scheduler", scheduler)
        assert_same(dask, local)
        if command[0] == "score":
            assert 0 < dask["n_samples"] < 600


def _write_shards(root: Path, tables: list[pa.Table]) -> str:
    root.mkdir()
    for i, table in enumerate(tables):
        pq.write_table(table, root / f"part-{i}.parquet")
    return str(root)


def _shards(table: pa.Table, n: int = 3) -> list[pa.Table]:
    size = -(-table.num_rows // n)
    return [table.slice(i * size, size) for i in range(n)]


def test_errors_name_the_local_engine_rows(scheduler: str, tmp_path: Path) -> None:
    table = pacsv.read_csv(sample("multiclass.csv"))
    parts = _shards(table)
    column = parts[2].column("logit_dog").to_pylist()
    column[17] = float("nan")
    parts[2] = parts[2].set_column(
        parts[2].schema.get_field_index("logit_dog"), "logit_dog", pa.array(column)
    )
    labels = parts[1].column("label").to_pylist()
    labels[5] = "zebra"
    bad_label = parts[1].set_column(
        parts[1].schema.get_field_index("label"), "label", pa.array(labels)
    )
    nan_dir = _write_shards(tmp_path / "nan", parts)
    both_dir = _write_shards(tmp_path / "both", [parts[0], bad_label, parts[2]])
    missing_dir = _write_shards(tmp_path / "missing", [*parts[:2], parts[2].drop_columns(["id"])])
    for path, fragment in (
        (nan_dir, f"first at row {2 * 1334 + 18}, column logit_dog"),
        (both_dir, f"'zebra' (first at row {1334 + 6})"),
        (missing_dir, "part-2.parquet: no column 'id', which"),
    ):
        local = run("score", path, "--batch-size", "100")
        dask = run("score", path, "--scheduler", scheduler)
        assert_user_error(local, fragment)
        assert dask.stderr == local.stderr and dask.exit_code == 2


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["score", "--reduction", "none", "--format", "csv"], "--reduction none"),
        (["score", "--labels", sample("multiclass.csv")], "--labels FILE is read on the local"),
    ],
)
def test_local_only_options(scheduler: str, data: Path, args: list[str], fragment: str) -> None:
    command, *rest = args
    result = run(command, str(data / "multiclass"), *rest, "--scheduler", scheduler)
    assert_user_error(result, fragment)


def test_stdin_is_refused(scheduler: str) -> None:
    text = Path(sample("binary.csv")).read_text()
    result = run("score", "-", "--scheduler", scheduler, input=text)
    assert_user_error(result, "<stdin>: --engine dask re-reads the input on its workers")


def test_unreachable_scheduler_names_the_address(data: Path) -> None:
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    result = run("weights", str(data / "multiclass"), "--scheduler", address)
    assert_user_error(result, f"cannot connect to the Dask scheduler at {address}")
    env = {"DASK_SCHEDULER_ADDRESS": f"127.0.0.1:{port}"}
    result = run("weights", str(data / "multiclass"), "--engine", "dask", env=env)
    assert_user_error(result, f"at 127.0.0.1:{port}", "$DASK_SCHEDULER_ADDRESS")


def test_scheduler_needs_the_dask_engine() -> None:
    result = run("weights", sample("multiclass.csv"), "--engine", "local", "--scheduler", "x:1")
    assert_user_error(result, "--scheduler is for --engine dask")


def test_without_dask_the_message_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed → ImportError
    result = run("weights", sample("multiclass.csv"), "--engine", "dask")
    assert_user_error(result, "pip install 'ce-cli[dask]'")


def test_own_local_cluster(data: Path) -> None:
    """Without an address ce starts (and keeps, for this process) a loopback cluster."""
    pytest.importorskip("distributed")
    args = ["weights", str(data / "weighted"), "--weight-col", "weight"]
    assert_same(as_json(*args, "--engine", "dask", "--threads", "2"), as_json(*args))


def test_a_scheduler_without_workers(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")
    from ce_cli.engine import cluster as dask_engine

    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", 0.5)
    cluster = distributed.LocalCluster(
        n_workers=0,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs=NO_HTTP_PORT,
    )
    try:
        address = cluster.scheduler_address
        result = run("weights", str(data / "multiclass"), "--scheduler", address)
    finally:
        cluster.close()
    assert_user_error(result, f"the Dask scheduler at {address} has no workers")


def test_workers_must_run_this_version(
    scheduler: str, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ce_cli.core import version

    monkeypatch.setattr(version, "__version__", "9.9.9")
    result = run("weights", str(data / "multiclass"), "--scheduler", scheduler)
    assert_user_error(result, f"the Dask workers of {scheduler} run ce ", "this is 9.9.9")


class _Answers400(BaseHTTPRequestHandler):
    """An HTTP server that answers whatever it is sent (a Dask handshake too) with a 400."""

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture(params=["http.server", "http-400", "hangs-up"])
def not_a_scheduler(request: pytest.FixtureRequest) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(address, the causes ce may name) of a local server that is not a Dask scheduler.

    http.server waits for a request line, which a Dask handshake holds only if it happens to
    contain a line break: then it answers 400 at once.
    """
    exabytes = "(its first bytes announce a message of exabytes)"
    if request.param == "hangs-up":
        server: Any = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=lambda: _hang_up(server), daemon=True).start()
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}", ("(it closed the connection: ",)
        server.close()
        return
    silent = request.param == "http.server"
    http = ThreadingHTTPServer(
        ("127.0.0.1", 0), SimpleHTTPRequestHandler if silent else _Answers400
    )
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    causes = ("(no Dask handshake within 2 s)", exabytes) if silent else (exabytes,)
    yield f"tcp://127.0.0.1:{http.server_address[1]}", causes
    http.shutdown()
    http.server_close()


def _hang_up(server: socket.socket) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        conn.close()


def test_not_a_scheduler_is_one_line_in_seconds(
    not_a_scheduler: tuple[str, tuple[str, ...]],
) -> None:
    """A real process: nothing else on stderr, not even from a Client's __del__ at exit."""
    pytest.importorskip("distributed")
    address, causes = not_a_scheduler
    start = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ce_cli",
            "weights",
            sample("multiclass.csv"),
            "--scheduler",
            address,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "CE_REMOTE_TIMEOUT": "2"},
        timeout=60,
    )
    assert time.monotonic() - start < 20
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    first = f"ce: error: {address} is not a Dask scheduler "
    assert any(done.stderr.startswith(first + cause) for cause in causes), done.stderr
    assert done.stderr.endswith(
        "; pass the address the scheduler prints, tcp://HOST:8786 by default (8787 is its "
        "dashboard)\n"
    ), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


def test_an_http_address_is_not_a_scheduler() -> None:
    pytest.importorskip("distributed")
    assert_user_error(
        run("weights", sample("multiclass.csv"), "--scheduler", "http://127.0.0.1:8787/status"),
        "ce: error: http://127.0.0.1:8787/status is not a Dask scheduler (an http:// address is "
        "a web page, e.g. the dashboard); pass the address the scheduler prints",
    )


def test_a_client_that_fails_late_leaves_nothing_at_exit(
    monkeypatch: pytest.MonkeyPatch, scheduler: str, data: Path
) -> None:
    """A handshake that passed, then a Client that failed: one line, the half-made client is
    marked closed (its __del__ would wait, then print a TimeoutError traceback)."""
    import distributed

    from ce_cli.engine import cluster as dask_engine

    made: list[Any] = []

    class Failing(distributed.Client):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)
            raise MemoryError("Unable to allocate 3.07 EiB")

    monkeypatch.setattr(distributed, "Client", Failing)
    result = run("weights", str(data / "multiclass"), "--scheduler", scheduler)
    assert_user_error(
        result,
        f"ce: error: {scheduler} is not a Dask scheduler (MemoryError: Unable to allocate 3.07 "
        "EiB); pass the address",
    )
    assert [c.status for c in made] == ["closed"]
    assert dask_engine.connect_timeout() == dask_engine.CONNECT_TIMEOUT
