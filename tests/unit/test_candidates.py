"""Serving candidates: the runner-up frames, and what each gated row offers with which probability."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from generec_core.editor.candidates import candidates, explore, runner_up_frames
from generec_core.editor.selection import ItemFrames


def _frames(vectors: list[list[float]], poor: list[bool] | None = None) -> ItemFrames:
    emb = np.asarray(vectors, np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return ItemFrames(emb, np.arange(len(vectors), dtype=np.float64) * 0.5, len(vectors) * 0.5,
                      None if poor is None else np.asarray(poor))


def test_runner_ups_are_the_next_best_distinct_good_frames():
    frames = _frames([[1, 0, 0], [0.99, 0.05, 0], [0.8, 0.6, 0], [0.7, 0, 0.7], [0, 1, 0]],
                     poor=[False, False, False, True, False])
    taste = np.asarray([1, 0, 0], np.float32)
    # frame 1 is a near-duplicate of the chosen frame 0; frame 3 is poor
    assert [i for i, _ in runner_up_frames(taste, frames, 0, 2, 0.9)] == [2, 4]
    assert [i for i, _ in runner_up_frames(taste, frames, 0, 2, 0.9, use_quality=False)] == [2, 3]
    assert runner_up_frames(taste, frames, 0, 0, 0.9) == []
    (idx, score), = runner_up_frames(taste, frames, 0, 1, 0.9)
    assert idx == 2 and score == pytest.approx(0.8)


@given(st.integers(1, 12), st.floats(0.01, 0.99))
def test_probabilities_are_positive_sum_to_one_and_favour_the_shown(n, exploration):
    probabilities = explore(n, exploration)
    assert abs(sum(probabilities) - 1.0) <= 1e-12 and len(probabilities) == n
    assert min(probabilities) > 0 and (n == 1 or probabilities[0] == pytest.approx(1 - exploration))


def _row(**over) -> dict:
    row = {"thumbnail_kind": "generated", "thumbnail_staged": "g/i1.jpg", "selected_staged": "t/i1-f003.jpg",
           "thumbnail_frame_ts": 1.5, "cover_staged": "c/i1.jpg", "score": 0.7, "cover_score": 0.4,
           "runner_ups": [{"staged": "t/i1-f009.jpg", "frame_idx": 9, "frame_ts": 4.5, "score": 0.4}]}
    row.update(over)
    return row


def test_a_generated_row_offers_its_source_frame_runner_up_and_cover():
    offered = candidates(_row(), 0.1)
    assert [(c["staged"], c["kind"]) for c in offered] == [("g/i1.jpg", "generated"), ("t/i1-f003.jpg", "selected"),
                                                           ("t/i1-f009.jpg", "runner-up"), ("c/i1.jpg", "original")]
    assert [c["probability"] for c in offered] == pytest.approx([0.9, 0.1 / 3, 0.1 / 3, 0.1 / 3])
    assert offered[0]["frame_ts"] == offered[1]["frame_ts"] == 1.5 and offered[3]["frame_ts"] is None
    assert [c["score"] for c in offered] == [0.7, 0.7, 0.4, 0.4]  # taste scores: the bandit's priors


def test_assets_are_offered_once_and_no_exploration_offers_the_shown_alone():
    fell_back = candidates(_row(thumbnail_kind="selected", thumbnail_staged="t/i1-f003.jpg"), 0.2)
    assert [c["staged"] for c in fell_back] == ["t/i1-f003.jpg", "t/i1-f009.jpg", "c/i1.jpg"]
    original = candidates(_row(thumbnail_kind="original", thumbnail_staged="c/i1.jpg", selected_staged=None,
                               thumbnail_frame_ts=None, runner_ups=[]), 0.1)
    assert original == [{"staged": "c/i1.jpg", "kind": "original", "frame_ts": None, "score": 0.4, "probability": 1.0}]
    assert [c["probability"] for c in candidates(_row(), 0.0)] == [1.0]
