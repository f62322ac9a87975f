"""Stage ``frames``: sample every item's video once, score and embed frames + cover, store per item.

Incremental by construction: an item is embedded once per (encoder, sampling) -- its file
lives under ``features/frames/encoder=<id>/sampling=<signature>/items/`` -- so the nightly
run only pays for new items, a different encoder writes beside, never over, the old
vectors, and changing ``frames_per_video``, the sampling mode or ``max_side`` re-embeds
into a fresh partition instead of silently reusing frames sampled another way. A video
that cannot be decoded is quarantined with the decoder's reason and the run goes on; it
is retried on the next run (a fixed upload then succeeds and its record goes).

Beside each item's frames file the stage writes the item's vectors (``datasets.item_vectors``:
cover and unit mean of frames, what the features stage scores with), from the same rows. Items
embedded before that dataset existed get theirs from their frames file on the next run (a read,
no decoding, no model): each shard backfills its own items, and the files of items no longer in
the catalogue by the shard of their file name.

Every row carries its frame's quality metrics (``video/quality.py``) and verdict
(``is_poor``, ``poor_reason``); every file records encoder id, spec, dimension,
preprocessing, precision and sampling in its Parquet metadata.

Sharded: the DAG maps the stage over item shards (``frames.shards``; an item's shard is
``identifiers.shard_of(item_id)``), each task decoding and embedding only its shard's new items.
Every item's file is its own, so the shards' parts together are the dataset, and one shard or
many write the same files; a re-run skips what is embedded. Shard 0 also records the catalogue's
rejected lines (every shard reads the same catalogue).

Decoding runs one item ahead on a worker thread (PyAV releases the GIL) while the
encoder works on batches that span item boundaries, so the model sees full batches
even when items have few frames.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator, TypedDict

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from generec_core.config import PipelineConfig
from generec_core.datasets import frames as frames_data
from generec_core.datasets import item_vectors
from generec_core.datasets.frames import DecodedItem, item_table, sampling_signature
from generec_core.datasets.items import Item, read_catalogue, write_rejected
from generec_core.datasets.layout import Layout, safe_name
from generec_core.embedding.encoder import ImageEncoder, encoder_id_for, load_encoder_for
from generec_core.identifiers import shard_of
from generec_core.storage import Store, is_missing
from generec_core.video.decode import VideoDecodeError, sample_item, scaled_size
from generec_core.video.quality import frame_metrics

log = logging.getLogger(__name__)

STAGE = "frames"


class FramesSummary(TypedDict):
    encoder_id: str
    sampling: str
    shard: int | None  # the item shard (of item_shards); None: every item
    item_shards: int
    items_total: int  # in the shard
    catalogue_lines_rejected: int  # lines of items.jsonl that break the contract (never items)
    catalogue_rejected_by_reason: dict[str, int]
    items_quarantined_by_reason: dict[str, int]  # the decoder's reason, up to its first colon
    items_embedded: int
    items_skipped_existing: int
    items_vectors_backfilled: int  # embedded earlier, item vectors written now from the frames file
    items_quarantined: int
    frames_embedded: int
    images_embedded: int
    frames_poor: int
    seconds: float


def run(config: PipelineConfig, date: str, shard: int) -> FramesSummary:
    return embed_items(config, shard)


def embed_items(config: PipelineConfig, shard: int | None = None) -> FramesSummary:
    """Embed every item (of the item shard, when one is given) without an embeddings file for the configured
    encoder and sampling. The catalogue's rejected lines are written when ``shard`` is None or 0."""
    started = time.perf_counter()
    layout = Layout.for_config(config)
    n_shards = config.frames.shards
    if shard is not None and not 0 <= shard < n_shards:
        raise ValueError(f"item shard {shard} outside 0..{n_shards - 1} (frames.shards)")
    items, rejected = read_catalogue(layout, config.ingest.max_id_chars)
    if shard:  # shards other than 0 leave the catalogue's rejected lines (and their counts) to shard 0
        rejected = []
    else:
        write_rejected(layout, rejected)
    catalogued = {safe_name(it.item_id) for it in items}
    if shard is not None:
        items = [it for it in items if shard_of(it.item_id, n_shards) == shard]
    encoder_id = encoder_id_for(config.frames.encoder)
    files = frames_data.embedded_item_files(layout, encoder_id, config.frames)
    done = set(files)
    backfilled = _backfill_vectors(layout, encoder_id, config, files, {safe_name(it.item_id) for it in items},
                                   catalogued, shard)
    quarantined = frames_data.quarantined_items(layout)
    todo = [it for it in items if safe_name(it.item_id) not in done]
    # the model loads only when the shard has work: an up-to-date shard costs two listings
    encoder = load_encoder_for(config.frames) if todo else None
    counts = {"encoder_id": encoder_id, "sampling": sampling_signature(config.frames), "shard": shard,
              "item_shards": n_shards, "items_total": len(items), "catalogue_lines_rejected": len(rejected),
              "catalogue_rejected_by_reason": dict(sorted(Counter(r.reason for r in rejected).items())),
              "items_embedded": 0, "items_skipped_existing": len(items) - len(todo),
              "items_vectors_backfilled": backfilled, "items_quarantined": 0,
              "items_quarantined_by_reason": {}, "frames_embedded": 0, "images_embedded": 0, "frames_poor": 0}
    by_reason: Counter[str] = Counter()
    pending: list[DecodedItem] = []
    pending_images = 0
    with tqdm(total=len(todo), unit="item", desc=f"frames[{encoder_id}]", file=sys.stderr,
              mininterval=1.0) as bar:
        for decoded in _decode_ahead(todo, config, layout.store):
            if decoded.reason is not None:
                frames_data.quarantine_item(layout, decoded, STAGE)
                log.warning("item %s quarantined: %s", decoded.item.item_id, decoded.reason)
                counts["items_quarantined"] += 1
                by_reason[re.sub(r"\d+", "N", decoded.reason.split(":", 1)[0])] += 1  # e.g. "truncated"
                bar.update(1)
                continue
            pending.append(decoded)
            pending_images += len(decoded.images)
            if pending_images >= config.frames.batch_size:
                assert encoder is not None
                _embed_and_write(layout, encoder, config, pending, quarantined, counts)
                bar.update(len(pending))
                pending, pending_images = [], 0
        if pending:
            assert encoder is not None
            _embed_and_write(layout, encoder, config, pending, quarantined, counts)
            bar.update(len(pending))
    counts["items_quarantined_by_reason"] = dict(sorted(by_reason.items()))
    counts["seconds"] = round(time.perf_counter() - started, 3)
    log.info("frames stage: %s", counts)
    return counts  # type: ignore[return-value]


