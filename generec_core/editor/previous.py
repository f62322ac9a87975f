"""What each user was shown before: the latest published manifest dated before the run's date.

Stability (people notice flicker) needs yesterday's thumbnail and clip per (user, item).
They are read from the catalog, not from yesterday's work zone: the catalog is what users
actually saw, after the gate's fallbacks. "Latest manifest dated before D" (not CURRENT)
keeps a re-run of D deterministic: CURRENT may already point at D itself.

Manifests store times, not frame indices; a time maps back to today's sampled frame only
when it matches one exactly (to a millisecond), so a re-embedded or re-sampled item simply
has no previous choice.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generec_core.editor.selection import ItemFrames
from generec_core.layout import Layout
from generec_core.storage import ObjectNotFound, join, list_uris, read_parquet

log = logging.getLogger(__name__)

_DT = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/")
_TOL_S = 1e-3


@dataclass(frozen=True)
class ShownBefore:
    """One (user, item)'s previously published choice, in seconds (None: nothing selected)."""

    date: str
    thumbnail_ts: float | None  # only for thumbnail_kind == "selected"
    clip_start_s: float | None
    clip_end_s: float | None


def previous_manifest(layout: Layout, date: str, lookback_days: int) -> tuple[str, str] | None:
    """(date, URI) of the latest manifest dated in [date - lookback_days, date); None if none."""
    first = (dt.date.fromisoformat(date) - dt.timedelta(days=lookback_days)).isoformat()
    found: dict[str, str] = {}
    for uri in list_uris(join(layout.root, "catalog/manifests"), "manifest.parquet"):
        match = _DT.search(uri)
        if match and first <= match.group(1) < date:
            found[match.group(1)] = max(found.get(match.group(1), uri), uri)
    if not found:
        return None
    day = max(found)
    return day, found[day]


def shown_before(layout: Layout, date: str, users: set[str], lookback_days: int) -> dict[tuple[str, str], ShownBefore]:
    """(user, item) -> what that user was shown for the item in the previous manifest."""
    if lookback_days <= 0 or not users:
        return {}
    found = previous_manifest(layout, date, lookback_days)
    if found is None:
        return {}
    day, uri = found
    try:
        table = read_parquet(uri)
    except ObjectNotFound:
        return {}
    table = table.filter(pc.is_in(table["user_id"], value_set=pa.array(sorted(users), pa.string())))
    out = {}
    for r in table.select(["user_id", "item_id", "thumbnail_kind", "thumbnail_frame_ts",
                           "clip_start_s", "clip_end_s"]).to_pylist():
        ts = r["thumbnail_frame_ts"] if r["thumbnail_kind"] == "selected" else None
        out[(r["user_id"], r["item_id"])] = ShownBefore(day, ts, r["clip_start_s"], r["clip_end_s"])
    log.info("stability: %s previous choices from %s", len(out), uri)
    return out


def frame_index(item: ItemFrames, ts: float | None) -> int:
    """Today's sampled frame shown at ``ts`` seconds, or -1."""
    if ts is None or len(item.timestamps) == 0:
        return -1
    i = int(np.argmin(np.abs(item.timestamps - ts)))
    return i if abs(item.timestamps[i] - ts) <= _TOL_S else -1


def window_of(item: ItemFrames, start_s: float | None, end_s: float | None) -> tuple[int, int]:
    """(first, last) sampled frames of a clip [start_s, end_s) as ``selection.clip_bounds`` made it, or (-1, -1)."""
    first = frame_index(item, start_s)
    if first < 0 or end_s is None:
        return -1, -1
    if abs(end_s - item.duration_s) <= _TOL_S:
        return first, len(item.timestamps) - 1
    after = frame_index(item, end_s)
    return (first, after - 1) if after > first else (-1, -1)
