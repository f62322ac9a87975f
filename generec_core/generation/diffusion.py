"""The ``diffusers`` backend: image-to-image from the selected frame, conditioned on the taste.

``AutoPipelineForImage2Image`` picks the img2img pipeline matching the saved one
(``StableDiffusionImg2ImgPipeline`` for SD 1.5/2.x and SD-Turbo, the XL one for SDXL and
SDXL-Turbo). Weights load only from a local directory (``local_files_only=True``): a GPU
worker never reaches a hub, and missing weights fail the task with a message naming the
directory and the model expected, never a silent fallback to another backend.

Conditioning: the taste group's style prompt (guidance styles + its palette's colours),
and, where the model family has an IP-Adapter and ``ip_adapter_dir`` is configured, the
IP-Adapter image embedding of the taste = mean of the adapter's CLIP image embeddings of
the group's liked covers (the paper's taste, in the adapter's own space).

Strength, steps, guidance scale and resolution default per family (turbo models are
distilled for 1-4 steps without classifier-free guidance; SD 1.5-class models get the
paper's 50 steps at guidance 5.0).

One image per pipeline call, with its own seeded CPU generator. Batching would be faster on a
GPU, but batched kernels are not bit-identical across batch sizes and CPUs (an AMD EPYC gave
one pixel value off by 1 for the same seed in another batch), and a re-run must give the same
bytes whatever else the run generates: so an image never shares a call.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from generec_core.config import GenerationConfig
from generec_core.devices import resolve_device, resolve_dtype
from generec_core.generation.backend import GenerationRequest, GenerationSettings, GeneratorUnavailable

log = logging.getLogger(__name__)

PIPELINE_FILES = "model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/"


@dataclass(frozen=True)
class FamilyDefaults:
    strength: float
    steps: int
    guidance_scale: float
    resolution: int | None  # None: the model's native size (UNet sample size x VAE scale factor)
    ip_adapter: tuple[str, str] | None  # (subfolder, weight file) in an h94/IP-Adapter folder


FAMILY_DEFAULTS: dict[str, FamilyDefaults] = {
    "sd-turbo": FamilyDefaults(0.5, 2, 0.0, None, None),  # no IP-Adapter exists for SD 2.x
    "sdxl-turbo": FamilyDefaults(0.5, 2, 0.0, 512, ("sdxl_models", "ip-adapter_sdxl.safetensors")),  # 512-trained
    "sd": FamilyDefaults(0.35, 50, 5.0, None, ("models", "ip-adapter_sd15.safetensors")),  # paper: 50 steps, 5.0
    "sdxl": FamilyDefaults(0.3, 40, 5.0, None, ("sdxl_models", "ip-adapter_sdxl.safetensors")),
}


def resolve_model_dir(config: GenerationConfig) -> Path:
    """``model`` as an absolute directory, or ``weights_dir/model``; it must hold a saved pipeline."""
    if not config.model:
        raise GeneratorUnavailable("generation.backend=diffusers needs generation.model: a model id under "
                                   "generation.weights_dir (e.g. stabilityai/sd-turbo) or an absolute local directory")
    path = Path(config.model)
    if not path.is_absolute():
        if not config.weights_dir:
            raise GeneratorUnavailable(f"generation.model {config.model!r} is a model id but generation.weights_dir "
                                       "is not set: nothing is downloaded at run time, so say where the weights are")
        path = Path(config.weights_dir) / config.model
    if not (path / "model_index.json").is_file():
        raise GeneratorUnavailable(
            f"diffusion weights for model {config.model!r} not found in {path}: expected a diffusers pipeline "
            f"folder ({PIPELINE_FILES}). Nothing is downloaded at run time; save the pipeline there "
            f"(save_pretrained, or `huggingface-cli download {config.model} --local-dir {path}` on a machine "
            "with hub access)")
    return path


def model_family(model_dir: Path, model_id: str) -> str:
    """sd | sdxl | sd-turbo | sdxl-turbo, from the saved pipeline class and the model's name."""
    class_name = json.loads((model_dir / "model_index.json").read_text()).get("_class_name", "")
    xl = "XL" in class_name
    turbo = "turbo" in model_id.lower() or "turbo" in model_dir.name.lower()
    return ("sdxl" if xl else "sd") + ("-turbo" if turbo else "")


def model_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """(h, w) with the longest side = ``resolution``, both multiples of 8 (the VAE's stride)."""
    scale = resolution / max(height, width)
    return max(8, int(height * scale / 8 + 0.5) * 8), max(8, int(width * scale / 8 + 0.5) * 8)


def load_pipeline(model_dir: Path, model_id: str, dtype: torch.dtype):
    """The img2img pipeline from a local folder only; an incomplete folder names what failed."""
    from diffusers import AutoPipelineForImage2Image

    try:
        return AutoPipelineForImage2Image.from_pretrained(str(model_dir), dtype=dtype, local_files_only=True)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise GeneratorUnavailable(f"diffusion model {model_id!r} in {model_dir} could not be loaded "
                                   f"(expected {PIPELINE_FILES}): {exc}") from exc


