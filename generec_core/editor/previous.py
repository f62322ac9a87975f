"""What each user was shown before, from the latest published manifest dated before the run's date.

Stability (people notice flicker) needs yesterday's thumbnail and clip per (user, item).
They are read from the catalog, not from yesterday's work zone: the catalog is what users
actually saw, after the gate's fallbacks. "Latest manifest dated before D" (not CURRENT)
keeps a re-run of D deterministic: CURRENT may already point at D itself.

Manifests store times, not frame indices; a time maps back to today's sampled frame only
when it matches one exactly (to a millisecond), so a re-embedded or re-sampled item simply
has no previous choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generec_core.editor.selection import TIME_TOLERANCE_S, ItemFrames
from generec_core.kinds import ThumbnailKind


@dataclass(frozen=True)
class ShownBefore:
    """One (user, item)'s previously published choice, in seconds (None: nothing selected)."""

    date: str
    thumbnail_ts: float | None  # only for thumbnail_kind == "selected"
    clip_start_s: float | None
    clip_end_s: float | None


def shown_before(day: str, rows: list[dict], users: set[str]) -> dict[tuple[str, str], ShownBefore]:
    """(user, item) -> what that user was shown for the item in a manifest of ``day`` (its rows)."""
    out = {}
    for r in rows:
        if r["user_id"] in users:
            ts = r["thumbnail_frame_ts"] if r["thumbnail_kind"] == ThumbnailKind.SELECTED else None
            out[(r["user_id"], r["item_id"])] = ShownBefore(day, ts, r["clip_start_s"], r["clip_end_s"])
    return out


def frame_index(item: ItemFrames, ts: float | None) -> int:
    """Today's sampled frame shown at ``ts`` seconds, or -1."""
    if ts is None or len(item.timestamps) == 0:
        return -1
    i = int(np.argmin(np.abs(item.timestamps - ts)))
    return i if abs(item.timestamps[i] - ts) <= TIME_TOLERANCE_S else -1


def window_of(item: ItemFrames, start_s: float | None, end_s: float | None) -> tuple[int, int]:
    """(first, last) sampled frames of a clip [start_s, end_s) as ``selection.clip_bounds`` made it, or (-1, -1)."""
    first = frame_index(item, start_s)
    if first < 0 or end_s is None:
        return -1, -1
    if abs(end_s - item.duration_s) <= TIME_TOLERANCE_S:
        return first, len(item.timestamps) - 1
    after = frame_index(item, end_s)
    return (first, after - 1) if after > first else (-1, -1)
