"""Dataset ``staged``: what the editor staged for each (user, item), and the staged files themselves.

``work/run=<id>/shard=<n>/rows.parquet`` holds one ``StagedRow`` per (user, item) of the shard,
written once by personalise and never rewritten (generation writes beside it, see
``datasets.generated``). Staged files live in the run's audit zone, named by item and frame or
window, never by user, so a frame many users got is staged once and no key carries a user id:
``staged/thumbnails/<item>-f<frame>.jpg``, ``staged/covers/<item>.jpg``,
``staged/clips/<item>-w<first>-<last>.mp4``.
"""

from __future__ import annotations

import logging
from typing import Callable, TypedDict

import pyarrow as pa

from generec_core.datasets.layout import Layout, staged_rows_shard
from generec_core.storage import ObjectNotFound

log = logging.getLogger(__name__)


class StagedRow(TypedDict):
    user_id: str
    item_id: str
    shard: int
    retriever: str
    is_cold: bool
    thumbnail_kind: str  # a kinds.ThumbnailKind
    thumbnail_staged: str
    cover_staged: str | None
    thumbnail_frame_idx: int | None
    thumbnail_frame_ts: float | None
    score: float | None
    clip_staged: str | None
    clip_start_s: float | None
    clip_end_s: float | None
    clip_score: float | None
    encoder_id: str
    runner_ups: list[dict]  # RUNNER_UP_TYPE: the next best distinct frames, staged (serving candidates)
    cover_score: float | None  # cosine of the user's taste to the item's cover (the cover as a candidate)


RUNNER_UP_TYPE = pa.struct([("staged", pa.string()), ("frame_idx", pa.int32()), ("frame_ts", pa.float64()),
                            ("score", pa.float64())])
STAGED_ROWS_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("item_id", pa.string()), ("shard", pa.int32()),
    ("retriever", pa.string()), ("is_cold", pa.bool_()),
    ("thumbnail_kind", pa.string()), ("thumbnail_staged", pa.string()), ("cover_staged", pa.string()),
    ("thumbnail_frame_idx", pa.int32()), ("thumbnail_frame_ts", pa.float64()),
    ("score", pa.float64()),
    ("clip_staged", pa.string()), ("clip_start_s", pa.float64()), ("clip_end_s", pa.float64()),
    ("clip_score", pa.float64()), ("encoder_id", pa.string()),
    ("runner_ups", pa.list_(RUNNER_UP_TYPE)), ("cover_score", pa.float64()),
])


def shard_rows_uri(layout: Layout, run_id: str, shard: int) -> str:
    return layout.staged_rows(run_id, shard)


def write_shard_rows(layout: Layout, run_id: str, shard: int, rows: list[StagedRow]) -> None:
    layout.store.write_parquet(layout.staged_rows(run_id, shard), pa.Table.from_pylist(rows, STAGED_ROWS_SCHEMA))


def read_shard_rows(layout: Layout, run_id: str, shard: int) -> list[StagedRow]:
    return layout.store.read_parquet(layout.staged_rows(run_id, shard)).to_pylist()  # type: ignore[return-value]


def staged_shards(layout: Layout, run_id: str) -> list[int]:
    """The shards whose rows personalise has staged in this run, in shard order."""
    found = (staged_rows_shard(uri) for uri in layout.store.list_uris(layout.work(run_id), ".parquet"))
    return sorted(shard for shard in found if shard is not None)


def stage_once(layout: Layout, uri: str, make: Callable[[], bytes]) -> str:
    """Staged files are deterministic per name, so an existing one is reused, not rebuilt."""
    if not layout.store.exists(uri):
        layout.store.write_bytes(uri, make())
    return uri


def read_staged(layout: Layout, uri: str) -> bytes:
    """A staged file's bytes; a missing one reads as empty (the gate's ``decodes`` check fails it with a reason)."""
    try:
        return layout.store.read_bytes(uri)
    except (ObjectNotFound, FileNotFoundError):
        log.warning("staged asset missing: %s", uri)
        return b""
