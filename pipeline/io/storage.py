"""Where output goes and input comes from: a local folder or an `s3://bucket/prefix` URL.

A location is a string: an absolute local path, or an s3:// URL (AWS S3 or any S3-compatible
service: MinIO, Ceph, R2, GCS's interoperability API). Everything that touches the output or a
remote input goes through this module, so the rest of the pipeline never asks which it is.

S3 goes through fsspec's s3fs (botocore underneath), which gives the standard AWS credential
chain: environment variables, a profile (`AWS_PROFILE`, ~/.aws/config and credentials), an
instance or container role; and the endpoint of an S3-compatible service from the standard
`AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`, or a profile's `endpoint_url`). A URL that carries
credentials itself (`s3://KEY:SECRET@bucket`) or a query string (a signed URL) is refused, so that
a location can be stored in the job state, the manifest and logs as it is.

Object stores have no rename. A whole-object write (`write_whole`) is one PUT, or a multipart
upload that s3fs completes only after every part is sent: either way the object appears whole or
not at all, and an interrupted upload leaves nothing under the key (an unfinished multipart upload
is invisible; a bucket lifecycle rule `AbortIncompleteMultipartUpload` reclaims its parts). Local
writes keep the temporary-file-and-rename of `write_atomic`.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from pipeline.errors import InputError, PipelineError
from pipeline.io.atomic import write_atomic

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Variables whose values must never be shown: a secret key, a session token, and the key id too
# (with it, a leaked secret elsewhere becomes usable).
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID")
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")
_SIGNED_QUERY = re.compile(r"((?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId)=)[^&\s\"']+",
                           re.IGNORECASE)


class StorageError(PipelineError):
    """A location that cannot be used as given (a bad URL, an unsupported scheme)."""


def redact(text: str) -> str:
    """`text` with credentials in URLs, signed-URL parameters and the values of the AWS secret
    variables replaced by ***: for anything that reaches a log, `status`, or the job state."""
    text = _SIGNED_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))
    for name in SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 8:  # a short value would blank out ordinary words
            text = text.replace(value, "***")
    return text


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and bool(_SCHEME.match(location))


def normalize(location: str | Path) -> str:
    """The canonical form stored in the job state: an absolute local path, or `s3://bucket/prefix`
    without a trailing slash. Refuses other schemes and URLs that carry credentials."""
    if not is_url(location):
        return str(Path(location).resolve())
    scheme = _SCHEME.match(location).group(1)
    if scheme.lower() != "s3":
        raise StorageError(f"unsupported URL scheme {scheme!r} in {redact(location)}: use s3:// (any S3-compatible "
                           "service, with AWS_ENDPOINT_URL) or a local path")
    parts = urlsplit(location)
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise StorageError(f"{redact(location.split('?')[0])}: credentials and query strings do not belong in the URL; "
                           "give them the standard AWS way (environment, profile or instance role)")
    bucket, key = parts.netloc, parts.path.strip("/")
    if not bucket:
        raise StorageError(f"no bucket in {location!r}: use s3://bucket/prefix")
    if key and any(part in ("", ".", "..") for part in key.split("/")):
        raise StorageError(f"{location!r}: empty, '.' or '..' parts in the key prefix")
    return f"s3://{bucket}/{key}" if key else f"s3://{bucket}"


def join(location: str, *parts: str) -> str:
    if is_url(location):
        return "/".join([location.rstrip("/"), *parts])
    return str(Path(location).joinpath(*parts))


def is_within(location: str, root: str) -> bool:
    """True when `location` is `root` or lies under it (both normalized)."""
    if is_url(location) != is_url(root):
        return False
    if is_url(location):
        return location == root or location.startswith(root.rstrip("/") + "/")
    return Path(location).resolve().is_relative_to(Path(root).resolve())


def _s3(quick: bool = False):
    import s3fs

    # No listing cache: a listing must show what is there now, not what was there a moment ago.
    if not quick:
        return s3fs.S3FileSystem(use_listings_cache=False)
    # For the checks before a job starts: a wrong endpoint answers in seconds, not after minutes of retries.
    fs = s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True,
                           config_kwargs={"connect_timeout": 5, "read_timeout": 20, "retries": {"max_attempts": 2}})
    fs.retries = 1
    return fs


def filesystem(location: str):
    """(fsspec filesystem, path within it) for a location."""
    if is_url(location):
        return _s3(), location.split("://", 1)[1]
    from fsspec.implementations.local import LocalFileSystem

    return LocalFileSystem(), location


def _connection_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import ConnectionError as BotoConnectionError, NoCredentialsError

    return BotoConnectionError, NoCredentialsError


def _as_os_error(exc: BaseException) -> OSError:
    """botocore's own errors (endpoint unreachable, no credentials found) as OSErrors, so that
    callers handle every storage failure alike: unreachable is a ConnectionError (worth retrying),
    no credentials a PermissionError (it will not heal)."""
    from botocore.exceptions import NoCredentialsError

    kind = PermissionError if isinstance(exc, NoCredentialsError) else ConnectionError
    return kind(redact(str(exc)))


@contextmanager
def _as_os_errors():
    """Turns botocore's own errors raised in the block into OSErrors (see _as_os_error)."""
    try:
        yield
    except _connection_errors() as exc:
        raise _as_os_error(exc) from exc


