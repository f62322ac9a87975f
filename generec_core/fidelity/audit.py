"""Run every content check on a batch of assets: the one place the gate and the CLI share.

Images get: decodes, quality (resolution, blank, sharpness, exposure), safety (open_nsfw),
authenticity (cosine to the source's embedding; generated assets have their own, lower bar
since a restyle changes pixels on purpose), privacy (no user id in the name or metadata;
generated: no face absent from the source), identifiability (generated: AI mark in the file
and in the catalog row; repurposed: no AI mark). Clips get: decodes to the last frame,
duration (matches its window, within bounds), authenticity and safety on frames picked at
the recorded source times, privacy on name and container tags, identifiability; edited clips
also the generated bar for authenticity and temporal stability against the clip they were
edited from (``flicker.py``). Created videos (the AI creator's) get: decodes to the last frame,
duration (what the item says, within the creator's bounds), provenance (the file names the same
sources as the item; each a real, usable catalogue item and a time range inside it), authenticity
per segment (frames at the recorded times match the source's stored embeddings), safety and no
new faces on those frames, privacy and the AI mark.

The models are batched: one encoder pass and one open_nsfw pass per batch of images. Their outputs go
through ``model_outputs.ModelOutputs``: with a store, an image whose decoded pixels were already seen under
the same models is not run again; the checks above are applied to the outputs afresh every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import av
import numpy as np

from generec_core.config import GateConfig
from generec_core.creator.provenance import provenance_in
from generec_core.editor.selection import ItemFrames
from generec_core.embedding.base import ImageEncoder
from generec_core.fidelity.checks import CheckResult, authenticity, cosine
from generec_core.fidelity.faces import new_faces_check
from generec_core.fidelity.flicker import flicker_check
from generec_core.fidelity.model_outputs import ModelOutputs, OutputStore
from generec_core.fidelity.metadata import clip_metadata, identifiability_check, identifier_check, image_metadata
from generec_core.fidelity.quality import clip_duration_checks, decode_check, image_quality
from generec_core.fidelity.safety import safety_check
from generec_core.video.decode import VideoDecodeError, ffmpeg_reason, open_container
from generec_core.video.quality import QualityThresholds


@dataclass(frozen=True)
class ImageAsset:
    name: str  # object key or file name: checked for user identifiers
    data: bytes
    source_embedding: np.ndarray | None  # the frame or cover it must be faithful to; None = unknown
    generated: bool = False
    source_pixels: np.ndarray | None = None  # generated only: the frame it was made from (faces)
    row_marked: bool = False  # generated only: its catalog rows say thumbnail_kind=generated + generator_id


@dataclass(frozen=True)
class ClipAsset:
    name: str
    data: bytes
    start_s: float  # the window in source time the manifest will state
    end_s: float
    source_frames: Sequence[tuple[float, np.ndarray]]  # (source time, embedding) of sampled frames in the window
    edited_from: bytes | None = None  # edited clips: the clip it was edited from (flicker); None = not edited
    row_marked: bool = False  # edited clips: its catalog rows say clip_kind=edited + clip_generator_id

    @property
    def edited(self) -> bool:
        return self.edited_from is not None


@dataclass(frozen=True)
class Probe:
    """One sampled source frame a created video must show: where, and what it must look like."""

    segment: int  # index in the video's sources
    at_s: float  # time in the created video
    embedding: np.ndarray  # the source frame's stored embedding
    pixels: np.ndarray | None  # the source frame itself (new faces); None = unavailable


@dataclass(frozen=True)
class CreatedAsset:
    name: str
    data: bytes
    duration_s: float  # what the item says
    bounds: tuple[float, float]  # the creator's duration bounds
    sources: Sequence[dict]  # the item's {item_id, start_s, end_s}, in playback order
    source_durations: dict[str, float]  # usable catalogue items (embedded, not quarantined) -> video duration
    probes: Sequence[Probe]
    edited: bool  # frames changed on purpose (restyled, generated): the generated authenticity bar


class Auditor:
    """Checks assets against ``GateConfig`` and the frame-quality bars; ``user_ids`` are the identifiers
    that must not leak. ``outputs``: a store of earlier model outputs (``model_outputs``); None runs every model."""

    def __init__(self, gate: GateConfig, encoder: ImageEncoder, user_ids: frozenset[str] = frozenset(),
                 quality: QualityThresholds = QualityThresholds(), outputs: OutputStore | None = None) -> None:
        self.gate, self.encoder, self.user_ids, self.quality = gate, encoder, user_ids, quality
        self.models = ModelOutputs(encoder, outputs)

    def images(self, assets: Sequence[ImageAsset]) -> list[list[CheckResult]]:
        """One list of check results per asset, in order."""
        decoded = [decode_check(a.data) for a in assets]
        ok = [i for i, (_, pixels) in enumerate(decoded) if pixels is not None]
        embedded, scores = self.models.embed_and_score([decoded[i][1] for i in ok])
        embeddings, unsafe = dict(zip(ok, embedded)), dict(zip(ok, scores))
        out = []
        for i, (asset, (decodes, px)) in enumerate(zip(assets, decoded)):
            out.append([decodes] if px is None else
                       [decodes, *self._image_checks(asset, px, embeddings[i], unsafe[i])])
        self.models.flush()
        return out

    def _image_checks(self, asset: ImageAsset, pixels: np.ndarray, embedding: np.ndarray,
                      nsfw: float) -> list[CheckResult]:
        gate = self.gate
        metadata = _safe_metadata(image_metadata, asset.data)
        score = None if asset.source_embedding is None else cosine(embedding, asset.source_embedding)
        checks = [*image_quality(pixels, gate, self.quality), safety_check(nsfw, gate.max_nsfw),
                  authenticity(score, gate.min_authenticity_generated if asset.generated else gate.min_authenticity)]
        if asset.generated:
            checks.append(new_faces_check(pixels, asset.source_pixels, candidate_neighbors=gate.face_candidate_neighbors,
                                          source_neighbors=gate.face_source_neighbors,
                                          min_face_frac=gate.min_face_frac, max_new_faces=gate.max_new_faces,
                                          detect=self.models.detect_faces))
        checks.append(identifier_check(asset.name, metadata, self.user_ids))
        checks.append(identifiability_check(metadata, asset.generated, asset.row_marked))
        return checks

    def clips(self, assets: Sequence[ClipAsset]) -> list[list[CheckResult]]:
        """Per clip: decodes fully; duration; the frames at the recorded source times match the source.

        The picked frames of all clips go through the encoder and open_nsfw as one batch.
        """
        decoded: list[tuple[list[CheckResult], list[np.ndarray], list[np.ndarray]]] = []
        for asset in assets:
            picked = _pick(asset.source_frames, self.gate.clip_check_frames)
            try:
                n_frames, fps, frames = decode_clip_at(asset.data, [t - asset.start_s for t, _ in picked])
            except VideoDecodeError as exc:
                decoded.append(([CheckResult("decodes", False, None, None, exc.reason)], [], []))
                continue
            checks = [CheckResult("decodes", True, None, None),
                      *clip_duration_checks(n_frames, fps, asset.end_s - asset.start_s, self.gate)]
            decoded.append((checks, frames, [src for _, src in picked]))
        out = []
        for asset, (checks, _, sources), (embedded, unsafe) in zip(assets, decoded,
                                                                   self._models([f for _, f, _ in decoded])):
            if checks[0].passed:
                checks += self._clip_checks(asset, embedded, sources, unsafe)
            out.append(checks)
        self.models.flush()
        return out

    def _models(self, frames_per_asset: list[list[np.ndarray]]) -> list[tuple[list[np.ndarray], list[float]]]:
        """Every asset's frames through the encoder and open_nsfw as one batch; (embeddings, P(NSFW)) per asset."""
        embedded, scores = self.models.embed_and_score([f for frames in frames_per_asset for f in frames])
        embeddings, unsafe = iter(embedded), iter(scores)
        return [([next(embeddings) for _ in frames], [next(unsafe) for _ in frames]) for frames in frames_per_asset]

    def _clip_checks(self, asset: ClipAsset, embedded: list[np.ndarray], sources: list[np.ndarray],
                     unsafe: list[float]) -> list[CheckResult]:
        gate = self.gate
        metadata = _safe_metadata(clip_metadata, asset.data)
        score = min((cosine(e, src) for e, src in zip(embedded, sources)), default=None)
        checks = [safety_check(max(unsafe, default=0.0), gate.max_nsfw),
                  authenticity(score, gate.min_authenticity_generated if asset.edited else gate.min_authenticity),
                  identifier_check(asset.name, metadata, self.user_ids),
                  identifiability_check(metadata, asset.edited, asset.row_marked)]
        if asset.edited:
            checks.append(flicker_check(asset.data, asset.edited_from, gate.max_flicker_ratio))
        return checks

    def videos(self, assets: Sequence[CreatedAsset]) -> list[list[CheckResult]]:
        """Per created video: the checks above; the probed frames of all videos go through the models at once."""
        decoded = []
        for asset in assets:
            try:
                n_frames, fps, frames = decode_clip_at(asset.data, [p.at_s for p in asset.probes])
            except VideoDecodeError as exc:
                decoded.append(([CheckResult("decodes", False, None, None, exc.reason)], []))
                continue
            duration = n_frames / fps
            lo, hi = asset.bounds
            checks = [CheckResult("decodes", True, None, None),
                      CheckResult.of("duration", abs(duration - asset.duration_s) <= 1 / fps + 1e-6, round(duration, 4),
                                     round(asset.duration_s, 4), "differs from the item's (truncated?)"),
                      CheckResult.of("duration_bounds", lo - 1e-6 <= duration <= hi + 1e-6, round(duration, 4),
                                     [lo, hi], "too short" if duration < lo else "too long")]
            decoded.append((checks, frames))
        out = []
        for asset, (checks, frames), (embedded, unsafe) in zip(assets, decoded, self._models([f for _, f in decoded])):
            if checks[0].passed:
                checks += self._video_checks(asset, frames, embedded, unsafe)
            out.append(checks)
        self.models.flush()
        return out

    def _video_checks(self, asset: CreatedAsset, frames: list[np.ndarray], embedded: list[np.ndarray],
                      unsafe: list[float]) -> list[CheckResult]:
        gate = self.gate
        metadata = _safe_metadata(clip_metadata, asset.data)
        bar = gate.min_authenticity_generated if asset.edited else gate.min_authenticity
        worst: dict[int, float] = {}
        for probe, emb in zip(asset.probes, embedded):
            worst[probe.segment] = min(worst.get(probe.segment, 1.0), cosine(emb, probe.embedding))
        unchecked = [i for i in range(len(asset.sources)) if i not in worst]
        failing = sorted(i for i, score in worst.items() if score < bar) + unchecked
        authentic = CheckResult.of(
            "authenticity", not failing, round(min(worst.values()), 4) if worst else None, bar,
            "unlike its source in segment(s) " + ", ".join(
                f"{i} ({asset.sources[i]['item_id']} {asset.sources[i]['start_s']:.2f}-{asset.sources[i]['end_s']:.2f}s"
                f"{': no frame checked' if i in unchecked else ''})" for i in failing))
        faces = [new_faces_check(f, p.pixels, candidate_neighbors=gate.face_candidate_neighbors,
                                 source_neighbors=gate.face_source_neighbors, min_face_frac=gate.min_face_frac,
                                 max_new_faces=gate.max_new_faces, detect=self.models.detect_faces)
                 for f, p in zip(frames, asset.probes)]
        return [provenance_check(asset, metadata), authentic,
                safety_check(max(unsafe, default=0.0), gate.max_nsfw),
                next((c for c in faces if not c.passed), faces[0] if faces else
                     CheckResult("new_faces", False, None, gate.max_new_faces, "no frame checked")),
                identifier_check(asset.name, metadata, self.user_ids),
                identifiability_check(metadata, True, True)]


