"""The editor's selection (reference and batched scorer) against a direct numpy reading of the paper."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from generec_core.editor.clip_length import ClipBounds, sampling_step, window_length, window_lengths
from generec_core.editor.scorer import PreviousChoices, score_pairs
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


# --- the batched scorer (editor.scorer) against the reference and a direct numpy reading --------


def _numpy_choice(taste, frames, length, stride):
    """The paper's formulas read directly: argmax cosine frame; best mean window, last one included."""
    sims = frames @ taste
    n = len(sims)
    span = min(length, n)
    starts = list(range(0, n - span + 1, stride))
    if starts[-1] != n - span:
        starts.append(n - span)
    means = [sims[s:s + span].mean() for s in starts]
    best = int(np.argmax(means))
    return int(np.argmax(sims)), starts[best], starts[best] + span - 1, float(means[best])


@pytest.mark.parametrize("chunk_rows", [64, 100, 1 << 15])
def test_scorer_matches_numpy_reference_over_mixed_items(chunk_rows):
    rng = np.random.default_rng(3)
    counts = [32, 5, 8, 16, 18, 1, 32]  # shorter than L, exactly L, multiple, remainder, one frame
    items = [ItemFrames(_unit(rng, n, 12), np.arange(n) * 0.2, n * 0.2) for n in counts]
    tastes = _unit(rng, 40, 12)
    pair_user = rng.integers(0, 40, 120)
    pair_item = rng.integers(0, len(items), 120)
    got = score_pairs(tastes, pair_user, pair_item, items, length=8, stride=4, chunk_rows=chunk_rows)
    for p in range(120):
        frame, start, end, mean = _numpy_choice(tastes[pair_user[p]], items[pair_item[p]].embeddings, 8, 4)
        assert (got.frame_idx[p], got.window_start[p], got.window_end[p]) == (frame, start, end)
        assert got.clip_score[p] == pytest.approx(mean, abs=1e-5)
        assert got.frame_score[p] == pytest.approx(float(items[pair_item[p]].embeddings[frame] @ tastes[pair_user[p]]),
                                                   abs=1e-5)
        (ref,) = select_for_item(tastes[pair_user[p]][None], items[pair_item[p]], 8, 4)
        assert (ref.frame_idx, ref.window_start, ref.window_end) == (frame, start, end)
    assert not got.kept_frame.any() and not got.kept_window.any()


def test_scorer_with_no_pairs_and_bad_input():
    item = ItemFrames(np.eye(4, dtype=np.float32), np.arange(4.0), 4.0)
    empty = score_pairs(np.eye(4, dtype=np.float32), [], [], [item], length=8, stride=4)
    assert len(empty.frame_idx) == 0
    with pytest.raises(ValueError, match="differ in length"):
        score_pairs(np.eye(4, dtype=np.float32), [0, 1], [0], [item], length=8, stride=4)


def _one_hot_item(n=8, poor=None):
    return ItemFrames(np.eye(n, dtype=np.float32), np.arange(n) * 0.5, n * 0.5,
                      None if poor is None else np.asarray(poor, bool))


def _taste(*weights):
    t = np.asarray(weights, np.float32)
    return (t / np.linalg.norm(t))[None]


def test_poor_frames_are_not_chosen_unless_nothing_else_is_left():
    taste = _taste(0, 0, 1, 0.5, 0, 0, 0, 0)  # frame 2 best, frame 3 next
    poor = [False, False, True, False, False, False, False, False]
    got = score_pairs(taste, [0], [0], [_one_hot_item(poor=poor)], length=4, stride=2)
    assert got.frame_idx[0] == 3
    all_poor = score_pairs(taste, [0], [0], [_one_hot_item(poor=[True] * 8)], length=4, stride=2)
    assert all_poor.frame_idx[0] == 2  # a poor frame beats no thumbnail
    ignored = score_pairs(taste, [0], [0], [_one_hot_item(poor=poor)], length=4, stride=2, use_quality=False)
    assert ignored.frame_idx[0] == 2  # reference mode: the paper has no quality mask


def test_stability_keeps_yesterdays_thumbnail_within_the_margin():
    taste = _taste(0, 0, 1.0, 0.9, 0, 0, 0, 0)  # today: frame 2 (0.743), yesterday's frame 3 scores 0.669
    prev = PreviousChoices(np.array([3]), np.array([-1]), np.array([-1]))
    gain = float(taste[0, 2] - taste[0, 3])
    kept = score_pairs(taste, [0], [0], [_one_hot_item()], length=4, stride=2, previous=prev, frame_margin=gain + 0.01)
    assert kept.frame_idx[0] == 3 and kept.kept_frame[0]
    assert kept.frame_score[0] == pytest.approx(float(taste[0, 3]), abs=1e-6)
    moved = score_pairs(taste, [0], [0], [_one_hot_item()], length=4, stride=2, previous=prev, frame_margin=gain - 0.01)
    assert moved.frame_idx[0] == 2 and not moved.kept_frame[0]
    poor_prev = score_pairs(taste, [0], [0], [_one_hot_item(poor=[False] * 3 + [True] + [False] * 4)], length=4,
                            stride=2, previous=prev, frame_margin=1.0)
    assert poor_prev.frame_idx[0] == 2  # yesterday's frame is poor today: never kept


