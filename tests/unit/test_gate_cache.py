"""The gate reuses model outputs only where they are provably the same (``fidelity/model_outputs.py``,
``datasets/gate_cache.py``): same decoded pixels, same models. The verdicts are re-derived every time.

The real EfficientNet-Lite0, open_nsfw and face cascade, wrapped to count (or forbid) their calls.
"""

from __future__ import annotations

import numpy as np
import pytest
from fidelity_images import colour_shifted, demo_frames, embedded_demo_frames, jpeg, png, with_pasted_face

from generec_core.config import GateConfig
from generec_core.datasets.gate_cache import GateCache
from generec_core.datasets.layout import Layout
from generec_core.demo.videos import encode_mp4
from generec_core.fidelity import faces, model_outputs
from generec_core.fidelity.audit import Auditor, ClipAsset, ImageAsset, decode_clip_at
from generec_core.fidelity.metadata import mark_ai_generated
from generec_core.fidelity.model_outputs import ModelOutputs, pixel_key
from generec_core.fidelity.quality import decode_image
from generec_core.storage import file_uri
from generec_core.video.clip import cut_clip
from generec_core.video.decode import sample_frames

CATEGORIES = ("cat", "coffee", "astronaut", "rocket")


class Counting:
    """A real encoder that counts the images it embeds; ``forbid`` makes any call an error."""

    def __init__(self, encoder, encoder_id: str | None = None) -> None:
        self.inner, self.calls, self.images, self.forbid = encoder, 0, 0, False
        self.encoder_id = encoder_id or encoder.encoder_id
        self.dim, self.preprocessing, self.dtype = encoder.dim, encoder.preprocessing, encoder.dtype

    def embed(self, images):
        if self.forbid:
            raise AssertionError("the encoder ran on a cache hit")
        self.calls, self.images = self.calls + 1, self.images + len(images)
        return self.inner.embed(images)


@pytest.fixture(scope="module")
def env():
    from generec_core.embedding.encoder import load_encoder

    encoder = load_encoder("efficientnet-lite0", "cpu", 32)
    return (encoder, *embedded_demo_frames(encoder, CATEGORIES))


@pytest.fixture
def models(monkeypatch):
    """Counts of the real open_nsfw and face-cascade calls made through the gate's model outputs."""
    counts = {"nsfw": 0, "faces": 0}
    real_nsfw, real_faces = model_outputs.nsfw_scores, faces.detect_faces

    def nsfw(images):
        counts["nsfw"] += len(images)
        return real_nsfw(images)

    def detect(pixels, n, frac):
        counts["faces"] += 1
        return real_faces(pixels, n, frac)

    monkeypatch.setattr(model_outputs, "nsfw_scores", nsfw)
    monkeypatch.setattr(faces, "detect_faces", detect)
    return counts


def _cache(tmp_path, encoder) -> GateCache:
    return GateCache.for_encoder(Layout(file_uri(tmp_path)), encoder)


def _assets(env) -> list[ImageAsset]:
    _, f, e = env
    return [*(ImageAsset(f"{c}-f001.jpg", jpeg(f[c]), e[c]) for c in CATEGORIES),
            ImageAsset("cover.png", png(f["rocket"]), e["rocket"]),
            ImageAsset("gen.jpg", mark_ai_generated(jpeg(colour_shifted(f["astronaut"])), "t"), e["astronaut"],
                       generated=True, source_pixels=f["astronaut"], row_marked=True),
            ImageAsset("gen2.jpg", mark_ai_generated(jpeg(with_pasted_face(f["coffee"])), "t"), e["coffee"],
                       generated=True, source_pixels=f["coffee"], row_marked=True),
            ImageAsset("unrelated.jpg", jpeg(f["coffee"]), e["rocket"]),
            ImageAsset("dup-cat.jpg", jpeg(f["cat"]), e["cat"])]  # the same bytes as cat-f001.jpg


