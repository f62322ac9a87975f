"""Stage ``report`` (always runs, even after a failure): the run's HTML page, ``reports/run=<id>/index.html``.

Reads what the stages recorded (``datasets.metrics``), the published manifest and the
evaluation, and writes the page ``run_report.page`` composes, so it also says how far a
failed run got.
"""

from __future__ import annotations

import logging
from typing import TypedDict

from generec_core.config import PipelineConfig
from generec_core.datasets import catalog, metrics
from generec_core.datasets.evaluation import load_evaluation
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.reports import write_report
from generec_core.run_report import page

log = logging.getLogger(__name__)


class ReportSummary(TypedDict):
    report: str


def run(config: PipelineConfig, date: str) -> ReportSummary:
    return {"report": build_report(config, date)}


def build_report(config: PipelineConfig, date: str) -> str:
    """Write ``reports/run=<id>/index.html``; returns its URI."""
    layout, run_id = Layout.for_config(config), run_id_for(date)
    try:
        rows = catalog.read_rows(layout, layout.manifest(date, run_id))
    except catalog.CatalogError:
        rows = []
    uri = write_report(layout, run_id, page(run_id, date, metrics.load_all(layout, run_id), rows,
                                            load_evaluation(layout, run_id)))
    log.info("report written: %s", uri)
    return uri