def write_whole(location: str, write: Callable[[BinaryIO], None]) -> None:
    """Calls `write` and stores what it wrote at `location` as one whole file or object: readers
    see the previous content or the new one, never a part; a writer that dies midway leaves
    nothing visible. Writing the same bytes again (a redelivered batch) changes nothing."""
    if not is_url(location):
        write_atomic(Path(location), write)
        return
    buffer = io.BytesIO()
    write(buffer)
    fs, path = filesystem(location)
    with _as_os_errors():
        fs.pipe_file(path, buffer.getvalue())


def read_bytes(location: str) -> bytes:
    fs, path = filesystem(location)
    with _as_os_errors():
        return fs.cat_file(path)


def read_many(locations: list[str]) -> list[bytes]:
    """The contents of several files or objects, in the order given. On S3 the requests run
    concurrently (s3fs batches them), which is what makes reading thousands of small objects
    take seconds rather than minutes."""
    if not locations or not is_url(locations[0]):
        return [Path(location).read_bytes() for location in locations]
    fs, _ = filesystem(locations[0])
    paths = [location.split("://", 1)[1] for location in locations]
    with _as_os_errors():
        found = fs.cat(paths, on_error="raise")
    return [found[path] for path in paths]


def open_input(location: str) -> BinaryIO:
    """A remote object opened for reading (seekable, read in blocks)."""
    fs, path = filesystem(location)
    with _as_os_errors():
        return fs.open(path, "rb")


def exists(location: str) -> bool:
    fs, path = filesystem(location)
    with _as_os_errors():
        return fs.exists(path)


def is_file(location: str) -> bool:
    fs, path = filesystem(location)
    with _as_os_errors():
        return fs.isfile(path)


def list_files(location: str) -> list[str]:
    """Every file or object under `location` (a folder or a key prefix), as locations, sorted by
    name: the order never depends on what a server happens to return first."""
    fs, path = filesystem(location)
    with _as_os_errors():
        try:
            found = fs.find(path)
        except FileNotFoundError:
            return []
    prefix = location.split("://", 1)[0] + "://" if is_url(location) else ""
    return sorted(prefix + p for p in found)


def remove_tree(location: str) -> None:
    """Deletes a folder or every object under a key prefix (in bulk requests on S3); one already
    gone is fine (a retried cleanup)."""
    if not is_url(location):
        shutil.rmtree(location, ignore_errors=True)
        return
    fs, path = filesystem(location)
    with _as_os_errors(), suppress(FileNotFoundError):
        fs.rm(path, recursive=True)


def check_writable(location: str | Path) -> str:
    """Proves that a file can be written at (and removed from) the output location, before any
    work is queued; returns the normalized location. Raises PipelineError with one line."""
    location = normalize(location)
    if not is_url(location):
        try:
            Path(location).mkdir(parents=True, exist_ok=True)
            fd, local_probe = tempfile.mkstemp(prefix=".write-check-", dir=location)
            os.close(fd)
            os.unlink(local_probe)
        except OSError as exc:
            raise PipelineError(f"cannot write to the output folder {location}: {exc.strerror or exc}") from None
        return location
    # Beside the datasets, never inside one: readers never list it, and it is gone at once.
    probe = join(location, "_write-check", secrets.token_hex(8))
    fs, path = _s3(quick=True), probe.split("://", 1)[1]
    try:
        fs.pipe_file(path, b"")
        fs.rm_file(path)
    except (OSError, *_connection_errors()) as exc:
        raise PipelineError(f"cannot write to the output {location}: {_reason(exc)}") from None
    return location


def check_readable(location: str) -> None:
    """Raises InputError with one line when a remote input cannot be found or read."""
    fs, path = _s3(quick=True), location.split("://", 1)[1]
    try:
        found = fs.exists(path)
    except (OSError, *_connection_errors()) as exc:
        raise InputError(f"cannot read input {location}: {_reason(exc)}") from None
    if not found:
        raise InputError(f"input not found: {location}")


def _reason(exc: BaseException) -> str:
    text = redact(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
    if isinstance(exc, PermissionError):
        text += " (check the credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the instance role)"
    elif isinstance(exc, FileNotFoundError):
        text += " (no such bucket?)"
    elif not isinstance(exc, OSError) or isinstance(exc, ConnectionError):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        text += f" (endpoint {redact(endpoint)}; set AWS_ENDPOINT_URL for an S3-compatible service)" if endpoint else ""
    return text


def arrow_filesystem(location: str):
    """(pyarrow filesystem, path within it) for a location, for pyarrow.dataset and friends."""
    import pyarrow.fs as pafs

    if not is_url(location):
        return pafs.LocalFileSystem(), Path(location).resolve().as_posix()
    fs, path = filesystem(location)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def read_parquet(location: str, **kwargs):
    """A Parquet dataset (a folder or key prefix of files, hive partitions such as job_id=...) as a
    pandas DataFrame; `kwargs` go to pandas.read_parquet (filters, columns)."""
    import pandas as pd

    if not is_url(location):
        return pd.read_parquet(location, **kwargs)
    fs, path = filesystem(location)
    return pd.read_parquet(path, filesystem=fs, **kwargs)


def local_state_dir(location: str) -> Path:
    """A local folder for what `nlp-pipeline run` keeps beside an output that is not a local
    folder (its broker's append-only file, its logs): $XDG_STATE_HOME/nlp-pipeline/<hash>, by
    default ~/.local/state/nlp-pipeline/<hash>. The same URL gives the same folder, so `run --job`
    finds the job again."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "nlp-pipeline" / hashlib.sha256(location.encode()).hexdigest()[:16]
