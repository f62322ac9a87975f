"""The frames stage on a tiny item catalogue: good items, a cover image, and broken videos."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from PIL import Image
from skimage import data
from video_fixtures import encode_mp4

from generec_core import pipeline
from generec_core.config import FramesConfig, PipelineConfig
from generec_core.datasets import metrics
from generec_core.identifiers import shard_of
from generec_core.datasets.layout import Layout
from generec_core.embedding.encoder import load_encoder
from generec_core.datasets.frames import (
    FRAMES_SCHEMA,
    item_embeddings_uri,
    load_frame_embeddings,
    load_video_meta,
    quarantine_uri,
    sampling_signature,
)
from generec_core.datasets.item_vectors import ITEM_VECTORS_SCHEMA, MissingItemVectors, load_item_vectors
from generec_core.datasets.layout import run_id_for, safe_name
from generec_core.stages.frames import embed_items
from generec_core.storage import local_dir

FPS = 25
DATE = "2026-11-24"
N_FRAMES = 6
ODD_ID = "odd/id with spaces & ünïcode?"


def pan(photo: np.ndarray, n: int = 20, size: tuple[int, int] = (64, 96)) -> list[np.ndarray]:
    h, w = size
    return [np.ascontiguousarray(photo[:h, 4 * i:4 * i + w]) for i in range(n)]


def corrupt_packet(video: bytes, index: int) -> bytes:
    """Overwrite the middle of one inter-frame packet: the decoder fails there, mid-video."""
    with av.open(io.BytesIO(video)) as container:
        pos, size = [(p.pos, p.size) for p in container.demux(video=0) if p.size][index]
    broken = bytearray(video)
    broken[pos + size // 4: pos + size // 4 + size // 2] = b"\xff" * (size // 2)
    return bytes(broken)


@pytest.fixture(scope="module")
def videos() -> dict[str, bytes]:
    cat, rocket = encode_mp4(pan(data.chelsea())), encode_mp4(pan(data.rocket()))
    fading = [(f.astype(np.float32) * max(0.0, 1 - i / 12)).astype(np.uint8) for i, f in enumerate(pan(data.coffee()))]
    return {"cat": cat, "rocket": rocket, "fade": encode_mp4(fading), "corrupt": corrupt_packet(cat, 15)}


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
    (items / "videos" / "fade.mp4").write_bytes(videos["fade"])
    (items / "videos" / "corrupt.mp4").write_bytes(videos["corrupt"])
    rows = [
        {"item_id": "cat", "video": "videos/cat.mp4"},
        {"item_id": "rocket", "video": "videos/rocket.mp4", "cover": "covers/rocket.png"},
        {"item_id": ODD_ID, "video": "videos/cat.mp4"},
        {"item_id": "zero", "video": "videos/zero.mp4"},
        {"item_id": "truncated", "video": "videos/truncated.mp4"},
        {"item_id": "text", "video": "videos/text.mp4"},
        {"item_id": "missing", "video": "videos/missing.mp4"},
        {"item_id": "fade", "video": "videos/fade.mp4"},
        {"item_id": "corrupt", "video": "videos/corrupt.mp4"},
    ]
    (items / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return PipelineConfig(root=root.as_uri(),
                          frames=FramesConfig(frames_per_video=N_FRAMES, batch_size=8, device="cpu"))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, videos):
    config = write_catalogue(tmp_path_factory.mktemp("root"), videos)
    return config, embed_items(config)


def read_item(config: PipelineConfig, item_id: str, encoder_id: str = "efficientnet-lite0"):
    return pq.read_table(local_dir(item_embeddings_uri(Layout(config.root), encoder_id, config.frames, item_id)))


GOOD = ("cat", "rocket", ODD_ID, "fade")
BAD = ("zero", "truncated", "text", "missing", "corrupt")


def test_counts_and_quarantine(first_run):
    config, counts = first_run
    assert counts["items_total"] == 9 and counts["items_embedded"] == 4
    assert counts["items_quarantined"] == 5 and counts["items_skipped_existing"] == 0
    assert counts["frames_embedded"] == 4 * N_FRAMES
    assert counts["images_embedded"] == 4 * N_FRAMES + 1  # + the one separate cover image
    assert counts["sampling"] == f"uniform-n{N_FRAMES}-side640" and counts["frames_poor"] >= 2
    print(f"frames stage: {counts}")
    layout = Layout(config.root)
    reasons = {}
    for item_id in BAD:
        record = json.loads(local_dir(quarantine_uri(layout, item_id)).read_text())
        assert record["item_id"] == item_id and record["stage"] == "frames"
        assert record["video"] == f"videos/{item_id}.mp4"
        reasons[item_id] = record["reason"]
    assert reasons["zero"] == "zero-byte file"
    assert "truncated" in reasons["truncated"] or "decode failed" in reasons["truncated"]
    assert "InvalidDataError" in reasons["text"]
    assert reasons["missing"] == "video file not found"
    assert reasons["corrupt"].startswith("decode failed at frame") and "InvalidDataError" in reasons["corrupt"]


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
    assert meta["sampling"] == sampling_signature(config.frames) and meta["precision"] == "float32"
    assert meta["encoder_spec"] == "efficientnet-lite0" and json.loads(meta["quality_thresholds"])["min_std"] == 4.0
    assert cat.column("is_poor").to_pylist() == [False] * (N_FRAMES + 1)  # a clean pan over a real photo
    quality = cat.column("quality").to_pylist()
    assert quality[0] == quality[1] and quality[1]["change"] is None and quality[2]["change"] > 1.0


def test_poor_frames_are_flagged_with_the_frame(first_run):
    """The fade-out item: its last sampled frames are black, stored as poor with the reason."""
    config, _ = first_run
    fade = read_item(config, "fade")
    reasons = fade.column("poor_reason").to_pylist()
    assert fade.column("is_poor").to_pylist() == [r is not None for r in reasons]
    assert reasons[:3] == [None, None, None]  # cover (first frame) and the bright start
    assert reasons[-2] == "blank" and reasons[-1] == "blank,duplicate"  # black, then black again
    luma = [q["luma_mean"] for q in fade.column("quality").to_pylist()[1:]]
    assert luma == sorted(luma, reverse=True)


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
    assert table.num_rows == 4 * (N_FRAMES + 1)
    assert set(table.column("item_id").to_pylist()) == set(GOOD)
    assert table.schema.metadata[b"encoder_id"] == b"efficientnet-lite0"
    assert table.schema.remove_metadata() == FRAMES_SCHEMA
    meta = load_video_meta(config)
    assert sorted(meta.column("item_id").to_pylist()) == sorted(GOOD)
    # same video, different item: identical embeddings (determinism across items and batches)
    cat = read_item(config, "cat")
    assert odd.column("embedding").to_pylist() == cat.column("embedding").to_pylist()


def with_frames(config: PipelineConfig, **changes) -> PipelineConfig:
    return dataclasses.replace(config, frames=dataclasses.replace(config.frames, **changes))


def embedded_ids(config: PipelineConfig) -> set[str]:
    return set(load_frame_embeddings(config).column("item_id").to_pylist())


def test_changed_sampling_reembeds_into_its_own_partition(first_run):
    """frames_per_video / sampling changes never reuse frames sampled the old way."""
    config, _ = first_run
    default_ids, default_rows = embedded_ids(config), load_frame_embeddings(config).num_rows
    rate = with_frames(config, sampling="rate", sample_fps=5.0, frames_per_video=8)
    counts = embed_items(rate)
    assert counts["sampling"] == "rate5fps-n8-side640" and counts["items_skipped_existing"] == 0
    assert counts["items_embedded"] == len(default_ids) and embedded_ids(rate) == default_ids
    cat = read_item(rate, "cat")
    assert np.allclose(cat.column("ts").to_pylist()[1:], [0.0, 0.2, 0.4, 0.6])  # 20 frames at 25 fps
    assert cat.schema.metadata[b"sampling"] == b"rate5fps-n8-side640"
    assert load_frame_embeddings(config).num_rows == default_rows  # the old partition is untouched
    assert embed_items(rate)["items_embedded"] == 0  # and the new one is incremental too


def test_thresholds_are_rejudged_on_load(first_run):
    """Metrics are stored, verdicts follow the configured thresholds: no re-embed to retune."""
    config, _ = first_run
    strict = with_frames(config, quality_min_change=1e6)  # every frame "duplicates" the one before
    table = load_frame_embeddings(strict)
    frame_idx, reasons = table.column("frame_idx").to_pylist(), table.column("poor_reason").to_pylist()
    later = [r for i, r in zip(frame_idx, reasons) if i > 0]
    assert later and all("duplicate" in r for r in later)
    assert not any(r and "duplicate" in r for i, r in zip(frame_idx, reasons) if i <= 0)
    assert read_item(config, "cat").column("is_poor").to_pylist() == [False] * (N_FRAMES + 1)  # file as written


def test_clip_encoder_writes_its_own_partition(first_run, tmp_path):
    from tiny_clip import PROJECTION_DIM, save_tiny_clip

    config, _ = first_run
    default_ids = embedded_ids(config)
    clip = with_frames(config, encoder=f"clip:{save_tiny_clip(tmp_path / 'tiny-clip')}")
    counts = embed_items(clip)
    encoder_id = counts["encoder_id"]
    assert encoder_id.startswith("clip-tiny-clip-") and counts["items_skipped_existing"] == 0
    assert counts["items_embedded"] == len(default_ids)
    assert local_dir(Layout(config.root).frames(encoder_id)).is_dir()
    table = load_frame_embeddings(clip)
    assert set(table.column("item_id").to_pylist()) == default_ids
    assert table.schema.metadata[b"encoder_id"] == encoder_id.encode()
    assert table.schema.metadata[b"dim"] == str(PROJECTION_DIM).encode()
    emb = np.array(table.column("embedding").to_pylist(), np.float32)
    assert emb.shape[1] == PROJECTION_DIM and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert embedded_ids(config) == default_ids and embed_items(clip)["items_embedded"] == 0


def test_second_run_is_incremental_then_heals(first_run, videos):
    config, _ = first_run
    items_dir = local_dir(Layout(config.root).items_dir)
    before = {p: p.read_bytes() for p in local_dir(Layout(config.root).frames("efficientnet-lite0")).rglob("*.parquet")}
    again = embed_items(config)
    assert again["items_embedded"] == 0 and again["items_skipped_existing"] == 4
    assert again["items_quarantined"] == 5
    assert {p: p.read_bytes() for p in before} == before
    # an upstream fix of a broken video: embedded next run, its quarantine record removed
    (items_dir / "videos" / "zero.mp4").write_bytes(videos["rocket"])
    healed = embed_items(config)
    assert healed["items_embedded"] == 1 and healed["items_quarantined"] == 4
    assert not local_dir(quarantine_uri(Layout(config.root), "zero")).exists()


def test_rebuild_is_byte_identical(tmp_path, videos, first_run):
    config = write_catalogue(tmp_path, videos)
    embed_items(config)
    first_config, _ = first_run
    for item_id in GOOD:
        new = local_dir(item_embeddings_uri(Layout(config.root), "efficientnet-lite0", config.frames, item_id))
        old = local_dir(item_embeddings_uri(Layout(first_config.root), "efficientnet-lite0",
                                            first_config.frames, item_id))
        assert new.read_bytes() == old.read_bytes(), item_id


def test_item_shards_write_exactly_what_one_task_writes(tmp_path, videos, first_run):
    """The DAG maps frames over item shards: each task embeds only its items; together they write the same
    files as one task (same rows, same embeddings), count each item once, and a re-run of every shard adds
    nothing and changes nothing."""
    config = write_catalogue(tmp_path, videos)
    config = dataclasses.replace(config, frames=dataclasses.replace(config.frames, shards=3))
    with (tmp_path / "raw/items/items.jsonl").open("a") as catalogue:
        catalogue.write("{not json\n")
    assert pipeline.shards_to_run(config, DATE, "items") == [0, 1, 2]
    summaries = [pipeline.run_stage("frames", config, DATE, shard) for shard in range(3)]
    owner = {item: shard_of(item, 3) for item in (*GOOD, *BAD)}
    assert len(set(owner.values())) > 1  # the items really are split
    for shard, summary in enumerate(summaries):
        mine = [i for i, s in owner.items() if s == shard]
        assert summary["shard"] == shard and summary["items_total"] == len(mine)
        assert summary["items_embedded"] == sum(i in GOOD for i in mine)
        assert summary["items_quarantined"] == sum(i in BAD for i in mine)
    assert [s["catalogue_lines_rejected"] for s in summaries] == [1, 0, 0]  # shard 0 alone records them
    rejected = local_dir(Layout(config.root).rejected_items).read_text().splitlines()
    assert [json.loads(line)["reason"] for line in rejected] == ["bad_json"]
    assert set(metrics.load_all(Layout(config.root), run_id_for(DATE))) == {f"frames-shard-{n}" for n in range(3)}
    first_config, _ = first_run
    for item_id in GOOD:  # one task (first_run) or three: the same bytes, embeddings included
        new = local_dir(item_embeddings_uri(Layout(config.root), "efficientnet-lite0", config.frames, item_id))
        old = local_dir(item_embeddings_uri(Layout(first_config.root), "efficientnet-lite0",
                                            first_config.frames, item_id))
        assert new.read_bytes() == old.read_bytes(), item_id
    assert sorted(load_frame_embeddings(config)["item_id"].to_pylist()) == sorted(
        i for i in load_frame_embeddings(first_config)["item_id"].to_pylist() if i in GOOD)
    for item_id in BAD:
        assert json.loads(local_dir(quarantine_uri(Layout(config.root), item_id)).read_text())["stage"] == "frames"
    frames_dir = local_dir(Layout(config.root).frames("efficientnet-lite0"))
    before = {p: p.read_bytes() for p in frames_dir.rglob("*.parquet")}
    again = [pipeline.run_stage("frames", config, DATE, shard) for shard in range(3)]
    assert sum(s["items_embedded"] for s in again) == 0 and sum(s["items_skipped_existing"] for s in again) == 4
    assert {p: p.read_bytes() for p in frames_dir.rglob("*.parquet")} == before
    with pytest.raises(ValueError, match="item shard 3"):
        embed_items(config, 3)


@pytest.mark.parametrize("item_id", ["a/b", "a%2Fb", "a~2Fb", ".hidden", "..", "", "x" * 500, "ü", "CON"])
def test_safe_name_is_portable(item_id):
    name = safe_name(item_id)
    assert name and len(name) <= 120 and not name.startswith(".")
    assert set(name) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def test_safe_name_is_injective():
    ids = ["a/b", "a%2Fb", "a~2Fb", "a_2Fb", ".a", "~2Ea", "", "~", "x" * 500, "x" * 499 + "y", "ü", "~C3~BC"]
    names = [safe_name(i) for i in ids]
    assert len(set(names)) == len(ids)


def test_item_vectors_are_written_beside_the_frames(first_run):
    """Each embedded item's vectors file: its cover and unit mean of frames, the frames' metadata, and the
    index the features stage builds from these alone equals the one built from every frame (bit for bit)."""
    from generec_core.spark.features import ItemIndex

    config, _ = first_run
    vectors = load_item_vectors(config)
    frames = load_frame_embeddings(config)
    assert vectors.schema.remove_metadata() == ITEM_VECTORS_SCHEMA
    ids = vectors["item_id"].to_pylist()
    assert sorted(ids) == sorted(set(frames["item_id"].to_pylist())) and set(GOOD) <= set(ids)
    assert vectors.schema.metadata[b"encoder_id"] == b"efficientnet-lite0" and vectors.schema.metadata[b"dim"] == b"1280"
    cat = read_item(config, "cat")
    row = vectors.filter(pc.equal(vectors["item_id"], "cat")).to_pylist()[0]
    emb = np.array(cat.column("embedding").to_pylist(), np.float32)
    assert row["n_frames"] == N_FRAMES and np.array_equal(row["cover"], emb[0])
    mean = emb[1:].astype(np.float64).mean(axis=0)
    assert np.allclose(row["frames_mean"], mean / np.linalg.norm(mean), atol=1e-7)
    summaries, every_frame = ItemIndex.from_vectors(vectors), ItemIndex.from_frames(frames)
    for field in ("item_ids", "item_matrix", "cover_ids", "cover_matrix"):
        assert np.array_equal(getattr(summaries, field), getattr(every_frame, field)), field
    assert summaries.item_matrix.dtype == np.float32 and summaries.dim == 1280


def test_missing_item_vectors_are_backfilled_once_and_the_loader_refuses_without_them(first_run, tmp_path):
    """A root embedded before item vectors existed: the loader names the gap instead of dropping items; the
    frames stage writes them from the frames files (no decoding: nothing embedded), each by one item shard --
    items that left the catalogue too -- with the bytes a fresh embed writes. An item whose frames file is
    gone is absent from the vectors as it is from the frames."""
    first_config, _ = first_run
    shutil.copytree(local_dir(first_config.root), tmp_path / "root")
    config = dataclasses.replace(first_config, root=(tmp_path / "root").as_uri(),
                                 frames=dataclasses.replace(first_config.frames, shards=3))
    layout = Layout(config.root)
    vectors_dir = local_dir(layout.item_vectors("efficientnet-lite0", sampling_signature(config.frames)))
    written = {p.name: p.read_bytes() for p in vectors_dir.glob("*.parquet")}
    assert {safe_name(i) + ".parquet" for i in GOOD} <= set(written)
    for name in written:
        (vectors_dir / name).unlink()
    catalogue = tmp_path / "root/raw/items/items.jsonl"  # "fade" leaves the catalogue; its files stay
    catalogue.write_text("".join(line + "\n" for line in catalogue.read_text().splitlines() if '"fade"' not in line))
    with pytest.raises(MissingItemVectors, match=f"{len(written)} embedded item"):
        load_item_vectors(config)
    runs = [embed_items(config, shard) for shard in range(3)]
    assert sum(r["items_vectors_backfilled"] for r in runs) == len(written)
    assert sum(r["items_embedded"] for r in runs) == 0
    assert {p.name: p.read_bytes() for p in vectors_dir.glob("*.parquet")} == written
    assert sum(embed_items(config, shard)["items_vectors_backfilled"] for shard in range(3)) == 0
    assert sorted(load_item_vectors(config)["item_id"].to_pylist()) == sorted(
        set(load_frame_embeddings(config)["item_id"].to_pylist()))
    local_dir(item_embeddings_uri(layout, "efficientnet-lite0", config.frames, "fade")).unlink()
    assert "fade" not in load_item_vectors(config)["item_id"].to_pylist()
    assert "fade" not in load_frame_embeddings(config)["item_id"].to_pylist()
