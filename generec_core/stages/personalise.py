"""Stage ``personalise`` (per shard): choose each (user, item)'s thumbnail and clip, and stage them.

One shard = the worklist rows whose user hashes to it. Reads the shard's worklist, the users'
tastes, the instructor's guidance, the frames and what each user was shown before; the
choice itself is the editor's (``editor/choose.py``: every warm pair scored in one batched
call). Then each item is decoded once to stage what its users got in the run's audit zone
(``datasets.staged``), never in the catalog: the fidelity gate audits it first. Staged file
names carry the item and frame, never a user id.

Cold-start users get the original cover (``thumbnail_kind=original``) and the first clip;
opted-out users the same; pairs whose item topics the user avoids are not staged at all.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Mapping, TypedDict

import numpy as np
import pyarrow as pa
from PIL import Image

from generec_core.config import PipelineConfig
from generec_core.datasets import catalog, staged, users
from generec_core.datasets.frames import COVER_FRAME_IDX, load_item_frames
from generec_core.datasets.guidance import read_guidance
from generec_core.datasets.items import Item, item_topics, read_items
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.staged import StagedRow
from generec_core.editor import guidance as editor_guidance
from generec_core.editor.candidates import runner_up_frames
from generec_core.editor.choose import choose, first_window, item_frames
from generec_core.editor.clip_length import ClipBounds
from generec_core.editor.previous import ShownBefore, shown_before
from generec_core.editor.selection import ItemFrames, Selection, clip_bounds
from generec_core.kinds import ThumbnailKind
from generec_core.video.clip import cut
from generec_core.video.decode import VideoDecodeError, sample_item

log = logging.getLogger(__name__)


class PersonaliseSummary(TypedDict, total=False):
    shard: int
    rows: int
    mode: str
    selected: int
    original: int
    missing_taste: int
    kept_thumbnail: int
    kept_clip: int
    avoided_topic_pairs: int
    opted_out_users: int
    skipped_missing_item: int
    skipped_decode: int
    clips_copied: int
    clips_encoded: int


@dataclass
class _ItemContext:
    item: Item
    frames: ItemFrames
    cover: np.ndarray | None = None  # the cover's unit embedding (the cover as a serving candidate)
    video: np.ndarray | None = None  # decoded sampled frames, loaded on first need


def run(config: PipelineConfig, date: str, shard: int) -> PersonaliseSummary:
    return personalise_shard(config, date, shard)


def personalise_shard(config: PipelineConfig, date: str, shard: int,
                      user_bounds: Mapping[str, ClipBounds] | None = None) -> PersonaliseSummary:
    """Select and stage thumbnails + clips for one shard of the worklist; returns counts.

    ``user_bounds``: per-user clip length bounds (the instructor's guidance) over the config's.
    """
    layout, run_id = Layout.for_config(config), run_id_for(date)
    worklist = users.shard_worklist(layout, run_id, shard, config.run.users)
    worklist, opted_out, avoided_pairs = apply_guidance(layout, date, worklist)
    shard_users = set(worklist.column("user_id").to_pylist())
    tastes = users.tastes(layout, date, shard_users)
    contexts = _item_contexts(config, layout, set(worklist.column("item_id").to_pylist()))
    if user_bounds is None:
        user_bounds = guidance_clip_bounds(layout, date, shard_users)
    before = (_shown_before(layout, date, shard_users, config.editor.stability_lookback_days)
              if config.editor.mode == "production" else {})
    selections, counts = choose(config.editor, worklist.to_pylist(), tastes,
                                {i: c.frames for i, c in contexts.items()}, before, user_bounds)
    selections = {pair: sel for pair, sel in selections.items() if pair[0] not in opted_out}
    counts.update(avoided_topic_pairs=avoided_pairs, opted_out_users=len(shard_users & opted_out))
    runner_ups = {(u, i): runner_up_frames(tastes[u], contexts[i].frames, sel.frame_idx, config.editor.runner_ups,
                                           config.editor.runner_up_max_similarity, config.editor.mode == "production")
                  for (u, i), sel in selections.items()}
    rows, stage_counts = _stage_rows(config, layout, run_id, shard, worklist, contexts, selections, user_bounds,
                                     runner_ups, tastes)
    staged.write_shard_rows(layout, run_id, shard, rows)
    log.info("personalise shard=%s rows=%s", shard, len(rows))
    return {**counts, **stage_counts, "shard": shard, "rows": len(rows), "mode": config.editor.mode}  # type: ignore


def apply_guidance(layout: Layout, date: str, worklist: pa.Table) -> tuple[pa.Table, set[str], int]:
    """The date's guidance applied to the worklist (``editor.guidance.apply_guidance``)."""
    guidance = read_guidance(layout, date)
    if not guidance or worklist.num_rows == 0:
        return worklist, set(), 0
    topics = item_topics(layout) if any(g.avoid_topics for g in guidance.values()) else {}
    return editor_guidance.apply_guidance(worklist, guidance, topics)


def guidance_clip_bounds(layout: Layout, date: str, shard_users: set[str]) -> dict[str, ClipBounds]:
    """Per-user clip length bounds from the date's guidance (``clip_seconds``)."""
    return editor_guidance.user_clip_bounds(read_guidance(layout, date), shard_users)


def _shown_before(layout: Layout, date: str, shard_users: set[str],
                  lookback_days: int) -> dict[tuple[str, str], ShownBefore]:
    """What the shard's users were shown in the latest manifest published before ``date``."""
    if lookback_days <= 0 or not shard_users:
        return {}
    previous = catalog.previous_manifest(layout, date, lookback_days)
    if previous is None:
        return {}
    try:
        rows = catalog.read_rows(layout, previous.uri)
    except catalog.CatalogError:
        return {}
    out = shown_before(previous.date, rows, shard_users)
    log.info("stability: %s previous choices from %s", len(out), previous.uri)
    return out


def _item_contexts(config: PipelineConfig, layout: Layout, item_ids: set[str]) -> dict[str, _ItemContext]:
    """The shard's listed items with their frames: only those items' frames are read, never the catalogue's."""
    items = {i.item_id: i for i in read_items(layout)}
    frames, videos = load_item_frames(config, item_ids & set(items))
    durations = dict(zip(videos["item_id"].to_pylist(), videos["duration_s"].to_pylist()))
    chosen = item_frames(frames, durations, item_ids & set(items))
    covers = {i: np.asarray(e, np.float32) for i, idx, e in zip(frames["item_id"].to_pylist(),
                                                                frames["frame_idx"].to_pylist(),
                                                                frames["embedding"].to_pylist())
              if idx == COVER_FRAME_IDX and i in chosen}
    return {item_id: _ItemContext(items[item_id], f, _unit(covers.get(item_id))) for item_id, f in chosen.items()}


def _unit(vector: np.ndarray | None) -> np.ndarray | None:
    if vector is None or not np.linalg.norm(vector) > 0:
        return None
    return vector / np.linalg.norm(vector)


def _stage_rows(config: PipelineConfig, layout: Layout, run_id: str, shard: int, worklist: pa.Table,
                contexts: dict[str, _ItemContext], selections: dict[tuple[str, str], Selection],
                user_bounds: Mapping[str, ClipBounds] | None,
                runner_ups: Mapping[tuple[str, str], list[tuple[int, float]]],
                tastes: Mapping[str, np.ndarray]) -> tuple[list[StagedRow], dict]:
    pairs_by_item: dict[str, list[dict]] = defaultdict(list)
    for rec in worklist.to_pylist():
        pairs_by_item[rec["item_id"]].append(rec)
    rows: list[StagedRow] = []
    counts = {"selected": 0, "original": 0, "skipped_missing_item": 0, "skipped_decode": 0,
              "clips_copied": 0, "clips_encoded": 0}
    for item_id in sorted(pairs_by_item):
        pairs, ctx = pairs_by_item[item_id], contexts.get(item_id)
        if ctx is None:  # quarantined at the frames stage: nothing to personalise from
            counts["skipped_missing_item"] += len(pairs)
            continue
        try:
            _decode(config, layout, ctx)
            item_rows = [_row(config, layout, run_id, shard, p, ctx, selections.get((p["user_id"], item_id)),
                              first_window(config.editor, ctx.frames, (user_bounds or {}).get(p["user_id"])),
                              counts, runner_ups.get((p["user_id"], item_id), []), tastes.get(p["user_id"]))
                         for p in pairs]
        except VideoDecodeError as exc:  # one bad video costs its rows, never the shard
            log.warning("item %s skipped: %s", item_id, exc.reason)
            counts["skipped_decode"] += len(pairs)
            continue
        rows.extend(item_rows)
        for r in item_rows:
            counts[r["thumbnail_kind"]] += 1
    return rows, counts


def _decode(config: PipelineConfig, layout: Layout, ctx: _ItemContext) -> None:
    """Decode the same sampled frames the frames stage embedded (its sampler), so indices line up."""
    with layout.store.local_file(ctx.item.video_uri) as path:
        video = sample_item(path, config.frames)
    if len(video.timestamps) != len(ctx.frames.timestamps) or not np.allclose(video.timestamps, ctx.frames.timestamps, atol=1e-3):
        raise VideoDecodeError(f"sampled frames of {ctx.item.item_id} no longer match their embeddings")
    ctx.video = video.frames
    ctx.frames = dataclasses.replace(ctx.frames, duration_s=video.duration_s)


def _row(config: PipelineConfig, layout: Layout, run_id: str, shard: int, pair: dict,
         ctx: _ItemContext, sel: Selection | None, window: tuple[int, int], counts: dict,
         runner_ups: list[tuple[int, float]], taste: np.ndarray | None) -> StagedRow:
    """Cold-start users (no taste of their own) get the original cover and the first clip; warm ones their
    selection and the runner-up frames (serving candidates, staged like the selected frame)."""
    cover_uri = _stage_cover(layout, run_id, ctx)
    if sel is None:
        thumb_uri, kind, frame_idx, frame_ts, score = cover_uri, ThumbnailKind.ORIGINAL, None, None, None
        clip_score = None
    else:
        thumb_uri = _stage_frame(config, layout, run_id, ctx, sel.frame_idx)
        kind, frame_idx, score = ThumbnailKind.SELECTED, sel.frame_idx, sel.frame_score
        frame_ts = float(ctx.frames.timestamps[sel.frame_idx])
        window, clip_score = (sel.window_start, sel.window_end), sel.clip_score
    cover_score = None if sel is None or taste is None or ctx.cover is None else \
        float(taste @ ctx.cover) / max(float(np.linalg.norm(taste)), 1e-12)
    clip_uri, (start_s, end_s) = _stage_clip(layout, run_id, ctx, *window, counts)
    return {"user_id": pair["user_id"], "item_id": pair["item_id"], "shard": shard,
            "retriever": pair["retriever"], "is_cold": bool(pair["is_cold"]),
            "thumbnail_kind": kind.value, "thumbnail_staged": thumb_uri, "cover_staged": cover_uri,
            "thumbnail_frame_idx": frame_idx,
            "thumbnail_frame_ts": frame_ts, "score": score, "clip_staged": clip_uri,
            "clip_start_s": start_s, "clip_end_s": end_s, "clip_score": clip_score,
            "encoder_id": config.frames.encoder, "cover_score": cover_score,
            "runner_ups": [{"staged": _stage_frame(config, layout, run_id, ctx, idx), "frame_idx": idx,
                            "frame_ts": float(ctx.frames.timestamps[idx]), "score": score} for idx, score in runner_ups]}


def jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def _stage_frame(config: PipelineConfig, layout: Layout, run_id: str, ctx: _ItemContext, idx: int) -> str:
    uri = layout.staged_thumbnail(run_id, ctx.item.item_id, idx)
    return staged.stage_once(layout, uri, lambda: jpeg(ctx.video[idx], config.editor.thumbnail_jpeg_quality))


def _stage_cover(layout: Layout, run_id: str, ctx: _ItemContext) -> str:
    return staged.stage_once(layout, layout.staged_cover(run_id, ctx.item.item_id), lambda: _cover_jpeg(layout, ctx))


def _cover_jpeg(layout: Layout, ctx: _ItemContext) -> bytes:
    """The original cover as JPEG: the cover image's own bytes when already JPEG, else re-encoded."""
    if ctx.item.cover_uri is None:
        return jpeg(ctx.video[0], 95)
    data = layout.store.read_bytes(ctx.item.cover_uri)
    image = Image.open(io.BytesIO(data))
    if image.format == "JPEG":
        return data
    return jpeg(np.asarray(image.convert("RGB")), 95)


def _stage_clip(layout: Layout, run_id: str, ctx: _ItemContext, first: int, last: int,
                counts: dict) -> tuple[str, tuple[float, float]]:
    """One staged file per (item, window): every user who got that window shares it."""
    start_s, end_s = clip_bounds(ctx.frames, first, last)

    def make() -> bytes:
        with layout.store.local_file(ctx.item.video_uri) as path:
            clip = cut(path, start_s, end_s)
        counts["clips_copied" if clip.mode == "copy" else "clips_encoded"] += 1
        return clip.data
    return staged.stage_once(layout, layout.staged_clip(run_id, ctx.item.item_id, first, last), make), (start_s, end_s)
