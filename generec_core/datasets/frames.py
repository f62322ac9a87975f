"""Dataset ``frames``: each item's sampled frames, their embeddings and quality, and the items quarantined.

``features/frames/encoder=<id>/sampling=<signature>/items/<item>.parquet``, one file per item:
a cover row (``frame_idx`` -1) then one row per sampled frame (``FRAMES_SCHEMA``). An item is
embedded once per (encoder, sampling), so another encoder or another sampling writes beside,
never over, the old vectors. Every file records encoder id, spec, dimension, preprocessing,
precision, sampling and the video's facts (duration, fps, size) in its Parquet metadata.

``lake/quarantine/items/<item>.json``: why an item's video (or cover) could not be used; removed
when a later run decodes it.
"""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pyarrow as pa

from generec_core.config import FramesConfig, PipelineConfig
from generec_core.datasets.items import Item
from generec_core.editor.selection import ItemFrames
from generec_core.datasets.layout import Layout
from generec_core.embedding.encoder import ImageEncoder, encoder_id_for
from generec_core.storage import ObjectNotFound, parquet_from_bytes
from generec_core.video.decode import SampledVideo
from generec_core.video.quality import QUALITY_TYPE, QualityThresholds, metrics_array, verdict_columns

COVER_FRAME_IDX = -1
FRAMES_SCHEMA = pa.schema([
    ("item_id", pa.string()),
    ("frame_idx", pa.int32()),  # -1: the cover row
    ("ts", pa.float64()),  # seconds from the first frame; null for a separate cover image
    ("embedding", pa.list_(pa.float32())),
    ("quality", QUALITY_TYPE),  # metrics: facts about the pixels (video/quality.py)
    ("is_poor", pa.bool_()),  # verdict under the configured thresholds: selection skips these
    ("poor_reason", pa.string()),  # e.g. "blank" or "blurry,duplicate"; null when fine
])
VIDEO_META_SCHEMA = pa.schema([
    ("item_id", pa.string()), ("duration_s", pa.float64()), ("fps", pa.float64()),
    ("width", pa.int32()), ("height", pa.int32()), ("n_frames", pa.int32()), ("cover_source", pa.string())])
SHARED_META = (b"encoder_id", b"dim", b"preprocessing", b"encoder_spec", b"precision", b"sampling")


def sampling_signature(frames: FramesConfig) -> str:
    """How frames were sampled, as a path-safe partition value: a change means a re-embed."""
    how = "uniform" if frames.sampling == "uniform" else f"rate{frames.sample_fps:g}fps"
    return f"{how}-n{frames.frames_per_video}-side{frames.max_side}"


def item_embeddings_uri(layout: Layout, encoder_id: str, frames: FramesConfig, item_id: str) -> str:
    return layout.frame_item(encoder_id, sampling_signature(frames), item_id)


def quarantine_uri(layout: Layout, item_id: str) -> str:
    return layout.quarantined_item(item_id)


def embedded_items(layout: Layout, encoder_id: str, frames: FramesConfig) -> set[str]:
    """Safe names of the items already embedded for this encoder and sampling (one listing)."""
    return set(embedded_item_files(layout, encoder_id, frames))


def embedded_item_files(layout: Layout, encoder_id: str, frames: FramesConfig) -> dict[str, str]:
    """Safe name -> file of every item already embedded for this encoder and sampling (one listing)."""
    prefix = layout.frame_items(encoder_id, sampling_signature(frames))
    return {uri.rsplit("/", 1)[1][: -len(".parquet")]: uri for uri in layout.store.list_uris(prefix, ".parquet")}


def read_item_file(layout: Layout, uri: str) -> pa.Table:
    """One item's rows as written (verdicts as stored, video facts in the metadata)."""
    return parquet_from_bytes(layout.store.read_bytes(uri))


def quarantined_items(layout: Layout) -> set[str]:
    """Safe names of the items currently quarantined."""
    return _stems(layout, layout.quarantine("items"), ".json")


def _stems(layout: Layout, prefix: str, suffix: str) -> set[str]:
    return {uri.rsplit("/", 1)[1][: -len(suffix)] for uri in layout.store.list_uris(prefix, suffix)}


