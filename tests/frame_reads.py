"""Which items' frames a stage reads: a record of the frames files it opens, and roots where other items'
frames files are unreadable (a stage that read them would fail to decode them)."""

from __future__ import annotations

import shutil
from pathlib import Path

from types import SimpleNamespace

import numpy as np
import pytest

from generec_core.config import PipelineConfig, normalise_root
from generec_core.datasets.frames import DecodedItem, item_embeddings_uri, item_table, write_item
from generec_core.datasets.items import Item
from generec_core.datasets.layout import Layout
from generec_core.embedding.encoder import encoder_id_for
from generec_core.storage import LocalStorage, join, storage_for
from generec_core.video.decode import SampledVideo

NOT_PARQUET = b"not a Parquet file: whoever reads this frames file fails"


def record_frames_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The file names (``<safe item>.parquet``) of the frames files read from now on, in read order."""
    read: list[str] = []
    original = LocalStorage.read_bytes

    def spy(self: LocalStorage, uri: str) -> bytes:
        if "/features/frames/" in uri:
            read.append(uri.rsplit("/", 1)[1])
        return original(self, uri)
    monkeypatch.setattr(LocalStorage, "read_bytes", spy)
    return read


def copy_root(config: PipelineConfig, to: Path) -> PipelineConfig:
    """The same run on a copy of its (file://) root, so a test can break files without touching the fixture's."""
    shutil.copytree(LocalStorage.path(config.root), to)
    return PipelineConfig.from_dict({**config.to_dict(), "root": normalise_root(str(to))})


def make_unreadable(config: PipelineConfig, item_ids: list[str]) -> None:
    """Overwrite (or create) these items' frames files with bytes that are not Parquet."""
    layout = Layout.for_config(config)
    for item_id in item_ids:
        uri = item_embeddings_uri(layout, encoder_id_for(config.frames.encoder), config.frames, item_id)
        storage_for(uri).write_bytes(uri, NOT_PARQUET)


def write_frames(config: PipelineConfig, item_ids: tuple[str, ...], dim: int = 4) -> None:
    """Hand-made frames files: three sampled frames (random embeddings) per item, durations 1, 2, 3...; every
    odd-numbered item's second frame is blank (``is_poor`` under the default thresholds)."""
    layout = Layout.for_config(config)
    encoder = SimpleNamespace(encoder_id=encoder_id_for(config.frames.encoder), dim=dim, preprocessing="test")
    rng = np.random.default_rng(0)
    fine = dict(luma_mean=120.0, luma_std=40.0, luma_p01=10.0, luma_p99=240.0, laplacian_var=500.0, change=5.0)
    blank = dict(luma_mean=0.0, luma_std=0.0, luma_p01=0.0, luma_p99=0.0, laplacian_var=0.0, change=5.0)
    for n, item_id in enumerate(item_ids):
        video = SampledVideo(np.zeros((3, 2, 2, 3), np.uint8), np.arange(3) * 0.5, 2.0, 1.0 + n, 2, 2)
        decoded = DecodedItem(Item(item_id, join(layout.items_dir, f"{n}.mp4"), None), video=video,
                              quality=[fine, fine, blank if n % 2 else fine, fine])
        write_item(layout, encoder.encoder_id, config.frames, item_id,
                   item_table(decoded, rng.normal(size=(3, dim)).astype(np.float32), encoder, config))
