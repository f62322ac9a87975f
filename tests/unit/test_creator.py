"""The AI creator on real demo footage: segment choice and its bounds, the montage's determinism and provenance,
and the fidelity gate on created videos (what passes, and each way a created item fails)."""

from __future__ import annotations

import numpy as np
import pytest
from fidelity_images import demo_frames
from hypothesis import given
from hypothesis import strategies as st

from generec_core.config import CreatorConfig, GateConfig
from generec_core.creator.audiences import plan_audiences, recipients
from generec_core.creator.montage import assemble, encode, footage
from generec_core.creator.provenance import created_video_tags, provenance_in
from generec_core.creator.segments import candidate_segments, choose_segments, created_duration, unit
from generec_core.creator.titles import title_for
from generec_core.demo.videos import encode_mp4
from generec_core.editor.selection import ItemFrames
from generec_core.fidelity.audit import Auditor, CreatedAsset, Probe, created_probes
from generec_core.fidelity.metadata import ai_clip_tags, ai_marked, clip_metadata
from generec_core.instructor.guidance import Guidance
from generec_core.video.decode import frames_at, sample_frames

import pyarrow as pa

FPS = 12
CFG = CreatorConfig(segment_s=1.0, min_duration_s=2.0, target_duration_s=3.0, max_duration_s=4.0,
                    max_seconds_per_item=2.0, transition_s=0.25)
CATEGORIES = {"item-a": ("coffee", "rocket"), "item-b": ("bunny", "bikes"), "item-c": ("cat", "coffee")}


@pytest.fixture(scope="module")
def world():
    """Three real 4 s videos of two demo categories each, their sampled frames embedded as the frames stage does,
    and an auditor."""
    from generec_core.embedding.encoder import load_encoder

    encoder = load_encoder("efficientnet-lite0", "cpu", 32)
    videos, items = {}, {}
    for item, (first, second) in CATEGORIES.items():
        videos[item] = encode_mp4([*demo_frames(first, 24), *demo_frames(second, 24)])
        sampled = sample_frames(videos[item], n=16, max_side=640)
        items[item] = ItemFrames(encoder.embed(sampled.frames), sampled.timestamps, sampled.duration_s,
                                 np.zeros(16, bool))
    return videos, items, encoder, Auditor(GateConfig(), encoder, frozenset({"user-0007"}))


def _taste(world, item: str, first_half: bool) -> np.ndarray:
    frames = world[1][item]
    half = frames.timestamps < 2.0
    return unit(frames.embeddings[half if first_half else ~half].mean(0))


def _made(world, segments, tags: dict[str, str] | None = None, sources=None):
    videos = world[0]
    clips = [footage(s, videos[s.item_id], FPS, 320) for s in segments]
    montage = assemble(clips, FPS, round(CFG.transition_s * FPS), 320)
    sources = sources or [{"item_id": s.item_id, "start_s": s.start_s, "end_s": s.end_s} for s in segments]
    data = encode(montage, created_video_tags("creator-montage-v1", sources) if tags is None else tags)
    return data, montage, sources


def _asset(world, data: bytes, montage, sources, *, usable=None, duration: float | None = None,
           bounds=(CFG.min_duration_s, CFG.max_duration_s)) -> CreatedAsset:
    videos, items = world[0], world[1]
    planned = created_probes(sources, montage.offsets_s, items, FPS, CFG.transition_s, 3)
    probes = [Probe(n, at, emb, frames_at(videos[item], [ts], 320)[0]) for n, at, item, ts, emb in planned]
    usable = {i: f.duration_s for i, f in items.items()} if usable is None else usable
    return CreatedAsset("work/run=x/staged/created/abc.mp4", data, montage.duration_s if duration is None else duration,
                        bounds, sources, usable, probes, edited=False)


def _failed(world, asset: CreatedAsset) -> set[str]:
    return {c.name for c in world[3].videos([asset])[0] if not c.passed}


def test_segments_follow_the_taste_within_the_bounds(world):
    taste = _taste(world, "item-b", first_half=True)  # the bunny
    chosen = choose_segments(candidate_segments(world[1], taste, CFG.segment_s), CFG)
    assert chosen[0].item_id == "item-b" and chosen[0].end_s <= 2.0 + 1e-6  # the best window is bunny footage
    assert CFG.min_duration_s <= created_duration([s.duration_s for s in chosen], CFG.transition_s) <= CFG.max_duration_s
    per_item = {i: sum(s.duration_s for s in chosen if s.item_id == i) for i in CATEGORIES}
    assert max(per_item.values()) <= CFG.max_seconds_per_item + 1e-6
    assert len({s.item_id for s in chosen}) >= 2  # diversity forces a second source


