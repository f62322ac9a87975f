"""Stage ``publish``: a gated run goes to the catalog: assets, then the date's manifest, then the CURRENT pointer.

The order is the protocol, and each step is a conditional write so that a crash or a rival
publisher at any point leaves the catalog readable:

1. Assets are content-addressed (sha256 of their bytes) and written create-only, so they are
   never overwritten and a re-run adds nothing new. Large ones go up in parts (invisible
   until complete).
2. The run's created items table (``catalog/created/...``) is replaced whole (removed when it created
   nothing); then the date's manifest is replaced whole, with a compare-and-swap on the version read when
   the publish *started*: of two publishers of the same date, exactly one commits. (Versions
   are content ETags, so re-committing bytes identical to the live manifest is a no-op that
   succeeds: the catalog is the same whichever identical publisher "won".)
3. Assets the manifest reuses are checked to still exist (a concurrent ``catalog gc`` may have
   removed an old unreferenced copy) and restored if not.
4. ``catalog/CURRENT`` is swapped last with a compare-and-swap on the version just read, so a
   reader never follows a pointer to a manifest whose assets are missing, and two racing
   publishers cannot both win. A backfill of an older date does not move CURRENT backwards.

A lost race raises ``PublishConflict`` (``publish.on_conflict = "fail"``) or re-reads and
tries again on top (``"retry"``). ``GENEREC_PUBLISH_FAULT=<step>`` kills the process at a
named step (``FAULT_STEPS``): the crash tests use it to prove every step is safe to die in.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Callable, TypedDict

import pyarrow as pa

from generec_core.config import PipelineConfig, PublishConfig
from generec_core.datasets.catalog import MANIFEST_SCHEMA, read_current, version, write_created_items
from generec_core.datasets.created import CreatedItem
from generec_core.datasets.gate import GateRow, read_gate_created, read_gate_rows
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.storage import PreconditionFailed, parquet_bytes, sha256_hex

log = logging.getLogger(__name__)

STAGED_COLUMNS: tuple[str, ...] = ("thumbnail_staged", "cover_staged", "clip_staged")
ASSET_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp", "mp4"})

FAULT_ENV = "GENEREC_PUBLISH_FAULT"
FAULT_STEPS: tuple[str, ...] = ("mid-asset", "after-assets", "after-manifest", "before-swap")
FAULT_EXIT_CODE = 86
# Test seam: called with each step name as the publish passes it (e.g. a barrier for race tests).
checkpoint_hook: Callable[[str], None] | None = None


class PublishConflict(RuntimeError):
    """Another publisher committed first (the date's manifest or CURRENT changed under us)."""


class UnpublishableAsset(ValueError):
    """A gate row names a staged file outside this run's audit zone or of an unknown type."""


class PublishSummary(TypedDict, total=False):
    rows: int
    assets: int
    assets_uploaded: int
    assets_restored: int
    manifest: str
    created_items: int
    current_moved: bool
    dry_run: bool
    published: bool


def run(config: PipelineConfig, date: str) -> PublishSummary:
    if config.run.dry_run:  # a dry run audits everything and leaves the catalog untouched
        return {"dry_run": True, "published": False}
    return publish(config, date)


def publish(config: PipelineConfig, date: str) -> PublishSummary:
    layout, run_id = Layout.for_config(config), run_id_for(date)
    rows = read_gate_rows(layout, run_id)
    manifest_uri = layout.manifest(date, run_id)
    base_version = version(layout, manifest_uri)  # read first: a same-date publisher committing after this wins
    published, reused = _publish_assets(layout, run_id, rows)
    _checkpoint("after-assets")
    created = [_created_item(item, published) for item in read_gate_created(layout, run_id)]
    created_uri = write_created_items(layout, date, run_id, created)
    body = parquet_bytes(_manifest(rows, published, run_id, date))
    _commit_manifest(layout, config.publish, manifest_uri, body, base_version, run_id)
    _checkpoint("after-manifest")
    restored = _restore_missing(layout, reused)
    pointer = {"run_id": run_id, "date": date, "manifest": manifest_uri, "manifest_sha256": sha256_hex(body),
               **({"created": created_uri} if created_uri else {})}
    moved = _swap_current(config.publish, layout, pointer)
    log.info("publish run=%s rows=%s assets=%s new=%s restored=%s created=%s current_moved=%s",
             run_id, len(rows), len(published), len(published) - len(reused), restored, len(created), moved)
    return {"rows": len(rows), "assets": len(published), "assets_uploaded": len(published) - len(reused),
            "assets_restored": restored, "manifest": manifest_uri, "created_items": len(created),
            "current_moved": moved}


def _created_item(item: CreatedItem, published: dict[str, str]) -> dict:
    """A passed created item as the catalog's created table states it (its files at their published URIs)."""
    return {"item_id": item["item_id"], "video_uri": published[item["video_staged"]],
            "cover_uri": published[item["cover_staged"]], "title": item["title"], "duration_s": item["duration_s"],
            "audience": item["audience"], "sources": item["sources"], "generator_id": item["generator_id"]}


def _checkpoint(step: str) -> None:
    """A named point in the protocol; ``GENEREC_PUBLISH_FAULT=<step>`` dies here, as a crash would."""
    if checkpoint_hook is not None:
        checkpoint_hook(step)
    if os.environ.get(FAULT_ENV) == step:
        log.warning("fault injection: exiting at publish step %r", step)
        os._exit(FAULT_EXIT_CODE)


def _publish_assets(layout: Layout, run_id: str,
                    rows: list[GateRow]) -> tuple[dict[str, str], dict[str, str]]:
    """Staged URI -> published URI for every asset the rows use; plus the reused ones (published -> staged)."""
    staged_assets = sorted({r[c] for r in rows for c in STAGED_COLUMNS if r.get(c)} |
                           {c["staged"] for r in rows for c in r.get("candidates") or []})
    published: dict[str, str] = {}
    reused: dict[str, str] = {}
    for staged in staged_assets:
        target, is_new = _publish_asset(layout, run_id, staged)
        published[staged] = target
        if not is_new:
            reused[target] = staged
    return published, reused


def _publish_asset(layout: Layout, run_id: str, staged_uri: str) -> tuple[str, bool]:
    """Content-address one staged asset; an existing identical object is reused, never rewritten."""
    ext = _asset_extension(layout, run_id, staged_uri)
    data = layout.store.read_bytes(staged_uri)
    target = layout.asset(sha256_hex(data), ext)
    store = layout.store
    if store.head(target) is not None:  # cheaper than sending the bytes to be refused; create-only still guards
        return target, False
    try:
        store.write_bytes(target, data, if_none_match=True, progress=lambda done, total: _checkpoint("mid-asset"))
        return target, True
    except PreconditionFailed:
        return target, False


def _asset_extension(layout: Layout, run_id: str, staged_uri: str) -> str:
    """Only files staged in this run's audit zone, of a known media type, may be published."""
    zone = layout.work(run_id) + "/"
    ext = staged_uri.rsplit(".", 1)[-1].lower()
    if not staged_uri.startswith(zone) or ".." in staged_uri[len(zone):].split("/"):
        raise UnpublishableAsset(f"staged asset {staged_uri!r} is outside the run's audit zone {zone}")
    if ext not in ASSET_EXTENSIONS or not re.fullmatch(r"[a-z0-9]+", ext):
        raise UnpublishableAsset(f"staged asset {staged_uri!r}: unknown type {ext!r} "
                                 f"(publishable: {', '.join(sorted(ASSET_EXTENSIONS))})")
    return ext


def _manifest(rows: list[GateRow], published: dict[str, str], run_id: str, date: str) -> pa.Table:
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
            "encoder_id": r["encoder_id"], "generator_id": r.get("generator_id"),
            "clip_kind": r.get("clip_kind"), "clip_generator_id": r.get("clip_generator_id"),
            "candidates": [{"thumbnail_uri": published[c["staged"]], "kind": c["kind"], "frame_ts": c["frame_ts"],
                            "probability": c["probability"], "score": c.get("score")} for c in _candidates(r)],
        })
    return pa.Table.from_pylist(out, MANIFEST_SCHEMA)