@dataclass
class DecodedItem:
    """What the frames stage learnt about one item: its sampled frames and cover, or why it is unusable."""

    item: Item
    video: SampledVideo | None = None
    cover: np.ndarray | None = None  # the cover image's pixels; None: first frame is the cover
    reason: str | None = None  # set when the item goes to quarantine
    quality: list[dict] | None = None  # metrics: [cover] + one per sampled frame

    @property
    def images(self) -> list[np.ndarray]:
        """What the encoder must see for this item: [cover image], then the frames."""
        assert self.video is not None
        head = [] if self.cover is None else [self.cover]
        return head + list(self.video.frames)


def item_table(decoded: DecodedItem, embeddings: np.ndarray, encoder: ImageEncoder,
               config: PipelineConfig) -> pa.Table:
    """Cover row (frame_idx -1) then one row per sampled frame, with the video's facts as metadata."""
    frames = config.frames
    video = decoded.video
    assert video is not None
    n_frames = len(video.frames)
    if decoded.cover is None:  # the first sampled frame is the cover
        cover_ts, cover_emb, frame_embs = float(video.timestamps[0]), embeddings[0], embeddings
    else:
        cover_ts, cover_emb, frame_embs = None, embeddings[0], embeddings[1:]
    item_id = decoded.item.item_id
    thresholds = QualityThresholds.from_config(frames)
    quality = metrics_array(decoded.quality or [None] * (n_frames + 1))
    is_poor, poor_reason = verdict_columns(quality, thresholds)
    table = pa.table({
        "item_id": pa.array([item_id] * (n_frames + 1), pa.string()),
        "frame_idx": pa.array([COVER_FRAME_IDX] + list(range(n_frames)), pa.int32()),
        "ts": pa.array([cover_ts] + video.timestamps.tolist(), pa.float64()),
        "embedding": pa.array(list(np.vstack([cover_emb[None], frame_embs]).astype(np.float32)),
                              pa.list_(pa.float32())),
        "quality": quality,
        "is_poor": is_poor,
        "poor_reason": poor_reason,
    }, schema=FRAMES_SCHEMA)
    meta = {
        "encoder_id": encoder.encoder_id, "dim": str(encoder.dim), "preprocessing": encoder.preprocessing,
        "encoder_spec": frames.encoder,
        "precision": str(getattr(encoder, "dtype", "torch.float32")).removeprefix("torch."),
        "runtime": getattr(encoder, "runtime", "torch"),
        "sampling": sampling_signature(frames), "sample_fps": repr(frames.sample_fps),
        "quality_thresholds": json.dumps(dataclasses.asdict(thresholds), sort_keys=True),
        "duration_s": repr(float(video.duration_s)), "fps": repr(float(video.fps)),
        "width": str(video.width), "height": str(video.height), "n_frames": str(n_frames),
        "frames_per_video": str(frames.frames_per_video), "max_side": str(frames.max_side),
        "cover_source": "first_frame" if decoded.cover is None else "cover_image",
    }
    return table.replace_schema_metadata({k: v.encode() for k, v in meta.items()})


def write_item(layout: Layout, encoder_id: str, frames: FramesConfig, item_id: str, table: pa.Table) -> None:
    layout.store.write_parquet(item_embeddings_uri(layout, encoder_id, frames, item_id), table)


def clear_quarantine(layout: Layout, item_id: str) -> None:
    layout.store.delete(layout.quarantined_item(item_id))


