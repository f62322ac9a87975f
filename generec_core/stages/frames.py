"""Frames stage: sample every item's video once, score and embed frames + cover, store per item.

Incremental by construction: an item is embedded once per (encoder, sampling) -- its file
lives under ``features/frames/encoder=<id>/sampling=<signature>/items/`` -- so the nightly
run only pays for new items, a different encoder writes beside, never over, the old
vectors, and changing ``frames_per_video``, the sampling mode or ``max_side`` re-embeds
into a fresh partition instead of silently reusing frames sampled another way. A video
that cannot be decoded is quarantined with the decoder's reason and the run goes on; it
is retried on the next run (a fixed upload then succeeds and its record goes).

Every row carries its frame's quality metrics (``video/quality.py``) and verdict
(``is_poor``, ``poor_reason``); every file records encoder id, spec, dimension,
preprocessing, precision and sampling in its Parquet metadata.

Decoding runs one item ahead on a worker thread (PyAV releases the GIL) while the
encoder works on batches that span item boundaries, so the model sees full batches
even when items have few frames.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pyarrow as pa
from PIL import Image, ImageOps
from tqdm import tqdm

from generec_core.config import FramesConfig, PipelineConfig
from generec_core.embedding.encoder import ImageEncoder, encoder_id_for, load_encoder
from generec_core.items import Item, read_items, safe_name
from generec_core.layout import Layout
from generec_core.storage import is_missing, join, list_uris, parquet_from_bytes, storage_for, write_parquet
from generec_core.video.decode import SampledVideo, VideoDecodeError, VideoSource, sample_frames, scaled_size
from generec_core.video.quality import QUALITY_TYPE, QualityThresholds, frame_metrics, metrics_array, verdict_columns

log = logging.getLogger(__name__)

STAGE = "frames"
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


def sampling_signature(frames: FramesConfig) -> str:
    """How frames were sampled, as a path-safe partition value: a change means a re-embed."""
    how = "uniform" if frames.sampling == "uniform" else f"rate{frames.sample_fps:g}fps"
    return f"{how}-n{frames.frames_per_video}-side{frames.max_side}"


def sample_item(source: VideoSource, frames: FramesConfig) -> SampledVideo:
    """The frames this config samples from a video (personalise must decode the same ones)."""
    rate = frames.sample_fps if frames.sampling == "rate" else None
    return sample_frames(source, n=frames.frames_per_video, max_side=frames.max_side, rate=rate)


def items_prefix(layout: Layout, encoder_id: str, frames: FramesConfig) -> str:
    return join(layout.frames(encoder_id), f"sampling={sampling_signature(frames)}", "items")


def item_embeddings_uri(layout: Layout, encoder_id: str, frames: FramesConfig, item_id: str) -> str:
    return join(items_prefix(layout, encoder_id, frames), f"{safe_name(item_id)}.parquet")


def quarantine_uri(layout: Layout, item_id: str) -> str:
    return join(layout.quarantine("items"), f"{safe_name(item_id)}.json")


@dataclass
class DecodedItem:
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


def embed_items(config: PipelineConfig) -> dict:
    """Embed every item without an embeddings file for the configured encoder and sampling."""
    started = time.perf_counter()
    layout = Layout(config.root)
    encoder = load_encoder(config.frames.encoder, config.frames.device, config.frames.batch_size,
                           config.frames.precision)
    items = read_items(layout)
    done = _existing_names(items_prefix(layout, encoder.encoder_id, config.frames), ".parquet")
    quarantined = _existing_names(layout.quarantine("items"), ".json")
    todo = [it for it in items if safe_name(it.item_id) not in done]
    counts = {"encoder_id": encoder.encoder_id, "sampling": sampling_signature(config.frames),
              "items_total": len(items), "items_embedded": 0,
              "items_skipped_existing": len(items) - len(todo), "items_quarantined": 0,
              "frames_embedded": 0, "images_embedded": 0, "frames_poor": 0}
    pending: list[DecodedItem] = []
    pending_images = 0
    with tqdm(total=len(todo), unit="item", desc=f"frames[{encoder.encoder_id}]", file=sys.stderr,
              mininterval=1.0) as bar:
        for decoded in _decode_ahead(todo, config):
            if decoded.reason is not None:
                _quarantine(layout, decoded)
                counts["items_quarantined"] += 1
                bar.update(1)
                continue
            pending.append(decoded)
            pending_images += len(decoded.images)
            if pending_images >= config.frames.batch_size:
                _embed_and_write(layout, encoder, config, pending, quarantined, counts)
                bar.update(len(pending))
                pending, pending_images = [], 0
        if pending:
            _embed_and_write(layout, encoder, config, pending, quarantined, counts)
            bar.update(len(pending))
    counts["seconds"] = round(time.perf_counter() - started, 3)
    log.info("frames stage: %s", counts)
    return counts


def _existing_names(prefix: str, suffix: str) -> set[str]:
    """File stems directly below ``prefix`` (one listing, not one request per item)."""
    return {uri.rsplit("/", 1)[1][: -len(suffix)] for uri in list_uris(prefix, suffix)}


def _decode_ahead(items: list[Item], config: PipelineConfig, ahead: int = 2) -> Iterator[DecodedItem]:
    """Decode items in order on one worker thread, at most ``ahead`` items in flight."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="frames-decode") as pool:
        queue: list[Future[DecodedItem]] = []
        for item in items:
            queue.append(pool.submit(decode_item, item, config))
            if len(queue) > ahead:
                yield queue.pop(0).result()
        while queue:
            yield queue.pop(0).result()


