"""Airflow callbacks of the nightly DAG: what operators see when a run fails or runs late.

Entry points that Airflow calls; they need no Airflow import themselves and live in an
installed package so the scheduler, DAG processor and triggerer can all import them. The
failure summary lands next to the run report, so whoever opens reports/run=<id>/ sees why
the run stopped.
"""

from __future__ import annotations

import json
import logging

from generec_core.config import normalise_root
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.reports import write_failure_summary as store_failure_summary

log = logging.getLogger(__name__)


def write_failure_summary(context) -> None:
    """DAG on_failure_callback: a short JSON summary of the failed run beside its report."""
    dag_run = context["dag_run"]
    params = context.get("params") or {}
    date = context["ds"] if "ds" in context else dag_run.logical_date.date().isoformat()
    failed = sorted({ti.task_id for ti in dag_run.get_task_instances(state="failed")}) \
        if hasattr(dag_run, "get_task_instances") else []
    summary = {"dag_id": dag_run.dag_id, "airflow_run_id": dag_run.run_id, "date": date,
               "failed_tasks": failed, "reason": str(context.get("reason") or context.get("exception") or "")[:2000]}
    log.error("generec run failed: %s", json.dumps(summary))
    root = params.get("root")
    if root:
        store_failure_summary(Layout(normalise_root(root)), run_id_for(date), summary)


async def deadline_missed(**kwargs) -> None:
    """DeadlineAlert callback (runs in the triggerer): the nightly run is late; page whoever is on call."""
    log.error("generec nightly run missed its deadline: %s", {k: str(v) for k, v in kwargs.items()})
