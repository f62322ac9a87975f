"""Thumbnail + clip scorer throughput and memory: ours (candidate pairs only) vs the official form.

The official GeneRec code scores, per item, ALL users against that item's frames and then
reads off the pairs it needs. Ours (``editor.scorer.score_pairs``) multiplies only each
item's candidate users' tastes by its frames, packed into chunked batched matrix products.
Both do the same work per pair (argmax frame + best clip window, L=8, S=4) on the same
seeded data; each runs in its own child process so its peak RSS growth is its own.
The official form is timed on a subset of items and extrapolated (its cost is the same
for every item: all users x frames); on that subset both must choose identically.

Roofline: the scorer's arithmetic is one ``bmm`` per block, (items, widest item's pairs, d) x
(items, d, frames), so the FLOPs it needs are 2 x pairs x frames x d (padding cells not counted).
In the same child, after the scorer, ``torch.bmm`` alone is timed on exactly the scorer's block
shapes (from its own block planner, same thread count, buffers allocated once); its GFLOP/s
(padded FLOPs / its time) is the roofline, and roofline / ours is how far the whole scorer
(gathers, argmax, window means, stability, copies out) is from the matrix products alone.

Defaults: 1M pairs (100k users x 10 candidates) x 32 frames x 1280-d, 2,000 items, CPU.

    .venv/bin/python benchmarks/selection_scorer.py [--pairs N] [--users U] [--items I] [--official-items K]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from generec_core.editor.scorer import DEFAULT_CHUNK_ROWS, _blocks, score_pairs
from generec_core.editor.selection import ItemFrames, window_means

LENGTH, STRIDE = 8, 4


def _unit(rng: np.random.Generator, rows: int, dim: int, block: int = 8192) -> np.ndarray:
    """Unit rows generated in place, block by block: no full-size temporaries skew the RSS baseline."""
    out = np.empty((rows, dim), np.float32)
    for start in range(0, rows, block):
        part = out[start:start + block]
        rng.standard_normal(out=part, dtype=np.float32)
        part /= np.linalg.norm(part, axis=1, keepdims=True)
    return out


def _data(args: argparse.Namespace):
    rng = np.random.default_rng(0)
    tastes = _unit(rng, args.users, args.dim)
    frames = _unit(rng, args.items * args.frames, args.dim).reshape(args.items, args.frames, args.dim)
    per_user = args.pairs // args.users
    pair_user = np.repeat(np.arange(args.users), per_user)
    pair_item = rng.integers(0, args.items, len(pair_user))
    ts = np.arange(args.frames, dtype=np.float64) * 0.2
    items = [ItemFrames(frames[i], ts, args.frames * 0.2) for i in range(args.items)]
    return tastes, frames, pair_user, pair_item, items


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bmm_roofline(pair_item: np.ndarray, n_frames: np.ndarray, dim: int, chunk_rows: int, repeats: int = 2) -> dict:
    """torch.bmm alone on the scorer's block shapes: best of ``repeats`` passes over all blocks."""
    shapes = [(len(block), max(len(pos) for _, pos in block), frames)
              for frames, block in _blocks(pair_item, n_frames, chunk_rows)]
    biggest = max(b * w for b, w, _ in shapes)
    gen = torch.Generator().manual_seed(0)
    left = torch.randn(biggest * dim, generator=gen)
    right = torch.randn(max(b * f for b, _, f in shapes) * dim, generator=gen)
    out = torch.empty(max(b * w * f for b, w, f in shapes))
    padded = sum(2 * b * w * f * dim for b, w, f in shapes)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b, w, f in shapes:
            torch.bmm(left[:b * w * dim].view(b, w, dim), right[:b * f * dim].view(b, f, dim).transpose(1, 2),
                      out=out[:b * w * f].view(b, w, f))
        best = min(best, time.perf_counter() - t0)
    return {"blocks": len(shapes), "padded_flops": padded, "seconds": best}


def run_ours(args: argparse.Namespace) -> dict:
    tastes, _, pair_user, pair_item, items = _data(args)
    base = _rss_mb()
    t0 = time.perf_counter()
    choices = score_pairs(tastes, pair_user, pair_item, items, length=LENGTH, stride=STRIDE,
                          chunk_rows=args.chunk_rows)
    seconds = time.perf_counter() - t0
    peak = _peak_mb() - base
    check = np.flatnonzero(pair_item < args.official_items)
    n_frames = np.full(args.items, args.frames, np.int64)
    roofline = bmm_roofline(pair_item, n_frames, args.dim, args.chunk_rows)
    return {"pairs": len(pair_user), "seconds": seconds, "peak_growth_mb": peak,
            "flops": 2 * len(pair_user) * args.frames * args.dim, "roofline": roofline,
            "threads": torch.get_num_threads(),
            "check_frame_idx": choices.frame_idx[check].tolist(), "check_window": choices.window_start[check].tolist()}


