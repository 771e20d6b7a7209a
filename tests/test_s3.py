"""``s3://`` for real: pyarrow's S3 filesystem against a moto server on 127.0.0.1.

The server (moto's ``ThreadedMotoServer``, started once for the session) holds a bucket with
the samples; IAM is enforced once the fixture has made its users, so a key without a policy is
really denied. Servers that never answer or hang up at once stand in for a slow or broken
network; ``CE_REMOTE_TIMEOUT=2`` and ``CE_REMOTE_RETRIES=1`` keep every case to seconds.
Skipped when moto or boto3 is not installed (``pip install -e '.[test]'``).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run, sample

from ce_cli.io import formats, remote

BUCKET = "ce-data"
TIMEOUT = "2"
READ_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


@dataclass(frozen=True)
class Moto:
    url: str  # http://127.0.0.1:PORT
    reader: tuple[str, str]  # access key id, secret: may read everything
    nobody: tuple[str, str]  # a user without any policy


def _long_cell_csv(path: Path) -> Path:
    """A valid CSV whose row 1501 has a 5 MiB cell in a column ce does not read."""
    rows = ["label,prob_a,prob_b,note"]
    rows += [f"{i % 2},{0.25 + (i % 7) / 20},{0.75 - (i % 7) / 20},n{i}" for i in range(3000)]
    rows[1501] = rows[1501].rsplit(",", 1)[0] + "," + "x" * (5 << 20)
    path.write_text("\n".join(rows) + "\n")
    return path


def _upload(client: Any, tmp: Path) -> None:
    client.create_bucket(Bucket=BUCKET)
    for name in ("multiclass.parquet", "multiclass.csv"):
        client.upload_file(sample(name), BUCKET, name)
    table = pq.read_table(sample("multiclass.parquet"))
    for i in range(4):
        pq.write_table(table.slice(i * 1000, 1000), tmp / f"shard-{i}.parquet")
        client.upload_file(str(tmp / f"shard-{i}.parquet"), BUCKET, f"shards/shard-{i}.parquet")
    client.put_object(Bucket=BUCKET, Key="shards/_SUCCESS", Body=b"")
    client.upload_file(str(_long_cell_csv(tmp / "long-cell.csv")), BUCKET, "long-cell.csv")


def _user(iam: Any, name: str, policy: dict[str, Any] | None) -> tuple[str, str]:
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def _enforce_auth(url: str, after: str) -> None:
    """moto's server checks credentials and IAM policies after ``after`` more requests."""
    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth",
        data=after.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=10).read()


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    server_module = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    logging.getLogger("werkzeug").disabled = True  # no request log on a test's stderr
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    admin = {"aws_access_key_id": "admin", "aws_secret_access_key": "admin"}
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **admin)
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", **admin)
    try:
        _upload(client, tmp_path_factory.mktemp("s3"))
        moto = Moto(url, _user(iam, "reader", READ_ALL), _user(iam, "nobody", None))
        _enforce_auth(url, "0")
        yield moto
    finally:
        _enforce_auth(url, "inf")
        server.stop()


