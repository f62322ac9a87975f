"""What a (user, item) row may show, and with which probability: the serving candidates.

A recommender that only ever shows its best guess never learns whether another image would
have been played. Each row therefore offers a few candidates: the chosen thumbnail, the next best
distinct frames (``runner_up_frames``), the frame a generated thumbnail was made from, and the
original cover. The chosen one is shown with probability ``1 - exploration``; the others share the
exploration equally, so every candidate has a known, non-zero probability and a serving system
that samples by it, and logs what it showed with that probability, produces logs on which any
other ranking can be judged offline (inverse propensity scoring).
"""

from __future__ import annotations

import numpy as np

from generec_core.editor.selection import ItemFrames
from generec_core.kinds import CandidateKind, ThumbnailKind


def runner_up_frames(taste: np.ndarray, frames: ItemFrames, chosen: int, count: int, max_similarity: float,
                     use_quality: bool = True) -> list[tuple[int, float]]:
    """The next best frames for ``taste`` after ``chosen`` with their scores, best first: none poor (when
    ``use_quality``), none closer than ``max_similarity`` (cosine) to the chosen frame or an earlier runner-up."""
    if count <= 0:
        return []
    scores = frames.embeddings @ np.asarray(taste, np.float32)
    picked: list[int] = []
    for idx in np.argsort(-scores, kind="stable"):
        idx = int(idx)
        if idx == chosen or (use_quality and frames.poor is not None and frames.poor[idx]):
            continue
        offered = frames.embeddings[[chosen, *picked]]
        if float((offered @ frames.embeddings[idx]).max()) > max_similarity:
            continue
        picked.append(idx)
        if len(picked) == count:
            break
    return [(idx, float(scores[idx])) for idx in picked]


def offered(row: dict) -> list[dict]:
    """A gated row's candidates (staged assets, each once), the shown thumbnail first, with their taste scores."""
    kind = row["thumbnail_kind"]
    cover_score = row.get("cover_score")
    shown_score = cover_score if kind == ThumbnailKind.ORIGINAL else row["score"]
    offers = [_offer(row["thumbnail_staged"], CandidateKind(kind).value, row["thumbnail_frame_ts"], shown_score,
                     row.get("thumbnail_frame_idx"))]
    if kind != ThumbnailKind.CREATED:
        if kind == ThumbnailKind.GENERATED and row.get("selected_staged"):
            offers.append(_offer(row["selected_staged"], CandidateKind.SELECTED.value, row["thumbnail_frame_ts"],
                                 row["score"], row.get("thumbnail_frame_idx")))
        offers += [_offer(r["staged"], CandidateKind.RUNNER_UP.value, r["frame_ts"], r["score"], r["frame_idx"])
                   for r in row.get("runner_ups") or []]
        if row.get("cover_staged"):
            offers.append(_offer(row["cover_staged"], CandidateKind.ORIGINAL.value, None, cover_score, None))
    seen: set[str] = set()
    unique = []
    for offer in offers:  # an asset offered twice (a fallback's selected frame) counts once
        if offer["staged"] not in seen:
            seen.add(offer["staged"])
            unique.append(offer)
    return unique


def with_probabilities(offers: list[dict], exploration: float) -> list[dict]:
    """The candidates as stored: ``{staged, kind, frame_ts, score, probability}``, the first shown with
    ``1 - exploration``; without exploration the first alone (a candidate never has probability 0)."""
    offers = offers[:1] if exploration == 0 else offers
    return [{"staged": o["staged"], "kind": o["kind"], "frame_ts": o["frame_ts"], "score": o["score"],
             "probability": p} for o, p in zip(offers, explore(len(offers), exploration))]


def candidates(row: dict, exploration: float) -> list[dict]:
    """A gated row's candidates in the editor's order, with their probabilities."""
    return with_probabilities(offered(row), exploration)


def promote(row: dict, offer: dict) -> None:
    """Show ``offer`` (a frame or the cover the bandit ranks first) instead of the row's thumbnail."""
    if offer["kind"] == CandidateKind.ORIGINAL:
        row.update(thumbnail_kind=ThumbnailKind.ORIGINAL.value, thumbnail_staged=offer["staged"],
                   thumbnail_frame_idx=None, thumbnail_frame_ts=None, score=None, generator_id=None)
    else:
        row.update(thumbnail_kind=ThumbnailKind.SELECTED.value, thumbnail_staged=offer["staged"],
                   thumbnail_frame_idx=offer["frame_idx"], thumbnail_frame_ts=offer["frame_ts"],
                   score=offer["score"], generator_id=None)


def _offer(staged: str, kind: str, frame_ts: float | None, score: float | None, frame_idx: int | None) -> dict:
    return {"staged": staged, "kind": kind, "frame_ts": frame_ts, "score": score, "frame_idx": frame_idx}


def explore(n: int, exploration: float) -> list[float]:
    """The first of ``n`` candidates gets ``1 - exploration``, the others share it equally (sum exactly 1)."""
    if n <= 1:
        return [1.0] * n
    rest = exploration / (n - 1)
    return [1.0 - rest * (n - 1)] + [rest] * (n - 1)
