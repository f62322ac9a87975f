"""The generate stage on a hand-built root: trigger, clusters, lineage, idempotence, guidance, clip edits, errors."""

from __future__ import annotations

import io
import json
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from skimage import data

from generec_core.config import PipelineConfig
from generec_core.datasets.generated import lineage_uri, read_shown_rows
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.staged import STAGED_ROWS_SCHEMA, shard_rows_uri
from generec_core.fidelity.metadata import AI_MARK, image_metadata
from generec_core.generation.backend import GeneratorUnavailable
from generec_core.stages.generate import generate_shard
from generec_core.storage import file_uri, join, list_uris, storage_for, write_parquet, write_text
from generec_core.video.clip import clip_frames, encode_clip

DATE = "2026-11-24"
RED_FANS, BLUE_FANS = ("u0", "u1"), ("u2", "u3")


def panning(image: np.ndarray, n: int = 12) -> list[np.ndarray]:
    """A real clip: a 160x96 window panning across a photo, one frame per 4 px."""
    return [np.ascontiguousarray(image[100:196, 40 + 4 * i:200 + 4 * i]) for i in range(n)]


def _jpeg(img: np.ndarray) -> bytes:
    pil = Image.fromarray(img)
    pil.thumbnail((160, 160))
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture()
def root(tmp_path) -> str:
    """Two taste groups (coffee-cover fans, rocket-cover fans), one item to personalise, one cold user."""
    root = file_uri(tmp_path / "root")
    layout = Layout(root)
    covers = {"coffee": data.coffee(), "rocket": data.rocket(), "astro": data.astronaut()}
    for item, img in covers.items():
        storage_for(join(layout.items_dir, f"covers/{item}.jpg")).write_bytes(join(layout.items_dir, f"covers/{item}.jpg"), _jpeg(img))
    write_text(layout.items_manifest, "".join(json.dumps({"item_id": i, "video": f"videos/{i}.mp4", "cover": f"covers/{i}.jpg"}) + "\n"
                                              for i in covers))
    likes = [(u, "coffee") for u in RED_FANS] + [(u, "rocket") for u in BLUE_FANS]
    write_parquet(join(layout.lake_interactions("2026-11-23"), "part-0.parquet"), pa.table({
        "user_id": [u for u, _ in likes], "item_id": [i for _, i in likes], "event_type": ["like"] * len(likes)}))
    # the taste's weights as the features stage writes them (point in time is its job, tested with Spark)
    write_parquet(join(layout.taste_weights(DATE), "part-0.parquet"), pa.table({
        "user_id": [u for u, _ in likes], "item_id": [i for _, i in likes], "weight": [1.0] * len(likes)}))
    tastes = {"u0": [1, 0.1, 0], "u1": [1, 0, 0.1], "u2": [0, 0.1, 1], "u3": [0.1, 0, 1], "cold": [0.5, 0.5, 0.5]}
    write_parquet(join(layout.user_features(DATE), "part-0.parquet"), pa.table({
        "user_id": list(tastes), "taste": pa.array(list(tastes.values()), pa.list_(pa.float32())),
        "is_cold": [u == "cold" for u in tastes]}))
    run = run_id_for(DATE)
    frame_uri = join(layout.work(run), "staged/thumbnails/astro-f002.jpg")
    cover_uri = join(layout.work(run), "staged/covers/astro.jpg")
    storage_for(frame_uri).write_bytes(frame_uri, _jpeg(covers["astro"]))
    storage_for(cover_uri).write_bytes(cover_uri, _jpeg(covers["astro"]))
    clip_uri = join(layout.work(run), "staged/clips/astro-w000-011.mp4")
    storage_for(clip_uri).write_bytes(clip_uri, encode_clip(panning(covers["astro"]), Fraction(12)))
    rows = [{"user_id": u, "item_id": "astro", "shard": 0, "retriever": "taste_knn", "is_cold": False,
             "thumbnail_kind": "selected", "thumbnail_staged": frame_uri, "cover_staged": cover_uri,
             "thumbnail_frame_idx": 2, "thumbnail_frame_ts": 1.0, "score": 0.3, "encoder_id": "e",
             "clip_staged": clip_uri, "clip_start_s": 0.0, "clip_end_s": 1.0, "clip_score": 0.3}
            for u in RED_FANS + BLUE_FANS]  # score below the instructor's 0.5: selection found nothing close
    rows.append({"user_id": "cold", "item_id": "astro", "shard": 0, "retriever": "popular", "is_cold": True,
                 "thumbnail_kind": "original", "thumbnail_staged": cover_uri, "cover_staged": cover_uri, "encoder_id": "e",
                 "clip_staged": clip_uri, "clip_start_s": 0.0, "clip_end_s": 1.0})
    write_parquet(shard_rows_uri(layout, run, 0), pa.Table.from_pylist(rows, STAGED_ROWS_SCHEMA))
    return root


