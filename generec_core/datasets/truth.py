"""Dataset ``truth``: labelled ground truth of a world, which the pipeline never reads.

A demo world (``generec_core/demo``) plants each user's favourite categories and records which
category is on screen at every instant of every video; any world with such labels can supply
them the same way. The evaluate stage reads them, when present, to score the editor honestly.

- ``demo/truth/users.jsonl``: ``{user_id, favourite_categories, cold_start}``;
- ``demo/truth/items.jsonl``: ``{item_id, primary_category, segments: [{category, start_s, end_s}],
  duration_s, fps, cover, cover_time_s, defect}``;
- ``demo/world.json``: the parameters and summary of the build (written last);
- ``demo/simulation/dt=<date>/truth.json``: a simulated night (``demo/simulator.py``): the impressed
  (user, item) contexts and each thumbnail policy's true take rate on them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from generec_core.datasets.layout import Layout
from generec_core.storage import ObjectNotFound

_EPS_S = 1e-6


def category_of_time(truth_item: Mapping[str, Any], t: float) -> str:
    """The category on screen at ``t`` seconds into the item's video.

    Segments are half-open ``[start_s, end_s)``; a time at or past the end maps to the last
    segment (decoders report the last frame's timestamp up to one frame late). A
    microsecond of slack absorbs float rounding of timestamps computed as pts * time_base.
    """
    segments = truth_item["segments"]
    if t < 0:
        raise ValueError(f"time must be >= 0, got {t} for item {truth_item.get('item_id')!r}")
    for seg in segments:
        if seg["start_s"] <= t + _EPS_S < seg["end_s"]:
            return seg["category"]
    return segments[-1]["category"]


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows).encode("utf-8")


def write_truth(layout: Layout, users: list[dict], items: list[dict]) -> None:
    layout.store.write_bytes(layout.truth_users, _jsonl(users))
    layout.store.write_bytes(layout.truth_items, _jsonl(items))


def read_truth_users(layout: Layout) -> dict[str, dict]:
    """user_id -> {user_id, favourite_categories, cold_start}."""
    return {r["user_id"]: r for r in map(json.loads, layout.store.read_text(layout.truth_users).splitlines())}


def read_truth_items(layout: Layout) -> dict[str, dict]:
    """item_id -> {item_id, primary_category, segments, duration_s, fps, cover, cover_time_s, defect}."""
    return {r["item_id"]: r for r in map(json.loads, layout.store.read_text(layout.truth_items).splitlines())}


@dataclass(frozen=True)
class LabelledTruth:
    """The labels as the evaluation asks for them (``evaluation.planted.PlantedTruth``)."""

    users: dict[str, dict]
    items: dict[str, dict]

    def favourites(self, user_id: str) -> frozenset[str] | None:
        """The user's planted favourite categories; None for unknown and cold-start users."""
        user = self.users.get(user_id)
        return None if user is None or user["cold_start"] else frozenset(user["favourite_categories"])

    def knows_item(self, item_id: str) -> bool:
        return item_id in self.items

    def category_at(self, item_id: str, t: float) -> str:
        return category_of_time(self.items[item_id], t)

    def cover_category(self, item_id: str) -> str:
        return self.items[item_id]["primary_category"]


def read_truth(layout: Layout) -> LabelledTruth | None:
    """The world's labels, or None when the root has none (a production root)."""
    if not layout.store.exists(layout.truth_items):
        return None
    try:
        return LabelledTruth(read_truth_users(layout), read_truth_items(layout))
    except ObjectNotFound:
        return None


def write_simulation_truth(layout: Layout, date: str, truth: dict) -> None:
    layout.store.write_text(layout.simulation_truth(date), json.dumps(truth, indent=1, sort_keys=True))


def read_simulation_truth(layout: Layout, date: str) -> dict | None:
    try:
        return json.loads(layout.store.read_text(layout.simulation_truth(date)))
    except ObjectNotFound:
        return None


def simulated_nights(layout: Layout) -> list[str]:
    """The dates a simulated audience was served, oldest first."""
    return sorted(uri.rsplit("/dt=", 1)[1].split("/", 1)[0]
                  for uri in layout.store.list_uris(layout.simulation, "truth.json"))
