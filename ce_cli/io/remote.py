"""URIs (``s3://``, ``gs://``, ``hdfs://``, ``file://``, …) through pyarrow's filesystems.

A URI names a file, a directory (listed recursively) or a glob in its last part(s) (``*``,
``?`` is a query in a URI, ``[…]``; ``**`` crosses directories, as in a local glob). Local
paths never come here: they keep the plain ``os`` / memory-map code path.

Every failure (unknown scheme, a filesystem pyarrow was built without, missing credentials,
no such file or bucket, access denied, a server that is down, silent or not S3) becomes a
one-line ``CEError`` naming the URI, the cause and what to install, configure or check.

Connections are bounded in time, so nothing hangs silently:

- ``CE_REMOTE_TIMEOUT`` (seconds, default 30): S3's connect timeout and its request timeout (a
  request fails when no byte arrives for that long); GCS's total retry time (pyarrow offers no
  per-request timeout for GCS, so a GCS endpoint that accepts a connection and never answers is
  not bounded).
- ``CE_REMOTE_RETRIES`` (default 3): attempts per S3 request (AWS's standard retry strategy).

S3 endpoint: ``?endpoint_override=HOST:PORT&scheme=http`` in the URI, else the first of
``$AWS_ENDPOINT_URL_S3`` and ``$AWS_ENDPOINT_URL`` (a URL such as ``http://127.0.0.1:9000``, for
MinIO, moto or another S3-compatible store; read here, since not every pyarrow reads them). The
region comes from ``?region=NAME``; without it and without an endpoint pyarrow asks AWS for the
bucket's region. Credentials come from the usual AWS variables and files.
"""

from __future__ import annotations

import fnmatch
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from ce_cli.core.errors import CEError

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB_CHARS = "*["

TIMEOUT_ENV = "CE_REMOTE_TIMEOUT"
RETRIES_ENV = "CE_REMOTE_RETRIES"
DEFAULT_TIMEOUT = 30.0  # seconds
DEFAULT_RETRIES = 3  # attempts per S3 request
ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")

# What each scheme needs, for error messages (and the README).
HINTS = {
    "s3": (
        "S3 needs pyarrow built with S3 (the PyPI wheels are) and AWS credentials: "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials; pass the "
        "region as ?region=NAME or AWS_DEFAULT_REGION"
    ),
    "gs": (
        "GCS needs pyarrow built with GCS (the PyPI wheels are) and Google credentials: "
        "GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`"
    ),
    "hdfs": (
        "HDFS needs a Java runtime and Hadoop's libhdfs: set JAVA_HOME, HADOOP_HOME (or "
        "ARROW_LIBHDFS_DIR) and CLASSPATH=$(hadoop classpath --glob)"
    ),
    "abfs": (
        "Azure needs pyarrow built with Azure support and credentials: "
        "AZURE_STORAGE_ACCOUNT_KEY, a SAS token or `az login`"
    ),
}
# What to check when the store refused these credentials.
_DENIED_HINTS = {
    "s3": (
        "S3 needs credentials that may read it: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
        "AWS_PROFILE or ~/.aws/credentials, whose policy allows s3:GetObject and s3:ListBucket"
    ),
    "gs": (
        "GCS needs Google credentials that may read it (GOOGLE_APPLICATION_CREDENTIALS or "
        "`gcloud auth application-default login`; role Storage Object Viewer)"
    ),
}
_ALIASES = {"gcs": "gs", "viewfs": "hdfs", "abfss": "abfs", "s3a": "s3"}
_SCHEMES = "file://, s3://, gs://, hdfs://, abfs:// (and local paths)"
_NAMES = {"s3": "S3", "gs": "Google Cloud Storage"}


def is_uri(spec: str) -> bool:
    """``scheme://…`` (a Windows drive ``C:\\`` is not a URI)."""
    return bool(_URI.match(spec))


def scheme_of(uri: str) -> str:
    return uri.split("://", 1)[0].lower()


def _kind(uri: str) -> str:
    """The scheme, aliases folded (``gcs`` → ``gs``, ``s3a`` → ``s3``, …)."""
    scheme = scheme_of(uri)
    return _ALIASES.get(scheme, scheme)


