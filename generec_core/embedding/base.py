"""What every image encoder is: RGB pixels in, L2-normalised embedding rows out, one model per process.

Everything downstream (user taste, thumbnail and clip selection, Cosine@K, the authenticity
gate) is cosine similarity in one encoder's space, so an encoder is identified by
``encoder_id`` and its stored features live under that id; changing the model or its
preprocessing means a new id, never silently mixed vectors. Backends (``efficientnet.py``,
``clip.py``) build on this module; ``encoder.py`` picks one from the configured spec.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, Union, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # torch is imported by the backends that run a model, not by every reader of this module
    import torch

Images = Union[np.ndarray, Sequence[np.ndarray]]
"""(N, H, W, 3) uint8 RGB, or a sequence of (H, W, 3) uint8 images of any sizes."""


@runtime_checkable
class ImageEncoder(Protocol):
    encoder_id: str
    dim: int
    preprocessing: str

    def embed(self, images: Images) -> np.ndarray:
        """(N, dim) float32, every row L2-normalised."""
        ...


class EncoderUnavailable(RuntimeError):
    """The encoder's weights (or code) are not installed; the message names the package."""


def as_image_list(images: Images) -> list[np.ndarray]:
    """Validate the input contract once, naming the offending image."""
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise ValueError(f"expected images of shape (N, H, W, 3), got {images.shape}")
        images = list(images)
    out = []
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
            raise ValueError(f"image {i}: expected (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
        out.append(img)
    return out


_MODELS: dict[tuple[str, str, str], torch.nn.Module] = {}
_MODELS_LOCK = threading.Lock()


def cached_model(name: str, device: torch.device, dtype: torch.dtype,
                  build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """One loaded model per (name, device, dtype) per process: tasks call load_encoder repeatedly."""
    import torch

    key = (name, str(device), str(dtype))
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = build().to(device, dtype=dtype, memory_format=torch.channels_last)
            _MODELS[key] = model
    return model
