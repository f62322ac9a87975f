"""Thumbnail generation throughput (images/s) of the diffusers backend, through ``DiffusersGenerator``.

On CUDA: the full-size SD-Turbo architecture (SD 2.1 UNet, OpenCLIP ViT-H text encoder, VAE)
with RANDOM weights -- throughput depends on the architecture, not the weights, and no
weights can be downloaded here -- img2img at 512x512 with SD-Turbo's production defaults
(2 steps x strength 0.5 = 1 denoising step, no CFG), float16 vs bfloat16, eager vs
``torch.compile`` (UNet). The backend runs one image per pipeline call (batched kernels are not
bit-identical across batch sizes, and re-runs must give the same bytes), so this is the rate
a worker gets. Ratios are against float16/eager in the same run.

On CPU it is a smoke test: the tiny random pipeline at its native 64 px, float32, eager.
The restyle backend (CPU, no weights) is timed too, for scale.

    .venv/bin/python benchmarks/generation_throughput.py [--images 8] [--iters 3] [--no-compile]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from generec_core.config import GenerationConfig
from generec_core.generation.backend import GenerationRequest
from generec_core.generation.diffusion import DiffusersGenerator
from generec_core.generation.generators import load_generator
from generec_core.generation.palette import palette_of_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # test scaffolding: random-weight models
from tiny_models import sd_turbo_pipeline, tiny_sd_pipeline  # noqa: E402


def _device_name(cuda: bool) -> str:
    return torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _requests(n: int, side: int, seed0: int = 0) -> list[GenerationRequest]:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    palette = palette_of_image(frame)
    return [GenerationRequest(frame, palette, "a high quality video thumbnail, teal and orange colour palette",
                              seed0 + i) for i in range(n)]


def _rate(generate, batch: int, side: int, iters: int, warmup: int) -> float:
    for w in range(warmup):
        generate(_requests(batch, side, seed0=1000 * (w + 1)))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(iters):
        generate(_requests(batch, side, seed0=10 * i))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return batch * iters / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8, help="images per timed generate() call")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    print(f"device: {_device_name(cuda)}; torch {torch.__version__}")
    if cuda:
        print("model: full-size SD-Turbo architecture with RANDOM weights (throughput only; images are noise)")
        base, side, family = sd_turbo_pipeline("cuda"), 512, "sd-turbo"
        variants = [(p, c) for p in ("fp16", "bf16") for c in ((False,) if args.no_compile else (False, True))]
    else:
        print("model: tiny random SD pipeline (CPU smoke test: not a throughput figure for production)")
        base, side, family = tiny_sd_pipeline(), 64, "sd-turbo"
        variants = [("fp32", False)]
    print(f"img2img {side}x{side}, SD-Turbo defaults (steps 2 x strength 0.5, guidance 0)")
    print(f"{'precision':<9} {'compile':<8} {'images/s':>10} {'ms/image':>9} {'x baseline':>10}")
    baseline = None
    for precision, compiled in variants:
        config = GenerationConfig(backend="diffusers", model="sd-turbo-architecture-random", precision=precision,
                                  compile=compiled, resolution=side)
        gen = DiffusersGenerator(config, pipe=base, family=family)
        rate = _rate(gen.generate, args.images, side, args.iters, warmup=2 if compiled else 1)
        baseline = baseline or rate
        print(f"{precision:<9} {compiled!s:<8} {rate:>10.2f} {1000 / rate:>9.1f} {rate / baseline:>10.2f}",
              flush=True)
        del gen
        if cuda:
            torch.cuda.empty_cache()
    restyle = load_generator(GenerationConfig(backend="restyle"))
    rate = _rate(restyle.generate, 16, 512 if cuda else side * 4, args.iters, warmup=1)
    print(f"restyle backend (CPU, no weights) at {512 if cuda else side * 4}px: {rate:.2f} images/s")


if __name__ == "__main__":
    main()
