"""Dataset ``audit``: the fidelity verdicts of one asset shard, as the audit stage's shard tasks judged them.

``work/run=<id>/audit/shard=<n>/verdicts.parquet``: one row per asset of the shard (``VERDICTS_SCHEMA``:
asset, kind, passed, reasons, the checks as JSON). An asset's shard is ``identifiers.shard_of(asset URI,
gate.shards)`` (a created item's video and cover go by its video's URI, together); each shard task
replaces its own file, so a re-run never duplicates. The gate reads every shard's file (``read_verdicts``):
their union is the night's verdicts, the same whatever the shard count.
"""

from __future__ import annotations

import json
from typing import TypedDict

import pyarrow as pa

from generec_core.datasets.layout import Layout
from generec_core.identifiers import shard_of
from generec_core.storage import ObjectNotFound


class Verdict(TypedDict):
    kind: str  # a kinds.AssetKind
    passed: bool
    reasons: list[str]
    checks: list[dict]


VERDICTS_SCHEMA = pa.schema([("asset", pa.string()), ("kind", pa.string()), ("passed", pa.bool_()),
                             ("reasons", pa.list_(pa.string())), ("checks", pa.string())])


def asset_shard(asset: str, shards: int) -> int:
    """The asset shard of a staged asset (its URI), stable across runs, tasks and hosts."""
    return shard_of(asset, shards)


def verdicts_table(verdicts: dict[str, Verdict]) -> pa.Table:
    """One row per asset, in asset order (the checks as JSON)."""
    return pa.Table.from_pylist(
        [{"asset": a, "kind": v["kind"], "passed": v["passed"], "reasons": list(v["reasons"]),
          "checks": json.dumps(v["checks"])} for a, v in sorted(verdicts.items())], VERDICTS_SCHEMA)


def write_verdicts(layout: Layout, run_id: str, shard: int, verdicts: dict[str, Verdict]) -> None:
    """Replace the shard's verdicts."""
    layout.store.write_parquet(layout.audit_verdicts(run_id, shard), verdicts_table(verdicts))


def read_verdicts(layout: Layout, run_id: str, shards: int) -> dict[str, Verdict]:
    """Every asset shard's verdicts (shards 0..shards-1); a missing shard's file is an error naming it."""
    out: dict[str, Verdict] = {}
    for shard in range(shards):
        uri = layout.audit_verdicts(run_id, shard)
        try:
            table = layout.store.read_parquet(uri)
        except (ObjectNotFound, FileNotFoundError):
            raise FileNotFoundError(f"no verdicts of asset shard {shard} at {uri}: did the audit stage run "
                                    f"with {shards} shards?") from None
        for row in table.to_pylist():
            out[row["asset"]] = {"kind": row["kind"], "passed": row["passed"], "reasons": list(row["reasons"] or []),
                                 "checks": json.loads(row["checks"])}
    return out
