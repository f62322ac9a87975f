"""What every thumbnail generator is, so config picks the backend and lineage records it.

A backend turns a batch of ``GenerationRequest`` (source frame, taste palette, taste style,
styles, prompt, seed, liked covers) into RGB images of the source frame's size. The stage
around it plans, stages and records; a backend never touches storage. Backends
(``neural_style_backend.py``, ``restyle.py``, ``diffusion.py``) build on this module;
``generators.py`` picks one from the config.

What a backend needs of a taste group, it declares: ``needs_covers`` (the liked covers'
pixels, IP-Adapter), ``style_encoder`` (the liked covers' style vectors, neural style).
A backend that can also edit clips offers a ``clip_editor``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from generec_core.generation.palette import Palette


class GeneratorUnavailable(RuntimeError):
    """The configured generator cannot run here (e.g. its weights are missing); the message says why."""


@dataclass(frozen=True)
class GenerationSettings:
    """What ran, for lineage: the values actually used after per-family defaults were applied."""

    strength: float
    steps: int
    guidance_scale: float
    resolution: int


@dataclass(frozen=True)
class GenerationRequest:
    image: np.ndarray  # (H, W, 3) uint8 RGB: the selected frame
    palette: Palette  # the taste group's liked-cover palette
    prompt: str
    seed: int
    styles: tuple[str, ...] = ()
    group: str = ""  # the taste group (cluster or user) the request is for: per-group caches key on it
    covers: list[np.ndarray] = field(default_factory=list)  # liked covers, for backends with needs_covers
    taste_style: np.ndarray | None = None  # the group's style vector, for backends with a style_encoder


class StyleEncoder(Protocol):
    """Maps an image to a style vector; a taste group's style is a weighted mean of its liked covers' vectors."""

    style_model_id: str  # names the vector space: cached cover styles are kept per model

    def style_of(self, image: np.ndarray) -> np.ndarray:
        """The (D,) float32 style vector of an RGB uint8 image."""
        ...


class ClipEditor(Protocol):
    """Re-renders every frame of a clip in one style (content editing)."""

    clip_generator_id: str  # what the catalog's ``clip_generator_id`` names

    def edit_clip(self, frames: Sequence[np.ndarray], taste_style: np.ndarray | None,
                  styles: Sequence[str]) -> list[np.ndarray]:
        """The clip's frames edited, same count and sizes; deterministic."""
        ...


class Generator(Protocol):
    backend: str
    model_id: str
    generator_id: str  # backend + model + settings: what the catalog's lineage names
    settings: GenerationSettings
    needs_covers: bool  # whether requests must carry liked-cover pixels (IP-Adapter)
    style_encoder: StyleEncoder | None  # set: requests must carry the group's taste_style
    clip_editor: ClipEditor | None  # set: the backend can edit clips

    def generate(self, requests: Sequence[GenerationRequest]) -> list[np.ndarray]:
        """One (H, W, 3) uint8 image per request, H x W of that request's source image."""
        ...


def generation_seed(group: str, item_id: str, model_id: str, date: str) -> int:
    """Seed from (taste cluster or user, item, model, run date): stable across processes and hosts.

    Re-running a date regenerates the same images; another day, model or group gets
    fresh noise. Python's ``hash`` is salted per process, so sha256 it is.
    """
    digest = hashlib.sha256("\x1f".join((group, item_id, model_id, date)).encode("utf-8")).hexdigest()
    return int(digest[:15], 16)  # < 2**60: fits torch.Generator.manual_seed and int64 columns
