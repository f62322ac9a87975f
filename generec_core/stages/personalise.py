"""The AI editor's shard task: choose each (user, item)'s thumbnail and clip, and stage them.

One shard = the worklist rows whose user hashes to it. Outputs land in the run's audit zone
(``work/run=<id>/...``), never in the catalog: the fidelity gate audits them first.
Staged file names carry the item and frame, never a user id, so the same frame chosen by
many users is staged once and nothing personal leaks into object keys.

All of the shard's warm pairs are scored in one call to ``editor.scorer.score_pairs``
(batched over candidate pairs only); then each item is decoded once to stage what its
users got. ``editor.mode`` "reference" reproduces the paper exactly; "production" adds
the poor-frame mask (the frames table's optional ``is_poor`` column), clip length bounds
(config, or per user from the instructor) and stability against the last published manifest.
Cold-start users get the original cover (``thumbnail_kind=original``) and the first clip.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from generec_core.config import EditorConfig, PipelineConfig
from generec_core.editor.clip_length import ClipBounds, window_length, window_lengths
from generec_core.editor.previous import ShownBefore, frame_index, shown_before, window_of
from generec_core.editor.scorer import PreviousChoices, score_pairs
from generec_core.editor.selection import ItemFrames, Selection, clip_bounds, pick_device
from generec_core.items import Item, local_file, read_items, safe_name
from generec_core.layout import Layout, run_id_for
from generec_core.stages.frames import load_frame_embeddings, load_video_meta, sample_item
from generec_core.stages.instruct import apply_guidance, read_guidance
from generec_core.storage import exists, join, read_parquet, storage_for, write_parquet
from generec_core.video.clip import cut
from generec_core.video.decode import VideoDecodeError

log = logging.getLogger(__name__)

STAGED_ROWS_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("item_id", pa.string()), ("shard", pa.int32()),
    ("retriever", pa.string()), ("is_cold", pa.bool_()),
    ("thumbnail_kind", pa.string()), ("thumbnail_staged", pa.string()), ("cover_staged", pa.string()),
    ("thumbnail_frame_idx", pa.int32()), ("thumbnail_frame_ts", pa.float64()),
    ("score", pa.float64()),
    ("clip_staged", pa.string()), ("clip_start_s", pa.float64()), ("clip_end_s", pa.float64()),
    ("clip_score", pa.float64()), ("encoder_id", pa.string()),
])


@dataclass
class _ItemContext:
    item: Item
    frames: ItemFrames
    video: np.ndarray | None = None  # decoded sampled frames, loaded on first need


def shard_rows_uri(layout: Layout, run_id: str, shard: int) -> str:
    return join(layout.shard(run_id, shard), "rows.parquet")


def personalise_shard(config: PipelineConfig, date: str, shard: int,
                      user_bounds: Mapping[str, ClipBounds] | None = None) -> dict:
    """Select and stage thumbnails + clips for one shard of the worklist; returns counts.

    ``user_bounds``: per-user clip length bounds (the instructor's guidance) over the config's.
    """
    layout, run_id = Layout(config.root), run_id_for(date)
    worklist = _shard_worklist(layout, run_id, shard, config.run.users)
    # instructor's guidance: pairs of avoided topics are never promoted; opted-out users get originals
    worklist, opted_out, avoided_pairs = apply_guidance(layout, date, worklist)
    users = set(worklist.column("user_id").to_pylist())
    tastes = _tastes(layout, date, users)
    contexts = _item_contexts(config, set(worklist.column("item_id").to_pylist()))
    if user_bounds is None:
        user_bounds = guidance_clip_bounds(layout, date, users)
    before = (shown_before(layout, date, users, config.editor.stability_lookback_days)
              if config.editor.mode == "production" else {})
    selections, counts = choose(config.editor, worklist.to_pylist(), tastes, contexts, before, user_bounds)
    selections = {pair: sel for pair, sel in selections.items() if pair[0] not in opted_out}
    counts.update(avoided_topic_pairs=avoided_pairs, opted_out_users=len(users & opted_out))
    rows, stage_counts = _stage_rows(config, layout, run_id, shard, worklist, contexts, selections, user_bounds)
    write_parquet(shard_rows_uri(layout, run_id, shard), pa.Table.from_pylist(rows, STAGED_ROWS_SCHEMA))
    log.info("personalise shard=%s rows=%s", shard, len(rows))
    return {**counts, **stage_counts, "shard": shard, "rows": len(rows), "mode": config.editor.mode}


def guidance_clip_bounds(layout: Layout, date: str, users: set[str]) -> dict[str, ClipBounds]:
    """Per-user clip length bounds from the instructor's guidance (``clip_seconds``).

    Users without bounds, and users who opted out of personalisation, get the config's.
    """
    return {u: ClipBounds.from_guidance(g.clip_seconds) for u, g in read_guidance(layout, date).items()
            if u in users and g.clip_seconds and not g.opt_out}


def _shard_worklist(layout: Layout, run_id: str, shard: int, users: tuple[str, ...] = ()) -> pa.Table:
    """The shard's pairs; a run triggered for a user subset personalises only those users."""
    table = read_parquet(layout.worklist(run_id))
    table = table.filter(pc.equal(table["shard"], shard))
    if users:
        table = table.filter(pc.is_in(table["user_id"], pa.array(sorted(users), pa.string())))
    return table.sort_by([("user_id", "ascending"), ("item_id", "ascending")])


def _tastes(layout: Layout, date: str, users: set[str]) -> dict[str, np.ndarray]:
    table = read_parquet(layout.user_features(date)).select(["user_id", "taste"])
    table = table.filter(pc.is_in(table["user_id"], pa.array(sorted(users), pa.string())))
    return {u: np.asarray(t, dtype=np.float32) for u, t in zip(table["user_id"].to_pylist(), table["taste"].to_pylist())}


def _item_contexts(config: PipelineConfig, item_ids: set[str]) -> dict[str, _ItemContext]:
    """Each item's sampled frames (unit-norm rows), times, duration and optional poor-frame flags."""
    frames = load_frame_embeddings(config)
    frames = frames.filter(pc.is_in(frames["item_id"], pa.array(sorted(item_ids), pa.string())))
    poor_col = frames["is_poor"].to_pylist() if "is_poor" in frames.column_names else [None] * frames.num_rows
    by_item: dict[str, list[tuple[int, float, list[float], bool]]] = defaultdict(list)
    for item_id, idx, ts, emb, poor in zip(frames["item_id"].to_pylist(), frames["frame_idx"].to_pylist(),
                                           frames["ts"].to_pylist(), frames["embedding"].to_pylist(), poor_col):
        if idx >= 0:
            by_item[item_id].append((idx, ts, emb, bool(poor)))
    durations = dict(zip(*(load_video_meta(config).column(c).to_pylist() for c in ("item_id", "duration_s"))))
    items = {i.item_id: i for i in read_items(Layout(config.root))}
    out = {}
    for item_id, rows in by_item.items():
        if item_id not in items:
            continue
        rows.sort(key=lambda r: r[0])
        poor = np.asarray([r[3] for r in rows], dtype=bool)
        timestamps = np.asarray([r[1] for r in rows], dtype=np.float64)
        out[item_id] = _ItemContext(items[item_id], ItemFrames(
            embeddings=_unit_rows(np.asarray([r[2] for r in rows], dtype=np.float32)), timestamps=timestamps,
            duration_s=float(durations.get(item_id, timestamps[-1])), poor=poor if poor.any() else None))
    return out


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Cosine needs unit rows; a zero row stays zero (it can then never win)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def choose(editor: EditorConfig, pairs: list[dict], tastes: Mapping[str, np.ndarray],
           contexts: Mapping[str, "_ItemContext"], before: Mapping[tuple[str, str], ShownBefore],
           user_bounds: Mapping[str, ClipBounds] | None = None) -> tuple[dict[tuple[str, str], Selection], dict]:
    """The selection of every warm pair, scored in one batched call; cold pairs get none.

    Reference mode is the paper exactly: no quality mask, no length bounds, no stability.
    """
    warm = [(p["user_id"], p["item_id"]) for p in pairs
            if not p["is_cold"] and p["item_id"] in contexts and p["user_id"] in tastes]
    counts = {"missing_taste": sum(1 for p in pairs if not p["is_cold"] and p["user_id"] not in tastes),
              "kept_thumbnail": 0, "kept_clip": 0}
    if not warm:
        return {}, counts
    user_ids = sorted({u for u, _ in warm})
    item_ids = sorted({i for _, i in warm})
    u_pos = {u: k for k, u in enumerate(user_ids)}
    i_pos = {i: k for k, i in enumerate(item_ids)}
    items = [contexts[i].frames for i in item_ids]
    pair_user = np.array([u_pos[u] for u, _ in warm], dtype=np.int64)
    pair_item = np.array([i_pos[i] for _, i in warm], dtype=np.int64)
    production = editor.mode == "production"
    window_len, previous = None, None
    if production:
        window_len = window_lengths([u for u, _ in warm], pair_item, items, editor.clip_window,
                                    _config_bounds(editor), user_bounds)
        previous = _previous_choices(warm, contexts, before)
    chosen = score_pairs(np.stack([tastes[u] for u in user_ids]), pair_user, pair_item, items,
                         length=editor.clip_window, stride=editor.clip_stride, window_len=window_len,
                         previous=previous, frame_margin=editor.stability_margin,
                         clip_margin=editor.clip_stability_margin, use_quality=production,
                         chunk_rows=editor.chunk_rows, device=pick_device(editor.device))
    counts["kept_thumbnail"] = int(chosen.kept_frame.sum())
    counts["kept_clip"] = int(chosen.kept_window.sum())
    out = {pair: Selection(int(chosen.frame_idx[k]), float(chosen.frame_score[k]), int(chosen.window_start[k]),
                           int(chosen.window_end[k]), float(chosen.clip_score[k]))
           for k, pair in enumerate(warm)}
    return out, counts


def _config_bounds(editor: EditorConfig) -> ClipBounds:
    return ClipBounds(editor.clip_min_s, editor.clip_max_s)


def _previous_choices(warm: list[tuple[str, str]], contexts: Mapping[str, "_ItemContext"],
                      before: Mapping[tuple[str, str], ShownBefore]) -> PreviousChoices:
    prev = PreviousChoices.none(len(warm))
    for k, pair in enumerate(warm):
        shown = before.get(pair)
        if shown is None:
            continue
        frames = contexts[pair[1]].frames
        prev.frame_idx[k] = frame_index(frames, shown.thumbnail_ts)
        prev.window_start[k], prev.window_end[k] = window_of(frames, shown.clip_start_s, shown.clip_end_s)
    return prev


def _stage_rows(config: PipelineConfig, layout: Layout, run_id: str, shard: int, worklist: pa.Table,
                contexts: dict[str, _ItemContext], selections: dict[tuple[str, str], Selection],
                user_bounds: Mapping[str, ClipBounds] | None) -> tuple[list[dict], dict]:
    pairs_by_item: dict[str, list[dict]] = defaultdict(list)
    for rec in worklist.to_pylist():
        pairs_by_item[rec["item_id"]].append(rec)
    rows: list[dict] = []
    counts = {"selected": 0, "original": 0, "skipped_missing_item": 0, "skipped_decode": 0,
              "clips_copied": 0, "clips_encoded": 0}
    for item_id in sorted(pairs_by_item):
        pairs, ctx = pairs_by_item[item_id], contexts.get(item_id)
        if ctx is None:  # quarantined at the frames stage: nothing to personalise from
            counts["skipped_missing_item"] += len(pairs)
            continue
        try:
            _decode(config, ctx)
            item_rows = [_row(config, layout, run_id, shard, p, ctx, selections.get((p["user_id"], item_id)),
                              _first_window(config.editor, ctx, p["user_id"], user_bounds), counts)
                         for p in pairs]
        except VideoDecodeError as exc:  # one bad video costs its rows, never the shard
            log.warning("item %s skipped: %s", item_id, exc.reason)
            counts["skipped_decode"] += len(pairs)
            continue
        rows.extend(item_rows)
        for r in item_rows:
            counts[r["thumbnail_kind"]] += 1
    return rows, counts


def _first_window(editor: EditorConfig, ctx: "_ItemContext", user_id: str,
                  user_bounds: Mapping[str, ClipBounds] | None) -> tuple[int, int]:
    """Cold-start clip: the item's first window (length bounds apply in production mode)."""
    length = min(editor.clip_window, len(ctx.frames.timestamps))
    if editor.mode == "production":
        bounds = (user_bounds or {}).get(user_id, _config_bounds(editor))
        length = window_length(ctx.frames, editor.clip_window, bounds)
    return 0, length - 1


def _decode(config: PipelineConfig, ctx: _ItemContext) -> None:
    """Decode the same sampled frames the embedding stage saw (its own sampler), so indices line up."""
    with local_file(ctx.item.video_uri) as path:
        video = sample_item(path, config.frames)
    if len(video.timestamps) != len(ctx.frames.timestamps) or not np.allclose(video.timestamps, ctx.frames.timestamps, atol=1e-3):
        raise VideoDecodeError(f"sampled frames of {ctx.item.item_id} no longer match their embeddings")
    ctx.video = video.frames
    ctx.frames = dataclasses.replace(ctx.frames, duration_s=video.duration_s)


def _row(config: PipelineConfig, layout: Layout, run_id: str, shard: int, pair: dict,
         ctx: _ItemContext, sel: Selection | None, first_window: tuple[int, int], counts: dict) -> dict:
    """Cold-start users (no taste of their own) get the original cover and the first clip."""
    cover_uri = _stage_cover(layout, run_id, ctx)
    if sel is None:
        thumb_uri, kind, frame_idx, frame_ts, score = cover_uri, "original", None, None, None
        window, clip_score = first_window, None
    else:
        thumb_uri = _stage_frame(config, layout, run_id, ctx, sel.frame_idx)
        kind, frame_idx, score = "selected", sel.frame_idx, sel.frame_score
        frame_ts = float(ctx.frames.timestamps[sel.frame_idx])
        window, clip_score = (sel.window_start, sel.window_end), sel.clip_score
    clip_uri, (start_s, end_s) = _stage_clip(layout, run_id, ctx, *window, counts)
    return {"user_id": pair["user_id"], "item_id": pair["item_id"], "shard": shard,
            "retriever": pair["retriever"], "is_cold": bool(pair["is_cold"]),
            "thumbnail_kind": kind, "thumbnail_staged": thumb_uri, "cover_staged": cover_uri,
            "thumbnail_frame_idx": frame_idx,
            "thumbnail_frame_ts": frame_ts, "score": score, "clip_staged": clip_uri,
            "clip_start_s": start_s, "clip_end_s": end_s, "clip_score": clip_score,
            "encoder_id": config.frames.encoder}


def _jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def _stage_once(uri: str, make: "callable[[], bytes]") -> str:
    """Staged files are deterministic per name, so an existing one is reused, not rebuilt."""
    if not exists(uri):
        storage_for(uri).write_bytes(uri, make())
    return uri


def _stage_frame(config: PipelineConfig, layout: Layout, run_id: str, ctx: _ItemContext, idx: int) -> str:
    uri = join(layout.work(run_id), "staged/thumbnails", f"{safe_name(ctx.item.item_id)}-f{idx:03d}.jpg")
    return _stage_once(uri, lambda: _jpeg(ctx.video[idx], config.editor.thumbnail_jpeg_quality))


def _stage_cover(layout: Layout, run_id: str, ctx: _ItemContext) -> str:
    uri = join(layout.work(run_id), "staged/covers", f"{safe_name(ctx.item.item_id)}.jpg")
    return _stage_once(uri, lambda: _cover_jpeg(ctx))


def _cover_jpeg(ctx: _ItemContext) -> bytes:
    """The original cover as JPEG: the cover image's own bytes when already JPEG, else re-encoded."""
    if ctx.item.cover_uri is None:
        return _jpeg(ctx.video[0], 95)
    data = storage_for(ctx.item.cover_uri).read_bytes(ctx.item.cover_uri)
    image = Image.open(io.BytesIO(data))
    if image.format == "JPEG":
        return data
    return _jpeg(np.asarray(image.convert("RGB")), 95)


def _stage_clip(layout: Layout, run_id: str, ctx: _ItemContext, first: int, last: int,
                counts: dict) -> tuple[str, tuple[float, float]]:
    """One staged file per (item, window): every user who got that window shares it."""
    start_s, end_s = clip_bounds(ctx.frames, first, last)
    uri = join(layout.work(run_id), "staged/clips", f"{safe_name(ctx.item.item_id)}-w{first:03d}-{last:03d}.mp4")

    def make() -> bytes:
        with local_file(ctx.item.video_uri) as path:
            clip = cut(path, start_s, end_s)
        counts["clips_copied" if clip.mode == "copy" else "clips_encoded"] += 1
        return clip.data
    return _stage_once(uri, make), (start_s, end_s)
