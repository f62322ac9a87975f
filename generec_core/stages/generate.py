"""Stage ``generate`` (per shard, GPU): personalised thumbnails generated from the selected frames.

Runs between personalise and the gate, per shard (a separate ``gpu``-pool task, so GPU
workers scale apart from CPU work). It reads the shard's staged rows (never rewriting them),
lets the trigger policy (``generation/plan.py``) pick rows, generates one image per (taste
group, item, source frame) with the configured backend and writes its own outputs beside
personalise's (``datasets.generated``): the images, which rows show them, and full lineage.
The gate lays them over the staged rows; a failed generated image falls back to its
selected frame there.

Idempotent: a retry or a re-run of the date plans from personalise's rows again and replaces
the generated rows and lineage. Cluster images are named by (generator, group, item, frame,
seed) and reused when another shard or an earlier attempt staged them; per-user images are
named by content, so no object key carries anything derived from a user id.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import Counter, defaultdict
from typing import TypedDict

import numpy as np
from PIL import Image

from generec_core.config import PipelineConfig
from generec_core.datasets import generated as generated_data
from generec_core.datasets.generated import GeneratedRow
from generec_core.datasets.guidance import read_guidance
from generec_core.datasets.interactions import likes_and_skips
from generec_core.datasets.items import Item, read_items
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.palettes import ItemPalettes
from generec_core.datasets.staged import StagedRow, read_shard_rows
from generec_core.datasets.users import read_user_features
from generec_core.fidelity.metadata import ai_marked_jpeg
from generec_core.generation.backend import GenerationRequest, Generator, generation_seed
from generec_core.generation.clusters import COLD, user_clusters
from generec_core.generation.generators import NONE, load_generator
from generec_core.generation.plan import GenerationJob, plan_jobs, prompt_for
from generec_core.generation.taste import CoverLibrary, cover_image_pixels, first_frame_pixels, group_palette, top_liked

log = logging.getLogger(__name__)

CHUNK = 64  # images held in memory at once
MAX_GROUP_MEMBERS = 256  # a cluster's palette comes from at most this many members' likes


class GenerateSummary(TypedDict, total=False):
    shard: int
    rows: int
    backend: str
    guidance_users: int
    cluster_source: str
    generator_id: str
    generated_rows: int
    per_user_images_needed: int
    images: int
    images_generated: int
    skipped_no_liked_covers: int
    skipped_bad_source: int


def run(config: PipelineConfig, date: str, shard: int) -> GenerateSummary:
    return generate_shard(config, date, shard)


def generate_shard(config: PipelineConfig, date: str, shard: int) -> GenerateSummary:
    """Generate the shard's triggered thumbnails and write which rows show them; returns counts."""
    layout, run_id, cfg = Layout.for_config(config), run_id_for(date), config.generation
    rows = read_shard_rows(layout, run_id, shard)
    summary: dict = {"shard": shard, "rows": len(rows), "backend": cfg.backend}
    lineage: list[dict] = []
    shown: list[GeneratedRow] = []
    if cfg.backend != NONE:
        shard_users = {r["user_id"] for r in rows}
        guidance = {u: g for u, g in read_guidance(layout, date).items() if u in shard_users}
        clusters, cluster_source = user_clusters(read_user_features(layout, date), cfg.clusters)
        members = _cluster_members(clusters, {clusters.get(u, COLD) for u in shard_users})
        likes, skips = likes_and_skips(layout, date, shard_users.union(*members.values()))
        jobs, counts = plan_jobs(rows, clusters, guidance, skips, cfg, config.instructor)
        summary.update(counts, guidance_users=len(guidance), cluster_source=cluster_source)
        if jobs:
            lineage, shown, run_counts, generator_id = _run_jobs(config, layout, run_id, date, jobs, rows,
                                                                 members, likes)
            summary.update(run_counts, generator_id=generator_id)
    generated_data.write_generated(layout, run_id, shard, shown, lineage)
    summary.update(generated_rows=len(shown), per_user_images_needed=len(shown),
                   images=len(lineage), images_generated=sum(not x["reused"] for x in lineage))
    log.info("generate shard=%s images=%s rows=%s", shard, len(lineage), len(shown))
    return summary  # type: ignore[return-value]


