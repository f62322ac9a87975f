"""``generec catalog show``: what one user is served, read the way a serving system would.

From CURRENT's manifest by default (what is live), or from a date's manifest (a backfill,
an older night). User and item ids are matched exactly: they are data, never paths.
"""

from __future__ import annotations

from generec_core.datasets.catalog import current_manifest, find_manifest, read_rows
from generec_core.datasets.layout import Layout
from generec_core.storage import Store


def show(root: str, user_id: str, item_id: str | None = None, run: str | None = None,
         store: Store | None = None) -> list[dict]:
    """The manifest rows of ``user_id`` (and ``item_id``), ordered by item; ``run`` = run id or date.

    ``store``: the storage settings to read the root with (the defaults when None)."""
    layout = Layout(root, store or Store())
    uri = find_manifest(layout, run).uri if run else current_manifest(layout)
    rows = [r for r in read_rows(layout, uri)
            if r["user_id"] == user_id and (item_id is None or r["item_id"] == item_id)]
    return sorted(rows, key=lambda r: r["item_id"])
