"""Stage ``create`` (GPU pool): the AI creator's new micro-videos for tonight's audiences.

Runs after ``features`` (taste groups) and ``instruct`` (who asked for what), beside the editor,
and before the gate. For each audience (``creator/audiences.py``) it picks segments across the
whole catalogue (``creator/segments.py``: never a quarantined item, never a topic the audience
avoids, preferring the topics a user asked for), joins them (``creator/montage.py``), restyles a
user's own video in the styles they asked for (the thumbnail generator's clip editor), renders a
cover from the best frame in the audience's style (the thumbnail generator), and writes the
files, named by content, and one row per item (``datasets.created``). With ``creator.backend =
diffusers`` each segment is one keyframe made by image-to-image from local weights instead.

Deterministic: the same inputs give byte-identical files (pinned encodes, seeded generation), so a
re-run of the date stages the same items under the same names and replaces the table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections import Counter
from typing import Callable, Mapping, TypedDict

import numpy as np

from generec_core.config import PipelineConfig
from generec_core.creator.audiences import Audience, plan_audiences, recipients
from generec_core.creator.montage import Montage, assemble, encode, footage
from generec_core.creator.provenance import Source, created_video_tags
from generec_core.creator.segments import Segment, candidate_segments, choose_segments, unit
from generec_core.creator.titles import title_for
from generec_core.datasets.cover_styles import CoverStyles
from generec_core.datasets.created import CreatedItem, write_created
from generec_core.datasets.frames import frames_by_item, load_frames, quarantined_items
from generec_core.datasets.guidance import read_guidance
from generec_core.datasets.items import cover_loader, read_items
from generec_core.datasets.layout import Layout, run_id_for, safe_name
from generec_core.datasets.palettes import ItemPalettes
from generec_core.datasets.users import read_user_features, taste_weights
from generec_core.editor.selection import ItemFrames
from generec_core.fidelity.metadata import ai_marked_jpeg
from generec_core.generation.backend import GenerationRequest, Generator, generation_seed
from generec_core.generation.generators import NONE, load_generator
from generec_core.generation.plan import prompt_for
from generec_core.generation.taste import CoverLibrary, GroupTastes
from generec_core.instructor.guidance import Guidance
from generec_core.storage import ObjectNotFound
from generec_core.video.decode import VideoDecodeError, frames_at

log = logging.getLogger(__name__)

CREATOR_VERSION = 1
VIDEO_CACHE = 64  # source videos held in memory at once
Edit = Callable[[list[np.ndarray]], list[np.ndarray]]
DIFFUSERS = "diffusers"


class CreateSummary(TypedDict, total=False):
    backend: str
    audiences: int
    group_audiences: int
    personal_audiences: int
    items: int
    seconds: float
    created_seconds: float
    creator_ids: list[str]
    skipped_too_few_segments: int
    skipped_bad_source: int
    skipped_no_recipients: int
    covers_unstyled: int


def run(config: PipelineConfig, date: str) -> CreateSummary:
    return create(config, date)


def create(config: PipelineConfig, date: str) -> CreateSummary:
    """Create tonight's items and write them (``datasets.created``); returns counts."""
    layout, run_id, cfg = Layout.for_config(config), run_id_for(date), config.creator
    if cfg.backend == NONE:
        write_created(layout, run_id, [])
        return {"backend": NONE, "items": 0}
    guidance = read_guidance(layout, date)
    audiences = plan_audiences(read_user_features(layout, date), guidance, cfg)
    creator = _Creator(config, layout, date, guidance, {m for a in audiences for m in a.members})
    made = merge_identical([item for item in (creator.make(a) for a in audiences) if item is not None])
    write_created(layout, run_id, made)
    log.info("create run=%s audiences=%s items=%s skipped=%s", run_id, len(audiences), len(made), dict(creator.counts))
    return {"backend": cfg.backend, "audiences": len(audiences),
            "group_audiences": sum(not a.personal for a in audiences),
            "personal_audiences": sum(a.personal for a in audiences), "items": len(made),
            "created_seconds": round(sum(i["duration_s"] for i in made), 3),
            "creator_ids": sorted({i["generator_id"] for i in made}), **creator.counts}  # type: ignore[typeddict-item]


def merge_identical(items: list[CreatedItem]) -> list[CreatedItem]:
    """One item per video: two audiences whose segments came out the same get the same content-addressed item
    (the first audience names it), shown once to everyone either was made for."""
    by_id: dict[str, CreatedItem] = {}
    for item in items:
        first = by_id.setdefault(item["item_id"], item)
        if first is not item:
            first["recipients"] = sorted(set(first["recipients"]) | set(item["recipients"]))
    return list(by_id.values())


