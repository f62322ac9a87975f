"""A simulated audience for the demo's extra nights: served the live manifest, clicking by its planted taste.

After a night is published, ``simulate_night`` writes the next day's raw logs as a platform would:
the world's usual events (``demo/logs.py``), plus, for a share of every served (user, item) row, an
impression of a thumbnail sampled by the row's ``candidates`` probabilities (contract v2:
``thumbnail_uri``, ``propensity``) and, with a probability that depends on whether that image shows
one of the user's planted favourite categories, a click naming the impression. The probability is
also scaled by the image's own appeal, a hidden factor in [0.4, 1.6] per image (stable, from its
content address): people click some frames of a favourite more than others, which no taste score
sees and only clicks can teach (what the candidate bandit is for). The pipeline then
runs that day on those logs: ingest checks them, features count them per taste cluster, the gate's
bandit learns from them, evaluate replays them.

Because the simulator knows each image's click probability, it also knows every policy's true take
rate on the contexts it impressed (the policies of ``evaluation/replay.py``: ``logging``, the served
probabilities; ``top``, the taste ranking; ``original``; ``uniform``; ``learned``, the bandit's first
candidate). The report charts them beside the replay estimates.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date as Date

import numpy as np

from generec_core.datasets import catalog
from generec_core.datasets.layout import Layout
from generec_core.datasets.truth import LabelledTruth, read_truth, write_simulation_truth
from generec_core.demo import logs
from generec_core.evaluation.replay import best_by_taste
from generec_core.kinds import CandidateKind, ThumbnailKind

P_HIT, P_MISS = 0.3, 0.05  # click probability when the shown image is / is not a planted favourite (mean appeal)
IMPRESSIONS_PER_ROW = 1.5  # mean impressions of a served row on a simulated day (Poisson: scrolling back, reopening)
SIMULATED_PART = 1  # raw/interactions/dt=<date>/part-00001.jsonl (the world's own events are part 0)


def simulate_night(layout: Layout, date: str, seed: int = 7) -> dict:
    """Write ``date``'s raw logs (usual events + served impressions and clicks) and the true take rates."""
    truth = read_truth(layout)
    if truth is None:
        raise ValueError(f"{layout.root} holds no demo world (demo/truth): only a demo world can be simulated")
    current, _ = catalog.read_current(layout)
    if current is None:
        raise ValueError(f"nothing is published under {layout.root}: run a night before simulating the next")
    rng = np.random.default_rng([seed, Date.fromisoformat(date).toordinal()])
    users = [logs.UserTaste(u["user_id"], tuple(u["favourite_categories"]), bool(u["cold_start"]))
             for u in truth.users.values()]
    items = [logs.LogItem(i["item_id"], i["primary_category"], int(i["duration_s"] * 1000)) for i in truth.items.values()]
    layout.store.write_bytes(layout.raw_interactions_file(date, 0), _organic(logs.day_log(date, users, items, rng)))
    rows = [r for r in catalog.read_rows(layout, current["manifest"])
            if r["thumbnail_kind"] != ThumbnailKind.CREATED and truth.knows_item(r["item_id"]) and r["candidates"]]
    events, contexts = _served(rows, truth, date, rng)
    layout.store.write_bytes(layout.raw_interactions_file(date, SIMULATED_PART),
                             "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events).encode())
    served = {(r["user_id"], r["item_id"]): r for r in rows}
    picked = [served[c] for c in contexts]
    record = {"date": date, "served_by": current["run_id"], "impressions": len(contexts),
              "clicks": sum(e["event_type"] == "click" for e in events), "contexts": [list(c) for c in contexts],
              "true_take_rate": {name: _true_rate(picked, truth, choose)
                                 for name, choose in _POLICIES.items()}}
    write_simulation_truth(layout, date, record)
    return record


def click_probability(candidate: dict, item_id: str, favourites: frozenset[str] | None,
                      truth: LabelledTruth) -> float:
    """P(click) of showing ``candidate``: whether the image shows a planted favourite (the cover: the item's
    primary category; a frame or an image generated from one: the category on screen at that time)."""
    appeal = image_appeal(candidate["thumbnail_uri"])
    if not favourites:
        return P_MISS * appeal
    if candidate["kind"] in (CandidateKind.ORIGINAL, CandidateKind.CREATED) or candidate["frame_ts"] is None:
        category = truth.cover_category(item_id)
    else:
        category = truth.category_at(item_id, candidate["frame_ts"])
    return min(1.0, (P_HIT if category in favourites else P_MISS) * appeal)


def image_appeal(thumbnail_uri: str) -> float:
    """A hidden, stable click multiplier in [0.4, 1.6] per image (mean 1), from its content address."""
    name = thumbnail_uri.rsplit("/", 1)[-1]
    return 0.4 + 1.2 * int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:12], 16) / 16 ** 12


