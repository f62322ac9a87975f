"""Quality checks: is an asset fit to show at all, whoever it is shown to?

Images: decodes, big enough, not blank, not blurred, exposed within bounds. Clips: decode
to the last frame and last what their window says, within sane clip-length bounds.

The pixel facts come from ``video.quality.frame_metrics``, the same measurements the frames
stage stores for selection (luma at a fixed analysis scale, variance of the Laplacian,
1st/99th luma percentiles), so the gate and the selector can never disagree on what
"blurred" means. The blank and blur bars are the selector's own (``QualityThresholds``, from
the frames section): the gate never rejects a frame selection judged fit. The exposure bars
are the gate's (``GateConfig``), looser than selection's: the gate is the last line of defence
and rejects what is clearly unfit, while selection prefers good frames.

- sharpness = var(Laplacian) / var(luma): blur removes high frequencies; dividing by the
  contrast keeps a dim but sharp shot (a night sky) from reading as blurred.
- exposure: under-exposed when even the brightest 1% of pixels is dark (p99 < dark level),
  over-exposed when even the darkest 1% is bright (p01 > bright level). A mean would fail
  the demo's Hubble deep field (mean luma ~19, yet a correctly exposed star field).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from generec_core.config import GateConfig
from generec_core.fidelity.checks import CheckResult
from generec_core.video.quality import QualityThresholds, frame_metrics


def decode_image(data: bytes) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of an encoded image; raises on anything undecodable."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image.convert("RGB"))


def image_quality(pixels: np.ndarray, gate: GateConfig, quality: QualityThresholds) -> list[CheckResult]:
    """Resolution, blank, sharpness and exposure verdicts of decoded pixels."""
    m = frame_metrics([pixels], compare_previous=False)[0]
    side = float(min(pixels.shape[:2]))
    std = m["luma_std"]
    sharpness = m["laplacian_var"] / max(std, 1.0) ** 2
    p01, p99 = m["luma_p01"], m["luma_p99"]
    return [
        CheckResult.of("min_resolution", side >= gate.min_side_px, side, float(gate.min_side_px), "too small"),
        CheckResult.of("not_blank", std >= quality.min_std, round(std, 3), quality.min_std, "blank image"),
        CheckResult.of("sharpness", sharpness >= quality.min_sharpness, round(sharpness, 4), quality.min_sharpness,
                       "blurred"),
        CheckResult.of("not_underexposed", p99 >= gate.dark_level, round(p99, 1), gate.dark_level, "underexposed"),
        CheckResult.of("not_overexposed", p01 <= gate.bright_level, round(p01, 1), gate.bright_level, "overexposed"),
    ]


def decode_check(data: bytes) -> tuple[CheckResult, np.ndarray | None]:
    """Whether the bytes decode as an image, and the pixels when they do (never raises)."""
    try:
        return CheckResult.of("decodes", True, None, None, ""), decode_image(data)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this check's verdict
        # the type only: PIL's messages quote object addresses, and fallback texts reach the catalog
        return CheckResult("decodes", False, None, None, f"not a decodable image ({type(exc).__name__})"), None


def clip_duration_checks(n_frames: int, fps: float, expected_s: float, gate: GateConfig) -> list[CheckResult]:
    """The clip lasts what the manifest will say (within one frame) and a sane clip length."""
    duration = n_frames / fps
    tolerance = 1.0 / fps
    matches = abs(duration - expected_s) <= tolerance + 1e-6
    lo, hi = gate.min_clip_s, gate.max_clip_s
    return [
        CheckResult.of("duration", matches, round(duration, 4), round(expected_s, 4), "differs from its window"),
        CheckResult.of("duration_bounds", lo <= duration <= hi, round(duration, 4), [lo, hi],
                       "too short" if duration < lo else "too long"),
    ]
