"""CLIP image (and text) embeddings from local weights: the paper's encoder, for production GPUs.

Configured as ``frames.encoder = "clip:<local dir or Hugging Face model id>"``. Weights load
with ``local_files_only=True`` from a ``save_pretrained`` directory or the local Hugging Face
cache: nothing is downloaded at run time, and missing weights raise ``EncoderUnavailable``
naming the directory or model id -- never a silent fallback to another encoder.

The partition id is ``clip-<name>-<fingerprint>`` (``clip_weights.py``, which finds the weights
without importing torch).

Preprocessing follows the checkpoint's ``preprocessor_config.json`` (OpenAI defaults when
absent): bicubic resize of the shorter side, centre crop, /255, mean/std normalisation --
done in torch on the target device, batched by image shape, matching ``CLIPImageProcessor``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from generec_core.devices import resolve_device, resolve_dtype
from generec_core.embedding.base import EncoderUnavailable, Images, as_image_list, cached_model
from generec_core.embedding.clip_weights import clip_encoder_id, resolve_model_dir

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ClipPreprocess:
    resize: int  # shorter side after resize
    crop: int  # square centre crop side
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def describe(self) -> str:
        return (f"RGB uint8 -> bicubic antialiased resize of the shorter side to {self.resize} -> "
                f"centre crop {self.crop}x{self.crop} -> /255 -> (x - {list(self.mean)}) / {list(self.std)}; "
                "features: CLIP visual projection, L2-normalised")


def read_preprocess(path: Path, image_size: int) -> ClipPreprocess:
    """From ``preprocessor_config.json`` (HF's format), else the OpenAI CLIP defaults."""
    cfg_path = path / "preprocessor_config.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}

    def side(value, default: int) -> int:
        if isinstance(value, dict):
            return int(value.get("shortest_edge") or value.get("height") or default)
        return int(value) if value else default

    resize = side(cfg.get("size"), image_size)
    crop = side(cfg.get("crop_size"), image_size) if cfg.get("do_center_crop", True) else resize
    mean = tuple(float(x) for x in cfg.get("image_mean", OPENAI_MEAN))
    std = tuple(float(x) for x in cfg.get("image_std", OPENAI_STD))
    return ClipPreprocess(resize, crop, mean, std)  # type: ignore[arg-type]


class CLIPEncoder:
    """transformers ``CLIPModel`` behind the ``ImageEncoder`` interface, plus ``embed_text``."""

    def __init__(self, spec: str, *, device: str, batch_size: int, precision: str) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.spec = spec
        self.path = resolve_model_dir(spec)
        self.encoder_id = clip_encoder_id(spec)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.batch_size = batch_size
        self.model = cached_model(self.encoder_id, self.device, self.dtype, self._build)
        self.dim = int(self.model.config.projection_dim)
        self.prep = read_preprocess(self.path, int(self.model.config.vision_config.image_size))
        self.preprocessing = self.prep.describe()
        self._tokenizer = None

    def _build(self) -> torch.nn.Module:
        from transformers import CLIPModel

        try:
            model = CLIPModel.from_pretrained(str(self.path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EncoderUnavailable(f"cannot load CLIP weights for {self.spec!r} from {self.path}: {exc}") from exc
        return model.eval()

    def embed(self, images: Images) -> np.ndarray:
        """(N, dim) float32, L2-normalised."""
        images = as_image_list(images)
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            batch = images[start:start + self.batch_size]
            pixels = self._preprocess(batch)
            with torch.inference_mode():
                pooled = self.model.vision_model(pixel_values=pixels).pooler_output
                feats = self.model.visual_projection(pooled)
                out[start:start + len(batch)] = F.normalize(feats.float(), dim=1, eps=1e-12).cpu().numpy()
        return out

    def embed_images(self, images: Images) -> np.ndarray:
        return self.embed(images)

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) float32 L2-normalised text embeddings in the same space as ``embed``."""
        if isinstance(texts, str):
            raise ValueError("embed_text takes a sequence of strings, not one string")
        tokenizer = self.tokenizer
        max_len = int(self.model.config.text_config.max_position_embeddings)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start:start + self.batch_size])
            tokens = tokenizer(batch, padding="max_length", truncation=True, max_length=max_len,
                               return_tensors="pt").to(self.device)
            with torch.inference_mode():
                pooled = self.model.text_model(input_ids=tokens["input_ids"],
                                               attention_mask=tokens["attention_mask"]).pooler_output
                feats = self.model.text_projection(pooled)
                out[start:start + len(batch)] = F.normalize(feats.float(), dim=1, eps=1e-12).cpu().numpy()
        return out

    @property
    def tokenizer(self):
        """The checkpoint's own tokenizer files (vocab.json + merges.txt or tokenizer.json)."""
        if self._tokenizer is None:
            from transformers import CLIPTokenizer

            # checked by hand: from_pretrained on a directory without them quietly builds a
            # 3-token tokenizer, and every text would embed as the same vector
            has_files = (self.path / "tokenizer.json").is_file() or all(
                (self.path / name).is_file() for name in ("vocab.json", "merges.txt"))
            expected = int(self.model.config.text_config.vocab_size)
            try:
                tokenizer = CLIPTokenizer.from_pretrained(str(self.path), local_files_only=True) if has_files else None
            except (OSError, ValueError, TypeError) as exc:
                raise EncoderUnavailable(f"CLIP tokenizer files for {self.spec!r} in {self.path} "
                                         f"do not load: {exc}") from exc
            if tokenizer is None or len(tokenizer) != expected:
                found = "none" if tokenizer is None else f"{len(tokenizer)} tokens"
                raise EncoderUnavailable(
                    f"CLIP tokenizer files for {self.spec!r} are missing from {self.path} (need tokenizer.json "
                    f"or vocab.json + merges.txt with the model's {expected} tokens; found {found})")
            self._tokenizer = tokenizer
        return self._tokenizer

    def _preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """Resize the shorter side (bicubic, antialiased, clamped like uint8), centre crop, normalise."""
        p = self.prep
        batch = torch.empty((len(images), 3, p.crop, p.crop), dtype=torch.float32, device=self.device)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault(img.shape, []).append(i)
        for shape, indices in groups.items():
            height, width = shape[:2]
            new_h, new_w = _resized(height, width, p.resize)
            pixels = torch.from_numpy(np.stack([images[i] for i in indices])).to(self.device)
            pixels = pixels.permute(0, 3, 1, 2).float()
            if (new_h, new_w) != (height, width):
                pixels = F.interpolate(pixels, size=(new_h, new_w), mode="bicubic",
                                       align_corners=False, antialias=True).clamp_(0, 255).round_()
            pixels = _center_crop(pixels, p.crop)
            batch[indices] = pixels
        mean = torch.tensor(p.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(p.std, device=self.device).view(1, 3, 1, 1) * 255.0
        batch = (batch - mean) / std
        return batch.to(self.dtype).contiguous(memory_format=torch.channels_last)


def _resized(height: int, width: int, shorter: int) -> tuple[int, int]:
    """HF's ``get_resize_output_image_size`` for ``shortest_edge``: long side truncated."""
    if height <= width:
        return shorter, int(shorter * width / height)
    return int(shorter * height / width), shorter


def _center_crop(pixels: torch.Tensor, side: int) -> torch.Tensor:
    """HF's centre crop; pads with zeros when the image is smaller than the crop."""
    height, width = pixels.shape[-2:]
    if height < side or width < side:
        pad_h, pad_w = max(0, side - height), max(0, side - width)
        pixels = F.pad(pixels, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        height, width = pixels.shape[-2:]
    top, left = (height - side) // 2, (width - side) // 2
    return pixels[..., top:top + side, left:left + side]
