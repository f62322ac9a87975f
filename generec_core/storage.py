"""One storage abstraction keyed by URI, so no stage knows where the data lives.

``file://`` is the embedded default; ``s3://bucket/prefix`` goes through boto3 (credentials
from boto3's own chain, ``AWS_ENDPOINT_URL`` or ``storage.endpoint_url`` for S3-compatible
stores). Both backends offer what the publish protocol relies on: whole-object atomic writes,
create-only writes (``if_none_match``), compare-and-swap on a version tag (``if_match``), and
a way to find writes that started and never finished (``pending_writes``) so gc can clean
them. Errors name the URI and the fix, never a credential.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import mimetypes
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from generec_core.config import StorageConfig


class StorageError(RuntimeError):
    """An object-store call failed for a reason a person must fix; names the URI, never a secret."""


class StorageAuthError(StorageError):
    """The store refused (or could not find) the credentials."""


class PreconditionFailed(RuntimeError):
    """A conditional write lost: the object exists (create-only) or changed (compare-and-swap)."""


class ObjectNotFound(FileNotFoundError):
    pass


class InvalidKey(ValueError):
    """A URI whose path could escape its prefix or that the store cannot hold (``..``, NUL, too long)."""


Progress = Callable[[int, int], None]
"""``progress(bytes_staged, bytes_total)``: called as a write stages bytes, before the object is
visible (a temp file, multipart parts). Single-request S3 puts stage nothing and report nothing."""


def join(base: str, *parts: str) -> str:
    """Join URI path parts with '/', never producing '//' inside the path."""
    out = base.rstrip("/")
    for part in parts:
        part = part.strip("/")
        if part:
            out = f"{out}/{part}"
    return out


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    size: int
    etag: str
    mtime: float = 0.0  # seconds since the epoch; 0.0 where unknown


@dataclass(frozen=True)
class PendingWrite:
    """A write that started and never committed: a temp file, an incomplete multipart upload."""

    uri: str  # the object it was meant to become
    started: float  # seconds since the epoch
    handle: str  # backend-specific: temp file path or multipart upload id


class Storage(Protocol):
    def read_bytes(self, uri: str) -> bytes: ...
    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False,
                    if_match: str | None = None, progress: Progress | None = None) -> str: ...
    def head(self, uri: str) -> ObjectInfo | None: ...
    def list(self, prefix_uri: str) -> list[ObjectInfo]: ...
    def delete(self, uri: str) -> None: ...
    def pending_writes(self, prefix_uri: str) -> list[PendingWrite]: ...
    def abort(self, pending: PendingWrite) -> None: ...


def _etag(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def check_key(key: str, uri: str) -> str:
    """Reject object paths that could escape their prefix or that a store cannot represent.

    Names derived from ids go through ``items.safe_name`` first; this is the last line of
    defence, so that a bug upstream fails loudly instead of writing outside the root.
    """
    if "\x00" in key:
        raise InvalidKey(f"object path contains a NUL byte: {uri!r}")
    if any(seg in (".", "..") for seg in key.split("/")):
        raise InvalidKey(f"object path contains a '.' or '..' segment: {uri!r}")
    if len(key.encode("utf-8", "surrogatepass")) > 1024:
        raise InvalidKey(f"object path longer than 1024 bytes (S3's limit): {uri[:120]!r}...")
    return key


def file_uri(path: Path | str) -> str:
    """``file://`` + absolute path, deliberately not percent-escaped.

    Keys such as ``dt=2026-11-24`` or ``run=...`` must read the same in a URI as on disk,
    so that joining, listing and string matching agree (``Path.as_uri`` would escape '=').
    """
    return "file://" + str(Path(path).resolve())


class LocalStorage:
    """``file://`` backend: atomic via temp file + rename, conditional writes under a lock file."""

    @staticmethod
    def path(uri: str) -> Path:
        """File URIs here are ``file://`` + the absolute path, unescaped (see ``file_uri``)."""
        if not uri.startswith("file:///"):
            raise ValueError(f"not a file:///absolute/path URI: {uri!r}")
        key = check_key(uri[len("file://"):], uri)
        if any(len(seg.encode("utf-8", "surrogatepass")) > 255 for seg in key.split("/")):
            raise InvalidKey(f"a path segment is longer than 255 bytes: {uri[:120]!r}...")
        return Path(key)

    def read_bytes(self, uri: str) -> bytes:
        try:
            return self.path(uri).read_bytes()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(uri) from exc

    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False,
                    if_match: str | None = None, progress: Progress | None = None) -> str:
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if progress is not None:
                progress(len(data), len(data))
            if if_none_match:
                try:
                    os.link(tmp, target)  # atomic create-only
                except FileExistsError as exc:
                    raise PreconditionFailed(f"{uri} already exists") from exc
            elif if_match is not None:
                with self._lock(target):
                    current = self.head(uri)
                    if current is None or current.etag != if_match:
                        raise PreconditionFailed(f"{uri} changed since it was read")
                    os.replace(tmp, target)
            else:
                os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return _etag(data)

    @staticmethod
    @contextlib.contextmanager
    def _lock(target: Path) -> Iterator[None]:
        """An exclusive lock beside the target, held across processes (flock) for compare-and-swap."""
        with open(target.parent / f".{target.name}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def head(self, uri: str) -> ObjectInfo | None:
        p = self.path(uri)
        if not p.is_file():
            return None
        data = p.read_bytes()
        return ObjectInfo(uri, len(data), _etag(data), p.stat().st_mtime)

    def list(self, prefix_uri: str) -> list[ObjectInfo]:
        base = self.path(prefix_uri)
        if base.is_file():
            st = base.stat()
            return [ObjectInfo(file_uri(base), st.st_size, "", st.st_mtime)]
        if not base.is_dir():
            return []
        out = []
        for p in sorted(base.rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                st = p.stat()
                out.append(ObjectInfo(file_uri(p), st.st_size, "", st.st_mtime))
        return out

    def delete(self, uri: str) -> None:
        try:
            self.path(uri).unlink()
        except FileNotFoundError:
            pass

    def pending_writes(self, prefix_uri: str) -> list[PendingWrite]:
        """Temp files a killed writer left behind (``.<name>.<random>.tmp``)."""
        base = self.path(prefix_uri)
        if not base.is_dir():
            return []
        out = []
        for p in sorted(base.rglob(".*.tmp")):
            target = p.name[1:].rsplit(".", 2)[0]
            out.append(PendingWrite(file_uri(p.parent / target), p.stat().st_mtime, str(p)))
        return out

    def abort(self, pending: PendingWrite) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pending.handle)


# --- S3 ---------------------------------------------------------------------------------

_clients: dict[str, tuple[object, tuple[str, ...]]] = {}
_clients_lock = threading.Lock()
# Environment that changes which credentials / endpoint boto3 resolves: part of the client cache key.
_CLIENT_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
               "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
               "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")
