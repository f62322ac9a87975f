"""Motion-aware temporal blending of per-frame edits: what keeps a style-edited clip from flickering.

A stylisation network renders each frame on its own, so texture that should stay put "swims"
between frames: on demo clips the edited frames changed 1.5-3x as much as the source frames did
(``benchmarks/neural_style.py``). Each frame's edit (rendering minus source) is therefore blended
with the previous frame's blended edit, per pixel, with weight

    w = smoothing * exp(-|source_t - source_(t-1)| / MOTION_SCALE)

so where the footage stands still the edit is held (no swimming), and where it moves the fresh
edit takes over (no ghost trailing behind moving content). Measured on demo and photo clips:
flicker ratio 1.5-3.0 unblended, at most 1.13 with smoothing 0.9; the edit lags the unblended
one by 5-9 grey levels instead of 8-23 for the same smoothing without the motion term.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

MOTION_SCALE = 16.0  # grey levels of source change at which the previous edit's weight falls to 1/e


def blended_edits(frames: Iterable[np.ndarray], edits: Iterable[np.ndarray], smoothing: float) -> Iterator[np.ndarray]:
    """Each frame plus its blended edit, RGB uint8; ``smoothing`` 0 returns the plain renderings."""
    carried: np.ndarray | None = None
    previous: np.ndarray | None = None
    for frame, edit in zip(frames, edits):
        source = frame.astype(np.float32)
        if carried is None or smoothing == 0.0:
            carried = edit
        else:
            motion = np.abs(source - previous).mean(axis=-1, keepdims=True)
            weight = smoothing * np.exp(-motion / MOTION_SCALE)
            carried = weight * carried + (1.0 - weight) * edit
        previous = source
        yield np.clip(source + carried + 0.5, 0, 255).astype(np.uint8)