def _config(root: str, **generation) -> PipelineConfig:
    return PipelineConfig.from_dict({"root": root, "generation": {"clusters": 2, **generation}})


def _rows(root: str) -> dict[str, dict]:
    """The shard's rows as the gate sees them: personalise's, with generation laid over."""
    return {r["user_id"]: r for r in read_shown_rows(Layout(root), run_id_for(DATE), 0)}


def _pixels(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(storage_for(uri).read_bytes(uri))).convert("RGB"), np.int16)


def test_one_image_per_taste_cluster_with_lineage(root):
    summary = generate_shard(_config(root), DATE, 0)
    rows = _rows(root)
    assert summary["images_generated"] == 2 and summary["per_user_images_needed"] == 4
    assert summary["trigger_low_similarity"] == 4 and summary["trigger_not_selected"] == 1
    assert summary["cluster_source"] == "kmeans-fallback"
    red, blue = rows["u0"]["thumbnail_staged"], rows["u2"]["thumbnail_staged"]
    assert rows["u1"]["thumbnail_staged"] == red and rows["u3"]["thumbnail_staged"] == blue and red != blue
    for user in RED_FANS + BLUE_FANS:
        assert rows[user]["thumbnail_kind"] == "generated" and rows[user]["generator_id"].startswith("neural-style/")
        assert rows[user]["selected_staged"].endswith("astro-f002.jpg")
    assert rows["cold"]["thumbnail_kind"] == "original" and rows["cold"]["generator_id"] is None
    # different tastes -> visibly different thumbnails; red fans' one is redder
    red_px, blue_px = _pixels(red), _pixels(blue)
    assert np.abs(red_px - blue_px).mean() > 5
    assert (red_px[..., 0] - red_px[..., 2]).mean() > (blue_px[..., 0] - blue_px[..., 2]).mean()
    # marked as AI-made in the image itself, no user id in keys or metadata
    blob = storage_for(red).read_bytes(red)
    exif = Image.open(io.BytesIO(blob)).getexif()
    assert exif[0x010E].startswith(AI_MARK) and b"trainedAlgorithmicMedia" in blob
    name = red.rsplit("/", 1)[-1]
    assert not any(u in name or any(u in text for text in image_metadata(blob)) for u in RED_FANS + BLUE_FANS)
    lineage = pq.read_table(io.BytesIO(storage_for(lineage_uri(Layout(root), run_id_for(DATE), 0)).read_bytes(
        lineage_uri(Layout(root), run_id_for(DATE), 0)))).to_pylist()
    assert {(x["asset"], x["rows"], x["per_user"], x["backend"], x["source_frame_ts"]) for x in lineage} == {
        (red, 2, False, "neural-style", 1.0), (blue, 2, False, "neural-style", 1.0)}
    assert all(x["cluster"] and x["seed"] > 0 and x["strength"] == 0.5 and x["asset_kind"] == "thumbnail"
               for x in lineage)
    # the default policy edits no clip without an instruction
    assert summary["edited_clips"] == 0 and {r["clip_kind"] for r in rows.values() if r["clip_staged"]} == {"selected"}


