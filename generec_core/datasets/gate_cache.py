"""Dataset ``gate_cache``: the gate's model outputs per decoded image, reused on later nights.

``features/gate_cache/<model signature>/<hh>/<pixel key>.npz``: one NumPy archive per image the audit
stage ran the models on (``fidelity.model_outputs``): its embedding, P(NSFW) and face boxes per detector
setting, plus ``_spec``, the JSON of the models they came from. The pixel key is the sha256 of the
decoded pixels, ``hh`` its first two hex digits (bounded folder sizes); the signature hashes the models
(encoder, open_nsfw, face detector), so another model never reads these outputs, and the stored spec is
checked on every read. Outputs only, never verdicts: the checks are applied afresh on every run.

Concurrent audit shards may write the same key (the same pixels under two URIs): each write replaces the
whole object atomically (``Store.write_bytes``) with outputs of the same models on the same pixels, so
either is right. An unreadable or foreign entry reads as absent and is recomputed.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

import numpy as np

from generec_core.datasets.layout import Layout
from generec_core.embedding.base import ImageEncoder
from generec_core.fidelity.model_outputs import Record, model_signature
from generec_core.storage import ObjectNotFound

log = logging.getLogger(__name__)

_KEY = re.compile(r"[0-9a-f]{64}")
_SPEC = "_spec"


@dataclass(frozen=True)
class GateCache:
    """The stored model outputs under one model signature (``fidelity.model_outputs.OutputStore``)."""

    layout: Layout
    signature: str
    spec: str  # canonical JSON of the models (``model_outputs.model_spec``)

    @classmethod
    def for_encoder(cls, layout: Layout, encoder: ImageEncoder) -> "GateCache":
        return cls(layout, *model_signature(encoder))

    def _uri(self, key: str) -> str:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a pixel key (sha256 hex): {key!r}")
        return self.layout.gate_cache_entry(self.signature, key)

    def get(self, key: str) -> Record | None:
        uri = self._uri(key)
        try:
            data = self.layout.store.read_bytes(uri)
        except ObjectNotFound:
            return None
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                record = {name: archive[name] for name in archive.files}
        except Exception as exc:  # noqa: BLE001 - a damaged entry is recomputed, never trusted
            log.warning("gate cache entry %s unreadable (%s): recomputing", uri, exc)
            return None
        if str(record.pop(_SPEC, "")) != self.spec:
            log.warning("gate cache entry %s was made by other models: recomputing", uri)
            return None
        return record

    def put(self, key: str, record: Record) -> None:
        buf = io.BytesIO()
        np.savez(buf, **{_SPEC: np.asarray(self.spec)}, **record)
        self.layout.store.write_bytes(self._uri(key), buf.getvalue())