def quarantine_item(layout: Layout, decoded: DecodedItem, stage: str) -> None:
    """Why the item is unusable, with its paths relative to ``raw/items/`` (the input contract's terms)."""
    item = decoded.item
    record = {"item_id": item.item_id, "video": _relative(layout, item.video_uri),
              "cover": None if item.cover_uri is None else _relative(layout, item.cover_uri),
              "reason": decoded.reason, "stage": stage}
    layout.store.write_bytes(layout.quarantined_item(item.item_id),
                             json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def _relative(layout: Layout, uri: str) -> str:
    base = layout.items_dir + "/"
    return uri[len(base):] if uri.startswith(base) else uri


def load_frames(config: PipelineConfig) -> tuple[pa.Table, pa.Table]:
    """(every item's rows, one row of video facts per item) for the run's encoder and sampling.

    Rows come in file-name order. ``is_poor`` / ``poor_reason`` are re-judged from the stored
    metrics with the configured thresholds, so a tuned threshold applies without re-embedding.
    The rows' table metadata keeps what all files share (encoder_id, dim, preprocessing, ...);
    the video facts are item_id, duration_s, fps, width, height, n_frames, cover_source.
    """
    layout, frames = Layout.for_config(config), config.frames
    prefix = layout.frame_items(encoder_id_for(frames.encoder), sampling_signature(frames))
    tables = [read_item_file(layout, uri) for uri in layout.store.list_uris(prefix, ".parquet")]
    return _frames_and_videos(tables, frames)


def load_frame_embeddings(config: PipelineConfig) -> pa.Table:
    """Every item's rows (see ``load_frames``)."""
    return load_frames(config)[0]


def load_video_meta(config: PipelineConfig) -> pa.Table:
    """One row of video facts per embedded item (see ``load_frames``)."""
    return load_frames(config)[1]


ITEM_READERS = 8  # files read at once: latency, not CPU, bounds these reads; under botocore's 10 pooled connections


def load_item_frames(config: PipelineConfig, item_ids: Iterable[str]) -> tuple[pa.Table, pa.Table]:
    """``load_frames`` for ``item_ids`` only: what a shard needs, without reading every item's file.

    Reads each item's own file (``item_embeddings_uri``), never the listing, so its cost follows the
    shard, not the catalogue. An id without a file (never embedded, unknown) is absent, as in
    ``load_frames``; the rows, the video facts and the re-judged verdicts are ``load_frames``'s
    restricted to those items, in the same (file-name) order.
    """
    layout, frames = Layout.for_config(config), config.frames
    encoder_id = encoder_id_for(frames.encoder)
    uris = sorted({item_embeddings_uri(layout, encoder_id, frames, i) for i in item_ids})
    if len(uris) <= 1:
        tables = [_read_item_file(layout, uri) for uri in uris]
    else:
        with ThreadPoolExecutor(max_workers=min(ITEM_READERS, len(uris)), thread_name_prefix="frames-read") as pool:
            tables = list(pool.map(lambda uri: _read_item_file(layout, uri), uris))
    return _frames_and_videos([t for t in tables if t is not None], frames)


def _read_item_file(layout: Layout, uri: str) -> pa.Table | None:
    try:
        return read_item_file(layout, uri)
    except ObjectNotFound:
        return None


def _frames_and_videos(tables: list[pa.Table], frames: FramesConfig) -> tuple[pa.Table, pa.Table]:
    """Item files (as stored) -> (their rows with verdicts re-judged, one row of video facts per file)."""
    shared: dict = {}
    videos: dict[str, list] = {name: [] for name in VIDEO_META_SCHEMA.names}
    rows = []
    for table in tables:
        meta = table.schema.metadata or {}
        shared = {k: meta[k] for k in SHARED_META if k in meta}
        facts = {k.decode(): v.decode() for k, v in meta.items()}
        for name, field in zip(VIDEO_META_SCHEMA.names, VIDEO_META_SCHEMA.types):
            value = table.column("item_id")[0].as_py() if name == "item_id" else facts[name]
            videos[name].append(float(value) if pa.types.is_floating(field) else
                                int(value) if pa.types.is_integer(field) else value)
        rows.append(table.replace_schema_metadata(None))
    out = pa.concat_tables(rows) if rows else FRAMES_SCHEMA.empty_table()
    is_poor, poor_reason = verdict_columns(out.column("quality"), QualityThresholds.from_config(frames))
    out = out.set_column(out.schema.get_field_index("is_poor"), "is_poor", is_poor)
    out = out.set_column(out.schema.get_field_index("poor_reason"), "poor_reason", poor_reason)
    return out.replace_schema_metadata(shared or None), pa.table(videos, schema=VIDEO_META_SCHEMA)


def frames_by_item(frames: pa.Table, videos: pa.Table) -> dict[str, ItemFrames]:
    """Each item's sampled frames (not the cover row) as the editor and the creator use them: unit
    embeddings in time order, their times and poor flags, and the video's duration."""
    durations = dict(zip(videos["item_id"].to_pylist(), videos["duration_s"].to_pylist()))
    rows: dict[str, list[tuple[float, list[float], bool]]] = {}
    for item, idx, ts, emb, poor in zip(*(frames[c].to_pylist() for c in
                                          ("item_id", "frame_idx", "ts", "embedding", "is_poor"))):
        if idx != COVER_FRAME_IDX:
            rows.setdefault(item, []).append((ts, emb, bool(poor)))
    out = {}
    for item, sampled in rows.items():
        sampled.sort(key=lambda r: r[0])
        matrix = np.asarray([r[1] for r in sampled], np.float32)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        times = np.asarray([r[0] for r in sampled], np.float64)
        out[item] = ItemFrames(matrix, times, float(durations.get(item, times[-1])),
                               np.asarray([r[2] for r in sampled], bool))
    return out
