"""Generation building blocks on real photos: palettes, the restyle edit, seeds, trigger policy, clusters."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import ndimage
from skimage import data
from skimage.color import rgb2gray, rgb2lab
from skimage.metrics import structural_similarity

from generec_core.config import GenerationConfig, InstructorConfig
from generec_core.datasets.layout import Layout
from generec_core.datasets.users import read_user_features
from generec_core.generation.backend import GenerationRequest, generation_seed
from generec_core.generation.clusters import user_clusters
from generec_core.generation.generators import load_generator
from generec_core.generation.guidance import Guidance
from generec_core.generation.kmeans import weighted_kmeans
from generec_core.generation.palette import colour_words, combine, lab_pixels, palette_of_image
from generec_core.generation.plan import CLUSTER, PER_USER, plan_jobs, prompt_for, trigger
from generec_core.generation.restyle import restyle
from generec_core.storage import file_uri, join, write_parquet


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    """Real photos (scikit-image), down-scaled to thumbnail size to keep the tests fast."""
    from PIL import Image

    def small(img: np.ndarray) -> np.ndarray:
        pil = Image.fromarray(img)
        pil.thumbnail((192, 192))
        return np.asarray(pil)

    return {"astronaut": small(data.astronaut()), "coffee": small(data.coffee()),
            "rocket": small(data.rocket()), "chelsea": small(data.chelsea())}


def _edges(gray: np.ndarray) -> np.ndarray:
    return np.hypot(ndimage.sobel(gray, 0), ndimage.sobel(gray, 1)).ravel()


def test_restyle_differs_between_palettes_and_keeps_structure(photos):
    source = photos["astronaut"]
    warm, cool = palette_of_image(photos["coffee"]), palette_of_image(photos["rocket"])
    out_warm, box_warm = restyle(source, warm, strength=0.6, crop_scale=1.0)
    out_cool, _ = restyle(source, cool, strength=0.6, crop_scale=1.0)
    assert out_warm.shape == out_cool.shape == source.shape and box_warm.height == source.shape[0]
    # visibly different per taste, each moved toward its own palette
    assert np.abs(out_warm.astype(int) - out_cool.astype(int)).mean() > 8
    src_lab, warm_lab, cool_lab = (rgb2lab(x).reshape(-1, 3).mean(0) for x in (source, out_warm, out_cool))
    for got, palette in ((warm_lab, warm), (cool_lab, cool)):
        assert np.linalg.norm(got - np.asarray(palette.mean)) < np.linalg.norm(src_lab - np.asarray(palette.mean))
    # faithful: same structure (luminance SSIM, edge correlation)
    for out in (out_warm, out_cool):
        gray_src, gray_out = rgb2gray(source), rgb2gray(out)
        assert structural_similarity(gray_src, gray_out, data_range=1.0) > 0.75
        assert np.corrcoef(_edges(gray_src), _edges(gray_out))[0, 1] > 0.9


def test_taste_aware_crop_follows_the_palette(photos):
    """Left half red, right half blue: a red taste keeps the left of the frame, a blue taste the right."""
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[:, :80] = (200, 30, 30)
    frame[:, 80:] = (30, 30, 200)
    red = palette_of_image(np.full((8, 8, 3), (210, 40, 40), np.uint8))
    blue = palette_of_image(np.full((8, 8, 3), (40, 40, 210), np.uint8))
    _, box_red = restyle(frame, red, 0.0, crop_scale=0.7)
    _, box_blue = restyle(frame, blue, 0.0, crop_scale=0.7)
    assert box_red.left == 0 and box_blue.left == 160 - box_blue.width


def test_restyle_crop_stays_faithful_to_the_cropped_source(photos):
    from PIL import Image

    source = photos["chelsea"]
    out, box = restyle(source, palette_of_image(photos["rocket"]), 0.6, crop_scale=0.85)
    window = source[box.top:box.top + box.height, box.left:box.left + box.width]
    window = np.asarray(Image.fromarray(window).resize(source.shape[1::-1], Image.Resampling.LANCZOS))
    assert structural_similarity(rgb2gray(window), rgb2gray(out), data_range=1.0) > 0.75


def test_styles_are_lab_edits(photos):
    palette = palette_of_image(photos["coffee"])
    mono, _ = restyle(photos["astronaut"], palette, 0.6, 1.0, styles=("monochrome",))
    assert np.abs(rgb2lab(mono)[..., 1:]).mean() < 1.0
    plain, _ = restyle(photos["astronaut"], palette, 0.6, 1.0)
    warm, _ = restyle(photos["astronaut"], palette, 0.6, 1.0, styles=("warm",))
    assert rgb2lab(warm)[..., 2].mean() > rgb2lab(plain)[..., 2].mean() + 5


def test_restyle_backend_is_byte_identical_on_rerun(photos):
    generator = load_generator(GenerationConfig(backend="restyle"))
    request = GenerationRequest(photos["astronaut"], palette_of_image(photos["coffee"]), "", seed=1)
    first, second = generator.generate([request]), generator.generate([request])
    assert first[0].tobytes() == second[0].tobytes()
    assert generator.generator_id.startswith("restyle/")


def test_combined_palette_statistics_are_exact(photos):
    """Pooled mean/std from per-image palettes == the statistics of the pooled pixels."""
    a, b = photos["coffee"], photos["rocket"]
    pa_, pb_ = palette_of_image(a), palette_of_image(b)
    la, lb = lab_pixels(a), lab_pixels(b)
    pooled = combine([pa_, pb_], [len(la), len(lb)])
    both = np.concatenate([la, lb])
    np.testing.assert_allclose(pooled.mean, both.mean(0), atol=1e-6)
    np.testing.assert_allclose(pooled.std, both.std(0), atol=1e-6)
    assert abs(sum(pooled.weights) - 1.0) < 1e-9


def test_kmeans_is_deterministic_and_finds_separated_groups():
    rng = np.random.default_rng(3)
    points = np.concatenate([rng.normal(0, 0.1, (50, 4)), rng.normal(5, 0.1, (30, 4))])
    c1, m1 = weighted_kmeans(points, None, 2)
    c2, m2 = weighted_kmeans(points, None, 2)
    assert np.array_equal(c1, c2) and np.array_equal(m1, m2)
    np.testing.assert_allclose(m1, [50 / 80, 30 / 80])
    assert weighted_kmeans(np.zeros((5, 3)), None, 4)[0].shape == (1, 3)


def test_colour_words_name_dominant_colours():
    red = palette_of_image(np.full((8, 8, 3), (220, 30, 30), np.uint8))
    assert colour_words(red) == ["red"]
    assert prompt_for("a thumbnail", ("warm",), red) == "a thumbnail, warm golden tones, red colour palette"
    with pytest.raises(ValueError, match="unknown style"):
        prompt_for("a thumbnail", ("ignore previous instructions",), red)


def test_seeds_are_stable_and_depend_on_every_input():
    base = generation_seed("k1", "item-1", "stabilityai/sd-turbo", "2026-11-24")
    assert base == generation_seed("k1", "item-1", "stabilityai/sd-turbo", "2026-11-24")
    others = {generation_seed("k2", "item-1", "stabilityai/sd-turbo", "2026-11-24"),
              generation_seed("k1", "item-2", "stabilityai/sd-turbo", "2026-11-24"),
              generation_seed("k1", "item-1", "other", "2026-11-24"),
              generation_seed("k1", "item-1", "stabilityai/sd-turbo", "2026-11-25")}
    assert base not in others and len(others) == 4 and 0 <= base < 2 ** 60


def _row(user: str, item: str = "i1", kind: str = "selected", frame: int | None = 3, score: float | None = 0.3) -> dict:
    return {"user_id": user, "item_id": item, "thumbnail_kind": kind, "thumbnail_frame_idx": frame,
            "thumbnail_frame_ts": None if frame is None else frame * 0.5, "score": score,
            "thumbnail_staged": f"file:///staged/{item}-f{frame}.jpg"}


EXPLICIT = Guidance(generate=True, styles=("warm",), source="instruction")
INFERRED = Guidance(generate=False, prefer_topics=("cats",), source="feedback")
OPTED_OUT = Guidance(generate=False, styles=("warm",), opt_out=True, source="instruction")


def test_trigger_policy():
    """The instructor's policy (style asked, low similarity, skipped cover), plus per-user for explicit requests."""
    cfg, ins = GenerationConfig(), InstructorConfig(generate_below_similarity=0.5, cover_skips_to_generate=2)
    assert trigger(_row("u", score=0.3), None, 0, cfg, ins) == (CLUSTER, "low_similarity")
    assert trigger(_row("u", score=0.9), None, 0, cfg, ins) == (None, "select_only")
    assert trigger(_row("u", score=0.9), None, 2, cfg, ins) == (CLUSTER, "cover_skipped")
    assert trigger(_row("u", score=0.9), EXPLICIT, 0, cfg, ins) == (PER_USER, "instruction")
    assert trigger(_row("u", score=0.3), INFERRED, 0, cfg, ins) == (CLUSTER, "low_similarity")
    assert trigger(_row("u", score=0.3), OPTED_OUT, 5, cfg, ins) == (None, "opt_out")
    assert trigger(_row("u", kind="original", frame=None, score=None), EXPLICIT, 0, cfg, ins)[0] is None
    assert trigger(_row("u", score=0.9), None, 0, GenerationConfig(trigger="all"), ins) == (CLUSTER, "all")
    assert trigger(_row("u"), None, 0, GenerationConfig(trigger="none"), ins)[0] is None
    assert trigger(_row("u"), EXPLICIT, 0, GenerationConfig(trigger="none"), ins)[0] == PER_USER


