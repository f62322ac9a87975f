"""Clip length bounds in seconds -> clip window length in sampled frames, per (user, item).

The paper's window is ``L`` sampled frames whatever the video's length, so a 60 s video
gives 15 s clips and a 4 s one 1 s clips. Product bounds are in seconds (config, and per
user from the instructor's guidance, e.g. "shorter clips"), so each pair's window length
is ``L`` moved just enough to fit the bounds, at the item's sampling step: one window
covers ``length x step`` seconds, ``step`` being the spacing of the item's sampled frames.
A bound can only be met to within one step; a video shorter than the minimum gives a clip
of the whole video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from generec_core.editor.selection import ItemFrames

_EPS = 1e-9


@dataclass(frozen=True)
class ClipBounds:
    """Wanted clip duration in seconds; ``max_s`` None = no upper bound."""

    min_s: float = 0.0
    max_s: float | None = None

    def __post_init__(self) -> None:
        if not (self.min_s >= 0 and math.isfinite(self.min_s)):
            raise ValueError(f"clip bounds: min_s must be a finite number >= 0, got {self.min_s!r}")
        if self.max_s is not None and not (self.max_s > 0 and self.max_s >= self.min_s):
            raise ValueError(f"clip bounds: max_s must be > 0 and >= min_s ({self.min_s}), got {self.max_s!r}")

    @classmethod
    def from_guidance(cls, clip_seconds: Mapping[str, float | None]) -> "ClipBounds":
        """From the instructor's ``clip_seconds: {"min": .., "max": ..}`` (either may be absent)."""
        low, high = clip_seconds.get("min"), clip_seconds.get("max")
        return cls(float(low or 0.0), None if high is None else float(high))


def sampling_step(item: ItemFrames) -> float:
    """Seconds between consecutive sampled frames (the whole video when only one was sampled)."""
    ts = np.asarray(item.timestamps, dtype=np.float64)
    if len(ts) >= 2 and ts[-1] > ts[0]:
        return float(ts[-1] - ts[0]) / (len(ts) - 1)
    return max(float(item.duration_s), _EPS)


def window_length(item: ItemFrames, length: int, bounds: ClipBounds) -> int:
    """``length`` sampled frames, moved the least to make ``length x step`` fit ``bounds``."""
    step, n = sampling_step(item), len(item.timestamps)
    low = math.ceil(bounds.min_s / step - _EPS) if bounds.min_s > 0 else 1
    out = max(length, low)
    if bounds.max_s is not None:
        out = min(out, max(1, math.floor(bounds.max_s / step + _EPS)))
    return int(min(max(out, 1), n))


def window_lengths(pair_user: Sequence[str], pair_item: np.ndarray, items: Sequence[ItemFrames], length: int,
                   default: ClipBounds, per_user: Mapping[str, ClipBounds] | None = None) -> np.ndarray:
    """Window length per pair: the user's own bounds when given (instructor), else ``default``."""
    per_user = per_user or {}
    cache: dict[tuple[int, ClipBounds], int] = {}
    out = np.empty(len(pair_item), dtype=np.int64)
    for p, (user, item) in enumerate(zip(pair_user, pair_item.tolist())):
        key = (item, per_user.get(user, default))
        if key not in cache:
            cache[key] = window_length(items[item], length, key[1])
        out[p] = cache[key]
    return out
