"""Where a model runs and in which precision: one resolver for every model of the pipeline.

One vocabulary for precision everywhere (``frames.precision``, ``generation.precision``):
``auto`` (fp16 on CUDA, where tensor cores pay; fp32 elsewhere), ``fp32``, ``fp16``, ``bf16``.
One for devices: ``auto`` picks CUDA when present; an explicit device must exist.
"""

from __future__ import annotations

import torch

from generec_core.config import PRECISION_CHOICES

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
assert set(PRECISIONS) == set(PRECISION_CHOICES) - {"auto"}, "config.PRECISION_CHOICES and devices disagree"


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; an explicit device must exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda[:N]'") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return resolved


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """``auto``: fp16 on CUDA, fp32 elsewhere; or fp32 | fp16 | bf16 explicitly."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise ValueError(f"unknown precision {precision!r}: use auto, {', '.join(PRECISIONS)}") from None
