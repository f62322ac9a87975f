"""The s3:// backend against a real S3 server (SeaweedFS): the same guarantees as file://."""

from __future__ import annotations

import http.client
import http.server
import os
import threading

import pyarrow as pa
import pytest

from generec_core import storage
from generec_core.config import StorageConfig
from generec_core.datasets.layout import safe_name
from generec_core.storage import (
    InvalidKey,
    ObjectNotFound,
    PreconditionFailed,
    StorageAuthError,
    join,
    list_uris,
    read_parquet,
    storage_for,
    write_parquet,
)

pytestmark = pytest.mark.s3

HOSTILE_IDS = ["../../etc/passwd", "/abs/path", "a\x00b", "x" * 5000, "vidéo-猫-🙂", ".", "..", "CURRENT",
               "catalog/CURRENT", "a/../../b", " ", "%2e%2e%2f"]


@pytest.fixture
def small_multipart() -> StorageConfig:
    """Multipart above 5 MiB in 5 MiB parts (S3's minimum part size)."""
    return StorageConfig(multipart_threshold_mb=5, multipart_chunk_mb=5)


def test_round_trip_listing_and_parquet(s3):
    _, root = s3
    store = storage_for(root)
    store.write_bytes(join(root, "dt=1/a.bin"), b"one")
    store.write_bytes(join(root, "dt=10/b.bin"), b"ten")
    assert store.read_bytes(join(root, "dt=1/a.bin")) == b"one"
    assert [o.uri.rsplit("/", 2)[-2] for o in store.list(join(root, "dt=1"))] == ["dt=1"]  # not dt=10
    table = pa.table({"x": [1, 2, 3]})
    write_parquet(join(root, "t/one.parquet"), table)
    assert read_parquet(join(root, "t/one.parquet")).equals(table)  # a single object, not only a folder
    assert read_parquet(join(root, "t")).equals(table)
    info = store.head(join(root, "dt=1/a.bin"))
    assert info.size == 3 and info.mtime > 0
    assert store.head(join(root, "missing")) is None
    with pytest.raises(ObjectNotFound):
        store.read_bytes(join(root, "missing"))