def test_rerun_is_idempotent_and_byte_identical(root):
    generate_shard(_config(root), DATE, 0)
    first = _rows(root)
    blobs = {u: storage_for(first[u]["thumbnail_staged"]).read_bytes(first[u]["thumbnail_staged"]) for u in first}
    generated = join(Layout(root).work(run_id_for(DATE)), "staged/generated")
    for uri in list_uris(generated):
        storage_for(uri).delete(uri)
    summary = generate_shard(_config(root), DATE, 0)  # restores the selected frames first, then regenerates
    assert summary["images_generated"] == 2
    again = _rows(root)
    assert again == first
    assert {u: storage_for(again[u]["thumbnail_staged"]).read_bytes(again[u]["thumbnail_staged"]) for u in again} == blobs
    assert generate_shard(_config(root), DATE, 0)["images_generated"] == 0  # staged cluster images are reused
    assert _rows(root) == first


def test_explicit_guidance_gets_a_per_user_image_in_its_style(root):
    """Guidance as the instructor writes it (Layout.guidance): u3 asked for monochrome, u1 opted out."""
    from generec_core.instructor import Guidance

    records = [Guidance(generate=True, styles=("monochrome",), source="instruction", user_id="u3"),
               Guidance(opt_out=True, source="instruction", user_id="u1")]
    write_text(Layout(root).guidance(DATE), "".join(json.dumps(g.to_dict()) + "\n" for g in records))
    summary = generate_shard(_config(root), DATE, 0)
    rows = _rows(root)
    assert summary["trigger_instruction"] == 1 and summary["trigger_opt_out"] == 1 and summary["images_generated"] == 3
    assert rows["u1"]["thumbnail_kind"] == "selected"  # opted out
    assert rows["u3"]["thumbnail_staged"] != rows["u2"]["thumbnail_staged"]
    mono = _pixels(rows["u3"]["thumbnail_staged"])
    assert np.abs(mono[..., 0] - mono[..., 2]).mean() < 4  # monochrome


def test_trigger_settings(root):
    assert generate_shard(_config(root, trigger="none"), DATE, 0)["images"] == 0
    assert generate_shard(_config(root, trigger="all"), DATE, 0)["images"] == 2


def test_backend_none_restores_selected_frames(root):
    generate_shard(_config(root), DATE, 0)
    summary = generate_shard(_config(root, backend="none"), DATE, 0)
    assert summary["images"] == 0
    assert {r["thumbnail_kind"] for u, r in _rows(root).items() if u != "cold"} == {"selected"}


def test_missing_diffusion_weights_fail_naming_directory_and_model(root, tmp_path):
    config = _config(root, backend="diffusers", model="stabilityai/sd-turbo", weights_dir=str(tmp_path / "weights"))
    with pytest.raises(GeneratorUnavailable) as err:
        generate_shard(config, DATE, 0)
    assert str(tmp_path / "weights" / "stabilityai/sd-turbo") in str(err.value) and "'stabilityai/sd-turbo'" in str(err.value)
    with pytest.raises(GeneratorUnavailable, match="weights_dir is not set"):
        generate_shard(_config(root, backend="diffusers", model="stabilityai/sd-turbo", weights_dir=""), DATE, 0)
    with pytest.raises(ValueError, match="unknown generation.backend"):
        generate_shard(_config(root, backend="dalle"), DATE, 0)


def _guidance(root: str, **styles: tuple[str, ...]) -> None:
    from generec_core.instructor import Guidance

    records = [Guidance(generate=True, styles=s, source="instruction", user_id=u) for u, s in styles.items()]
    write_text(Layout(root).guidance(DATE), "".join(json.dumps(g.to_dict()) + "\n" for g in records))


