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
EVENT_TYPES: tuple[str, ...] = ("impression", "click", "like", "share", "skip", "watch")


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
    frames_per_video: int = 32
    encoder: str = "efficientnet-lite0"
    batch_size: int = 32
    device: str = "auto"  # "auto" picks CUDA when present
    max_side: int = 640  # frames are down-scaled to at most this side before anything else


@dataclass(frozen=True)
class FeaturesConfig:
    top_k: int = 5
    shards: int = 4
    spark_master: str = "local[2]"
    shuffle_partitions: int = 4


@dataclass(frozen=True)
class EditorConfig:
    clip_window: int = 8  # L sampled frames per clip window (paper)
    clip_stride: int = 4  # S (paper)
    thumbnail_jpeg_quality: int = 90


@dataclass(frozen=True)
class GateConfig:
    min_side_px: int = 64
    min_pixel_std: float = 4.0  # below this an image is considered blank
    min_authenticity: float = 0.80  # cosine(asset, source frame) in encoder space
    min_pass_rate: float = 0.9  # below this publish halts


@dataclass(frozen=True)
class PipelineConfig:
    root: str = field(default_factory=default_root)
    frames: FramesConfig = field(default_factory=FramesConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    editor: EditorConfig = field(default_factory=EditorConfig)
    gate: GateConfig = field(default_factory=GateConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PipelineConfig":
        """Build from a (possibly partial) nested dict, e.g. Airflow params; unknown keys are an error."""
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in sections:
                raise ValueError(f"unknown config key {key!r}; known: {sorted(sections)}")
            if key == "root":
                kwargs["root"] = normalise_root(str(value))
                continue
            section_cls = {"frames": FramesConfig, "features": FeaturesConfig,
                           "editor": EditorConfig, "gate": GateConfig}[key]
            known = {f.name for f in dataclasses.fields(section_cls)}
            bad = set(value) - known
            if bad:
                raise ValueError(f"unknown config key(s) {sorted(bad)} in section {key!r}; known: {sorted(known)}")
            kwargs[key] = section_cls(**value)
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> "PipelineConfig":
        return cls.from_dict(json.loads(text))
