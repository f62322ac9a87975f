"""Decode a micro-video into a few sampled RGB frames with their timestamps, deterministically.

Every later stage (thumbnail selection, clip windows, Cosine@K) works on the same
``n`` sampled frames and their timestamps, so sampling must be exact and repeatable:
the same file always yields the same frames, and timestamps are measured from the
first presented frame so that ``cut_clip(start_s, end_s)`` addresses the same instants.

How: a cheap demux pass (no decoding) lists every frame's presentation time; the
frames nearest to ``n`` uniform targets (or to one target every ``1 / rate`` s) are
chosen from that list; one sequential decode pass then converts only the chosen frames
to RGB. No seeking, so the result does not depend on keyframe placement. Times come from
real pts, so variable frame rate is exact; the display matrix (phone videos shot
upright) is applied; odd sizes, audio tracks and one-frame videos need nothing special.
"""

from __future__ import annotations

import io
import os
from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Union

import av
import numpy as np

from generec_core.config import FramesConfig

VideoSource = Union[str, os.PathLike, bytes, bytearray, memoryview]
"""A local path, or the whole file's bytes (what ``storage.read_bytes`` returns)."""


class VideoDecodeError(Exception):
    """The video cannot be decoded; ``reason`` says why in the decoder's words."""

    def __init__(self, reason: str, source: str | None = None) -> None:
        super().__init__(reason if source is None else f"cannot decode video {source}: {reason}")
        self.reason = reason
        self.source = source


@dataclass
class SampledVideo:
    """``frames``: (n, h, w, 3) uint8 RGB, display orientation, longer side <= max_side.

    ``width``/``height`` are the source's display size (after rotation, before
    down-scaling); ``timestamps`` are seconds from the first presented frame.
    """

    frames: np.ndarray
    timestamps: np.ndarray
    duration_s: float
    fps: float
    width: int
    height: int


@dataclass(frozen=True)
class Timeline:
    """Presentation timestamps of every frame, sorted, in stream time-base units.

    ``counted`` marks the fallback for streams whose packets carry no pts: frame i
    is then at i / fps and decoded frames are matched by their position.
    """

    pts: tuple[int, ...]
    time_base: Fraction
    fps: float
    width: int  # coded size, before any display rotation
    height: int
    counted: bool = False

    @property
    def origin(self) -> int:
        return self.pts[0]

    def seconds(self, pts: int) -> float:
        return float((pts - self.origin) * self.time_base)

    @property
    def times(self) -> np.ndarray:
        return np.array([self.seconds(p) for p in self.pts], dtype=np.float64)

    @property
    def frame_duration(self) -> float:
        return 1.0 / self.fps if self.fps > 0 else 0.0

    @property
    def duration_s(self) -> float:
        """Last frame's time plus one frame: the span the frames cover on screen."""
        return self.seconds(self.pts[-1]) + self.frame_duration


def describe(source: VideoSource) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return str(source)


def ffmpeg_reason(exc: av.error.FFmpegError) -> str:
    """``InvalidDataError: Invalid data found when processing input`` -- without PyAV's '<none>'."""
    text = exc.strerror or str(exc)
    where = exc.filename if isinstance(exc.filename, str) and exc.filename.endswith("()") else ""
    return f"{type(exc).__name__}: {text}" + (f" ({where})" if where else "")