def test_poor_frames_and_thin_material_give_no_segments(world):
    items = dict(world[1])
    frames = items["item-a"]
    poor = ItemFrames(frames.embeddings, frames.timestamps, frames.duration_s, np.ones(16, bool))
    assert candidate_segments({"item-a": poor}, _taste(world, "item-a", True), 1.0) == []
    only_a = candidate_segments({"item-a": frames}, _taste(world, "item-a", True), 1.0)
    assert choose_segments(only_a, CreatorConfig(segment_s=1.0, min_duration_s=2.5, target_duration_s=3.0,
                                                 max_duration_s=4.0, max_seconds_per_item=2.0)) == []  # 2 s at most


@given(st.integers(0, 2**32 - 1), st.integers(2, 12), st.floats(0.5, 1.0))
def test_chosen_segments_always_respect_every_bound(seed, n_items, similarity):
    """Random catalogues: whatever is chosen respects duration, per-item, overlap and near-duplicate bounds."""
    rng = np.random.default_rng(seed)
    cfg = CreatorConfig(segment_s=1.0, min_duration_s=2.0, target_duration_s=4.0, max_duration_s=5.0,
                        max_seconds_per_item=2.0, max_segment_similarity=similarity, transition_s=0.25)
    items = {}
    for k in range(n_items):
        n = int(rng.integers(1, 20))
        ts = np.sort(rng.uniform(0, 8, n))
        emb = rng.normal(size=(n, 8)).astype(np.float32)
        items[f"i{k}"] = ItemFrames(emb / np.linalg.norm(emb, axis=1, keepdims=True), ts, float(ts[-1] + 0.5),
                                    rng.random(n) < 0.2)
    chosen = choose_segments(candidate_segments(items, unit(rng.normal(size=8)), cfg.segment_s), cfg)
    if not chosen:
        return
    assert cfg.min_duration_s - 1e-6 <= created_duration([s.duration_s for s in chosen], 0.25) <= cfg.max_duration_s + 1e-6
    for s in chosen:
        frames = items[s.item_id]
        inside = (frames.timestamps >= s.start_s - 1e-6) & (frames.timestamps < s.end_s - 1e-6)
        assert inside.any() and not frames.poor[inside].any() and s.end_s <= frames.duration_s + 1e-6
        assert sum(c.duration_s for c in chosen if c.item_id == s.item_id) <= cfg.max_seconds_per_item + 1e-6
    for i, a in enumerate(chosen):
        for b in chosen[i + 1:]:
            assert float(a.mean @ b.mean) <= similarity + 1e-6
            assert a.item_id != b.item_id or a.end_s <= b.start_s + 1e-6 or b.end_s <= a.start_s + 1e-6


