"""Stage ``audit``: the fidelity checks of one asset shard, the gate's model work, one task per shard.

Every shard task reads personalise's staged rows with generation laid over them
(``datasets.generated.with_generated``) and the created items, plans each distinct asset once
(``fidelity/gating.py``) and keeps the assets of its shard (``datasets.audit.asset_shard``: a stable
hash of the asset's URI; a created item's video and cover go together, by the video's URI). It checks
each (``fidelity/audit.py``: quality, safety, authenticity, privacy, identifiability, and the
generated-asset rules) and writes the shard's verdicts (``datasets.audit``). An asset is judged on its
own (its bytes, its source frames, the night's user ids), so the union of the shards' verdicts is the
same whatever the shard count. The ``gate`` stage reads them all and decides.

The models' outputs (embedding, P(NSFW), face boxes) are reused for decoded pixels already seen under the
same models (``datasets.gate_cache``, keyed by the pixels' hash and the models; ``gate.reuse_model_outputs``),
never the verdicts: the checks are applied afresh. The summary counts the hits and misses.
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from typing import TypedDict

import numpy as np
import pyarrow as pa
from PIL import Image

from generec_core.config import PipelineConfig
from generec_core.datasets import audit as audit_data
from generec_core.datasets.audit import Verdict, asset_shard
from generec_core.datasets.created import CreatedItem, read_created
from generec_core.datasets.gate_cache import GateCache
from generec_core.datasets.frames import frames_by_item, load_item_frames, quarantined_items
from generec_core.datasets.generated import read_all_shown_rows
from generec_core.datasets.items import read_items
from generec_core.datasets.layout import Layout, run_id_for, safe_name
from generec_core.datasets.staged import read_staged
from generec_core.embedding.encoder import load_encoder_for
from generec_core.editor.selection import ItemFrames
from generec_core.fidelity.audit import Auditor, ClipAsset, CreatedAsset, ImageAsset, Probe, created_probes
from generec_core.fidelity.checks import verdict
from generec_core.fidelity.gating import AssetPlan, plan_assets
from generec_core.kinds import AssetKind
from generec_core.storage import ObjectNotFound
from generec_core.video.decode import VideoDecodeError, frames_at
from generec_core.video.quality import QualityThresholds

log = logging.getLogger(__name__)

_CHUNK = 32  # images decoded and checked at once: bounded memory, batched models


class AuditSummary(TypedDict):
    shard: int
    asset_shards: int
    assets: int  # of the shard, created items' videos and covers included
    passed: int
    failed: int
    by_kind: dict  # kind -> assets of the shard
    model_outputs: dict  # images through the models: reused or not, hits, misses, face_hits, face_misses


def run(config: PipelineConfig, date: str, shard: int) -> AuditSummary:
    return audit_shard(config, date, shard)


def audit_shard(config: PipelineConfig, date: str, shard: int) -> AuditSummary:
    """Judge the asset shard's assets and replace its verdicts; the models load only when it has assets."""
    layout, run_id, shards = Layout.for_config(config), run_id_for(date), config.gate.shards
    if not 0 <= shard < shards:
        raise ValueError(f"asset shard {shard} outside 0..{shards - 1} (gate.shards)")
    shown = read_all_shown_rows(layout, run_id)
    created = read_created(layout, run_id)
    plans = {a: p for a, p in plan_assets(shown).items() if asset_shard(a, shards) == shard}
    mine = [c for c in created if asset_shard(c["video_staged"], shards) == shard]
    verdicts: dict[str, Verdict] = {}
    reuse = {"reused": config.gate.reuse_model_outputs, "hits": 0, "misses": 0, "face_hits": 0, "face_misses": 0}
    if plans or mine:
        # every user id of the night, not the shard's: the privacy checks look for any of them
        user_ids = frozenset(r["user_id"] for r in shown) | {u for c in created for u in c["recipients"]}
        frames, videos = load_item_frames(config, _source_items(plans, mine))
        encoder = load_encoder_for(config.frames)
        outputs = GateCache.for_encoder(layout, encoder) if config.gate.reuse_model_outputs else None
        auditor = Auditor(config.gate, encoder, user_ids, QualityThresholds.from_config(config.frames), outputs)
        verdicts = _audit(auditor, layout, plans, frames)
        verdicts.update(_audit_created(config, auditor, layout, mine, frames, videos))
        reuse = auditor.models.stats()
    audit_data.write_verdicts(layout, run_id, shard, verdicts)
    kinds: dict[str, int] = {}
    for v in verdicts.values():
        kinds[v["kind"]] = kinds.get(v["kind"], 0) + 1
    passed = sum(v["passed"] for v in verdicts.values())
    summary: AuditSummary = {"shard": shard, "asset_shards": shards, "assets": len(verdicts), "passed": passed,
                             "failed": len(verdicts) - passed, "by_kind": dict(sorted(kinds.items())),
                             "model_outputs": reuse}
    log.info("audit run=%s shard=%s/%s: %s", run_id, shard, shards, summary)
    return summary


