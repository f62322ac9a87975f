"""Randomly initialised Stable Diffusion pipelines built from architecture configs.

No diffusion weights can be downloaded here, yet the diffusers code path (loading a saved
pipeline, img2img, batching, seeds) must run in offline tests, and GPU throughput depends
only on the architecture. So this module builds real diffusers pipelines with random
weights: a tiny one (seconds on CPU) and the full-size SD-Turbo architecture (SD 2.1:
865M-parameter UNet, OpenCLIP ViT-H text encoder, 84M VAE) for benchmarks. Their images
are noise by construction; never use them to make thumbnails.

The tokenizer is real: CLIP's 49,408-token BPE vocabulary (``tests/clip_vocab.py``).
"""

from __future__ import annotations

import functools

import torch
from clip_vocab import VOCAB_SIZE, clip_tokenizer


@functools.lru_cache(maxsize=1)
def _tokenizer():
    """CLIP's real tokenizer (building it from the merges file takes seconds: once per process)."""
    return clip_tokenizer()


def _pipeline(unet_cfg: dict, vae_cfg: dict, text_cfg: dict, scheduler):
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    text_cfg = {"vocab_size": VOCAB_SIZE, "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407,
                "max_position_embeddings": 77, **text_cfg}
    return StableDiffusionPipeline(
        vae=AutoencoderKL(**vae_cfg), text_encoder=CLIPTextModel(CLIPTextConfig(**text_cfg)),
        tokenizer=_tokenizer(), unet=UNet2DConditionModel(**unet_cfg), scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def tiny_sd_pipeline(seed: int = 0):
    """A ~2M-parameter SD pipeline (32/64-channel UNet and VAE, 32-d CLIP text encoder): CPU seconds."""
    from diffusers import EulerDiscreteScheduler

    torch.manual_seed(seed)
    unet = dict(block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                cross_attention_dim=32, attention_head_dim=8, norm_num_groups=16)
    vae = dict(block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=16,
               down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
    text = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, projection_dim=32)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="trailing", steps_offset=1)
    return _pipeline(unet, vae, text, scheduler)


def sd_turbo_pipeline(device: str | torch.device = "cpu", seed: int = 0):
    """The full-size SD-Turbo (SD 2.1) architecture with random weights, initialised on ``device``."""
    from diffusers import EulerDiscreteScheduler

    torch.manual_seed(seed)
    unet = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                block_out_channels=(320, 640, 1280, 1280), attention_head_dim=(5, 10, 20, 20),
                cross_attention_dim=1024, use_linear_projection=True,
                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    vae = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=768,
               down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
    text = dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=23,
                hidden_act="gelu", projection_dim=512)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="trailing", steps_offset=1)
    with torch.device(device):
        return _pipeline(unet, vae, text, scheduler)