def _run_jobs(config: PipelineConfig, layout: Layout, run_id: str, date: str, jobs: list[GenerationJob],
              rows: list[StagedRow], members: dict[str, list[str]],
              likes: dict[str, set[str]]) -> tuple[list[dict], list[GeneratedRow], Counter, str]:
    cfg = config.generation
    generator = load_generator(cfg)  # fails the task (naming directory and model) when weights are missing
    covers = CoverLibrary(_cover_loader(layout, {i.item_id: i for i in read_items(layout)}), ItemPalettes(layout))
    counts: Counter = Counter()
    lineage: list[dict] = []
    shown: dict[int, GeneratedRow] = {}
    tastes: dict[str, tuple] = {}
    for start in range(0, len(jobs), CHUNK):
        todo: list[tuple[GenerationJob, GenerationRequest, str | None]] = []
        for job in jobs[start:start + CHUNK]:
            if job.group not in tastes:
                group_members = [job.group.removeprefix("user:")] if job.per_user else members.get(job.group, [])
                liked = top_liked(group_members, likes, cfg.max_taste_covers)
                tastes[job.group] = (liked, group_palette(liked, covers))
            liked, palette = tastes[job.group]
            if palette is None:
                counts["skipped_no_liked_covers"] += 1
                continue
            seed = generation_seed(job.group, job.item_id, generator.model_id, date)
            prompt = prompt_for(cfg.prompt, job.styles, palette)
            target = None if job.per_user else _cluster_asset_uri(layout, run_id, generator, job, seed)
            if target is not None and layout.store.exists(target):
                lineage.append(_lineage(job, generator, seed, prompt, target, date, reused=True))
                _show(shown, rows, job, target, generator.generator_id)
                continue
            source = _read_source(layout, job)
            if source is None:
                counts["skipped_bad_source"] += 1
                continue
            pixels = [p for p in (covers.pixels(i) for i, _ in liked) if p is not None] if generator.needs_covers else []
            todo.append((job, GenerationRequest(source, palette, prompt, seed, job.styles, job.group, pixels), target))
        images = generator.generate([req for _, req, _ in todo]) if todo else []
        for (job, req, target), image in zip(todo, images):
            data = ai_marked_jpeg(image, config.editor.thumbnail_jpeg_quality, generator.generator_id)
            uri = target or _content_asset_uri(layout, run_id, job, data)
            layout.store.write_bytes(uri, data)
            lineage.append(_lineage(job, generator, req.seed, req.prompt, uri, date, reused=False))
            _show(shown, rows, job, uri, generator.generator_id)
    return lineage, [shown[i] for i in sorted(shown)], counts, generator.generator_id


def _cover_loader(layout: Layout, items: dict[str, Item]):
    """``item_id -> cover pixels``: the cover image, else the video's first frame; None for an unknown item."""
    def load(item_id: str) -> np.ndarray | None:
        item = items.get(item_id)
        if item is None:
            return None
        if item.cover_uri is not None:
            return cover_image_pixels(layout.store.read_bytes(item.cover_uri))
        with layout.store.local_file(item.video_uri) as path:
            return first_frame_pixels(path)
    return load


def _cluster_members(clusters: dict[str, str], labels: set[str]) -> dict[str, list[str]]:
    """Whose likes define each cluster's taste: a stable sample (by user-id hash) of its members, any shard."""
    by_cluster: dict[str, list[str]] = defaultdict(list)
    for user, label in clusters.items():
        if label in labels:
            by_cluster[label].append(user)
    return {label: sorted(users, key=lambda u: hashlib.sha256(u.encode()).hexdigest())[:MAX_GROUP_MEMBERS]
            for label, users in by_cluster.items()}


def _read_source(layout: Layout, job: GenerationJob) -> np.ndarray | None:
    try:
        data = layout.store.read_bytes(job.source_staged)
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    except (OSError, ValueError) as exc:
        log.warning("generation source %s unusable: %s", job.source_staged, exc)
        return None


def _cluster_asset_uri(layout: Layout, run_id: str, generator: Generator, job: GenerationJob, seed: int) -> str:
    key = hashlib.sha256("\x1f".join((generator.generator_id, job.group, job.item_id, str(job.frame_idx),
                                      str(seed))).encode("utf-8")).hexdigest()[:16]
    return layout.staged_generated(run_id, job.item_id, job.frame_idx, key)


def _content_asset_uri(layout: Layout, run_id: str, job: GenerationJob, data: bytes) -> str:
    return layout.staged_generated(run_id, job.item_id, job.frame_idx, hashlib.sha256(data).hexdigest()[:16])


def _show(shown: dict[int, GeneratedRow], rows: list[StagedRow], job: GenerationJob, uri: str,
          generator_id: str) -> None:
    for i in job.rows:
        shown[i] = {"user_id": rows[i]["user_id"], "item_id": rows[i]["item_id"], "thumbnail_staged": uri,
                    "generator_id": generator_id}


def _lineage(job: GenerationJob, generator: Generator, seed: int, prompt: str, uri: str, date: str,
             reused: bool) -> dict:
    s = generator.settings
    return {"asset": uri, "generator_id": generator.generator_id, "backend": generator.backend,
            "model_id": generator.model_id, "seed": seed, "strength": s.strength, "steps": s.steps,
            "guidance_scale": s.guidance_scale, "resolution": s.resolution, "prompt": prompt,
            "styles": list(job.styles), "item_id": job.item_id, "source_frame_idx": job.frame_idx,
            "source_frame_ts": job.frame_ts, "source_staged": job.source_staged,
            "cluster": None if job.per_user else job.group, "per_user": job.per_user,
            "user_id": job.group.removeprefix("user:") if job.per_user else None,
            "rows": len(job.rows), "reused": reused, "date": date}
