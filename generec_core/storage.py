"""One storage abstraction keyed by URI, so no stage knows where the data lives.

``file://`` is the embedded default; ``s3://bucket/prefix`` goes through boto3 (credentials
from boto3's own chain, ``AWS_ENDPOINT_URL`` for S3-compatible stores). Both backends
offer the two conditional writes the publish protocol relies on: create-only
(``if_none_match``) and compare-and-swap on a version tag (``if_match``).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq


class PreconditionFailed(RuntimeError):
    """A conditional write lost: the object exists (create-only) or changed (compare-and-swap)."""


class ObjectNotFound(FileNotFoundError):
    pass


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


class Storage(Protocol):
    def read_bytes(self, uri: str) -> bytes: ...
    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False,
                    if_match: str | None = None) -> str: ...
    def head(self, uri: str) -> ObjectInfo | None: ...
    def list(self, prefix_uri: str) -> list[ObjectInfo]: ...
    def delete(self, uri: str) -> None: ...


def _etag(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


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
        return Path(uri[len("file://"):])

    def read_bytes(self, uri: str) -> bytes:
        try:
            return self.path(uri).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectNotFound(uri) from exc

    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False,
                    if_match: str | None = None) -> str:
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
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
    def _lock(target: Path):
        class _Lock:
            def __enter__(self_inner):
                self_inner.fh = open(target.parent / f".{target.name}.lock", "a+")
                fcntl.flock(self_inner.fh, fcntl.LOCK_EX)

            def __exit__(self_inner, *exc):
                fcntl.flock(self_inner.fh, fcntl.LOCK_UN)
                self_inner.fh.close()
        return _Lock()

    def head(self, uri: str) -> ObjectInfo | None:
        p = self.path(uri)
        if not p.is_file():
            return None
        data = p.read_bytes()
        return ObjectInfo(uri, len(data), _etag(data))

    def list(self, prefix_uri: str) -> list[ObjectInfo]:
        base = self.path(prefix_uri)
        if base.is_file():
            return [ObjectInfo(file_uri(base), base.stat().st_size, "")]
        if not base.is_dir():
            return []
        out = []
        for p in sorted(base.rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                out.append(ObjectInfo(file_uri(p), p.stat().st_size, ""))
        return out

    def delete(self, uri: str) -> None:
        try:
            self.path(uri).unlink()
        except FileNotFoundError:
            pass


class S3Storage:
    """``s3://`` backend on boto3; conditional writes map to S3's IfNoneMatch / IfMatch."""

    def __init__(self) -> None:
        import boto3  # deferred: the file:// default never needs it

        self._client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)

    @staticmethod
    def split(uri: str) -> tuple[str, str]:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
        return parsed.netloc, parsed.path.lstrip("/")

    def read_bytes(self, uri: str) -> bytes:
        bucket, key = self.split(uri)
        try:
            return self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self._client.exceptions.NoSuchKey as exc:
            raise ObjectNotFound(uri) from exc

    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False,
                    if_match: str | None = None) -> str:
        from botocore.exceptions import ClientError

        bucket, key = self.split(uri)
        kwargs: dict = {"Bucket": bucket, "Key": key, "Body": data}
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        try:
            resp = self._client.put_object(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                raise PreconditionFailed(f"{uri}: conditional write lost ({code})") from None
            raise
        return resp["ETag"].strip('"')

    def head(self, uri: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        bucket, key = self.split(uri)
        try:
            resp = self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(uri, resp["ContentLength"], resp["ETag"].strip('"'))

    def list(self, prefix_uri: str) -> list[ObjectInfo]:
        bucket, prefix = self.split(prefix_uri)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        out = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out.append(ObjectInfo(f"s3://{bucket}/{obj['Key']}", obj["Size"], obj["ETag"].strip('"')))
        return out

    def delete(self, uri: str) -> None:
        bucket, key = self.split(uri)
        self._client.delete_object(Bucket=bucket, Key=key)


def storage_for(uri: str) -> Storage:
    scheme = urlparse(uri).scheme
    if scheme == "file":
        return LocalStorage()
    if scheme == "s3":
        return S3Storage()
    raise ValueError(f"unsupported storage URI {uri!r}: use file:// or s3://")


# --- conveniences built on the protocol -------------------------------------------------

def read_text(uri: str) -> str:
    return storage_for(uri).read_bytes(uri).decode("utf-8")


def write_text(uri: str, text: str) -> None:
    storage_for(uri).write_bytes(uri, text.encode("utf-8"))


def exists(uri: str) -> bool:
    return storage_for(uri).head(uri) is not None


def list_uris(prefix_uri: str, suffix: str = "") -> list[str]:
    return [o.uri for o in storage_for(prefix_uri).list(prefix_uri) if o.uri.endswith(suffix)]


def delete_prefix(prefix_uri: str) -> int:
    store = storage_for(prefix_uri)
    objs = store.list(prefix_uri)
    for obj in objs:
        store.delete(obj.uri)
    return len(objs)


def write_parquet(uri: str, table: pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    storage_for(uri).write_bytes(uri, buf.getvalue())


def read_parquet(uri: str) -> pa.Table:
    """Read one Parquet file, or every ``*.parquet`` below a prefix (Spark-style folders)."""
    store = storage_for(uri)
    files = [o.uri for o in store.list(uri) if o.uri.endswith(".parquet")]
    if not files:
        raise ObjectNotFound(f"no Parquet data at {uri}")
    tables = [pq.read_table(io.BytesIO(store.read_bytes(f))) for f in files]
    return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]


def local_dir(uri: str) -> Path:
    """The local directory behind a ``file://`` URI (for tools such as Spark that want paths)."""
    return LocalStorage.path(uri)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def iter_jsonl(uri: str) -> Iterator[bytes]:
    """Raw lines of every ``*.jsonl`` under a prefix, in a stable order."""
    for f in list_uris(uri, ".jsonl"):
        yield from storage_for(f).read_bytes(f).splitlines()


def is_missing(exc: BaseException) -> bool:
    return isinstance(exc, (ObjectNotFound, FileNotFoundError)) or getattr(exc, "errno", None) == errno.ENOENT