@pytest.fixture
def s3(moto: Moto, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Moto:
    """The environment of a user of the moto server, with the reader's keys."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_ACCESS_KEY_ID": moto.reader[0],
        "AWS_SECRET_ACCESS_KEY": moto.reader[1],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": moto.url,
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "CE_REMOTE_TIMEOUT": TIMEOUT,
        "CE_REMOTE_RETRIES": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return moto


def as_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--format", "json", "--threads", "1")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    report.pop("source", None)
    report.get("inputs", {}).pop("file", None)
    return report


# ---------------------------------------------------------------------- reading
@pytest.mark.parametrize("name", ["multiclass.parquet", "multiclass.csv"])
def test_a_file_equals_the_local_one(s3: Moto, name: str) -> None:
    local = as_json("score", sample(name), "--top", "5")
    assert as_json("score", f"s3://{BUCKET}/{name}", "--top", "5") == local
    threads = run("weights", f"s3://{BUCKET}/{name}", "--format", "json", "--threads", "2")
    assert threads.exit_code == 0, threads.stderr
    assert json.loads(threads.stdout)["n_samples"] == 4000


@pytest.mark.parametrize("spec", ["shards", "shards/", "shards/*.parquet", "**/shard-*.parquet"])
def test_a_prefix_of_shards_equals_the_file(s3: Moto, spec: str) -> None:
    """_SUCCESS is skipped, as locally; the shards are read in key order."""
    local = as_json("calibrate", sample("multiclass.parquet"), "--bins", "10")
    assert as_json("calibrate", f"s3://{BUCKET}/{spec}", "--bins", "10") == local


def test_the_endpoint_in_the_uri_wins(s3: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing there
    host = s3.url.removeprefix("http://")
    uri = f"s3://{BUCKET}/multiclass.csv?endpoint_override={host}&scheme=http"
    assert as_json("weights", uri) == as_json("weights", sample("multiclass.csv"))


def test_endpoint_variables() -> None:
    env = {"AWS_ENDPOINT_URL": "https://general:1", "AWS_ENDPOINT_URL_S3": "http://s3only:2/"}
    assert remote.with_s3_endpoint("s3://b/k.csv", env) == (
        "s3://b/k.csv?endpoint_override=s3only%3A2&scheme=http"
    )
    assert remote.with_s3_endpoint("s3://b/k.csv?region=x", {"AWS_ENDPOINT_URL": "h:3"}) == (
        "s3://b/k.csv?region=x&endpoint_override=h%3A3&scheme=https"
    )
    kept = "s3://b/k.csv?endpoint_override=mine:4"
    assert remote.with_s3_endpoint(kept, env) == kept
    assert remote.with_s3_endpoint("s3://b/k.csv", {}) == "s3://b/k.csv"


def test_a_long_cell_grows_the_block_over_s3(s3: Moto, tmp_path: Path) -> None:
    local = _long_cell_csv(tmp_path / "long-cell.csv")
    for threads in ("1", "2"):
        args = ["score", "--threads", threads, "--format", "json"]
        remote_run = run(*args[:1], f"s3://{BUCKET}/long-cell.csv", *args[1:])
        local_run = run(*args[:1], str(local), *args[1:])
        assert remote_run.exit_code == 0, remote_run.stderr
        assert json.loads(remote_run.stdout)["loss"] == json.loads(local_run.stdout)["loss"]


# ---------------------------------------------------------------------- what is not there
def test_a_missing_key(s3: Moto) -> None:
    uri = f"s3://{BUCKET}/missing.parquet"
    assert_user_error(
        run("score", uri),
        f"ce: error: {uri}: no such file or directory (at the S3 endpoint {s3.url}); "
        "check the path",
    )
    assert_user_error(run("score", f"s3://{BUCKET}/shards/*.csv"), "shards/*.csv: no file matches")


@pytest.mark.parametrize("spec", ["x.parquet", "dir/", "dir/*.parquet", ""])
def test_a_missing_bucket(s3: Moto, spec: str) -> None:
    uri = f"s3://no-such-bucket/{spec}"
    assert_user_error(
        run("score", uri),
        f"ce: error: {uri}: no such bucket 'no-such-bucket' at the S3 endpoint {s3.url}; "
        "check the bucket name and the endpoint",
    )


# ---------------------------------------------------------------------- denied
def test_a_user_without_a_policy_is_denied(s3: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.nobody[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.nobody[1])
    uri = f"s3://{BUCKET}/multiclass.parquet"
    assert_user_error(
        run("score", uri),
        f"ce: error: {uri}: AWS Error ACCESS_DENIED during HeadObject operation; S3 needs "
        "credentials that may read it: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or "
        "~/.aws/credentials, whose policy allows s3:GetObject and s3:ListBucket",
    )
    assert_user_error(
        run("score", f"s3://{BUCKET}/shards/*.parquet"),
        f"s3://{BUCKET}/shards/*.parquet: AWS Error ACCESS_DENIED during ",
        "S3 needs credentials that may read it",
    )


def test_an_unknown_key_is_denied(s3: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOSUCHKEY0000000")
    uri = f"s3://{BUCKET}/multiclass.csv"
    assert_user_error(
        run("weights", uri), f"{uri}: AWS Error ACCESS_DENIED", "S3 needs credentials"
    )
    shards = f"s3://{BUCKET}/shards/"  # HEAD has no body: S3 says no more than "denied"
    assert_user_error(
        run("weights", shards), f"{shards}: AWS Error ACCESS_DENIED", "S3 needs credentials"
    )


# ---------------------------------------------------------------------- broken connections
class _Listener:
    """A TCP server on 127.0.0.1 that accepts and then never answers, or hangs up at once."""

    def __init__(self, hang_up: bool) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.hang_up = hang_up
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.hang_up:
                conn.close()
            else:
                self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture(params=["silent", "hangs-up"])
def broken(request: pytest.FixtureRequest) -> Iterator[_Listener]:
    listener = _Listener(hang_up=request.param == "hangs-up")
    yield listener
    listener.close()


def _timed(*args: str) -> tuple[Any, float]:
    start = time.monotonic()
    result = run(*args)
    return result, time.monotonic() - start


def test_a_silent_or_closing_server(
    s3: Moto, broken: _Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://127.0.0.1:{broken.port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    uri = f"s3://{BUCKET}/multiclass.parquet"
    result, seconds = _timed("score", uri)
    if broken.hang_up:  # curl says 52 (empty reply) or 56 (reset), as the timing falls
        expected: tuple[str, ...] = (
            f"ce: error: {uri}: the S3 endpoint {endpoint} closed the connection without an "
            "answer (AWS Error NETWORK_CONNECTION during HeadObject operation: curlCode: 5",
            "); check that the endpoint is the storage service and that it is running",
        )
    else:
        expected = (
            f"ce: error: {uri}: no answer from the S3 endpoint {endpoint} within 2 s (AWS Error "
            "NETWORK_CONNECTION during HeadObject operation: curlCode: 28, Timeout was "
            "reached); check the network and the endpoint, or allow more time with "
            "CE_REMOTE_TIMEOUT=SECONDS",
        )
    assert_user_error(result, *expected)
    assert seconds < 10


def test_nothing_listening(s3: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    assert_user_error(
        run("score", f"s3://{BUCKET}/shards/"),
        f"s3://{BUCKET}/shards/: cannot connect to the S3 endpoint http://127.0.0.1:{port} (AWS "
        "Error NETWORK_CONNECTION during HeadObject operation: curlCode: 7, Could not connect "
        "to server); check the endpoint and the network",
    )


class _Stalling(BaseHTTPRequestHandler):
    """Answers HEAD like S3 (the object exists), then never answers a GET: a read that stalls
    after the file was found."""

    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5000")
        self.send_header("Last-Modified", "Wed, 02 Dec 2026 10:00:00 GMT")
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()

    def do_GET(self) -> None:
        self.release.wait(30)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("name", ["multiclass.parquet", "multiclass.csv"])
def test_a_read_that_stalls(s3: Moto, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Found, then no data: a timeout naming the endpoint, not 'corrupt file' or 'bad CSV'."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stalling)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    try:
        result, seconds = _timed("score", f"s3://{BUCKET}/{name}")
    finally:
        _Stalling.release.set()
        server.shutdown()
        server.server_close()
        _Stalling.release.clear()
    assert_user_error(
        result,
        f"ce: error: s3://{BUCKET}/{name}: no answer from the S3 endpoint {endpoint} within 2 s",
        "curlCode: 28, Timeout was reached); check the network and the endpoint, or allow more "
        "time with CE_REMOTE_TIMEOUT=SECONDS",
    )
    assert seconds < 10


def test_gcs_without_a_network_ends_in_seconds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No route to Google (here: its metadata server refuses): bounded by CE_REMOTE_TIMEOUT,
    not GCS's 15 minutes of retries."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    for name, value in {
        "GCE_METADATA_ROOT": f"127.0.0.1:{port}",
        "CLOUDSDK_CONFIG": str(tmp_path),
        "HOME": str(tmp_path),
        "CE_REMOTE_TIMEOUT": "1",
    }.items():
        monkeypatch.setenv(name, value)
    result, seconds = _timed("score", "gs://bucket/x.parquet")
    assert_user_error(
        result,
        "ce: error: gs://bucket/x.parquet: cannot connect to Google Cloud Storage (UNAVAILABLE: "
        "could not get an OAuth2 access token: PerformWork() - CURL error [7]=Could not connect "
        "to server); check the endpoint and the network",
    )
    assert seconds < 15


@pytest.mark.parametrize(
    "name, value, message",
    [
        (
            "CE_REMOTE_TIMEOUT",
            "soon",
            "$CE_REMOTE_TIMEOUT='soon': expected a number of seconds > 0",
        ),
        ("CE_REMOTE_TIMEOUT", "-1", "$CE_REMOTE_TIMEOUT='-1': expected a number of seconds > 0"),
        ("CE_REMOTE_RETRIES", "0", "$CE_REMOTE_RETRIES='0': expected a whole number of attempts"),
    ],
)
def test_bad_settings(
    s3: Moto, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    assert_user_error(run("weights", f"s3://{BUCKET}/multiclass.csv"), f"ce: error: {message}")


def test_local_files_ignore_remote_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CE_REMOTE_TIMEOUT", "soon")
    assert as_json("weights", sample("multiclass.csv"))["n_samples"] == 4000
    assert formats.MAX_BLOCK == 256 << 20