_AUTH_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                         "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled", "403"})
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412"})
_MISSING_CODES = frozenset({"NoSuchKey", "NotFound", "404"})


def _s3_client(settings: StorageConfig) -> tuple[object, tuple[str, ...]]:
    """One boto3 client per (settings, credential env), plus the secrets to redact from errors.

    Creating a client costs tens of milliseconds; stages reach the store once per object.
    """
    fingerprint = hashlib.sha256(repr((settings, [os.environ.get(k) for k in _CLIENT_ENV])).encode()).hexdigest()
    with _clients_lock:
        cached = _clients.get(fingerprint)
        if cached is None:
            import boto3  # deferred: the file:// default never needs it
            from botocore.config import Config

            endpoint = (settings.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3")
                        or os.environ.get("AWS_ENDPOINT_URL") or None)
            session = boto3.session.Session()
            client = session.client("s3", endpoint_url=endpoint, config=Config(
                retries={"total_max_attempts": settings.max_attempts, "mode": "standard"},
                connect_timeout=10, read_timeout=60,
                # S3-compatible stores on an IP or a private host name want path-style URLs.
                s3={"addressing_style": "path" if endpoint else "auto"},
            ))
            secrets: tuple[str, ...] = ()
            creds = session.get_credentials()
            if creds is not None:
                frozen = creds.get_frozen_credentials()
                secrets = tuple(s for s in (frozen.secret_key, frozen.token, frozen.access_key) if s)
            cached = _clients[fingerprint] = (client, secrets)
    return cached


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class S3Storage:
    """``s3://`` backend on boto3; conditional writes map to S3's IfNoneMatch / IfMatch."""

    def __init__(self, settings: StorageConfig) -> None:
        from botocore.exceptions import BotoCoreError

        try:
            self._client, self._secrets = _s3_client(settings)
        except BotoCoreError as exc:  # e.g. AWS_PROFILE names a profile that does not exist
            raise StorageAuthError(f"cannot set up the S3 client: {type(exc).__name__}: {exc}") from None
        self._settings = settings

    @staticmethod
    def split(uri: str) -> tuple[str, str]:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
        return parsed.netloc, check_key(parsed.path.lstrip("/"), uri)

    @contextlib.contextmanager
    def _errors(self, action: str, uri: str) -> Iterator[None]:
        """Translate botocore failures into this module's errors, with the fix and without secrets."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

        try:
            yield
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code, message = str(err.get("Code", "")), str(err.get("Message", ""))
            if code in _PRECONDITION_CODES:
                raise PreconditionFailed(f"{uri}: conditional write lost ({code})") from None
            if code in _MISSING_CODES:
                raise ObjectNotFound(uri) from None
            if code == "NoSuchBucket":
                raise StorageError(f"{action} {uri}: bucket {urlparse(uri).netloc!r} does not exist") from None
            if code in _AUTH_CODES:
                raise StorageAuthError(_redact(
                    f"{action} {uri}: the S3 store refused the credentials ({code}: {message or 'forbidden'}). "
                    "Check boto3's credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
                    "instance role) or the Airflow connection, and AWS_ENDPOINT_URL for S3-compatible stores",
                    self._secrets)) from None
            raise StorageError(_redact(f"{action} {uri} failed: {code}: {message}", self._secrets)) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise StorageAuthError(
                f"{action} {uri}: no usable AWS credentials found. Set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                "or AWS_PROFILE, or pass an Airflow connection (aws_conn_id)") from None
        except BotoCoreError as exc:
            raise StorageError(_redact(
                f"{action} {uri}: {type(exc).__name__}: {exc} (gave up after "
                f"{self._settings.max_attempts} attempts)", self._secrets)) from None

    def read_bytes(self, uri: str) -> bytes:
        bucket, key = self.split(uri)
        with self._errors("read", uri):
            return self._client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False,
                    if_match: str | None = None, progress: Progress | None = None) -> str:
        bucket, key = self.split(uri)
        kwargs: dict = {"Bucket": bucket, "Key": key}
        content_type = mimetypes.guess_type(key)[0]
        if content_type:
            kwargs["ContentType"] = content_type
        condition: dict = {}
        if if_none_match:
            condition["IfNoneMatch"] = "*"
        if if_match is not None:
            condition["IfMatch"] = if_match
        with self._errors("write", uri):
            if len(data) > self._settings.multipart_threshold_mb * 2**20:
                return self._write_multipart(kwargs, data, condition, progress)
            resp = self._client.put_object(Body=data, **kwargs, **condition)
        return resp["ETag"].strip('"')

    def _write_multipart(self, kwargs: dict, data: bytes, condition: dict, progress: Progress | None) -> str:
        """Large objects go up in parts; the condition applies to the completing call.

        Until ``CompleteMultipartUpload`` succeeds nothing is visible; a failed upload is
        aborted, and one whose writer was killed is found by ``pending_writes`` (gc).
        """
        chunk = self._settings.multipart_chunk_mb * 2**20
        upload_id = self._client.create_multipart_upload(**kwargs)["UploadId"]
        target = {"Bucket": kwargs["Bucket"], "Key": kwargs["Key"], "UploadId": upload_id}
        view = memoryview(data)
        try:
            parts = []
            for number, start in enumerate(range(0, len(data), chunk), start=1):
                resp = self._client.upload_part(**target, PartNumber=number, Body=bytes(view[start:start + chunk]))
                parts.append({"PartNumber": number, "ETag": resp["ETag"]})
                if progress is not None:
                    progress(min(start + chunk, len(data)), len(data))
            resp = self._client.complete_multipart_upload(**target, MultipartUpload={"Parts": parts}, **condition)
        except BaseException:
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(**target)
            raise
        return resp["ETag"].strip('"')

    def head(self, uri: str) -> ObjectInfo | None:
        bucket, key = self.split(uri)
        try:
            with self._errors("head", uri):
                resp = self._client.head_object(Bucket=bucket, Key=key)
        except ObjectNotFound:
            return None
        return ObjectInfo(uri, resp["ContentLength"], resp["ETag"].strip('"'), resp["LastModified"].timestamp())

    def list(self, prefix_uri: str) -> list[ObjectInfo]:
        """The object at ``prefix_uri`` itself, or every object below it as a folder (not 'dt=1' for 'dt=10')."""
        bucket, prefix = self.split(prefix_uri)
        prefix = prefix.rstrip("/")
        out = []
        with self._errors("list", prefix_uri):
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    inside = not prefix or key == prefix or key.startswith(prefix + "/")
                    if inside and not key.rsplit("/", 1)[-1].startswith("."):
                        out.append(ObjectInfo(f"s3://{bucket}/{key}", obj["Size"], obj["ETag"].strip('"'),
                                              obj["LastModified"].timestamp()))
        return out

    def delete(self, uri: str) -> None:
        bucket, key = self.split(uri)
        with self._errors("delete", uri):
            self._client.delete_object(Bucket=bucket, Key=key)

    def pending_writes(self, prefix_uri: str) -> list[PendingWrite]:
        """Incomplete multipart uploads below the prefix (invisible, but they cost storage)."""
        bucket, prefix = self.split(prefix_uri)
        out = []
        with self._errors("list uploads", prefix_uri):
            for page in self._client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
                for up in page.get("Uploads", []):
                    out.append(PendingWrite(f"s3://{bucket}/{up['Key']}", up["Initiated"].timestamp(), up["UploadId"]))
        return out

    def abort(self, pending: PendingWrite) -> None:
        bucket, key = self.split(pending.uri)
        with self._errors("abort upload", pending.uri):
            self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=pending.handle)


def storage_for(uri: str, settings: StorageConfig | None = None) -> Storage:
    """The backend for a URI's scheme, with ``settings`` (the defaults when None)."""
    scheme = urlparse(uri).scheme
    if scheme == "file":
        return LocalStorage()
    if scheme == "s3":
        return S3Storage(settings or StorageConfig())
    raise ValueError(f"unsupported storage URI {uri!r}: use file:// or s3://")


