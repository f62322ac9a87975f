"""Dataset ``catalog``: what users are served. Publish is its only writer (``stages/publish.py``).

- ``catalog/assets/<sha256>.<ext>``: published assets, content-addressed, written create-only;
- ``catalog/manifests/dt=<date>/run=<run_id>/manifest.parquet``: one ``MANIFEST_SCHEMA`` row per
  (user, item) of a published run;
- ``catalog/created/dt=<date>/run=<run_id>/items.parquet``: one ``CREATED_ITEMS_SCHEMA`` row per item the
  AI creator made and the gate passed (its rows in the manifest say ``thumbnail_kind = "created"``);
- ``catalog/CURRENT``: JSON pointer to the live manifest (and ``"created"``: that run's created table,
  absent when it created nothing), swapped last.

Readers start from CURRENT (the live manifest) or from a date / run id. Asset URIs in a
manifest carry the root they were published under; readers compare assets by their content
address (the file name), so a catalog copied to another root reads the same.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

import pyarrow as pa

from generec_core.datasets.created import SOURCE_TYPE
from generec_core.datasets.layout import Layout, manifest_key, run_id_for
from generec_core.storage import ObjectNotFound

CANDIDATE_TYPE = pa.struct([("thumbnail_uri", pa.string()), ("kind", pa.string()),  # kinds.CandidateKind
                            ("frame_ts", pa.float64()), ("probability", pa.float64()),
                            ("score", pa.float64())])  # taste score: the candidate bandit's prior
MANIFEST_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("item_id", pa.string()),
    ("thumbnail_uri", pa.string()), ("thumbnail_kind", pa.string()), ("thumbnail_frame_ts", pa.float64()),
    ("cover_uri", pa.string()),
    ("clip_uri", pa.string()), ("clip_start_s", pa.float64()), ("clip_end_s", pa.float64()),
    ("score", pa.float64()), ("clip_score", pa.float64()), ("retriever", pa.string()),
    ("fallback", pa.string()), ("run_id", pa.string()), ("date", pa.string()),
    ("encoder_id", pa.string()), ("generator_id", pa.string()),
    ("clip_kind", pa.string()), ("clip_generator_id", pa.string()),  # kinds.ClipKind (null without a clip)
    # what a serving system may show, the thumbnail first, each with its probability (they sum to 1)
    ("candidates", pa.list_(CANDIDATE_TYPE)),
])
ASSET_COLUMNS: tuple[str, ...] = ("thumbnail_uri", "cover_uri", "clip_uri")
CREATED_ITEMS_SCHEMA = pa.schema([
    ("item_id", pa.string()),  # "created-<sha256 prefix of the video>"
    ("video_uri", pa.string()), ("cover_uri", pa.string()),  # published assets
    ("title", pa.string()), ("duration_s", pa.float64()),
    ("audience", pa.string()),  # "group:<taste cluster>" or "user:<user_id>"
    ("sources", pa.list_(SOURCE_TYPE)),  # {item_id, start_s, end_s} in playback order
    ("generator_id", pa.string()),
])
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CatalogError(RuntimeError):
    """The catalog cannot answer: nothing published yet, unknown run, unreadable manifest."""


@dataclass(frozen=True)
class ManifestRef:
    date: str
    run_id: str
    uri: str
    version: str  # changes whenever the manifest object is replaced (etag, or size+mtime on file://)


def version(layout: Layout, uri: str) -> str | None:
    """The object's version tag (for compare-and-swap), or None when it does not exist."""
    info = layout.store.head(uri)
    return None if info is None else info.etag


def read_current(layout: Layout) -> tuple[dict | None, str | None]:
    """The live pointer and its version tag (None, None when nothing is published yet)."""
    info = layout.store.head(layout.current)
    if info is None:
        return None, None
    try:
        body = layout.store.read_bytes(layout.current)
    except ObjectNotFound:
        return None, None
    try:
        return json.loads(body), info.etag
    except ValueError:
        raise CatalogError(f"{layout.current} is not valid JSON: the pointer is corrupt") from None


def list_manifests(layout: Layout) -> list[ManifestRef]:
    """Every committed manifest under the root, oldest date first."""
    out = []
    for obj in layout.store.list(layout.manifests):
        key = manifest_key(obj.uri)
        if key:
            out.append(ManifestRef(key[0], key[1], obj.uri, obj.etag or f"{obj.size}:{obj.mtime!r}"))
    return sorted(out, key=lambda m: (m.date, m.run_id))


def find_manifest(layout: Layout, run: str) -> ManifestRef:
    """A manifest by run id (``nightly-2026-11-24``) or by logical date (``2026-11-24``)."""
    run_id = run_id_for(run) if _DATE_RE.match(run) else run
    refs = list_manifests(layout)
    for ref in refs:
        if ref.run_id == run_id:
            return ref
    known = ", ".join(r.run_id for r in refs[-10:]) or "none"
    raise CatalogError(f"no manifest for run {run!r} under {layout.manifests} (latest runs: {known})")


def current_manifest(layout: Layout) -> str:
    """The URI of the live manifest under *this* root (a copied catalog reads its own copy).

    A clear error when nothing is published under the root.
    """
    current, _ = read_current(layout)
    if current is None:
        raise CatalogError(f"nothing published under {layout.root}: {layout.current} does not exist")
    return layout.manifest(current["date"], current["run_id"])


def previous_manifest(layout: Layout, date: str, lookback_days: int) -> ManifestRef | None:
    """The latest manifest dated in [date - lookback_days, date), or None.

    Not CURRENT: a re-run of ``date`` must see the same "before" whatever CURRENT points at now.
    """
    first = (dt.date.fromisoformat(date) - dt.timedelta(days=lookback_days)).isoformat()
    found = [m for m in list_manifests(layout) if first <= m.date < date]
    return max(found, key=lambda m: (m.date, m.uri)) if found else None


def write_created_items(layout: Layout, date: str, run_id: str, rows: list[dict]) -> str | None:
    """Replace the run's created table (removed when it created nothing); its URI, or None."""
    uri = layout.published_created(date, run_id)
    if not rows:
        if layout.store.exists(uri):
            layout.store.delete(uri)
        return None
    layout.store.write_parquet(uri, pa.Table.from_pylist(sorted(rows, key=lambda r: r["item_id"]),
                                                         CREATED_ITEMS_SCHEMA))
    return uri


def read_created_items(layout: Layout, date: str, run_id: str) -> list[dict]:
    """A published run's created items; none when it created nothing."""
    uri = layout.published_created(date, run_id)
    return layout.store.read_parquet(uri).to_pylist() if layout.store.exists(uri) else []


def read_rows(layout: Layout, uri: str) -> list[dict]:
    try:
        return layout.store.read_parquet(uri).to_pylist()
    except ObjectNotFound:
        raise CatalogError(f"manifest {uri} is missing") from None


def asset_name(uri: str | None) -> str | None:
    """An asset's content address (``<sha256>.<ext>``), independent of the root it lives under."""
    return None if not uri else uri.rsplit("/", 1)[-1]


def referenced_assets(rows: list[dict]) -> set[str]:
    return ({asset_name(r[c]) for r in rows for c in ASSET_COLUMNS if r.get(c)} |
            {asset_name(c["thumbnail_uri"]) for r in rows for c in r.get("candidates") or []})
