"""Taste clusters: generation runs per (cluster, item), not per (user, item), to bound GPU cost.

Source of truth: the ``cluster`` column of the date's user features (Spark MLlib k-means
in the features stage), labelled ``c<id>``. When the features carry no such column (older
feature partitions, or a features stage without clustering) the fallback is a
deterministic spherical k-means with ``generation.clusters`` centres over the taste
vectors of warm users, labelled ``k<id>``: fitted on at most ``FIT_USERS`` of them chosen
by a stable hash of the user id (so cost is bounded and every shard task computes the
same clustering independently, no coordination needed), then every user is assigned to
the nearest centre. Cold-start users share the global taste and form one group, ``cold``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generec_core.generation.kmeans import assign_to, weighted_kmeans

FIT_USERS = 20_000
COLD = "cold"


def user_clusters(features: pa.Table, k: int) -> tuple[dict[str, str], str]:
    """(every user of the date's features -> cluster label, where the labels came from: "features" or
    "kmeans-fallback").

    All users, not one shard's: a cluster's taste palette is drawn from its members in every shard.
    """
    if "cluster" in features.column_names:
        pairs = zip(features["user_id"].to_pylist(), features["cluster"].to_pylist())
        return {u: (COLD if c is None else f"c{c}") for u, c in pairs}, "features"
    return _kmeans_fallback(features, k), "kmeans-fallback"


def _stable_key(user_id: str) -> str:
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def _kmeans_fallback(features: pa.Table, k: int) -> dict[str, str]:
    if k < 1:
        raise ValueError(f"generation.clusters must be >= 1, got {k}")
    out = {u: COLD for u in features["user_id"].to_pylist()}
    warm = features.filter(pc.invert(features["is_cold"]))
    ids = warm["user_id"].to_pylist()
    if not ids:
        return out
    tastes = np.asarray(warm["taste"].to_pylist(), np.float64)
    tastes /= np.maximum(np.linalg.norm(tastes, axis=1, keepdims=True), 1e-12)
    fit = sorted(range(len(ids)), key=lambda i: _stable_key(ids[i]))[:FIT_USERS]
    centres, _ = weighted_kmeans(tastes[fit], None, k)
    for user, label in zip(ids, assign_to(tastes, centres)):
        out[user] = f"k{int(label)}"
    return out
