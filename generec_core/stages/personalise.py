"""The AI editor's shard task: choose each (user, item)'s thumbnail and clip, and stage them.

One shard = the worklist rows whose user hashes to it. Outputs land in the run's audit zone
(``work/run=<id>/...``), never in the catalog: the fidelity gate audits them first.
Staged file names carry the item and frame, never a user id, so the same frame chosen by
many users is staged once and nothing personal leaks into object keys.
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from generec_core.config import PipelineConfig
from generec_core.editor.selection import ItemFrames, Selection, clip_bounds, pick_device, select_for_item
from generec_core.items import Item, local_file, read_items, safe_name
from generec_core.layout import Layout, run_id_for
from generec_core.stages.frames import load_frame_embeddings
from generec_core.storage import exists, join, read_parquet, storage_for, write_parquet
from generec_core.video.clip import cut_clip
from generec_core.video.decode import VideoDecodeError, sample_frames

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


def personalise_shard(config: PipelineConfig, date: str, shard: int) -> dict:
    """Select and stage thumbnails + clips for one shard of the worklist; returns counts."""
    layout, run_id = Layout(config.root), run_id_for(date)
    worklist = _shard_worklist(layout, run_id, shard)
    tastes = _tastes(layout, date, set(worklist.column("user_id").to_pylist()))
    contexts = _item_contexts(config, set(worklist.column("item_id").to_pylist()))
    rows, counts = _stage_rows(config, layout, run_id, shard, worklist, tastes, contexts)
    write_parquet(shard_rows_uri(layout, run_id, shard), pa.Table.from_pylist(rows, STAGED_ROWS_SCHEMA))
    log.info("personalise shard=%s rows=%s", shard, len(rows))
    return {**counts, "shard": shard, "rows": len(rows)}


def _shard_worklist(layout: Layout, run_id: str, shard: int) -> pa.Table:
    table = read_parquet(layout.worklist(run_id))
    return table.filter(pc.equal(table["shard"], shard)).sort_by([("user_id", "ascending"), ("item_id", "ascending")])


def _tastes(layout: Layout, date: str, users: set[str]) -> dict[str, np.ndarray]:
    table = read_parquet(layout.user_features(date)).select(["user_id", "taste"])
    table = table.filter(pc.is_in(table["user_id"], pa.array(sorted(users), pa.string())))
    return {u: np.asarray(t, dtype=np.float32) for u, t in zip(table["user_id"].to_pylist(), table["taste"].to_pylist())}


def _item_contexts(config: PipelineConfig, item_ids: set[str]) -> dict[str, _ItemContext]:
    frames = load_frame_embeddings(config)
    frames = frames.filter(pc.is_in(frames["item_id"], pa.array(sorted(item_ids), pa.string())))
    by_item: dict[str, list[tuple[int, float, list[float]]]] = defaultdict(list)
    for item_id, idx, ts, emb in zip(frames["item_id"].to_pylist(), frames["frame_idx"].to_pylist(),
                                     frames["ts"].to_pylist(), frames["embedding"].to_pylist()):
        if idx >= 0:
            by_item[item_id].append((idx, ts, emb))
    items = {i.item_id: i for i in read_items(Layout(config.root))}
    out = {}
    for item_id, rows in by_item.items():
        rows.sort()
        out[item_id] = _ItemContext(items[item_id], ItemFrames(
            embeddings=np.asarray([r[2] for r in rows], dtype=np.float32),
            timestamps=np.asarray([r[1] for r in rows], dtype=np.float64), duration_s=0.0))
    return out


def _stage_rows(config: PipelineConfig, layout: Layout, run_id: str, shard: int, worklist: pa.Table,
                tastes: dict[str, np.ndarray], contexts: dict[str, _ItemContext]) -> tuple[list[dict], dict]:
    device = pick_device(config.frames.device)
    pairs_by_item: dict[str, list[dict]] = defaultdict(list)
    for rec in worklist.to_pylist():
        pairs_by_item[rec["item_id"]].append(rec)
    rows: list[dict] = []
    counts = {"selected": 0, "original": 0, "skipped_missing_item": 0, "skipped_decode": 0}
    for item_id in sorted(pairs_by_item):
        pairs, ctx = pairs_by_item[item_id], contexts.get(item_id)
        if ctx is None:  # quarantined at the frames stage: nothing to personalise from
            counts["skipped_missing_item"] += len(pairs)
            continue
        try:
            _decode(config, ctx)
            selections = _select(config, ctx, pairs, tastes, device)
            item_rows = [_row(config, layout, run_id, shard, p, ctx, selections.get(p["user_id"])) for p in pairs]
        except VideoDecodeError as exc:  # one bad video costs its rows, never the shard
            log.warning("item %s skipped: %s", item_id, exc.reason)
            counts["skipped_decode"] += len(pairs)
            continue
        rows.extend(item_rows)
        for r in item_rows:
            counts[r["thumbnail_kind"]] += 1
    return rows, counts


def _select(config: PipelineConfig, ctx: _ItemContext, pairs: list[dict], tastes: dict[str, np.ndarray],
            device: str) -> dict[str, Selection]:
    """Selections for the item's warm users; cold-start users have no taste of their own."""
    warm = [p["user_id"] for p in pairs if not p["is_cold"]]
    if not warm:
        return {}
    chosen = select_for_item(np.stack([tastes[u] for u in warm]), ctx.frames,
                             config.editor.clip_window, config.editor.clip_stride, device)
    return dict(zip(warm, chosen))


