"""The editor's selection against a direct numpy reading of the paper's formulas."""

import numpy as np
import pytest

from generec_core.editor.selection import ItemFrames, clip_bounds, select_for_item, window_starts


def _unit(rng, *shape):
    x = rng.normal(size=shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.mark.parametrize("n, expected", [
    (5, [0]),                      # shorter than L: one window of everything
    (8, [0]),                      # exactly L
    (16, [0, 4, 8]),               # exact multiple: last window already ends at the last frame
    (18, [0, 4, 8, 10]),           # remainder: a final window ending at the last frame is added
    (32, [0, 4, 8, 12, 16, 20, 24]),
])
def test_window_starts_cover_the_end(n, expected):
    starts = window_starts(n, 8, 4)
    assert starts == expected
    assert starts[-1] + min(8, n) == n


def test_selection_matches_numpy_reference():
    rng = np.random.default_rng(0)
    frames = _unit(rng, 18, 16)
    tastes = _unit(rng, 7, 16)
    item = ItemFrames(frames, np.linspace(0, 4.25, 18), 4.5)
    got = select_for_item(tastes, item, length=8, stride=4)
    sims = tastes @ frames.T
    for u, sel in enumerate(got):
        assert sel.frame_idx == int(np.argmax(sims[u]))
        assert sel.frame_score == pytest.approx(float(sims[u].max()), abs=1e-5)
        means = {s: sims[u, s:s + 8].mean() for s in window_starts(18, 8, 4)}
        best = max(means, key=means.get)
        assert (sel.window_start, sel.window_end) == (best, best + 7)
        assert sel.clip_score == pytest.approx(float(means[best]), abs=1e-5)


def test_clip_bounds_last_window_runs_to_video_end():
    item = ItemFrames(np.zeros((10, 4), np.float32), np.arange(10) * 0.5, duration_s=5.2)
    assert clip_bounds(item, 0, 7) == (0.0, 4.0)
    assert clip_bounds(item, 2, 9) == (1.0, 5.2)


def test_short_video_single_window_spans_all_frames():
    rng = np.random.default_rng(1)
    item = ItemFrames(_unit(rng, 3, 8), np.array([0.0, 0.3, 0.6]), 0.9)
    (sel,) = select_for_item(_unit(rng, 1, 8), item, length=8, stride=4)
    assert (sel.window_start, sel.window_end) == (0, 2)
