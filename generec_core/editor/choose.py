"""Choose every warm pair's thumbnail frame and clip window, the way the editor's mode says.

``editor.mode`` "reference" reproduces the paper exactly; "production" adds the poor-frame
mask (the frames' ``is_poor`` flags), clip length bounds (config, or per user from the
instructor) and stability against what each user was shown before. Cold-start users (no
taste of their own) get no selection here: they are shown the original cover and the first
clip (``first_window``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping

import numpy as np
import pyarrow as pa

from generec_core.config import EditorConfig
from generec_core.devices import resolve_device
from generec_core.editor.clip_length import ClipBounds, window_length, window_lengths
from generec_core.editor.previous import ShownBefore, frame_index, window_of
from generec_core.editor.scorer import PreviousChoices, score_pairs
from generec_core.editor.selection import ItemFrames, Selection


def item_frames(frames: pa.Table, durations: Mapping[str, float], item_ids: set[str]) -> dict[str, ItemFrames]:
    """Each item's sampled frames (unit-norm rows), times, duration and optional poor-frame flags.

    ``frames`` is the frames dataset's table (cover rows, ``frame_idx`` -1, are left out).
    """
    poor_col = frames["is_poor"].to_pylist() if "is_poor" in frames.column_names else [None] * frames.num_rows
    by_item: dict[str, list[tuple[int, float, list[float], bool]]] = defaultdict(list)
    for item_id, idx, ts, emb, poor in zip(frames["item_id"].to_pylist(), frames["frame_idx"].to_pylist(),
                                           frames["ts"].to_pylist(), frames["embedding"].to_pylist(), poor_col):
        if idx >= 0 and item_id in item_ids:
            by_item[item_id].append((idx, ts, emb, bool(poor)))
    out = {}
    for item_id, rows in by_item.items():
        rows.sort(key=lambda r: r[0])
        poor = np.asarray([r[3] for r in rows], dtype=bool)
        timestamps = np.asarray([r[1] for r in rows], dtype=np.float64)
        out[item_id] = ItemFrames(embeddings=unit_rows(np.asarray([r[2] for r in rows], dtype=np.float32)),
                                  timestamps=timestamps, duration_s=float(durations.get(item_id, timestamps[-1])),
                                  poor=poor if poor.any() else None)
    return out


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Cosine needs unit rows; a zero row stays zero (it can then never win)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def choose(editor: EditorConfig, pairs: list[dict], tastes: Mapping[str, np.ndarray],
           items: Mapping[str, ItemFrames], before: Mapping[tuple[str, str], ShownBefore],
           user_bounds: Mapping[str, ClipBounds] | None = None) -> tuple[dict[tuple[str, str], Selection], dict]:
    """The selection of every warm pair, scored in one batched call; cold pairs get none.

    Reference mode is the paper exactly: no quality mask, no length bounds, no stability.
    """
    warm = [(p["user_id"], p["item_id"]) for p in pairs
            if not p["is_cold"] and p["item_id"] in items and p["user_id"] in tastes]
    counts = {"missing_taste": sum(1 for p in pairs if not p["is_cold"] and p["user_id"] not in tastes),
              "kept_thumbnail": 0, "kept_clip": 0}
    if not warm:
        return {}, counts
    user_ids = sorted({u for u, _ in warm})
    item_ids = sorted({i for _, i in warm})
    u_pos = {u: k for k, u in enumerate(user_ids)}
    i_pos = {i: k for k, i in enumerate(item_ids)}
    frames = [items[i] for i in item_ids]
    pair_user = np.array([u_pos[u] for u, _ in warm], dtype=np.int64)
    pair_item = np.array([i_pos[i] for _, i in warm], dtype=np.int64)
    production = editor.mode == "production"
    window_len, previous = None, None
    if production:
        window_len = window_lengths([u for u, _ in warm], pair_item, frames, editor.clip_window,
                                    config_bounds(editor), user_bounds)
        previous = _previous_choices(warm, items, before)
    chosen = score_pairs(np.stack([tastes[u] for u in user_ids]), pair_user, pair_item, frames,
                         length=editor.clip_window, stride=editor.clip_stride, window_len=window_len,
                         previous=previous, frame_margin=editor.stability_margin,
                         clip_margin=editor.clip_stability_margin, use_quality=production,
                         chunk_rows=editor.chunk_rows, device=str(resolve_device(editor.device)))
    counts["kept_thumbnail"] = int(chosen.kept_frame.sum())
    counts["kept_clip"] = int(chosen.kept_window.sum())
    out = {pair: Selection(int(chosen.frame_idx[k]), float(chosen.frame_score[k]), int(chosen.window_start[k]),
                           int(chosen.window_end[k]), float(chosen.clip_score[k]))
           for k, pair in enumerate(warm)}
    return out, counts


def config_bounds(editor: EditorConfig) -> ClipBounds:
    return ClipBounds(editor.clip_min_s, editor.clip_max_s)


def _previous_choices(warm: list[tuple[str, str]], items: Mapping[str, ItemFrames],
                      before: Mapping[tuple[str, str], ShownBefore]) -> PreviousChoices:
    prev = PreviousChoices.none(len(warm))
    for k, pair in enumerate(warm):
        shown = before.get(pair)
        if shown is None:
            continue
        frames = items[pair[1]]
        prev.frame_idx[k] = frame_index(frames, shown.thumbnail_ts)
        prev.window_start[k], prev.window_end[k] = window_of(frames, shown.clip_start_s, shown.clip_end_s)
    return prev


def first_window(editor: EditorConfig, frames: ItemFrames, bounds: ClipBounds | None) -> tuple[int, int]:
    """Cold-start clip: the item's first window (length bounds apply in production mode)."""
    length = min(editor.clip_window, len(frames.timestamps))
    if editor.mode == "production":
        length = window_length(frames, editor.clip_window, bounds or config_bounds(editor))
    return 0, length - 1
