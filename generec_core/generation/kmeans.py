"""Deterministic weighted k-means, shared by palettes (3-d Lab) and taste clusters (encoder space).

Same input -> same centres on every run and every shard task: k-means++ seeding from a
fixed seed, input order as given (callers sort), a fixed number of Lloyd iterations.
Distances use |x|^2 + |c|^2 - 2 x.c, so memory is O(N k), not O(N k dim).
"""

from __future__ import annotations

import numpy as np

ITERATIONS = 15


def _sq_dist(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d2 = (points ** 2).sum(1)[:, None] + (centres ** 2).sum(1)[None] - 2.0 * points @ centres.T
    return np.maximum(d2, 0.0)


def weighted_kmeans(points: np.ndarray, weights: np.ndarray | None, k: int,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(centres, mass share) sorted by mass, most first; fewer centres when points are fewer than ``k``."""
    points = np.asarray(points, np.float64)
    weights = np.ones(len(points)) if weights is None else np.asarray(weights, np.float64)
    if len(points) == 0 or k < 1:
        raise ValueError(f"k-means needs points and k >= 1, got {len(points)} points, k={k}")
    rng = np.random.default_rng(seed)
    centres = points[[int(np.argmax(weights))]]
    while len(centres) < k:
        d2 = _sq_dist(points, centres).min(1) * weights
        if d2.sum() <= 1e-12:
            break  # every point already sits on a centre
        centres = np.vstack([centres, points[int(rng.choice(len(points), p=d2 / d2.sum()))]])
    for _ in range(ITERATIONS):
        assign = assign_to(points, centres)
        mass = np.bincount(assign, weights=weights, minlength=len(centres))
        sums = np.zeros_like(centres)
        np.add.at(sums, assign, weights[:, None] * points)
        keep = mass > 0
        centres = sums[keep] / mass[keep, None]
    mass = np.bincount(assign_to(points, centres), weights=weights, minlength=len(centres))
    order = np.argsort(-mass, kind="stable")
    return centres[order], mass[order] / mass.sum()


def assign_to(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for each point (ties: the lower index)."""
    return np.argmin(_sq_dist(np.asarray(points, np.float64), centres), axis=1)