def _check_source(source: VideoSource) -> None:
    """Fail early, with a plain reason, on the cases the decoder reports cryptically."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise VideoDecodeError("zero-byte file", describe(source))
        return
    path = Path(source)
    if not path.is_file():
        raise VideoDecodeError("file not found", str(source))
    if path.stat().st_size == 0:
        raise VideoDecodeError("zero-byte file", str(source))


def open_container(source: VideoSource) -> av.container.InputContainer:
    """Open with PyAV, mapping every failure to ``VideoDecodeError``."""
    _check_source(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        target: object = io.BytesIO(source)
    else:
        target = os.fspath(source)
    try:
        container = av.open(target, mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(ffmpeg_reason(exc), describe(source)) from None
    if not container.streams.video:
        container.close()
        raise VideoDecodeError("no video stream", describe(source))
    return container


def read_timeline(source: VideoSource) -> Timeline:
    """Every frame's pts from a demux pass (cheap: no decoding), plus fps and size.

    Packets flagged as discard (edit lists) and empty flush packets are not frames.
    Streams whose packets carry no pts (raw elementary streams) fall back to a
    counting decode pass.
    """
    desc = describe(source)
    with open_container(source) as container:
        stream = container.streams.video[0]
        time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
        rate = stream.average_rate or stream.guessed_rate
        width, height = stream.codec_context.width, stream.codec_context.height
        declared = stream.frames  # sample count from the container index; 0 when unknown
        pts: list[int] = []
        present = 0
        counted = False
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                present += 1
                if packet.is_discard:
                    continue
                if packet.pts is None:
                    counted = True
                    break
                pts.append(int(packet.pts))
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(
                f"demux failed after {len(pts)} packets: {ffmpeg_reason(exc)}", desc) from None
        if not counted and declared and present < declared:
            raise VideoDecodeError(f"truncated: {present} of {declared} indexed frames present", desc)
        if counted:
            container.seek(0)
            pts, time_base = _count_frames(container, stream, desc, rate)
    if not pts or width <= 0 or height <= 0:
        raise VideoDecodeError("video stream has no frames", desc)
    pts.sort()
    fps = float(rate) if rate else _fps_from_pts(pts, time_base)
    return Timeline(tuple(pts), time_base, fps, width, height, counted)


def _count_frames(container, stream, desc: str, rate) -> tuple[list[int], Fraction]:
    """Fallback timeline: frame i is at i / fps (used only when packets lack pts)."""
    fps = Fraction(rate) if rate else Fraction(25)
    count = 0
    try:
        for _ in container.decode(stream):
            count += 1
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(f"decode failed at frame {count}: {ffmpeg_reason(exc)}", desc) from None
    return list(range(count)), 1 / fps


def _fps_from_pts(pts: list[int], time_base: Fraction) -> float:
    if len(pts) < 2:
        return 0.0
    step = float(np.median(np.diff(np.asarray(pts, dtype=np.int64)))) * float(time_base)
    return 1.0 / step if step > 0 else 0.0


def probe_duration(path: VideoSource) -> float:
    """Duration in seconds as the frames cover it (last pts - first pts + one frame)."""
    return read_timeline(path).duration_s


def sample_targets(times: np.ndarray, n: int, rate: float | None = None) -> np.ndarray:
    """The instants (seconds from the first frame) to take frames at.

    Uniform (``rate`` None): ``n`` points from the first to the last frame. Fixed rate:
    one point every ``1 / rate`` seconds from the first frame; ``n`` caps the count, so a
    video longer than ``n / rate`` seconds is sampled uniformly with ``n`` points instead
    (the rate drops, the whole video stays covered and memory stays bounded).
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if rate is not None and not rate > 0:
        raise ValueError(f"rate must be positive, got {rate}")
    first, last = float(times[0]), float(times[-1])
    if rate is not None:
        step = 1.0 / rate
        count = int(np.floor((last - first) / step + 1e-9)) + 1
        if count <= n:
            return first + step * np.arange(count, dtype=np.float64)
    return np.linspace(first, last, n)


def choose_nearest(times: np.ndarray, targets: np.ndarray) -> list[int]:
    """Indices of the frames nearest to the sorted ``targets``: distinct and increasing.

    Each pick leaves room for the remaining ones, so a variable-frame-rate video (or a
    rate above the video's) never yields the same frame twice; with no more frames than
    targets every frame is returned once. Ties go to the earlier frame.
    """
    count, n = len(times), len(targets)
    if count <= n:
        return list(range(count))
    chosen: list[int] = []
    previous = -1
    for j, target in enumerate(targets):
        lo, hi = previous + 1, count - (n - j)
        k = bisect_left(times, target, lo, hi + 1)
        candidates = [i for i in (k - 1, k) if lo <= i <= hi]
        best = min(candidates, key=lambda i: (abs(times[i] - target), i))
        chosen.append(best)
        previous = best
    return chosen


def choose_frames(times: np.ndarray, n: int, rate: float | None = None) -> list[int]:
    """Indices of the sampled frames: nearest to ``sample_targets(times, n, rate)``."""
    return choose_nearest(times, sample_targets(times, n, rate))


def scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Keep the aspect ratio with the longer side <= max_side (never up-scale)."""
    longer = max(width, height)
    if max_side <= 0 or longer <= max_side:
        return width, height
    scale = max_side / longer
    return max(1, round(width * scale)), max(1, round(height * scale))


def iter_decoded(source: VideoSource, timeline: Timeline) -> Iterator[tuple[int, av.VideoFrame]]:
    """(timeline key, frame) for every decoded frame in presentation order.

    The key is the frame's pts, or its position for a counted timeline. Decoder
    errors surface as ``VideoDecodeError`` naming the frame where decoding stopped.
    """
    desc = describe(source)
    count = 0
    with open_container(source) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: output is bit-identical, just faster
        try:
            for frame in container.decode(stream):
                key = count if timeline.counted or frame.pts is None else int(frame.pts)
                count += 1
                yield key, frame
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(f"decode failed at frame {count}: {ffmpeg_reason(exc)}", desc) from None


def display_rotation(frame: av.VideoFrame) -> int:
    """Counter-clockwise degrees (0/90/180/270) the display matrix asks for."""
    return int(round(frame.rotation / 90.0)) * 90 % 360


def to_rgb(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 scaled to ``size`` (coded orientation), then rotated for display."""
    rgb = frame.to_ndarray(width=size[0], height=size[1], format="rgb24", interpolation="AREA")
    k = display_rotation(frame) // 90
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