def _source_items(plans: dict[str, AssetPlan], created: list[CreatedItem]) -> set[str]:
    """The items whose stored frames the shard's checks compare against: each asset's item, each created item's
    sources and cover item. Only their frames are read, so a shard's memory follows its assets, not the catalogue."""
    return ({p.item_id for p in plans.values()} | {s["item_id"] for c in created for s in c["sources"]}
            | {c["cover_item_id"] for c in created})


def _audit(auditor: Auditor, layout: Layout, plans: dict[str, AssetPlan], frames: pa.Table
           ) -> dict[str, Verdict]:
    """One verdict per asset: ``{"kind", "passed", "reasons", "checks"}``."""
    reference = {(i, f): np.asarray(e, np.float32) for i, f, e in zip(
        frames["item_id"].to_pylist(), frames["frame_idx"].to_pylist(), frames["embedding"].to_pylist())}
    timeline: dict[str, list[tuple[float, np.ndarray]]] = defaultdict(list)
    for item, idx, ts in zip(frames["item_id"].to_pylist(), frames["frame_idx"].to_pylist(), frames["ts"].to_pylist()):
        if idx >= 0:
            timeline[item].append((ts, reference[(item, idx)]))
    images = sorted(a for a, p in plans.items() if p.kind != AssetKind.CLIP)
    verdicts: dict[str, Verdict] = {}
    for start in range(0, len(images), _CHUNK):
        batch = images[start:start + _CHUNK]
        cases = [_image_case(layout, a, plans[a], reference) for a in batch]
        for asset, checks in zip(batch, auditor.images(cases)):
            verdicts[asset] = {"kind": plans[asset].kind.value, **verdict(checks)}  # type: ignore[typeddict-item]
    clips = sorted(a for a, p in plans.items() if p.kind in (AssetKind.CLIP, AssetKind.EDITED_CLIP))
    per_batch = max(1, _CHUNK // auditor.gate.clip_check_frames)  # about _CHUNK frames through the models
    for start in range(0, len(clips), per_batch):
        batch = clips[start:start + per_batch]
        cases = [_clip_case(layout, a, plans[a], timeline) for a in batch]
        for asset, checks in zip(batch, auditor.clips(cases)):
            verdicts[asset] = {"kind": plans[asset].kind.value, **verdict(checks)}  # type: ignore[typeddict-item]
    return verdicts


def _audit_created(config: PipelineConfig, auditor: Auditor, layout: Layout, created: list[CreatedItem],
                   frames: pa.Table, videos: pa.Table) -> dict[str, Verdict]:
    """Verdicts on every created video and cover, checked against the sources they name."""
    if not created:
        return {}
    usable, video_uris = _usable_sources(layout, frames, videos)
    verdicts: dict[str, Verdict] = {}
    for item in created:
        probes, cover_source = _probes(config, layout, item, usable, video_uris)
        video = CreatedAsset(item["video_staged"], read_staged(layout, item["video_staged"]), item["duration_s"],
                             (config.creator.min_duration_s, config.creator.max_duration_s), item["sources"],
                             {i: f.duration_s for i, f in usable.items()}, probes, item["edited"])
        verdicts[item["video_staged"]] = {"kind": AssetKind.CREATED_VIDEO.value,
                                          **verdict(auditor.videos([video])[0])}  # type: ignore[typeddict-item]
        embedding, pixels = cover_source
        cover = ImageAsset(item["cover_staged"], read_staged(layout, item["cover_staged"]), embedding, generated=True,
                           source_pixels=pixels, row_marked=True)
        verdicts[item["cover_staged"]] = {"kind": AssetKind.CREATED_COVER.value,
                                          **verdict(auditor.images([cover])[0])}  # type: ignore[typeddict-item]
    return verdicts


def _usable_sources(layout: Layout, frames: pa.Table, videos: pa.Table
                    ) -> tuple[dict[str, ItemFrames], dict[str, str]]:
    """Catalogue items a created item may show (embedded, listed in the catalogue, not quarantined), and every
    listed item's video."""
    uris = {i.item_id: i.video_uri for i in read_items(layout)}
    quarantined = quarantined_items(layout)
    return {i: f for i, f in frames_by_item(frames, videos).items()
            if i in uris and safe_name(i) not in quarantined}, uris


def _probes(config: PipelineConfig, layout: Layout, item: CreatedItem, usable: dict[str, ItemFrames],
            videos: dict[str, str]) -> tuple[list[Probe], tuple[np.ndarray | None, np.ndarray | None]]:
    """The sampled source frames the video must show (``fidelity.audit.created_probes``) with their pixels, and
    the cover's source frame (embedding, pixels)."""
    planned = created_probes(item["sources"], item["offsets_s"], usable, config.creator.fps,
                             config.creator.transition_s, config.gate.clip_check_frames)
    probes = []
    for item_id in dict.fromkeys(p[2] for p in planned):
        mine = [p for p in planned if p[2] == item_id]
        pixels = _source_frames(config, layout, videos[item_id], [p[3] for p in mine])
        probes += [Probe(n, at_s, embedding, px) for (n, at_s, _, _, embedding), px in zip(mine, pixels)]
    probes.sort(key=lambda p: p.at_s)
    cover: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
    cover_frames = usable.get(item["cover_item_id"])
    if cover_frames is not None:
        i = int(np.argmin(np.abs(cover_frames.timestamps - item["cover_ts"])))
        cover = (cover_frames.embeddings[i],
                 _source_frames(config, layout, videos[item["cover_item_id"]], [item["cover_ts"]])[0])
    return probes, cover


def _source_frames(config: PipelineConfig, layout: Layout, video_uri: str, times: list[float]
                   ) -> list[np.ndarray | None]:
    """Source frames at ``times`` (for the new-faces check); None each when the source cannot give them."""
    if not times:
        return []
    try:
        return list(frames_at(layout.store.read_bytes(video_uri), times, config.creator.max_side))
    except (ObjectNotFound, VideoDecodeError) as exc:
        log.warning("source frames of %s unavailable: %s", video_uri, exc)
        return [None] * len(times)


def _image_case(layout: Layout, asset: str, plan: AssetPlan, reference: dict) -> ImageAsset:
    source = reference.get((plan.item_id, plan.frame_idx)) if plan.frame_idx is not None else None
    generated = plan.kind == AssetKind.GENERATED
    return ImageAsset(asset, read_staged(layout, asset), source, generated=generated,
                      source_pixels=_pixels(layout, plan.selected) if generated else None,
                      row_marked=plan.row_marked)


def _clip_case(layout: Layout, asset: str, plan: AssetPlan,
               timeline: dict[str, list[tuple[float, np.ndarray]]]) -> ClipAsset:
    """The clip with the stored embeddings of the sampled frames its window covers (and, edited, its source)."""
    start_s, end_s = plan.window
    window = [(t, e) for t, e in timeline.get(plan.item_id, []) if start_s - 1e-6 <= t < end_s - 1e-6]
    if plan.kind != AssetKind.EDITED_CLIP:
        return ClipAsset(asset, read_staged(layout, asset), start_s, end_s, window)
    return ClipAsset(asset, read_staged(layout, asset), start_s, end_s, window,
                     edited_from=read_staged(layout, plan.selected) if plan.selected else b"", row_marked=plan.row_marked)


def _pixels(layout: Layout, uri: str | None) -> np.ndarray | None:
    if not uri:
        return None
    try:
        with Image.open(io.BytesIO(read_staged(layout, uri))) as image:
            return np.asarray(image.convert("RGB"))
    except Exception:  # noqa: BLE001 - an unreadable source fails new_faces with "source frame unavailable"
        return None
