"""Fidelity gate throughput: assets audited/s with and without reusing the models' outputs.

Real assets, as the demo world stages them: 320x180 demo frames of every category as JPEG thumbnails
(repurposed) and as colour-shifted, AI-marked generated thumbnails with their source frames (the
new-faces check), plus clips cut from a demo video at the windows of its sampled frames. The same set is
audited three times by ``fidelity.audit.Auditor`` in the audit stage's batches (32 images; clips by about
32 frames), with the real EfficientNet-Lite0, open_nsfw and face cascade:

- baseline: reuse off (``gate.reuse_model_outputs = False``), every model runs;
- cold: reuse on, an empty ``gate_cache`` (every model runs, and its outputs are written);
- warm: reuse on, the cache the cold pass filled, a fresh Auditor (a later night: decode, hash, read the
  stored outputs, re-apply every check);
- 75% warm: reuse on, a cache that holds the outputs of every 4 assets' first 3 (a later night where a
  quarter of the assets are new).

The verdicts of the four passes must be identical (checked). Ratios are vs the baseline, same process.

    .venv/bin/python benchmarks/gate_throughput.py [--frames-per-category 4] [--clips 8] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' real-image helpers

from fidelity_images import colour_shifted, jpeg  # noqa: E402

from generec_core.config import GateConfig  # noqa: E402
from generec_core.datasets.gate_cache import GateCache  # noqa: E402
from generec_core.datasets.layout import Layout  # noqa: E402
from generec_core.demo.sources import CATEGORY_NAMES, plan_segment, render_segment  # noqa: E402
from generec_core.demo.videos import encode_mp4  # noqa: E402
from generec_core.embedding.encoder import load_encoder  # noqa: E402
from generec_core.fidelity.audit import Auditor, ClipAsset, ImageAsset  # noqa: E402
from generec_core.fidelity.metadata import mark_ai_generated  # noqa: E402
from generec_core.storage import file_uri  # noqa: E402
from generec_core.video.clip import cut_clip  # noqa: E402
from generec_core.video.decode import sample_frames  # noqa: E402

CHUNK = 32  # the audit stage's batch (stages/audit.py _CHUNK)


def frames(category: str, n: int, seed: int) -> list[np.ndarray]:
    plan = plan_segment(category, max(n, 2) / 12.0 * 6, np.random.default_rng(seed))
    return list(render_segment(category, plan, max(n, 2) * 6))[::6][:n]


def build(encoder, per_category: int, n_clips: int, workdir: Path) -> tuple[list[ImageAsset], list[ClipAsset]]:
    images = []
    for k, category in enumerate(CATEGORY_NAMES):
        shots = frames(category, per_category, 7 + k)
        sources = encoder.embed(shots)
        for i, (px, emb) in enumerate(zip(shots, sources)):
            images.append(ImageAsset(f"{category}-f{i:03d}.jpg", jpeg(px), emb))
            images.append(ImageAsset(f"{category}-f{i:03d}-gen.jpg", mark_ai_generated(jpeg(colour_shifted(px)), "b"),
                                     emb, generated=True, source_pixels=px, row_marked=True))
    clips: list[ClipAsset] = []
    if n_clips:
        video = workdir / "video.mp4"
        video.write_bytes(encode_mp4([f for c in CATEGORY_NAMES[:4] for f in frames(c, 24, 3)]))
        sampled = sample_frames(video, n=n_clips + 4, max_side=640)
        ts, emb = sampled.timestamps, encoder.embed(sampled.frames)
        for i in range(n_clips):
            start, end = float(ts[i]), float(ts[i + 4])
            clips.append(ClipAsset(f"clip-w{i:03d}.mp4", cut_clip(video, start, end), start, end,
                                   [(float(ts[k]), emb[k]) for k in range(i, i + 4)]))
    return images, clips


def audit(auditor: Auditor, images: list[ImageAsset], clips: list[ClipAsset]) -> tuple[float, list]:
    start = time.perf_counter()
    out = []
    for i in range(0, len(images), CHUNK):
        out += auditor.images(images[i:i + CHUNK])
    per = max(1, CHUNK // auditor.gate.clip_check_frames)
    for i in range(0, len(clips), per):
        out += auditor.clips(clips[i:i + per])
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames-per-category", type=int, default=4)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    encoder = load_encoder("efficientnet-lite0", args.device, 32)
    gate = GateConfig()
    with tempfile.TemporaryDirectory() as tmp:
        images, clips = build(encoder, args.frames_per_category, args.clips, Path(tmp))
        n = len(images) + len(clips)
        audit(Auditor(gate, encoder), images, clips)  # load every model and warm its batches, untimed
        layout = Layout(file_uri(Path(tmp) / "root"))
        base_s, base = audit(Auditor(gate, encoder), images, clips)
        cold = Auditor(gate, encoder, outputs=GateCache.for_encoder(layout, encoder))
        cold_s, cold_out = audit(cold, images, clips)
        warm = Auditor(gate, encoder, outputs=GateCache.for_encoder(layout, encoder))
        warm_s, warm_out = audit(warm, images, clips)
        part = GateCache.for_encoder(Layout(file_uri(Path(tmp) / "part")), encoder)
        audit(Auditor(gate, encoder, outputs=part), [a for i, a in enumerate(images) if i % 4 != 3],
              [c for i, c in enumerate(clips) if i % 4 != 3])
        mixed = Auditor(gate, encoder, outputs=part)
        mixed_s, mixed_out = audit(mixed, images, clips)
        assert base == cold_out == warm_out == mixed_out, "the verdicts changed with the cache"
        entries = sum(1 for _ in (Path(tmp) / "root").rglob("*.npz"))
    passed = sum(all(c.passed for c in checks) for checks in base)
    print(f"device: {args.device}, torch threads {torch.get_num_threads()}, load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"assets: {len(images)} images ({len(images) // 2} generated) + {len(clips)} clips = {n}; "
          f"{passed} pass; {entries} cache entries")
    print(f"{'baseline (reuse off)':28s} {base_s:7.2f} s  {n / base_s:8.1f} assets/s  x1.00")
    print(f"{'cold cache (reuse on)':28s} {cold_s:7.2f} s  {n / cold_s:8.1f} assets/s  x{base_s / cold_s:.2f}"
          f"   {cold.models.stats()}")
    print(f"{'warm cache (reuse on)':28s} {warm_s:7.2f} s  {n / warm_s:8.1f} assets/s  x{base_s / warm_s:.2f}"
          f"   {warm.models.stats()}")
    print(f"{'75% warm (reuse on)':28s} {mixed_s:7.2f} s  {n / mixed_s:8.1f} assets/s  x{base_s / mixed_s:.2f}"
          f"   {mixed.models.stats()}")
    print(f"warm vs cold: x{cold_s / warm_s:.2f}; verdicts identical in all four passes")


if __name__ == "__main__":
    main()
