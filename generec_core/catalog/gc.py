"""``generec catalog gc``: remove assets that no manifest references, dry-run by default.

Assets are never overwritten, so they only become garbage when a date is re-published with
different content, or when a publish died after uploading. An asset is deleted only if
(a) no manifest under the root references it and (b) it is older than ``--older-than`` days:
the age is the grace period that protects a publish in flight (its assets are uploaded
before its manifest exists), so it must exceed the longest publish. Just before deleting,
gc re-reads every manifest that appeared or changed since it started and spares what they
reference; publish in turn re-checks the assets it reused before swapping CURRENT. Writes
that never committed (temp files, incomplete multipart uploads) under ``catalog/`` are
cleaned under the same age rule. A manifest that cannot be read stops gc: it never guesses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from generec_core.datasets.catalog import ManifestRef, asset_name, list_manifests, read_rows, referenced_assets
from generec_core.datasets.layout import Layout
from generec_core.storage import ObjectInfo, PendingWrite, Store

log = logging.getLogger(__name__)

DAY_S = 86400.0


@dataclass
class GcReport:
    older_than_days: float
    applied: bool
    manifests: int = 0
    assets: int = 0
    referenced: int = 0
    young_unreferenced: int = 0  # unreferenced but inside the grace period: kept
    garbage: list[ObjectInfo] = field(default_factory=list)  # deleted (applied) or would be (dry run)
    spared_late: int = 0  # candidates a manifest written during this gc now references
    pending: list[PendingWrite] = field(default_factory=list)  # aborted (applied) or would be

    @property
    def garbage_bytes(self) -> int:
        return sum(o.size for o in self.garbage)

    def summary(self) -> dict:
        return {"applied": self.applied, "older_than_days": self.older_than_days, "manifests": self.manifests,
                "assets": self.assets, "referenced": self.referenced, "garbage": len(self.garbage),
                "garbage_bytes": self.garbage_bytes, "young_unreferenced": self.young_unreferenced,
                "spared_late": self.spared_late, "pending_writes": len(self.pending)}


def collect_garbage(root: str, older_than_days: float, apply: bool = False, now: float | None = None,
                    store: Store | None = None) -> GcReport:
    """Find (and with ``apply`` delete) unreferenced assets older than ``older_than_days`` (``store``: the
    storage settings, the defaults when None)."""
    if older_than_days < 0:
        raise ValueError(f"--older-than must be >= 0 days, got {older_than_days}")
    store = store or Store()
    layout = Layout(root, store)
    cutoff = (time.time() if now is None else now) - older_than_days * DAY_S
    report = GcReport(older_than_days, apply)
    manifests = list_manifests(layout)
    referenced = _references(layout, manifests)
    assets = store.list(layout.assets)
    unreferenced = [a for a in assets if asset_name(a.uri) not in referenced]
    report.manifests, report.assets = len(manifests), len(assets)
    report.referenced = len(assets) - len(unreferenced)
    report.garbage = [a for a in unreferenced if a.mtime < cutoff]
    report.young_unreferenced = len(unreferenced) - len(report.garbage)
    report.pending = [p for p in store.pending_writes(layout.catalog) if p.started < cutoff]
    if not apply:
        return report
    seen = set(manifests)
    late = _references(layout, [m for m in list_manifests(layout) if m not in seen])
    kept = [a for a in report.garbage if asset_name(a.uri) in late]
    report.garbage = [a for a in report.garbage if asset_name(a.uri) not in late]
    report.spared_late = len(kept)
    for obj in report.garbage:
        store.delete(obj.uri)
    for pending in report.pending:
        store.abort(pending)
    log.info("catalog gc %s: %s", layout.root, report.summary())
    return report


def _references(layout: Layout, manifests: list[ManifestRef]) -> set[str]:
    out: set[str] = set()
    for ref in manifests:
        out |= referenced_assets(read_rows(layout, ref.uri))
    return out