@dataclass(frozen=True)
class Store:
    """Every read and write of a run, with the run's storage settings (``config.storage``).

    Passed to whoever touches storage (``datasets.Layout`` carries one), so settings travel with
    the run instead of living in a process-wide variable that each stage had to set first.
    """

    settings: StorageConfig = field(default_factory=StorageConfig)

    def backend(self, uri: str) -> Storage:
        return storage_for(uri, self.settings)

    def read_bytes(self, uri: str) -> bytes:
        return self.backend(uri).read_bytes(uri)

    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None,
                    progress: Progress | None = None) -> str:
        return self.backend(uri).write_bytes(uri, data, if_none_match=if_none_match, if_match=if_match,
                                             progress=progress)

    def head(self, uri: str) -> ObjectInfo | None:
        return self.backend(uri).head(uri)

    def exists(self, uri: str) -> bool:
        return self.head(uri) is not None

    def list(self, prefix_uri: str) -> list[ObjectInfo]:
        return self.backend(prefix_uri).list(prefix_uri)

    def list_uris(self, prefix_uri: str, suffix: str = "") -> list[str]:
        return [o.uri for o in self.list(prefix_uri) if o.uri.endswith(suffix)]

    def delete(self, uri: str) -> None:
        self.backend(uri).delete(uri)

    def delete_prefix(self, prefix_uri: str) -> int:
        objs = self.list(prefix_uri)
        for obj in objs:
            self.delete(obj.uri)
        return len(objs)

    def pending_writes(self, prefix_uri: str) -> list[PendingWrite]:
        return self.backend(prefix_uri).pending_writes(prefix_uri)

    def abort(self, pending: PendingWrite) -> None:
        self.backend(pending.uri).abort(pending)

    def read_text(self, uri: str) -> str:
        return self.read_bytes(uri).decode("utf-8")

    def write_text(self, uri: str, text: str) -> None:
        self.write_bytes(uri, text.encode("utf-8"))

    def read_parquet(self, uri: str, columns: list[str] | None = None) -> pa.Table:
        """One Parquet file, or every ``*.parquet`` below a prefix (Spark-style folders)."""
        files = self.list_uris(uri, ".parquet")
        if not files:
            raise ObjectNotFound(f"no Parquet data at {uri}")
        tables = [parquet_from_bytes(self.read_bytes(f), columns) for f in files]
        return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]

    def write_parquet(self, uri: str, table: pa.Table) -> None:
        self.write_bytes(uri, parquet_bytes(table))

    def iter_jsonl(self, prefix_uri: str) -> Iterator[bytes]:
        """Raw lines of every ``*.jsonl`` under a prefix, in a stable order."""
        for f in self.list_uris(prefix_uri, ".jsonl"):
            yield from self.read_bytes(f).splitlines()

    @contextlib.contextmanager
    def local_file(self, uri: str) -> Iterator[Path]:
        """A local path for tools that need one (PyAV, ffmpeg): the file itself, or a temp copy."""
        if uri.startswith("file://"):
            yield LocalStorage.path(uri)
            return
        with tempfile.NamedTemporaryFile(suffix=os.path.splitext(uri)[1]) as tmp:
            tmp.write(self.read_bytes(uri))
            tmp.flush()
            yield Path(tmp.name)


