"""Dataset ``metrics``: each stage's summary (counts, timings) in the run's audit zone.

Each stage writes one small JSON document; the report reads them all. Keeping them in
``work/run=<id>/metrics/`` means a re-run of a date overwrites, never accumulates.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from generec_core.datasets.layout import Layout
from generec_core.storage import ObjectNotFound


def record(layout: Layout, run_id: str, stage: str, payload: Mapping[str, Any], attempt: str = "") -> None:
    """``attempt``: the orchestrator run writing it (``RunConfig.attempt``), so a report can tell its own
    records from those an earlier run of the date left (``of_attempt``)."""
    layout.store.write_text(layout.stage_metric(run_id, stage),
                            json.dumps({**payload, "attempt": attempt}, sort_keys=True, indent=2, default=str))


def load_all(layout: Layout, run_id: str) -> dict[str, dict[str, Any]]:
    """Every stage's metrics for a run, keyed by stage name (``personalise-shard-0`` for a shard task)."""
    out: dict[str, dict[str, Any]] = {}
    try:
        uris = layout.store.list_uris(layout.stage_metrics(run_id), ".json")
    except ObjectNotFound:
        return out
    for uri in uris:
        out[uri.rsplit("/", 1)[-1][: -len(".json")]] = json.loads(layout.store.read_text(uri))
    return out


def of_attempt(records: dict[str, dict[str, Any]], attempt: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The records this orchestrator run wrote, and the keys only earlier runs of the date left behind.

    A re-run of one stage, or a run that failed early, leaves other stages' records of an earlier
    run in place; a report that showed them as this run's would say it succeeded where it did not.
    """
    mine = {key: r for key, r in records.items() if r.get("attempt", "") == attempt}
    return mine, sorted(set(records) - set(mine))