def created_probes(sources: Sequence[dict], offsets_s: Sequence[float], items: Mapping[str, ItemFrames], fps: int,
                   transition_s: float, per_segment: int) -> list[tuple[int, float, str, float, np.ndarray]]:
    """Where a created video must show which stored frames: ``(segment, time in the video, source item, source
    time, stored embedding)`` for up to ``per_segment`` sampled frames of each segment, away from the crossfades.

    A sampled frame at ``ts`` of a segment placed at ``offset`` is output frame ``(offset + ts - start) * fps``;
    the probe asks for the middle of that frame, so rounding of stored times never picks its neighbour.
    """
    out = []
    last = len(sources) - 1
    for n, (source, offset) in enumerate(zip(sources, offsets_s)):
        frames = items.get(source["item_id"])
        if frames is None:
            continue
        ts = frames.timestamps
        lo = source["start_s"] + (transition_s if n > 0 else 0.0) - 1e-6
        hi = source["end_s"] - (transition_s if n < last else 0.0) - 1e-6
        inside = [int(i) for i in np.flatnonzero((ts >= lo) & (ts < hi))]
        picked = sorted({inside[round(x)] for x in np.linspace(0, len(inside) - 1, min(len(inside), per_segment))})
        out += [(n, offset + float(ts[i]) - source["start_s"] + 0.5 / fps, source["item_id"], float(ts[i]),
                 frames.embeddings[i]) for i in picked]
    return out


