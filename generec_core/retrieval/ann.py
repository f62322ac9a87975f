"""Approximate top-K by inner product over L2-normalised item vectors (cosine), with faiss.

Why IVF-flat (``faiss.IndexIVFFlat``, inner product) rather than HNSW:

* build: k-means of ``nlist = round(sqrt(items))`` centres (faiss trains on at most 256 points
  per centre) and one assignment pass; HNSW inserts item by item into a graph, which at
  millions of 1280-d items is hours a night on a few cores;
* reproducible: faiss k-means with a fixed seed and one assignment per item give the same
  index on every run, so a re-run of a date gives the same candidates; a multi-threaded HNSW
  build depends on thread timing;
* one accuracy knob at query time: ``nprobe`` lists (of ``nlist``) are scanned per query,
  so recall is traded for time without rebuilding; nprobe = nlist is exact search. The
  vectors are stored uncompressed ("flat"), so the scores of what is found are exact.

Query cost is about ``nlist + nprobe * items / nlist`` dot products instead of ``items``
(at 1M items, nprobe 32: ~3% of brute force).

Seen items: the index knows nothing of users, so a query fetches ``k + len(seen)`` neighbours
(rounded up to a power of two, so that a batch of users runs as a few batched searches) and
drops the seen ones. A query that still has fewer than ``k`` unseen results while the
catalogue has more (its probed lists were too small) is searched again over every list, so
a user gets ``min(k, unseen items)`` candidates exactly as with exact search.

Shipping: the faiss index is a C++ object; ``AnnIndex`` pickles as the bytes of
``faiss.serialize_index``, so a Spark broadcast carries it and each executor process
deserialises it once, when it first reads the broadcast value.
"""

from __future__ import annotations

import math
from typing import Sequence

import faiss
import numpy as np


def n_lists(items: int) -> int:
    """Inverted lists for a catalogue: ~sqrt(items), the usual balance of centroid and list scans."""
    return max(1, min(items, round(math.sqrt(items))))


class AnnIndex:
    """An IVF-flat inner-product index over item rows (positions 0..size-1 are the row numbers)."""

    def __init__(self, index: faiss.IndexIVFFlat, nprobe: int) -> None:
        if nprobe < 1:
            raise ValueError(f"nprobe must be >= 1, got {nprobe}")
        self._index = index
        self.nprobe = min(nprobe, index.nlist)

    @classmethod
    def build(cls, matrix: np.ndarray, nprobe: int, seed: int = 0) -> "AnnIndex":
        """Index the rows of ``matrix`` (items x dim, L2-normalised so inner product is cosine)."""
        if matrix.ndim != 2 or len(matrix) == 0:
            raise ValueError(f"need a non-empty items x dim matrix, got shape {matrix.shape}")
        vectors = np.ascontiguousarray(matrix, dtype=np.float32)
        dim, nlist = vectors.shape[1], n_lists(len(vectors))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(vectors)
        index.add(vectors)  # faiss's wrapper keeps the quantizer alive with the index
        return cls(index, nprobe)

    @classmethod
    def from_bytes(cls, blob: bytes, nprobe: int) -> "AnnIndex":
        return cls(faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8)), nprobe)

    def to_bytes(self) -> bytes:
        return faiss.serialize_index(self._index).tobytes()

    def __reduce__(self):
        """Pickle (broadcasts, process pools) as the serialised index."""
        return AnnIndex.from_bytes, (self.to_bytes(), self.nprobe)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def nlist(self) -> int:
        return int(self._index.nlist)

    def search(self, queries: np.ndarray, k: int, exclude: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per query row, up to ``k`` item positions by descending inner product, none in its ``exclude``."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self._index.d)
        if len(exclude) != len(queries):
            raise ValueError(f"{len(queries)} queries but {len(exclude)} exclude sets")
        sizes = np.array([len(e) for e in exclude], dtype=np.int64)
        wanted = np.minimum(k, np.maximum(self.size - sizes, 0))  # what exact search would return
        fetch = np.minimum(2 ** np.ceil(np.log2(np.maximum(k + sizes, 1))), self.size).astype(np.int64)
        out: list[np.ndarray] = [np.zeros(0, np.int64)] * len(queries)
        for nprobe in (self.nprobe, self.nlist):
            todo = np.flatnonzero(np.array([len(o) for o in out]) < wanted)
            for n in np.unique(fetch[todo]):
                rows = todo[fetch[todo] == n]
                params = faiss.SearchParametersIVF(nprobe=int(nprobe))
                _, ids = self._index.search(queries[rows], int(n), params=params)
                for q, found in zip(rows, ids):
                    found = found[found >= 0]
                    out[q] = found[~np.isin(found, exclude[q])][:k]
        return out