def test_instructed_styles_edit_the_users_clips(root):
    from generec_core.fidelity.metadata import ai_marked, clip_metadata, find_user_ids

    _guidance(root, u0=("monochrome",), u1=("cartoon",), u3=("cartoon",), cold=("monochrome",))
    summary = generate_shard(_config(root), DATE, 0)
    rows = _rows(root)
    source = rows["u2"]["clip_staged"]
    assert rows["u2"]["clip_kind"] == "selected" and rows["u2"]["clip_generator_id"] is None
    assert summary["edited_clip_rows"] == 4 and summary["edited_clips"] == 2 and summary["edited_clips_made"] == 2
    assert rows["cold"]["thumbnail_kind"] == "original"  # no taste to generate from, but the style applies
    for user in ("u0", "u1", "u3", "cold"):
        row = rows[user]
        assert row["clip_kind"] == "edited" and row["clip_generator_id"].startswith("neural-style/")
        assert row["selected_clip_staged"] == source and row["clip_staged"] != source
    assert rows["u1"]["clip_staged"] == rows["u3"]["clip_staged"]  # one edit per (clip, style), shared
    assert rows["u0"]["clip_staged"] == rows["cold"]["clip_staged"]
    original, _ = clip_frames(storage_for(source).read_bytes(source))
    for user in ("u0", "u1"):
        blob = storage_for(rows[user]["clip_staged"]).read_bytes(rows[user]["clip_staged"])
        frames, rate = clip_frames(blob)
        assert len(frames) == len(original) and frames[0].shape == original[0].shape and rate == 12
        assert ai_marked(clip_metadata(blob))
        assert not find_user_ids([rows[user]["clip_staged"], *clip_metadata(blob)], frozenset(rows))
    mono, _ = clip_frames(storage_for(rows["u0"]["clip_staged"]).read_bytes(rows["u0"]["clip_staged"]))
    cartoon, _ = clip_frames(storage_for(rows["u1"]["clip_staged"]).read_bytes(rows["u1"]["clip_staged"]))
    assert max(np.abs(f[..., 0].astype(int) - f[..., 2]).mean() for f in mono) < 3  # monochrome
    assert np.mean([np.abs(c.astype(int) - o).mean() for c, o in zip(cartoon, original)]) > 8  # re-rendered
    lineage = pq.read_table(io.BytesIO(storage_for(lineage_uri(Layout(root), run_id_for(DATE), 0)).read_bytes(
        lineage_uri(Layout(root), run_id_for(DATE), 0)))).to_pylist()
    clips = [x for x in lineage if x["asset_kind"] == "clip"]
    assert {(x["source_staged"], tuple(x["styles"])) for x in clips} == {(source, ("monochrome",)),
                                                                         (source, ("cartoon",))}
    blobs = {u: storage_for(rows[u]["clip_staged"]).read_bytes(rows[u]["clip_staged"]) for u in ("u0", "u1")}
    for uri in list_uris(join(Layout(root).work(run_id_for(DATE)), "staged/edited_clips")):
        storage_for(uri).delete(uri)
    assert generate_shard(_config(root), DATE, 0)["edited_clips_made"] == 2  # re-made, byte for byte
    assert {u: storage_for(_rows(root)[u]["clip_staged"]).read_bytes(_rows(root)[u]["clip_staged"])
            for u in ("u0", "u1")} == blobs
    assert generate_shard(_config(root), DATE, 0)["edited_clips_made"] == 0  # staged edits are reused


def test_clip_edit_settings(root):
    _guidance(root, u3=("vintage",))
    assert generate_shard(_config(root, edit_clips="none"), DATE, 0)["edited_clips"] == 0
    assert _rows(root)["u3"]["clip_kind"] == "selected"
    summary = generate_shard(_config(root, edit_clips="policy"), DATE, 0)
    rows = _rows(root)
    assert summary["edited_clip_rows"] == 4 and summary["edited_clips_made"] == 3  # red group, blue group, u3
    assert rows["u0"]["clip_staged"] == rows["u1"]["clip_staged"] != rows["u2"]["clip_staged"]
    assert rows["u3"]["clip_staged"] not in (rows["u1"]["clip_staged"], rows["u2"]["clip_staged"])
    assert generate_shard(_config(root, backend="restyle"), DATE, 0)["edited_clips"] == 0  # restyle edits no clip
