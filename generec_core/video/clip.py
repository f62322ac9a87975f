"""Cut a personalised clip out of a micro-video as a small, self-contained MP4.

The clip window comes from the sampled-frame timeline (``decode.sample_frames``), so
times here use the same origin: seconds from the first presented frame. A source
frame shown at ``t`` belongs to the clip when ``start_s <= t < end_s``; the clip
therefore lasts ``end_s - start_s`` within one source frame, which the fidelity gate
checks with ``clip_duration``.

Stream copy when both cuts fall on keyframes (the window starts at a keyframe and
the first frame after it is a keyframe, or the video ends): the packets in between
are copied untouched -- no quality loss, no encode cost -- and the result is decoded
once to check it holds exactly the window's frames. Otherwise (the usual case:
micro-videos have few keyframes) the window is re-encoded (libx264, yuv420p, no
audio). The encode is pinned (one thread, fixed preset and CRF, bit-exact muxer, no
creation time) and the copy is a pure remux, so the same input gives byte-identical
clips and content-addressed assets stay stable across re-runs.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from generec_core.video.decode import (
    Timeline,
    VideoDecodeError,
    VideoSource,
    describe,
    display_rotation,
    ffmpeg_reason,
    iter_decoded,
    open_container,
    read_timeline,
    scaled_size,
)

CRF = "23"
PRESET = "veryfast"
# x264 core 165 (PyAV 18 wheels) with macroblock-tree rate control and B-frames gave
# call-to-call different bytes for identical frames in one long-lived process
# (measured: 3 distinct outputs over 12 encodes under pytest; mbtree=0 or bframes=0
# fix it; demo/videos.py found the same on AVX-512). A few percent of bitrate is a
# fair price for byte-identical, content-addressed clips.
X264_PARAMS = "mbtree=0"
_EPS = 1e-6  # seconds: float slack when comparing frame times with window bounds


def frames_in_window(timeline: Timeline, start_s: float, end_s: float) -> list[int]:
    """Timeline keys (pts) of the source frames shown in [start_s, end_s)."""
    return [p for p, t in zip(timeline.pts, timeline.times) if start_s - _EPS <= t < end_s - _EPS]


def _check_window(timeline: Timeline, start_s: float, end_s: float, desc: str) -> None:
    if not (start_s >= 0 and end_s > start_s):
        raise ValueError(f"clip window [{start_s}, {end_s}) of {desc} is empty or negative")
    if end_s > timeline.duration_s + timeline.frame_duration + _EPS:
        raise ValueError(f"clip window [{start_s}, {end_s}) ends after {desc} "
                         f"(duration {timeline.duration_s:.3f}s)")


def _decode_window(source: VideoSource, timeline: Timeline, keys: list[int],
                   seek: bool) -> list[av.VideoFrame] | None:
    """The frames with the wanted keys, in order; None when a seek landed past the first one.

    Seeking to the keyframe before the window skips decoding the video's head. Frames
    decoded after a seek are bit-identical to a full decode (decoding restarts at a
    keyframe); the None case guards containers whose index leads a seek too far.
    """
    wanted = set(keys)
    out: list[av.VideoFrame] = []
    count = 0
    with open_container(source) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if seek:
            container.seek(keys[0], stream=stream, backward=True, any_frame=False)
        try:
            for frame in container.decode(stream):
                key = count if timeline.counted or frame.pts is None else int(frame.pts)
                if count == 0 and seek and key > keys[0]:
                    return None
                count += 1
                if key in wanted:
                    out.append(frame)
                    if len(out) == len(keys):
                        break
                elif key > keys[-1]:
                    break
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(f"decode failed at frame {count}: {ffmpeg_reason(exc)}",
                                   describe(source)) from None
    return out


def _encode(frames: list[av.VideoFrame], rate: Fraction, max_side: int | None,
            metadata: dict[str, str] | None = None) -> bytes:
    """H.264 MP4 bytes, frame i at i / rate; display rotation copied from the source; ``metadata``: container tags."""
    first = frames[0]
    width, height = scaled_size(first.width, first.height, max_side or 0)
    width, height = width - width % 2, height - height % 2  # yuv420p needs even sizes
    time_base = 1 / rate
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="generec-clip-")
    os.close(fd)
    try:  # a real file, not BytesIO: faststart (index first, for streaming) rewrites it
        with av.open(path, "w", format="mp4",
                     options={"movflags": "+faststart", "fflags": "+bitexact"}) as out:
            out.metadata.update(metadata or {})
            stream = out.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = time_base
            stream.codec_context.thread_count = 1
            stream.options = {"crf": CRF, "preset": PRESET, "x264-params": X264_PARAMS}
            rotation = display_rotation(first)
            if rotation:
                stream.set_display_rotation(rotation)
            for i, src in enumerate(frames):
                frame = src.reformat(width=width, height=height, format="yuv420p")
                # the decoder's picture type would reach x264 as a forced frame type
                frame.pict_type = av.video.frame.PictureType.NONE
                frame.pts, frame.time_base = i, time_base
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


@dataclass(frozen=True)
class Clip:
    data: bytes  # the MP4 file
    mode: str  # "copy" (packets copied between keyframes) or "encode"
    frames: int  # source frames in the clip


def cut_clip(src: VideoSource, start_s: float, end_s: float, *, max_side: int | None = None) -> bytes:
    """MP4 bytes of the source frames shown in [start_s, end_s) seconds from the first frame.

    ``end_s`` may be the video's duration (the final window). ``max_side`` optionally
    down-scales; by default the clip keeps the source resolution.
    """
    return cut(src, start_s, end_s, max_side=max_side).data


def cut(src: VideoSource, start_s: float, end_s: float, *, max_side: int | None = None) -> Clip:
    """``cut_clip`` that also says how the clip was made (stream copy or re-encode)."""
    desc = describe(src)
    timeline = read_timeline(src)
    _check_window(timeline, start_s, end_s, desc)
    keys = frames_in_window(timeline, start_s, end_s)
    if not keys:
        raise ValueError(f"clip window [{start_s}, {end_s}) of {desc} holds no frame")
    if not max_side or scaled_size(timeline.width, timeline.height, max_side) == (timeline.width, timeline.height):
        copied = _stream_copy(src, timeline, keys)
        if copied is not None:
            return Clip(copied, "copy", len(keys))
    return Clip(_reencode(src, timeline, keys, start_s, end_s, max_side), "encode", len(keys))


def _reencode(src: VideoSource, timeline: Timeline, keys: list[int], start_s: float, end_s: float,
              max_side: int | None) -> bytes:
    seek = not timeline.counted and keys[0] != timeline.pts[0]
    frames = _decode_window(src, timeline, keys, seek)
    if frames is None:
        frames = _decode_window(src, timeline, keys, seek=False)
    if len(frames) != len(keys):
        raise VideoDecodeError(f"clip [{start_s:.3f}, {end_s:.3f}): decoded {len(frames)} of "
                               f"{len(keys)} frames (truncated or corrupt)", describe(src))
    rate = Fraction(timeline.fps).limit_denominator(1001000) if timeline.fps > 0 else Fraction(25)
    return _encode(frames, rate, max_side)


def _packet_index(src: VideoSource) -> list[tuple[int | None, int | None, bool, bool]]:
    """(pts, dts, keyframe, discard) of every non-empty video packet, in decode order."""
    with open_container(src) as container:
        stream = container.streams.video[0]
        try:
            return [(p.pts, p.dts, bool(p.is_keyframe), bool(p.is_discard))
                    for p in container.demux(stream) if p.size]
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(f"demux failed: {ffmpeg_reason(exc)}", describe(src)) from None


def _copy_range(src: VideoSource, timeline: Timeline, keys: list[int]) -> tuple[int, int] | None:
    """Decode-order packet range [first, stop) holding exactly the window's frames, or None.

    Both cuts must be keyframes, and the packets between them must be exactly the
    window's frames: this rejects open GOPs (frames that need a reference outside).
    """
    if timeline.counted:
        return None
    packets = _packet_index(src)
    where = {pts: i for i, (pts, _, _, discard) in enumerate(packets) if pts is not None and not discard}
    after = timeline.pts.index(keys[-1]) + 1
    next_pts = timeline.pts[after] if after < len(timeline.pts) else None
    first = where.get(keys[0])
    stop = len(packets) if next_pts is None else where.get(next_pts)
    if first is None or stop is None or not packets[first][2] or (next_pts is not None and not packets[stop][2]):
        return None
    span = packets[first:stop]
    if any(p[3] or p[0] is None or p[1] is None for p in span) or sorted(p[0] for p in span) != list(keys):
        return None
    return first, stop


def _stream_copy(src: VideoSource, timeline: Timeline, keys: list[int]) -> bytes | None:
    """The window's packets remuxed untouched, or None when the cuts are not both keyframes."""
    span = _copy_range(src, timeline, keys)
    if span is None:
        return None
    first, stop = span
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="generec-copy-")
    os.close(fd)
    try:
        with open_container(src) as container, av.open(
                path, "w", format="mp4", options={"movflags": "+faststart", "fflags": "+bitexact"}) as out:
            stream = container.streams.video[0]
            target = out.add_stream_from_template(stream)
            offset = None
            for i, packet in enumerate(p for p in container.demux(stream) if p.size):
                if i >= stop:
                    break
                if i < first:
                    continue
                offset = packet.dts if offset is None else offset  # first dts -> 0, reordering kept
                packet.pts, packet.dts = packet.pts - offset, packet.dts - offset
                packet.stream = target
                out.mux(packet)
        with open(path, "rb") as fh:
            data = fh.read()
    except av.error.FFmpegError:
        return None  # a container that cannot be remuxed is simply re-encoded
    finally:
        os.unlink(path)
    try:
        count = sum(1 for _ in iter_decoded(data, read_timeline(data)))
    except VideoDecodeError:
        return None
    return data if count == len(keys) else None


