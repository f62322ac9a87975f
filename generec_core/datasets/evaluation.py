"""Dataset ``evaluation``: a published run's Cosine@K table and planted-taste shares.

``work/run=<id>/evaluation/summary.json``, written by the evaluate stage, read by the run report
and ``generec evaluate``.
"""

from __future__ import annotations

import json

from generec_core.datasets.layout import Layout
from generec_core.storage import ObjectNotFound


def evaluation_uri(layout: Layout, run_id: str) -> str:
    return layout.evaluation(run_id)


def write_evaluation(layout: Layout, run_id: str, summary: dict) -> None:
    layout.store.write_text(layout.evaluation(run_id), json.dumps(summary, indent=2, sort_keys=True))


def load_evaluation(layout: Layout, run_id: str) -> dict | None:
    """The stored summary of a run, or None when the run was not evaluated."""
    try:
        return json.loads(layout.store.read_text(layout.evaluation(run_id)))
    except ObjectNotFound:
        return None