def _candidates(row: GateRow) -> list[dict]:
    """The row's serving candidates; a row gated before candidates existed offers its thumbnail alone."""
    return row.get("candidates") or [{"staged": row["thumbnail_staged"], "kind": row["thumbnail_kind"],
                                      "frame_ts": row["thumbnail_frame_ts"], "probability": 1.0,
                                      "score": row.get("score")}]


def _attempts(policy: PublishConfig) -> int:
    return policy.conflict_retries if policy.on_conflict == "retry" else 1


def _commit_manifest(layout: Layout, policy: PublishConfig, uri: str, body: bytes, base_version: str | None,
                     run_id: str) -> None:
    """Replace the date's manifest in one write, only if nobody replaced it since we started."""
    store = layout.store
    for attempt in range(1, _attempts(policy) + 1):
        try:
            store.write_bytes(uri, body, if_none_match=base_version is None, if_match=base_version)
            return
        except PreconditionFailed:
            if attempt == _attempts(policy):
                raise PublishConflict(
                    f"{run_id}: the manifest {uri} was committed by another publisher while this one was "
                    "publishing; that publish won. Re-run publish to replace it, or set "
                    "publish.on_conflict='retry' to publish on top automatically") from None
            base_version = version(layout, uri)
            log.warning("%s: manifest changed under us, retrying on top (attempt %s)", run_id, attempt + 1)


def _restore_missing(layout: Layout, reused: dict[str, str]) -> int:
    """Re-upload reused assets that vanished (``catalog gc`` removed an unreferenced copy meanwhile)."""
    restored = 0
    for target, staged in sorted(reused.items()):
        if layout.store.head(target) is None:
            data = layout.store.read_bytes(staged)
            try:
                layout.store.write_bytes(target, data, if_none_match=True)
                restored += 1
            except PreconditionFailed:
                pass
    return restored


def _swap_current(policy: PublishConfig, layout: Layout, pointer: dict) -> bool:
    """Compare-and-swap CURRENT to our manifest; False when a newer date is already live."""
    body = json.dumps(pointer, sort_keys=True).encode()
    store = layout.store
    for attempt in range(1, _attempts(policy) + 1):
        current, etag = read_current(layout)
        if current is not None and current.get("date", "") > pointer["date"]:
            log.info("CURRENT stays at %s: %s is a backfill of an older date", current["date"], pointer["date"])
            return False
        _checkpoint("before-swap")
        try:
            store.write_bytes(layout.current, body, if_none_match=etag is None, if_match=etag)
            return True
        except PreconditionFailed:
            now, _ = read_current(layout)
            if now == pointer:  # our own write, answered 412 on a retried request
                return True
            if attempt == _attempts(policy):
                winner = (now or {}).get("run_id", "?")
                raise PublishConflict(
                    f"{pointer['run_id']}: catalog/CURRENT at {layout.current} was moved by another publisher "
                    f"(now {winner}) between read and swap; that publish won. This run's manifest "
                    f"{pointer['manifest']} is complete but not live: re-run publish, or set "
                    "publish.on_conflict='retry'") from None
            log.warning("%s: CURRENT changed under us, retrying on top (attempt %s)", pointer["run_id"], attempt + 1)
    return False