def test_create_only_and_compare_and_swap_map_to_412(s3):
    _, root = s3
    store, uri = storage_for(root), join(root, "catalog/CURRENT")
    v1 = store.write_bytes(uri, b"v1", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.write_bytes(uri, b"again", if_none_match=True)
    store.write_bytes(uri, b"v2", if_match=v1)
    with pytest.raises(PreconditionFailed):
        store.write_bytes(uri, b"v3", if_match=v1)
    assert store.read_bytes(uri) == b"v2"


def test_large_objects_go_up_in_parts_and_failed_ones_leave_nothing(s3, small_multipart):
    _, root = s3
    store, uri = storage_for(root, small_multipart), join(root, "catalog/assets/big.mp4")
    data = os.urandom(11 * 2**20)
    seen = []
    etag = store.write_bytes(uri, data, if_none_match=True, progress=lambda done, total: seen.append(done))
    assert etag.endswith("-3"), etag  # three parts: 5 + 5 + 1 MiB
    assert seen == [5 * 2**20, 10 * 2**20, 11 * 2**20]
    assert store.read_bytes(uri) == data
    with pytest.raises(PreconditionFailed):  # create-only holds for multipart too
        store.write_bytes(uri, os.urandom(6 * 2**20), if_none_match=True)
    assert store.read_bytes(uri) == data
    assert store.pending_writes(join(root, "catalog")) == []  # the losing upload was aborted


def test_pending_writes_finds_an_abandoned_upload(s3):
    server, root = s3
    bucket = root.split("/")[2]
    server.client().create_multipart_upload(Bucket=bucket, Key="generec/catalog/assets/x.mp4")
    store = storage_for(root)
    pending = store.pending_writes(join(root, "catalog"))
    assert [p.uri for p in pending] == [join(root, "catalog/assets/x.mp4")]
    store.abort(pending[0])
    assert store.pending_writes(join(root, "catalog")) == []


@pytest.mark.parametrize("bad", ["secret", "key"])
def test_wrong_credentials_give_a_clear_error_without_the_secret(s3, monkeypatch, bad):
    server, root = s3
    wrong = "WRONGsecretVALUE0123456789abcdef"
    if bad == "secret":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    else:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKNOTAREALKEY123")
    for call in (lambda: storage_for(root).read_bytes(join(root, "x")),
                 lambda: storage_for(root).list(root),
                 lambda: storage_for(root).head(join(root, "x")),
                 lambda: storage_for(root).write_bytes(join(root, "x"), b"1")):
        with pytest.raises(StorageAuthError) as info:
            call()
        text = str(info.value)
        assert "credentials" in text and root.split("/")[2] in text
        for secret in (wrong, server.secret_key, "AKNOTAREALKEY123", server.access_key):
            assert secret not in text
        assert info.value.__cause__ is None and info.value.__context__ is None or \
            secret not in repr(info.value.__context__)


def test_missing_credentials_and_missing_bucket(s3, monkeypatch, tmp_path):
    _, root = s3
    with pytest.raises(storage.StorageError, match="does not exist"):
        storage_for("s3://no-such-bucket-zz/x").read_bytes("s3://no-such-bucket-zz/x")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StorageAuthError, match="no usable AWS credentials"):
        storage_for(root).read_bytes(join(root, "x"))


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers the first ``failures`` requests with 503 SlowDown, then forwards to the real server."""

    upstream: tuple[str, int]
    failures = 0
    seen = 0

    def _handle(self) -> None:
        cls = type(self)
        cls.seen += 1
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if cls.seen <= cls.failures:
            msg = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        conn = http.client.HTTPConnection(*cls.upstream, timeout=30)
        conn.request(self.command, self.path, body=body, headers=dict(self.headers))
        resp = conn.getresponse()
        payload = resp.read()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _handle

    def log_message(self, *args) -> None:
        pass


def test_transient_errors_are_retried_with_backoff(s3, monkeypatch):
    server, root = s3
    host, port = server.endpoint.removeprefix("http://").split(":")
    handler = type("Flaky", (_Flaky,), {"upstream": (host, int(port)), "failures": 2, "seen": 0})
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.server_address[1]}")
        storage_for(root).write_bytes(join(root, "flaky.bin"), b"payload")
        assert handler.seen == 3  # two 503s, then the real write
        assert storage_for(root).read_bytes(join(root, "flaky.bin")) == b"payload"
        handler.failures, handler.seen = 100, 0
        with pytest.raises(storage.StorageError, match="SlowDown"):
            storage_for(root, StorageConfig(max_attempts=2)).read_bytes(join(root, "flaky.bin"))
        assert handler.seen == 2
    finally:
        proxy.shutdown()


@pytest.mark.parametrize("item_id", HOSTILE_IDS)
def test_hostile_ids_become_safe_keys_and_raw_ones_are_rejected(s3, item_id):
    server, root = s3
    uri = join(root, "work/staged", f"{safe_name(item_id)}.jpg")
    storage_for(uri).write_bytes(uri, b"jpeg")
    (listed,) = list_uris(join(root, "work/staged"))
    assert listed == uri and storage_for(uri).read_bytes(uri) == b"jpeg"
    storage_for(uri).delete(uri)
    raw = join(root, "work/staged", f"{item_id}.jpg")
    key = raw.split("/", 3)[3]
    if "\x00" in key or {".", ".."} & set(key.split("/")) or len(key.encode()) > 1024:
        with pytest.raises(InvalidKey):
            storage_for(raw).write_bytes(raw, b"x")
    else:  # a raw id that is a valid key still cannot leave the prefix it was joined under
        storage_for(raw).write_bytes(raw, b"x")
        keys = [o["Key"] for o in server.client().list_objects_v2(Bucket=root.split("/")[2])["Contents"]]
        assert keys == [key]
