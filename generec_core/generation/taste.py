"""A taste group's liked covers, in pixels: the palette and IP-Adapter input of generation.

The paper's taste is the mean of the covers a user liked. The features stage keeps it as an
encoder vector; generation needs the covers themselves: the group's most liked items (from
the lake, point in time) and their covers (cover image, else the video's first frame, as the
input contract says). An item's palette depends only on its cover, so it is computed once
and kept (``datasets.palettes``) like frame embeddings are.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from typing import Callable, Protocol

import numpy as np
from PIL import Image, ImageOps

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


class CoverLibrary:
    """Covers and their palettes, loaded at most once per stage run (and palettes once ever)."""

    def __init__(self, load_cover: Callable[[str], np.ndarray | None], palettes: PaletteCache) -> None:
        """``load_cover(item_id)``: the cover's pixels, None for an unknown item; raises when unreadable."""
        self._load_cover, self._cache = load_cover, palettes
        self._pixels: dict[str, np.ndarray | None] = {}
        self._palettes: dict[str, Palette | None] = {}

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


def top_liked(members: list[str], likes: dict[str, set[str]], limit: int) -> list[tuple[str, int]]:
    """The group's most liked items (item, number of members who liked it), ties by item id."""
    counts = Counter(item for user in members for item in likes.get(user, ()))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def group_palette(liked: list[tuple[str, int]], covers: CoverLibrary) -> Palette | None:
    """Palette of the group's liked covers, each weighted by how many members liked it; None if none is usable."""
    pairs = [(p, n) for p, n in ((covers.palette(item), n) for item, n in liked) if p is not None]
    if not pairs:
        return None
    return combine([p for p, _ in pairs], [float(n) for _, n in pairs])
