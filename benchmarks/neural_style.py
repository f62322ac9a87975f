"""The neural-style backend: speed, clip flicker, and where the gate's bar for generated assets comes from.

    .venv/bin/python benchmarks/neural_style.py [--frames-per-category 24] [--threads 2]

1. Speed on ``--threads`` CPU threads (and on CUDA when the installed onnxruntime has it): images/s
   of the transformer alone and of a whole generated thumbnail (style prediction of the frame +
   rendering + recipe), at 256 and 512 px; clip-editing frames/s on 320x180 demo frames.
2. Flicker ratio (``fidelity/flicker.py``) of edited demo clips, one per category, unblended vs
   blended with the default ``generation.clip_smoothing`` (``generation/temporal.py``).
3. Authenticity (encoder cosine to the source frame): generated thumbnails of real demo frames,
   in tastes from other categories' frames and in each style recipe, against (a) their own source
   frame (must pass) and (b) an unrelated frame of another category (must fail), next to
   ``GateConfig.min_authenticity_generated``. Ratios and distributions come from one run.

Deterministic; CPU unless CUDA is present.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from generec_core.config import GateConfig, GenerationConfig
from generec_core.demo.sources import CATEGORY_NAMES, plan_segment, render_segment
from generec_core.fidelity.flicker import flicker_ratio
from generec_core.generation.backend import GenerationRequest
from generec_core.generation.neural_style import StyleNetwork
from generec_core.generation.neural_style_generator import NeuralStyleGenerator


def _rate(fn, n: int) -> float:
    fn()  # warm-up: session and allocator
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def _line(name: str, values) -> None:
    v = np.asarray(values, np.float64)
    print(f"  {name:46s} min {v.min():7.3f}  p05 {np.percentile(v, 5):7.3f}  p50 {np.median(v):7.3f}  "
          f"p95 {np.percentile(v, 95):7.3f}  max {v.max():7.3f}  (n={len(v)})")


def speed(threads: int, device: str) -> None:
    config = GenerationConfig(threads=threads, device=device)
    generator = NeuralStyleGenerator(config, StyleNetwork(device, threads))
    print(f"[speed] device={device} providers={generator.network.providers} threads={threads}")
    rng = np.random.default_rng(0)
    taste = generator.style_of(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
    for side in (256, 512):
        image = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        style = generator.style_of(image)
        n = 20 if side == 256 else 6
        render = _rate(lambda: generator.network.render(image, style), n)
        whole = _rate(lambda: generator.generate([GenerationRequest(image, None, "", 0, taste_style=taste)]), n)
        print(f"  {side}x{side}: transformer {render:6.1f} images/s | whole thumbnail (predict + render) "
              f"{whole:6.1f} images/s")
    frames = render_segment("cat", plan_segment("cat", 2.0, np.random.default_rng(1)), 24)
    start = time.perf_counter()
    generator.edit_clip(frames, taste, ())
    print(f"  clip editing, 320x180: {len(frames) / (time.perf_counter() - start):6.1f} frames/s")


def flicker(categories: dict[str, list[np.ndarray]], smoothing: float) -> None:
    print(f"[flicker] edited demo clips (12 frames at 12 fps), ratio vs ceiling {GateConfig().max_flicker_ratio}")
    unblended = NeuralStyleGenerator(GenerationConfig(clip_smoothing=0.0))
    blended = NeuralStyleGenerator(GenerationConfig(clip_smoothing=smoothing))
    taste = unblended.style_of(categories["coffee"][0])
    for styles in ((), ("cartoon",), ("vintage",), ("monochrome",)):
        label = "+".join(styles) or "taste"
        raw = [flicker_ratio(unblended.edit_clip(c, taste, styles), c) for c in categories.values()]
        smooth = [flicker_ratio(blended.edit_clip(c, taste, styles), c) for c in categories.values()]
        _line(f"{label}: unblended", raw)
        _line(f"{label}: blended {smoothing:g}", smooth)


def authenticity(categories: dict[str, list[np.ndarray]]) -> None:
    from generec_core.embedding.encoder import load_encoder

    gate = GateConfig()
    encoder = load_encoder("efficientnet-lite0", "cpu", 32)
    generator = NeuralStyleGenerator(GenerationConfig())
    names = list(categories)
    frames = [f for name in names for f in categories[name][::3]]
    labels = [name for name in names for _ in categories[name][::3]]
    sources = encoder.embed(frames)
    print(f"[authenticity] {len(frames)} demo frames x taste of another category x each style; "
          f"gate.min_authenticity_generated = {gate.min_authenticity_generated}")
    own, unrelated = [], []
    rng = np.random.default_rng(0)
    for styles in ((), *((s,) for s in ("cartoon", "vintage", "monochrome", "warm", "vivid", "cinematic"))):
        requests = []
        for i, frame in enumerate(frames):
            other = names[(names.index(labels[i]) + 1 + int(rng.integers(0, len(names) - 1))) % len(names)]
            taste = generator.style_of(categories[other][0])
            requests.append(GenerationRequest(frame, None, "", 0, styles, taste_style=taste))
        made = encoder.embed(generator.generate(requests))
        scores = (made * sources).sum(1)
        shifted = np.roll(np.arange(len(frames)), len(frames) // len(names))  # same position, next category
        own += scores.tolist()
        unrelated += (made * sources[shifted]).sum(1).tolist()
        _line(f"own source, styles={'+'.join(styles) or '-'}", scores)
    noise = encoder.embed(list(np.random.default_rng(1).integers(0, 256, (16, *frames[0].shape), dtype=np.uint8)))
    noise_scores = (noise @ sources.T).ravel()
    _line("own source, all styles (must pass)", own)
    _line("an unrelated frame, all styles (must fail)", unrelated)
    _line("random noise vs every frame (must fail)", noise_scores)
    bar = gate.min_authenticity_generated
    print(f"  share passing the bar {bar}: own {np.mean(np.asarray(own) >= bar):.3f}, "
          f"unrelated {np.mean(np.asarray(unrelated) >= bar):.3f}, noise {np.mean(noise_scores >= bar):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-per-category", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", default="", help="comma-separated sections to skip: speed,flicker,authenticity")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    n = args.frames_per_category
    categories = {name: render_segment(name, plan_segment(name, n / 12.0, np.random.default_rng(7)), n)
                  for name in CATEGORY_NAMES}
    if "speed" not in skip:
        speed(args.threads, "cpu")
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            speed(args.threads, "cuda")
        else:
            print("[speed] CUDA: this onnxruntime build has no CUDA provider (install onnxruntime-gpu)")
    if "flicker" not in skip:
        flicker(categories, GenerationConfig().clip_smoothing)
    if "authenticity" not in skip:
        authenticity(categories)


if __name__ == "__main__":
    main()
