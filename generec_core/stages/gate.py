"""Stage ``gate``: audit every staged and generated asset in ``work/`` before anything may be published.

Write-audit-publish: the editor and the generator stage, this stage audits, only ``publish``
touches the catalog. It reads personalise's staged rows with generation laid over them
(``datasets.generated.with_generated``), checks each distinct asset once (``fidelity/audit.py``:
quality, safety, authenticity, privacy, identifiability, and the generated-asset rules), applies
the fallbacks and validates the resulting rows with the manifest suite (``fidelity/gating.py``),
then writes the verdicts, the rows publish will publish and the quarantined assets
(``datasets.gate``). Below a pass-rate floor, or when the data checks fail, it raises
``GateFailed`` after recording its summary: publish does not run.
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
from generec_core.datasets import expectations as expectation_pages
from generec_core.datasets import gate as gate_data
from generec_core.datasets.created import CreatedItem, read_created
from generec_core.datasets.feedback import read_feedback
from generec_core.datasets.frames import frames_by_item, load_frames, quarantined_items
from generec_core.datasets.generated import SHOWN_ROWS_SCHEMA, read_shown_rows
from generec_core.datasets.items import read_items
from generec_core.datasets.layout import Layout, run_id_for, safe_name
from generec_core.datasets.staged import staged_shards
from generec_core.datasets.users import read_user_features
from generec_core.embedding.encoder import load_encoder_for
from generec_core.editor.bandit import Feedback
from generec_core.editor.selection import ItemFrames
from generec_core.fidelity.audit import Auditor, ClipAsset, CreatedAsset, ImageAsset, Probe, created_probes
from generec_core.fidelity.checks import verdict
from generec_core.fidelity.gating import (
    AssetPlan,
    apply_fallbacks,
    bias_report,
    created_rows,
    created_summary,
    halt_if_bad,
    plan_assets,
    summarise,
    user_groups,
)
from generec_core.fidelity.manifest_suite import SUITE, validate_manifest
from generec_core.kinds import AssetKind
from generec_core.storage import ObjectNotFound, sha256_hex
from generec_core.video.decode import VideoDecodeError, frames_at
from generec_core.video.quality import QualityThresholds

log = logging.getLogger(__name__)

_CHUNK = 32  # images decoded and checked at once: bounded memory, batched models


class GateSummary(TypedDict, total=False):
    assets: int
    passed: int
    failed: int
    pass_rate: float
    floor: float
    generated: dict
    by_stage: dict
    by_kind: dict
    failed_checks: dict
    failure_reasons: dict
    rows: int
    rows_with_fallback: int
    rows_dropped: int
    manifest_checks: dict
    bias: dict


def run(config: PipelineConfig, date: str) -> GateSummary:
    return run_gate(config, date)


def run_gate(config: PipelineConfig, date: str) -> GateSummary:
    layout, run_id = Layout.for_config(config), run_id_for(date)
    shown = _shown_rows(layout, run_id)
    rows = pa.Table.from_pylist(shown, SHOWN_ROWS_SCHEMA)
    plans = plan_assets(shown)
    created = read_created(layout, run_id)
    user_ids = frozenset(rows["user_id"].to_pylist()) | {u for c in created for u in c["recipients"]}
    frames, videos = load_frames(config)
    auditor = Auditor(config.gate, load_encoder_for(config.frames), user_ids,
                      QualityThresholds.from_config(config.frames))
    verdicts = _audit(auditor, layout, plans, frames)
    verdicts.update(_audit_created(config, auditor, layout, created, frames, videos))
    passed_created = [c for c in created if all(verdicts[a]["passed"] for a in (c["video_staged"], c["cover_staged"]))]
    features = _features(layout, date)
    final = apply_fallbacks(rows, verdicts, config.editor, _feedback(layout, date, plans, features))
    final = pa.concat_tables([final, created_rows(passed_created, final.schema, _encoder_id(rows))])
    gate_data.write_gate_created(layout, run_id, passed_created)
    data_checks, gx_result = validate_manifest(final, {a: v["passed"] for a, v in verdicts.items()}, run_id)
    gate_data.write_verdicts(layout, run_id, verdicts)
    gate_data.write_gate_rows(layout, run_id, final)
    gate_data.write_manifest_checks(layout, run_id, data_checks)
    _write_manifest_page(layout, run_id, gx_result)
    gate_data.quarantine_assets(layout, date, [(a, _read(layout, a), v) for a, v in sorted(verdicts.items())
                                               if not v["passed"]])
    bias = bias_report(rows, final, user_groups(features))
    summary = summarise(config.gate, verdicts, final, data_checks, bias)
    summary.update(rows_dropped=rows.num_rows + sum(len(c["recipients"]) for c in passed_created) - final.num_rows,
                   created=created_summary(created, passed_created, verdicts))
    log.info("gate run=%s pass_rate=%s by_stage=%s", run_id, summary["pass_rate"], summary["by_stage"])
    halt_if_bad(summary, date, layout.expectation_page(run_id, SUITE))
    return summary  # type: ignore[return-value]


def _shown_rows(layout: Layout, run_id: str) -> list[dict]:
    """Every shard's staged rows with generation laid over them."""
    shards = staged_shards(layout, run_id)
    if not shards:
        raise FileNotFoundError(f"no staged shard outputs under {layout.work(run_id)}: did personalise run?")
    return [row for shard in shards for row in read_shown_rows(layout, run_id, shard)]


