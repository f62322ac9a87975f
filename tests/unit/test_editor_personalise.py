"""The personalise stage on a tiny real world: real videos and decoding, hand-set embeddings.

Embeddings are one-hot per sampled frame (frame j = e_j), so every expected choice is known:
a taste close to e_j must pick frame j. Checks cold start, the poor-frame mask, stability
against the previous published manifest, reference mode and the staged clips' durations.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from frame_reads import copy_root, make_unreadable, record_frames_reads
from video_fixtures import encode_mp4

from generec_core.config import PipelineConfig, normalise_root
from generec_core.datasets.items import read_items
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.staged import shard_rows_uri
from generec_core.embedding.encoder import encoder_id_for
from generec_core.datasets.frames import item_embeddings_uri, item_table, load_frame_embeddings
from generec_core.stages.frames import decode_item
from generec_core.stages.personalise import personalise_shard
from generec_core.storage import join, parquet_from_bytes, read_parquet, storage_for, write_parquet
from generec_core.video.clip import clip_info

DATE, PREV = "2026-11-24", "2026-11-23"
FPS, N_SRC, N_SAMPLED = 12, 24, 8
BLACK = range(15, 18)  # source frames; sampled frame 5 (source frame 16) is blank -> poor


def _video(black: range | tuple = ()) -> bytes:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (48, 128, 3), dtype=np.uint8)
    frames = [np.zeros((48, 64, 3), np.uint8) if i in black else np.ascontiguousarray(base[:, 2 * i:2 * i + 64])
              for i in range(N_SRC)]
    return encode_mp4(frames, FPS, gop=None, faststart=False)


def _unit(*weights: float) -> list[float]:
    v = np.asarray(weights, np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32).tolist()


def _e(j: int, w: float = 1.0) -> np.ndarray:
    v = np.zeros(N_SAMPLED)
    v[j] = w
    return v


TASTES = {
    "u-six": _unit(*_e(6)),  # frame 6 everywhere
    "u-five": _unit(*(_e(5) + _e(4, 0.5))),  # frame 5, but it is blank in item a -> frame 4 there
    "u-stable": _unit(*(_e(2) + _e(3, 0.9))),  # frame 2 (0.743) beats yesterday's frame 3 (0.669) by 0.074
    "u-cold": _unit(*np.ones(N_SAMPLED)),  # the global fallback taste; the user has no likes
}


def _write(uri: str, table: pa.Table) -> None:
    write_parquet(uri, table)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> PipelineConfig:
    root = normalise_root(str(tmp_path_factory.mktemp("editor-world")))
    layout = Layout(root)
    for item_id, black in (("a", BLACK), ("b", ())):
        uri = join(layout.items_dir, f"videos/{item_id}.mp4")
        storage_for(uri).write_bytes(uri, _video(black))
    manifest = "".join(json.dumps({"item_id": i, "video": f"videos/{i}.mp4"}) + "\n" for i in "ab")
    storage_for(layout.items_manifest).write_bytes(layout.items_manifest, manifest.encode())
    config = PipelineConfig.from_dict({"root": root, "frames": {"frames_per_video": N_SAMPLED, "device": "cpu"},
                                       "editor": {"clip_window": 4, "clip_stride": 2, "clip_min_s": 0.0,
                                                  "stability_margin": 0.1, "device": "cpu"}})
    encoder = SimpleNamespace(encoder_id=encoder_id_for(config.frames.encoder), dim=N_SAMPLED, preprocessing="one-hot")
    embeddings = np.eye(N_SAMPLED, dtype=np.float32)  # no cover image: the first frame is the cover
    for item in read_items(layout):
        decoded = decode_item(item, config)
        assert decoded.reason is None and len(decoded.video.frames) == N_SAMPLED
        _write(item_embeddings_uri(layout, encoder.encoder_id, config.frames, item.item_id),
               item_table(decoded, embeddings, encoder, config))
    users = sorted(TASTES)
    _write(join(layout.user_features(DATE), "part-0.parquet"), pa.table({
        "user_id": users, "taste": [TASTES[u] for u in users], "n_likes": [0 if u == "u-cold" else 3 for u in users],
        "is_cold": [u == "u-cold" for u in users]}))
    pairs = [(u, i) for u in users for i in "ab"]
    _write(join(layout.worklist(run_id_for(DATE)), "part-0.parquet"), pa.table({
        "user_id": [u for u, _ in pairs], "item_id": [i for _, i in pairs], "shard": pa.array([0] * len(pairs), pa.int32()),
        "retriever": ["popular" if u == "u-cold" else "taste_knn" for u, _ in pairs],
        "candidate_score": [1.0] * len(pairs), "rank": pa.array([1 + "ab".index(i) for _, i in pairs], pa.int32()),
        "is_cold": [u == "u-cold" for u, _ in pairs]}))
    return config


def _frame_ts(config: PipelineConfig, item: str) -> list[float]:
    frames = load_frame_embeddings(config).to_pylist()
    return [r["ts"] for r in sorted(frames, key=lambda r: r["frame_idx"]) if r["item_id"] == item and r["frame_idx"] >= 0]


def _rows(config: PipelineConfig, **editor) -> dict[tuple[str, str], dict]:
    config = PipelineConfig.from_dict({**config.to_dict(), "editor": {**config.to_dict()["editor"], **editor}})
    counts = personalise_shard(config, DATE, 0)
    table = read_parquet(shard_rows_uri(Layout(config.root), run_id_for(DATE), 0))
    out = {(r["user_id"], r["item_id"]): r for r in table.to_pylist()}
    out["counts"] = counts
    return out


def test_fixture_has_a_blank_frame(world):
    poor = [r["frame_idx"] for r in load_frame_embeddings(world).to_pylist() if r["item_id"] == "a" and r["is_poor"]]
    assert poor == [5]


def test_selection_cold_start_and_poor_frames(world):
    rows = _rows(world)
    assert rows[("u-six", "a")]["thumbnail_frame_idx"] == 6 and rows[("u-six", "b")]["thumbnail_frame_idx"] == 6
    assert rows[("u-five", "b")]["thumbnail_frame_idx"] == 5
    assert rows[("u-five", "a")]["thumbnail_frame_idx"] == 4  # frame 5 is blank in item a
    for item in "ab":
        cold = rows[("u-cold", item)]
        assert cold["thumbnail_kind"] == "original" and cold["thumbnail_staged"] == cold["cover_staged"]
        assert cold["score"] is None and cold["thumbnail_frame_ts"] is None
        assert cold["clip_start_s"] == 0.0  # the first clip
    warm = rows[("u-six", "a")]
    assert warm["thumbnail_kind"] == "selected" and warm["thumbnail_frame_ts"] == _frame_ts(world, "a")[6]
    assert warm["score"] == pytest.approx(1.0, abs=1e-6)
    ts = _frame_ts(world, "a")
    assert (warm["clip_start_s"], warm["clip_end_s"]) == (ts[4], pytest.approx(N_SRC / FPS))  # final window 4..7
    assert rows["counts"]["selected"] == 6 and rows["counts"]["original"] == 2


def test_staged_clips_match_their_times_within_one_frame(world):
    rows = _rows(world)
    clips = {(r["clip_staged"], r["clip_start_s"], r["clip_end_s"]) for k, r in rows.items() if k != "counts"}
    assert len({c[0] for c in clips}) < len([k for k in rows if k != "counts"])  # shared clips staged once
    for uri, start, end in clips:
        duration, fps = clip_info(storage_for(uri).read_bytes(uri))
        assert abs(duration - (end - start)) <= 1.0 / fps + 1e-9, (uri, duration, start, end)


def test_stability_against_the_previous_manifest_and_reference_mode(world):
    layout = Layout(world.root)
    ts_b = _frame_ts(world, "b")
    _write(layout.manifest(PREV, run_id_for(PREV)), pa.table({
        "user_id": ["u-stable"], "item_id": ["b"], "thumbnail_kind": ["selected"], "thumbnail_frame_ts": [ts_b[3]],
        "clip_start_s": pa.array([None], pa.float64()), "clip_end_s": pa.array([None], pa.float64())}))
    try:
        kept = _rows(world)  # margin 0.1 > gain 0.074: yesterday's frame stays
        assert kept[("u-stable", "b")]["thumbnail_frame_idx"] == 3
        assert kept[("u-stable", "a")]["thumbnail_frame_idx"] == 2  # nothing shown before for item a
        assert kept["counts"]["kept_thumbnail"] == 1
        moved = _rows(world, stability_margin=0.05)
        assert moved[("u-stable", "b")]["thumbnail_frame_idx"] == 2 and moved["counts"]["kept_thumbnail"] == 0
        reference = _rows(world, mode="reference")  # the paper exactly: no stability, no quality mask
        assert reference[("u-stable", "b")]["thumbnail_frame_idx"] == 2
        assert reference[("u-five", "a")]["thumbnail_frame_idx"] == 5
    finally:
        storage_for(layout.manifest(PREV, run_id_for(PREV))).delete(layout.manifest(PREV, run_id_for(PREV)))


def test_a_shard_reads_only_the_frames_of_its_worklist_items(world, tmp_path, monkeypatch):
    """The shard opens the frames files of its worklist's items and no other: with every other item's file
    unreadable, its rows are byte for byte the same."""
    copy = copy_root(world, tmp_path / "root")
    layout, run_id = Layout(copy.root), run_id_for(DATE)
    rows_uri = shard_rows_uri(layout, run_id, 0)
    personalise_shard(copy, DATE, 0)
    before = storage_for(rows_uri).read_bytes(rows_uri)
    make_unreadable(copy, ["c-not-in-the-worklist"])
    read = record_frames_reads(monkeypatch)
    personalise_shard(copy, DATE, 0)
    assert sorted(read) == ["a.parquet", "b.parquet"]
    assert storage_for(rows_uri).read_bytes(rows_uri) == before

    worklist = join(layout.worklist(run_id), "part-0.parquet")  # a shard whose users were offered item a only
    table = read_parquet(worklist)
    _write(worklist, table.filter(pc.equal(table["item_id"], "a")))
    make_unreadable(copy, ["b"])
    read.clear()
    personalise_shard(copy, DATE, 0)
    assert read == ["a.parquet"]
    assert read_parquet(rows_uri).to_pylist() == [r for r in parquet_from_bytes(before).to_pylist() if r["item_id"] == "a"]
