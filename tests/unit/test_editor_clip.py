"""Clip cutting: stream copy when both cuts fall on keyframes, re-encode otherwise; durations exact."""

from __future__ import annotations


import numpy as np
import pytest

from generec_core.video.clip import clip_info, cut, cut_clip
from generec_core.video.decode import iter_decoded, read_timeline
from video_fixtures import encode_mp4

FPS, GOP, N = 25, 10, 40  # keyframes at frames 0, 10, 20, 30 (0.4 s apart)


def _noise_video(n: int = N) -> bytes:
    """H.264 with B-frames and a fixed GOP: textured frames, so x264 adds no scene-cut keyframes."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (48, 96, 3), dtype=np.uint8)
    frames = [np.ascontiguousarray(np.roll(base, 2 * i, axis=1)[:, :64]) for i in range(n)]
    return encode_mp4(frames, FPS, gop=GOP, faststart=False, options={"sc_threshold": "0", "bframes": "2"})


@pytest.fixture(scope="module")
def video() -> bytes:
    return _noise_video()


def _decoded(data: bytes) -> list[np.ndarray]:
    return [f.to_ndarray(format="rgb24") for _, f in iter_decoded(data, read_timeline(data))]


@pytest.mark.parametrize("start, end, frames", [
    (0.4, 0.8, 10),  # one GOP
    (0.0, 1.2, 30),  # from the first frame, three GOPs
    (0.8, N / FPS, 20),  # the final window: runs to the end of the video
])
def test_keyframe_aligned_cut_is_a_stream_copy_with_the_exact_duration(video, start, end, frames):
    clip = cut(video, start, end)
    assert clip.mode == "copy" and clip.frames == frames
    duration, fps = clip_info(clip.data)
    assert fps == pytest.approx(FPS)
    assert abs(duration - (end - start)) <= 1.0 / fps + 1e-9
    first = round(start * FPS)
    source = _decoded(video)[first:first + frames]
    assert all(np.array_equal(a, b) for a, b in zip(_decoded(clip.data), source)), "copied frames differ"
    assert cut_clip(video, start, end) == clip.data  # deterministic bytes (content addressing)


@pytest.mark.parametrize("start, end", [(0.44, 0.8), (0.4, 0.72), (0.12, 1.0)])
def test_cut_between_keyframes_is_re_encoded_with_the_exact_duration(video, start, end):
    clip = cut(video, start, end)
    assert clip.mode == "encode"
    duration, fps = clip_info(clip.data)
    assert abs(duration - (end - start)) <= 1.0 / fps + 1e-9
    assert len(_decoded(clip.data)) == clip.frames


def test_down_scaling_forces_a_re_encode(video):
    clip = cut(video, 0.4, 0.8, max_side=32)
    assert clip.mode == "encode" and max(_decoded(clip.data)[0].shape[:2]) <= 32
