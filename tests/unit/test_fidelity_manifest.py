"""The great-expectations suite on the manifest-to-be: a consistent table passes, each violation is named."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from generec_core.fidelity.manifest_suite import validate_manifest


def _row(user: str, item: str, kind: str, **over) -> dict:
    row = {"user_id": user, "item_id": item, "thumbnail_kind": kind,
           "thumbnail_staged": f"t/{item}-f003.jpg", "cover_staged": f"c/{item}.jpg",
           "clip_staged": f"k/{item}-w000-007.mp4", "selected_staged": None, "generator_id": None,
           "thumbnail_frame_ts": 1.25, "score": 0.61, "clip_score": 0.55, "clip_start_s": 0.0, "clip_end_s": 1.5,
           "fallback": None}
    if kind == "generated":
        row.update(thumbnail_staged=f"g/{item}-f003-abc.jpg", selected_staged=f"t/{item}-f003.jpg",
                   generator_id="restyle/lab-v1")
    if kind == "original":
        row.update(thumbnail_staged=f"c/{item}.jpg", thumbnail_frame_ts=None, score=None)
    if kind == "created":
        row.update(thumbnail_staged=f"v/{item}.jpg", cover_staged=f"v/{item}.jpg", clip_staged=f"v/{item}.mp4",
                   thumbnail_frame_ts=None, clip_score=None, clip_end_s=9.0, generator_id="creator-montage-v1",
                   clip_kind="created", clip_generator_id="creator-montage-v1")
    row.update(over)
    row.setdefault("candidates", [{"staged": row["thumbnail_staged"], "kind": kind, "frame_ts": row["thumbnail_frame_ts"],
                                   "probability": 0.9}, {"staged": row["cover_staged"], "kind": "original",
                                                         "frame_ts": None, "probability": 0.1}]
                   if row["thumbnail_staged"] != row["cover_staged"] else
                   [{"staged": row["thumbnail_staged"], "kind": kind, "frame_ts": None, "probability": 1.0}])
    row.setdefault("clip_kind", "selected" if row["clip_staged"] else None)
    row.setdefault("clip_generator_id", None)
    return row


GOOD = [_row("u1", "i1", "selected"), _row("u1", "i2", "generated"), _row("u2", "i1", "original"),
        _row("u2", "i2", "selected", clip_staged=None, clip_start_s=None, clip_end_s=None, clip_score=None,
             fallback="clip failed gate: duration: differs from its window"),
        _row("u3", "i1", "generated", clip_kind="edited", clip_staged="e/i1-abc.mp4",
             clip_generator_id="neural-style/magenta-arbitrary-v1/s0.5-clip-b0.9"),
        _row("u1", "created-abc", "created"), _row("u2", "created-abc", "created")]
PASSED = {a: True for r in GOOD for a in (r["thumbnail_staged"], r["cover_staged"], r["clip_staged"]) if a}


def _table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows)


@pytest.fixture(scope="module")
def broken():
    """One table holding one violation per row (ids say which); validated once."""
    rows = [
        *GOOD,
        _row("dup", "i1", "selected"), _row("dup", "i1", "selected"),
        _row("failed-asset", "i3", "selected"),
        _row("nan", "i1", "selected", score=math.nan),
        _row("range", "i1", "selected", clip_score=1.7),
        _row("gen-no-lineage", "i2", "generated", generator_id=None),
        _row("selected-with-generator", "i1", "selected", generator_id="restyle/lab-v1"),
        _row("original-with-score", "i1", "original", score=0.4),
        _row("original-not-cover", "i1", "original", thumbnail_staged="t/i1-f003.jpg"),
        _row("kind", "i1", "remixed"),
        _row("window", "i1", "selected", clip_start_s=2.0, clip_end_s=1.0),
        _row("edited-no-lineage", "i1", "selected", clip_kind="edited"),
        _row("selected-clip-with-generator", "i1", "selected", clip_generator_id="neural-style/x"),
        _row("clip-without-kind", "i1", "selected", clip_kind=None),
        _row("kind-without-clip", "i1", "selected", clip_staged=None, clip_start_s=None, clip_end_s=None,
             clip_kind="selected"),
        _row("clip-kind", "i1", "selected", clip_kind="remixed"),
        _row("created-no-creator", "created-abc", "created", generator_id=None, clip_generator_id=None),
        _row("created-as-plain-clip", "created-abc", "created", clip_kind="selected"),
        _row("candidates-not-first", "i1", "selected",
             candidates=[{"staged": "c/i1.jpg", "kind": "original", "frame_ts": None, "probability": 1.0}]),
        _row("candidate-failed", "i1", "selected",
             candidates=[{"staged": "t/i1-f003.jpg", "kind": "selected", "frame_ts": 1.25, "probability": 0.9},
                         {"staged": "t/i3-f003.jpg", "kind": "runner-up", "frame_ts": 2.0, "probability": 0.1}]),
        _row("candidates-sum", "i1", "selected",
             candidates=[{"staged": "t/i1-f003.jpg", "kind": "selected", "frame_ts": 1.25, "probability": 0.9},
                         {"staged": "c/i1.jpg", "kind": "original", "frame_ts": None, "probability": 0.2}]),
    ]
    passed = {**PASSED, "t/i3-f003.jpg": False, "c/i3.jpg": True, "k/i3-w000-007.mp4": True}
    summary, _ = validate_manifest(_table(rows), passed, "test-broken")
    return {r["name"]: r for r in summary["results"] if not r["success"]}


def test_consistent_rows_pass():
    summary, result = validate_manifest(_table(GOOD), PASSED, "test-good")
    assert summary["success"], [r for r in summary["results"] if not r["success"]]
    assert summary["evaluated"] >= 20 and result.success


@pytest.mark.parametrize("expectation", [
    "expect_compound_columns_to_be_unique(user_id,item_id) — one row per pair",
    "expect_column_values_to_be_in_set(thumbnail_passed) — every asset passed the gate",
    "expect_column_values_to_be_in_set(n_nan) — no NaN",
    "expect_column_values_to_be_between(clip_score) — cosine in [-1, 1]",
    "expect_column_values_to_not_be_null(generator_id) — generated rows name their generator",
    "expect_column_values_to_be_null(generator_id) — only generated rows name a generator",
    "expect_column_values_to_be_null(score) — original rows carry no frame or score",
    "expect_column_values_to_be_in_set(thumbnail_is_cover) — an original thumbnail is the item's cover",
    "expect_column_values_to_be_in_set(thumbnail_kind) — known kinds",
    "expect_column_pair_values_a_to_be_greater_than_b() — clip windows are ordered",
    "expect_column_values_to_not_be_null(clip_generator_id) — edited and created clips name their generator",
    "expect_column_values_to_not_be_null(generator_id) — created items name their creator and carry their video",
    "expect_column_values_to_be_in_set(clip_kind) — a created item's clip is its video",
    "expect_column_values_to_be_in_set(candidates_first_shown) — the shown thumbnail is the first candidate",
    "expect_column_values_to_be_in_set(candidates_passed) — every candidate passed the gate",
    "expect_column_values_to_be_in_set(candidates_probabilities) — candidate probabilities are positive and sum to 1",
    "expect_column_values_to_be_null(clip_generator_id) — only edited clips name a generator",
    "expect_column_values_to_not_be_null(clip_kind) — a clip has its kind",
    "expect_column_values_to_be_null(clip_kind) — no clip, no clip kind",
    "expect_column_values_to_be_in_set(clip_kind) — known clip kinds",
])
def test_each_violation_fails_its_named_expectation(broken, expectation):
    assert f"gate_manifest: {expectation}" in broken, sorted(broken)


def test_nan_is_caught_although_pandas_reads_it_as_null(broken):
    assert "1 unexpected" in broken["gate_manifest: expect_column_values_to_be_in_set(n_nan) — no NaN"]["observed"]