def provenance_check(asset: CreatedAsset, metadata: list[str]) -> CheckResult:
    """The file names exactly the item's sources, each a usable catalogue item and a time range inside its video."""
    problems = []
    in_file = provenance_in(metadata)
    stated = [{"item_id": s["item_id"], "start_s": s["start_s"], "end_s": s["end_s"]} for s in asset.sources]
    if in_file != stated:
        problems.append("the file's provenance differs from the item's" if in_file else "no provenance in the file")
    if not stated:
        problems.append("no sources")
    for i, source in enumerate(stated):
        duration = asset.source_durations.get(source["item_id"])
        if duration is None:
            problems.append(f"source {i} ({source['item_id']}) is not a usable catalogue item")
        elif not 0 <= source["start_s"] < source["end_s"] <= duration + 1e-6:
            problems.append(f"source {i} ({source['item_id']}) range {source['start_s']:.3f}-{source['end_s']:.3f}s "
                            f"is outside its video (0-{duration:.3f}s)")
    return CheckResult.of("provenance", not problems, float(len(stated)), None, "; ".join(problems))


def _safe_metadata(read, data: bytes) -> list[str]:
    """Metadata that cannot be parsed is reported as such (and so cannot hide an identifier)."""
    try:
        return read(data)
    except Exception as exc:  # noqa: BLE001 - a verdict, not a crash
        return [f"unreadable metadata: {type(exc).__name__}"]


