"""The frames stage on a tiny item catalogue: good items, a cover image, and broken videos."""

from __future__ import annotations

import json
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from skimage import data

from generec_core.config import FramesConfig, PipelineConfig
from generec_core.embedding.encoder import load_encoder
from generec_core.layout import Layout
from generec_core.stages.frames import (
    FRAMES_SCHEMA,
    embed_items,
    item_embeddings_uri,
    load_frame_embeddings,
    load_video_meta,
    quarantine_uri,
    safe_name,
)
from generec_core.storage import local_dir

FPS = 25
N_FRAMES = 6
ODD_ID = "odd/id with spaces & ünïcode?"


def encode_mp4(frames: list[np.ndarray]) -> bytes:
    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", rate=FPS)
            stream.height, stream.width = frames[0].shape[:2]
            stream.pix_fmt = "yuv420p"
            stream.codec_context.thread_count = 1
            for i, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, FPS)
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        return Path(path).read_bytes()
    finally:
        os.unlink(path)


def pan(photo: np.ndarray, n: int = 20, size: tuple[int, int] = (64, 96)) -> list[np.ndarray]:
    h, w = size
    return [np.ascontiguousarray(photo[:h, 4 * i:4 * i + w]) for i in range(n)]


@pytest.fixture(scope="module")
def videos() -> dict[str, bytes]:
    cat, rocket = encode_mp4(pan(data.chelsea())), encode_mp4(pan(data.rocket()))
    return {"cat": cat, "rocket": rocket}


