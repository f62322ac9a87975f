"""Stage ``generate`` (per shard, GPU): personalised thumbnails from the selected frames, and edited clips.

Runs between personalise and the gate, per shard (a separate ``gpu``-pool task, so GPU
workers scale apart from CPU work). It reads the shard's staged rows (never rewriting them),
lets the trigger policy (``generation/plan.py``) pick rows, generates one image per (taste
group, item, source frame) with the configured backend, edits the chosen rows' clips (a
backend with a clip editor, ``generation.edit_clips``) and writes its own outputs beside
personalise's (``datasets.generated``): the images and clips, which rows show them, and full
lineage. The gate lays them over the staged rows; a failed generated image falls back to its
selected frame there, a failed edited clip to the unedited clip.

A taste group's liked covers are weighed as the taste weighs them (``datasets.users``'s taste
weights); backends take what they need of them: a palette, cover pixels, or a style vector.

Idempotent: a retry or a re-run of the date plans from personalise's rows again and replaces
the generated rows and lineage. Cluster images are named by (generator, group, item, frame,
seed) and edited clips by (editor, source clip, styles or group): both are reused when another
shard or an earlier attempt staged them; per-user images are named by content, so no object
key carries anything derived from a user id.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np
from PIL import Image

from generec_core.config import PipelineConfig
from generec_core.datasets import generated as generated_data
from generec_core.datasets.cover_styles import CoverStyles
from generec_core.datasets.generated import GeneratedRow
from generec_core.datasets.guidance import read_guidance
from generec_core.datasets.interactions import likes_and_skips
from generec_core.datasets.items import cover_loader
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.palettes import ItemPalettes
from generec_core.datasets.staged import StagedRow, read_shard_rows
from generec_core.datasets.users import read_user_features, taste_weights
from generec_core.fidelity.metadata import ai_clip_tags, ai_marked_jpeg
from generec_core.generation.backend import ClipEditor, GenerationRequest, Generator, generation_seed
from generec_core.generation.clusters import COLD, user_clusters
from generec_core.generation.generators import NONE, load_generator
from generec_core.generation.plan import ClipEditJob, GenerationJob, plan_clip_edits, plan_jobs, prompt_for
from generec_core.generation.taste import CoverLibrary, GroupTaste, GroupTastes
from generec_core.storage import ObjectNotFound
from generec_core.video.clip import clip_frames, encode_clip
from generec_core.video.decode import VideoDecodeError

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
    clip_generator_id: str
    edited_clip_rows: int
    edited_clips: int
    edited_clips_made: int
    skipped_clip_no_taste: int
    skipped_bad_clip: int


def run(config: PipelineConfig, date: str, shard: int) -> GenerateSummary:
    return generate_shard(config, date, shard)


def generate_shard(config: PipelineConfig, date: str, shard: int) -> GenerateSummary:
    """Generate the shard's triggered thumbnails and clip edits, and write which rows show them; returns counts."""
    layout, run_id, cfg = Layout.for_config(config), run_id_for(date), config.generation
    rows = read_shard_rows(layout, run_id, shard)
    summary: dict = {"shard": shard, "rows": len(rows), "backend": cfg.backend}
    outputs = _Outputs()
    if cfg.backend != NONE:
        shard_users = {r["user_id"] for r in rows}
        guidance = {u: g for u, g in read_guidance(layout, date).items() if u in shard_users}
        clusters, cluster_source = user_clusters(read_user_features(layout, date), cfg.clusters)
        members = _cluster_members(clusters, {clusters.get(u, COLD) for u in shard_users})
        _, skips = likes_and_skips(layout, date, shard_users)
        jobs, counts = plan_jobs(rows, clusters, guidance, skips, cfg, config.instructor)
        edits = plan_clip_edits(rows, guidance, jobs, cfg.edit_clips)
        summary.update(counts, guidance_users=len(guidance), cluster_source=cluster_source)
        if jobs or edits:
            weights = taste_weights(layout, date, shard_users.union(*members.values()))
            run = _Run(config, layout, run_id, date, rows, members, weights)
            run.thumbnails(jobs)
            run.clips(edits)
            outputs = run.outputs
            summary.update(outputs.counts, generator_id=run.generator.generator_id)
            if run.generator.clip_editor is not None:
                summary["clip_generator_id"] = run.generator.clip_editor.clip_generator_id
    shown = [outputs.shown[i] for i in sorted(outputs.shown)]
    generated_data.write_generated(layout, run_id, shard, shown, outputs.lineage)
    images = [x for x in outputs.lineage if x["asset_kind"] == "thumbnail"]
    clips = [x for x in outputs.lineage if x["asset_kind"] == "clip"]
    summary.update(generated_rows=sum(bool(r["thumbnail_staged"]) for r in shown),
                   per_user_images_needed=sum(bool(r["thumbnail_staged"]) for r in shown),
                   images=len(images), images_generated=sum(not x["reused"] for x in images),
                   edited_clip_rows=sum(bool(r["clip_staged"]) for r in shown),
                   edited_clips=len(clips), edited_clips_made=sum(not x["reused"] for x in clips))
    log.info("generate shard=%s images=%s clips=%s rows=%s", shard, len(images), len(clips), len(shown))
    return summary  # type: ignore[return-value]