def decode_item(item: Item, config: PipelineConfig) -> DecodedItem:
    """Sample the video, load the cover, measure quality; any failure becomes a quarantine reason."""
    try:
        data = storage_for(item.video_uri).read_bytes(item.video_uri)
    except Exception as exc:  # noqa: BLE001 - a bad item never stops the run
        reason = "file not found" if is_missing(exc) else f"unreadable: {type(exc).__name__}: {exc}"
        return DecodedItem(item, reason=f"video {reason}")
    try:
        video = sample_item(data, config.frames)
    except VideoDecodeError as exc:
        return DecodedItem(item, reason=exc.reason)
    cover = None
    if item.cover_uri is not None:
        try:
            cover = load_cover(item.cover_uri, config.frames.max_side)
        except Exception as exc:  # noqa: BLE001
            reason = "file not found" if is_missing(exc) else f"{type(exc).__name__}: {exc}"
            return DecodedItem(item, reason=f"cover image {reason}")
    frames_quality = frame_metrics(video.frames)
    cover_quality = frames_quality[0] if cover is None else frame_metrics([cover])[0]
    return DecodedItem(item, video=video, cover=cover, quality=[cover_quality, *frames_quality])


def load_cover(uri: str, max_side: int) -> np.ndarray:
    """RGB pixels of a cover image, EXIF-rotated and down-scaled like the frames."""
    with Image.open(io.BytesIO(storage_for(uri).read_bytes(uri))) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        size = scaled_size(img.width, img.height, max_side)
        if size != img.size:
            img = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        return np.asarray(img)


def _embed_and_write(layout: Layout, encoder: ImageEncoder, config: PipelineConfig,
                     batch: list[DecodedItem], quarantined: set[str], counts: dict) -> None:
    """One encoder call for several items, then one Parquet file per item."""
    images = [img for d in batch for img in d.images]
    embeddings = encoder.embed(images)
    offset = 0
    for decoded in batch:
        n = len(decoded.images)
        table = item_table(decoded, embeddings[offset:offset + n], encoder, config)
        offset += n
        item_id = decoded.item.item_id
        write_parquet(item_embeddings_uri(layout, encoder.encoder_id, config.frames, item_id), table)
        if safe_name(item_id) in quarantined:  # it decodes now: the old verdict is stale
            uri = quarantine_uri(layout, item_id)
            storage_for(uri).delete(uri)
        counts["items_embedded"] += 1
        counts["frames_embedded"] += len(decoded.video.frames)  # type: ignore[union-attr]
        counts["images_embedded"] += n
        counts["frames_poor"] += sum(table.column("is_poor").to_pylist()[1:])