def hint(uri: str) -> str:
    """What a scheme needs installed or configured ('' when nothing special)."""
    return HINTS.get(_kind(uri), "")


def timeout(default: float = DEFAULT_TIMEOUT) -> float:
    """Seconds a remote connection or request may take: ``$CE_REMOTE_TIMEOUT``, else ``default``."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise CEError(f"${TIMEOUT_ENV}={raw!r}: expected a number of seconds > 0, e.g. 30")
    return seconds


def retries() -> int:
    """Attempts per S3 request: ``$CE_REMOTE_RETRIES``, else 3."""
    raw = os.environ.get(RETRIES_ENV, "").strip()
    if not raw:
        return DEFAULT_RETRIES
    if not raw.isdigit() or int(raw) < 1:
        raise CEError(f"${RETRIES_ENV}={raw!r}: expected a whole number of attempts >= 1")
    return int(raw)


@dataclass(frozen=True)
class RemoteFile:
    """One file on a pyarrow filesystem: ``display`` names it in messages (a URI)."""

    display: str
    fs: Any  # pyarrow.fs.FileSystem
    path: str  # the path on ``fs``
    size: int | None = None
    rel: tuple[str, ...] = ()  # path parts below the spec's base, the name last (partitions)


def error(uri: str, exc: BaseException | str, doing: str = "") -> CEError:
    """A one-line error naming the URI, what went wrong (``doing``: what ce was doing) and
    what to check or configure."""
    msg = exc if isinstance(exc, str) else brief(str(exc))
    what = f"{doing} ({msg})" if doing else msg
    return CEError(f"{uri}: {_explain(uri, msg, what)}")


def is_remote_failure(exc: BaseException) -> bool:
    """The store or the network failed (not the file's contents)."""
    return bool(_REMOTE_FAILURE.search(str(exc)))


def brief(message: str) -> str:
    """A store's error message on one line, without what the URI already says (the key and
    bucket), request ids and curl's details."""
    msg = " ".join(message.split())
    msg = re.sub(r"^When (?!resolving)[^:]*: ", "", msg)
    msg = re.sub(r" \(Request ID: [^)]*\)|; Details: .*$|: No response body\.?$", "", msg)
    if m := _GCS_STATUS.match(msg):
        text = m[2]
        if "OAuth2 access token" in text:
            under = text.rsplit("The underlying error message was: ", 1)[-1]
            text = f"could not get an OAuth2 access token: {under}"
        msg = f"{m[1]}: {text}"
    return msg if len(msg) <= 300 else msg[:299] + "…"


_REMOTE_FAILURE = re.compile(r"AWS Error|curlCode|google::cloud::Status|CURL error")
_GCS_STATUS = re.compile(
    r"google::cloud::Status\((\w+): (?:.*?with a last message of )?(.*?)(?: error_info=.*)?\)?$"
)
_CURL = re.compile(r"curlCode: (\d+)|CURL error \[(\d+)\]")
_DENIED = re.compile(
    r"ACCESS_DENIED|INVALID_ACCESS_KEY_ID|SIGNATURE_DOES_NOT_MATCH|HTTP status 403|"
    r"PERMISSION_DENIED|UNAUTHENTICATED|OAuth2 access token"
)
_TIMED_OUT, _REFUSED, _RESOLVE = 28, 7, 6
_HUNG_UP = (52, 55, 56)  # empty reply, send failure, receive failure


def _explain(uri: str, msg: str, what: str) -> str:
    """``what`` and the fix: by curl's error code, then by the store's error name."""
    m = _CURL.search(msg)
    code = int(m[1] or m[2]) if m else None
    where = endpoint(uri)
    if code == _TIMED_OUT:
        return (
            f"no answer from {where} within {timeout():g} s ({what}); check the network and "
            f"the endpoint, or allow more time with {TIMEOUT_ENV}=SECONDS"
        )
    if code == _REFUSED:
        return f"cannot connect to {where} ({what}); check the endpoint and the network"
    if code in _HUNG_UP:
        return (
            f"{where} closed the connection without an answer ({what}); check that the "
            "endpoint is the storage service and that it is running"
        )
    if code == _RESOLVE:
        return (
            f"cannot resolve the host of {where} ({what}); check the network (DNS) and the "
            "bucket or endpoint name"
        )
    if _DENIED.search(msg) and _kind(uri) in _DENIED_HINTS:
        return f"{what}; {_DENIED_HINTS[_kind(uri)]}"
    needs = hint(uri)
    return what + (f"; {needs}" if needs else "")


def endpoint(uri: str) -> str:
    """The service a URI reaches, for messages: its endpoint when one is set."""
    kind = _kind(uri)
    name = _NAMES.get(kind, f"{kind}://")
    query = dict(parse_qsl(urlsplit(uri).query))
    override = query.get("endpoint_override")
    if override is None and kind == "s3":
        override = next((os.environ[e] for e in ENDPOINT_ENVS if os.environ.get(e)), None)
    if override:
        return f"the {name} endpoint {override}"
    return name if kind in _NAMES else f"the {name} filesystem"


def filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path on it) for a URI; every failure is a CEError."""
    import pyarrow as pa

    try:
        return _from_uri(uri)
    except pa.ArrowInvalid as exc:
        if "Unrecognized filesystem type" in str(exc):
            raise CEError(
                f"{uri}: unknown URI scheme {scheme_of(uri)!r}; ce reads {_SCHEMES}"
            ) from None
        what = f"not a valid URI ({' '.join(str(exc).split())})"
        if scheme_of(uri) == "file":
            raise CEError(
                f"{uri}: {what}; a file URI holds an absolute path: file:///abs/path"
            ) from None
        raise error(uri, what) from None
    except ImportError as exc:  # pyarrow built without this filesystem
        raise error(uri, f"this pyarrow cannot open it ({exc})") from None
    except (pa.ArrowException, OSError) as exc:  # e.g. libhdfs / libjvm not found
        raise error(uri, exc, "cannot open the filesystem") from None


def _from_uri(uri: str) -> tuple[Any, str]:
    """pyarrow's filesystem for ``uri`` (S3: with the endpoint from the environment), with
    this process's timeouts."""
    import pyarrow.fs as pafs

    if _kind(uri) == "s3":
        uri = with_s3_endpoint(uri)
    fs, path = pafs.FileSystem.from_uri(uri)
    return bounded(fs), path


