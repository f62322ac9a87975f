"""Per-frame quality: blank, blurry, under/over-exposed, near-duplicate of the previous frame.

Thumbnail and clip selection pick the frame closest to a user's taste; without a quality
signal a fade-to-black, a motion-blurred pan or a washed-out flash frame can win. So every
sampled frame gets a few cheap measurements, stored beside its embedding, and a verdict.

Metrics are facts about the pixels and are stored; thresholds are policy and live in
``FramesConfig``: ``judge`` turns metrics into flags, and loading re-judges stored metrics
with the current thresholds, so tuning a threshold never needs a re-decode or re-embed.

All metrics are on 8-bit luma (ITU-R 601, PIL's "L") at an analysis size whose longer side
is at most ``ANALYSIS_SIDE`` (never up-scaled), so a 4K and a 360p copy of a shot score alike:
- ``luma_std``: contrast; ~0 on a flat frame (black, white, a colour card) -> blank.
- ``laplacian_var``: variance of the 4-neighbour Laplacian (the classic blur measure). Judged
  relative to ``luma_std**2``: a dim, low-contrast but sharp shot has a small absolute
  value too, and must not read as blur. Measured: sharp video frames and photos give
  0.1-0.9, a 1-pixel Gaussian blur at the analysis size ~0.02, 2 pixels ~0.003.
- ``luma_p01`` / ``luma_p99``: 1st / 99th percentile. Under-exposed when even the brightest
  1% is dark; over-exposed when even the darkest 1% is bright. (A night sky with stars has
  a mean of ~18 but bright stars: it is dark, not under-exposed.)
- ``change``: mean absolute luma difference from the previous sampled frame on a 32x32
  thumbnail (null for the first frame and the cover). Codec noise on a still shot is ~0.1-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from generec_core.config import FramesConfig

ANALYSIS_SIDE = 256
THUMB_SIDE = 32

QUALITY_TYPE = pa.struct([
    ("luma_mean", pa.float32()),
    ("luma_std", pa.float32()),
    ("luma_p01", pa.float32()),
    ("luma_p99", pa.float32()),
    ("laplacian_var", pa.float32()),
    ("change", pa.float32()),  # null: first frame / cover (nothing before it)
])
FLAGS: tuple[str, ...] = ("blank", "blurry", "underexposed", "overexposed", "duplicate")


@dataclass(frozen=True)
class QualityThresholds:
    """The frames section's ``quality_*`` thresholds (defaults defined there, once)."""

    min_std: float = FramesConfig.quality_min_std
    min_sharpness: float = FramesConfig.quality_min_sharpness
    dark_level: float = FramesConfig.quality_dark_level
    bright_level: float = FramesConfig.quality_bright_level
    min_change: float = FramesConfig.quality_min_change

    @classmethod
    def from_config(cls, frames_config: FramesConfig) -> "QualityThresholds":
        """From ``FramesConfig``'s ``quality_*`` fields."""
        return cls(frames_config.quality_min_std, frames_config.quality_min_sharpness,
                   frames_config.quality_dark_level, frames_config.quality_bright_level,
                   frames_config.quality_min_change)


def _luma(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(luma at the analysis size, 32x32 luma thumbnail), float32."""
    img = Image.fromarray(rgb).convert("L")
    scale = ANALYSIS_SIDE / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.BOX)
    thumb = img.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX)
    return np.asarray(img, np.float32), np.asarray(thumb, np.float32)


def laplacian_var(gray: np.ndarray) -> float:
    """Variance of the 3x3 4-neighbour Laplacian over interior pixels (0 for tiny images)."""
    if min(gray.shape) < 3:
        return 0.0
    lap = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4.0 * gray[1:-1, 1:-1]
    return float(lap.var())


def frame_metrics(frames: Sequence[np.ndarray], compare_previous: bool = True) -> list[dict]:
    """One metrics dict per (H, W, 3) uint8 RGB frame, ``change`` against the one before it."""
    out: list[dict] = []
    previous: np.ndarray | None = None
    for rgb in frames:
        gray, thumb = _luma(np.asarray(rgb))
        p01, p99 = np.percentile(gray, [1, 99])
        change = None
        if compare_previous and previous is not None:
            change = float(np.abs(thumb - previous).mean())
        out.append({"luma_mean": float(gray.mean()), "luma_std": float(gray.std()),
                    "luma_p01": float(p01), "luma_p99": float(p99),
                    "laplacian_var": laplacian_var(gray), "change": change})
        previous = thumb
    return out


def metrics_array(metrics: Sequence[dict | None]) -> pa.StructArray:
    """Arrow column of metrics dicts (None: no metrics for that row)."""
    return pa.array(list(metrics), QUALITY_TYPE)


def judge(quality: pa.Array | pa.ChunkedArray, th: QualityThresholds) -> dict[str, np.ndarray]:
    """Boolean flag arrays (one per name in FLAGS) for a column of metrics; vectorised.

    A blank frame is only ``blank`` (its sharpness and exposure say nothing more); rows
    without metrics are never flagged.
    """
    if isinstance(quality, pa.ChunkedArray):
        quality = quality.combine_chunks() if quality.num_chunks else pa.array([], QUALITY_TYPE)

    def field(name: str, missing: float) -> np.ndarray:
        return pc.fill_null(pc.struct_field(quality, name), missing).to_numpy(zero_copy_only=False)

    present = pc.is_valid(quality).to_numpy(zero_copy_only=False)
    std = field("luma_std", np.inf)
    blank = present & (std < th.min_std)
    live = present & ~blank
    sharpness = field("laplacian_var", np.inf) / np.maximum(np.where(present, std, 1.0), 1.0) ** 2
    return {
        "blank": blank,
        "blurry": live & (sharpness < th.min_sharpness),
        "underexposed": live & (field("luma_p99", np.inf) < th.dark_level),
        "overexposed": live & (field("luma_p01", -np.inf) > th.bright_level),
        "duplicate": present & (field("change", np.inf) < th.min_change),
    }


def verdict_columns(quality: pa.Array | pa.ChunkedArray, th: QualityThresholds) -> tuple[pa.Array, pa.Array]:
    """(``is_poor`` bool, ``poor_reason`` e.g. "blank,duplicate" or null) for a metrics column."""
    flags = judge(quality, th)
    n = len(next(iter(flags.values()))) if flags else 0
    reason = np.full(n, "", dtype=object)
    for name in FLAGS:
        reason = np.where(flags[name], reason + name + ",", reason)
    poor = np.zeros(n, dtype=bool)
    for mask in flags.values():
        poor |= mask
    reasons = [r[:-1] if r else None for r in reason.tolist()]
    return pa.array(poor, pa.bool_()), pa.array(reasons, pa.string())
