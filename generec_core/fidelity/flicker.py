"""Temporal stability of an edited clip: does the edit flicker more than the footage itself moves?

Flicker ratio = mean absolute difference between consecutive frames of the edited clip / the same
for the clip it was edited from. Motion in the source moves both alike, so a faithful edit sits
near 1 (a monochrome edit below it: less colour to change); a per-frame restyle whose texture
swims from frame to frame sits above it. The gate fails an edit above ``gate.max_flicker_ratio``.

A nearly still source would make any ratio explode, so its motion counts as at least
``STILL_FLOOR`` grey levels per pixel (below what a viewer sees). Frames are decoded one at a time
and only the previous one is kept: memory does not grow with the clip.
"""

from __future__ import annotations

import av
import numpy as np

from generec_core.fidelity.checks import CheckResult
from generec_core.video.decode import VideoDecodeError, ffmpeg_reason, open_container

STILL_FLOOR = 1.0  # grey levels (of 255) per pixel between frames


def frame_change(frames) -> float:
    """Mean |frame - previous frame| over a clip's consecutive frames (RGB uint8); 0 for fewer than two."""
    total, pairs, previous = 0.0, 0, None
    for frame in frames:
        current = np.asarray(frame, np.int16)
        if previous is not None and previous.shape == current.shape:
            total += float(np.abs(current - previous).mean())
            pairs += 1
        previous = current
    return total / pairs if pairs else 0.0


def decoded_frames(data: bytes):
    """A clip's frames as RGB uint8, one at a time; ``VideoDecodeError`` when it cannot be decoded."""
    with open_container(bytes(data)) as container:
        try:
            for frame in container.decode(container.streams.video[0]):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(f"decode failed: {ffmpeg_reason(exc)}", "clip") from None


def flicker_ratio(edited, source) -> float:
    """Frame change of the edited frames over that of their source frames (module docstring)."""
    return frame_change(edited) / max(frame_change(source), STILL_FLOOR)


def flicker_check(edited: bytes, source: bytes | None, ceiling: float) -> CheckResult:
    """An edited clip's flicker ratio against its source clip is at most ``ceiling``."""
    if not source:
        return CheckResult("flicker", False, None, ceiling, "source clip unavailable")
    try:
        ratio = flicker_ratio(decoded_frames(edited), decoded_frames(source))
    except VideoDecodeError as exc:
        return CheckResult("flicker", False, None, ceiling, f"source clip undecodable: {exc.reason}")
    return CheckResult.of("flicker", ratio <= ceiling, round(ratio, 4), ceiling, "flickers")
