"""The CLIP path: a tiny random CLIP saved to disk and loaded through ``load_encoder("clip:<dir>")``."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest
import torch
from clip_vocab import bpe_path
from skimage import data
from tiny_clip import IMAGE_SIZE, PROJECTION_DIM, real_tokenizer, save_tiny_clip
from transformers import CLIPImageProcessorPil, CLIPModel

from generec_core.embedding.clip import CLIPEncoder, clip_encoder_id
from generec_core.embedding.encoder import EncoderUnavailable, ImageEncoder, encoder_id_for, load_encoder

PHOTOS = [data.chelsea(), data.coffee(), data.rocket(), data.astronaut()[::3, ::3]]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("models") / "tiny-clip")


@pytest.fixture(scope="module")
def encoder(model_dir) -> CLIPEncoder:
    return load_encoder(f"clip:{model_dir}", device="cpu", batch_size=3)


def test_contract_shape_normalisation_determinism(encoder, model_dir):
    assert isinstance(encoder, ImageEncoder) and isinstance(encoder, CLIPEncoder)
    assert encoder.dim == PROJECTION_DIM
    assert encoder.encoder_id.startswith("clip-tiny-clip-")
    assert encoder.encoder_id == encoder_id_for(f"clip:{model_dir}")
    assert "bicubic" in encoder.preprocessing and f"{IMAGE_SIZE}x{IMAGE_SIZE}" in encoder.preprocessing
    out = encoder.embed(PHOTOS)  # batch_size 3: two batches, mixed image sizes
    assert out.shape == (4, PROJECTION_DIM) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(out, encoder.embed(PHOTOS))
    assert np.allclose(encoder.embed(PHOTOS[2:3])[0], out[2], atol=1e-5)  # batch-invariant
    again = load_encoder(f"clip:{model_dir}", device="cpu")  # a fresh encoder, the cached model
    assert again.model is encoder.model and np.allclose(again.embed(PHOTOS), out, atol=1e-6)


def test_matches_transformers_reference(encoder, model_dir):
    """Our torch preprocessing + projection == CLIPImageProcessor + CLIPModel.get_image_features."""
    processor = CLIPImageProcessorPil.from_pretrained(model_dir)
    reference_pixels = processor(images=PHOTOS, return_tensors="pt")["pixel_values"]
    ours = encoder._preprocess([np.asarray(p) for p in PHOTOS])
    assert (reference_pixels - ours).abs().mean() < 0.01  # bicubic: torch vs PIL, within rounding
    model = CLIPModel.from_pretrained(model_dir, local_files_only=True).eval()
    with torch.inference_mode():
        feats = model.get_image_features(pixel_values=reference_pixels)
    feats = getattr(feats, "pooler_output", feats)
    reference = torch.nn.functional.normalize(feats, dim=1).numpy()
    assert np.all(np.sum(reference * encoder.embed(PHOTOS), axis=1) > 0.999)


def test_text_embeddings_and_real_vocabulary(encoder):
    tokens = encoder.tokenizer("a photo of a cat")["input_ids"]
    assert tokens == [49406, 320, 1125, 539, 320, 2368, 49407]  # OpenAI CLIP's ids
    out = encoder.embed_text(["a photo of a cat", "a cup of coffee", "a photo of a cat"])
    assert out.shape == (3, PROJECTION_DIM)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert np.allclose(out[0], out[2], atol=1e-6) and not np.allclose(out[0], out[1])
    with pytest.raises(ValueError, match="sequence of strings"):
        encoder.embed_text("a photo of a cat")


def test_tokenizer_matches_openai_simple_tokenizer():
    """The vocabulary rebuilt from OpenAI's merges file tokenizes exactly like OpenAI's own code."""
    pytest.importorskip("ftfy")
    spec = importlib.util.spec_from_file_location("openai_simple_tokenizer", bpe_path().parent / "simple_tokenizer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    openai = module.SimpleTokenizer(str(bpe_path()))
    ours = real_tokenizer()
    for text in ["more cartoon style, no football!", "Hello, World! It's 2026 - naive cafe", "slow-mo 4K drone"]:
        assert ours(text)["input_ids"][1:-1] == openai.encode(text), text


def test_encoder_id_follows_the_weights(model_dir, tmp_path):
    moved = shutil.copytree(model_dir, tmp_path / "tiny-clip")
    assert clip_encoder_id(str(moved)) == clip_encoder_id(str(model_dir))  # same weights, same id
    other = save_tiny_clip(tmp_path / "elsewhere" / "tiny-clip", seed=1)  # same name, other weights
    assert clip_encoder_id(str(other)) != clip_encoder_id(str(model_dir))
    a, b = (load_encoder(f"clip:{d}", device="cpu").embed(PHOTOS[:1]) for d in (other, model_dir))
    assert not np.allclose(a, b)  # and each id has its own cached model


def test_missing_weights_are_named_never_a_fallback(tmp_path, model_dir):
    missing = tmp_path / "no-such-model"
    with pytest.raises(EncoderUnavailable, match="no-such-model"):
        load_encoder(f"clip:{missing}", device="cpu")
    with pytest.raises(EncoderUnavailable, match="acme/clip-not-cached"):
        load_encoder("clip:acme/clip-not-cached", device="cpu")
    weightless = shutil.copytree(model_dir, tmp_path / "weightless")
    (weightless / "model.safetensors").unlink()
    with pytest.raises(EncoderUnavailable, match="no \\*.safetensors"):
        encoder_id_for(f"clip:{weightless}")
    tokenless = shutil.copytree(model_dir, tmp_path / "tokenless")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (tokenless / name).unlink()
    encoder = load_encoder(f"clip:{tokenless}", device="cpu")
    assert encoder.embed(PHOTOS[:1]).shape == (1, PROJECTION_DIM)  # images need no tokenizer
    with pytest.raises(EncoderUnavailable, match="tokenizer"):
        encoder.embed_text(["a cat"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_cuda_half_precision_matches_cpu(encoder, model_dir, precision):
    gpu = load_encoder(f"clip:{model_dir}", device="cuda", precision=precision)
    assert gpu.model.dtype == {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    assert np.all(np.sum(gpu.embed(PHOTOS) * encoder.embed(PHOTOS), axis=1) > 0.99)
