"""Where the fidelity gate's thresholds come from: each check's score on real demo frames vs bad variants.

    .venv/bin/python benchmarks/fidelity_thresholds.py [--frames-per-category 24]

Renders real 320x180 demo frames of every category (as the demo world does), makes the
variants the gate must reject (blurred, colour-shifted as a generator would, another
category, noise) and prints each score's range next to the ``GateConfig`` default, so a
threshold change can be judged against the margin it leaves. Deterministic; CPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' real-image helpers

from fidelity_images import blurred, colour_shifted, jpeg  # noqa: E402

from generec_core.config import GateConfig  # noqa: E402
from generec_core.demo.sources import CATEGORY_NAMES, plan_segment, render_segment  # noqa: E402
from generec_core.fidelity.faces import detect_faces  # noqa: E402
from generec_core.fidelity.quality import decode_image  # noqa: E402
from generec_core.fidelity.safety import nsfw_scores  # noqa: E402
from generec_core.video.quality import frame_metrics  # noqa: E402


def _sharpness(images: list[np.ndarray]) -> np.ndarray:
    return np.array([m["laplacian_var"] / max(m["luma_std"], 1.0) ** 2 for m in frame_metrics(images, False)])


def _line(name: str, values, threshold, note: str = "") -> None:
    v = np.asarray(values, dtype=np.float64)
    print(f"{name:44s} min {v.min():8.4f}  p50 {np.median(v):8.4f}  max {v.max():8.4f}  | gate {threshold}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-per-category", type=int, default=24)
    n = parser.parse_args().frames_per_category
    from generec_core.embedding.encoder import load_encoder

    gate = GateConfig()
    frames, labels = [], []
    for name in CATEGORY_NAMES:
        plan = plan_segment(name, n / 12.0, np.random.default_rng(7))
        frames += render_segment(name, plan, n)
        labels += [name] * n
    print(f"{len(frames)} demo frames, {len(CATEGORY_NAMES)} categories")
    _line("sharpness: real frames", _sharpness(frames), gate.min_sharpness, "(must pass)")
    for sigma in (2.0, 3.0):
        _line(f"sharpness: Gaussian blur sigma {sigma}", _sharpness([blurred(f, sigma) for f in frames]),
              gate.min_sharpness, "(should fail)")
    metrics = frame_metrics(frames, False)
    _line("exposure: luma p99 (under-exposed below)", [m["luma_p99"] for m in metrics], gate.dark_level)
    _line("exposure: luma p01 (over-exposed above)", [m["luma_p01"] for m in metrics], gate.bright_level)
    _line("blank: luma std", [m["luma_std"] for m in metrics], gate.min_pixel_std)
    _line("safety: open_nsfw on real frames", nsfw_scores(frames), gate.max_nsfw, "(must pass)")

    encoder = load_encoder("efficientnet-lite0", "cpu", 32)
    real = encoder.embed(frames)
    again = encoder.embed([decode_image(jpeg(f)) for f in frames])
    shifted = encoder.embed([colour_shifted(f) for f in frames])
    noise = encoder.embed(list(np.random.default_rng(0).integers(0, 256, (16, 180, 320, 3), dtype=np.uint8)))
    other = np.roll(np.arange(len(frames)), n)  # the same position in the next category
    _line("authenticity: JPEG q90 re-encode", (real * again).sum(1), gate.min_authenticity, "(must pass)")
    _line("authenticity: another category", (real * real[other]).sum(1), gate.min_authenticity, "(must fail)")
    _line("authenticity: colour-shifted (generated)", (real * shifted).sum(1), gate.min_authenticity_generated,
          "(must pass)")
    _line("authenticity: noise (generated)", (real @ noise.T).max(1), gate.min_authenticity_generated, "(must fail)")

    strict, lenient = gate.face_candidate_neighbors, gate.face_source_neighbors
    gained = [len(detect_faces(colour_shifted(f), strict, gate.min_face_frac))
              - len(detect_faces(f, lenient, gate.min_face_frac)) for f in frames]
    print(f"new faces in colour-shifted copies (false positives): {sum(g > 0 for g in gained)} of {len(frames)} frames; "
          f"categories with faces at low confidence: "
          f"{sorted({str(c) for c, f in zip(labels, frames) if detect_faces(f, lenient, gate.min_face_frac)})}")


if __name__ == "__main__":
    main()