def _validate(strength: float, steps: int, resolution: int | None) -> None:
    """Settings that cannot work fail before gigabytes of weights are loaded."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"generation.strength must be in (0, 1] for img2img, got {strength}")
    if int(steps * strength) < 1:
        raise ValueError(f"generation.steps x strength = {steps} x {strength} < 1: img2img would run no "
                         "denoising step; raise steps or strength")
    if resolution is not None and (resolution < 64 or resolution % 8):
        raise ValueError(f"generation.resolution must be a multiple of 8, at least 64; got {resolution}")


class DiffusersGenerator:
    """img2img on a locally stored diffusers pipeline; one seeded image per call, half precision on CUDA."""

    backend = "diffusers"

    def __init__(self, config: GenerationConfig, pipe=None, family: str | None = None) -> None:
        """Load ``config.model`` from local files, or wrap an already built ``pipe`` of ``family`` (benchmarks)."""
        if pipe is None:
            model_dir = resolve_model_dir(config)
            self.model_id = config.model if not Path(config.model).is_absolute() else model_dir.name
            self.family = model_family(model_dir, self.model_id)
        else:
            self.model_id, self.family = config.model or type(pipe).__name__, family or "sd"
        defaults = FAMILY_DEFAULTS[self.family]
        strength = defaults.strength if config.strength is None else config.strength
        steps = defaults.steps if config.steps is None else config.steps
        _validate(strength, steps, config.resolution)
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.precision, self.device)
        self.negative_prompt = config.negative_prompt
        if pipe is None:
            self.pipe = load_pipeline(model_dir, self.model_id, self.dtype)
        else:
            from diffusers import AutoPipelineForImage2Image

            self.pipe = AutoPipelineForImage2Image.from_pipe(pipe)
            if self.pipe.dtype != self.dtype:
                self.pipe.to(dtype=self.dtype)
        native = int(self.pipe.unet.config.sample_size) * int(self.pipe.vae_scale_factor)
        self.settings = GenerationSettings(
            strength=strength, steps=steps,
            guidance_scale=defaults.guidance_scale if config.guidance_scale is None else config.guidance_scale,
            resolution=config.resolution or defaults.resolution or native)
        self.needs_covers = bool(config.ip_adapter_dir)
        self.style_encoder = self.clip_editor = None
        if self.needs_covers:
            self._load_ip_adapter(config, defaults)
        self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        if config.compile and self.device.type == "cuda":
            self.pipe.unet = torch.compile(self.pipe.unet)
        s = self.settings
        self.generator_id = (f"diffusers/{self.model_id}/{self.family}/s{s.strength:g}-n{s.steps}-g{s.guidance_scale:g}"
                             f"-r{s.resolution}" + ("+ip-adapter" if self.needs_covers else ""))
        self._taste_cache: dict[str, torch.Tensor] = {}
        log.info("diffusers generator %s on %s (%s)", self.generator_id, self.device, self.dtype)

    def _load_ip_adapter(self, config: GenerationConfig, defaults: FamilyDefaults) -> None:
        if defaults.ip_adapter is None:
            raise GeneratorUnavailable(f"generation.ip_adapter_dir is set but model family {self.family!r} "
                                       f"({self.model_id}) has no IP-Adapter; unset it for this model")
        subfolder, weight = defaults.ip_adapter
        weights = Path(config.ip_adapter_dir) / subfolder / weight
        if not weights.is_file():
            raise GeneratorUnavailable(f"IP-Adapter weights for {self.family} not found: expected {weights} "
                                       f"(+ {subfolder}/image_encoder/) in generation.ip_adapter_dir")
        self.pipe.load_ip_adapter(config.ip_adapter_dir, subfolder=subfolder, weight_name=weight,
                                  local_files_only=True)
        self.pipe.set_ip_adapter_scale(config.ip_adapter_scale)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[np.ndarray]:
        """One pipeline call per request (see the module docstring), results in request order."""
        return [self._run(r) for r in requests]

    def _run(self, request: GenerationRequest) -> np.ndarray:
        height, width = request.image.shape[:2]
        th, tw = model_size(height, width, self.settings.resolution)
        s = self.settings
        cfg = s.guidance_scale > 1.0
        kwargs = dict(
            prompt=request.prompt, image=Image.fromarray(request.image).resize((tw, th), Image.Resampling.LANCZOS),
            strength=s.strength, num_inference_steps=s.steps, guidance_scale=s.guidance_scale,
            generator=torch.Generator("cpu").manual_seed(request.seed), output_type="np")
        if cfg:
            kwargs["negative_prompt"] = self.negative_prompt
        with torch.inference_mode():
            if self.needs_covers:
                kwargs["ip_adapter_image_embeds"] = [self._taste_embeds(request, cfg)]
            image = self.pipe(**kwargs).images[0]
        pixels = np.clip(np.round(np.asarray(image, np.float32) * 255.0), 0, 255).astype(np.uint8)
        return np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.LANCZOS))

    def _taste_embeds(self, r: GenerationRequest, cfg: bool) -> torch.Tensor:
        """(1, 1, D) taste embedding (mean over liked covers), with a zero "unconditional" row under CFG."""
        if r.group not in self._taste_cache:
            if not r.covers:
                raise ValueError(f"taste group {r.group!r} has no liked covers for the IP-Adapter")
            covers = [Image.fromarray(c) for c in r.covers]
            embeds, _ = self.pipe.encode_image(covers, self.device, 1, output_hidden_states=False)
            self._taste_cache[r.group] = embeds.mean(0, keepdim=True)
        positive = self._taste_cache[r.group][None].to(self.device, self.pipe.unet.dtype)  # (1, 1, D)
        return torch.cat([torch.zeros_like(positive), positive]) if cfg else positive
