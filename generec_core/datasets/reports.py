"""Dataset ``reports``: the run report a person opens, and why a run failed.

``reports/run=<id>/index.html`` (written by the report stage, even after a failure) and
``reports/run=<id>/failure.json`` (written by the orchestrator's failure callback).
"""

from __future__ import annotations

import json

from generec_core.datasets.layout import Layout


def write_report(layout: Layout, run_id: str, html: str) -> str:
    uri = layout.report(run_id)
    layout.store.write_text(uri, html)
    return uri


def write_failure_summary(layout: Layout, run_id: str, summary: dict) -> str:
    uri = layout.failure_summary(run_id)
    layout.store.write_text(uri, json.dumps(summary, indent=2, sort_keys=True))
    return uri
