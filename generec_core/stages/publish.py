"""Publish a gated run to the catalog: assets, then manifest, then the CURRENT pointer.

The order is the protocol. Assets are content-addressed (sha256 of their bytes) and written
create-only, so they are never overwritten and a re-run adds nothing new. The manifest of a
date is replaced whole. CURRENT is swapped last with a compare-and-swap on the version read,
so a reader never follows a pointer to a manifest whose assets are missing, and two racing
publishers cannot both win. A backfill of an older date does not move CURRENT backwards.
"""

from __future__ import annotations

import json
import logging

import pyarrow as pa

from generec_core.config import PipelineConfig
from generec_core.layout import Layout, run_id_for
from generec_core.stages.gate import gate_rows_uri
from generec_core.storage import ObjectNotFound, PreconditionFailed, read_parquet, sha256_hex, storage_for, write_parquet

log = logging.getLogger(__name__)

MANIFEST_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("item_id", pa.string()),
    ("thumbnail_uri", pa.string()), ("thumbnail_kind", pa.string()), ("thumbnail_frame_ts", pa.float64()),
    ("cover_uri", pa.string()),
    ("clip_uri", pa.string()), ("clip_start_s", pa.float64()), ("clip_end_s", pa.float64()),
    ("score", pa.float64()), ("clip_score", pa.float64()), ("retriever", pa.string()),
    ("fallback", pa.string()), ("run_id", pa.string()), ("date", pa.string()),
    ("encoder_id", pa.string()), ("generator_id", pa.string()),
])


class PublishConflict(RuntimeError):
    """Another publisher moved CURRENT between our read and our swap."""


def publish(config: PipelineConfig, date: str) -> dict:
    layout, run_id = Layout(config.root), run_id_for(date)
    rows = read_parquet(gate_rows_uri(layout, run_id)).to_pylist()
    staged_assets = {r[c] for r in rows for c in ("thumbnail_staged", "cover_staged", "clip_staged") if r[c]}
    published: dict[str, str] = {}
    uploaded = 0
    for staged in sorted(staged_assets):
        published[staged], is_new = _publish_asset(layout, staged)
        uploaded += is_new
    manifest_uri = layout.manifest(date, run_id)
    write_parquet(manifest_uri, _manifest(rows, published, run_id, date))
    moved = _swap_current(layout, run_id, date, manifest_uri)
    log.info("publish run=%s rows=%s assets=%s new=%s", run_id, len(rows), len(published), uploaded)
    return {"rows": len(rows), "assets": len(published), "assets_uploaded": uploaded,
            "manifest": manifest_uri, "current_moved": moved}


def _publish_asset(layout: Layout, staged_uri: str) -> tuple[str, bool]:
    """Content-address one staged asset; an existing identical object is reused, never rewritten."""
    data = storage_for(staged_uri).read_bytes(staged_uri)
    target = layout.asset(sha256_hex(data), staged_uri.rsplit(".", 1)[-1])
    try:
        storage_for(target).write_bytes(target, data, if_none_match=True)
        return target, True
    except PreconditionFailed:
        return target, False


def _manifest(rows: list[dict], published: dict[str, str], run_id: str, date: str) -> pa.Table:
    out = []
    for r in sorted(rows, key=lambda r: (r["user_id"], r["item_id"])):
        out.append({
            "user_id": r["user_id"], "item_id": r["item_id"],
            "thumbnail_uri": published[r["thumbnail_staged"]], "thumbnail_kind": r["thumbnail_kind"],
            "thumbnail_frame_ts": r["thumbnail_frame_ts"], "cover_uri": published.get(r["cover_staged"]),
            "clip_uri": published.get(r["clip_staged"]) if r["clip_staged"] else None,
            "clip_start_s": r["clip_start_s"], "clip_end_s": r["clip_end_s"],
            "score": r["score"], "clip_score": r["clip_score"], "retriever": r["retriever"],
            "fallback": r["fallback"], "run_id": run_id, "date": date,
            "encoder_id": r["encoder_id"], "generator_id": None,
        })
    return pa.Table.from_pylist(out, MANIFEST_SCHEMA)


def read_current(layout: Layout) -> tuple[dict | None, str | None]:
    """The live pointer and its version tag (None, None when nothing is published yet)."""
    store = storage_for(layout.current)
    info = store.head(layout.current)
    if info is None:
        return None, None
    try:
        return json.loads(store.read_bytes(layout.current)), info.etag
    except ObjectNotFound:
        return None, None


def _swap_current(layout: Layout, run_id: str, date: str, manifest_uri: str) -> bool:
    current, etag = read_current(layout)
    if current is not None and current["date"] > date:
        log.info("CURRENT stays at %s: %s is a backfill of an older date", current["date"], date)
        return False
    body = json.dumps({"run_id": run_id, "date": date, "manifest": manifest_uri}, sort_keys=True).encode()
    try:
        if etag is None:
            storage_for(layout.current).write_bytes(layout.current, body, if_none_match=True)
        else:
            storage_for(layout.current).write_bytes(layout.current, body, if_match=etag)
    except PreconditionFailed as exc:
        raise PublishConflict(f"CURRENT changed while publishing {run_id}; another publisher won: {exc}") from None
    return True