def _features(layout: Layout, date: str) -> pa.Table | None:
    try:
        return read_user_features(layout, date)
    except (ObjectNotFound, FileNotFoundError):
        return None


def _feedback(layout: Layout, date: str, plans: dict[str, AssetPlan], features: pa.Table | None) -> Feedback | None:
    """What the candidate bandit learns from tonight; None before any contract v2 impression was logged."""
    counts = read_feedback(layout, date)
    if not counts:
        return None
    clusters = {} if features is None else {
        u: str(c) for u, c in zip(features["user_id"].to_pylist(), features["cluster"].to_pylist())}
    images = [a for a, p in plans.items() if p.kind in (AssetKind.SELECTED, AssetKind.COVER, AssetKind.GENERATED)]
    return Feedback(clusters, counts, {a: f"{sha256_hex(_read(layout, a))}.{a.rsplit('.', 1)[-1].lower()}"
                                       for a in images})


def _encoder_id(rows: pa.Table) -> str | None:
    ids = [e for e in rows["encoder_id"].to_pylist() if e]
    return ids[0] if ids else None


def _audit(auditor: Auditor, layout: Layout, plans: dict[str, AssetPlan], frames: pa.Table
           ) -> dict[str, gate_data.Verdict]:
    """One verdict per asset: ``{"kind", "passed", "reasons", "checks"}``."""
    reference = {(i, f): np.asarray(e, np.float32) for i, f, e in zip(
        frames["item_id"].to_pylist(), frames["frame_idx"].to_pylist(), frames["embedding"].to_pylist())}
    timeline: dict[str, list[tuple[float, np.ndarray]]] = defaultdict(list)
    for item, idx, ts in zip(frames["item_id"].to_pylist(), frames["frame_idx"].to_pylist(), frames["ts"].to_pylist()):
        if idx >= 0:
            timeline[item].append((ts, reference[(item, idx)]))
    images = sorted(a for a, p in plans.items() if p.kind != AssetKind.CLIP)
    verdicts: dict[str, gate_data.Verdict] = {}
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
                   frames: pa.Table, videos: pa.Table) -> dict[str, gate_data.Verdict]:
    """Verdicts on every created video and cover, checked against the sources they name."""
    if not created:
        return {}
    usable, video_uris = _usable_sources(layout, frames, videos)
    verdicts: dict[str, gate_data.Verdict] = {}
    for item in created:
        probes, cover_source = _probes(config, layout, item, usable, video_uris)
        video = CreatedAsset(item["video_staged"], _read(layout, item["video_staged"]), item["duration_s"],
                             (config.creator.min_duration_s, config.creator.max_duration_s), item["sources"],
                             {i: f.duration_s for i, f in usable.items()}, probes, item["edited"])
        verdicts[item["video_staged"]] = {"kind": AssetKind.CREATED_VIDEO.value,
                                          **verdict(auditor.videos([video])[0])}  # type: ignore[typeddict-item]
        embedding, pixels = cover_source
        cover = ImageAsset(item["cover_staged"], _read(layout, item["cover_staged"]), embedding, generated=True,
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


def _read(layout: Layout, uri: str) -> bytes:
    """A staged file's bytes; a missing one reads as empty, i.e. fails ``decodes`` with a reason."""
    try:
        return layout.store.read_bytes(uri)
    except (ObjectNotFound, FileNotFoundError):
        log.warning("staged asset missing: %s", uri)
        return b""


def _image_case(layout: Layout, asset: str, plan: AssetPlan, reference: dict) -> ImageAsset:
    source = reference.get((plan.item_id, plan.frame_idx)) if plan.frame_idx is not None else None
    generated = plan.kind == AssetKind.GENERATED
    return ImageAsset(asset, _read(layout, asset), source, generated=generated,
                      source_pixels=_pixels(layout, plan.selected) if generated else None,
                      row_marked=plan.row_marked)


def _clip_case(layout: Layout, asset: str, plan: AssetPlan,
               timeline: dict[str, list[tuple[float, np.ndarray]]]) -> ClipAsset:
    """The clip with the stored embeddings of the sampled frames its window covers (and, edited, its source)."""
    start_s, end_s = plan.window
    window = [(t, e) for t, e in timeline.get(plan.item_id, []) if start_s - 1e-6 <= t < end_s - 1e-6]
    if plan.kind != AssetKind.EDITED_CLIP:
        return ClipAsset(asset, _read(layout, asset), start_s, end_s, window)
    return ClipAsset(asset, _read(layout, asset), start_s, end_s, window,
                     edited_from=_read(layout, plan.selected) if plan.selected else b"", row_marked=plan.row_marked)


def _pixels(layout: Layout, uri: str | None) -> np.ndarray | None:
    if not uri:
        return None
    try:
        with Image.open(io.BytesIO(_read(layout, uri))) as image:
            return np.asarray(image.convert("RGB"))
    except Exception:  # noqa: BLE001 - an unreadable source fails new_faces with "source frame unavailable"
        return None


def _write_manifest_page(layout: Layout, run_id: str, gx_result) -> None:
    try:
        from generec_core.expectations.runner import render_html

        expectation_pages.write_page(layout, run_id, SUITE, render_html(gx_result))
    except Exception as exc:  # noqa: BLE001 - the page is a convenience; the JSON digest is the record
        log.warning("could not render the manifest validation page: %s", exc)
