"""Per-asset fidelity checks: each returns a named verdict with its score and threshold.

A check never raises on bad content: an undecodable asset is a failed verdict with the
decoder's reason, so one broken file costs one row, not the run.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from generec_core.config import GateConfig
from generec_core.video.clip import clip_info


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    score: float | None
    threshold: float | None
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def decode_image(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image.convert("RGB"))


def image_quality(data: bytes, gate: GateConfig) -> tuple[list[CheckResult], np.ndarray | None]:
    """Decodes, is big enough, is not blank. Returns the pixels for later checks when it decodes."""
    try:
        pixels = decode_image(data)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this check's verdict
        return [CheckResult("decodes", False, None, None, f"{type(exc).__name__}: {exc}")], None
    side = float(min(pixels.shape[:2]))
    std = float(pixels.astype(np.float32).std())
    return [
        CheckResult("decodes", True, None, None),
        CheckResult("min_resolution", side >= gate.min_side_px, side, float(gate.min_side_px),
                    "" if side >= gate.min_side_px else "too small"),
        CheckResult("not_blank", std >= gate.min_pixel_std, round(std, 3), gate.min_pixel_std,
                    "" if std >= gate.min_pixel_std else "blank image"),
    ], pixels


def authenticity(asset_embedding: np.ndarray, source_embedding: np.ndarray, gate: GateConfig) -> CheckResult:
    """Cosine between the asset and the frame it claims to come from, in encoder space."""
    score = float(np.dot(asset_embedding, source_embedding))
    ok = score >= gate.min_authenticity
    return CheckResult("authenticity", ok, round(score, 4), gate.min_authenticity, "" if ok else "unlike its source")


def clip_checks(data: bytes, expected_s: float) -> list[CheckResult]:
    """The clip decodes fully and lasts what the manifest will say, within one frame."""
    try:
        duration, fps = clip_info(data)
    except Exception as exc:  # noqa: BLE001
        return [CheckResult("decodes", False, None, None, f"{type(exc).__name__}: {exc}")]
    tolerance = 1.0 / fps if fps > 0 else 0.1
    error = abs(duration - expected_s)
    ok = error <= tolerance + 1e-6
    return [CheckResult("decodes", True, None, None),
            CheckResult("duration", ok, round(duration, 4), round(expected_s, 4),
                        "" if ok else f"lasts {duration:.3f}s, expected {expected_s:.3f}s ±{tolerance:.3f}s")]
