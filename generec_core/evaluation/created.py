"""Created items, judged for the audience they were made for (GeneRec's "create", measured).

Each published created item is embedded as its segments are: the duration-weighted unit mean
of the stored embeddings of the sampled frames inside each source range (the frames it shows,
as the frames stage embedded them). For every recipient with a taste of their own, its cosine
to that taste -- Cosine@1, one created item per audience -- is set beside two others on the
same users: the best retrieved item the same manifest shows them (each item as the mean of its
sampled frames), and a random sequence of catalogue segments of the same number and lengths
(seeded per created item: the same on every re-run). No peer reports the random-sequence
baseline; it says what the choice of segments is worth over any montage of the catalogue.

On a labelled demo world, the planted share: the fraction of a created item's seconds whose
on-screen category is one of the recipient's planted favourites, against the random sequence.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from generec_core.editor.selection import ItemFrames
from generec_core.evaluation.planted import PlantedTruth
from generec_core.kinds import ThumbnailKind

PLANTED_STEP_S = 0.1  # the on-screen category is read every this many seconds of a source range
CREATED, BEST_RETRIEVED, RANDOM = "created (ours, published)", "best retrieved item shown", "random segment sequence"


@dataclass(frozen=True)
class Range:
    item_id: str
    start_s: float
    end_s: float


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def sequence_embedding(ranges: Sequence[Range], items: Mapping[str, ItemFrames]) -> np.ndarray | None:
    """Duration-weighted unit mean of the sampled frames each range shows; None when none shows any."""
    parts = []
    for r in ranges:
        frames = items.get(r.item_id)
        if frames is None:
            continue
        inside = (frames.timestamps >= r.start_s - 1e-6) & (frames.timestamps < r.end_s - 1e-6)
        if inside.any():
            parts.append(_unit(frames.embeddings[inside].mean(0)) * (r.end_s - r.start_s))
    return _unit(np.sum(parts, axis=0)) if parts else None


def random_sequence(ranges: Sequence[Range], items: Mapping[str, ItemFrames], seed_key: str) -> list[Range]:
    """As many random catalogue segments as ``ranges``, of the same lengths, each inside a random item's video."""
    rng = np.random.default_rng(int(hashlib.sha256(seed_key.encode("utf-8")).hexdigest()[:16], 16))
    names = sorted(items)
    out = []
    for r in ranges:
        length = r.end_s - r.start_s
        fits = [n for n in names if items[n].duration_s >= length]
        if not fits:
            continue
        item = fits[int(rng.integers(len(fits)))]
        start = float(rng.uniform(0.0, items[item].duration_s - length))
        out.append(Range(item, start, start + length))
    return out


def planted_seconds(ranges: Sequence[Range], favourites: frozenset[str], truth: PlantedTruth) -> float | None:
    """Share of the ranges' seconds that show one of ``favourites``; None when the truth knows none of the items."""
    hits = total = 0
    for r in ranges:
        if not truth.knows_item(r.item_id):
            continue
        steps = max(1, int(round((r.end_s - r.start_s) / PLANTED_STEP_S)))
        for k in range(steps):
            t = r.start_s + (k + 0.5) * (r.end_s - r.start_s) / steps
            hits += truth.category_at(r.item_id, t) in favourites
            total += 1
    return hits / total if total else None


def created_evaluation(created: list[dict], rows: list[dict], items: Mapping[str, ItemFrames],
                       tastes: Mapping[str, np.ndarray], truth: PlantedTruth | None) -> dict | None:
    """The section of the evaluation summary on created items; None when the run published none."""
    if not created:
        return None
    shown: dict[str, list[str]] = defaultdict(list)  # created item -> who is shown it
    retrieved: dict[str, list[str]] = defaultdict(list)  # user -> the retrieved items the manifest shows them
    for r in rows:
        if r["thumbnail_kind"] == ThumbnailKind.CREATED:
            shown[r["item_id"]].append(r["user_id"])
        else:
            retrieved[r["user_id"]].append(r["item_id"])
    item_means = {i: _unit(f.embeddings.mean(0)) for i, f in items.items()}
    cosines: dict[str, list[float]] = {CREATED: [], BEST_RETRIEVED: [], RANDOM: []}
    planted: dict[str, list[float]] = {CREATED: [], RANDOM: []}
    per_item = []
    for item in sorted(created, key=lambda c: c["item_id"]):
        ranges = [Range(s["item_id"], s["start_s"], s["end_s"]) for s in item["sources"]]
        baseline = random_sequence(ranges, items, item["item_id"])
        ours, theirs = sequence_embedding(ranges, items), sequence_embedding(baseline, items)
        mine: dict[str, list[float]] = {CREATED: [], RANDOM: []}
        for user in shown.get(item["item_id"], []):
            taste = tastes.get(user)
            if taste is not None and ours is not None and theirs is not None:
                taste = _unit(np.asarray(taste, np.float64))
                best = max((float(taste @ item_means[i]) for i in retrieved.get(user, []) if i in item_means),
                           default=None)
                cosines[CREATED].append(float(taste @ ours))
                cosines[RANDOM].append(float(taste @ theirs))
                if best is not None:
                    cosines[BEST_RETRIEVED].append(best)
            favourites = truth.favourites(user) if truth is not None else None
            if favourites:
                for label, seq in ((CREATED, ranges), (RANDOM, baseline)):
                    share = planted_seconds(seq, favourites, truth)  # type: ignore[arg-type]
                    if share is not None:
                        planted[label].append(share)
                        mine[label].append(share)
        per_item.append({"item_id": item["item_id"], "audience": item["audience"], "title": item["title"],
                         "recipients": len(shown.get(item["item_id"], [])),
                         "planted": _mean(mine[CREATED]), "planted_random": _mean(mine[RANDOM])})
    return {"items": len(created), "pairs": len(cosines[CREATED]),
            "cosine@1": {label: _mean(values) for label, values in cosines.items()},
            "planted": {"pairs": len(planted[CREATED]), **{label: _mean(v) for label, v in planted.items()}}
            if planted[CREATED] else None,
            "per_item": per_item}


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None
