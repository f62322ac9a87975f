"""Scale curve: per-stage time and peak memory of the scale-relevant kernels at growing sizes.

The real stages need videos; what grows with the audience and the catalogue is three kernels,
measured here with the library's own functions on synthetic, seeded embeddings and logs:

* ``taste``: ``spark.features.Scorer._tastes``, the weighted (Rocchio) mean of each user's
  cover embeddings (sparse user x cover product), over all users in the blocks
  ``Scorer.score_batch`` uses. Work: the log's events (user, item pairs) x d.
* ``candidates``: ``Scorer.score_batch``, what the features job runs per Arrow batch of users:
  tastes, then the exact brute-force top-K (cosine against every item vector, seen items
  masked, ``_top_k`` per user) and the output rows. ALS is off (it is Spark MLlib).
  Work: users x items x d.
* ``ann_candidates``: the same ``Scorer.score_batch`` with the faiss IVF index
  (``retrieval.ann.AnnIndex``, ``FeaturesConfig.ann_nprobe``) that the features job uses from
  ``ann_min_items`` items on. Random isotropic vectors have no neighbourhoods to index, so this
  stage's items are clustered (``--looks`` centres, noise ``--spread`` times a centre's size)
  and an item's cover is its own vector (tastes are then means of liked items). Seconds are the
  scoring (query) time; the detail gives the index build time and recall@K of the primary
  list against the exact scorer's over the first ``--recall-users`` users (warm ones).
* ``selection``: ``editor.scorer.score_pairs`` for the users' K candidates (random items,
  ``--frames`` frames each): best thumbnail frame + clip window. Work: pairs x frames x d.

A size is ITEMSxUSERS; each user has about ``--events`` distinct items in the log (item
popularity Zipf-like, ~30% liked, the rest clicks / watches / skips). Each (size, stage) runs
in its own child process, which generates only the data that stage needs and reports the
stage's seconds and its peak RSS growth over that data (resource.getrusage). The table gives
for each stage its work measure n and growth exponents log(t2 / t1) / log(x2 / x1): ``exp n``
against the previous size (x = n; 1 means linear in the work measure), ``exp I`` / ``exp U``
against the latest earlier size with the same users / items (x = items / users), so a grid
that grows one side at a time shows how each stage's time grows with the catalogue and with
the audience separately. ``--plot`` draws seconds and peak MiB against n, log-log.

Defaults (about 6 minutes on 2 CPU cores): 1000x10000, 10000x10000, 1000x100000, 1280-d.

    .venv/bin/python benchmarks/scale_curve.py [--sizes 1000x10000,10000x100000,100000x1000000]
        [--dim 1280] [--frames 32] [--events 20] [--stages taste,candidates,ann_candidates,selection]
        [--looks 256] [--spread 1.0] [--recall-users 1000] [--plot scale.png]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from selection_scorer import _rss_mb, _unit  # the same synthetic data and RSS reading (benchmarks/ is on sys.path)

STAGES = ("taste", "candidates", "ann_candidates", "selection")
WORK = {"taste": "events", "candidates": "users x items", "ann_candidates": "users x items", "selection": "pairs"}
LENGTH, STRIDE = 8, 4


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _log(rng: np.random.Generator, items: int, users: int, events: int):
    """Distinct (user, item) pairs, sorted by user then item, with liked and the decayed signal."""
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    draws = rng.choice(items, size=users * events, p=popularity / popularity.sum())
    keys = np.unique(np.repeat(np.arange(users, dtype=np.int64), events) * items + draws)
    user, item = keys // items, keys % items
    liked = rng.random(len(keys)) < 0.3
    other = rng.choice(np.array([0.4, 0.2, -0.5, 0.0]), size=len(keys))
    signal = np.where(liked, 1.0, other) * 0.5 ** (rng.random(len(keys)) * 2)
    return user, item, liked, signal


def _scorer(rng: np.random.Generator, items: int, dim: int, liked_item: np.ndarray):
    from generec_core.config import FeaturesConfig
    from generec_core.spark.features import ItemIndex, Scorer

    ids = np.array([f"i{i:08d}" for i in range(items)], dtype=object)
    index = ItemIndex(ids, _unit(rng, items, dim), ids, _unit(rng, items, dim))
    like_counts = np.bincount(liked_item, minlength=items).astype(np.float64)
    return Scorer(index, FeaturesConfig(), like_counts, index.global_taste(like_counts), None), ids


def run_taste(args: argparse.Namespace, items: int, users: int) -> dict:
    from generec_core.spark.features import _BLOCK_CELLS

    rng = np.random.default_rng(0)
    user, item, liked, signal = _log(rng, items, users, args.events)
    scorer, _ = _scorer(rng, items, args.dim, item[liked])
    block = max(1, _BLOCK_CELLS // max(items, args.dim, 1))  # the users per block score_batch uses
    bounds = np.searchsorted(user, np.arange(0, users + block, block))
    base = _rss_mb()
    t0 = time.perf_counter()
    warm = 0
    for b, start in enumerate(range(0, users, block)):
        lo, hi = bounds[b], bounds[b + 1]
        n = min(block, users - start)
        _, _, _, ok = scorer._tastes(n, user[lo:hi] - start, item[lo:hi], liked[lo:hi], signal[lo:hi])
        warm += int(ok.sum())
    seconds = time.perf_counter() - t0
    return {"n": int(len(user)), "seconds": seconds, "peak_growth_mb": _peak_mb() - base,
            "detail": f"{len(user):,} events, {warm:,} warm users, blocks of {block:,} users"}


def _users_frame(ids: np.ndarray, users: int, user, item, liked, signal) -> pd.DataFrame:
    """The per-user arrays the features job hands ``score_batch`` (one row per user)."""
    cuts = np.searchsorted(user, np.arange(1, users))
    return pd.DataFrame({"user_id": [f"u{u:09d}" for u in range(users)],
                         "item_ids": np.split(ids[item], cuts), "liked": np.split(liked, cuts),
                         "signal": np.split(signal, cuts)})


def _score_all(scorer, frame: pd.DataFrame, batch: int) -> int:
    """Candidate rows from scoring every user in Spark's Arrow batches (maxRecordsPerBatch)."""
    return sum(int(scorer.score_batch(frame.iloc[s:s + batch])["cand_item_ids"].map(len).sum())
               for s in range(0, len(frame), batch))