@dataclass
class _Outputs:
    lineage: list[dict] = field(default_factory=list)
    shown: dict[int, GeneratedRow] = field(default_factory=dict)  # staged row index -> what generation made
    counts: Counter = field(default_factory=Counter)


class _Run:
    """One shard's generation: the loaded generator, the taste groups met so far, and what was made."""

    def __init__(self, config: PipelineConfig, layout: Layout, run_id: str, date: str, rows: list[StagedRow],
                 members: dict[str, list[str]], weights: dict[str, dict[str, float]]) -> None:
        self.config, self.layout, self.run_id, self.date, self.rows = config, layout, run_id, date, rows
        self.members, self.weights = members, weights
        self.generator = load_generator(config.generation)  # fails the task (naming what is missing) here
        encoder = self.generator.style_encoder
        self.covers = CoverLibrary(cover_loader(layout),
                                   ItemPalettes(layout),
                                   CoverStyles(layout, encoder.style_model_id) if encoder else None, encoder)
        self.outputs = _Outputs()
        self._tastes = GroupTastes(self.covers, weights, config.generation.max_taste_covers, encoder is not None)

    def taste(self, group: str, per_user: bool) -> GroupTaste:
        """A taste group's liked covers, their palette and (for style backends) their style."""
        return self._tastes.of(group, [group.removeprefix("user:")] if per_user else self.members.get(group, []))

    def thumbnails(self, jobs: list[GenerationJob]) -> None:
        for start in range(0, len(jobs), CHUNK):
            todo = [t for t in (self._request(job) for job in jobs[start:start + CHUNK]) if t is not None]
            images = self.generator.generate([req for _, req, _ in todo]) if todo else []
            for (job, req, target), image in zip(todo, images):
                data = ai_marked_jpeg(image, self.config.editor.thumbnail_jpeg_quality, self.generator.generator_id)
                uri = target or _content_asset_uri(self.layout, self.run_id, job, data)
                self.layout.store.write_bytes(uri, data)
                self._record_thumbnail(job, req.seed, req.prompt, uri, reused=False)

    def _request(self, job: GenerationJob) -> tuple[GenerationJob, GenerationRequest, str | None] | None:
        """What to generate for a job; None when it needs nothing (reused) or cannot be made (counted)."""
        generator, cfg = self.generator, self.config.generation
        taste = self.taste(job.group, job.per_user)
        if taste.palette is None or (generator.style_encoder is not None and taste.style is None):
            self.outputs.counts["skipped_no_liked_covers"] += 1
            return None
        seed = generation_seed(job.group, job.item_id, generator.model_id, self.date)
        prompt = prompt_for(cfg.prompt, job.styles, taste.palette)
        target = None if job.per_user else _cluster_asset_uri(self.layout, self.run_id, generator, job, seed)
        if target is not None and self.layout.store.exists(target):
            self._record_thumbnail(job, seed, prompt, target, reused=True)
            return None
        source = _read_source(self.layout, job)
        if source is None:
            self.outputs.counts["skipped_bad_source"] += 1
            return None
        pixels = ([p for p in (self.covers.pixels(i) for i, _ in taste.liked) if p is not None]
                  if generator.needs_covers else [])
        return job, GenerationRequest(source, taste.palette, prompt, seed, job.styles, job.group, pixels,
                                      taste.style), target

    def _record_thumbnail(self, job: GenerationJob, seed: int, prompt: str, uri: str, reused: bool) -> None:
        self.outputs.lineage.append(_lineage(job, self.generator, seed, prompt, uri, self.date, reused))
        for i in job.rows:
            self._shown(i).update(thumbnail_staged=uri, generator_id=self.generator.generator_id)

    def clips(self, edits: list[ClipEditJob]) -> None:
        """Make the planned clip edits (or reuse staged ones); each is shared by its rows."""
        editor = self.generator.clip_editor
        if editor is None:
            return
        for edit in edits:
            taste_style = None if edit.group is None else self.taste(edit.group, edit.per_user).style
            if edit.group is not None and taste_style is None:
                self.outputs.counts["skipped_clip_no_taste"] += 1
                continue
            # shared edits are named by what made them (and reused); a user's own taste edit by its content
            made_by = None if edit.per_user else _key(editor.clip_generator_id, edit.source, ",".join(edit.styles),
                                                      edit.group or "")
            self._edit_clip(editor, edit, taste_style, made_by)

    def _edit_clip(self, editor: ClipEditor, edit: ClipEditJob, taste_style: np.ndarray | None,
                   made_by: str | None) -> None:
        uri = None if made_by is None else self.layout.staged_edited_clip(self.run_id, edit.item_id, made_by)
        reused = uri is not None and self.layout.store.exists(uri)
        if not reused:
            try:
                frames, rate = clip_frames(self.layout.store.read_bytes(edit.source))
            except (ObjectNotFound, VideoDecodeError) as exc:
                log.warning("clip %s unusable for editing: %s", edit.source, exc)
                self.outputs.counts["skipped_bad_clip"] += 1
                return
            data = encode_clip(editor.edit_clip(frames, taste_style, edit.styles), rate,
                               ai_clip_tags(editor.clip_generator_id))
            uri = uri or self.layout.staged_edited_clip(self.run_id, edit.item_id, _digest(data))
            self.layout.store.write_bytes(uri, data)
        self.outputs.lineage.append(_clip_lineage(edit, editor.clip_generator_id, self.generator, uri, self.date,
                                                  reused))
        for i in edit.rows:
            self._shown(i).update(clip_staged=uri, clip_generator_id=editor.clip_generator_id)

    def _shown(self, i: int) -> GeneratedRow:
        row = self.rows[i]
        return self.outputs.shown.setdefault(i, {
            "user_id": row["user_id"], "item_id": row["item_id"], "thumbnail_staged": None, "generator_id": None,
            "clip_staged": None, "clip_generator_id": None})


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


