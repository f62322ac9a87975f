"""A taste group's liked covers, in pixels: the palette and IP-Adapter input of generation.

The paper's taste is the mean of the covers a user liked. The features stage keeps it as an
encoder vector; generation needs the covers themselves, so this module reads the likes of
the group's users from the lake (point in time: partitions ``dt <= date``, like features)
and the covers from the item catalogue (cover image, else the video's first frame, as the
input contract says). An item's palette depends only on its cover, so it is computed once
and cached under ``features/palettes/`` like frame embeddings are.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image, ImageOps

from generec_core.generation.palette import Palette, combine, palette_of_image
from generec_core.items import Item, local_file, safe_name
from generec_core.layout import Layout
from generec_core.storage import ObjectNotFound, join, list_uris, parquet_from_bytes, read_text, storage_for, write_text
from generec_core.video.decode import VideoDecodeError, sample_frames

log = logging.getLogger(__name__)

PALETTE_VERSION = "lab-v1"
COVER_MAX_SIDE = 256
_DT = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/")


def likes_and_skips(layout: Layout, date: str, users: set[str]) -> tuple[dict[str, set[str]], Counter]:
    """Items each of ``users`` liked, and skips per (user, item), in lake partitions up to ``date``."""
    likes: dict[str, set[str]] = {u: set() for u in users}
    skips: Counter = Counter()
    if not users:
        return likes, skips
    wanted = pa.array(sorted(users), pa.string())
    for uri in list_uris(layout.lake_interactions(), ".parquet"):
        match = _DT.search(uri)
        if match is None or match.group(1) > date:
            continue
        table = parquet_from_bytes(storage_for(uri).read_bytes(uri), columns=["user_id", "item_id", "event_type"])
        table = table.filter(pc.and_(pc.is_in(table["event_type"], value_set=pa.array(["like", "skip"])),
                                     pc.is_in(table["user_id"], value_set=wanted)))
        for user, item, event in zip(*(table[c].to_pylist() for c in ("user_id", "item_id", "event_type"))):
            if event == "like":
                likes[user].add(item)
            else:
                skips[(user, item)] += 1
    return likes, skips


def cover_pixels(item: Item) -> np.ndarray:
    """The item's cover as RGB uint8 (at most COVER_MAX_SIDE): its cover image, else the first frame."""
    if item.cover_uri is not None:
        data = storage_for(item.cover_uri).read_bytes(item.cover_uri)
        image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        image.thumbnail((COVER_MAX_SIDE, COVER_MAX_SIDE), Image.Resampling.BILINEAR)
        return np.asarray(image)
    with local_file(item.video_uri) as path:
        return sample_frames(path, n=1, max_side=COVER_MAX_SIDE).frames[0]


@dataclass
class CoverLibrary:
    """Covers and their palettes, loaded at most once per stage run (and palettes once ever)."""

    layout: Layout
    items: dict[str, Item]

    def __post_init__(self) -> None:
        self._pixels: dict[str, np.ndarray | None] = {}
        self._palettes: dict[str, Palette | None] = {}

    def pixels(self, item_id: str) -> np.ndarray | None:
        """None when the item is unknown or its cover cannot be read (logged; the cover is skipped)."""
        if item_id not in self._pixels:
            item = self.items.get(item_id)
            try:
                self._pixels[item_id] = None if item is None else cover_pixels(item)
            except (OSError, ObjectNotFound, VideoDecodeError, ValueError) as exc:
                log.warning("cover of %s unusable for taste palettes: %s", item_id, exc)
                self._pixels[item_id] = None
        return self._pixels[item_id]

    def palette(self, item_id: str) -> Palette | None:
        if item_id not in self._palettes:
            uri = join(self.layout.palettes(PALETTE_VERSION), f"items/{safe_name(item_id)}.json")
            try:
                self._palettes[item_id] = Palette.from_dict(json.loads(read_text(uri)))
            except ObjectNotFound:
                pixels = self.pixels(item_id)
                palette = None if pixels is None else palette_of_image(pixels)
                if palette is not None:
                    write_text(uri, json.dumps(palette.to_dict()))
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


def liked_items(layout: Layout, date: str, users: set[str]) -> dict[str, set[str]]:
    """Items each of ``users`` liked in lake partitions up to ``date`` (the evaluation reads covers with it)."""
    return likes_and_skips(layout, date, users)[0]
