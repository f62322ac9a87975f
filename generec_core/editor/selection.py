"""Personalised thumbnail and clip selection: the paper's reference algorithms.

Thumbnail = the sampled frame with the highest cosine similarity to the user's taste.
Clip = the window of ``L`` consecutive sampled frames (stride ``S``) whose mean similarity
is highest. Unlike the official code, windows run over *frames* (not items), and a final
window ending at the last frame is always considered, so a video's ending can win.

Scoring is grouped by item: for each item one matrix product (its candidate users' tastes
x its frames), so cost is proportional to candidate pairs, never to users x all items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

TIME_TOLERANCE_S = 1e-3  # a time stored in a manifest matches a sampled frame to within a millisecond


@dataclass(frozen=True)
class ItemFrames:
    """Sampled-frame embeddings of one item (rows L2-normalised) and their timestamps."""

    embeddings: np.ndarray  # (F, d) float32
    timestamps: np.ndarray  # (F,) float64 seconds
    duration_s: float
    poor: np.ndarray | None = None  # (F,) bool: frame flagged poor quality; None = all good


@dataclass(frozen=True)
class Selection:
    frame_idx: int
    frame_score: float
    window_start: int  # first sampled frame of the clip window
    window_end: int  # last sampled frame of the clip window (inclusive)
    clip_score: float


def window_starts(n_frames: int, length: int, stride: int) -> list[int]:
    """Start indices of the clip windows, including one that ends exactly at the last frame."""
    if n_frames <= length:
        return [0]
    starts = list(range(0, n_frames - length + 1, stride))
    last = n_frames - length
    if starts[-1] != last:
        starts.append(last)
    return starts


def window_means(sims: torch.Tensor, length: int, stride: int) -> tuple[torch.Tensor, list[int]]:
    """Mean similarity of every clip window, for a (users, frames) similarity matrix."""
    import torch  # here, not at the top: the item frames' types are read by stages that never score

    n_frames = sims.shape[1]
    starts = window_starts(n_frames, length, stride)
    span = min(length, n_frames)
    means = torch.nn.functional.avg_pool1d(sims[:, None, :], span, stride)[:, 0, :]  # windows at 0, stride, ...
    if means.shape[1] < len(starts):  # the final window, ending at the last frame
        means = torch.cat([means, sims[:, n_frames - span:].mean(dim=1, keepdim=True)], dim=1)
    return means, starts


def clip_bounds(item: ItemFrames, window_start: int, window_end: int) -> tuple[float, float]:
    """Seconds covered by a window: from its first frame to the next sampled frame (or the end)."""
    ts = item.timestamps
    start = float(ts[window_start])
    end = float(ts[window_end + 1]) if window_end + 1 < len(ts) else float(item.duration_s)
    return start, max(end, start + 1e-3)


def select_for_item(tastes: np.ndarray, item: ItemFrames, length: int, stride: int,
                    device: str = "cpu") -> list[Selection]:
    """Best frame and best clip window of one item for each of its candidate users' tastes."""
    import torch

    taste_t = torch.as_tensor(tastes, dtype=torch.float32, device=device)
    frames_t = torch.as_tensor(item.embeddings, dtype=torch.float32, device=device)
    sims = taste_t @ frames_t.T  # (U, F): cosine, both sides unit-norm
    frame_score, frame_idx = sims.max(dim=1)
    means, starts = window_means(sims, length, stride)
    clip_score, best_window = means.max(dim=1)
    span = min(length, sims.shape[1])
    out = []
    for u in range(sims.shape[0]):
        start = starts[int(best_window[u])]
        out.append(Selection(int(frame_idx[u]), float(frame_score[u]), start, start + span - 1,
                             float(clip_score[u])))
    return out