def write_catalogue(root: Path, videos: dict[str, bytes]) -> PipelineConfig:
    items = root / "raw" / "items"
    (items / "videos").mkdir(parents=True)
    (items / "covers").mkdir()
    (items / "videos" / "cat.mp4").write_bytes(videos["cat"])
    (items / "videos" / "rocket.mp4").write_bytes(videos["rocket"])
    Image.fromarray(data.coffee()[::4, ::4]).save(items / "covers" / "rocket.png")
    (items / "videos" / "zero.mp4").write_bytes(b"")
    (items / "videos" / "truncated.mp4").write_bytes(videos["cat"][: len(videos["cat"]) // 2])
    (items / "videos" / "text.mp4").write_text("definitely not a video\n" * 10)
    rows = [
        {"item_id": "cat", "video": "videos/cat.mp4"},
        {"item_id": "rocket", "video": "videos/rocket.mp4", "cover": "covers/rocket.png"},
        {"item_id": ODD_ID, "video": "videos/cat.mp4"},
        {"item_id": "zero", "video": "videos/zero.mp4"},
        {"item_id": "truncated", "video": "videos/truncated.mp4"},
        {"item_id": "text", "video": "videos/text.mp4"},
        {"item_id": "missing", "video": "videos/missing.mp4"},
    ]
    (items / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return PipelineConfig(root=root.as_uri(),
                          frames=FramesConfig(frames_per_video=N_FRAMES, batch_size=8, device="cpu"))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, videos):
    config = write_catalogue(tmp_path_factory.mktemp("root"), videos)
    return config, embed_items(config)


def read_item(config: PipelineConfig, item_id: str):
    return pq.read_table(local_dir(item_embeddings_uri(Layout(config.root), "efficientnet-lite0", item_id)))


def test_counts_and_quarantine(first_run):
    config, counts = first_run
    assert counts["items_total"] == 7 and counts["items_embedded"] == 3
    assert counts["items_quarantined"] == 4 and counts["items_skipped_existing"] == 0
    assert counts["frames_embedded"] == 3 * N_FRAMES
    assert counts["images_embedded"] == 3 * N_FRAMES + 1  # + the one separate cover image
    print(f"frames stage: {counts}")
    layout = Layout(config.root)
    reasons = {}
    for item_id in ("zero", "truncated", "text", "missing"):
        record = json.loads(local_dir(quarantine_uri(layout, item_id)).read_text())
        assert record["item_id"] == item_id and record["stage"] == "frames"
        assert record["video"] == f"videos/{item_id}.mp4"
        reasons[item_id] = record["reason"]
    assert reasons["zero"] == "zero-byte file"
    assert "truncated" in reasons["truncated"] or "decode failed" in reasons["truncated"]
    assert "InvalidDataError" in reasons["text"]
    assert reasons["missing"] == "video file not found"


def test_item_file_layout(first_run):
    config, _ = first_run
    cat = read_item(config, "cat")
    assert cat.schema.remove_metadata() == FRAMES_SCHEMA
    assert cat.column("frame_idx").to_pylist() == [-1] + list(range(N_FRAMES))
    ts = cat.column("ts").to_pylist()
    assert ts[0] == 0.0 and ts[1] == 0.0 and all(b > a for a, b in zip(ts[1:], ts[2:]))
    emb = np.array(cat.column("embedding").to_pylist(), np.float32)
    assert emb.shape == (N_FRAMES + 1, 1280)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(emb[0], emb[1])  # no cover image: the first frame is the cover
    meta = {k.decode(): v.decode() for k, v in cat.schema.metadata.items()}
    assert meta["encoder_id"] == "efficientnet-lite0" and meta["dim"] == "1280"
    assert float(meta["duration_s"]) == pytest.approx(20 / FPS) and float(meta["fps"]) == FPS
    assert (meta["width"], meta["height"]) == ("96", "64") and meta["preprocessing"]


def test_cover_image_row(first_run):
    config, _ = first_run
    rocket = read_item(config, "rocket")
    assert rocket.column("ts")[0].as_py() is None
    cover = np.asarray(Image.open(local_dir(Layout(config.root).items_dir) / "covers" / "rocket.png").convert("RGB"))
    expected = load_encoder(device="cpu").embed([cover])[0]
    assert np.allclose(rocket.column("embedding")[0].as_py(), expected, atol=1e-5)
    # the cover (coffee) is a different photo than the video (rocket)
    emb = np.array(rocket.column("embedding").to_pylist(), np.float32)
    assert emb[0] @ emb[1] < emb[1] @ emb[2]


def test_odd_item_id_and_loader(first_run):
    config, _ = first_run
    odd = read_item(config, ODD_ID)
    assert odd.column("item_id")[0].as_py() == ODD_ID
    table = load_frame_embeddings(config)
    assert table.num_rows == 3 * (N_FRAMES + 1)
    assert set(table.column("item_id").to_pylist()) == {"cat", "rocket", ODD_ID}
    assert table.schema.metadata[b"encoder_id"] == b"efficientnet-lite0"
    meta = load_video_meta(config)
    assert sorted(meta.column("item_id").to_pylist()) == sorted(["cat", "rocket", ODD_ID])
    # same video, different item: identical embeddings (determinism across items and batches)
    cat = read_item(config, "cat")
    assert odd.column("embedding").to_pylist() == cat.column("embedding").to_pylist()


def test_second_run_is_incremental_then_heals(first_run, videos):
    config, _ = first_run
    items_dir = local_dir(Layout(config.root).items_dir)
    before = {p: p.read_bytes() for p in local_dir(Layout(config.root).frames("efficientnet-lite0")).rglob("*.parquet")}
    again = embed_items(config)
    assert again["items_embedded"] == 0 and again["items_skipped_existing"] == 3
    assert again["items_quarantined"] == 4
    assert {p: p.read_bytes() for p in before} == before
    # an upstream fix of a broken video: embedded next run, its quarantine record removed
    (items_dir / "videos" / "zero.mp4").write_bytes(videos["rocket"])
    healed = embed_items(config)
    assert healed["items_embedded"] == 1 and healed["items_quarantined"] == 3
    assert not local_dir(quarantine_uri(Layout(config.root), "zero")).exists()


def test_rebuild_is_byte_identical(tmp_path, videos, first_run):
    config = write_catalogue(tmp_path, videos)
    embed_items(config)
    first_config, _ = first_run
    for item_id in ("cat", "rocket", ODD_ID):
        new = local_dir(item_embeddings_uri(Layout(config.root), "efficientnet-lite0", item_id)).read_bytes()
        old = local_dir(item_embeddings_uri(Layout(first_config.root), "efficientnet-lite0", item_id)).read_bytes()
        assert new == old, item_id


@pytest.mark.parametrize("item_id", ["a/b", "a%2Fb", "a~2Fb", ".hidden", "..", "", "x" * 500, "ü", "CON"])
def test_safe_name_is_portable(item_id):
    name = safe_name(item_id)
    assert name and len(name) <= 120 and not name.startswith(".")
    assert set(name) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def test_safe_name_is_injective():
    ids = ["a/b", "a%2Fb", "a~2Fb", "a_2Fb", ".a", "~2Ea", "", "~", "x" * 500, "x" * 499 + "y", "ü", "~C3~BC"]
    names = [safe_name(i) for i in ids]
    assert len(set(names)) == len(ids)