def encode_clip(frames: list[np.ndarray], rate: Fraction, metadata: dict[str, str] | None = None) -> bytes:
    """RGB uint8 frames as an H.264 MP4 clip (pinned like a cut: same frames, same bytes), with container tags."""
    if not frames:
        raise ValueError("encode_clip: no frames")
    return _encode([av.VideoFrame.from_ndarray(f, format="rgb24") for f in frames], rate, None, metadata)


def clip_frames(mp4_bytes: bytes) -> tuple[list[np.ndarray], Fraction]:
    """Every frame of a (short) clip as RGB uint8, and its frame rate; ``VideoDecodeError`` when it cannot."""
    frames: list[np.ndarray] = []
    with open_container(bytes(mp4_bytes)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        try:
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(f"decode failed at frame {len(frames)}: {ffmpeg_reason(exc)}", "clip") from None
    if not frames or not rate:
        raise VideoDecodeError("clip has no frames" if not frames else "clip frame rate unknown", "clip")
    return frames, Fraction(rate)


def clip_info(mp4_bytes: bytes) -> tuple[float, float]:
    """(duration_s, fps) of a clip, from its decoded frames: frames / fps."""
    count = 0
    with open_container(bytes(mp4_bytes)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        pts: list[int] = []
        try:
            for frame in container.decode(stream):
                count += 1
                if frame.pts is not None:
                    pts.append(int(frame.pts))
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(f"decode failed at frame {count}: {ffmpeg_reason(exc)}", "clip") from None
        time_base = stream.time_base
    if count == 0:
        raise VideoDecodeError("clip has no frames", "clip")
    if rate:
        fps = float(rate)
    elif len(pts) >= 2 and time_base:
        fps = 1.0 / (float(np.median(np.diff(sorted(pts)))) * float(time_base))
    else:
        raise VideoDecodeError("clip frame rate unknown", "clip")
    return count / fps, fps


def clip_duration(mp4_bytes: bytes) -> float:
    """Decoded duration of a clip in seconds (decoded frames / fps), for the fidelity gate."""
    return clip_info(mp4_bytes)[0]

