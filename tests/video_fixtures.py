"""Real MP4 files for the tests, made with PyAV from arrays: one encoder, many shapes of video."""

from __future__ import annotations

import io
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def encode_mp4(frames: list[np.ndarray], fps: int = 25, rotation: int | None = None, *,
               pts: list[int] | None = None, time_base: Fraction | None = None, codec: str = "libx264",
               pix_fmt: str = "yuv420p", audio: bool = False, gop: int | None = 10,
               faststart: bool = True, options: dict[str, str] | None = None) -> bytes:
    """Test fixture encoder: by default MP4 with the index first (faststart), as platforms serve it.

    ``pts`` (in ``time_base`` units) gives irregular, variable-frame-rate timing; ``rotation``
    writes a display matrix, as phones do; ``audio`` adds a silent AAC track; ``gop`` sets the
    keyframe interval (None: the encoder's own); ``options`` go to the codec (e.g. B-frames).
    """
    time_base = time_base or Fraction(1, fps)
    pts = list(range(len(frames))) if pts is None else pts
    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        container_options = {"movflags": "+faststart"} if faststart else {}
        with av.open(path, "w", format="mp4", options=container_options) as out:
            stream = out.add_stream(codec, rate=fps)
            stream.height, stream.width = frames[0].shape[:2]
            stream.pix_fmt = pix_fmt
            stream.codec_context.time_base = time_base
            stream.codec_context.thread_count = 1
            if gop is not None:
                stream.codec_context.gop_size = gop  # several keyframes: exercises the clip seek
            if options:
                stream.options = options
            if rotation is not None:
                stream.set_display_rotation(rotation)
            sound = out.add_stream("aac", rate=8000) if audio else None
            for p, rgb in zip(pts, frames):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = p, time_base
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
            if sound is not None:
                for i in range(4):
                    chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                    chunk.sample_rate, chunk.pts = 8000, i * 1024
                    out.mux(sound.encode(chunk))
                out.mux(sound.encode(None))
        return Path(path).read_bytes()
    finally:
        os.unlink(path)


def remux(data: bytes, fmt: str = "mp4", tags: dict[str, str] | None = None) -> bytes:
    """The same video stream in another container (no re-encode), with container ``tags``."""
    out_buf = io.BytesIO()
    with av.open(io.BytesIO(data)) as src, av.open(out_buf, "w", format=fmt) as dst:
        dst.metadata.update(tags or {})
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    return out_buf.getvalue()