def run_candidates(args: argparse.Namespace, items: int, users: int) -> dict:
    rng = np.random.default_rng(0)
    user, item, liked, signal = _log(rng, items, users, args.events)
    scorer, ids = _scorer(rng, items, args.dim, item[liked])
    frame = _users_frame(ids, users, user, item, liked, signal)
    del user, item, liked, signal
    base = _rss_mb()
    t0 = time.perf_counter()
    rows = _score_all(scorer, frame, args.batch)
    seconds = time.perf_counter() - t0
    return {"n": users * items, "seconds": seconds, "peak_growth_mb": _peak_mb() - base,
            "detail": f"{rows:,} candidate rows, batches of {args.batch:,} users"}


def _clustered(rng: np.random.Generator, rows: int, dim: int, looks: int, spread: float,
               block: int = 8192) -> np.ndarray:
    """Unit rows around ``looks`` random centres, generated in place block by block (as ``_unit``)."""
    centres = rng.standard_normal((looks, dim), dtype=np.float32)
    out = np.empty((rows, dim), np.float32)
    for start in range(0, rows, block):
        part = out[start:start + block]
        rng.standard_normal(out=part, dtype=np.float32)
        part *= spread
        part += centres[rng.integers(0, looks, len(part))]
        part /= np.linalg.norm(part, axis=1, keepdims=True)
    return out