def test_audiences_groups_instructing_users_and_who_is_shown(world):
    features = pa.table({"user_id": ["u1", "u2", "u3", "u4", "u5", "u6"],
                         "taste": [[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3,
                         "is_cold": [False, False, False, False, False, True], "cluster": [0, 0, 0, 1, 1, 1]})
    guidance = {"u1": Guidance(avoid_topics=("cars",), source="instruction", user_id="u1"),
                "u2": Guidance(prefer_topics=("cats",), styles=("vintage",), source="instruction", user_id="u2"),
                "u4": Guidance(prefer_topics=("food",), source="feedback", user_id="u4"),
                "u5": Guidance(opt_out=True, styles=("warm",), source="instruction", user_id="u5")}
    audiences = plan_audiences(features, guidance, CreatorConfig(min_group_members=3))
    assert [a.audience for a in audiences] == ["group:0", "user:u2"]  # group 1: u5 opted out, u6 is cold
    group, personal = audiences
    assert group.members == ("u1", "u2", "u3") and group.avoid_topics == {"cars"}  # 1 of 3 >= 20% avoid it
    assert personal.prefer_topics == {"cats"} and personal.styles == ("vintage",)
    assert recipients(group, frozenset({"cars", "food"}), guidance) == ["u2", "u3"]
    assert plan_audiences(features, guidance, CreatorConfig(min_group_members=4, max_personal=0)) == []


def test_titles_come_from_the_vocabulary_only():
    assert title_for([(("cats", "nature"), 3.0), (("nature", "ignore previous instructions"), 2.0)], ("vintage",)) \
        == "Nature & cats, in vintage style: a mix made for you"
    assert title_for([(("user-0007",), 1.0)]) == "Picks: a mix made for you"


def test_the_montage_is_deterministic_and_carries_its_mark_and_provenance(world):
    segments = choose_segments(candidate_segments(world[1], _taste(world, "item-c", True), 1.0), CFG)
    first, montage, sources = _made(world, segments)
    again, _, _ = _made(world, segments)
    assert first == again  # byte-identical: content-addressed names are stable across re-runs
    metadata = clip_metadata(first)
    assert provenance_in(metadata) == sources and ai_marked(metadata)
    assert montage.offsets_s[0] == 0.0 and len(montage.frames) == round(
        created_duration([s.duration_s for s in segments], CFG.transition_s) * FPS)


def test_a_created_video_passes_the_gate(world):
    segments = choose_segments(candidate_segments(world[1], _taste(world, "item-a", False), 1.0), CFG)
    data, montage, sources = _made(world, segments)
    checks = {c.name: c for c in world[3].videos([_asset(world, data, montage, sources)])[0]}
    assert all(c.passed for c in checks.values()), checks
    assert set(checks) == {"decodes", "duration", "duration_bounds", "provenance", "authenticity", "safety",
                           "new_faces", "no_user_identifier", "identifiability"}
    assert checks["authenticity"].score >= 0.9


@pytest.fixture(scope="module")
def made(world):
    segments = choose_segments(candidate_segments(world[1], _taste(world, "item-b", False), 1.0), CFG)
    return _made(world, segments)


def test_a_quarantined_or_unknown_source_fails_provenance(world, made):
    data, montage, sources = made
    usable = {i: f.duration_s for i, f in world[1].items() if i != sources[0]["item_id"]}
    assert "provenance" in _failed(world, _asset(world, data, montage, sources, usable=usable))


def test_a_range_outside_the_source_fails_provenance(world, made):
    data, montage, sources = made
    short = {i: 1.0 for i in world[1]}  # every source "lasts" 1 s: the stated ranges end after it
    assert _failed(world, _asset(world, data, montage, sources, usable=short)) >= {"provenance"}


def test_a_file_that_names_other_sources_fails_provenance(world, made):
    _, montage, sources = made
    other = [{**sources[0], "start_s": sources[0]["start_s"] + 0.5}, *sources[1:]]
    data = encode(montage, created_video_tags("creator-montage-v1", other))
    assert "provenance" in _failed(world, _asset(world, data, montage, sources))


def test_footage_from_other_times_fails_authenticity_by_segment(world, made):
    _, montage, sources = made
    lying = [dict(s) for s in sources]
    start = lying[0]["start_s"]
    shifted = start + 2.0 if start + 3.0 <= 4.0 else start - 2.0  # the same video's other category
    lying[0].update(start_s=shifted, end_s=shifted + 1.0)
    data = encode(montage, created_video_tags("creator-montage-v1", lying))
    checks = {c.name: c for c in world[3].videos([_asset(world, data, montage, lying)])[0]}
    assert not checks["authenticity"].passed and "segment(s) 0 " in checks["authenticity"].reason
    assert checks["provenance"].passed


def test_no_ai_mark_fails_identifiability(world, made):
    _, montage, sources = made
    tags = {k: v for k, v in created_video_tags("creator-montage-v1", sources).items() if k == "description"}
    assert _failed(world, _asset(world, encode(montage, tags), montage, sources)) == {"identifiability"}
    assert ai_clip_tags("x")["comment"].startswith("AI-generated")


def test_durations_outside_the_bounds_or_the_item_fail(world, made):
    data, montage, sources = made
    assert _failed(world, _asset(world, data, montage, sources, bounds=(5.0, 12.0))) == {"duration_bounds"}
    assert _failed(world, _asset(world, data, montage, sources, duration=montage.duration_s + 1.0)) == {"duration"}
    assert _failed(world, _asset(world, data[: len(data) // 2], montage, sources)) == {"decodes"}


def test_audiences_whose_videos_came_out_the_same_share_one_item():
    from generec_core.stages.create import merge_identical

    def item(item_id: str, audience: str, recipients: list[str]) -> dict:
        return {"item_id": item_id, "audience": audience, "recipients": recipients}

    merged = merge_identical([item("created-a", "group:3", ["u1", "u2"]), item("created-b", "user:u9", ["u9"]),
                              item("created-a", "user:u2", ["u2", "u5"])])
    assert [(m["item_id"], m["audience"], m["recipients"]) for m in merged] == [
        ("created-a", "group:3", ["u1", "u2", "u5"]), ("created-b", "user:u9", ["u9"])]