# --- conveniences with the default settings, for tests and tools (the pipeline passes a Store) ---

_DEFAULT = Store()
read_text = _DEFAULT.read_text
write_text = _DEFAULT.write_text
exists = _DEFAULT.exists
list_uris = _DEFAULT.list_uris
delete_prefix = _DEFAULT.delete_prefix
write_parquet = _DEFAULT.write_parquet
read_parquet = _DEFAULT.read_parquet
iter_jsonl = _DEFAULT.iter_jsonl


def parquet_bytes(table: pa.Table) -> bytes:
    """Serialise a table the way the pipeline stores it (zstd); same table -> same bytes."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def parquet_from_bytes(data: bytes, columns: list[str] | None = None) -> pa.Table:
    """Decode a Parquet file already in memory, on the calling thread.

    The bytes are already here, so Arrow's I/O and CPU thread pools buy nothing for our
    small per-run files, and they cost a crash: a pool worker still alive when the
    interpreter finalises makes libstdc++ abort the finished process ("terminate called
    without an active exception", apache/arrow#34314) — one ``generec catalog diff`` in
    six did so on CI's machine before this read went single-threaded.
    """
    return pq.read_table(io.BytesIO(data), columns=columns, use_threads=False, pre_buffer=False)


def local_dir(uri: str) -> Path:
    """The local directory behind a ``file://`` URI (for tools such as Spark that want paths)."""
    return LocalStorage.path(uri)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_missing(exc: BaseException) -> bool:
    return isinstance(exc, (ObjectNotFound, FileNotFoundError)) or getattr(exc, "errno", None) == errno.ENOENT