def _backfill_vectors(layout: Layout, encoder_id: str, config: PipelineConfig, files: dict[str, str],
                      mine: set[str], catalogued: set[str], shard: int | None) -> int:
    """Write the item vectors of embedded items that lack them, from their frames files; return how many.

    A shard does its own items, and the files of items no longer in the catalogue by the shard of their
    file name, so each file is done by exactly one task and never while another task embeds that item.
    """
    have = item_vectors.summarised_items(layout, encoder_id, config.frames)
    n_shards = config.frames.shards
    lacking = [name for name in sorted(set(files) - set(have))
               if name in mine or (name not in catalogued and (shard is None or shard_of(name, n_shards) == shard))]
    for name in lacking:
        table = frames_data.read_item_file(layout, files[name])
        item_id = table.column("item_id")[0].as_py()
        item_vectors.write_item(layout, encoder_id, config.frames, item_id, item_vectors.summarise_item(table, item_id))
    if lacking:
        log.info("frames stage: item vectors written for %d item(s) embedded earlier", len(lacking))
    return len(lacking)


def _decode_ahead(items: list[Item], config: PipelineConfig, store: Store, ahead: int = 2) -> Iterator[DecodedItem]:
    """Decode items in order on one worker thread, at most ``ahead`` items in flight."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="frames-decode") as pool:
        queue: list[Future[DecodedItem]] = []
        for item in items:
            queue.append(pool.submit(decode_item, item, config, store))
            if len(queue) > ahead:
                yield queue.pop(0).result()
        while queue:
            yield queue.pop(0).result()


def decode_item(item: Item, config: PipelineConfig, store: Store | None = None) -> DecodedItem:
    """Sample the video, load the cover, measure quality; any failure becomes a quarantine reason."""
    store = store or Store(config.storage)
    try:
        data = store.read_bytes(item.video_uri)
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
            cover = load_cover(store.read_bytes(item.cover_uri), config.frames.max_side)
        except Exception as exc:  # noqa: BLE001
            reason = "file not found" if is_missing(exc) else f"{type(exc).__name__}: {exc}"
            return DecodedItem(item, reason=f"cover image {reason}")
    frames_quality = frame_metrics(video.frames)
    cover_quality = frames_quality[0] if cover is None else frame_metrics([cover])[0]
    return DecodedItem(item, video=video, cover=cover, quality=[cover_quality, *frames_quality])


def load_cover(data: bytes, max_side: int) -> np.ndarray:
    """RGB pixels of a cover image, EXIF-rotated and down-scaled like the frames."""
    with Image.open(io.BytesIO(data)) as img:
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
        frames_data.write_item(layout, encoder.encoder_id, config.frames, item_id, table)
        # after the frames: an item with vectors always has frames (a crash between leaves it to the backfill)
        item_vectors.write_item(layout, encoder.encoder_id, config.frames, item_id,
                                item_vectors.summarise_item(table, item_id))
        if safe_name(item_id) in quarantined:  # it decodes now: the old verdict is stale
            frames_data.clear_quarantine(layout, item_id)
        counts["items_embedded"] += 1
        counts["frames_embedded"] += len(decoded.video.frames)  # type: ignore[union-attr]
        counts["images_embedded"] += n
        counts["frames_poor"] += sum(table.column("is_poor").to_pylist()[1:])