def run_official(args: argparse.Namespace) -> dict:
    """Per item: every user x the item's frames, then argmax / windows for the item's candidates."""
    tastes, frames, pair_user, pair_item, _ = _data(args)
    users_t = torch.from_numpy(tastes)
    base = _rss_mb()
    frame_idx = np.zeros(len(pair_user), np.int64)
    window = np.zeros(len(pair_user), np.int64)
    timed_pairs = 0
    t0 = time.perf_counter()
    for i in range(args.official_items):
        sims = users_t @ torch.from_numpy(frames[i]).T  # (all users, frames)
        mine = np.flatnonzero(pair_item == i)
        rows = sims[torch.from_numpy(pair_user[mine])]
        frame_idx[mine] = rows.argmax(dim=1).numpy()
        means, starts = window_means(rows, LENGTH, STRIDE)
        window[mine] = np.asarray(starts)[means.argmax(dim=1).numpy()]
        timed_pairs += len(mine)
    seconds = time.perf_counter() - t0
    check = np.flatnonzero(pair_item < args.official_items)
    per_item = seconds / args.official_items
    return {"pairs": len(pair_user), "timed_pairs": timed_pairs, "seconds_per_item": per_item,
            "seconds": per_item * args.items, "peak_growth_mb": _peak_mb() - base,
            "check_frame_idx": frame_idx[check].tolist(), "check_window": window[check].tolist()}


def _child(args: argparse.Namespace, which: str) -> dict:
    argv = [sys.executable, __file__, "--only", which] + [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
                                                          if k != "only"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=2_000)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--official-items", type=int, default=20, help="items timed for the (slow) official form")
    ap.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    ap.add_argument("--only", choices=("ours", "official"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only:
        print(json.dumps((run_ours if args.only == "ours" else run_official)(args)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; {args.pairs:,} pairs "
          f"({args.users:,} users x {args.pairs // args.users} candidates), {args.items:,} items x "
          f"{args.frames} frames x {args.dim}-d, chunk_rows={args.chunk_rows}")
    ours, official = _child(args, "ours"), _child(args, "official")
    agree = (ours["check_frame_idx"] == official["check_frame_idx"]) and (ours["check_window"] == official["check_window"])
    ours_rate, official_rate = ours["pairs"] / ours["seconds"], official["pairs"] / official["seconds"]
    print(f"ours:     {ours_rate:12,.0f} pairs/s  ({ours['seconds']:.1f} s for all pairs, "
          f"peak RSS +{ours['peak_growth_mb']:.0f} MB over the data)")
    print(f"official: {official_rate:12,.0f} pairs/s  ({official['seconds_per_item']:.3f} s per item x "
          f"{args.items:,} items = {official['seconds']:.0f} s, extrapolated from {args.official_items} items; "
          f"peak RSS +{official['peak_growth_mb']:.0f} MB over the data)")
    print(f"speed-up: {ours_rate / official_rate:.1f}x; same choices on the {len(ours['check_frame_idx']):,} "
          f"pairs of the timed items: {agree}")
    roof = ours["roofline"]
    ours_gflops = ours["flops"] / ours["seconds"] / 1e9
    roof_gflops = roof["padded_flops"] / roof["seconds"] / 1e9
    print(f"roofline ({ours['threads']} threads, torch.bmm alone on the scorer's {roof['blocks']} block shapes):")
    print(f"  {'':10} {'GFLOP':>8} {'seconds':>8} {'GFLOP/s':>8}")
    print(f"  {'ours':10} {ours['flops'] / 1e9:8.1f} {ours['seconds']:8.2f} {ours_gflops:8.1f}   "
          f"(needed: 2 x pairs x frames x d)")
    print(f"  {'torch.bmm':10} {roof['padded_flops'] / 1e9:8.1f} {roof['seconds']:8.2f} {roof_gflops:8.1f}   "
          f"(padded block shapes; padding {roof['padded_flops'] / ours['flops'] - 1:.1%})")
    print(f"  roofline / ours: {roof_gflops / ours_gflops:.2f}x (target <= 3x); "
          f"speed-up vs official: {ours_rate / official_rate:.1f}x (target >= 100x)")


if __name__ == "__main__":
    main()
