"""Dataset ``palettes``: each item cover's colour palette (generation's taste palettes), computed once.

``features/palettes/<version>/items/<item>.json``: an item's palette depends only on its cover,
so like frame embeddings it is computed once and kept; a new palette algorithm is a new version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from generec_core.datasets.layout import Layout
from generec_core.generation.palette import Palette
from generec_core.storage import ObjectNotFound

PALETTE_VERSION = "lab-v1"


@dataclass(frozen=True)
class ItemPalettes:
    """The stored palettes under a root (``generation.taste.PaletteCache``)."""

    layout: Layout

    def get(self, item_id: str) -> Palette | None:
        """The stored palette of an item's cover, or None when it was never computed."""
        try:
            text = self.layout.store.read_text(self.layout.palette(PALETTE_VERSION, item_id))
        except ObjectNotFound:
            return None
        return Palette.from_dict(json.loads(text))

    def put(self, item_id: str, palette: Palette) -> None:
        self.layout.store.write_text(self.layout.palette(PALETTE_VERSION, item_id), json.dumps(palette.to_dict()))
