"""The instructor's style vocabulary, as recipes a generator can apply, each with an effect a test measures.

A recipe is a tone edit in CIE Lab (applied after rendering, by every backend), optionally a spatial
filter before it, and, for the styles a colour edit cannot make, a reference style for the neural-style
backend: the 100-d style vector of a reference image (``style_references.json``, made by
``python -m generec_core.generation.style_references`` from images that install offline), blended into
the rendered style. Effects are checked by ``tests/unit/test_neural_style.py`` on real photos.

| style      | filter, then tone edit                          | reference style        | measured effect              |
|------------|-------------------------------------------------|------------------------|------------------------------|
| monochrome | chroma to 0                                     | -                      | chroma ~0                    |
| warm       | b* +12, a* +4                                   | -                      | mean b* up                   |
| cool       | b* -12, a* -2                                   | -                      | mean b* down                 |
| vivid      | chroma x1.35                                    | -                      | chroma up                    |
| vintage    | chroma x0.6, b* +10, contrast x0.85             | a sepia-toned photo    | b* up, chroma and contrast down |
| cinematic  | a* -3, b* -6, contrast x1.15                    | -                      | contrast up, b* down         |
| cartoon    | bilateral filter x2; L* posterised (12 steps), chroma x1.3 | a Big Buck Bunny frame | texture flattened: local std down, flat share up |

Unknown style names are ignored: the vocabulary is the instructor's, never free user text.
"""

from __future__ import annotations

import json
from typing import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from skimage.color import lab2rgb, rgb2lab

REFERENCES = Path(__file__).with_name("style_references.json")
REFERENCE_WEIGHT = 0.5  # how far a recipe's reference pulls the rendered style vector


def _chroma_scale(lab: np.ndarray, factor: float) -> np.ndarray:
    out = lab.copy()
    out[..., 1:] *= factor
    return out


def _shift(lab: np.ndarray, dl: float = 0.0, da: float = 0.0, db: float = 0.0) -> np.ndarray:
    return lab + np.array([dl, da, db])


def _contrast(lab: np.ndarray, factor: float) -> np.ndarray:
    out = lab.copy()
    out[..., 0] = (out[..., 0] - 50.0) * factor + 50.0
    return out


def _posterise(lab: np.ndarray, step: float = 12.0) -> np.ndarray:
    out = lab.copy()
    out[..., 0] = np.round(out[..., 0] / step) * step
    return _chroma_scale(out, 1.3)


def _flatten(rgb: np.ndarray) -> np.ndarray:
    """Edge-preserving smoothing (two bilateral passes): flat colour regions, edges kept, as drawn."""
    import cv2

    for _ in range(2):
        rgb = cv2.bilateralFilter(np.ascontiguousarray(rgb), 9, 40, 7)
    return rgb


@dataclass(frozen=True)
class Recipe:
    tone: Callable[[np.ndarray], np.ndarray]  # Lab -> Lab
    reference: str | None = None  # key in style_references.json
    filter: Callable[[np.ndarray], np.ndarray] | None = None  # RGB uint8 -> RGB uint8, before the tone edit


RECIPES: dict[str, Recipe] = {
    "warm": Recipe(lambda lab: _shift(lab, da=4.0, db=12.0)),
    "cool": Recipe(lambda lab: _shift(lab, da=-2.0, db=-12.0)),
    "vivid": Recipe(lambda lab: _chroma_scale(lab, 1.35)),
    "monochrome": Recipe(lambda lab: _chroma_scale(lab, 0.0)),
    "vintage": Recipe(lambda lab: _contrast(_shift(_chroma_scale(lab, 0.6), db=10.0), 0.85), "vintage"),
    "cinematic": Recipe(lambda lab: _contrast(_shift(lab, da=-3.0, db=-6.0), 1.15)),
    "cartoon": Recipe(_posterise, "cartoon", _flatten),
}


def tone(lab: np.ndarray, styles: Sequence[str]) -> np.ndarray:
    """The styles' tone edits, in order, on Lab pixels (lightness kept in range)."""
    for style in styles:
        recipe = RECIPES.get(style)
        if recipe is not None:
            lab = recipe.tone(lab)
    lab[..., 0] = np.clip(lab[..., 0], 0.0, 100.0)
    return lab


def filtered(image: np.ndarray, styles: Sequence[str]) -> np.ndarray:
    """The styles' spatial filters, in order, on RGB uint8 pixels."""
    for style in styles:
        recipe = RECIPES.get(style)
        if recipe is not None and recipe.filter is not None:
            image = recipe.filter(image)
    return image


def tone_rgb(image: np.ndarray, styles: Sequence[str]) -> np.ndarray:
    """The styles' filters and tone edits on RGB uint8 pixels (unchanged, bit for bit, when no style has one)."""
    if not any(s in RECIPES for s in styles):
        return image
    rgb = lab2rgb(tone(rgb2lab(filtered(image, styles)), styles))
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


@lru_cache(maxsize=1)
def reference_styles() -> dict[str, np.ndarray]:
    """Style vectors of the recipes' reference images, as shipped."""
    entries = json.loads(REFERENCES.read_text())["styles"]
    return {name: np.asarray(entry["vector"], np.float32) for name, entry in entries.items()}


def has_reference(styles: Sequence[str]) -> bool:
    """Whether any of the styles needs the network (has a reference style), not only a tone edit."""
    return any(RECIPES[s].reference is not None for s in styles if s in RECIPES)


def with_references(style: np.ndarray, styles: Sequence[str]) -> np.ndarray:
    """A style vector pulled toward the reference style of each requested style that has one."""
    references = reference_styles()
    for name in styles:
        recipe = RECIPES.get(name)
        if recipe is not None and recipe.reference is not None:
            style = (1.0 - REFERENCE_WEIGHT) * style + REFERENCE_WEIGHT * references[recipe.reference]
    return style.astype(np.float32)