def test_stability_keeps_yesterdays_clip_within_the_margin():
    taste = _taste(0, 0, 0, 0, 1.0, 1.0, 1.0, 0.8)  # best window 4..7; yesterday 2..5
    prev = PreviousChoices(np.array([-1]), np.array([2]), np.array([5]))
    best = score_pairs(taste, [0], [0], [_one_hot_item()], length=4, stride=2)
    assert (best.window_start[0], best.window_end[0]) == (4, 7)
    yesterday = float(taste[0, 2:6].mean())
    gain = float(best.clip_score[0]) - yesterday
    kept = score_pairs(taste, [0], [0], [_one_hot_item()], length=4, stride=2, previous=prev, clip_margin=gain + 0.01)
    assert (kept.window_start[0], kept.window_end[0]) == (2, 5) and kept.kept_window[0]
    assert kept.clip_score[0] == pytest.approx(yesterday, abs=1e-6)
    moved = score_pairs(taste, [0], [0], [_one_hot_item()], length=4, stride=2, previous=prev, clip_margin=gain - 0.01)
    assert (moved.window_start[0], moved.window_end[0]) == (4, 7) and not moved.kept_window[0]


def test_window_length_follows_clip_bounds_in_seconds():
    item = ItemFrames(np.zeros((32, 4), np.float32), np.linspace(0, 31 * 0.5, 32), 16.0)  # 0.5 s apart
    assert sampling_step(item) == pytest.approx(0.5)
    assert window_length(item, 8, ClipBounds()) == 8  # no bounds: the paper's L
    assert window_length(item, 8, ClipBounds(min_s=6.0)) == 12  # 4 s too short
    assert window_length(item, 8, ClipBounds(max_s=2.0)) == 4  # 4 s too long
    assert window_length(item, 8, ClipBounds(min_s=60.0)) == 32  # the whole video at most
    assert window_length(item, 8, ClipBounds(max_s=0.1)) == 1
    short = ItemFrames(np.zeros((3, 4), np.float32), np.array([0.0, 0.1, 0.2]), 0.3)
    assert window_length(short, 8, ClipBounds(1.0, 15.0)) == 3
    lengths = window_lengths(["a", "b"], np.array([0, 0]), [item], 8, ClipBounds(),
                             {"b": ClipBounds.from_guidance({"min": None, "max": 1.0})})
    assert lengths.tolist() == [8, 2]  # per-user bounds (the instructor's) win over the default
    with pytest.raises(ValueError, match="max_s"):
        ClipBounds(5.0, 2.0)


def test_scorer_uses_per_pair_window_lengths():
    rng = np.random.default_rng(5)
    item = ItemFrames(_unit(rng, 18, 8), np.arange(18) * 0.25, 4.5)
    tastes = _unit(rng, 2, 8)
    got = score_pairs(tastes, [0, 1], [0, 0], [item], length=8, stride=4, window_len=np.array([8, 3]))
    for p, span in enumerate([8, 3]):
        _, start, end, mean = _numpy_choice(tastes[p], item.embeddings, span, min(4, span))
        assert (got.window_start[p], got.window_end[p]) == (start, end)
        assert got.clip_score[p] == pytest.approx(mean, abs=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_scorer_on_cuda_matches_cpu():
    rng = np.random.default_rng(9)
    items = [ItemFrames(_unit(rng, n, 64), np.arange(n) * 0.2, n * 0.2, rng.random(n) < 0.2) for n in (32, 18, 5)]
    tastes = _unit(rng, 50, 64)
    pair_user, pair_item = rng.integers(0, 50, 500), rng.integers(0, 3, 500)
    cpu = score_pairs(tastes, pair_user, pair_item, items, length=8, stride=4, chunk_rows=256)
    gpu = score_pairs(tastes, pair_user, pair_item, items, length=8, stride=4, chunk_rows=256, device="cuda")
    assert np.array_equal(cpu.frame_idx, gpu.frame_idx) and np.array_equal(cpu.window_start, gpu.window_start)
    assert np.allclose(cpu.frame_score, gpu.frame_score, atol=1e-5)


# --- the scorer's policies against a per-pair reading, on generated inputs full of exact ties -----


def _policy_choice(sims, poor, use_quality, length, stride, wl, prev_f, prev_s, prev_e, frame_margin, clip_margin):
    """One pair, read directly from the scorer's docstring: (frame, kept, start, end, clip mean, kept)."""
    n = len(sims)
    ok = np.ones(n, bool) if not use_quality or poor is None or poor.all() else ~poor
    best = int(np.argmax(np.where(ok, sims, -np.inf)))  # first of equal maxima
    frame = prev_f if 0 <= prev_f < n and ok[prev_f] and sims[best] - sims[prev_f] <= frame_margin else best
    span = min(max(wl, 1), n)
    starts = window_starts(n, span, min(stride, span))
    means = [sims[s:s + span].mean() for s in starts]
    start = starts[int(np.argmax(means))]
    clip = (start, start + span - 1, max(means))
    if 0 <= prev_s <= prev_e < n and clip[2] - sims[prev_s:prev_e + 1].mean() <= clip_margin:
        clip = (prev_s, prev_e, sims[prev_s:prev_e + 1].mean())
    return frame, frame != best, *clip, clip[:2] != (start, start + span - 1)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), chunk_rows=st.sampled_from([64, 100, 4096]), use_quality=st.booleans(),
       mixed_lengths=st.booleans(), with_previous=st.booleans(), length=st.integers(1, 8), stride=st.integers(1, 5),
       frame_margin=st.sampled_from([0.0, 0.5, 1.5]), clip_margin=st.sampled_from([0.0, 0.5 / 840, 100.5 / 840]))