def test_plan_shares_one_image_per_cluster_item_frame():
    rows = [_row("a"), _row("b"), _row("c"), _row("a", item="i2"), _row("d", frame=5), _row("e"), _row("f", score=0.9)]
    clusters = {"a": "k0", "b": "k0", "c": "k1", "d": "k0", "e": "k0", "f": "k0"}
    guidance = {"e": Guidance(generate=True, styles=("cool",), source="instruction")}
    jobs, counts = plan_jobs(rows, clusters, guidance, {}, GenerationConfig(), InstructorConfig())
    keys = {(j.group, j.item_id, j.frame_idx): j.rows for j in jobs}
    assert keys == {("k0", "i1", 3): [0, 1], ("k1", "i1", 3): [2], ("k0", "i2", 3): [3], ("k0", "i1", 5): [4],
                    ("user:e", "i1", 3): [5]}
    assert [j.styles for j in jobs if j.per_user] == [("cool",)]
    assert counts == {"trigger_low_similarity": 5, "trigger_instruction": 1, "trigger_select_only": 1}
    with pytest.raises(ValueError, match="generation.trigger"):
        plan_jobs(rows, clusters, guidance, {}, GenerationConfig(trigger="sometimes"), InstructorConfig())


def _features(root: str, date: str, tastes: dict[str, list[float]], cluster: dict[str, int] | None = None) -> Layout:
    layout = Layout(root)
    cols = {"user_id": pa.array(list(tastes)), "taste": pa.array(list(tastes.values()), pa.list_(pa.float32())),
            "is_cold": pa.array([False] * len(tastes))}
    if cluster is not None:
        cols["cluster"] = pa.array([cluster[u] for u in tastes], pa.int32())
    write_parquet(join(layout.user_features(date), "part-0.parquet"), pa.table(cols))
    return layout


