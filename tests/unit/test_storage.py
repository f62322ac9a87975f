"""The file:// backend keeps the publish protocol's guarantees: create-only and compare-and-swap."""

import dataclasses
import threading

import pytest

from generec_core.config import PipelineConfig
from generec_core.spark_mirror import needs_mirror
from generec_core.storage import (InvalidKey, LocalStorage, PreconditionFailed, check_key, join, list_uris, read_parquet,
                                  write_parquet)

import pyarrow as pa


def test_create_only_never_overwrites(tmp_path):
    store, uri = LocalStorage(), (tmp_path / "a/b.bin").as_uri()
    store.write_bytes(uri, b"one", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.write_bytes(uri, b"two", if_none_match=True)
    assert store.read_bytes(uri) == b"one"


def test_compare_and_swap_rejects_a_stale_version(tmp_path):
    store, uri = LocalStorage(), (tmp_path / "CURRENT").as_uri()
    v1 = store.write_bytes(uri, b"v1")
    store.write_bytes(uri, b"v2", if_match=v1)
    with pytest.raises(PreconditionFailed):
        store.write_bytes(uri, b"v3", if_match=v1)
    assert store.read_bytes(uri) == b"v2"


def test_racing_swaps_have_exactly_one_winner(tmp_path):
    store, uri = LocalStorage(), (tmp_path / "CURRENT").as_uri()
    base = store.write_bytes(uri, b"base")
    results = []

    def swap(i):
        try:
            store.write_bytes(uri, f"w{i}".encode(), if_match=base)
            results.append("won")
        except PreconditionFailed:
            results.append("lost")

    threads = [threading.Thread(target=swap, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("won") == 1 and results.count("lost") == 7


def test_no_temp_files_left_and_parquet_round_trip(tmp_path):
    root = tmp_path.as_uri()
    table = pa.table({"x": [1, 2, 3]})
    write_parquet(join(root, "t/part.parquet"), table)
    assert read_parquet(join(root, "t")).equals(table)
    assert [u.rsplit("/", 1)[-1] for u in list_uris(root)] == ["part.parquet"]



def test_when_to_mirror():
    s3 = PipelineConfig.from_dict({"root": "s3://bucket/generec"})
    assert needs_mirror(s3)  # local[2] Spark cannot read s3a:// here
    assert not needs_mirror(PipelineConfig.from_dict({"root": "/tmp/world"}))
    cluster = dataclasses.replace(s3, features=dataclasses.replace(s3.features, spark_master="spark://head:7077"))
    assert not needs_mirror(cluster)  # a cluster image ships hadoop-aws: s3a:// directly
    assert needs_mirror(dataclasses.replace(cluster, storage=dataclasses.replace(cluster.storage, spark_io="mirror")))
    assert not needs_mirror(dataclasses.replace(s3, storage=dataclasses.replace(s3.storage, spark_io="direct")))
    with pytest.raises(ValueError, match="spark_io"):
        PipelineConfig.from_dict({"root": "/tmp/world", "storage": {"spark_io": "s3a"}})


def test_keys_that_could_escape_or_break_a_store_are_rejected(tmp_path):
    store = LocalStorage()
    for bad in ("a/../b", "a/./b", "nul\x00byte", "x" * 300):
        with pytest.raises(InvalidKey):
            store.write_bytes(join(tmp_path.as_uri(), bad), b"x")
    with pytest.raises(InvalidKey):
        check_key("k" * 1025, "s3://b/" + "k" * 1025)
    assert check_key("dt=2026-11-24/~2E~2E-x.jpg", "s3://b/k") == "dt=2026-11-24/~2E~2E-x.jpg"


def test_a_killed_write_leaves_only_a_pending_temp_file(tmp_path):
    store, uri = LocalStorage(), join(tmp_path.as_uri(), "catalog/assets/abc.jpg")

    def die(done: int, total: int) -> None:
        raise KeyboardInterrupt  # what a kill between staging and commit looks like to the writer

    with pytest.raises(KeyboardInterrupt):
        store.write_bytes(uri, b"jpeg", if_none_match=True, progress=die)
    assert store.head(uri) is None and list_uris(tmp_path.as_uri()) == []
    (tmp_path / "catalog/assets/.abc.jpg.k1lled.tmp").write_bytes(b"partial")  # as os._exit would leave it
    (pending,) = store.pending_writes(join(tmp_path.as_uri(), "catalog"))
    assert pending.uri == uri
    store.abort(pending)
    assert store.pending_writes(join(tmp_path.as_uri(), "catalog")) == []
