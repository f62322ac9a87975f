"""Thumbnail/clip scorer throughput: ours (grouped by item, candidates only) vs the official form.

The official GeneRec code scores per item *all users* against that item's frames, then
keeps the candidate pairs. Ours multiplies only each item's candidate users' tastes by its
frames. Both run on the same synthetic data in the same process; the script prints pairs/s
for each, their ratio and the peak RSS growth. Defaults: 1M pairs, 32 frames, 1280-d.

    .venv/bin/python benchmarks/selection_scorer.py [--pairs N] [--users U] [--items I]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from generec_core.editor.selection import ItemFrames, select_for_item


def _unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    x = rng.standard_normal(shape, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=2_000)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--official-items", type=int, default=50, help="items timed for the (slow) official form")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    tastes = _unit(rng, args.users, args.dim)
    frames = _unit(rng, args.items, args.frames, args.dim)
    pair_users = rng.integers(0, args.users, args.pairs)
    pair_items = rng.integers(0, args.items, args.pairs)
    order = np.argsort(pair_items, kind="stable")
    bounds = np.searchsorted(pair_items[order], np.arange(args.items + 1))
    ts = np.arange(args.frames, dtype=np.float64) * 0.2
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device cpu")

    base_mb = _peak_mb()
    t0 = time.perf_counter()
    for i in range(args.items):
        users = pair_users[order[bounds[i]:bounds[i + 1]]]
        if len(users):
            select_for_item(tastes[users], ItemFrames(frames[i], ts, args.frames * 0.2), 8, 4)
    ours_s = time.perf_counter() - t0
    ours_rate = args.pairs / ours_s
    ours_mb = _peak_mb() - base_mb

    # Official formulation: per item, every user x the item's frames, then argmax; timed on a
    # subset of items and extrapolated per pair (it is linear in the number of items).
    t_users = torch.from_numpy(tastes)
    t0 = time.perf_counter()
    official_pairs = 0
    for i in range(args.official_items):
        sims = t_users @ torch.from_numpy(frames[i]).T
        sims.max(dim=1)
        official_pairs += bounds[i + 1] - bounds[i]
    official_s = time.perf_counter() - t0
    official_rate = official_pairs / official_s
    print(f"ours:     {ours_rate:,.0f} pairs/s  ({args.pairs:,} pairs in {ours_s:.1f}s, peak RSS +{ours_mb:.0f} MB)")
    print(f"official: {official_rate:,.0f} pairs/s  (all {args.users:,} users x frames per item, "
          f"{args.official_items} items timed)")
    print(f"speed-up: {ours_rate / official_rate:.1f}x")


if __name__ == "__main__":
    main()
