"""The ``restyle`` backend: a personalised thumbnail edit that needs no weights and runs on CPU.

Two edits, both driven by the taste group's palette (the covers its users liked):

1. Taste-aware crop: of the windows keeping ``crop_scale`` of each side (3x3 positions),
   keep the one whose pixels sit closest to the palette's dominant colours, then scale
   back to the frame's size. Users who like green get the part of the frame with grass.
2. Colour/tone transfer (Reinhard et al. 2001) in Lab: each channel's mean and spread
   move toward the palette's, weighted by ``strength`` (tone, L, moves half as far as
   colour so faces and text stay readable). Guidance styles (warm, monochrome, ...) are
   their recipes' filters and tone edits around it (``style_recipes.py``).

Geometry is never invented, only cropped and recoloured, so the result stays faithful to
its source frame (the fidelity gate checks that); two groups with different palettes get
visibly different thumbnails. Fully deterministic: no randomness at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image
from skimage.color import lab2rgb, rgb2lab

from generec_core.generation.backend import GenerationRequest, GenerationSettings
from generec_core.generation.palette import Palette, lab_pixels
from generec_core.generation.style_recipes import filtered, tone

RESTYLE_VERSION = "lab-reinhard-v1"
_RATIO_BOUNDS = (0.6, 1.6)  # limits on how far a channel's contrast may be stretched
_AFFINITY_SIGMA = 20.0  # Lab distance at which a pixel stops "belonging" to a palette colour
CROP_GRID = (0.5, 0.0, 1.0)  # window offsets as a fraction of the slack; centre first wins ties


@dataclass(frozen=True)
class CropBox:
    top: int
    left: int
    height: int
    width: int


def palette_affinity(lab: np.ndarray, palette: Palette) -> float:
    """Mean over pixels of the weighted closeness to the nearest dominant colour, in [0, 1]."""
    colours = np.asarray(palette.colours)
    weights = np.asarray(palette.weights)
    d2 = ((lab[:, None, :] - colours[None]) ** 2).sum(-1)
    return float((np.exp(-d2 / (2 * _AFFINITY_SIGMA ** 2)) * weights[None]).max(1).mean())


def taste_crop(image: np.ndarray, palette: Palette, scale: float) -> CropBox:
    """The crop window (``scale`` of each side) whose colours best match the palette."""
    h, w = image.shape[:2]
    ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
    if (ch, cw) == (h, w):
        return CropBox(0, 0, h, w)
    best, best_score = None, -1.0
    for fy in CROP_GRID:
        for fx in CROP_GRID:
            box = CropBox(round((h - ch) * fy), round((w - cw) * fx), ch, cw)
            window = image[box.top:box.top + ch, box.left:box.left + cw]
            score = palette_affinity(lab_pixels(window, 48), palette)
            if score > best_score + 1e-9:
                best, best_score = box, score
    return best


def transfer(lab: np.ndarray, palette: Palette, strength: float) -> np.ndarray:
    """Reinhard transfer of Lab statistics toward the palette, blended by ``strength``."""
    flat = lab.reshape(-1, 3)
    src_mean, src_std = flat.mean(0), flat.std(0) + 1e-6
    ratio = np.clip(np.asarray(palette.std) / src_std, *_RATIO_BOUNDS)
    moved = (lab - src_mean) * ratio + np.asarray(palette.mean)
    alpha = np.array([0.5 * strength, strength, strength])  # tone moves half as far as colour
    return lab + alpha * (moved - lab)


def restyle(image: np.ndarray, palette: Palette, strength: float, crop_scale: float,
            styles: Sequence[str] = ()) -> tuple[np.ndarray, CropBox]:
    """The personalised edit of one frame; returns (RGB uint8 of the frame's size, crop used)."""
    h, w = image.shape[:2]
    box = taste_crop(image, palette, crop_scale)
    window = image[box.top:box.top + box.height, box.left:box.left + box.width]
    if (box.height, box.width) != (h, w):
        window = np.asarray(Image.fromarray(window).resize((w, h), Image.Resampling.LANCZOS))
    rgb = lab2rgb(tone(transfer(rgb2lab(filtered(window, styles)), palette, strength), styles))
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8), box


class RestyleGenerator:
    """Colour/tone transfer + taste-aware crop: the weight-free default backend."""

    backend = "restyle"
    needs_covers = False
    style_encoder = None
    clip_editor = None

    def __init__(self, strength: float | None, crop_scale: float) -> None:
        if not 0.0 < crop_scale <= 1.0:
            raise ValueError(f"generation.crop_scale must be in (0, 1], got {crop_scale}")
        strength = 0.6 if strength is None else strength
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"generation.strength must be in [0, 1], got {strength}")
        self.crop_scale = crop_scale
        self.settings = GenerationSettings(strength=strength, steps=0, guidance_scale=0.0, resolution=0)
        self.model_id = RESTYLE_VERSION
        self.generator_id = f"restyle/{RESTYLE_VERSION}/s{strength:g}-c{crop_scale:g}"

    def generate(self, requests: Sequence[GenerationRequest]) -> list[np.ndarray]:
        return [restyle(r.image, r.palette, self.settings.strength, self.crop_scale, r.styles)[0] for r in requests]