def _digest(data: bytes) -> str:
    """A short object-key part naming an asset by its content."""
    return hashlib.sha256(data).hexdigest()[:16]


def _key(*made_of: str) -> str:
    """A short object-key part naming an asset by what made it."""
    return _digest("\x1f".join(made_of).encode("utf-8"))


def _cluster_asset_uri(layout: Layout, run_id: str, generator: Generator, job: GenerationJob, seed: int) -> str:
    key = _key(generator.generator_id, job.group, job.item_id, str(job.frame_idx), str(seed))
    return layout.staged_generated(run_id, job.item_id, job.frame_idx, key)


def _content_asset_uri(layout: Layout, run_id: str, job: GenerationJob, data: bytes) -> str:
    return layout.staged_generated(run_id, job.item_id, job.frame_idx, _digest(data))


def _clip_lineage(edit: ClipEditJob, clip_generator_id: str, generator: Generator, uri: str, date: str,
                  reused: bool) -> dict:
    s = generator.settings
    per_user = edit.group is not None and edit.per_user
    return {"asset": uri, "asset_kind": "clip", "generator_id": clip_generator_id, "backend": generator.backend,
            "model_id": generator.model_id, "seed": None, "strength": s.strength, "steps": s.steps,
            "guidance_scale": s.guidance_scale, "resolution": s.resolution, "prompt": None,
            "styles": list(edit.styles), "item_id": edit.item_id, "source_frame_idx": None, "source_frame_ts": None,
            "source_staged": edit.source, "cluster": None if edit.group is None or per_user else edit.group,
            "per_user": per_user, "user_id": edit.group.removeprefix("user:") if per_user else None,
            "rows": len(edit.rows), "reused": reused, "date": date}


def _lineage(job: GenerationJob, generator: Generator, seed: int, prompt: str, uri: str, date: str,
             reused: bool) -> dict:
    s = generator.settings
    return {"asset": uri, "asset_kind": "thumbnail", "generator_id": generator.generator_id, "backend": generator.backend,
            "model_id": generator.model_id, "seed": seed, "strength": s.strength, "steps": s.steps,
            "guidance_scale": s.guidance_scale, "resolution": s.resolution, "prompt": prompt,
            "styles": list(job.styles), "item_id": job.item_id, "source_frame_idx": job.frame_idx,
            "source_frame_ts": job.frame_ts, "source_staged": job.source_staged,
            "cluster": None if job.per_user else job.group, "per_user": job.per_user,
            "user_id": job.group.removeprefix("user:") if job.per_user else None,
            "rows": len(job.rows), "reused": reused, "date": date}