def with_s3_endpoint(uri: str, environ: Any = os.environ) -> str:
    """``uri`` with ``endpoint_override`` (and ``scheme``) from ``$AWS_ENDPOINT_URL_S3`` or
    ``$AWS_ENDPOINT_URL`` when its query names no endpoint."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    url = next((environ[e] for e in ENDPOINT_ENVS if environ.get(e)), None)
    if url is None or any(k == "endpoint_override" for k, _ in query):
        return uri
    target = urlsplit(url if "://" in url else f"https://{url}")
    query.append(("endpoint_override", target.netloc + target.path.rstrip("/")))
    if not any(k == "scheme" for k, _ in query):
        query.append(("scheme", target.scheme))
    return parts._replace(query=urlencode(query)).geturl()


def bounded(fs: Any) -> Any:
    """``fs`` again with ``timeout()`` and ``retries()`` applied (S3, GCS; others as they are)."""
    import datetime

    import pyarrow.fs as pafs

    seconds = timeout()
    if isinstance(fs, pafs.S3FileSystem):
        _, (options,) = fs.__reduce__()
        options.update(
            connect_timeout=seconds,
            request_timeout=seconds,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=retries()),
        )
        return pafs.S3FileSystem(**options)
    gcs = getattr(pafs, "GcsFileSystem", None)
    if gcs is not None and isinstance(fs, gcs):
        _, (options,) = fs.__reduce__()
        if options.get("retry_time_limit") is None:  # unless the URI sets retry_limit_seconds
            options["retry_time_limit"] = datetime.timedelta(seconds=seconds)
        return gcs(**options)
    return fs


def resolve(uri: str, is_data_file: Callable[[str], bool]) -> list[RemoteFile]:
    """The files a URI names, sorted: the file itself, a directory's data files (recursive;
    names starting with '.' or '_' are skipped, as locally), or the files a glob matches.

    ``is_data_file(name)`` says whether a listed file name has a data format's extension.
    """
    import pyarrow.fs as pafs

    path = urlsplit(uri).path
    glob_at = next((i for i, ch in enumerate(path) if ch in _GLOB_CHARS), -1)
    if glob_at < 0:
        return _named(uri, is_data_file)
    cut = path.rfind("/", 0, glob_at)
    base_uri = _with_path(uri, path[: cut + 1] if cut >= 0 else "/")
    fs, base = filesystem(base_uri)
    info = _info(fs, base, uri)
    if info.type == pafs.FileType.NotFound:
        _check_bucket(fs, base, uri)
    if info.type != pafs.FileType.Directory:
        raise CEError(f"{uri}: no file matches this pattern")
    want = [p for p in path[cut + 1 :].split("/") if p]
    files = [f for f in _listing(fs, base, base_uri, uri, hidden=True) if _match(f, want)]
    if not files:
        raise CEError(f"{uri}: no file matches this pattern")
    return files


def _named(uri: str, is_data_file: Callable[[str], bool]) -> list[RemoteFile]:
    """The file a URI names, or the data files of the directory it names."""
    import pyarrow.fs as pafs

    fs, base = filesystem(uri)
    info = _info(fs, base, uri)
    if info.type == pafs.FileType.File:
        return [RemoteFile(uri, fs, base, info.size, tuple(p for p in base.split("/") if p))]
    if info.type == pafs.FileType.NotFound:
        _check_bucket(fs, base, uri)
        where = f" (at {endpoint(uri)})" if _kind(uri) in _NAMES else ""
        raise CEError(f"{uri}: no such file or directory{where}; check the path")
    files = [f for f in _listing(fs, base, uri, uri) if is_data_file(f.path)]
    if not files:
        raise CEError(
            f"{uri}: the directory holds no data file (.csv, .parquet, .arrow, .jsonl, …)"
        )
    return files


def _check_bucket(fs: Any, path: str, uri: str) -> None:
    """Raise 'no such bucket' when ``path``'s bucket (S3, GCS) does not exist."""
    import pyarrow.fs as pafs

    bucket = path.split("/", 1)[0]
    if _kind(uri) not in _NAMES or not bucket:
        return
    if bucket == path.rstrip("/") or _info(fs, bucket, uri).type == pafs.FileType.NotFound:
        raise CEError(
            f"{uri}: no such bucket {bucket!r} at {endpoint(uri)}; check the bucket name "
            "and the endpoint"
        )


