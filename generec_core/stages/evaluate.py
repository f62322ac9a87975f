"""Stage ``evaluate``: Cosine@K (the paper's table) of the published run, and the planted-taste share.

Reads what the run published and what it was built from (manifest and its generated assets, worklist ranks, frames,
tastes, likes up to the date) and, when the root holds a labelled world, its truth; the
evaluation itself is ``evaluation/summary.py`` (``evaluation/created.py`` for created items). Writes ``datasets.evaluation`` for the report
and ``generec evaluate``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa

from generec_core.config import PipelineConfig
from generec_core.datasets import catalog, users
from generec_core.datasets.evaluation import write_evaluation, write_replay
from generec_core.datasets.frames import frames_by_item, load_frames, load_item_frames
from generec_core.datasets.gate_cache import GateCache
from generec_core.datasets.interactions import likes_and_skips
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.truth import read_truth
from generec_core.embedding.encoder import load_encoder_for
from generec_core.evaluation.created import created_evaluation
from generec_core.evaluation.replay import NothingToReplay, replay
from generec_core.evaluation.generated import edited_clips, generated_thumbnails
from generec_core.evaluation.summary import evaluated_items, format_table, summarise
from generec_core.fidelity.model_outputs import ModelOutputs
from generec_core.kinds import ClipKind, ThumbnailKind
from generec_core.storage import ObjectNotFound

log = logging.getLogger(__name__)

EvaluateSummary = dict[str, Any]  # users_evaluated, "cosine@5 <method>" per method, "planted <share>", or skipped


def run(config: PipelineConfig, date: str) -> EvaluateSummary:
    if config.run.dry_run:  # the date's manifest, if any, is an earlier run's: not what this run made
        return {"skipped": "dry run: nothing was published to evaluate"}
    summary = evaluate(config, date)
    if summary.get("skipped"):
        return {"skipped": summary["skipped"]}
    brief = {f"cosine@5 {row['method']}": row["cosine@5"] for row in summary["thumbnail"] + summary["clip"]}
    brief.update({f"cosine@5 on {section} pairs: {row['method']}": row["cosine@5"]
                  for section in ("generated", "edited") for row in summary[section] if row["cosine@5"] is not None})
    planted = summary.get("planted") or {}
    brief.update({f"planted {k}": v for k, v in planted.items() if k in ("ours", "random_frame", "pairs")})
    replayed = _replay(config, date)
    brief.update({f"replay take rate {name} (dr)": est["dr"] for name, est in replayed.get("policies", {}).items()})
    created = summary.get("created") or {}
    brief.update({f"created cosine@1 {k}": v for k, v in (created.get("cosine@1") or {}).items()})
    brief.update({f"created planted {k}": v for k, v in (created.get("planted") or {}).items()})
    return {"users_evaluated": summary["users_evaluated"], **brief}


def _replay(config: PipelineConfig, date: str) -> dict:
    """The off-policy evaluation of the date's logs, stored for the report; empty when they cannot be replayed."""
    layout = Layout.for_config(config)
    try:
        summary = replay(layout, date)
    except NothingToReplay as exc:
        log.info("no replay: %s", exc)
        return {}
    write_replay(layout, run_id_for(date), summary)
    return summary["replay"]


def evaluate(config: PipelineConfig, date: str) -> dict:
    """Compute and store the run's evaluation; returns the summary (``skipped`` says why when nothing ran)."""
    layout, run_id = Layout.for_config(config), run_id_for(date)
    try:
        rows = catalog.read_rows(layout, layout.manifest(date, run_id))
    except catalog.CatalogError:
        return {"date": date, "run_id": run_id, "skipped": "no published manifest for this date"}
    shown_users = {r["user_id"] for r in rows}
    try:
        tastes = users.tastes(layout, date, shown_users, warm_only=True)
    except ObjectNotFound:
        tastes = {}
    likes, _ = likes_and_skips(layout, date, shown_users)
    created = catalog.read_created_items(layout, date, run_id)
    frames, videos = _frames(config, created, rows, likes)
    items = evaluated_items(frames, dict(zip(videos["item_id"].to_pylist(), videos["duration_s"].to_pylist())))
    retrieved = [r for r in rows if r["thumbnail_kind"] != ThumbnailKind.CREATED]
    made, edits = _generation(config, layout, retrieved, items)
    truth = read_truth(layout)
    summary = summarise(date, run_id, retrieved, items, users.worklist_ranks(layout, run_id), tastes, likes,
                        config.editor, truth, made, edits)
    summary["created"] = created_evaluation(created, rows, frames_by_item(frames, videos), tastes, truth)
    write_evaluation(layout, run_id, summary)
    log.info("evaluation %s: %s", run_id, format_table(summary))
    return summary


def _frames(config: PipelineConfig, created: list[dict], rows: list[dict],
            likes: dict[str, set[str]]) -> tuple[pa.Table, pa.Table]:
    """The frames the evaluation reads: the shown items' and the shown users' liked items' (their covers are the
    users' history). Created items' random baselines draw segments from the whole catalogue, so a run that
    published any reads every item's frames."""
    if created:
        return load_frames(config)
    return load_item_frames(config, {r["item_id"] for r in rows} | {i for liked in likes.values() for i in liked})


def _generation(config: PipelineConfig, layout: Layout, rows: list[dict],
                items: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Embeddings of the published generated thumbnails and edited clips (the encoder loads only if any)."""
    if not any(r["thumbnail_kind"] == ThumbnailKind.GENERATED or r.get("clip_kind") == ClipKind.EDITED
               for r in rows):
        return {}, {}
    encoder = load_encoder_for(config.frames)
    # the audit's stored embeddings of the same pixels (read only: the evaluation's own are not kept)
    models = ModelOutputs(encoder, GateCache.for_encoder(layout, encoder) if config.gate.reuse_model_outputs else None)
    times = {item_id: item.frames.timestamps for item_id, item in items.items()}
    read = layout.store.read_bytes
    made = generated_thumbnails(rows, read, models.embed), edited_clips(rows, read, models.embed, times)
    log.info("evaluation embeddings: %s", models.stats())
    return made