def item_table(decoded: DecodedItem, embeddings: np.ndarray, encoder: ImageEncoder,
               config: PipelineConfig) -> pa.Table:
    """Cover row (frame_idx -1) then one row per sampled frame, with the video's facts as metadata."""
    video = decoded.video
    assert video is not None
    n_frames = len(video.frames)
    if decoded.cover is None:  # the first sampled frame is the cover
        cover_ts, cover_emb, frame_embs = float(video.timestamps[0]), embeddings[0], embeddings
    else:
        cover_ts, cover_emb, frame_embs = None, embeddings[0], embeddings[1:]
    item_id = decoded.item.item_id
    thresholds = QualityThresholds.from_config(config.frames)
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
        "encoder_spec": config.frames.encoder,
        "precision": str(getattr(encoder, "dtype", "torch.float32")).removeprefix("torch."),
        "sampling": sampling_signature(config.frames), "sample_fps": repr(config.frames.sample_fps),
        "quality_thresholds": json.dumps(dataclasses.asdict(thresholds), sort_keys=True),
        "duration_s": repr(float(video.duration_s)), "fps": repr(float(video.fps)),
        "width": str(video.width), "height": str(video.height), "n_frames": str(n_frames),
        "frames_per_video": str(config.frames.frames_per_video), "max_side": str(config.frames.max_side),
        "cover_source": "first_frame" if decoded.cover is None else "cover_image",
    }
    return table.replace_schema_metadata({k: v.encode() for k, v in meta.items()})


def _quarantine(layout: Layout, decoded: DecodedItem) -> None:
    item = decoded.item
    record = {"item_id": item.item_id, "video": _relative(layout, item.video_uri),
              "cover": None if item.cover_uri is None else _relative(layout, item.cover_uri),
              "reason": decoded.reason, "stage": STAGE}
    uri = quarantine_uri(layout, item.item_id)
    storage_for(uri).write_bytes(uri, json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    log.warning("item %s quarantined: %s", item.item_id, decoded.reason)


def _relative(layout: Layout, uri: str) -> str:
    base = layout.items_dir + "/"
    return uri[len(base):] if uri.startswith(base) else uri


def _item_files(config: PipelineConfig) -> Iterator[pa.Table]:
    prefix = items_prefix(Layout(config.root), encoder_id_for(config.frames.encoder), config.frames)
    for uri in list_uris(prefix, ".parquet"):
        yield parquet_from_bytes(storage_for(uri).read_bytes(uri))


SHARED_META = (b"encoder_id", b"dim", b"preprocessing", b"encoder_spec", b"precision", b"sampling")


def load_frame_embeddings(config: PipelineConfig) -> pa.Table:
    """Every item's rows for the configured encoder and sampling, in file-name order.

    ``is_poor`` / ``poor_reason`` are re-judged from the stored metrics with the configured
    thresholds, so a tuned threshold applies without re-embedding. Table metadata keeps
    what all files share (encoder_id, dim, preprocessing, ...); per-video facts are in
    ``load_video_meta``.
    """
    tables, shared = [], {}
    for table in _item_files(config):
        meta = table.schema.metadata or {}
        shared = {k: meta[k] for k in SHARED_META if k in meta}
        tables.append(table.replace_schema_metadata(None))
    out = pa.concat_tables(tables) if tables else FRAMES_SCHEMA.empty_table()
    is_poor, poor_reason = verdict_columns(out.column("quality"), QualityThresholds.from_config(config.frames))
    out = out.set_column(out.schema.get_field_index("is_poor"), "is_poor", is_poor)
    out = out.set_column(out.schema.get_field_index("poor_reason"), "poor_reason", poor_reason)
    return out.replace_schema_metadata(shared or None)


def load_video_meta(config: PipelineConfig) -> pa.Table:
    """One row per embedded item: item_id, duration_s, fps, width, height, n_frames, cover_source."""
    rows: dict[str, list] = {k: [] for k in ("item_id", "duration_s", "fps", "width", "height",
                                             "n_frames", "cover_source")}
    for table in _item_files(config):
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        rows["item_id"].append(table.column("item_id")[0].as_py())
        rows["duration_s"].append(float(meta["duration_s"]))
        rows["fps"].append(float(meta["fps"]))
        rows["width"].append(int(meta["width"]))
        rows["height"].append(int(meta["height"]))
        rows["n_frames"].append(int(meta["n_frames"]))
        rows["cover_source"].append(meta["cover_source"])
    return pa.table(rows, schema=pa.schema([
        ("item_id", pa.string()), ("duration_s", pa.float64()), ("fps", pa.float64()),
        ("width", pa.int32()), ("height", pa.int32()), ("n_frames", pa.int32()), ("cover_source", pa.string())]))
