"""Dataset ``evaluation``: a published run's Cosine@K table and planted-taste shares.

``work/run=<id>/evaluation/summary.json``, written by the evaluate stage, read by the run report
and ``generec evaluate``; ``work/run=<id>/evaluation/replay.json``: the off-policy evaluation of the
date's logs (``evaluation/replay.py``), when they carry contract v2 impressions.
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


def write_replay(layout: Layout, run_id: str, summary: dict) -> None:
    layout.store.write_text(layout.replay(run_id), json.dumps(summary, indent=2, sort_keys=True))


def load_replay(layout: Layout, run_id: str) -> dict | None:
    try:
        return json.loads(layout.store.read_text(layout.replay(run_id)))
    except ObjectNotFound:
        return None


def replay_history(layout: Layout, date: str) -> list[dict]:
    """The replay sections of every night up to ``date``, oldest first (the report's take-rate chart)."""
    found = []
    for uri in layout.store.list_uris(layout.runs, "evaluation/replay.json"):
        summary = json.loads(layout.store.read_text(uri))["replay"]
        if summary["date"] <= date:
            found.append(summary)
    return sorted(found, key=lambda s: s["date"])
