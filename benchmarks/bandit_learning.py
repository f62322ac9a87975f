"""How fast the candidate bandit learns: its ranking's true take rate against the taste ranking's, night by night.

Takes a demo world with a published manifest (``generec demo --root R``), and re-serves that manifest's rows
to the demo's simulated audience (``demo/simulator.py``: its click probabilities, its impressions per row)
for ``--nights`` nights, without running the pipeline: each night a ``--share`` of the rows is served (a
worklist changes from night to night), each by the candidates ranked on the clicks of the nights before, the
first with ``1 - exploration``. Because the simulator knows every image's click probability, each ranking's
true take rate on the night's impressions is exact. Compared in the same run, on the same seeds:

- ``top``: the taste ranking (the baseline, ratio 1);
- ``bandit``: ``editor/bandit.py`` with the configured ``EditorConfig``;
- ``fixed-centre``: the same bandit with its prior centred on ``prior_take_rate`` alone, prior 10, UCB width 1
  (the bandit as first landed);
- ``oracle``: the candidate the simulator knows is best (the ceiling).

    .venv/bin/python benchmarks/bandit_learning.py --root /tmp/demo [--nights 3] [--seeds 4] [--share 0.5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from typing import Callable

import numpy as np

from generec_core.config import EditorConfig, normalise_root
from generec_core.datasets import catalog
from generec_core.datasets.layout import Layout
from generec_core.datasets.truth import read_truth
from generec_core.datasets.users import read_user_features
from generec_core.demo.simulator import IMPRESSIONS_PER_ROW, click_probability
from generec_core.editor.bandit import Feedback, rank
from generec_core.editor.candidates import explore
from generec_core.evaluation.replay import best_by_taste

Ranker = Callable[[dict, Feedback | None], dict]  # row, feedback so far -> the candidate shown first


def served_rows(layout: Layout) -> tuple[list[dict], dict[str, str]]:
    """The live manifest's rows with candidates (each with its ``asset`` and true click probability ``p``), and
    each user's taste cluster on the manifest's date."""
    truth = read_truth(layout)
    current, _ = catalog.read_current(layout)
    if truth is None or current is None:
        raise SystemExit(f"{layout.root} holds no published demo world: run `generec demo --root ...` first")
    rows = [r for r in catalog.read_rows(layout, current["manifest"])
            if r["thumbnail_kind"] != "created" and r["candidates"] and truth.knows_item(r["item_id"])]
    for row in rows:
        for c in row["candidates"]:
            c["asset"] = catalog.asset_name(c["thumbnail_uri"])
            c["p"] = click_probability(c, row["item_id"], truth.favourites(row["user_id"]), truth)
    users = read_user_features(layout, current["date"], ["user_id", "cluster"])
    return rows, {u: str(c) for u, c in zip(users["user_id"].to_pylist(), users["cluster"].to_pylist())}


def bandit(editor: EditorConfig, empirical_centre: bool = True) -> Ranker:
    """``editor/bandit.py``'s first candidate; without ``empirical_centre`` its prior is centred on
    ``prior_take_rate`` alone, whatever the group's take rate (the bandit as first landed)."""
    def first(row: dict, feedback: Feedback | None) -> dict:
        if feedback is None:
            return row["candidates"][0]
        base = feedback.base_rate(row["user_id"], editor) if empirical_centre else None
        return rank(row["candidates"], feedback.evidence(row["user_id"]), editor, base)[0]
    return first


def simulate(rows: list[dict], clusters: dict[str, str], shows: Ranker, nights: int, share: float,
             exploration: float, seed: int) -> list[dict[str, float]]:
    """Per night: the true take rate of ``shows``' first candidate, of ``top`` and of the oracle, over the
    night's impressions (sampled from ``shows``' ranking with exploration)."""
    rng = np.random.default_rng(seed)
    impressions: Counter = Counter()  # (cluster, asset) -> impressions, clicks over the nights so far
    clicks: Counter = Counter()
    out = []
    for _ in range(nights + 1):
        feedback = Feedback(clusters, {key: (n, clicks[key]) for key, n in impressions.items()}, {}) \
            if impressions else None
        totals: Counter = Counter()
        for row in rows:
            if rng.random() >= share:
                continue
            first = shows(row, feedback)
            ranked = [first] + [c for c in row["candidates"] if c is not first]
            probabilities = explore(len(ranked), exploration)
            cluster = clusters.get(row["user_id"], "")
            for _ in range(int(rng.poisson(IMPRESSIONS_PER_ROW))):
                shown = ranked[int(rng.choice(len(ranked), p=probabilities))]
                key = (cluster, shown["asset"])
                impressions[key] += 1
                clicks[key] += int(rng.random() < shown["p"])
                totals.update({"learned": first["p"], "top": best_by_taste(row)["p"],
                               "oracle": max(c["p"] for c in ranked), "impressions": 1})
        out.append({k: totals[k] / max(totals["impressions"], 1) for k in ("learned", "top", "oracle")})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--nights", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--share", type=float, default=0.5, help="share of the manifest's rows served each night")
    args = parser.parse_args()
    rows, clusters = served_rows(Layout(normalise_root(args.root)))
    editor = EditorConfig()
    first_landed = dataclasses.replace(editor, prior_strength=10.0, ucb_width=1.0)
    rankers = {"bandit": bandit(editor), "fixed-centre": bandit(first_landed, empirical_centre=False)}
    print(f"{len(rows)} rows, {np.mean([len(r['candidates']) for r in rows]):.2f} candidates per row, "
          f"{args.seeds} seeds, share {args.share}, exploration {editor.exploration}")
    results = {}
    for name, ranker in rankers.items():
        runs = [simulate(rows, clusters, ranker, args.nights, args.share, editor.exploration, seed)
                for seed in range(args.seeds)]
        nights = [{k: float(np.mean([r[n][k] for r in runs])) for k in runs[0][0]} for n in range(args.nights + 1)]
        results[name] = nights
        print(f"{name:13s} " + "  ".join(
            f"night {n}: {v['learned']:.4f} vs top {v['top']:.4f} ({v['learned'] - v['top']:+.4f}, "
            f"x{v['learned'] / v['top']:.3f}; oracle {v['oracle']:.4f})" for n, v in enumerate(nights)))
    print(json.dumps({"bandit_learning": results}))


if __name__ == "__main__":
    main()