def _decode(config: PipelineConfig, ctx: _ItemContext) -> None:
    """Decode the same sampled frames the embedding stage saw, so indices line up."""
    with local_file(ctx.item.video_uri) as path:
        video = sample_frames(path, n=config.frames.frames_per_video, max_side=config.frames.max_side)
    if len(video.timestamps) != len(ctx.frames.timestamps) or not np.allclose(video.timestamps, ctx.frames.timestamps, atol=1e-3):
        raise VideoDecodeError(f"sampled frames of {ctx.item.item_id} no longer match their embeddings")
    ctx.video = video.frames
    ctx.frames = ItemFrames(ctx.frames.embeddings, ctx.frames.timestamps, video.duration_s)


def _row(config: PipelineConfig, layout: Layout, run_id: str, shard: int, pair: dict,
         ctx: _ItemContext, sel: Selection | None) -> dict:
    """Cold-start users (no taste of their own) get the original cover and the first clip."""
    cover_uri = _stage_cover(layout, run_id, ctx)
    if sel is None:
        thumb_uri, kind, frame_idx, frame_ts, score = cover_uri, "original", None, None, None
        window = (0, min(config.editor.clip_window, len(ctx.frames.timestamps)) - 1)
        clip_score = None
    else:
        thumb_uri = _stage_frame(config, layout, run_id, ctx, sel.frame_idx)
        kind, frame_idx, score = "selected", sel.frame_idx, sel.frame_score
        frame_ts = float(ctx.frames.timestamps[sel.frame_idx])
        window, clip_score = (sel.window_start, sel.window_end), sel.clip_score
    clip_uri, (start_s, end_s) = _stage_clip(layout, run_id, ctx, *window)
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


def _stage_clip(layout: Layout, run_id: str, ctx: _ItemContext, first: int, last: int) -> tuple[str, tuple[float, float]]:
    start_s, end_s = clip_bounds(ctx.frames, first, last)
    uri = join(layout.work(run_id), "staged/clips", f"{safe_name(ctx.item.item_id)}-w{first:03d}-{last:03d}.mp4")

    def make() -> bytes:
        with local_file(ctx.item.video_uri) as path:
            return cut_clip(path, start_s, end_s)
    return _stage_once(uri, make), (start_s, end_s)
