"""The run report as an operator opens it, in a real browser: Debian's headless Chromium driven by Playwright.

A small run's real data without the pipeline: staged assets and gate rows (``staged_run``), the real
publish stage through ``pipeline.run_stage`` (so its metrics are recorded as in a run), the other
stages' records, then the real report stage. The page must open with the overview (status, what was
published, gate pass rates, the timing chart, which must load) and keep the raw JSON folded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from staged_run import stage_run

from generec_core import pipeline
from generec_core.config import PipelineConfig
from generec_core.datasets import metrics
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.storage import file_uri

CHROMIUM = "/usr/bin/chromium"  # as tests/ui/test_airflow_ui.py: Debian's package, Playwright never downloads one
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000

pytestmark = [pytest.mark.ui,
              pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"{CHROMIUM} is missing (.ci/run installs it)")]

DATE = "2026-11-24"
USERS, ITEMS = ["u1", "u2", "u3"], ["i1", "i2"]
GATE = {"pass_rate": 0.8, "floor": 0.5, "failed": 1, "assets": 5,
        "by_stage": {"personalise": {"assets": 5, "passed": 4, "pass_rate": 0.8, "floor": 0.5}},
        "by_kind": {"clip:pass": 2, "cover:pass": 1, "selected:fail": 1, "selected:pass": 1},
        "failure_reasons": {"sharpness: 0.1 below 0.3": 1}, "failed_checks": {"sharpness": 1},
        "manifest_checks": {"success": True, "evaluated": 3, "failed": []}}


@pytest.fixture
def report(tmp_path) -> Path:
    """The report file of a small published run."""
    root = file_uri(tmp_path / "world")
    config = PipelineConfig.from_dict({"root": root})
    layout, run_id = Layout(root), run_id_for(DATE)
    stage_run(root, DATE, USERS, ITEMS)
    for stage, seconds in (("ingest", 3.0), ("frames", 2.0), ("features", 4.0), ("personalise-shard-0", 1.5),
                           ("personalise-shard-1", 2.5)):
        metrics.record(layout, run_id, stage, {"seconds": seconds})
    metrics.record(layout, run_id, "gate", {**GATE, "seconds": 1.0})
    pipeline.run_stage("publish", config, DATE)
    uri = pipeline.run_stage("report", config, DATE)["report"]
    return Path(uri.removeprefix("file://"))


def test_the_report_opens_with_the_overview_and_folds_the_raw_json(report):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(report.as_uri())
            overview = page.get_by_role("region", name="Overview")
            expect(overview).to_be_visible(timeout=TIMEOUT_MS)
            expect(overview.get_by_text("Status: succeeded")).to_be_visible(timeout=TIMEOUT_MS)
            expect(overview.get_by_text("6 rows for 3 users, 0 created items")).to_be_visible(timeout=TIMEOUT_MS)
            selected = overview.get_by_role("row", name="selected")
            expect(selected).to_contain_text("0.5000", timeout=TIMEOUT_MS)
            expect(overview.get_by_text("sharpness: 0.1 below 0.3 (1)")).to_be_visible(timeout=TIMEOUT_MS)
            chart = overview.get_by_role("img", name="wall time per stage, in run order")
            expect(chart).to_be_visible(timeout=TIMEOUT_MS)
            assert chart.evaluate("img => img.complete && img.naturalWidth") > 0
            assert overview.bounding_box()["y"] < page.get_by_role("heading", name="Details").bounding_box()["y"]
            raw = page.locator("details#raw-metrics")
            assert raw.evaluate("d => d.open") is False
            expect(raw.get_by_text('"manifest":')).to_be_hidden(timeout=TIMEOUT_MS)
            raw.get_by_text("Raw stage metrics").click()  # unfolds on a click, as a person would open it
            expect(raw.get_by_text('"manifest":')).to_be_visible(timeout=TIMEOUT_MS)
        finally:
            browser.close()
