"""Stage ``report`` (always runs, even after a failure): the run's HTML page, ``reports/run=<id>/index.html``
and, under an orchestrator, ``reports/attempt=<its run id>/index.html``.

Reads what the stages recorded (``datasets.metrics``), the published manifest and the
evaluation, and writes the page ``run_report.page`` composes, so it also says how far a
failed run got; it draws the stage timing chart the page opens with (``timing_chart``).
For a few generated thumbnails and edited clips it also shows what they were made from (the
user's liked covers, the source frame, the source clip), which the catalog does not publish:
from the gate's rows, the taste weights and the items' covers.
"""

from __future__ import annotations

import logging
from typing import TypedDict

from generec_core.config import PipelineConfig
from generec_core.datasets import catalog, metrics
from generec_core.datasets.evaluation import load_evaluation, replay_history
from generec_core.datasets.gate import read_gate_rows
from generec_core.datasets.items import cover_loader
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.reports import task_failures, write_report
from generec_core.datasets.truth import read_simulation_truth, simulated_nights
from generec_core.evaluation.replay_chart import take_rate_chart
from generec_core.datasets.users import taste_weights
from generec_core.fidelity.quality import decode_image
from generec_core.generation.taste import top_liked
from generec_core.run_report import (
    EditedSample,
    GeneratedSample,
    Learning,
    RunFacts,
    image_data_uri,
    page,
    png_data_uri,
    relative_asset,
    showcase_rows,
    video_data_uri,
)
from generec_core.run_overview import stage_timings
from generec_core.storage import ObjectNotFound
from generec_core.timing_chart import timing_chart

log = logging.getLogger(__name__)


class ReportSummary(TypedDict):
    report: str


def run(config: PipelineConfig, date: str) -> ReportSummary:
    return {"report": build_report(config, date)}


def build_report(config: PipelineConfig, date: str) -> str:
    """Write ``reports/run=<id>/index.html`` (and the orchestrator run's own copy); returns the latter's URI.

    Only what this run recorded is reported as this run's: the catalog and the evaluation are shown
    when this run published and evaluated them, not when an earlier run of the date did.
    """
    layout, run_id, attempt = Layout.for_config(config), run_id_for(date), config.run.attempt
    recorded, earlier = metrics.of_attempt(metrics.load_all(layout, run_id), attempt)
    rows = _published_rows(layout, date, run_id) if recorded.get("publish", {}).get("manifest") else []
    evaluated = "evaluate" in recorded and not recorded["evaluate"].get("skipped")
    evaluation = load_evaluation(layout, run_id) if evaluated else None
    facts = RunFacts(attempt, config.run.dry_run, list(task_failures(layout, attempt)), earlier,
                     _timing_chart(recorded))
    created = catalog.read_created_items(layout, date, run_id) if rows else []
    html = page(run_id, date, recorded, rows, evaluation, _showcase(layout, date, run_id, rows), facts, created,
                _learning(layout, date) if evaluated else None)
    uri = write_report(layout, run_id, html, attempt)
    log.info("report written: %s", uri)
    return uri


def _timing_chart(recorded: dict[str, dict]) -> str:
    """The stages' wall times in run order as an inline PNG; "" when no stage recorded one."""
    timings = stage_timings(recorded)
    return _inline(lambda: png_data_uri(timing_chart(timings))) if timings else ""


def _learning(layout: Layout, date: str) -> Learning | None:
    """Take rate per night (replay estimates, and the simulated truth on a demo root), when the logs were replayed."""
    nights = replay_history(layout, date)
    if not nights or nights[-1]["date"] != date:
        return None
    truths = {d: t for d in simulated_nights(layout) if (t := read_simulation_truth(layout, d)) is not None}
    chart = _inline(lambda: png_data_uri(take_rate_chart(nights, truths)))
    return Learning(nights[-1], truths.get(date, {}).get("true_take_rate", {}), chart)


def _published_rows(layout: Layout, date: str, run_id: str) -> list[dict]:
    try:
        return catalog.read_rows(layout, layout.manifest(date, run_id))
    except catalog.CatalogError:
        return []


LIKED_COVERS_SHOWN = 4


def _showcase(layout: Layout, date: str, run_id: str,
              rows: list[dict]) -> tuple[list[GeneratedSample], list[EditedSample]]:
    """Samples of generation with what it was made from; none (logged) when the run left too little behind."""
    generated_rows, edited_rows = showcase_rows(rows)
    if not generated_rows and not edited_rows:
        return [], []
    try:
        made_from = {(r["user_id"], r["item_id"]): r for r in read_gate_rows(layout, run_id)}
        weights = taste_weights(layout, date, {r["user_id"] for r in generated_rows})
    except (ObjectNotFound, FileNotFoundError) as exc:
        log.warning("report: generation samples left out: %s", exc)
        return [], []
    covers = cover_loader(layout)
    generated = []
    for r in generated_rows:
        liked = top_liked([r["user_id"]], weights, LIKED_COVERS_SHOWN)
        source = made_from.get((r["user_id"], r["item_id"]), {}).get("selected_staged")
        generated.append(GeneratedSample(
            r["user_id"], r["item_id"], relative_asset(r["thumbnail_uri"]), r["generator_id"],
            _inline(lambda: image_data_uri(decode_image(layout.store.read_bytes(source))) if source else ""),
            [p for p in (_inline(lambda i=item: image_data_uri(covers(i))) for item, _ in liked) if p]))
    edited = []
    for r in edited_rows:
        source = made_from.get((r["user_id"], r["item_id"]), {}).get("selected_clip_staged")
        edited.append(EditedSample(r["user_id"], r["item_id"], relative_asset(r["clip_uri"]), r["clip_generator_id"],
                                   _inline(lambda: video_data_uri(layout.store.read_bytes(source)) if source else "")))
    return generated, edited


def _inline(make) -> str:
    """An inline preview, or "" when its source is gone or unreadable (a report never fails on a preview)."""
    try:
        return make()
    except Exception as exc:  # noqa: BLE001 - previews are a convenience
        log.warning("report: preview left out: %s", exc)
        return ""
