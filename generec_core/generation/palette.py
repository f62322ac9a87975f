"""Colour palettes in CIE Lab: what a taste looks like in pixels, for the restyle edit and prompts.

The taste vectors live in the image encoder's space, which cannot be turned back into
pixels. Pixels are what a thumbnail edit changes, so a taste group also gets a palette
computed from the covers its users liked: Lab mean and standard deviation per channel
(Reinhard colour transfer needs exactly these) and a few weighted dominant colours (for
the taste-aware crop and for colour words in diffusion prompts). Lab is used because its
distances follow perceived colour differences and it separates tone (L) from colour (a, b).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage.color import rgb2lab

from generec_core.generation.kmeans import weighted_kmeans

PALETTE_COLOURS = 5
SAMPLE_SIDE = 64  # covers are down-scaled to this longest side before palette extraction


@dataclass(frozen=True)
class Palette:
    """Lab statistics of a set of images: per-channel mean/std and weighted dominant colours."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    colours: tuple[tuple[float, float, float], ...]
    weights: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std),
                "colours": [list(c) for c in self.colours], "weights": list(self.weights)}

    @classmethod
    def from_dict(cls, data: dict) -> "Palette":
        return cls(tuple(data["mean"]), tuple(data["std"]),
                   tuple(tuple(c) for c in data["colours"]), tuple(data["weights"]))


def lab_pixels(image: np.ndarray, side: int = SAMPLE_SIDE) -> np.ndarray:
    """(N, 3) Lab pixels of an RGB uint8 image, down-scaled so palettes cost the same for any size."""
    pil = Image.fromarray(image)
    pil.thumbnail((side, side), Image.Resampling.BILINEAR)
    return rgb2lab(np.asarray(pil)).reshape(-1, 3)


def palette_of_image(image: np.ndarray) -> Palette:
    """The palette of one image (a liked cover)."""
    lab = lab_pixels(image)
    centres, mass = weighted_kmeans(lab, None, PALETTE_COLOURS)
    return Palette(tuple(lab.mean(0)), tuple(lab.std(0)), tuple(map(tuple, centres)), tuple(mass))


def combine(palettes: list[Palette], weights: list[float]) -> Palette:
    """The palette of a group of images, from their palettes (exact pooled mean and std).

    Pooled variance = E[std^2 + mean^2] - pooled_mean^2, so a group palette never needs the
    pixels again; dominant colours are re-clustered from the members' weighted colours.
    """
    if not palettes or len(palettes) != len(weights):
        raise ValueError(f"combine() needs one weight per palette, got {len(palettes)} palettes, {len(weights)} weights")
    w = np.asarray(weights, np.float64)
    w = w / w.sum()
    means = np.asarray([p.mean for p in palettes])
    stds = np.asarray([p.std for p in palettes])
    mean = (w[:, None] * means).sum(0)
    var = (w[:, None] * (stds ** 2 + means ** 2)).sum(0) - mean ** 2
    points = np.concatenate([np.asarray(p.colours) for p in palettes])
    mass = np.concatenate([wi * np.asarray(p.weights) for wi, p in zip(w, palettes)])
    centres, share = weighted_kmeans(points, mass, PALETTE_COLOURS)
    return Palette(tuple(mean), tuple(np.sqrt(np.maximum(var, 0.0))), tuple(map(tuple, centres)), tuple(share))


# Basic colour terms with rough Lab prototypes: enough to say "teal and orange" in a prompt.
_COLOUR_NAMES: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("black", (10, 0, 0)), ("grey", (50, 0, 0)), ("white", (95, 0, 0)),
    ("red", (45, 65, 45)), ("orange", (65, 35, 65)), ("yellow", (88, -5, 80)),
    ("green", (55, -50, 45)), ("teal", (55, -35, -10)), ("blue", (40, 15, -60)),
    ("purple", (40, 50, -40)), ("pink", (70, 40, 0)), ("brown", (38, 15, 28)),
)


def colour_words(palette: Palette, n: int = 2) -> list[str]:
    """Names of the palette's dominant colours (distinct, most weight first)."""
    names: list[str] = []
    for colour in palette.colours:
        name = min(_COLOUR_NAMES, key=lambda nc: sum((a - b) ** 2 for a, b in zip(colour, nc[1])))[0]
        if name not in names:
            names.append(name)
        if len(names) == n:
            break
    return names