@dataclass(frozen=True)
class SourceLimits:
    """What a source may be before anything is decoded (the frames section's bounds, defined there)."""

    min_side: int = FramesConfig.min_source_side
    max_side: int = FramesConfig.max_source_side
    max_duration_s: float = FramesConfig.max_duration_s

    @classmethod
    def from_config(cls, frames: FramesConfig) -> "SourceLimits":
        return cls(frames.min_source_side, frames.max_source_side, frames.max_duration_s)

    def check(self, timeline: Timeline, desc: str) -> None:
        """Absurd dimensions or durations are a decode error: the item is quarantined, nothing is decoded."""
        sides = (timeline.width, timeline.height)
        if not all(self.min_side <= side <= self.max_side for side in sides):
            raise VideoDecodeError(f"absurd dimensions: {sides[0]}x{sides[1]} (each side must be "
                                   f"{self.min_side}..{self.max_side} px)", desc)
        if timeline.duration_s > self.max_duration_s:
            raise VideoDecodeError(f"absurd duration: {timeline.duration_s:.3f} s (at most {self.max_duration_s:g} s)",
                                   desc)


def sample_frames(path: VideoSource, n: int = FramesConfig.frames_per_video, max_side: int = FramesConfig.max_side,
                  rate: float | None = None, limits: SourceLimits = SourceLimits()) -> SampledVideo:
    """``n`` frames uniformly spread over the video (all of them if it has fewer).

    With ``rate`` (frames per second): one frame every ``1 / rate`` s instead, at most
    ``n`` (see ``sample_targets``). Timestamps are the chosen frames' real presentation
    times, so a variable-frame-rate video reports when each frame is actually shown.
    A source outside ``limits`` raises before any frame is decoded.
    """
    timeline = read_timeline(path)
    limits.check(timeline, describe(path))
    times = timeline.times
    chosen = choose_frames(times, n, rate)
    wanted = {timeline.pts[i]: slot for slot, i in enumerate(chosen)}
    size = scaled_size(timeline.width, timeline.height, max_side)
    frames: list[np.ndarray] = [np.empty(0, np.uint8)] * len(chosen)
    rotation = 0
    decoded = 0
    for key, frame in iter_decoded(path, timeline):
        if decoded == 0:
            rotation = display_rotation(frame)
        decoded += 1
        slot = wanted.pop(key, None)
        if slot is not None:
            frames[slot] = to_rgb(frame, size)
        if not wanted:
            break
    if wanted:
        raise VideoDecodeError(
            f"decode failed at frame {decoded}: stream ended before {len(wanted)} of {len(chosen)} "
            f"sampled frames (truncated or corrupt; {len(times)} frames indexed)", describe(path))
    sideways = rotation in (90, 270)
    return SampledVideo(
        frames=np.stack(frames),
        timestamps=times[chosen],
        duration_s=timeline.duration_s,
        fps=timeline.fps,
        width=timeline.height if sideways else timeline.width,
        height=timeline.width if sideways else timeline.height,
    )


def sample_item(source: VideoSource, frames: FramesConfig) -> SampledVideo:
    """The frames this config samples from a video: every stage that decodes an item (the frames
    stage embedding them, the editor staging them) must see exactly the same ones."""
    rate = frames.sample_fps if frames.sampling == "rate" else None
    return sample_frames(source, n=frames.frames_per_video, max_side=frames.max_side, rate=rate,
                         limits=SourceLimits.from_config(frames))


def frames_at(source: VideoSource, times_s: list[float], max_side: int) -> list[np.ndarray]:
    """The RGB frames on screen at each time (seconds from the first frame), at most ``max_side``, display-rotated.

    The frame on screen at ``t`` is the last one presented at or before it (a microsecond of slack
    absorbs float rounding), so a time that is a sampled frame's timestamp returns exactly that frame:
    the AI creator renders segments with it and the fidelity gate reads them back the same way.
    """
    timeline = read_timeline(source)
    times = timeline.times
    index = [max(0, min(len(times) - 1, int(np.searchsorted(times, t + 1e-6, side="right")) - 1)) for t in times_s]
    wanted = {timeline.pts[i] for i in index}
    size = scaled_size(timeline.width, timeline.height, max_side)
    kept: dict[int, np.ndarray] = {}
    for key, frame in iter_decoded(source, timeline):
        if key in wanted:
            kept[key] = to_rgb(frame, size)
            if len(kept) == len(wanted):
                break
    missing = wanted - set(kept)
    if missing:
        raise VideoDecodeError(f"stream ended before {len(missing)} of the {len(wanted)} frames asked for "
                               "(truncated or corrupt)", describe(source))
    return [kept[timeline.pts[i]] for i in index]
