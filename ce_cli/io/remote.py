"""URIs (``s3://``, ``gs://``, ``hdfs://``, ``file://``, …) through pyarrow's filesystems.

A URI names a file, a directory (listed recursively) or a glob in its last part(s) (``*``,
``?`` is a query in a URI, ``[…]``; ``**`` crosses directories, as in a local glob). Local
paths never come here: they keep the plain ``os`` / memory-map code path.

Every failure (unknown scheme, a filesystem pyarrow was built without, missing credentials,
no such file) becomes a one-line ``CEError`` naming the URI and what to install or configure.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ce_cli.core.errors import CEError

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB_CHARS = "*["

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
_ALIASES = {"gcs": "gs", "viewfs": "hdfs", "abfss": "abfs", "s3a": "s3"}
_SCHEMES = "file://, s3://, gs://, hdfs://, abfs:// (and local paths)"


def is_uri(spec: str) -> bool:
    """``scheme://…`` (a Windows drive ``C:\\`` is not a URI)."""
    return bool(_URI.match(spec))


def scheme_of(uri: str) -> str:
    return uri.split("://", 1)[0].lower()


def hint(uri: str) -> str:
    """What a scheme needs installed or configured ('' when nothing special)."""
    scheme = scheme_of(uri)
    return HINTS.get(_ALIASES.get(scheme, scheme), "")


@dataclass(frozen=True)
class RemoteFile:
    """One file on a pyarrow filesystem: ``display`` names it in messages (a URI)."""

    display: str
    fs: Any  # pyarrow.fs.FileSystem
    path: str  # the path on ``fs``
    size: int | None = None
    rel: tuple[str, ...] = ()  # path parts below the spec's base, the name last (partitions)


def error(uri: str, exc: BaseException | str) -> CEError:
    """A one-line error naming the URI, what went wrong, and what the scheme needs."""
    msg = exc if isinstance(exc, str) else " ".join(str(exc).split())
    needs = hint(uri)
    return CEError(f"{uri}: {msg}" + (f"; {needs}" if needs else ""))


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
        raise error(uri, f"cannot open the filesystem ({' '.join(str(exc).split())})") from None


def _from_uri(uri: str) -> tuple[Any, str]:
    import pyarrow.fs as pafs

    return pafs.FileSystem.from_uri(uri)


def resolve(uri: str, is_data_file: Any) -> list[RemoteFile]:
    """The files a URI names, sorted: the file itself, a directory's data files (recursive;
    names starting with '.' or '_' are skipped, as locally), or the files a glob matches.

    ``is_data_file(name)`` says whether a listed file name has a data format's extension.
    """
    parts = urlsplit(uri)
    path = parts.path
    glob_at = next((i for i, ch in enumerate(path) if ch in _GLOB_CHARS), -1)
    if glob_at >= 0:
        cut = path.rfind("/", 0, glob_at)
        base_uri = _with_path(uri, path[: cut + 1] if cut >= 0 else "/")
        pattern = path[cut + 1 :]
    else:
        base_uri, pattern = uri, None
    fs, base = filesystem(base_uri)
    info = _info(fs, base, uri)
    import pyarrow.fs as pafs

    if pattern is None:
        if info.type == pafs.FileType.File:
            return [RemoteFile(uri, fs, base, info.size, tuple(p for p in base.split("/") if p))]
        if info.type == pafs.FileType.NotFound:
            raise error(uri, "no such file or directory")
        files = [f for f in _listing(fs, base, base_uri, uri) if is_data_file(f.path)]
        if not files:
            raise CEError(
                f"{uri}: the directory holds no data file (.csv, .parquet, .arrow, .jsonl, …)"
            )
        return files
    if info.type != pafs.FileType.Directory:
        raise CEError(f"{uri}: no file matches this pattern")
    want = [p for p in pattern.split("/") if p]
    files = [f for f in _listing(fs, base, base_uri, uri, hidden=True) if _match(f, want)]
    if not files:
        raise CEError(f"{uri}: no file matches this pattern")
    return files


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