def _pick(frames: Sequence[tuple[float, np.ndarray]], n: int) -> list[tuple[float, np.ndarray]]:
    """Up to ``n`` source frames spread over the window: first, last and between."""
    ordered = sorted(frames, key=lambda f: f[0])
    if len(ordered) <= n:
        return ordered
    return [ordered[i] for i in sorted({round(x) for x in np.linspace(0, len(ordered) - 1, n)})]


def decode_clip_at(data: bytes, times_s: Sequence[float]) -> tuple[int, float, list[np.ndarray]]:
    """(frame count, fps, RGB frames shown at ``times_s`` seconds from the clip's start).

    Every frame is decoded (a clip truncated mid-stream fails here, not in a player), but only
    the requested ones are kept, so memory stays flat for long clips.
    """
    with open_container(bytes(data)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate:
            raise VideoDecodeError("clip frame rate unknown", "clip")
        fps = float(rate)
        wanted = {max(0, int(np.floor(t * fps + 1e-6))) for t in times_s}
        kept: dict[int, np.ndarray] = {}
        count, last = 0, None
        try:
            for frame in container.decode(stream):
                if count in wanted:
                    kept[count] = frame.to_ndarray(format="rgb24")
                count, last = count + 1, frame
        except (av.error.FFmpegError, ValueError) as exc:
            reason = ffmpeg_reason(exc) if isinstance(exc, av.error.FFmpegError) else str(exc)
            raise VideoDecodeError(f"decode failed at frame {count}: {reason}", "clip") from None
        if last is None:
            raise VideoDecodeError("clip has no frames", "clip")
        tail = last.to_ndarray(format="rgb24") if max(wanted, default=0) >= count else None
    # a time past the clip's end (the clip is shorter than its window) reads its last frame
    frames = [kept.get(max(0, int(np.floor(t * fps + 1e-6))), tail) for t in times_s]
    return count, fps, frames
