"""The gate's image checks on real demo frames: real frames pass, each broken variant fails its check.

One Auditor with the real models (EfficientNet-Lite0, open_nsfw, the Haar cascade) checks every
case in one batch, as the gate does.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fidelity_images import (
    blank_like,
    blurred,
    colour_shifted,
    embedded_demo_frames,
    jpeg,
    png,
    with_pasted_face,
)

from generec_core.config import GateConfig
from generec_core.fidelity.audit import Auditor, ImageAsset
from generec_core.fidelity.faces import detect_faces, new_faces_check
from generec_core.fidelity.metadata import mark_ai_generated

CATEGORIES = ("cat", "coffee", "astronaut", "rocket", "galaxy", "motorcycle", "bikes")
USER = "user-0007"


@pytest.fixture(scope="module")
def env():
    from generec_core.embedding.encoder import load_encoder

    encoder = load_encoder("efficientnet-lite0", "cpu", 32)
    return (encoder, *embedded_demo_frames(encoder, CATEGORIES))


def _case(env, label: str) -> ImageAsset:
    """Every case the module checks, by label: real passing ones and one per failure kind."""
    _, f, e = env

    def generated(pixels: np.ndarray, source: str, mark: bool = True) -> ImageAsset:
        data = jpeg(pixels)
        return ImageAsset("gen.jpg", mark_ai_generated(data, "test-gen") if mark else data, e[source],
                          generated=True, source_pixels=f[source], row_marked=True)

    cases = {
        **{f"real {c}": ImageAsset(f"{c}-f001.jpg", jpeg(f[c]), e[c]) for c in CATEGORIES},
        "real png cover": ImageAsset("cover.png", png(f["rocket"]), e["rocket"]),
        "generated astronaut (face kept)": generated(colour_shifted(f["astronaut"]), "astronaut"),
        "generated coffee": generated(colour_shifted(f["coffee"]), "coffee"),
        "unrelated image": ImageAsset("coffee.jpg", jpeg(f["coffee"]), e["rocket"]),
        "blank": ImageAsset("cat.jpg", jpeg(blank_like(f["cat"])), e["cat"]),
        "blurred": ImageAsset("coffee.jpg", jpeg(blurred(f["coffee"])), e["coffee"]),
        "under-exposed": ImageAsset("coffee.jpg", jpeg((f["coffee"] * 0.08).astype(np.uint8)), e["coffee"]),
        "thumbnail-sized": ImageAsset("cat.jpg", jpeg(f["cat"][::4, ::4]), e["cat"]),
        "not an image": ImageAsset("cat.jpg", b"\xff\xd8 truncated", e["cat"]),
        "source unknown": ImageAsset("cat.jpg", jpeg(f["cat"]), None),
        "face pasted into a face-free source": generated(with_pasted_face(f["coffee"]), "coffee"),
        "generated without AI mark": generated(colour_shifted(f["coffee"]), "coffee", mark=False),
        "generated, row not marked": dataclasses.replace(generated(colour_shifted(f["cat"]), "cat"), row_marked=False),
        "real frame marked as AI": ImageAsset("cat.jpg", mark_ai_generated(jpeg(f["cat"]), "x"), e["cat"]),
        "user id in file name": ImageAsset(f"cat-{USER}.jpg", jpeg(f["cat"]), e["cat"]),
        "user id in JPEG comment": ImageAsset("cat.jpg", jpeg(f["cat"], comment=f"for {USER}".encode()), e["cat"]),
    }
    return cases[label]


# label -> the checks that must fail (and no other check may fail)
EXPECTED_FAILURES = {
    "unrelated image": {"authenticity"},
    "blank": {"not_blank", "sharpness", "authenticity"},
    "blurred": {"sharpness", "authenticity"},
    "under-exposed": {"not_underexposed", "authenticity"},
    "thumbnail-sized": {"min_resolution", "authenticity"},
    "not an image": {"decodes"},
    "source unknown": {"authenticity"},
    "face pasted into a face-free source": {"new_faces"},  # still like its source at the generated bar
    "generated without AI mark": {"identifiability"},
    "generated, row not marked": {"identifiability"},
    "real frame marked as AI": {"identifiability"},
    "user id in file name": {"no_user_identifier"},
    "user id in JPEG comment": {"no_user_identifier"},
}
PASSING = [f"real {c}" for c in CATEGORIES] + ["real png cover", "generated astronaut (face kept)", "generated coffee"]


@pytest.fixture(scope="module")
def results(env):
    encoder = env[0]
    labels = PASSING + list(EXPECTED_FAILURES)
    checks = Auditor(GateConfig(), encoder, frozenset({USER, "user-0008"})).images([_case(env, lb) for lb in labels])
    return dict(zip(labels, checks))


@pytest.mark.parametrize("label", PASSING)
def test_real_frames_and_faithful_generated_images_pass(results, label):
    failed = [(c.name, c.score, c.threshold) for c in results[label] if not c.passed]
    assert not failed, f"{label}: {failed}"


@pytest.mark.parametrize("label", sorted(EXPECTED_FAILURES))
def test_each_broken_variant_fails_its_check(results, label):
    failed = {c.name for c in results[label] if not c.passed}
    assert failed == EXPECTED_FAILURES[label], label
    assert all(c.reason for c in results[label] if not c.passed)


def test_generated_rules_apply_only_to_generated_assets(results):
    assert "new_faces" in {c.name for c in results["generated coffee"]}
    assert "new_faces" not in {c.name for c in results["real coffee"]}
    gen = {c.name: c for c in results["generated coffee"]}
    assert gen["authenticity"].threshold == GateConfig().min_authenticity_generated
    assert {c.name: c for c in results["real coffee"]}["authenticity"].threshold == GateConfig().min_authenticity


def test_safety_threshold_is_applied(env):
    """No NSFW image ships in a test suite: show the bar bites by lowering it under a real score."""
    encoder, f, e = env
    asset = ImageAsset("astronaut.jpg", jpeg(f["astronaut"]), e["astronaut"])
    (ok,) = Auditor(GateConfig(), encoder).images([asset])
    score = {c.name: c for c in ok}["safety"].score
    assert 0 < score < GateConfig().max_nsfw
    (strict,) = Auditor(GateConfig(max_nsfw=score / 2), encoder).images([asset])
    assert {c.name for c in strict if not c.passed} == {"safety"}


def test_pasted_face_is_what_the_detector_finds(env):
    _, f, _ = env
    assert detect_faces(f["coffee"], 2, 0.1) == []  # a face-free source, even at low confidence
    (box,) = detect_faces(with_pasted_face(f["coffee"]), 8, 0.1)
    x, y, w, h = box
    assert 110 <= x <= 140 and 15 <= y <= 60 and 40 <= w <= 90  # where the face was pasted


def test_the_source_is_searched_only_when_the_candidate_shows_a_confident_face(env):
    """Skipping the source search changes no result: every (candidate, source) pair of real and face-pasted
    frames gets what comparing both full searches gives, and a face-free candidate costs one search."""
    _, f, _ = env
    gate = GateConfig()
    frames = {**{c: f[c] for c in CATEGORIES}, **{f"{c}+face": with_pasted_face(f[c]) for c in ("coffee", "rocket")}}
    searches: list[int] = []

    def counting(pixels, neighbors, frac):
        searches.append(neighbors)
        return detect_faces(pixels, neighbors, frac)

    for candidate, source in [(c, s) for c in frames for s in ("coffee", "coffee+face", "astronaut")]:
        searches.clear()
        result = new_faces_check(frames[candidate], frames[source], candidate_neighbors=gate.face_candidate_neighbors,
                                 source_neighbors=gate.face_source_neighbors, min_face_frac=gate.min_face_frac,
                                 detect=counting)
        found = len(detect_faces(frames[candidate], gate.face_candidate_neighbors, gate.min_face_frac))
        known = len(detect_faces(frames[source], gate.face_source_neighbors, gate.min_face_frac))
        assert (result.passed, result.score) == (max(0, found - known) == 0, float(max(0, found - known))), \
            (candidate, source)
        assert searches == ([gate.face_candidate_neighbors, gate.face_source_neighbors] if found
                            else [gate.face_candidate_neighbors]), (candidate, source)
    assert not new_faces_check(frames["coffee+face"], frames["coffee"], candidate_neighbors=8, source_neighbors=2,
                               min_face_frac=0.1).passed