def run_ann_candidates(args: argparse.Namespace, items: int, users: int) -> dict:
    from generec_core.config import FeaturesConfig
    from generec_core.retrieval.ann import AnnIndex
    from generec_core.spark.features import ItemIndex, Scorer

    rng = np.random.default_rng(0)
    user, item, liked, signal = _log(rng, items, users, args.events)
    ids = np.array([f"i{i:08d}" for i in range(items)], dtype=object)
    matrix = _clustered(rng, items, args.dim, args.looks, args.spread)
    index = ItemIndex(ids, matrix, ids, matrix)
    like_counts = np.bincount(item[liked], minlength=items).astype(np.float64)
    features = FeaturesConfig()
    exact = Scorer(index, features, like_counts, index.global_taste(like_counts), None)
    frame = _users_frame(ids, users, user, item, liked, signal)
    del user, item, liked, signal
    base = _rss_mb()
    t0 = time.perf_counter()
    ann = AnnIndex.build(matrix, features.ann_nprobe, features.seed)
    build = time.perf_counter() - t0
    scorer = dataclasses.replace(exact, ann=ann)
    t0 = time.perf_counter()
    rows = _score_all(scorer, frame, args.batch)
    seconds = time.perf_counter() - t0
    peak = _peak_mb() - base
    sample = frame.iloc[:args.recall_users]
    want, got = exact.score_batch(sample), scorer.score_batch(sample)
    warm = ~want["is_cold"].to_numpy()
    hits = [len(set(w) & set(g)) / max(len(w), 1) for w, g in
            zip(want["cand_item_ids"][warm], got["cand_item_ids"][warm])]
    recall = float(np.mean(hits)) if hits else float("nan")
    return {"n": users * items, "seconds": seconds, "peak_growth_mb": peak, "build_seconds": build,
            "recall": recall,
            "detail": f"build {build:.2f} s ({ann.nlist} lists, nprobe {ann.nprobe}), recall@{features.top_k} "
                      f"{recall:.3f} over {int(warm.sum()):,} warm users; {rows:,} candidate rows"}


def run_selection(args: argparse.Namespace, items: int, users: int) -> dict:
    from generec_core.editor.scorer import score_pairs
    from generec_core.editor.selection import ItemFrames

    rng = np.random.default_rng(0)
    tastes = _unit(rng, users, args.dim)
    frames = _unit(rng, items * args.frames, args.dim).reshape(items, args.frames, args.dim)
    pair_user = np.repeat(np.arange(users), args.top_k)
    pair_item = rng.integers(0, items, len(pair_user))
    ts = np.arange(args.frames, dtype=np.float64) * 0.2
    bank = [ItemFrames(frames[i], ts, args.frames * 0.2) for i in range(items)]
    base = _rss_mb()
    t0 = time.perf_counter()
    score_pairs(tastes, pair_user, pair_item, bank, length=LENGTH, stride=STRIDE, chunk_rows=args.chunk_rows)
    seconds = time.perf_counter() - t0
    return {"n": int(len(pair_user)), "seconds": seconds, "peak_growth_mb": _peak_mb() - base,
            "detail": f"{len(pair_user):,} pairs x {args.frames} frames; frame bank {frames.nbytes / 2**20:,.0f} MiB"}


RUN = {"taste": run_taste, "candidates": run_candidates, "ann_candidates": run_ann_candidates,
       "selection": run_selection}


def _child(args: argparse.Namespace, stage: str, items: int, users: int) -> dict:
    argv = [sys.executable, __file__, "--only", f"{stage}:{items}x{users}", f"--dim={args.dim}",
            f"--frames={args.frames}", f"--events={args.events}", f"--top-k={args.top_k}",
            f"--batch={args.batch}", f"--chunk-rows={args.chunk_rows}", f"--looks={args.looks}",
            f"--spread={args.spread}", f"--recall-users={args.recall_users}"]
    t0 = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["child_seconds"] = time.perf_counter() - t0
    return result


def _exponent(new: dict, old: dict | None, key: str) -> str:
    """log(t2/t1) / log(x2/x1) for ``key``; blank when there is no earlier point or x grew < 1.5x."""
    if old is None or old["seconds"] <= 0 or new[key] < 1.5 * old[key]:
        return ""
    return f"{math.log(new['seconds'] / old['seconds']) / math.log(new[key] / old[key]):.2f}"


