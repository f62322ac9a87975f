"""A published run's evaluation: Cosine@K in the paper's form, and the planted-taste share.

Inputs are what the run left behind, read by the evaluate stage: the manifest rows (what users
are shown, after the gate's fallbacks), each item's ranks, frames and cover, the users' tastes
and their liked covers up to the date. Baselines are computed on the same users and items: the
original cover, a random frame (seeded per pair), a random clip, the first clip, the whole
(unclipped) video, and the paper's reference selection recomputed from the tastes -- so
production policies (stability, quality mask, bounds) show their cost, if any, next to the
reference. The planted share needs a world's labelled truth, passed in when there is one.

Generation is measured twice: in the main tables, what each row really shows (generated
thumbnails and edited clips included, embedded by ``evaluation/generated.py``); and on the pairs
that were shown a generated thumbnail (an edited clip), against the original cover and the frame
it was generated from (the clip it was edited from) on exactly those pairs. The paper's
generated row (RDM, +7.9% over the original cover) is the comparison the second one makes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pyarrow as pa

from generec_core.config import EditorConfig
from generec_core.editor.selection import TIME_TOLERANCE_S, ItemFrames, select_for_item, window_starts
from generec_core.evaluation.cosine import cosine_at_k, history_mean, shown_mean, unit_rows
from generec_core.evaluation.planted import PlantedPair, PlantedTruth, planted_share

KS: tuple[int, ...] = (5, 10)
# The paper's Cosine@5 (Wang et al. 2023, micro-video, CLIP features), for orientation only:
# their data and encoder differ, so compare orderings, not values.
PAPER_COSINE_AT_5 = {"random frame": 0.4796, "original cover": 0.4978, "selection (ours, published)": 0.5142,
                     "random clip": 0.4864, "first clip": 0.4910, "clips (ours, published)": 0.5052}
SHOWN_THUMBNAIL, SHOWN_CLIP = "shown, generated included (ours, published)", "shown, edits included (ours, published)"
THUMBNAIL_METHODS = ("random frame", "original cover", "selection (ours, published)", "selection (paper reference)",
                     SHOWN_THUMBNAIL)
CLIP_METHODS = ("random clip", "first clip", "unclipped video", "clips (ours, published)", "clips (paper reference)",
                SHOWN_CLIP)
GENERATED_METHODS = ("original cover", "source frame (selected)", "generated (ours, published)")
EDITED_METHODS = ("source clip (selected)", "edited clip (ours, published)")


@dataclass
class EvaluatedItem:
    frames: ItemFrames
    cover: np.ndarray | None  # cover embedding (frame_idx -1)


def summarise(date: str, run_id: str, rows: list[dict], items: Mapping[str, EvaluatedItem],
              ranks: Mapping[tuple[str, str], int], tastes: Mapping[str, np.ndarray],
              likes: Mapping[str, set[str]], editor: EditorConfig, truth: PlantedTruth | None,
              generated: Mapping[str, np.ndarray] | None = None, edited: Mapping[str, np.ndarray] | None = None) -> dict:
    """The evaluation of a published run's manifest ``rows`` (see the module docstring).

    ``tastes``: warm users' tastes (cold users' fallback is not theirs); ``likes``: the items each
    user liked up to the date; ``truth``: the world's labels, or None (no planted share);
    ``generated`` / ``edited``: embeddings of the published generated thumbnails / edited clips'
    frames by asset URI (``evaluation/generated.py``).
    """
    generated, edited = generated or {}, edited or {}
    rows = [r for r in rows if r["item_id"] in items]
    rows.sort(key=lambda r: (r["user_id"], ranks.get((r["user_id"], r["item_id"]), 1 << 30), r["item_id"]))
    users = {r["user_id"] for r in rows}
    tastes = {u: unit_rows(np.asarray(t, np.float32)[None])[0].astype(np.float32)
              for u, t in tastes.items() if u in users}
    history = _history({u: liked for u, liked in likes.items() if u in users}, items)
    shown: dict[str, dict[str, list[np.ndarray]]] = {m: defaultdict(list) for m in THUMBNAIL_METHODS + CLIP_METHODS}
    on_generated: dict[str, dict[str, list[np.ndarray]]] = {m: defaultdict(list) for m in GENERATED_METHODS}
    on_edited: dict[str, dict[str, list[np.ndarray]]] = {m: defaultdict(list) for m in EDITED_METHODS}
    reference_times: dict[tuple[str, str], float] = {}
    L, S = editor.clip_window, editor.clip_stride
    for r in rows:
        user, item = r["user_id"], items[r["item_id"]]
        if user not in history:
            continue  # no liked cover: Cosine@K is undefined for this user (cold start)
        emb, n = item.frames.embeddings, len(item.frames.timestamps)
        rng = np.random.default_rng(_pair_seed(user, r["item_id"]))
        starts = window_starts(n, L, S)
        random_start = starts[int(rng.integers(len(starts)))]
        cover = item.cover if item.cover is not None else emb[0]
        picked = _frame_at(item.frames, r["thumbnail_frame_ts"])
        clip = _clip_frames(item.frames, r["clip_start_s"], r["clip_end_s"])
        add = {
            "random frame": emb[int(rng.integers(n))], "original cover": cover,
            "selection (ours, published)": cover if picked < 0 else emb[picked],
            "random clip": emb[random_start:random_start + min(L, n)], "first clip": emb[:min(L, n)],
            "unclipped video": emb, "clips (ours, published)": emb[clip] if len(clip) else emb,
        }
        made, edit = generated.get(r.get("thumbnail_uri")), edited.get(r.get("clip_uri"))
        add[SHOWN_THUMBNAIL] = add["selection (ours, published)"] if made is None else made
        add[SHOWN_CLIP] = add["clips (ours, published)"] if edit is None else edit
        if made is not None:
            for method, vectors in zip(GENERATED_METHODS, (cover, add["selection (ours, published)"], made)):
                on_generated[method][user].append(shown_mean(vectors))
        if edit is not None:
            for method, vectors in zip(EDITED_METHODS, (add["clips (ours, published)"], edit)):
                on_edited[method][user].append(shown_mean(vectors))
        if user in tastes:
            (ref,) = select_for_item(tastes[user][None], item.frames, L, S)
            reference_times[(user, r["item_id"])] = float(item.frames.timestamps[ref.frame_idx])
            add["selection (paper reference)"] = emb[ref.frame_idx]
            add["clips (paper reference)"] = emb[ref.window_start:ref.window_end + 1]
        for method, vectors in add.items():
            shown[method][user].append(shown_mean(vectors))
    return {"date": date, "run_id": run_id, "ks": list(KS),
            "users_evaluated": len({u for u in users if u in history}),
            "users_without_history": len(users - set(history)), "pairs": len(rows),
            "thumbnail": _table(THUMBNAIL_METHODS, history, shown),
            "clip": _table(CLIP_METHODS, history, shown),
            "generated": _table(GENERATED_METHODS, history, on_generated),
            "edited": _table(EDITED_METHODS, history, on_edited),
            "planted": None if truth is None else _planted(truth, editor, rows, items, reference_times, history)}


def _pair_seed(user: str, item: str) -> int:
    """A random baseline that is the same on every re-run and independent of row order."""
    return int(hashlib.sha256(f"{user}\0{item}".encode()).hexdigest()[:16], 16)


def evaluated_items(frames: pa.Table, durations: Mapping[str, float]) -> dict[str, EvaluatedItem]:
    """Each item with sampled frames: its unit frame rows, times, duration and unit cover embedding."""
    grouped: dict[str, list[tuple[int, float | None, list[float]]]] = defaultdict(list)
    for item, idx, ts, emb in zip(frames["item_id"].to_pylist(), frames["frame_idx"].to_pylist(),
                                  frames["ts"].to_pylist(), frames["embedding"].to_pylist()):
        grouped[item].append((idx, ts, emb))
    out = {}
    for item, rows in grouped.items():
        rows.sort(key=lambda r: r[0])
        cover = [r for r in rows if r[0] < 0]
        sampled = [r for r in rows if r[0] >= 0]
        if not sampled:
            continue
        times = np.asarray([r[1] for r in sampled], np.float64)
        out[item] = EvaluatedItem(
            ItemFrames(unit_rows(np.asarray([r[2] for r in sampled], np.float32)).astype(np.float32),
                       times, float(durations.get(item, times[-1]))),
            unit_rows(np.asarray(cover[0][2], np.float32)[None])[0] if cover else None)
    return out


def _history(likes: Mapping[str, set[str]], items: Mapping[str, EvaluatedItem]) -> dict[str, np.ndarray]:
    """Mean unit cover of the items each user liked (covers the pipeline embedded)."""
    out = {}
    for user, liked in likes.items():
        covers = [items[i].cover for i in sorted(liked) if i in items and items[i].cover is not None]
        if covers:
            out[user] = history_mean(np.stack(covers))
    return out


def _frame_at(frames: ItemFrames, ts: float | None) -> int:
    if ts is None:
        return -1
    i = int(np.argmin(np.abs(frames.timestamps - ts)))
    return i if abs(frames.timestamps[i] - ts) <= TIME_TOLERANCE_S else -1


def _clip_frames(frames: ItemFrames, start: float | None, end: float | None) -> np.ndarray:
    """Sampled frames shown by the clip [start, end); empty when there is no clip."""
    if start is None or end is None:
        return np.array([], dtype=np.int64)
    ts = frames.timestamps
    return np.flatnonzero((ts >= start - TIME_TOLERANCE_S) & (ts < end - TIME_TOLERANCE_S))


def _table(methods: tuple[str, ...], history: dict[str, np.ndarray],
           shown: dict[str, dict[str, list[np.ndarray]]]) -> list[dict]:
    out = []
    for method in methods:
        row: dict = {"method": method, "paper_cosine@5": PAPER_COSINE_AT_5.get(method)}
        for k in KS:
            result = cosine_at_k(history, shown[method], k)
            row[f"cosine@{k}"] = None if result.value is None else round(result.value, 4)
            row[f"users@{k}"], row[f"items_per_user@{k}"] = result.users, round(result.items_per_user, 2)
        out.append(row)
    return out


def _planted(truth: PlantedTruth, editor: EditorConfig, rows: list[dict], items: Mapping[str, EvaluatedItem],
             reference_times: dict[tuple[str, str], float], history: dict[str, np.ndarray]) -> dict:
    """Planted-taste shares of the pairs whose user and item the truth knows."""
    L = editor.clip_window
    pairs = []
    for r in rows:
        user, item_id = r["user_id"], r["item_id"]
        favourites = truth.favourites(user)
        if favourites is None or user not in history or not truth.knows_item(item_id):
            continue
        frames = items[item_id].frames
        picked = _frame_at(frames, r["thumbnail_frame_ts"])
        pairs.append(PlantedPair(
            favourites=favourites, category_at=lambda t, i=item_id: truth.category_at(i, t),
            cover_category=truth.cover_category(item_id), frame_times=frames.timestamps,
            thumbnail_time=None if picked < 0 else float(frames.timestamps[picked]),
            reference_time=reference_times.get((user, item_id)),
            clip_frames=_clip_frames(frames, r["clip_start_s"], r["clip_end_s"]),
            first_clip_frames=np.arange(min(L, len(frames.timestamps)))))
    return planted_share(pairs).to_dict()


def format_table(summary: dict) -> str:
    """The paper's table form, as plain text."""
    if summary.get("skipped"):
        return f"evaluation of {summary['run_id']} skipped: {summary['skipped']}"
    head = f"{'':34s}" + "".join(f"{f'Cosine@{k}':>11s}" for k in summary["ks"]) + f"{'paper@5':>10s}"
    lines = [f"Cosine@K, run {summary['run_id']}: {summary['users_evaluated']} users with liked covers "
             f"({summary['users_without_history']} without), {summary['pairs']} (user, item) pairs; "
             f"{items_per_user(summary)}", head]
    for section, table in sections(summary):
        lines.append(section)
        for row in table:
            cells = "".join(f"{_fmt(row[f'cosine@{k}']):>11s}" for k in summary["ks"])
            lines.append(f"  {row['method']:32s}{cells}{_fmt(row['paper_cosine@5']):>10s}")
    planted = summary.get("planted")
    if planted:
        lines.append(f"Planted taste (demo truth, {planted['pairs']} pairs): thumbnail shows a favourite category")
        lines.append("  " + "  ".join(f"{k} {_fmt(planted.get(k))}" for k in
                                      ("random_frame", "original_cover", "ours", "reference", "attainable")))
        lines.append("  clip frames on a favourite: " + "  ".join(
            f"{k[5:]} {_fmt(planted.get(k))}" for k in ("clip_first", "clip_unclipped", "clip_ours")))
    return "\n".join(lines)


def sections(summary: dict) -> list[tuple[str, list[dict]]]:
    """(title, rows) of each Cosine@K table to show: the main two always, a generation subset when it has users."""
    out = [("Thumbnail", summary["thumbnail"]), ("Clip", summary["clip"])]
    for title, key in (("Generated thumbnails, on the pairs shown one", "generated"),
                       ("Edited clips, on the pairs shown one", "edited")):
        table = summary.get(key) or []  # evaluations stored before generation was measured have none
        users = table[0][f"users@{summary['ks'][0]}"] if table else 0
        if users:
            out.append((f"{title} ({users} users)", table))
    return out


def items_per_user(summary: dict) -> str:
    """How many items Cosine@K really averaged per user (fewer than K when fewer were shown)."""
    row = summary["thumbnail"][0]
    return "items per user: " + ", ".join(f"@{k} {row[f'items_per_user@{k}']:g}" for k in summary["ks"])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