def test_scorer_policies_match_a_per_pair_reading(seed, chunk_rows, use_quality, mixed_lengths, with_previous,
                                                  length, stride, frame_margin, clip_margin):
    """Small-integer embeddings: every cosine and window sum is exact in float32, so ties are real
    ties and the scorer must break them exactly like the reference (first maximum). Window lengths
    stay <= 8, so mean differences are multiples of 1/840 and the margins sit between them."""
    rng = np.random.default_rng(seed)
    dim, n_users, n_pairs = int(rng.integers(2, 7)), int(rng.integers(1, 20)), int(rng.integers(1, 300))
    items = []
    for _ in range(int(rng.integers(1, 9))):
        n = int(rng.integers(1, 20))
        poor = None if rng.random() < 0.3 else rng.random(n) < rng.random()
        items.append(ItemFrames(rng.integers(-2, 3, (n, dim)).astype(np.float32), np.arange(n) * 0.2, n * 0.2, poor))
    tastes = rng.integers(-2, 3, (n_users, dim)).astype(np.float32)
    pair_user, pair_item = rng.integers(0, n_users, n_pairs), rng.integers(0, len(items), n_pairs)
    wl = rng.integers(0, 9, n_pairs) if mixed_lengths else np.full(n_pairs, length)
    prev = PreviousChoices.none(n_pairs)
    if with_previous:
        start = rng.integers(-2, 20, n_pairs)
        prev = PreviousChoices(rng.integers(-2, 20, n_pairs), start, start + rng.integers(-1, 9, n_pairs))
    got = score_pairs(tastes, pair_user, pair_item, items, length=length, stride=stride, window_len=wl,
                      previous=prev, frame_margin=frame_margin, clip_margin=clip_margin, use_quality=use_quality,
                      chunk_rows=chunk_rows)
    for p in range(n_pairs):
        item = items[pair_item[p]]
        sims = item.embeddings.astype(np.float64) @ tastes[pair_user[p]].astype(np.float64)
        frame, kept_frame, start, end, clip, kept_window = _policy_choice(
            sims, item.poor, use_quality, length, stride, int(wl[p]), int(prev.frame_idx[p]),
            int(prev.window_start[p]), int(prev.window_end[p]), frame_margin, clip_margin)
        assert (got.frame_idx[p], got.kept_frame[p], got.frame_score[p]) == (frame, kept_frame, sims[frame])
        assert (got.window_start[p], got.window_end[p], got.kept_window[p]) == (start, end, kept_window)
        assert got.clip_score[p] == pytest.approx(clip, abs=1e-6)
    plain = score_pairs(tastes, pair_user, pair_item, items, length=length, stride=stride, use_quality=False,
                        chunk_rows=chunk_rows)
    for i, item in enumerate(items):  # no policy asked for: the paper's reference, ties included
        mine = np.flatnonzero(pair_item == i)  # (the scorer never strides past a window: no frame skipped)
        ref = select_for_item(tastes[pair_user[mine]], item, length, min(stride, length)) if len(mine) else []
        assert [(s.frame_idx, s.window_start, s.window_end) for s in ref] == list(
            zip(plain.frame_idx[mine], plain.window_start[mine], plain.window_end[mine]))
