"""Deterministic weighted k-means (scikit-learn), shared by palettes (3-d Lab) and taste clusters.

Same input -> same centres on every run, every shard task and every host: k-means++ seeding from
a fixed seed, one initialisation, input order as given (callers sort), and Lloyd's iterations on
one thread (scikit-learn sums chunk results per thread, so the thread count could otherwise move
the last bits of a centre between machines).

scikit-learn is imported where it is used: nearly every stage task imports this module (through
``datasets.items`` and the palettes) and only the generation stages cluster, so the other tasks'
processes do not pay its ~1 s import.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

ITERATIONS = 15


def weighted_kmeans(points: np.ndarray, weights: np.ndarray | None, k: int,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(centres, mass share) sorted by mass, most first; fewer centres when distinct points are fewer than ``k``."""
    points = np.asarray(points, np.float64)
    weights = np.ones(len(points)) if weights is None else np.asarray(weights, np.float64)
    if len(points) == 0 or k < 1:
        raise ValueError(f"k-means needs points and k >= 1, got {len(points)} points, k={k}")
    k = min(k, len(np.unique(points[weights > 0], axis=0)) or 1)
    from sklearn.cluster import KMeans

    with threadpool_limits(limits=1):
        model = KMeans(n_clusters=k, init="k-means++", n_init=1, max_iter=ITERATIONS, tol=0.0,
                       random_state=seed).fit(points, sample_weight=weights)
    mass = np.bincount(model.labels_, weights=weights, minlength=k)
    order = [c for c in np.argsort(-mass, kind="stable") if mass[c] > 0]
    return model.cluster_centers_[order], mass[order] / mass.sum()


def assign_to(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for each point (ties: the lower index)."""
    from sklearn.metrics import pairwise_distances_argmin

    return pairwise_distances_argmin(np.asarray(points, np.float64), centres)
