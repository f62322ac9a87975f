"""Test helper: a tiny random CLIP checkpoint with CLIP's real tokenizer, saved like a real one.

No CLIP weights are reachable offline; a random model built from a config exercises the
exact production path (``save_pretrained`` directory -> ``load_encoder("clip:<dir>")``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from clip_vocab import VOCAB_SIZE, clip_tokenizer
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

IMAGE_SIZE = 64
PROJECTION_DIM = 24


@lru_cache(maxsize=1)
def real_tokenizer():
    """CLIP's real tokenizer (built from OpenAI's merges file: ~4 s, so once per session)."""
    return clip_tokenizer()


def save_tiny_clip(path: Path, seed: int = 0) -> Path:
    """~10 MB: 2-layer text and vision towers, 32 wide, real 49408-token vocabulary."""
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=dict(vocab_size=VOCAB_SIZE, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=IMAGE_SIZE, patch_size=16),
        projection_dim=PROJECTION_DIM)
    CLIPModel(config).eval().save_pretrained(path)
    real_tokenizer().save_pretrained(path)
    CLIPImageProcessorPil(size={"shortest_edge": IMAGE_SIZE},
                          crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(path)
    return path
