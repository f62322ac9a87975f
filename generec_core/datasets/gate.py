"""Dataset ``gate``: the fidelity gate's verdicts, the rows publish may publish, and the assets it refused.

- ``work/run=<id>/gate/verdicts.parquet``: one verdict per staged asset (kind, passed, reasons,
  the checks as JSON): every audit shard's (``datasets.audit``) in one file;
- ``work/run=<id>/gate/rows.parquet``: the shown rows after fallbacks (``GateRow``): the only
  input of publish;
- ``work/run=<id>/gate/created.parquet``: the created items that passed (``datasets.created``'s schema):
  the only input of the catalog's created table;
- ``work/run=<id>/gate/manifest_checks.json``: the great-expectations digest of those rows;
- ``lake/quarantine/assets/dt=<date>/``: failed assets' bytes, named by content hash (a name may be
  what leaked), and ``failed.jsonl`` with their reasons. A re-run of the date replaces it.
"""

from __future__ import annotations

import json

import pyarrow as pa

from generec_core.datasets.audit import Verdict, verdicts_table
from generec_core.datasets.created import CreatedItem, created_table
from generec_core.datasets.generated import ShownRow
from generec_core.datasets.layout import Layout
from generec_core.storage import sha256_hex


class GateRow(ShownRow):
    fallback: str | None  # which assets failed and why, when the row shows a fallback
    candidates: list[dict]  # serving candidates {staged, kind, frame_ts, probability}, the shown one first


def write_verdicts(layout: Layout, run_id: str, verdicts: dict[str, Verdict]) -> None:
    """Every asset's verdict (every audit shard's, ``datasets.audit``), in one file."""
    layout.store.write_parquet(layout.gate_verdicts(run_id), verdicts_table(verdicts))


def write_gate_rows(layout: Layout, run_id: str, rows: pa.Table) -> None:
    layout.store.write_parquet(layout.gate_rows(run_id), rows)


def read_gate_rows(layout: Layout, run_id: str) -> list[GateRow]:
    return layout.store.read_parquet(layout.gate_rows(run_id)).to_pylist()  # type: ignore[return-value]


def write_gate_created(layout: Layout, run_id: str, items: list[CreatedItem]) -> None:
    layout.store.write_parquet(layout.gate_created(run_id), created_table(items))


def read_gate_created(layout: Layout, run_id: str) -> list[CreatedItem]:
    """The created items publish may publish; none when the gate ran without any (or before the creator existed)."""
    if not layout.store.exists(layout.gate_created(run_id)):
        return []
    return layout.store.read_parquet(layout.gate_created(run_id)).to_pylist()  # type: ignore[return-value]


def write_manifest_checks(layout: Layout, run_id: str, checks: dict) -> None:
    layout.store.write_text(layout.gate_checks(run_id), json.dumps(checks, indent=1, sort_keys=True, default=str))


def quarantine_assets(layout: Layout, date: str, failed: list[tuple[str, bytes, Verdict]]) -> None:
    """Replace the date's asset quarantine with ``(staged URI, bytes, verdict)`` of each failed asset."""
    layout.store.delete_prefix(layout.quarantine("assets", date))
    records = []
    for asset, data, verdict in failed:
        stored = None
        if data:
            stored = layout.quarantined_asset(date, sha256_hex(data), asset.rsplit(".", 1)[-1])
            layout.store.write_bytes(stored, data)
        records.append({"asset": asset, "quarantined": stored, "kind": verdict["kind"],
                        "reasons": verdict["reasons"], "checks": verdict["checks"]})
    layout.store.write_text(layout.quarantined_assets_list(date),
                            "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
