"""Airflow callbacks of the nightly DAG: what operators see when a run fails or runs late.

Entry points that Airflow calls; they need no Airflow import themselves and live in an
installed package so the scheduler, DAG processor and triggerer can all import them.

Each failed task records its own error (``record_task_failure``, in the worker, where the
exception is); the run's summary (``write_failure_summary``, the DAG's callback, which Airflow 3
runs in the DAG processor without the run's task instances) lists those records. Both land in
``reports/attempt=<Airflow run id>/`` beside the run's report, which shows them too.
"""

from __future__ import annotations

import json
import logging

from generec_core.config import default_root, normalise_root
from generec_core.datasets.layout import Layout
from generec_core.datasets.reports import TaskFailure, record_task_failure as store_task_failure
from generec_core.datasets.reports import task_failures
from generec_core.datasets.reports import write_failure_summary as store_failure_summary

log = logging.getLogger(__name__)

ERROR_CHARS = 2000


def _layout(context) -> Layout:
    params = context.get("params") or {}
    return Layout(normalise_root(params.get("root") or default_root()))


def task_label(task_id: str, map_index: int | None) -> str:
    """How the report names a task: ``personalise [shard 3]`` for one shard of a mapped task."""
    return task_id if map_index is None or map_index < 0 else f"{task_id} [shard {map_index}]"


def record_task_failure(context) -> None:
    """Task on_failure_callback (final failure, after retries): the task's error beside the run's report."""
    try:
        ti = context["ti"]
        exc = context.get("exception")
        failure = TaskFailure(task=task_label(ti.task_id, getattr(ti, "map_index", -1)),
                              try_number=int(getattr(ti, "try_number", 0) or 0),
                              error=(f"{type(exc).__name__}: {exc}" if exc else "failed")[:ERROR_CHARS])
        store_task_failure(_layout(context), context["run_id"], failure)
    except Exception:  # noqa: BLE001 - a callback that raises hides the task's own error
        log.exception("could not record the task's failure")


def write_failure_summary(context) -> None:
    """DAG on_failure_callback: a short JSON summary of the failed run beside its report."""
    dag_run = context.get("dag_run")
    run_id = context.get("run_id") or dag_run.run_id
    date = context["ds"] if "ds" in context else dag_run.logical_date.date().isoformat()
    layout = _layout(context)
    failures = task_failures(layout, run_id)
    summary = {"dag_id": getattr(context.get("dag"), "dag_id", None) or dag_run.dag_id, "airflow_run_id": run_id, "date": date,
               "failed_tasks": [f["task"] for f in failures], "errors": {f["task"]: f["error"] for f in failures},
               "reason": str(context.get("reason") or context.get("exception") or "")[:ERROR_CHARS],
               "report": layout.attempt_report(run_id)}
    log.error("generec run failed: %s", json.dumps(summary))
    store_failure_summary(layout, run_id, summary)


async def deadline_missed(**kwargs) -> None:
    """DeadlineAlert callback (runs in the triggerer): the nightly run is late; page whoever is on call."""
    log.error("generec nightly run missed its deadline: %s", {k: str(v) for k, v in kwargs.items()})
