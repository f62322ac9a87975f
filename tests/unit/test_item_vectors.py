"""Item vectors: one item at a time (the frames stage) or all at once, the same rows, edge cases included."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from generec_core.datasets.item_vectors import ITEM_VECTORS_SCHEMA, summarise, summarise_item

DIM = 8


def frames(seed: int = 3) -> pa.Table:
    rng = np.random.default_rng(seed)
    rows = []
    for item, indices in (("a", [-1, 0, 1, 2]), ("cover_only", [-1]), ("frames_only", [0, 1]),
                          ("with_nan", [-1, 0, 1]), ("all_nan", [-1, 0]), ("zero", [-1, 0])):
        for idx in indices:
            vector = rng.normal(size=DIM).astype(np.float32)
            if item == "all_nan" or (item == "with_nan" and idx == 1):
                vector[:] = np.nan
            if item == "zero" and idx == 0:
                vector[:] = 0
            rows.append((item, idx, vector))
    return pa.table({"item_id": [r[0] for r in rows], "frame_idx": pa.array([r[1] for r in rows], pa.int32()),
                     "embedding": pa.array([r[2] for r in rows], pa.list_(pa.float32()))})


def test_one_item_at_a_time_equals_all_at_once():
    table = frames()
    whole = summarise(table)
    ids = sorted(set(table["item_id"].to_pylist()))
    per_item = pa.concat_tables([summarise_item(table.filter(pc.equal(table["item_id"], i)), i) for i in ids])
    assert whole.schema == ITEM_VECTORS_SCHEMA and per_item.schema == ITEM_VECTORS_SCHEMA
    rows = {r["item_id"]: r for r in per_item.to_pylist()}
    assert "all_nan" not in whole["item_id"].to_pylist()  # nothing usable: no row when reducing many items
    assert rows.pop("all_nan") == {"item_id": "all_nan", "cover": None, "frames_mean": None, "n_frames": 0}
    assert {r["item_id"]: r for r in whole.to_pylist()} == rows
    assert rows["cover_only"]["frames_mean"] is None and rows["cover_only"]["n_frames"] == 0
    assert rows["frames_only"]["cover"] is None and rows["frames_only"]["n_frames"] == 2
    assert rows["with_nan"]["n_frames"] == 1 and rows["zero"]["frames_mean"] is None  # zero mean: no direction
    a = np.asarray(table.filter(pc.equal(table["item_id"], "a"))["embedding"].to_pylist(), np.float64)
    assert np.array_equal(rows["a"]["cover"], a[0].astype(np.float32).tolist())
    mean = a[1:].mean(axis=0)
    assert np.allclose(rows["a"]["frames_mean"], mean / np.linalg.norm(mean), atol=1e-7)


def test_mixed_dimensions_and_missing_columns_are_errors():
    with pytest.raises(ValueError, match="lacks column"):
        summarise(frames().drop_columns(["frame_idx"]))
    mixed = pa.concat_tables([frames(), pa.table({"item_id": ["x"], "frame_idx": pa.array([0], pa.int32()),
                                                  "embedding": pa.array([[1.0]], pa.list_(pa.float32()))})])
    with pytest.raises(ValueError, match="mixes embedding dims"):
        summarise(mixed)
