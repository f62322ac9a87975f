"""``generec catalog diff``: what changed for users between two published runs.

Rows are matched on (user_id, item_id). Assets are compared by content address, so the
same frame published under another root (or re-published) is not a change; scores are
compared with a small tolerance, so float noise across machines is not a change either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from generec_core.datasets.catalog import ASSET_COLUMNS, asset_name, find_manifest, read_rows
from generec_core.datasets.layout import Layout
from generec_core.storage import Store

COMPARED: tuple[str, ...] = ("thumbnail_uri", "thumbnail_kind", "thumbnail_frame_ts", "cover_uri", "clip_uri",
                             "clip_start_s", "clip_end_s", "score", "clip_score", "retriever", "fallback",
                             "encoder_id", "generator_id", "clip_kind", "clip_generator_id", "candidates")


@dataclass
class ManifestDiff:
    run_a: str
    run_b: str
    added: list[tuple[str, str]] = field(default_factory=list)  # (user_id, item_id) only in B
    removed: list[tuple[str, str]] = field(default_factory=list)  # only in A
    changed: list[tuple[tuple[str, str], dict[str, tuple]]] = field(default_factory=list)  # key, field -> (a, b)
    unchanged: int = 0

    def summary(self) -> dict:
        return {"run_a": self.run_a, "run_b": self.run_b, "added": len(self.added), "removed": len(self.removed),
                "changed": len(self.changed), "unchanged": self.unchanged}


def diff(root: str, run_a: str, run_b: str, store: Store | None = None, root_b: str | None = None) -> ManifestDiff:
    """Compare two runs' manifests (run ids or dates), read with ``store``'s settings.

    Both live under ``root``, unless ``root_b`` names another catalog for ``run_b`` (a staging
    deployment, or the same night built by another version of the pipeline).
    """
    layout = Layout(root, store or Store())
    layout_b = layout if root_b is None else Layout(root_b, layout.store)
    ref_a, ref_b = find_manifest(layout, run_a), find_manifest(layout_b, run_b)
    rows_a, rows_b = _keyed(read_rows(layout, ref_a.uri)), _keyed(read_rows(layout_b, ref_b.uri))
    out = ManifestDiff(ref_a.run_id, ref_b.run_id)
    out.added = sorted(rows_b.keys() - rows_a.keys())
    out.removed = sorted(rows_a.keys() - rows_b.keys())
    for key in sorted(rows_a.keys() & rows_b.keys()):
        fields = _changed_fields(rows_a[key], rows_b[key])
        if fields:
            out.changed.append((key, fields))
        else:
            out.unchanged += 1
    return out


def _keyed(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["user_id"], r["item_id"]): r for r in rows}


def _changed_fields(a: dict, b: dict) -> dict[str, tuple]:
    out = {}
    for name in COMPARED:
        va, vb = a.get(name), b.get(name)
        if name in ASSET_COLUMNS:
            va, vb = asset_name(va), asset_name(vb)
        elif name == "candidates":
            va, vb = _offered(va), _offered(vb)
        if not _same(va, vb):
            out[name] = (va, vb)
    return out


def _offered(candidates: list[dict] | None) -> tuple:
    """Candidates by content address (a catalog copied to another root offers the same), probabilities rounded."""
    return tuple((asset_name(c["thumbnail_uri"]), c["kind"], c["frame_ts"], round(c["probability"], 9))
                 for c in candidates or [])


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return a == b
