"""Cosine@K (ARCHITECTURE.md section 1): how close what we show is to what the user liked.

For a user u with history covers H_u (the covers of the items u liked) and top-K shown
items, Cosine@K(u) = mean over the K items and over h in H_u of cos(shown, h); the metric
is the mean over users with a non-empty history. A clip (or the unclipped video) shows
several frames: its cosine with h is the mean over its frames.

Because every vector is unit-norm, mean_{f, h} cos(f, h) = mean_f(f) . mean_h(h), so a
user's history reduces to one mean vector and an item to the mean of its shown frames:
exact, and linear in the data instead of quadratic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def history_mean(covers: np.ndarray) -> np.ndarray:
    """mean_h(unit h): dotting it with a unit vector gives the mean cosine with the history."""
    return unit_rows(covers).mean(axis=0)


def shown_mean(frames: np.ndarray) -> np.ndarray:
    """mean_f(unit f) of the frames an item shows (one row for a thumbnail)."""
    return unit_rows(np.atleast_2d(frames)).mean(axis=0)


@dataclass(frozen=True)
class CosineAtK:
    value: float | None  # None when no user qualifies
    users: int  # users with history and at least one shown item
    items_per_user: float  # mean number of items that counted (< K when fewer were shown)


def cosine_at_k(history: Mapping[str, np.ndarray], shown: Mapping[str, Sequence[np.ndarray]],
                k: int) -> CosineAtK:
    """``history[u]``: history_mean of u; ``shown[u]``: shown_mean of u's items, best ranked first."""
    per_user, counts = [], []
    for user in sorted(shown):
        items = shown[user][:k]
        if user not in history or not len(items):
            continue
        per_user.append(float(np.mean([np.dot(vec, history[user]) for vec in items])))
        counts.append(len(items))
    if not per_user:
        return CosineAtK(None, 0, 0.0)
    return CosineAtK(float(np.mean(per_user)), len(per_user), float(np.mean(counts)))
