"""Where a CLIP checkpoint's weights are, and the id its vectors are stored under, without loading it.

Naming an encoder (``encoder.encoder_id_for``) happens in processes that never embed -- the features
stage and its Spark workers read frame vectors by their partition id -- so this module imports no
torch (~1 s per process). ``clip.py`` loads the model from what is found here.

The id is ``clip-<name>-<fingerprint>``: the fingerprint hashes the model's config files and the
size, head and tail of each weights file, so two checkpoints that share a directory name (or one
replaced in place) never mix their vectors.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

from generec_core.embedding.base import EncoderUnavailable

PREFIX = "clip:"  # frames.encoder = "clip:<local dir or model id>"
WEIGHT_SUFFIXES = (".safetensors", ".bin")
_FINGERPRINT_BYTES = 1 << 20  # head and tail of each weights file


def resolve_model_dir(spec: str) -> Path:
    """The local directory holding the weights of ``spec`` (a directory or a cached model id)."""
    path = Path(spec).expanduser()
    looks_like_path = path.is_absolute() or spec.startswith((".", "~")) or path.exists()
    if looks_like_path:
        if not path.is_dir():
            raise EncoderUnavailable(f"CLIP weights directory {str(path)!r} does not exist "
                                     "(frames.encoder = 'clip:<dir>' needs a save_pretrained directory)")
        return _check_files(path, spec)
    try:
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(spec, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means: not available offline
        raise EncoderUnavailable(
            f"CLIP weights for model id {spec!r} are not in the local Hugging Face cache "
            f"({type(exc).__name__}); nothing is downloaded at run time: copy the model there "
            "(HF_HOME) or set frames.encoder to 'clip:<local save_pretrained dir>'") from None
    return _check_files(Path(snapshot), spec)


def _check_files(path: Path, spec: str) -> Path:
    if not (path / "config.json").is_file():
        raise EncoderUnavailable(f"CLIP weights for {spec!r}: {path}/config.json is missing")
    if not _weight_files(path):
        raise EncoderUnavailable(f"CLIP weights for {spec!r}: no *.safetensors or *.bin weights in {path}")
    return path


def _weight_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)
                  and not p.name.startswith("training_args"))


@lru_cache(maxsize=32)
def _fingerprint(path: Path, stamp: tuple) -> str:
    """sha256 over the config files and each weights file's name, size, head and tail."""
    del stamp  # part of the cache key only: a changed file gets a fresh fingerprint
    digest = hashlib.sha256()
    for name in ("config.json", "preprocessor_config.json"):
        if (path / name).is_file():
            digest.update(name.encode() + b"\0" + (path / name).read_bytes())
    for weights in _weight_files(path):
        size = weights.stat().st_size
        digest.update(f"{weights.name}\0{size}\0".encode())
        with weights.open("rb") as fh:
            digest.update(fh.read(_FINGERPRINT_BYTES))
            fh.seek(max(0, size - _FINGERPRINT_BYTES))
            digest.update(fh.read(_FINGERPRINT_BYTES))
    return digest.hexdigest()


def clip_encoder_id(spec: str) -> str:
    """``clip-<name>-<10 hex>``: name from the directory or model id, hex from the weights."""
    path = resolve_model_dir(spec)
    local = Path(spec).expanduser()
    name = local.resolve().name if local.is_dir() else spec.replace("/", "--")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "model"
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in _weight_files(path))
    return f"clip-{slug}-{_fingerprint(path.resolve(), stamp)[:10]}"
