"""Pick the image encoder a spec names: ``efficientnet-lite0`` (default) or ``clip:<local dir or model id>``.

Each backend module declares what it serves; this module only looks the spec up, so a
backend never imports this one back.
"""

from __future__ import annotations

from generec_core.config import FramesConfig
from generec_core.embedding import clip
from generec_core.embedding.base import EncoderUnavailable, ImageEncoder
from generec_core.embedding.efficientnet import EfficientNetLite0Encoder

__all__ = ["EncoderUnavailable", "ImageEncoder", "encoder_id_for", "load_encoder", "load_encoder_for"]

BY_ID = {EfficientNetLite0Encoder.encoder_id: EfficientNetLite0Encoder}
_DEFAULTS = FramesConfig()


def encoder_id_for(name: str) -> str:
    """The partition id (``encoder=<id>``) of an encoder spec, without loading any model.

    ``efficientnet-lite0`` is its own id; ``clip:<dir or model id>`` gets
    ``clip-<name>-<fingerprint>`` from the weights' files (see ``clip.clip_encoder_id``),
    so different CLIP weights never share a partition.
    """
    if name in BY_ID:
        return name
    if name.startswith(clip.PREFIX):
        return clip.clip_encoder_id(name[len(clip.PREFIX):])
    raise ValueError(f"unknown encoder {name!r}; valid: {sorted(BY_ID)} or '{clip.PREFIX}<local dir or model id>'")


def load_encoder(name: str = _DEFAULTS.encoder, device: str = _DEFAULTS.device, batch_size: int = _DEFAULTS.batch_size,
                 precision: str = _DEFAULTS.precision, runtime: str = _DEFAULTS.runtime,
                 graph_cache_dir: str = "") -> ImageEncoder:
    """The encoder a spec names, on ``device``; each model is loaded once per process.

    CLIP loads with ``local_files_only``: missing weights are an ``EncoderUnavailable`` naming them.
    """
    if name.startswith(clip.PREFIX):
        return clip.CLIPEncoder(name[len(clip.PREFIX):], device=device, batch_size=batch_size, precision=precision)
    factory = BY_ID.get(name)
    if factory is None:
        encoder_id_for(name)  # raises, naming the valid specs
    return factory(device=device, batch_size=batch_size, precision=precision, runtime=runtime,
                   graph_cache_dir=graph_cache_dir)


def load_encoder_for(frames: FramesConfig) -> ImageEncoder:
    """The encoder the frames configuration names (what every stage embedding images uses)."""
    return load_encoder(frames.encoder, frames.device, frames.batch_size, frames.precision, frames.runtime,
                        frames.graph_cache_dir)
