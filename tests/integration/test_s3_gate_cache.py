"""The gate's model-output cache (``datasets.gate_cache``) on an S3 root: the same entries as on file://."""

from __future__ import annotations

import numpy as np
import pytest

from generec_core.config import StorageConfig
from generec_core.datasets.gate_cache import GateCache
from generec_core.datasets.layout import Layout
from generec_core.storage import Store

pytestmark = pytest.mark.s3


def test_entries_round_trip_on_s3(s3):
    _, root = s3
    layout = Layout(root, Store(StorageConfig()))
    cache = GateCache(layout, "sig0123", '{"models": "a"}')
    key = "cd" + "1" * 62
    assert cache.get(key) is None
    record = {"embedding": np.linspace(0, 1, 8, dtype=np.float32), "nsfw": np.asarray(0.125),
              "faces_n8_f0p1": np.asarray([[1, 2, 30, 30]], np.int32)}
    cache.put(key, record)
    assert layout.store.list_uris(f"{root}/features/gate_cache/sig0123/cd/") == [
        layout.gate_cache_entry("sig0123", key)]
    got = cache.get(key)
    assert set(got) == set(record) and all(np.array_equal(got[k], v) for k, v in record.items())
    assert GateCache(layout, "sig0123", '{"models": "b"}').get(key) is None  # other models: not trusted
