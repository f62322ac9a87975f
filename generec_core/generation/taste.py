"""A taste group's liked covers, in pixels and styles: the palette, style and IP-Adapter input of generation.

The paper's taste is the mean of the covers a user liked. The features stage keeps it as an
encoder vector; generation needs the covers themselves: the group's most weighted items and
their covers (cover image, else the video's first frame, as the input contract says). Items
are weighed as the taste weighs them (``datasets.users.taste_weights``: like or decayed
signal per pair); in a group each member's weights are scaled to sum to 1, so the group's
taste is the mean of its members' tastes and no heavy user outweighs the rest.

An item's palette and cover style depend only on its cover, so each is computed once and kept
(``datasets.palettes``, ``datasets.cover_styles``) like frame embeddings are.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
from PIL import Image, ImageOps

from generec_core.generation.backend import StyleEncoder
from generec_core.generation.palette import Palette, combine, palette_of_image
from generec_core.storage import ObjectNotFound
from generec_core.video.decode import VideoDecodeError, sample_frames

log = logging.getLogger(__name__)

COVER_MAX_SIDE = 256


def cover_image_pixels(data: bytes) -> np.ndarray:
    """A cover image as RGB uint8, EXIF-rotated, at most COVER_MAX_SIDE."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    image.thumbnail((COVER_MAX_SIDE, COVER_MAX_SIDE), Image.Resampling.BILINEAR)
    return np.asarray(image)


def first_frame_pixels(video) -> np.ndarray:
    """A video's first frame as RGB uint8, at most COVER_MAX_SIDE (the cover of an item without one)."""
    return sample_frames(video, n=1, max_side=COVER_MAX_SIDE).frames[0]


class PaletteCache(Protocol):
    def get(self, item_id: str) -> Palette | None: ...
    def put(self, item_id: str, palette: Palette) -> None: ...


class StyleCache(Protocol):
    def get(self, item_id: str) -> np.ndarray | None: ...
    def put(self, item_id: str, style: np.ndarray) -> None: ...


class CoverLibrary:
    """Covers, their palettes and styles, loaded at most once per stage run (palettes and styles once ever)."""

    def __init__(self, load_cover: Callable[[str], np.ndarray | None], palettes: PaletteCache,
                 styles: StyleCache | None = None, encoder: StyleEncoder | None = None) -> None:
        """``load_cover(item_id)``: the cover's pixels, None for an unknown item; raises when unreadable.
        ``styles`` and ``encoder``: where cover styles are kept, and the network that makes them."""
        self._load_cover, self._cache = load_cover, palettes
        self._style_cache, self._encoder = styles, encoder
        self._pixels: dict[str, np.ndarray | None] = {}
        self._palettes: dict[str, Palette | None] = {}
        self._styles: dict[str, np.ndarray | None] = {}

    def pixels(self, item_id: str) -> np.ndarray | None:
        """None when the item is unknown or its cover cannot be read (logged; the cover is skipped)."""
        if item_id not in self._pixels:
            try:
                self._pixels[item_id] = self._load_cover(item_id)
            except (OSError, ObjectNotFound, VideoDecodeError, ValueError) as exc:
                log.warning("cover of %s unusable for taste palettes: %s", item_id, exc)
                self._pixels[item_id] = None
        return self._pixels[item_id]

    def palette(self, item_id: str) -> Palette | None:
        if item_id not in self._palettes:
            palette = self._cache.get(item_id)
            if palette is None:
                pixels = self.pixels(item_id)
                palette = None if pixels is None else palette_of_image(pixels)
                if palette is not None:
                    self._cache.put(item_id, palette)
            self._palettes[item_id] = palette
        return self._palettes[item_id]


    def style(self, item_id: str) -> np.ndarray | None:
        """The cover's style vector (needs ``styles`` and ``encoder``); None when the cover is unusable."""
        if self._style_cache is None or self._encoder is None:
            raise ValueError("CoverLibrary.style needs a style cache and a style encoder")
        if item_id not in self._styles:
            style = self._style_cache.get(item_id)
            if style is None:
                pixels = self.pixels(item_id)
                style = None if pixels is None else self._encoder.style_of(pixels)
                if style is not None:
                    self._style_cache.put(item_id, style)
            self._styles[item_id] = style
        return self._styles[item_id]


def top_liked(members: list[str], weights: dict[str, dict[str, float]], limit: int) -> list[tuple[str, float]]:
    """The group's most weighted items (item, summed member-normalised weight), ties by item id."""
    totals: Counter = Counter()
    for user in members:
        mine = weights.get(user) or {}
        norm = sum(mine.values())
        for item, weight in mine.items():
            totals[item] += weight / norm
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def group_palette(liked: list[tuple[str, float]], covers: CoverLibrary) -> Palette | None:
    """Palette of the group's liked covers, each by its weight; None if none is usable."""
    pairs = [(p, w) for p, w in ((covers.palette(item), w) for item, w in liked) if p is not None]
    if not pairs:
        return None
    return combine([p for p, _ in pairs], [float(w) for _, w in pairs])


def group_style(liked: list[tuple[str, float]], covers: CoverLibrary) -> np.ndarray | None:
    """The group's style: the weighted mean of its liked covers' style vectors; None if none is usable."""
    pairs = [(s, w) for s, w in ((covers.style(item), w) for item, w in liked) if s is not None]
    if not pairs:
        return None
    weights = np.asarray([w for _, w in pairs], np.float64)
    return (np.stack([s for s, _ in pairs]).astype(np.float64) * (weights / weights.sum())[:, None]).sum(0).astype(
        np.float32)


@dataclass(frozen=True)
class GroupTaste:
    """What generation takes of a taste group: its most weighted liked covers, their palette and style."""

    liked: list[tuple[str, float]]
    palette: Palette | None
    style: np.ndarray | None  # None without a style encoder, or when no cover is usable


class GroupTastes:
    """Taste groups' liked covers, palettes and styles, each computed once per stage run (shared by the
    thumbnail generator, the clip editor and the creator's covers)."""

    def __init__(self, covers: CoverLibrary, weights: dict[str, dict[str, float]], max_covers: int,
                 with_style: bool) -> None:
        self.covers, self.weights, self.max_covers, self.with_style = covers, weights, max_covers, with_style
        self._tastes: dict[str, GroupTaste] = {}

    def of(self, group: str, members: list[str]) -> GroupTaste:
        """The taste of ``group`` (a cluster or one user) from its ``members``' weights."""
        if group not in self._tastes:
            liked = top_liked(members, self.weights, self.max_covers)
            style = group_style(liked, self.covers) if self.with_style else None
            self._tastes[group] = GroupTaste(liked, group_palette(liked, self.covers), style)
        return self._tastes[group]
