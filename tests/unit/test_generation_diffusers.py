"""The diffusers backend on a tiny random SD pipeline saved like a real one (real CLIP tokenizer).

The images are noise (random weights); what is tested is the production path: local-only
loading, per-family defaults, batching, seeds, and IP-Adapter taste conditioning.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from skimage import data
from tiny_models import tiny_sd_pipeline

from generec_core.config import GenerationConfig
from generec_core.generation.backend import GenerationRequest, GeneratorUnavailable
from generec_core.generation.diffusion import DiffusersGenerator, model_size
from generec_core.generation.generators import DIFFUSERS, load_generator
from generec_core.generation.palette import palette_of_image

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """<weights_dir>/tiny/sd-turbo-random (turbo family) and <weights_dir>/tiny/sd-random (SD 1.5 family)."""
    base = tmp_path_factory.mktemp("weights")
    pipe = tiny_sd_pipeline()
    pipe.save_pretrained(base / "tiny/sd-turbo-random")
    pipe.save_pretrained(base / "tiny/sd-random")
    _save_tiny_ip_adapter(pipe.unet, base / "ip-adapter")
    return base


def _save_tiny_ip_adapter(unet, path) -> None:
    """An IP-Adapter in h94/IP-Adapter's layout (models/ip-adapter_sd15.safetensors + models/image_encoder)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(1)
    clip_dim, cross = 16, unet.config.cross_attention_dim
    CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                                   num_attention_heads=2, image_size=224, patch_size=32,
                                                   projection_dim=clip_dim)).save_pretrained(path / "models/image_encoder")
    tensors = {"image_proj.proj.weight": torch.randn(4 * cross, clip_dim), "image_proj.proj.bias": torch.zeros(4 * cross),
               "image_proj.norm.weight": torch.ones(cross), "image_proj.norm.bias": torch.zeros(cross)}
    cross_attn = [n for n in unet.attn_processors if not n.endswith("attn1.processor")]
    for j, name in enumerate(cross_attn):
        block = name.split(".")[0]
        channels = list(unet.config.block_out_channels)
        hidden = (channels[-1] if block == "mid_block" else
                  list(reversed(channels))[int(name.split(".")[1])] if block == "up_blocks" else channels[int(name.split(".")[1])])
        for proj in ("to_k_ip", "to_v_ip"):
            tensors[f"ip_adapter.{1 + 2 * j}.{proj}.weight"] = torch.randn(hidden, cross) * 0.5
    save_file(tensors, str(path / "models/ip-adapter_sd15.safetensors"))


def _frame() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[::4, ::3])  # 128 x 170: not square, not a multiple of 8


def _request(seed: int, covers: list[np.ndarray] | None = None, group: str = "k0") -> GenerationRequest:
    frame = _frame()
    return GenerationRequest(frame, palette_of_image(frame), "a thumbnail, red colour palette", seed,
                             group=group, covers=covers or [])


def test_turbo_family_defaults_seeded_and_independent_of_the_call(weights):
    gen = load_generator(GenerationConfig(backend="diffusers", model="tiny/sd-turbo-random", weights_dir=str(weights)))
    assert gen.family == "sd-turbo" and gen.settings.steps == 2 and gen.settings.guidance_scale == 0.0
    assert gen.settings.resolution == 64  # native: UNet sample size 32 x VAE factor 2
    assert gen.generator_id == "diffusers/tiny/sd-turbo-random/sd-turbo/s0.5-n2-g0-r64"
    out = gen.generate([_request(1), _request(2), _request(1)])
    assert [o.shape for o in out] == [_frame().shape] * 3 and out[0].dtype == np.uint8
    assert out[0].tobytes() == out[2].tobytes()  # same seed, same bytes, whatever else the call generates
    assert out[0].tobytes() != out[1].tobytes()
    assert gen.generate([_request(1)])[0].tobytes() == out[0].tobytes()


def test_ip_adapter_conditions_on_the_liked_covers(weights):
    gen = load_generator(GenerationConfig(backend="diffusers", model=str(weights / "tiny/sd-random"), steps=2,
                                          strength=0.6, guidance_scale=3.0, ip_adapter_dir=str(weights / "ip-adapter")))
    assert gen.family == "sd" and gen.needs_covers and gen.generator_id.endswith("+ip-adapter")
    coffee, rocket = data.coffee()[::4, ::4], data.rocket()[::4, ::4]
    a = gen.generate([_request(5, [coffee], group="coffee-fans")])[0]
    b = gen.generate([_request(5, [rocket], group="rocket-fans")])[0]
    again = gen.generate([_request(5, [coffee], group="coffee-fans")])[0]
    assert a.tobytes() == again.tobytes() and a.tobytes() != b.tobytes()


def test_ip_adapter_missing_or_unsupported_is_a_clear_error(weights, tmp_path):
    with pytest.raises(GeneratorUnavailable, match="ip-adapter_sd15.safetensors"):
        load_generator(GenerationConfig(backend="diffusers", model=str(weights / "tiny/sd-random"), steps=2,
                                        strength=0.5, ip_adapter_dir=str(tmp_path)))
    with pytest.raises(GeneratorUnavailable, match="has no IP-Adapter"):
        load_generator(GenerationConfig(backend="diffusers", model=str(weights / "tiny/sd-turbo-random"),
                                        ip_adapter_dir=str(weights / "ip-adapter")))


def test_bad_settings_and_incomplete_folders_are_named(weights, tmp_path):
    with pytest.raises(ValueError, match="no denoising step"):
        load_generator(GenerationConfig(backend="diffusers", model=str(weights / "tiny/sd-random"), steps=2, strength=0.2))
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "model_index.json").write_text((weights / "tiny/sd-random/model_index.json").read_text())
    with pytest.raises(GeneratorUnavailable, match="broken-model"):
        load_generator(GenerationConfig(backend="diffusers", model=str(broken), steps=2, strength=0.5))


def test_the_registry_names_the_backend_it_imports_lazily():
    assert DiffusersGenerator.backend == DIFFUSERS


def test_model_size_keeps_aspect_in_multiples_of_eight():
    assert model_size(180, 320, 512) == (288, 512)
    assert model_size(320, 180, 64) == (64, 40)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(("precision", "dtype"), [("fp16", "float16"), ("bf16", "bfloat16")])
def test_cuda_half_precision_is_seeded(weights, precision, dtype):
    gen = load_generator(GenerationConfig(backend="diffusers", model=str(weights / "tiny/sd-turbo-random"),
                                          device="cuda", precision=precision))
    assert gen.pipe.unet.dtype == getattr(torch, dtype) and gen.device.type == "cuda"
    first, second = gen.generate([_request(7)]), gen.generate([_request(7)])
    assert first[0].shape == _frame().shape
    assert np.abs(first[0].astype(int) - second[0].astype(int)).max() <= 1  # CPU-seeded noise: same image
