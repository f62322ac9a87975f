"""Per-frame quality on real photos and their degraded copies: blank, blur, exposure, duplicates."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter
from skimage import data

from generec_core.config import FramesConfig
from generec_core.video.quality import (
    FLAGS,
    QualityThresholds,
    frame_metrics,
    judge,
    metrics_array,
    verdict_columns,
)

TH = QualityThresholds.from_config(FramesConfig())


def flags_of(frames: list[np.ndarray], th: QualityThresholds = TH) -> list[set[str]]:
    verdict = judge(metrics_array(frame_metrics(frames)), th)
    return [{name for name in FLAGS if verdict[name][i]} for i in range(len(frames))]


def blur(rgb: np.ndarray, radius: float) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius)))


def starfield(seed: int = 0) -> np.ndarray:
    """A night sky: almost all black, a few hundred bright stars (dark on purpose, not under-exposed)."""
    rng = np.random.default_rng(seed)
    sky = np.full((180, 320, 3), 8, np.uint8)
    ys, xs = rng.integers(0, 179, 300), rng.integers(0, 319, 300)
    for y, x in zip(ys, xs):
        sky[y:y + 2, x:x + 2] = rng.integers(150, 255, 3)
    return sky


def test_good_real_photos_are_not_poor():
    photos = [data.chelsea(), data.coffee(), data.rocket(), data.astronaut(), starfield()]
    assert flags_of(photos) == [set()] * len(photos)


def test_blank_frames():
    black, white, grey = (np.full((90, 160, 3), v, np.uint8) for v in (0, 255, 128))
    noisy_black = np.clip(np.random.default_rng(0).normal(3, 1.5, (90, 160, 3)), 0, 255).astype(np.uint8)
    assert flags_of([black]) == [{"blank"}]  # a blank frame is only blank: nothing else to judge
    assert flags_of([white]) == [{"blank"}] and flags_of([grey]) == [{"blank"}]
    assert flags_of([noisy_black]) == [{"blank"}]  # sensor noise on a black frame is still black


def test_blur_is_relative_to_contrast():
    cat = data.chelsea()
    assert flags_of([blur(cat, 1.0)]) == [set()]  # a slight softening is fine
    assert flags_of([blur(cat, 4.0)]) == [{"blurry"}]
    dim = (cat.astype(np.float32) * 0.25 + 60).astype(np.uint8)  # low contrast, still sharp
    assert flags_of([dim]) == [set()]
    assert frame_metrics([dim])[0]["laplacian_var"] < frame_metrics([cat])[0]["laplacian_var"] / 8


def test_exposure():
    cat = data.chelsea().astype(np.float32)
    under = (cat * 45 / 255).astype(np.uint8)  # everything below luma ~40
    over = (215 + cat * 40 / 255).astype(np.uint8)  # everything above luma ~215
    assert flags_of([under]) == [{"underexposed"}]
    assert flags_of([over]) == [{"overexposed"}]
    assert flags_of([starfield()]) == [set()]  # mean luma ~10, but its stars are bright


def test_near_duplicates_of_the_previous_frame():
    cat = data.chelsea()
    still = [cat[:200, :300]] * 2
    noisy = np.clip(cat[:200, :300] + np.random.default_rng(1).normal(0, 2, (200, 300, 3)), 0, 255).astype(np.uint8)
    moved = cat[:200, 40:340]
    assert flags_of([*still, noisy, moved, moved]) == [set(), {"duplicate"}, {"duplicate"}, set(), {"duplicate"}]
    assert frame_metrics(still)[0]["change"] is None
    assert frame_metrics(still, compare_previous=False)[1]["change"] is None


def test_fade_to_black_in_a_real_video():
    """The frames of a fade-out get worse in order: under-exposed, then blank."""
    cat = data.chelsea()[:180, :320].astype(np.float32)
    frames = [(cat * level).astype(np.uint8) for level in (1.0, 0.5, 0.12, 0.03, 0.0)]
    assert flags_of(frames) == [set(), set(), {"underexposed"}, {"blank"}, {"blank"}]


def test_verdict_columns_follow_thresholds_and_skip_missing_metrics():
    metrics = frame_metrics([data.chelsea(), blur(data.chelsea(), 4.0)])
    column = metrics_array([*metrics, None])
    poor, reason = verdict_columns(column, TH)
    assert poor.to_pylist() == [False, True, False] and reason.to_pylist() == [None, "blurry", None]
    strict = QualityThresholds(min_sharpness=10.0, min_change=1e9)
    poor, reason = verdict_columns(column, strict)
    assert reason.to_pylist() == ["blurry", "blurry,duplicate", None]
    empty_poor, empty_reason = verdict_columns(metrics_array([]), TH)
    assert len(empty_poor) == 0 and len(empty_reason) == 0


def test_analysis_size_makes_metrics_resolution_independent():
    cat = data.chelsea()
    big = np.asarray(Image.fromarray(cat).resize((cat.shape[1] * 4, cat.shape[0] * 4), Image.Resampling.LANCZOS))
    small, large = frame_metrics([cat, big], compare_previous=False)
    ratio = lambda m: m["laplacian_var"] / m["luma_std"] ** 2  # noqa: E731
    assert ratio(large) == pytest.approx(ratio(small), rel=0.35)
    assert large["luma_mean"] == pytest.approx(small["luma_mean"], abs=1.0)
