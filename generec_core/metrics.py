"""Per-run stage metrics (counts, timings) kept in the run's audit zone for the run report.

Each stage writes one small JSON document; the report reads them all. Keeping them in
``work/run=<id>/metrics/`` means a re-run of a date overwrites, never accumulates.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from typing import Any, Iterator

from generec_core.layout import Layout
from generec_core.storage import ObjectNotFound, join, list_uris, read_text, write_text


def record(root: str, run_id: str, stage: str, payload: dict[str, Any]) -> None:
    uri = join(Layout(root).stage_metrics(run_id), f"{stage}.json")
    write_text(uri, json.dumps(payload, sort_keys=True, indent=2, default=str))


def load_all(root: str, run_id: str) -> dict[str, dict[str, Any]]:
    """Every stage's metrics for a run, keyed by stage name."""
    out: dict[str, dict[str, Any]] = {}
    try:
        uris = list_uris(Layout(root).stage_metrics(run_id), ".json")
    except ObjectNotFound:
        return out
    for uri in uris:
        out[uri.rsplit("/", 1)[-1][: -len(".json")]] = json.loads(read_text(uri))
    return out


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """Measure a block's wall time into the yielded dict's ``seconds``."""
    box: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = round(time.perf_counter() - start, 3)
