"""Dataset ``item_vectors``: each embedded item reduced to the vectors the features stage scores with.

``features/frames/encoder=<id>/sampling=<signature>/vectors/<item>.parquet``, one row per item
(``ITEM_VECTORS_SCHEMA``): the cover embedding, the L2-normalised mean of the sampled frames, and
how many frames that mean holds. It lives beside the item's frames file in the same (encoder,
sampling) partition, so another encoder or sampling never mixes, and is written by the same
task right after the frames file -- the same incremental, sharded design as ``frames``: a shard
writes its own items' files, a re-run skips them. Each file keeps the frames file's shared
metadata (encoder id, dimension, preprocessing, precision, sampling).

Why its own dataset: the features stage needs two vectors per item, not every frame. Reading
the frames (``frames_per_video`` + 1 embeddings per item) to reduce them on the driver cost
about 170 GB at a million items; these vectors are about 10 KB per item.

``summarise`` is the one definition of the reduction (``ItemIndex.from_frames`` uses it too):
per item, the cover is the mean of its cover rows (there is one), the frames vector is the
L2-normalised float64 mean of its sampled frames, cast to float32. Rows with a null or non-finite
embedding do not count; an item without a usable cover (or frames) stores null there.

Items embedded before this dataset existed have frames but no vectors: the frames stage writes
them from the frames files (``frames`` stage, backfill). ``load_item_vectors`` reads the items
that have a frames file -- the same items the frames dataset holds, so a quarantined item or one
whose frames were removed is absent exactly as before -- and refuses to run while any of them
lacks its vectors, rather than silently scoring without them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generec_core.config import FramesConfig, PipelineConfig
from generec_core.datasets import frames as frames_data
from generec_core.datasets.frames import COVER_FRAME_IDX, SHARED_META, sampling_signature
from generec_core.datasets.layout import Layout
from generec_core.embedding.encoder import encoder_id_for
from generec_core.storage import parquet_from_bytes

ITEM_VECTORS_SCHEMA = pa.schema([
    ("item_id", pa.string()),
    ("cover", pa.list_(pa.float32())),  # the cover embedding; null: no usable cover row
    ("frames_mean", pa.list_(pa.float32())),  # unit mean of the sampled frames; null: none usable (or zero)
    ("n_frames", pa.int32()),  # sampled frames with a usable embedding
])
_EPS = 1e-12
_READERS = 16  # small files on object storage: the reads wait on the network, not the CPU


class MissingItemVectors(ValueError):
    """Items with frames but no vectors: the frames stage (which backfills them) has not run since."""


def summarise(frames: pa.Table) -> pa.Table:
    """Frame rows (``item_id``, ``frame_idx``, ``embedding``; any number of items) -> one row per item,
    sorted by item_id, with the frames table's shared metadata.

    A null or non-finite embedding drops that row only (the item may have others); mixed dimensions
    are an error (a mixed-encoder table would make every cosine meaningless).
    """
    missing = {"item_id", "frame_idx", "embedding"} - set(frames.column_names)
    if missing:
        raise ValueError(f"frames table lacks column(s) {sorted(missing)}; has {frames.column_names}")
    meta = frames.schema.metadata or {}
    shared = {k: meta[k] for k in SHARED_META if k in meta} or None
    frames = frames.filter(pc.is_valid(frames.column("embedding")))
    if frames.num_rows == 0:
        return ITEM_VECTORS_SCHEMA.empty_table().replace_schema_metadata(shared)
    embedding = frames.column("embedding").combine_chunks()
    lengths = pc.list_value_length(embedding).to_numpy(zero_copy_only=False)
    if lengths.min() != lengths.max() or lengths[0] == 0:
        raise ValueError(f"frames table mixes embedding dims {sorted(set(lengths.tolist()))}")
    dim = int(lengths[0])
    vectors = np.asarray(embedding.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    vectors = vectors.reshape(frames.num_rows, dim)
    ids = np.asarray(frames.column("item_id").to_pylist(), dtype=object)
    frame_idx = frames.column("frame_idx").to_numpy(zero_copy_only=False)
    usable = np.isfinite(vectors).all(axis=1) & np.array([i is not None for i in ids], dtype=bool)
    ids, frame_idx, vectors = ids[usable], frame_idx[usable], vectors[usable]
    items = np.unique(ids)
    cover_at, covers, _ = _group_mean(ids, vectors, frame_idx == COVER_FRAME_IDX, items)
    mean_at, means, counts = _group_mean(ids, vectors, frame_idx >= 0, items)
    norms = np.linalg.norm(means, axis=1)
    unit = norms > _EPS
    means[unit] /= norms[unit, None]
    n_frames = np.zeros(len(items), np.int32)
    n_frames[mean_at] = counts
    table = pa.table({
        "item_id": pa.array(items.tolist(), pa.string()),
        "cover": _list_column(len(items), cover_at, covers),
        "frames_mean": _list_column(len(items), mean_at[unit], means[unit]),
        "n_frames": pa.array(n_frames, pa.int32()),
    }, schema=ITEM_VECTORS_SCHEMA)
    return table.replace_schema_metadata(shared)


def summarise_item(frames: pa.Table, item_id: str) -> pa.Table:
    """One item's row from its frames table; an item with no usable embedding at all gets a row of nulls
    (it is embedded, there is just nothing to score it by), so its vectors file exists like any other's."""
    vectors = summarise(frames)
    if vectors.num_rows == 0:
        empty = pa.table({"item_id": [item_id], "cover": pa.nulls(1, pa.list_(pa.float32())),
                          "frames_mean": pa.nulls(1, pa.list_(pa.float32())), "n_frames": pa.array([0], pa.int32())},
                         schema=ITEM_VECTORS_SCHEMA)
        vectors = empty.replace_schema_metadata(vectors.schema.metadata)
    return vectors