def _served(rows: list[dict], truth: LabelledTruth, date: str,
            rng: np.random.Generator) -> tuple[list[dict], list[tuple[str, str]]]:
    events, contexts = [], []
    for row in rows:
        offered = row["candidates"]
        probabilities = np.asarray([c["probability"] for c in offered])
        for _ in range(int(rng.poisson(IMPRESSIONS_PER_ROW))):
            k = int(rng.choice(len(offered), p=probabilities / probabilities.sum()))
            second = int(rng.integers(0, 86_000))
            event_id = f"sim-{date.replace('-', '')}-{len(contexts):06d}"
            base = {"user_id": row["user_id"], "item_id": row["item_id"]}
            events.append({"event_id": event_id, **base, "event_type": "impression", "ts": _ts(date, second),
                           "thumbnail_uri": offered[k]["thumbnail_uri"], "propensity": offered[k]["probability"]})
            if rng.random() < click_probability(offered[k], row["item_id"], truth.favourites(row["user_id"]), truth):
                events.append({"event_id": event_id + "-c", **base, "event_type": "click",
                               "ts": _ts(date, second + 2), "impression_id": event_id})
            contexts.append((row["user_id"], row["item_id"]))
    return events, contexts


def _organic(day: logs.DayLog) -> bytes:
    """The world's usual day without its own (v1) impressions: the served impressions take their place, so the
    day's volume stays inside the ingest gate's band."""
    def served_elsewhere(line: str) -> bool:
        try:
            return json.loads(line).get("event_type") == "impression"
        except (ValueError, AttributeError):
            return False  # the day's dirt stays: ingest must still meet it
    return "".join(line + "\n" for line in day.lines if not served_elsewhere(line)).encode("utf-8")


def _ts(date: str, second: int) -> str:
    return f"{date}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"


def _true_rate(rows: list[dict], truth: LabelledTruth, choose) -> float | None:
    """Mean over ``rows`` of the click probability under the policy ``choose(row) -> {candidate index: p}``."""
    if not rows:
        return None
    total = 0.0
    for row in rows:
        favourites = truth.favourites(row["user_id"])
        total += sum(p * click_probability(row["candidates"][k], row["item_id"], favourites, truth)
                     for k, p in choose(row).items())
    return round(total / len(rows), 6)


def _original(row: dict) -> dict[int, float]:
    kinds = [c["kind"] for c in row["candidates"]]
    return {kinds.index(CandidateKind.ORIGINAL) if CandidateKind.ORIGINAL in kinds else 0: 1.0}


_POLICIES = {
    "logging": lambda row: {k: c["probability"] for k, c in enumerate(row["candidates"])},
    "top": lambda row: {row["candidates"].index(best_by_taste(row)): 1.0},
    "original": _original,
    "uniform": lambda row: {k: 1.0 / len(row["candidates"]) for k in range(len(row["candidates"]))},
    "learned": lambda row: {0: 1.0},
}
