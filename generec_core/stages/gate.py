"""Stage ``gate``: decide, from every asset's verdict, what may be published; halt publish when it is not enough.

Write-audit-publish: the editor and the generator stage, the ``audit`` stage's shard tasks check each
distinct asset once (``datasets.audit``: quality, safety, authenticity, privacy, identifiability, and
the generated-asset rules), this stage combines them, and only ``publish`` touches the catalog. It reads
personalise's staged rows with generation laid over them (``datasets.generated.with_generated``) and
every asset shard's verdicts (a planned asset without one is an error: an audit shard did not run),
applies the fallbacks and validates the resulting rows with the manifest suite
(``fidelity/gating.py``): the dataset-level rules live here. Then it writes the verdicts, the rows
publish will publish and the quarantined assets (``datasets.gate``). Below a pass-rate floor, or when
the data checks fail, it raises ``GateFailed`` after recording its summary: publish does not run.
"""

from __future__ import annotations

import logging
from typing import TypedDict

import pyarrow as pa

from generec_core.config import PipelineConfig
from generec_core.datasets import audit as audit_data
from generec_core.datasets import expectations as expectation_pages
from generec_core.datasets import gate as gate_data
from generec_core.datasets.created import CreatedItem, read_created
from generec_core.datasets.feedback import read_feedback
from generec_core.datasets.generated import SHOWN_ROWS_SCHEMA, read_all_shown_rows
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.staged import read_staged
from generec_core.datasets.users import read_user_features
from generec_core.editor.bandit import Feedback
from generec_core.fidelity.gating import (
    AssetPlan,
    apply_fallbacks,
    bias_report,
    created_rows,
    created_summary,
    halt_if_bad,
    plan_assets,
    summarise,
    user_groups,
)
from generec_core.fidelity.manifest_suite import SUITE, validate_manifest
from generec_core.kinds import AssetKind
from generec_core.storage import ObjectNotFound, sha256_hex

log = logging.getLogger(__name__)


class GateSummary(TypedDict, total=False):
    assets: int
    passed: int
    failed: int
    pass_rate: float
    floor: float
    generated: dict
    by_stage: dict
    by_kind: dict
    failed_checks: dict
    failure_reasons: dict
    rows: int
    rows_with_fallback: int
    rows_dropped: int
    manifest_checks: dict
    bias: dict


def run(config: PipelineConfig, date: str) -> GateSummary:
    return run_gate(config, date)


def run_gate(config: PipelineConfig, date: str) -> GateSummary:
    layout, run_id = Layout.for_config(config), run_id_for(date)
    shown = read_all_shown_rows(layout, run_id)
    rows = pa.Table.from_pylist(shown, SHOWN_ROWS_SCHEMA)
    plans = plan_assets(shown)
    created = read_created(layout, run_id)
    verdicts = _verdicts(layout, run_id, config.gate.shards, plans, created)
    passed_created = [c for c in created if all(verdicts[a]["passed"] for a in (c["video_staged"], c["cover_staged"]))]
    features = _features(layout, date)
    final = apply_fallbacks(rows, verdicts, config.editor, _feedback(layout, date, plans, features))
    final = pa.concat_tables([final, created_rows(passed_created, final.schema, _encoder_id(rows))])
    gate_data.write_gate_created(layout, run_id, passed_created)
    data_checks, gx_result = validate_manifest(final, {a: v["passed"] for a, v in verdicts.items()}, run_id)
    gate_data.write_verdicts(layout, run_id, verdicts)
    gate_data.write_gate_rows(layout, run_id, final)
    gate_data.write_manifest_checks(layout, run_id, data_checks)
    _write_manifest_page(layout, run_id, gx_result)
    gate_data.quarantine_assets(layout, date, [(a, read_staged(layout, a), v) for a, v in sorted(verdicts.items())
                                               if not v["passed"]])
    bias = bias_report(rows, final, user_groups(features))
    summary = summarise(config.gate, verdicts, final, data_checks, bias)
    summary.update(rows_dropped=rows.num_rows + sum(len(c["recipients"]) for c in passed_created) - final.num_rows,
                   created=created_summary(created, passed_created, verdicts))
    log.info("gate run=%s pass_rate=%s by_stage=%s", run_id, summary["pass_rate"], summary["by_stage"])
    halt_if_bad(summary, date, layout.expectation_page(run_id, SUITE))
    return summary  # type: ignore[return-value]


def _verdicts(layout: Layout, run_id: str, shards: int, plans: dict[str, AssetPlan], created: list[CreatedItem]
              ) -> dict[str, gate_data.Verdict]:
    """The verdict of every asset tonight's rows and created items show, from every audit shard, in the order
    the audit made them (images, then clips, then each created item's video and cover)."""
    found = audit_data.read_verdicts(layout, run_id, shards)
    images = sorted(a for a, p in plans.items() if p.kind != AssetKind.CLIP)
    clips = sorted(a for a, p in plans.items() if p.kind in (AssetKind.CLIP, AssetKind.EDITED_CLIP))
    wanted = [*images, *clips, *(a for c in created for a in (c["video_staged"], c["cover_staged"]))]
    missing = [a for a in wanted if a not in found]
    if missing:
        raise FileNotFoundError(f"{len(missing)} staged asset(s) have no audit verdict, e.g. {missing[0]}: did "
                                f"every audit shard (0..{shards - 1}) run on this run's rows?")
    return {a: found[a] for a in wanted}


def _features(layout: Layout, date: str) -> pa.Table | None:
    try:
        return read_user_features(layout, date)
    except (ObjectNotFound, FileNotFoundError):
        return None


def _feedback(layout: Layout, date: str, plans: dict[str, AssetPlan], features: pa.Table | None) -> Feedback | None:
    """What the candidate bandit learns from tonight; None before any contract v2 impression was logged."""
    counts = read_feedback(layout, date)
    if not counts:
        return None
    clusters = {} if features is None else {
        u: str(c) for u, c in zip(features["user_id"].to_pylist(), features["cluster"].to_pylist())}
    images = [a for a, p in plans.items() if p.kind in (AssetKind.SELECTED, AssetKind.COVER, AssetKind.GENERATED)]
    return Feedback(clusters, counts, {a: f"{sha256_hex(read_staged(layout, a))}.{a.rsplit('.', 1)[-1].lower()}"
                                       for a in images})


def _encoder_id(rows: pa.Table) -> str | None:
    ids = [e for e in rows["encoder_id"].to_pylist() if e]
    return ids[0] if ids else None


def _write_manifest_page(layout: Layout, run_id: str, gx_result) -> None:
    try:
        from generec_core.expectations.runner import render_html

        expectation_pages.write_page(layout, run_id, SUITE, render_html(gx_result))
    except Exception as exc:  # noqa: BLE001 - the page is a convenience; the JSON digest is the record
        log.warning("could not render the manifest validation page: %s", exc)
