"""An encoder's torch feature graph, run by ONNX Runtime on the CPU: the same vectors, about 3.5x faster.

Why: on 2 CPU cores torch's eager EfficientNet-Lite0 embeds ~70 images/s; the same graph under
ONNX Runtime (fused convolutions, one thread pool) embeds ~240 images/s, with cosine > 0.9999 to
torch's vectors on every frame (``tests/unit/test_encoder.py``; ``benchmarks/frames_throughput.py``
measures both). Frames and the fidelity gate are most of a nightly run on CPU workers, and both embed.

The graph is exported from the installed torch weights (nothing is downloaded) and cached on disk,
keyed by the weights file's digest, torch's version and the opset: a changed weight file or exporter
never reuses a stale graph. The export (about 2 s) happens once per machine, not once per task; an
unwritable cache folder only costs that export in every process.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import torch

from generec_core.config import RUNTIME_CHOICES

log = logging.getLogger(__name__)

OPSET = 17
GRAPH_VERSION = "1"  # bump when the exported wrapper (inputs, outputs, pooling) changes

_SESSIONS: dict[str, object] = {}
_SESSIONS_LOCK = threading.Lock()


def resolve_runtime(runtime: str, device: torch.device, dtype: torch.dtype) -> str:
    """``auto``: ONNX Runtime for fp32 on the CPU (where it pays), torch on CUDA or for fp16/bf16."""
    if runtime not in RUNTIME_CHOICES:
        raise ValueError(f"unknown encoder runtime {runtime!r}: use {', '.join(RUNTIME_CHOICES)}")
    cpu_fp32 = device.type == "cpu" and dtype == torch.float32
    if runtime == "onnxruntime" and not cpu_fp32:
        raise ValueError(f"encoder runtime 'onnxruntime' runs fp32 on the CPU only, not {dtype} on {device}; "
                         "use runtime 'torch' (or 'auto')")
    if runtime == "auto":
        return "onnxruntime" if cpu_fp32 else "torch"
    return runtime


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/generec`` (``~/.cache/generec``): where exported graphs are kept between runs."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "generec"


@functools.lru_cache(maxsize=8)
def file_digest(path: str) -> str:
    """sha256 of a weights file (once per process: stages load their encoder more than once)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def graph_key(name: str, weights_digest: str) -> str:
    """File name of the exported graph: everything that changes its numbers is in it."""
    torch_version = torch.__version__.split("+")[0]
    return f"{name}-{weights_digest[:16]}-torch{torch_version}-opset{OPSET}-v{GRAPH_VERSION}.onnx"


def export_graph(module: torch.nn.Module, example: torch.Tensor) -> bytes:
    """The module as an ONNX graph with a dynamic batch axis (TorchScript exporter: needs no onnxscript)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice, on every export
        torch.onnx.export(module.eval(), (example,), buffer, input_names=["pixels"], output_names=["features"],
                          dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    return buffer.getvalue()


def cached_graph(cache_dir: Path, key: str, export) -> bytes:
    """The graph from ``cache_dir/key``, exporting it (and writing it atomically) when absent."""
    path = cache_dir / key
    try:
        return path.read_bytes()
    except OSError:  # absent, or the cache folder is unusable (then the write below says so)
        pass
    graph = export()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=f".{key}.", delete=False) as tmp:
            tmp.write(graph)
        os.replace(tmp.name, path)  # two processes exporting at once both write whole files
        log.info("exported encoder graph to %s", path)
    except OSError as exc:
        log.warning("cannot cache the encoder graph in %s (%s): exporting it in every process", cache_dir, exc)
    return graph


def session(key: str, graph) -> object:
    """One ONNX Runtime session per graph per process, on as many threads as torch is allowed."""
    import onnxruntime as ort

    with _SESSIONS_LOCK:
        found = _SESSIONS.get(key)
        if found is None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            found = ort.InferenceSession(graph(), options, providers=["CPUExecutionProvider"])
            _SESSIONS[key] = found
    return found


def run(onnx_session, pixels: np.ndarray) -> np.ndarray:
    """Features of an (N, 3, H, W) float32 batch."""
    return onnx_session.run(None, {"pixels": pixels})[0]
