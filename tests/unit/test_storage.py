"""The file:// backend keeps the publish protocol's guarantees: create-only and compare-and-swap."""

import threading

import pytest

from generec_core.storage import LocalStorage, PreconditionFailed, join, list_uris, read_parquet, write_parquet

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
