"""Pick the image encoder a spec names: ``efficientnet-lite0`` (default) or ``clip:<local dir or model id>``.

Each backend module declares its ``encoder_id``; this module names the backends and imports one only to
load its model, so naming an encoder costs no torch import, and a backend never imports this one back.
"""

from __future__ import annotations

from typing import Callable

from generec_core.config import FramesConfig
from generec_core.embedding import clip_weights
from generec_core.embedding.base import EncoderUnavailable, ImageEncoder

__all__ = ["EncoderUnavailable", "ImageEncoder", "encoder_id_for", "load_encoder", "load_encoder_for"]


def _efficientnet_lite0() -> Callable[..., ImageEncoder]:
    from generec_core.embedding.efficientnet import EfficientNetLite0Encoder

    return EfficientNetLite0Encoder


# encoder id -> its backend class, imported only when a model is loaded: the processes that only name an
# encoder (the features stage, its Spark workers) then never import torch (~1 s each)
BY_ID: dict[str, Callable[[], Callable[..., ImageEncoder]]] = {"efficientnet-lite0": _efficientnet_lite0}
_DEFAULTS = FramesConfig()


def encoder_id_for(name: str) -> str:
    """The partition id (``encoder=<id>``) of an encoder spec, without loading any model.

    ``efficientnet-lite0`` is its own id; ``clip:<dir or model id>`` gets
    ``clip-<name>-<fingerprint>`` from the weights' files (see ``clip_weights.clip_encoder_id``),
    so different CLIP weights never share a partition.
    """
    if name in BY_ID:
        return name
    if name.startswith(clip_weights.PREFIX):
        return clip_weights.clip_encoder_id(name[len(clip_weights.PREFIX):])
    raise ValueError(f"unknown encoder {name!r}; valid: {sorted(BY_ID)} or "
                     f"'{clip_weights.PREFIX}<local dir or model id>'")


def load_encoder(name: str = _DEFAULTS.encoder, device: str = _DEFAULTS.device, batch_size: int = _DEFAULTS.batch_size,
                 precision: str = _DEFAULTS.precision, runtime: str = _DEFAULTS.runtime,
                 graph_cache_dir: str = "") -> ImageEncoder:
    """The encoder a spec names, on ``device``; each model is loaded once per process.

    CLIP loads with ``local_files_only``: missing weights are an ``EncoderUnavailable`` naming them.
    """
    if name.startswith(clip_weights.PREFIX):
        from generec_core.embedding.clip import CLIPEncoder

        return CLIPEncoder(name[len(clip_weights.PREFIX):], device=device, batch_size=batch_size, precision=precision)
    backend = BY_ID.get(name)
    if backend is None:
        encoder_id_for(name)  # raises, naming the valid specs
    return backend()(device=device, batch_size=batch_size, precision=precision, runtime=runtime,
                     graph_cache_dir=graph_cache_dir)


def load_encoder_for(frames: FramesConfig) -> ImageEncoder:
    """The encoder the frames configuration names (what every stage embedding images uses)."""
    return load_encoder(frames.encoder, frames.device, frames.batch_size, frames.precision, frames.runtime,
                        frames.graph_cache_dir)
