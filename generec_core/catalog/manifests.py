"""Find and read what publish committed: ``catalog/CURRENT`` and the per-date manifests.

Readers start from CURRENT (the live manifest) or from a date / run id; both resolve to
``catalog/manifests/dt=<date>/run=<run_id>/manifest.parquet``. Asset URIs in a manifest
carry the root they were published under; readers compare assets by their content
address (the file name), so a catalog copied to another root reads the same.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from generec_core.layout import Layout, run_id_for
from generec_core.storage import ObjectNotFound, read_parquet, storage_for

ASSET_COLUMNS: tuple[str, ...] = ("thumbnail_uri", "cover_uri", "clip_uri")
_MANIFEST_RE = re.compile(r"/dt=(?P<date>[^/]+)/run=(?P<run_id>[^/]+)/manifest\.parquet$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CatalogError(RuntimeError):
    """The catalog cannot answer: nothing published yet, unknown run, unreadable manifest."""


@dataclass(frozen=True)
class ManifestRef:
    date: str
    run_id: str
    uri: str
    version: str  # changes whenever the manifest object is replaced (etag, or size+mtime on file://)


def read_current(layout: Layout) -> tuple[dict | None, str | None]:
    """The live pointer and its version tag (None, None when nothing is published yet)."""
    store = storage_for(layout.current)
    info = store.head(layout.current)
    if info is None:
        return None, None
    try:
        body = store.read_bytes(layout.current)
    except ObjectNotFound:
        return None, None
    try:
        return json.loads(body), info.etag
    except ValueError:
        raise CatalogError(f"{layout.current} is not valid JSON: the pointer is corrupt") from None


def list_manifests(layout: Layout) -> list[ManifestRef]:
    """Every committed manifest under the root, oldest date first."""
    out = []
    for obj in storage_for(layout.manifests).list(layout.manifests):
        match = _MANIFEST_RE.search(obj.uri)
        if match:
            out.append(ManifestRef(match["date"], match["run_id"], obj.uri,
                                   obj.etag or f"{obj.size}:{obj.mtime!r}"))
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


def read_rows(uri: str) -> list[dict]:
    try:
        return read_parquet(uri).to_pylist()
    except ObjectNotFound:
        raise CatalogError(f"manifest {uri} is missing") from None


def asset_name(uri: str | None) -> str | None:
    """An asset's content address (``<sha256>.<ext>``), independent of the root it lives under."""
    return None if not uri else uri.rsplit("/", 1)[-1]


def referenced_assets(rows: list[dict]) -> set[str]:
    return {asset_name(r[c]) for r in rows for c in ASSET_COLUMNS if r.get(c)}
