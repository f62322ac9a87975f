"""Which seconds of the catalogue a created video is made of: the windows that best match a taste.

A candidate segment is ``segment_s`` seconds of one source item starting at one of its sampled
frames, so the sampled frames it holds (and their stored embeddings) are known at exact times:
the fidelity gate compares the created frames with them. A window holding a frame the frames
stage judged poor (blank, blurry, ...) is no candidate. Its score is the mean cosine of its sampled
frames to the taste: the editor's clip score, over the whole catalogue instead of one item.

The choice is greedy, best first, under the bounds that make a video rather than a best-of list:
an item gives at most ``max_seconds_per_item`` and never overlapping windows; a segment whose mean
frame is within ``max_segment_similarity`` (cosine) of a chosen one is a near-duplicate; segments
are added until the video is ``target_duration_s`` long, never beyond ``max_duration_s``, and with
fewer than ``min_duration_s`` of such material the audience gets no video. Crossfades overlap
neighbours by ``transition_s``, which the durations account for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from generec_core.config import CreatorConfig
from generec_core.editor.selection import ItemFrames

_EPS = 1e-6


@dataclass(frozen=True)
class Segment:
    item_id: str
    start_s: float
    end_s: float
    score: float  # mean cosine of its sampled frames to the taste
    mean: np.ndarray  # unit mean of its sampled frames' embeddings (near-duplicates, evaluation)
    best_ts: float  # its best-matching sampled frame's time (the cover, the keyframe)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


def candidate_segments(items: Mapping[str, ItemFrames], taste: np.ndarray, segment_s: float) -> list[Segment]:
    """Every window of ``segment_s`` seconds that starts at a sampled frame, ends inside its video and holds
    only good sampled frames, scored against ``taste`` (a unit vector)."""
    out = []
    for item_id, frames in sorted(items.items()):
        ts, poor = frames.timestamps, frames.poor if frames.poor is not None else np.zeros(len(frames.timestamps), bool)
        sims = frames.embeddings @ taste
        for start in ts:
            end = start + segment_s
            if end > frames.duration_s + _EPS:
                break
            inside = (ts >= start - _EPS) & (ts < end - _EPS)
            if poor[inside].any():
                continue
            best = int(np.argmax(np.where(inside, sims, -np.inf)))
            out.append(Segment(item_id, round(float(start), 6), round(float(end), 6), float(sims[inside].mean()),
                               unit(frames.embeddings[inside].mean(0)), round(float(ts[best]), 6)))
    return out


def created_duration(durations: Iterable[float], transition_s: float) -> float:
    """How long segments of these durations last once joined: each crossfade overlaps two neighbours."""
    durations = list(durations)
    return sum(durations) - transition_s * max(0, len(durations) - 1)


def choose_segments(candidates: list[Segment], cfg: CreatorConfig) -> list[Segment]:
    """The segments of one created video, in playback order (best first); [] when the material is too thin."""
    chosen: list[Segment] = []
    per_item: dict[str, float] = {}
    total = 0.0
    for seg in sorted(candidates, key=lambda s: (-s.score, s.item_id, s.start_s)):
        if total >= cfg.target_duration_s - _EPS:
            break
        added = seg.duration_s - (cfg.transition_s if chosen else 0.0)
        if total + added > cfg.max_duration_s + _EPS:
            continue
        if per_item.get(seg.item_id, 0.0) + seg.duration_s > cfg.max_seconds_per_item + _EPS:
            continue
        if any(c.item_id == seg.item_id and c.start_s < seg.end_s - _EPS and seg.start_s < c.end_s - _EPS
               for c in chosen):
            continue
        if any(float(c.mean @ seg.mean) > cfg.max_segment_similarity for c in chosen):
            continue
        chosen.append(seg)
        per_item[seg.item_id] = per_item.get(seg.item_id, 0.0) + seg.duration_s
        total += added
    return chosen if total >= cfg.min_duration_s - _EPS else []