def test_a_second_audit_gives_the_same_verdicts_and_runs_no_model(env, models, tmp_path):
    encoder = Counting(env[0])
    assets = _assets(env)
    first = Auditor(GateConfig(), encoder, outputs=_cache(tmp_path, encoder)).images(assets)
    distinct = len(assets) - 2  # unrelated.jpg and dup-cat.jpg repeat pixels: through the models once
    assert (encoder.images, models["nsfw"]) == (distinct, distinct)
    assert models["faces"] == 3  # both generated candidates; the source only of gen2, whose candidate shows a face
    assert not all(c.passed for c in first[-2]) and not all(c.passed for c in first[-3])  # real failures cached too

    encoder.forbid = True
    models.update(nsfw=0, faces=0)
    auditor = Auditor(GateConfig(), encoder, outputs=_cache(tmp_path, encoder))  # a later night: a new process
    assert auditor.images(assets) == first
    assert models == {"nsfw": 0, "faces": 0}
    assert auditor.models.stats() == {"reused": True, "hits": len(assets), "misses": 0, "face_hits": 3,
                                      "face_misses": 0}

    uncached = Auditor(GateConfig(), env[0]).images(assets)  # reuse off: every model runs, the same verdicts
    assert uncached == first


def test_one_changed_pixel_is_a_miss_and_is_re_embedded(env, models, tmp_path):
    encoder = Counting(env[0])
    _, f, e = env
    original = ImageAsset("cat.png", png(f["cat"]), e["cat"])
    Auditor(GateConfig(), encoder, outputs=_cache(tmp_path, encoder)).images([original])
    changed = f["cat"].copy()
    changed[90, 160] ^= 0x01
    assert pixel_key(changed) != pixel_key(f["cat"])
    auditor = Auditor(GateConfig(), encoder, outputs=_cache(tmp_path, encoder))
    (checks,) = auditor.images([ImageAsset("cat.png", png(changed), e["cat"])])
    assert (encoder.calls, encoder.images, models["nsfw"]) == (2, 2, 2)
    assert auditor.models.stats()["misses"] == 1 and auditor.models.stats()["hits"] == 0
    assert all(c.passed for c in checks)


def test_a_cached_image_against_another_source_fails_authenticity(env, models, tmp_path):
    encoder = Counting(env[0])
    _, f, e = env
    (ok,) = Auditor(GateConfig(), encoder, outputs=_cache(tmp_path, encoder)).images(
        [ImageAsset("coffee.jpg", jpeg(f["coffee"]), e["coffee"])])
    assert all(c.passed for c in ok)
    encoder.forbid = True
    (moved,) = Auditor(GateConfig(), encoder, outputs=_cache(tmp_path, encoder)).images(
        [ImageAsset("coffee.jpg", jpeg(f["coffee"]), e["rocket"])])  # same pixels, its source is now a rocket
    assert {c.name for c in moved if not c.passed} == {"authenticity"}
    # and a generated image whose new source shows no face: the stored boxes are compared afresh
    gen = ImageAsset("gen.jpg", mark_ai_generated(jpeg(with_pasted_face(f["coffee"])), "t"), e["coffee"],
                     generated=True, source_pixels=with_pasted_face(f["coffee"]), row_marked=True)
    encoder.forbid = False
    (kept,) = Auditor(GateConfig(), encoder, outputs=_cache(tmp_path, encoder)).images([gen])
    assert all(c.passed for c in kept), kept  # the face is in its source
    encoder.forbid = True
    faceless = ImageAsset(gen.name, gen.data, e["coffee"], generated=True, source_pixels=f["coffee"],
                          row_marked=True)
    (new,) = Auditor(GateConfig(), encoder, outputs=_cache(tmp_path, encoder)).images([faceless])
    assert {c.name for c in new if not c.passed} == {"new_faces"}


def test_another_model_never_hits(env, models, tmp_path):
    encoder = Counting(env[0])
    asset = ImageAsset("cat.jpg", jpeg(env[1]["cat"]), env[2]["cat"])
    Auditor(GateConfig(), encoder, outputs=_cache(tmp_path, encoder)).images([asset])
    other = Counting(env[0], encoder_id="efficientnet-lite0-retrained")
    assert _cache(tmp_path, other).signature != _cache(tmp_path, encoder).signature
    auditor = Auditor(GateConfig(), other, outputs=_cache(tmp_path, other))
    auditor.images([asset])
    assert other.images == 1 and auditor.models.stats()["misses"] == 1
    # an entry found under the signature but written for other models is not trusted
    key = pixel_key(decode_image(asset.data))  # the key is what the file decodes to
    stored = _cache(tmp_path, encoder).get(key)
    assert stored is not None and set(stored) == {"embedding", "nsfw"}
    forged = GateCache(Layout(file_uri(tmp_path)), _cache(tmp_path, encoder).signature, '{"other": "models"}')
    assert forged.get(key) is None


