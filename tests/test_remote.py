"""URIs through pyarrow's filesystems, tested with ``file://`` (no network)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run, sample

from ce_cli.core.errors import CEError
from ce_cli.io import formats, remote
from ce_cli.io.files import open_input

COMMANDS = [
    ["score", "--top", "7"],
    ["weights"],
    ["calibrate", "--bins", "10"],
]


def as_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--format", "json", "--threads", "1")  # one summation order
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    report.pop("source", None)
    report.get("inputs", {}).pop("file", None)
    return report


def uri(path: Path | str) -> str:
    return Path(path).as_uri()


def shards(root: Path) -> Path:
    """The multiclass sample in 4 Parquet files, two with partition directories above them
    and _SUCCESS / .crc files beside them that a listing must skip."""
    table = pq.read_table(sample("multiclass.parquet"))
    for i in range(4):
        sub = root / f"part{i // 2}"
        sub.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(i * 1000, 1000), sub / f"shard-{i}.parquet")
    (root / "_SUCCESS").write_text("")
    (root / "part0" / ".shard-0.parquet.crc").write_text("x")
    return root


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_file_uri_directory_and_glob_equal_local(tmp_path: Path, command: list[str]) -> None:
    root = shards(tmp_path / "data")
    name, *rest = command
    local = as_json(name, sample("multiclass.parquet"), *rest, "--batch-size", "300")
    for spec in (
        [uri(root)],
        [uri(root) + "/*/*.parquet"],
        [uri(root) + "/**/shard-*.parquet"],
        [uri(root / "part0"), uri(root) + "/part1/*.parquet"],
    ):
        got = as_json(name, *spec, *rest, "--batch-size", "300")
        assert got == local, spec


@pytest.mark.parametrize(
    "name",
    ["multiclass.csv", "multiclass.parquet", "multilabel.csv", "binary.csv"],
)
def test_file_uri_of_one_file_equals_the_path(name: str) -> None:
    assert as_json("score", uri(sample(name))) == as_json("score", sample(name))


@pytest.mark.parametrize("kind", ["csv.gz", "arrow", "jsonl"])
def test_file_uri_text_compressed_and_ipc(tmp_path: Path, kind: str) -> None:
    table = pq.read_table(sample("multiclass.parquet"))
    path = tmp_path / f"data.{kind}"
    if kind == "csv.gz":
        with gzip.open(path, "wb") as fh, open(sample("multiclass.csv"), "rb") as src:
            shutil.copyfileobj(src, fh)
    elif kind == "arrow":
        feather.write_feather(table, str(path))
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    assert as_json("score", uri(path), "--batch-size", "999") == as_json(
        "score", str(path), "--batch-size", "999"
    )


def test_uri_files_are_named_by_their_uri(tmp_path: Path) -> None:
    root = shards(tmp_path / "data")
    bad = root / "part1" / "shard-3.parquet"
    pq.write_table(pq.read_table(bad).drop_columns(["prob_dog"]), bad)
    assert_user_error(
        run("score", uri(root)),
        f"{uri(bad)}: no column 'prob_dog', which {uri(root / 'part0' / 'shard-0.parquet')} has",
    )
    source = open_input([uri(root)])
    assert [s.path for s in source.sources][:2] == [  # type: ignore[union-attr]
        uri(root / "part0" / "shard-0.parquet"),
        uri(root / "part0" / "shard-1.parquet"),
    ]


def test_partitions_and_where_through_a_uri(tmp_path: Path) -> None:
    table = pq.read_table(sample("multiclass.parquet"))
    for i, country in enumerate(["de", "fr", "us", "de"]):
        sub = tmp_path / "ds" / f"country={country}" / f"day={i}"
        sub.mkdir(parents=True)
        pq.write_table(table.slice(i * 1000, 1000), sub / "p.parquet")
    args = ["--where", "country=de", "--where", "day>0", "--top", "5"]
    got = as_json("score", uri(tmp_path / "ds"), *args)
    assert got == as_json("score", str(tmp_path / "ds"), *args)
    assert got["n_samples"] == 1000
    # read in path order: de/day=0, de/day=3, fr/day=1, us/day=2; kept: the second file's rows
    # (that file holds the sample's rows 3000-3999 (0-based), ids 3000-3999)
    assert [t["row"] for t in got["top"]] == [t["id"] - 3000 + 1000 for t in got["top"]]


def test_missing_file_uri(tmp_path: Path) -> None:
    missing = uri(tmp_path) + "/missing.parquet"
    assert_user_error(run("score", missing), f"{missing}: no such file or directory")
    assert_user_error(
        run("score", uri(tmp_path) + "/*.parquet"), f"{uri(tmp_path)}/*.parquet: no file matches"
    )
    (tmp_path / "notes.txt").write_text("x")
    assert_user_error(run("score", uri(tmp_path)), f"{uri(tmp_path)}: the directory holds no data")


def test_unknown_scheme_and_a_relative_file_uri() -> None:
    assert_user_error(
        run("score", "nosuch://bucket/preds.parquet"),
        "nosuch://bucket/preds.parquet: unknown URI scheme 'nosuch'; ce reads file://, s3://, "
        "gs://, hdfs://, abfs:// (and local paths)",
    )
    assert_user_error(
        run("score", "file://preds/x.parquet"),
        "file://preds/x.parquet: not a valid URI (",
        "); a file URI holds an absolute path: file:///abs/path",
    )


@pytest.mark.parametrize(
    "target,exc,expected",
    [
        (
            "s3://bucket/preds.parquet",
            OSError("When resolving region for bucket 'bucket': AWS Error NETWORK_CONNECTION"),
            "s3://bucket/preds.parquet: cannot open the filesystem (When resolving region for "
            "bucket 'bucket': AWS Error NETWORK_CONNECTION); S3 needs pyarrow built with S3 (the "
            "PyPI wheels are) and AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        ),
        (
            "gs://bucket/preds.parquet",
            ImportError("The pyarrow installation is not built with support for 'GcsFileSystem'"),
            "gs://bucket/preds.parquet: this pyarrow cannot open it (The pyarrow installation is "
            "not built with support for 'GcsFileSystem'); GCS needs pyarrow built with GCS",
        ),
        (
            "hdfs://namenode:8020/eval/preds.parquet",
            OSError("Unable to load libjvm"),
            "hdfs://namenode:8020/eval/preds.parquet: cannot open the filesystem (Unable to load "
            "libjvm); HDFS needs a Java runtime and Hadoop's libhdfs: set JAVA_HOME",
        ),
    ],
    ids=["s3", "gs", "hdfs"],
)
def test_missing_packages_or_credentials_are_one_line(
    monkeypatch: pytest.MonkeyPatch, target: str, exc: Exception, expected: str
) -> None:
    """The failures pyarrow raises for these schemes (simulated: no network in tests)."""

    def fail(_: str) -> Any:
        raise exc

    monkeypatch.setattr(remote, "_from_uri", fail)
    assert_user_error(run("score", target), expected)


def test_access_errors_name_the_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    class Denied:  # what S3FileSystem does without credentials (simulated: no network)
        def get_file_info(self, path: Any) -> Any:
            raise OSError("AWS Error ACCESS_DENIED during HeadObject operation")

    monkeypatch.setattr(remote, "_from_uri", lambda _: (Denied(), "bucket/preds.parquet"))
    assert_user_error(
        run("score", "s3://bucket/preds.parquet?region=eu-west-1"),
        "s3://bucket/preds.parquet?region=eu-west-1: AWS Error ACCESS_DENIED during HeadObject "
        "operation; S3 needs",
    )


def test_local_paths_do_not_use_pyarrow_filesystems(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(_: str) -> Any:
        raise AssertionError("a local path went through pyarrow.fs")

    monkeypatch.setattr(remote, "_from_uri", fail)
    source = open_input([sample("multiclass.parquet")])
    assert isinstance(source, formats.Source) and source._fs is None
    assert as_json("score", sample("multiclass.csv"))["n_samples"] == 4000


def test_output_never_replaces_a_file_uri_input(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    shutil.copy(sample("multiclass.csv"), path)
    before = path.read_bytes()
    assert_user_error(
        run("score", uri(path), "-o", str(path)), "refusing to write over the input file"
    )
    assert path.read_bytes() == before


def test_empty_uri_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    assert_user_error(
        run("score", uri(tmp_path / "empty.csv")), f"{uri(tmp_path / 'empty.csv')}: file is empty"
    )


GCS_NO_NETWORK = (
    "google::cloud::Status(UNAVAILABLE: Retry policy exhausted, with a last message of Could not "
    "create a OAuth2 access token to authenticate the request. The request was not sent, as "
    "such an access token is required to complete the request successfully. The underlying "
    "error message was: PerformWork() - CURL error [6]=Could not resolve hostname "
    "error_info={reason=, domain=, metadata={gcloud-cpp.retry.on-entry=false}})"
)


@pytest.mark.parametrize(
    "target, message, expected",
    [
        (
            "gs://bucket/x.parquet",
            GCS_NO_NETWORK,
            "gs://bucket/x.parquet: cannot resolve the host of Google Cloud Storage (UNAVAILABLE: "
            "could not get an OAuth2 access token: PerformWork() - CURL error [6]=Could not "
            "resolve hostname); check the network (DNS) and the bucket or endpoint name",
        ),
        (
            "s3://b/k.csv?endpoint_override=minio:9000&scheme=http",
            "When getting information for key 'k.csv' in bucket 'b': AWS Error NETWORK_CONNECTION "
            "during HeadObject operation: curlCode: 28, Timeout was reached; Details: Operation "
            "too slow. Less than 1 bytes/sec transferred the last 30 seconds",
            "s3://b/k.csv?endpoint_override=minio:9000&scheme=http: no answer from the S3 "
            "endpoint minio:9000 within 30 s (AWS Error NETWORK_CONNECTION during HeadObject "
            "operation: curlCode: 28, Timeout was reached); check the network and the endpoint, "
            "or allow more time with CE_REMOTE_TIMEOUT=SECONDS",
        ),
        (
            "s3://b/k.csv",
            "When listing objects under key 'k.csv/' in bucket 'b': AWS Error ACCESS_DENIED during "
            "ListObjectsV2 operation: Access Denied (Request ID: ABC123)",
            "s3://b/k.csv: AWS Error ACCESS_DENIED during ListObjectsV2 operation: Access Denied; "
            "S3 needs credentials that may read it: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        ),
        (
            "hdfs://nn:8020/x.parquet",
            "curlCode: 7, Could not connect to server",
            "hdfs://nn:8020/x.parquet: cannot connect to the hdfs:// filesystem (curlCode: 7, "
            "Could not connect to server); check the endpoint and the network",
        ),
    ],
    ids=["gcs-no-network", "s3-timeout", "s3-denied-listing", "other-scheme"],
)
def test_store_errors_are_one_short_line(
    monkeypatch: pytest.MonkeyPatch, target: str, message: str, expected: str
) -> None:
    for name in (remote.TIMEOUT_ENV, *remote.ENDPOINT_ENVS):
        monkeypatch.delenv(name, raising=False)
    error = str(remote.error(target, OSError(message)))
    assert error.startswith(expected), error
    assert "\n" not in error and "Request ID" not in error and "error_info" not in error


def test_timeout_and_retries_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(remote.TIMEOUT_ENV, raising=False)
    monkeypatch.delenv(remote.RETRIES_ENV, raising=False)
    assert (remote.timeout(), remote.timeout(10.0), remote.retries()) == (30.0, 10.0, 3)
    monkeypatch.setenv(remote.TIMEOUT_ENV, "2.5")
    monkeypatch.setenv(remote.RETRIES_ENV, "1")
    assert (remote.timeout(), remote.timeout(10.0), remote.retries()) == (2.5, 2.5, 1)
    for bad in ("0", "nan", "inf", "1e999", "x"):
        monkeypatch.setenv(remote.TIMEOUT_ENV, bad)
        with pytest.raises(CEError, match=r"expected a number of seconds > 0"):
            remote.timeout()


def test_s3_and_gcs_filesystems_get_the_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network needed: building a filesystem connects nowhere when the URI names a region."""
    import datetime

    import pyarrow.fs as pafs

    monkeypatch.setenv(remote.TIMEOUT_ENV, "7")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    fs, path = remote.filesystem("s3://bucket/dir/x.parquet?region=eu-west-1")
    assert isinstance(fs, pafs.S3FileSystem) and path == "bucket/dir/x.parquet"
    options = fs.__reduce__()[1][0]
    assert (options["connect_timeout"], options["request_timeout"]) == (7.0, 7.0)
    assert (options["endpoint_override"], options["scheme"]) == ("127.0.0.1:9", "http")
    gcs = getattr(pafs, "GcsFileSystem", None)
    if gcs is not None:
        fs, _ = remote.filesystem("gs://bucket/x.parquet")
        assert fs.__reduce__()[1][0]["retry_time_limit"] == datetime.timedelta(seconds=7)
        fs, _ = remote.filesystem("gs://bucket/x.parquet?retry_limit_seconds=3")
        assert fs.__reduce__()[1][0]["retry_time_limit"] == datetime.timedelta(seconds=3)