def _with_path(uri: str, path: str) -> str:
    parts = urlsplit(uri)
    return parts._replace(path=path).geturl()


def _info(fs: Any, path: str, uri: str) -> Any:
    import pyarrow as pa

    try:
        return fs.get_file_info(path)
    except (pa.ArrowException, OSError) as exc:
        raise error(uri, exc) from None


def _listing(
    fs: Any, base: str, base_uri: str, uri: str, *, hidden: bool = False
) -> Iterator[RemoteFile]:
    """Every file under ``base``, sorted, named by ``base_uri`` + the relative path."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    try:
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    except (pa.ArrowException, OSError) as exc:
        raise error(uri, exc) from None
    split = urlsplit(base_uri)
    root = split._replace(query="", fragment="").geturl().rstrip("/")
    query = f"?{split.query}" if split.query else ""
    prefix = base.rstrip("/") + "/"
    for info in sorted(infos, key=lambda i: i.path):
        if info.type != pafs.FileType.File or not info.path.startswith(prefix):
            continue
        rel = info.path[len(prefix) :].split("/")
        if not hidden and any(p.startswith((".", "_")) for p in rel):
            continue
        yield RemoteFile(f"{root}/{'/'.join(rel)}{query}", fs, info.path, info.size, tuple(rel))


def _match(file: RemoteFile, pattern: list[str]) -> bool:
    """A local glob's rules over relative path parts: ``*`` stays in one directory, ``**``
    spans any number, names starting with '.' only match a pattern that starts with '.'."""
    return _match_parts(list(file.rel), pattern)


def _match_parts(parts: list[str], pattern: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_parts(parts[i:], rest) for i in range(len(parts) + 1))
    if not parts:
        return False
    name = parts[0]
    if name.startswith(".") and not head.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, head) and _match_parts(parts[1:], rest)
