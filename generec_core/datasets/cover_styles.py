"""Dataset ``cover_styles``: each item cover's style vector under a style network, computed once.

``features/cover_styles/<model>/items/<item>.json``: like palettes and frame embeddings, an item's
cover style depends only on its cover and the network, so it is computed once and kept; another
network (``model``) is another folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from generec_core.datasets.layout import Layout
from generec_core.storage import ObjectNotFound


@dataclass(frozen=True)
class CoverStyles:
    """The stored cover style vectors of one style network under a root (``generation.taste.StyleCache``)."""

    layout: Layout
    model_id: str

    def get(self, item_id: str) -> np.ndarray | None:
        """The stored style vector of an item's cover, or None when it was never computed."""
        try:
            text = self.layout.store.read_text(self.layout.cover_style(self.model_id, item_id))
        except ObjectNotFound:
            return None
        return np.asarray(json.loads(text)["style"], np.float32)

    def put(self, item_id: str, style: np.ndarray) -> None:
        body = {"model": self.model_id, "style": [float(v) for v in np.asarray(style, np.float32)]}
        self.layout.store.write_text(self.layout.cover_style(self.model_id, item_id), json.dumps(body))
