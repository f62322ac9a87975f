"""Dataset ``reports``: the run report a person opens, and why a run failed.

``reports/run=<id>/index.html`` is the newest report of a date (what ``generec run`` prints).
An orchestrator may run a date many times (re-runs, dry runs, backfills), so each of its runs
also has its own folder, ``reports/attempt=<orchestrator run id>/``: ``index.html`` (the report
stage, even after a failure), ``failures/<task>.json`` (each failed task's error, written by the
task as it fails) and ``failure.json`` (the run's summary, written when the run has failed).
"""

from __future__ import annotations

import json
from typing import TypedDict

from generec_core.datasets.layout import Layout
from generec_core.storage import ObjectNotFound


class TaskFailure(TypedDict):
    task: str  # task id, with " [shard N]" for one shard of a mapped task
    try_number: int
    error: str  # the exception's type and message, truncated


def write_report(layout: Layout, run_id: str, html: str, attempt: str = "") -> str:
    """The date's page, and the attempt's own when there is one; returns the URI to show (the attempt's)."""
    layout.store.write_text(layout.report(run_id), html)
    if not attempt:
        return layout.report(run_id)
    layout.store.write_text(layout.attempt_report(attempt), html)
    return layout.attempt_report(attempt)


def record_task_failure(layout: Layout, attempt: str, failure: TaskFailure) -> str:
    uri = layout.task_failure(attempt, failure["task"])
    layout.store.write_text(uri, json.dumps(failure, indent=2, sort_keys=True))
    return uri


def task_failures(layout: Layout, attempt: str) -> list[TaskFailure]:
    """The failed tasks of an orchestrator run, by task; none when nothing failed (or no attempt)."""
    if not attempt:
        return []
    try:
        uris = layout.store.list_uris(layout.task_failures(attempt), ".json")
    except ObjectNotFound:
        return []
    return sorted((json.loads(layout.store.read_text(uri)) for uri in uris), key=lambda f: f["task"])


def write_failure_summary(layout: Layout, attempt: str, summary: dict) -> str:
    uri = layout.failure_summary(attempt)
    layout.store.write_text(uri, json.dumps(summary, indent=2, sort_keys=True))
    return uri
