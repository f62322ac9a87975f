"""Join segments into one video: every segment's frames at one size and rate, crossfaded, encoded once.

A segment's frames are its source's frames on screen at ``start_s + j / fps`` (``video.decode.
frames_at``), scaled and letterboxed to the video's size (the first segment's, at most
``max_side``), so a segment's sampled frame at ``t`` is output frame ``offset + (t - start_s) * fps``
and the gate can find it. Neighbours overlap by ``transition_frames`` frames blended linearly
(a crossfade). The encode is ``video.clip.encode_clip``'s (pinned: same frames, same bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageOps

from generec_core.creator.segments import Segment
from generec_core.video.clip import encode_clip
from generec_core.video.decode import frames_at, scaled_size


@dataclass(frozen=True)
class Montage:
    frames: list[np.ndarray]
    offsets_s: list[float]  # where each segment starts in the video
    fps: int

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps


def frame_count(seconds: float, fps: int) -> int:
    return max(1, int(round(seconds * fps)))


def segment_times(segment: Segment, fps: int) -> list[float]:
    """Source times of a segment's output frames."""
    return [segment.start_s + j / fps for j in range(frame_count(segment.duration_s, fps))]


def footage(segment: Segment, video: bytes, fps: int, max_side: int) -> list[np.ndarray]:
    """The segment's source frames at the output rate (``VideoDecodeError`` when the source cannot give them)."""
    return frames_at(video, segment_times(segment, fps), max_side)


def output_size(first: np.ndarray, max_side: int) -> tuple[int, int]:
    """(width, height): the first segment's frame size within ``max_side``, even (yuv420p)."""
    width, height = scaled_size(first.shape[1], first.shape[0], max_side)
    return max(2, width - width % 2), max(2, height - height % 2)


def fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A frame scaled into ``size`` keeping its aspect, letterboxed in black."""
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    return np.asarray(ImageOps.pad(Image.fromarray(frame), size, Image.Resampling.BILINEAR, color=(0, 0, 0)))


def assemble(clips: Sequence[Sequence[np.ndarray]], fps: int, transition_frames: int, max_side: int) -> Montage:
    """One frame sequence from the segments' frames, crossfading ``transition_frames`` between neighbours."""
    size = output_size(clips[0][0], max_side)
    out: list[np.ndarray] = []
    offsets = []
    for frames in clips:
        frames = [fit(f, size) for f in frames]
        overlap = min(transition_frames, len(out), len(frames)) if out else 0
        offsets.append((len(out) - overlap) / fps)
        for k in range(overlap):
            alpha = (k + 1) / (overlap + 1)
            previous = out[len(out) - overlap + k].astype(np.float32)
            out[len(out) - overlap + k] = np.clip(np.rint(previous * (1 - alpha) + frames[k] * alpha), 0,
                                                  255).astype(np.uint8)
        out.extend(frames[overlap:])
    return Montage(out, offsets, fps)


def encode(montage: Montage, tags: dict[str, str], edit: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None
           ) -> bytes:
    """The montage (edited frame by frame by ``edit``, if given) as an H.264 MP4 with container ``tags``."""
    frames = edit(montage.frames) if edit is not None else montage.frames
    return encode_clip(frames, Fraction(montage.fps), tags)
