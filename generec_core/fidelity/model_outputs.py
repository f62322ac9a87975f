"""The gate's model outputs, reusable where they are provably the same: keyed by decoded pixels and models.

The gate's cost is its models (of a cold demo audit shard on 2 cores: open_nsfw ~44%, EfficientNet-Lite0
on ONNX Runtime ~22%, the face cascade ~12%), and most assets of a night were already checked on an earlier
night (content-addressed), or appear for several users. What a model says about an image depends only on
the image's pixels and the model, so ``ModelOutputs`` keeps the *outputs* (the embedding, P(NSFW), the face
boxes at given detector parameters), never a verdict, keyed by

- ``pixel_key``: sha256 of the decoded uint8 RGB array (shape, dtype and bytes). A changed file decodes
  to other pixels and never matches; a re-encoded file with identical pixels gets the same, correct,
  outputs;
- ``model_signature``: the encoder (id, dim, preprocessing, precision), the open_nsfw model and package
  version, the face detector (cascade, OpenCV version, scale factor, smallest window). Another model is another
  signature, so its outputs are never read; the detector's per-call parameters (min neighbours, smallest
  face fraction) name the face field inside the record.

Every threshold and every comparison with a source (cosine to the source embedding, faces against the
source frame, metadata, quality, flicker) is applied afresh by the caller on every run, so a changed
source or a changed bar changes the verdict as it would without the cache. With no store
(``GateConfig.reuse_model_outputs = False``) every output is computed, as before.
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol, Sequence

import numpy as np

from generec_core.embedding.base import ImageEncoder
from generec_core.fidelity import faces as face_detector
from generec_core.fidelity.safety import nsfw_model_version, nsfw_scores

VERSION = 1  # of the record's layout; a new layout is a new signature

EMBEDDING = "embedding"
NSFW = "nsfw"

Record = dict[str, np.ndarray]


class OutputStore(Protocol):
    """Where records live (``datasets.gate_cache.GateCache``): one per pixel key, under one model signature."""

    def get(self, key: str) -> Record | None: ...

    def put(self, key: str, record: Record) -> None: ...


def pixel_key(pixels: np.ndarray) -> str:
    """sha256 (hex) of a decoded image: its shape, dtype and every pixel byte."""
    array = np.ascontiguousarray(pixels)
    digest = hashlib.sha256(f"{array.shape}|{array.dtype.str}|".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def model_spec(encoder: ImageEncoder) -> dict:
    """Everything the stored outputs depend on besides the pixels."""
    return {"version": VERSION,
            "encoder": {"id": encoder.encoder_id, "dim": int(encoder.dim), "preprocessing": encoder.preprocessing,
                        # fp16/bf16 embeddings differ from fp32 ones by more than rounding: another precision
                        "dtype": str(getattr(encoder, "dtype", "float32"))},
            "nsfw": nsfw_model_version(), "faces": face_detector.detector_id()}


def model_signature(encoder: ImageEncoder) -> tuple[str, str]:
    """(signature: a short hash naming the models, the spec it hashes as canonical JSON)."""
    spec = json.dumps(model_spec(encoder), sort_keys=True)
    return hashlib.sha256(spec.encode()).hexdigest()[:24], spec


def faces_field(min_neighbors: int, min_face_frac: float) -> str:
    return f"faces_n{int(min_neighbors)}_f{repr(float(min_face_frac)).replace('.', 'p').replace('-', 'm')}"


class ModelOutputs:
    """The encoder, open_nsfw and the face detector, through a store of earlier outputs when given one.

    Counts, per image through the models, ``hits`` (every output it needed was known) and ``misses``; per face
    search ``face_hits`` and ``face_misses``. ``flush`` writes the records that gained outputs.
    """

    def __init__(self, encoder: ImageEncoder, store: OutputStore | None = None) -> None:
        self.encoder, self.store = encoder, store
        self._records: dict[str, Record] = {}
        self._dirty: set[str] = set()
        self.hits = self.misses = self.face_hits = self.face_misses = 0

    def _record(self, key: str) -> Record:
        record = self._records.get(key)
        if record is None:
            assert self.store is not None
            record = dict(self.store.get(key) or {})
            self._records[key] = record
        return record

    def embed_and_score(self, images: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
        """(embedding, P(NSFW)) per image; only images whose pixels were never seen go through the models,
        each distinct one once, as one batch per model."""
        if not images:
            return [], []
        if self.store is None:
            self.misses += len(images)
            return list(self.encoder.embed(list(images))), list(nsfw_scores(list(images)))
        keys = self._known(images, (EMBEDDING, NSFW))
        return ([self._records[k][EMBEDDING] for k in keys], [float(self._records[k][NSFW]) for k in keys])

    def embed(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The embedding per image alone (what the evaluation needs), through the encoder only for pixels never
        seen: the audit embedded every image it checked, so the evaluation of the same assets reads those."""
        if not images:
            return []
        if self.store is None:
            self.misses += len(images)
            return list(self.encoder.embed(list(images)))
        return [self._records[k][EMBEDDING] for k in self._known(images, (EMBEDDING,))]

    def _known(self, images: Sequence[np.ndarray], fields: Sequence[str]) -> list[str]:
        """The images' pixel keys, once each record holds ``fields``: the missing outputs are computed for each
        distinct image once, one batch per model. An image counts as a hit when nothing was missing."""
        keys = [pixel_key(i) for i in images]
        missing = {field: {k: i for k, i in zip(keys, images) if field not in self._record(k)} for field in fields}
        missed = set().union(*missing.values())
        self.misses += len(missed)
        self.hits += len(keys) - len(missed)
        for field, todo in missing.items():
            if todo:
                for key, value in zip(todo, self._run(field, list(todo.values()))):
                    self._records[key][field] = value
                    self._dirty.add(key)
        return keys

    def _run(self, field: str, images: list[np.ndarray]) -> list[np.ndarray]:
        """The model behind ``field`` on a batch, as the values a record stores."""
        if field == EMBEDDING:
            return [np.asarray(row, np.float32) for row in self.encoder.embed(images)]
        return [np.asarray(float(p), np.float64) for p in nsfw_scores(images)]

    def detect_faces(self, pixels: np.ndarray, min_neighbors: int, min_face_frac: float
                     ) -> list[tuple[int, int, int, int]]:
        """``faces.detect_faces``, from the store when these pixels were searched with these parameters."""
        if self.store is None:
            self.face_misses += 1
            return face_detector.detect_faces(pixels, min_neighbors, min_face_frac)
        key, field = pixel_key(pixels), faces_field(min_neighbors, min_face_frac)
        record = self._record(key)
        if field in record:
            self.face_hits += 1
        else:
            self.face_misses += 1
            boxes = face_detector.detect_faces(pixels, min_neighbors, min_face_frac)
            record[field] = np.asarray(boxes, np.int32).reshape(-1, 4)
            self._dirty.add(key)
        return [(int(x), int(y), int(w), int(h)) for x, y, w, h in record[field]]

    def flush(self) -> None:
        """Store every record that gained outputs since the last flush."""
        if self.store is not None:
            for key in sorted(self._dirty):
                self.store.put(key, self._records[key])
        self._dirty.clear()

    def stats(self) -> dict:
        return {"reused": self.store is not None, "hits": self.hits, "misses": self.misses,
                "face_hits": self.face_hits, "face_misses": self.face_misses}