class _Creator:
    """One night's creation: the usable catalogue, the loaded generator, and the counts of what was skipped."""

    def __init__(self, config: PipelineConfig, layout: Layout, date: str, guidance: Mapping[str, Guidance],
                 members: set[str]) -> None:
        self.config, self.cfg, self.layout, self.date, self.guidance = config, config.creator, layout, date, guidance
        self.run_id = run_id_for(date)
        self.items = {i.item_id: i for i in read_items(layout)}
        quarantined = quarantined_items(layout)
        frames, videos = load_frames(config)
        # provenance: only items that are in the catalogue today and not quarantined
        self.sources = {i: f for i, f in frames_by_item(frames, videos).items()
                        if i in self.items and safe_name(i) not in quarantined}
        self.generator = _load_generator(config)
        encoder = self.generator.style_encoder if self.generator is not None else None
        covers = CoverLibrary(cover_loader(layout), ItemPalettes(layout),
                              CoverStyles(layout, encoder.style_model_id) if encoder else None, encoder)
        self.tastes = GroupTastes(covers, taste_weights(layout, date, members), config.generation.max_taste_covers,
                                  encoder is not None)
        self.counts: Counter = Counter()
        self._videos: dict[str, bytes] = {}

    def make(self, audience: Audience) -> CreatedItem | None:
        """The audience's created item, staged; None (counted) when it cannot be made."""
        segments = self._segments(audience)
        if not segments:
            self.counts["skipped_too_few_segments"] += 1
            return None
        topics = frozenset(t for s in segments for t in self.items[s.item_id].topics)
        shown_to = recipients(audience, topics, self.guidance)
        if not shown_to:
            self.counts["skipped_no_recipients"] += 1
            return None
        try:
            clips = [footage(s, self._video(s.item_id), self.cfg.fps, self.cfg.max_side) for s in segments]
            cover_frame = frames_at(self._video(segments[0].item_id), [segments[0].best_ts], self.cfg.max_side)[0]
        except (ObjectNotFound, VideoDecodeError) as exc:
            log.warning("create %s: a source is unusable: %s", audience.audience, exc)
            self.counts["skipped_bad_source"] += 1
            return None
        sources: list[Source] = [{"item_id": s.item_id, "start_s": s.start_s, "end_s": s.end_s} for s in segments]
        montage, creator_id, edit = self._render(audience, segments, clips)
        video = encode(montage, created_video_tags(creator_id, sources), edit)
        key = hashlib.sha256(video).hexdigest()[:16]
        video_uri = self.layout.staged_created(self.run_id, key, "mp4")
        self.layout.store.write_bytes(video_uri, video)
        cover, cover_generator = self._cover(audience, segments[0], cover_frame)
        cover_uri = self.layout.staged_created(self.run_id, hashlib.sha256(cover).hexdigest()[:16], "jpg")
        self.layout.store.write_bytes(cover_uri, cover)
        mean = unit(sum(s.mean * s.duration_s for s in segments))
        return {"item_id": f"created-{key}", "video_staged": video_uri, "cover_staged": cover_uri,
                "title": title_for([(self.items[s.item_id].topics, s.duration_s) for s in segments], audience.styles),
                "duration_s": round(montage.duration_s, 6), "audience": audience.audience, "recipients": shown_to,
                "sources": sources, "offsets_s": [round(o, 6) for o in montage.offsets_s],
                "score": round(float(audience.taste @ mean), 6), "generator_id": creator_id,
                "edited": edit is not None or self.cfg.backend == DIFFUSERS,
                "cover_item_id": segments[0].item_id, "cover_ts": segments[0].best_ts,
                "cover_generator_id": cover_generator, "topics": sorted(topics)}

    def _segments(self, audience: Audience) -> list[Segment]:
        """The audience's segments: from the topics a user asked for when there is enough of them, else from
        every item it does not avoid."""
        allowed = {i: f for i, f in self.sources.items() if not set(self.items[i].topics) & audience.avoid_topics}
        pools: list[dict[str, ItemFrames]] = []
        if audience.prefer_topics:
            pools.append({i: f for i, f in allowed.items() if set(self.items[i].topics) & audience.prefer_topics})
        pools.append(allowed)
        for pool in pools:
            chosen = choose_segments(candidate_segments(pool, audience.taste, self.cfg.segment_s), self.cfg)
            if chosen:
                return chosen
        return []

    def _video(self, item_id: str) -> bytes:
        """A source video's bytes; the most recently used ``VIDEO_CACHE`` stay in memory (audiences share sources)."""
        data = self._videos.pop(item_id, None)
        if data is None:
            data = self.layout.store.read_bytes(self.items[item_id].video_uri)
            if len(self._videos) >= VIDEO_CACHE:
                self._videos.pop(next(iter(self._videos)))
        self._videos[item_id] = data
        return data

    def _render(self, audience: Audience, segments: list[Segment], clips: list[list[np.ndarray]]
                ) -> tuple[Montage, str, Edit | None]:
        """(the joined frames, the creator id, the edit applied to them before encoding, if any).

        diffusers: each segment becomes one generated keyframe; montage: the footage, restyled for a user who
        asked for styles when the generator can edit clips.
        """
        transition = int(round(self.cfg.transition_s * self.cfg.fps))
        creator_id = f"creator-{self.cfg.backend}-v{CREATOR_VERSION}"
        generator = self.generator
        if self.cfg.backend == DIFFUSERS:
            assert generator is not None
            keyframes = self._generate([(audience, s, clip[_best_index(s, self.cfg.fps)])
                                        for s, clip in zip(segments, clips)])
            clips = [[k if k is not None else f for f in clip] for k, clip in zip(keyframes, clips)]
            creator_id = f"{creator_id}+{generator.generator_id}"
            return assemble(clips, self.cfg.fps, transition, self.cfg.max_side), creator_id, None
        montage = assemble(clips, self.cfg.fps, transition, self.cfg.max_side)
        editor = generator.clip_editor if generator is not None else None
        if not audience.styles or editor is None:
            return montage, creator_id, None
        return montage, f"{creator_id}+{editor.clip_generator_id}", \
            lambda frames: editor.edit_clip(frames, None, audience.styles)

    def _cover(self, audience: Audience, best: Segment, frame: np.ndarray) -> tuple[bytes, str]:
        """The cover: the best frame rendered in the audience's style; the frame itself (still AI-marked, as the
        cover of an AI-made item) when there is no generator or the audience has no usable liked cover."""
        made = self._generate([(audience, best, frame)]) if self.generator is not None else [None]
        if made[0] is None:
            self.counts["covers_unstyled"] += 1
            generator_id = f"creator-frame-v{CREATOR_VERSION}"
            return ai_marked_jpeg(frame, self.config.editor.thumbnail_jpeg_quality, generator_id), generator_id
        generator_id = self.generator.generator_id  # type: ignore[union-attr]
        return ai_marked_jpeg(made[0], self.config.editor.thumbnail_jpeg_quality, generator_id), generator_id

    def _generate(self, jobs: list[tuple[Audience, Segment, np.ndarray]]) -> list[np.ndarray | None]:
        """One image per (audience, segment, source frame) in the audience's taste; None where it has none."""
        generator, cfg = self.generator, self.config.generation
        assert generator is not None
        requests, slots = [], []
        for n, (audience, segment, frame) in enumerate(jobs):
            taste = self.tastes.of(audience.audience, list(audience.members))
            if taste.palette is None or (generator.style_encoder is not None and taste.style is None):
                continue
            seed = generation_seed(audience.audience, f"created:{segment.item_id}@{segment.best_ts}",
                                   generator.model_id, self.date)
            covers = ([p for p in (self.tastes.covers.pixels(i) for i, _ in taste.liked) if p is not None]
                      if generator.needs_covers else [])
            requests.append(GenerationRequest(frame, taste.palette, prompt_for(cfg.prompt, audience.styles, taste.palette),
                                              seed, audience.styles, audience.audience, covers, taste.style))
            slots.append(n)
        out: list[np.ndarray | None] = [None] * len(jobs)
        for n, image in zip(slots, generator.generate(requests) if requests else []):
            out[n] = image
        return out


def _best_index(segment: Segment, fps: int) -> int:
    return int(round((segment.best_ts - segment.start_s) * fps))


def _load_generator(config: PipelineConfig) -> Generator | None:
    """The creator's image generator: diffusers for the diffusers backend, else the thumbnail generator (covers and
    restyled videos); None when generation is off."""
    if config.creator.backend == DIFFUSERS:
        return load_generator(dataclasses.replace(config.generation, backend=DIFFUSERS))
    return None if config.generation.backend == NONE else load_generator(config.generation)