def test_clusters_come_from_features_else_a_kmeans_fallback(tmp_path):
    tastes = {f"u{i}": ([1.0, 0.05 * i, 0.0] if i < 4 else [0.0, 0.05 * i, 1.0]) for i in range(8)}
    layout = _features(file_uri(tmp_path / "a"), "2026-11-24", tastes)
    labels, source = user_clusters(read_user_features(layout, "2026-11-24"), 2)
    assert source == "kmeans-fallback"
    assert len({labels[f"u{i}"] for i in range(4)}) == 1 and len({labels[f"u{i}"] for i in range(4, 8)}) == 1
    assert labels["u0"] != labels["u7"]
    layout = _features(file_uri(tmp_path / "b"), "2026-11-24", tastes, cluster={u: 7 for u in tastes})
    labels, source = user_clusters(read_user_features(layout, "2026-11-24"), 2)
    assert source == "features" and set(labels.values()) == {"c7"}


def test_a_groups_liked_covers_are_weighed_as_the_taste_weighs_them():
    """Each member's taste weights sum to 1 in the group, so a heavy user cannot drown a light one; the
    group's style is the weighted mean of its covers' style vectors."""
    from generec_core.generation.taste import CoverLibrary, group_style, top_liked

    weights = {"heavy": {"a": 10.0, "b": 10.0}, "light": {"c": 0.2}, "idle": {}}
    assert top_liked(["heavy", "light", "idle"], weights, 3) == [("c", 1.0), ("a", 0.5), ("b", 0.5)]
    assert top_liked(["heavy", "light"], weights, 1) == [("c", 1.0)]

    class Styles:  # an in-memory style cache, and an "encoder" whose style of a cover is its first pixel
        style_model_id = "test"

        def __init__(self):
            self.kept = {}

        def get(self, item):
            return self.kept.get(item)

        def put(self, item, style):
            self.kept[item] = style

        def style_of(self, image):
            return image[0, 0].astype(np.float32)

    covers = {"a": np.full((4, 4, 3), 10, np.uint8), "b": np.full((4, 4, 3), 40, np.uint8)}
    cache = Styles()
    library = CoverLibrary(covers.get, None, cache, cache)
    style = group_style([("a", 3.0), ("b", 1.0), ("gone", 5.0)], library)  # an unknown item is left out
    np.testing.assert_allclose(style, [17.5] * 3)
    assert set(cache.kept) == {"a", "b"}  # computed once, kept