def _sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        items, users = part.lower().split("x")
        out.append((int(float(items)), int(float(users))))
    return out


def _plot(path: str, results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    def short(x: int) -> str:
        return f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k" if x >= 1e3 else str(x)

    for stage, rows in results.items():  # markers only: sizes may grow items, users or both
        n = [r["n"] for r in rows]
        for ax, key in ((axes[0], "seconds"), (axes[1], "peak_growth_mb")):
            ys = [max(r[key], 0.1) for r in rows]
            ax.loglog(n, ys, "o", label=f"{stage} (n = {WORK[stage]})")
            for r, x, y in zip(rows, n, ys):
                ax.annotate(f"{short(r['items'])}x{short(r['users'])}", (x, y), fontsize=7,
                            xytext=(4, 3), textcoords="offset points")
    axes[0].set(xlabel="n (the stage's work measure)", ylabel="seconds", title="time")
    axes[1].set(xlabel="n (the stage's work measure)", ylabel="peak RSS growth (MiB)", title="peak memory")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("labels: items x users", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    from generec_core.config import EditorConfig, FeaturesConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000x10000,10000x10000,1000x100000", help="ITEMSxUSERS,...")
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--frames", type=int, default=32, help="sampled frames per item (selection)")
    ap.add_argument("--events", type=int, default=20, help="log items drawn per user (before de-dup)")
    ap.add_argument("--top-k", type=int, default=FeaturesConfig.top_k, help="candidates per user (selection)")
    ap.add_argument("--batch", type=int, default=10_000, help="users per Arrow batch (candidates)")
    ap.add_argument("--chunk-rows", type=int, default=EditorConfig.chunk_rows)
    ap.add_argument("--looks", type=int, default=256, help="cluster centres of the items (ann_candidates)")
    ap.add_argument("--spread", type=float, default=1.0, help="noise / centre size of the items (ann_candidates)")
    ap.add_argument("--recall-users", type=int, default=1000, help="users whose lists give recall@K (ann_candidates)")
    ap.add_argument("--plot", help="write a log-log chart (PNG) to this path")
    ap.add_argument("--only", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only:
        stage, size = args.only.split(":")
        print(json.dumps(RUN[stage](args, *_sizes(size)[0])))
        return
    import torch

    sizes, stages = _sizes(args.sizes), [s for s in args.stages.split(",") if s]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; {args.dim}-d, {args.events} events "
          f"drawn per user, top-{args.top_k}, {args.frames} frames per item; sizes (items x users): "
          + ", ".join(f"{i:,}x{u:,}" for i, u in sizes))
    print(f"{'items':>9} {'users':>10} {'stage':<14} {'n':>15} {'seconds':>9} {'peak MiB':>9} "
          f"{'exp n':>6} {'exp I':>6} {'exp U':>6}  detail")
    results: dict[str, list[dict]] = {s: [] for s in stages}
    for items, users in sizes:
        for stage in stages:
            r = _child(args, stage, items, users)
            r["items"], r["users"] = items, users
            rows = results[stage]
            e_n = _exponent(r, rows[-1] if rows else None, "n")
            e_items = _exponent(r, next((p for p in reversed(rows) if p["users"] == users), None), "items")
            e_users = _exponent(r, next((p for p in reversed(rows) if p["items"] == items), None), "users")
            rows.append(r)
            print(f"{items:9,} {users:10,} {stage:<14} {r['n']:15,} {r['seconds']:9.2f} "
                  f"{r['peak_growth_mb']:9.0f} {e_n:>6} {e_items:>6} {e_users:>6}  {r['detail']} "
                  f"(child {r['child_seconds']:.0f} s)", flush=True)
    print("exp n: log(t2/t1) / log(n2/n1) against the previous size (n = the stage's work measure); "
          "exp I / exp U: the same against the latest earlier size with the same users / items, per items / users")
    if args.plot:
        _plot(args.plot, results)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