def _group_mean(ids: np.ndarray, vectors: np.ndarray, mask: np.ndarray,
                items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions in ``items``, float64 mean vector, row count) of each item with rows under ``mask``."""
    if not mask.any():
        return np.zeros(0, np.int64), np.zeros((0, vectors.shape[1])), np.zeros(0, np.int64)
    unique, inverse = np.unique(ids[mask], return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
    sums = np.add.reduceat(vectors[mask][order].astype(np.float64), starts, axis=0)
    counts = np.diff(np.r_[starts, len(order)])
    return np.searchsorted(items, unique), sums / counts[:, None], counts


def _list_column(n: int, at: np.ndarray, matrix: np.ndarray) -> pa.Array:
    """A list<float32> column of ``n`` rows: ``matrix``'s rows (as float32) at positions ``at``, null elsewhere."""
    rows: list = [None] * n
    for position, row in zip(at.tolist(), matrix.astype(np.float32)):
        rows[position] = row
    return pa.array(rows, pa.list_(pa.float32()))


def vectors_uri(layout: Layout, encoder_id: str, frames: FramesConfig, item_id: str) -> str:
    return layout.item_vector(encoder_id, sampling_signature(frames), item_id)


def summarised_items(layout: Layout, encoder_id: str, frames: FramesConfig) -> dict[str, str]:
    """Safe name -> file of every item with vectors for this encoder and sampling (one listing)."""
    prefix = layout.item_vectors(encoder_id, sampling_signature(frames))
    return {uri.rsplit("/", 1)[1][: -len(".parquet")]: uri for uri in layout.store.list_uris(prefix, ".parquet")}


def write_item(layout: Layout, encoder_id: str, frames: FramesConfig, item_id: str, vectors: pa.Table) -> None:
    """One item's row (``summarise_item`` of its frames table), in its own file."""
    if vectors.num_rows != 1 or vectors.column("item_id")[0].as_py() != item_id:
        raise ValueError(f"item vectors of {item_id!r} must be its one row; got {vectors.column('item_id')}")
    layout.store.write_parquet(vectors_uri(layout, encoder_id, frames, item_id), vectors)


def load_item_vectors(config: PipelineConfig) -> pa.Table:
    """Every embedded item's row for the run's encoder and sampling, in file-name order, with the shared
    metadata (encoder_id, dim, ...) of the files.

    The items are those with a frames file; a vectors file whose frames file is gone is not read (the
    item is not embedded any more). Raises ``MissingItemVectors`` when an embedded item has no vectors.
    """
    layout, frames = Layout.for_config(config), config.frames
    encoder_id = encoder_id_for(frames.encoder)
    embedded = frames_data.embedded_items(layout, encoder_id, frames)
    files = summarised_items(layout, encoder_id, frames)
    lacking = sorted(embedded - set(files))
    if lacking:
        raise MissingItemVectors(
            f"{len(lacking)} embedded item(s) have no item vectors under "
            f"{layout.item_vectors(encoder_id, sampling_signature(frames))} (e.g. {lacking[:3]}): run the frames "
            f"stage, which writes them from the frames files")
    uris = [files[name] for name in sorted(embedded)]
    with ThreadPoolExecutor(max_workers=_READERS, thread_name_prefix="item-vectors") as pool:
        tables = list(pool.map(lambda uri: parquet_from_bytes(layout.store.read_bytes(uri)), uris))
    meta = (tables[-1].schema.metadata or {}) if tables else {}
    shared = {k: meta[k] for k in SHARED_META if k in meta} or None
    out = pa.concat_tables([t.replace_schema_metadata(None) for t in tables]) if tables else \
        ITEM_VECTORS_SCHEMA.empty_table()
    return out.replace_schema_metadata(shared)