def test_clip_frames_are_reused(env, models, tmp_path):
    path = tmp_path / "coffee-rocket.mp4"
    path.write_bytes(encode_mp4([*demo_frames("coffee", 24), *demo_frames("rocket", 24)]))
    sampled = sample_frames(path, n=16, max_side=640)
    ts, emb = sampled.timestamps, env[0].embed(sampled.frames)
    clip = ClipAsset("item-w002-005.mp4", cut_clip(path, float(ts[2]), float(ts[6])), float(ts[2]), float(ts[6]),
                     [(float(ts[k]), emb[k]) for k in range(2, 6)])
    encoder = Counting(env[0])
    first = Auditor(GateConfig(), encoder, outputs=_cache(tmp_path, encoder)).clips([clip])
    assert encoder.images == GateConfig().clip_check_frames
    encoder.forbid = True
    assert Auditor(GateConfig(), encoder, outputs=_cache(tmp_path, encoder)).clips([clip]) == first


def test_the_evaluation_reads_the_audits_embeddings_and_embeds_only_what_it_never_saw(env, models, tmp_path):
    """``ModelOutputs.embed`` (the evaluate stage's): the audited frames of an edited clip come from the cache, equal
    to the encoder's own rows; the frames the audit skipped go through the encoder, each once; no NSFW is asked."""
    path = tmp_path / "coffee.mp4"
    path.write_bytes(encode_mp4(list(demo_frames("coffee", 24))))
    sampled = sample_frames(path, n=12, max_side=640)
    ts, emb = sampled.timestamps, env[0].embed(sampled.frames)
    clip = ClipAsset("item-w000-008.mp4", cut_clip(path, float(ts[0]), float(ts[8])), float(ts[0]), float(ts[8]),
                     [(float(ts[k]), emb[k]) for k in range(8)])
    Auditor(GateConfig(), env[0], outputs=_cache(tmp_path, env[0])).clips([clip])
    audited = GateConfig().clip_check_frames
    models.update(nsfw=0, faces=0)
    _, _, frames = decode_clip_at(clip.data, [float(t - ts[0]) for t in ts[:8]])
    encoder = Counting(env[0])
    reused = ModelOutputs(encoder, _cache(tmp_path, encoder))
    got = reused.embed(frames + frames[:1])  # a repeat within the call is embedded once
    assert (encoder.calls, encoder.images) == (1, 8 - audited)
    assert reused.stats()["hits"] == audited + 1 and reused.stats()["misses"] == 8 - audited
    assert np.array_equal(np.stack(got[:8]), env[0].embed(frames)) and np.array_equal(got[8], got[0])
    assert models == {"nsfw": 0, "faces": 0}
    assert np.array_equal(np.stack(ModelOutputs(env[0]).embed(frames)), np.stack(got[:8]))  # reuse off: the same


def test_entries_are_npz_under_the_signature(env, tmp_path):
    cache = _cache(tmp_path, env[0])
    key = "ab" + "0" * 62
    cache.put(key, {"embedding": np.ones(4, np.float32), "faces_n8_f0p1": np.zeros((0, 4), np.int32)})
    uri = Layout(file_uri(tmp_path)).gate_cache_entry(cache.signature, key)
    assert uri.endswith(f"features/gate_cache/{cache.signature}/ab/{key}.npz")
    got = cache.get(key)
    assert set(got) == {"embedding", "faces_n8_f0p1"} and got["faces_n8_f0p1"].shape == (0, 4)
    with pytest.raises(ValueError):
        cache.get("../../x")
    Layout(file_uri(tmp_path)).store.write_bytes(uri, b"not an archive")
    assert cache.get(key) is None

