"""Clip checks on a real demo video (coffee then rocket, 12 fps) and clips cut from it by the editor's cutter."""

from __future__ import annotations

import numpy as np
import pytest
from fidelity_images import demo_frames
from video_fixtures import remux

from generec_core.config import GateConfig
from generec_core.demo.videos import encode_mp4
from generec_core.fidelity.audit import Auditor, ClipAsset, decode_clip_at
from generec_core.video.clip import clip_frames, cut_clip, encode_clip
from generec_core.video.decode import sample_frames

USER = "user-0012"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """(path, sampled timestamps, sampled-frame embeddings, auditor): what the frames stage stores."""
    from generec_core.embedding.encoder import load_encoder

    path = tmp_path_factory.mktemp("clips") / "coffee-rocket.mp4"
    path.write_bytes(encode_mp4([*demo_frames("coffee", 24), *demo_frames("rocket", 24)]))
    sampled = sample_frames(path, n=16, max_side=640)
    encoder = load_encoder("efficientnet-lite0", "cpu", 32)
    return path, sampled.timestamps, encoder.embed(sampled.frames), Auditor(GateConfig(), encoder, frozenset({USER}))


def _asset(video, first: int, last: int, cut: tuple[float, float] | None = None, data: bytes | None = None,
           name: str = "item-0001-w002-005.mp4") -> ClipAsset:
    """The clip of sampled frames first..last as the editor states it; ``cut`` overrides what is actually cut."""
    path, ts, emb, _ = video
    start, end = float(ts[first]), float(ts[last + 1])
    if data is None:
        data = cut_clip(path, *(cut or (start, end)))
    return ClipAsset(name, data, start, end, [(float(ts[k]), emb[k]) for k in range(first, last + 1)])


def _failed(video, asset: ClipAsset) -> set[str]:
    return {c.name for c in video[3].clips([asset])[0] if not c.passed}


def test_a_clip_cut_at_its_window_passes(video):
    checks = {c.name: c for c in video[3].clips([_asset(video, 2, 5)])[0]}
    assert all(c.passed for c in checks.values()), checks
    assert set(checks) == {"decodes", "duration", "duration_bounds", "safety", "authenticity", "no_user_identifier",
                           "identifiability"}
    assert checks["authenticity"].score >= 0.95  # the same frames, re-encoded once


def test_wrong_duration_clip_fails(video):
    path, ts, _, _ = video
    asset = _asset(video, 2, 7, cut=(float(ts[2]), float(ts[6])))  # says 1.5 s, holds 1.0 s
    assert _failed(video, asset) == {"duration"}


def test_clip_from_the_wrong_times_fails_authenticity(video):
    path, ts, _, _ = video
    asset = _asset(video, 2, 5, cut=(float(ts[10]), float(ts[14])))  # rocket footage, coffee window
    assert _failed(video, asset) == {"authenticity"}


def test_too_short_clip_fails_its_bounds(video):
    assert _failed(video, _asset(video, 4, 4)) == {"duration_bounds"}  # one sampled frame: 0.25 s


def test_truncated_clip_fails_to_decode(video):
    good = _asset(video, 2, 5).data
    checks = video[3].clips([_asset(video, 2, 5, data=good[: len(good) // 2])])[0]
    assert [c.name for c in checks] == ["decodes"] and not checks[0].passed and checks[0].reason


def test_user_id_in_clip_tags_or_name_fails(video):
    tagged = remux(_asset(video, 2, 5).data, tags={"title": f"clip for {USER}"})
    assert _failed(video, _asset(video, 2, 5, data=tagged)) == {"no_user_identifier"}
    assert _failed(video, _asset(video, 2, 5, name=f"{USER}-w002.mp4")) == {"no_user_identifier"}


def test_clips_are_checked_as_one_batch(video):
    path, ts, _, _ = video
    short = _asset(video, 2, 7, cut=(float(ts[2]), float(ts[6])))
    results = video[3].clips([_asset(video, 2, 5), short, _asset(video, 8, 11)])
    assert [{c.name for c in r if not c.passed} for r in results] == [set(), {"duration"}, set()]


def test_decode_clip_at_reads_the_frames_at_the_times(video):
    path, ts, _, _ = video
    data = cut_clip(path, float(ts[2]), float(ts[6]))
    count, fps, frames = decode_clip_at(data, [0.0, 0.5, 60.0])
    assert count == round((ts[6] - ts[2]) * 12) and fps == 12.0 and len(frames) == 3
    assert not np.array_equal(frames[0], frames[1])
    assert np.array_equal(frames[2], decode_clip_at(data, [(count - 1) / 12])[2][0])  # past the end: the last frame


def _edited(video, first: int, last: int, edit, tags: dict | None = None, row_marked: bool = True) -> ClipAsset:
    """The cut clip, every frame passed through ``edit``, re-encoded as the generate stage does."""
    from generec_core.fidelity.metadata import ai_clip_tags

    source = _asset(video, first, last)
    frames, rate = clip_frames(source.data)
    data = encode_clip(edit(frames), rate, ai_clip_tags("neural-style/test") if tags is None else tags)
    return ClipAsset("item-0001-edit.mp4", data, source.start_s, source.end_s, source.source_frames,
                     edited_from=source.data, row_marked=row_marked)


def _neural(frames):
    from generec_core.config import GenerationConfig
    from generec_core.generation.neural_style_generator import NeuralStyleGenerator

    return NeuralStyleGenerator(GenerationConfig()).edit_clip(frames, None, ("cartoon",))


def test_an_edited_clip_passes_with_its_own_checks(video):
    checks = {c.name: c for c in video[3].clips([_edited(video, 2, 5, _neural)])[0]}
    assert all(c.passed for c in checks.values()), checks
    assert {"flicker", "identifiability", "authenticity", "safety", "duration"} <= set(checks)
    assert checks["authenticity"].threshold == GateConfig().min_authenticity_generated
    assert checks["flicker"].score <= GateConfig().max_flicker_ratio


def test_a_flickering_or_unmarked_edit_fails(video):
    rng = np.random.default_rng(0)

    def flicker(frames):  # a different speckle on every frame: the footage swims
        return [np.clip(f.astype(int) + rng.integers(-40, 41, f.shape), 0, 255).astype(np.uint8) for f in frames]

    failed = _failed(video, _edited(video, 2, 5, flicker))
    assert "flicker" in failed
    assert _failed(video, _edited(video, 2, 5, list, tags={})) == {"identifiability"}  # no AI mark in the file
    assert _failed(video, _edited(video, 2, 5, list, row_marked=False)) == {"identifiability"}  # row not marked
    unedited_but_marked = _asset(video, 2, 5, data=_edited(video, 2, 5, list).data)
    assert _failed(video, unedited_but_marked) == {"identifiability"}  # real footage must not claim to be AI


def test_flicker_ratio_of_the_source_itself_is_one(video):
    from generec_core.fidelity.flicker import flicker_check

    data = _asset(video, 2, 5).data
    check = flicker_check(data, data, 1.3)
    assert check.passed and check.score == 1.0
    assert not flicker_check(data, None, 1.3).passed
