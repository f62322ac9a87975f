"""Planted-taste share: does the chosen frame show what the world planted for the user?

A world with labelled truth (the demo world plants each user's favourite categories and
records which category is on screen at every instant of every video) is passed in as a
``PlantedTruth``; the pipeline never sees it, so it can score the editor honestly: the share
of (user, item) pairs whose thumbnail shows one of the user's favourite categories, against a
random frame (the expected share over the item's sampled frames), the original cover, and
what was attainable at all (items with no favourite-category frame cannot score). For clips:
the share of the clip's sampled frames that show a favourite category.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

import numpy as np


class PlantedTruth(Protocol):
    """What the evaluation needs to know about a labelled world (``datasets.truth.LabelledTruth``)."""

    def favourites(self, user_id: str) -> frozenset[str] | None:
        """The user's planted favourite categories; None for unknown and cold-start users."""

    def knows_item(self, item_id: str) -> bool: ...

    def category_at(self, item_id: str, t: float) -> str:
        """The category on screen ``t`` seconds into the item's video."""

    def cover_category(self, item_id: str) -> str: ...


@dataclass(frozen=True)
class PlantedPair:
    """One evaluated (user, item): the times of its sampled frames and what was chosen."""

    favourites: frozenset[str]
    category_at: Callable[[float], str]  # the item's category on screen at a time
    cover_category: str
    frame_times: np.ndarray  # the item's sampled frames (seconds)
    thumbnail_time: float | None  # None: the original cover was shown
    reference_time: float | None  # the paper reference's frame (None: not computed)
    clip_frames: np.ndarray  # indices of sampled frames inside the shown clip
    first_clip_frames: np.ndarray


@dataclass
class PlantedShare:
    pairs: int = 0
    shares: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"pairs": self.pairs, **{k: round(v, 4) for k, v in self.shares.items()}}


def planted_share(pairs: Iterable[PlantedPair]) -> PlantedShare:
    sums: dict[str, float] = {}
    n = 0
    for p in pairs:
        on_fav = np.array([p.category_at(float(t)) in p.favourites for t in p.frame_times])
        cover_fav = p.cover_category in p.favourites
        values = {
            "random_frame": float(on_fav.mean()),
            "original_cover": float(cover_fav),
            "ours": float(cover_fav if p.thumbnail_time is None
                          else p.category_at(p.thumbnail_time) in p.favourites),
            "attainable": float(on_fav.any() or cover_fav),
            "clip_ours": float(on_fav[p.clip_frames].mean()) if len(p.clip_frames) else float(on_fav.mean()),
            "clip_first": float(on_fav[p.first_clip_frames].mean()),
            "clip_unclipped": float(on_fav.mean()),
        }
        if p.reference_time is not None:
            values["reference"] = float(p.category_at(p.reference_time) in p.favourites)
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + value
        n += 1
    return PlantedShare(n, {k: v / n for k, v in sums.items()} if n else {})
