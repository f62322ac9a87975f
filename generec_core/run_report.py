"""The run report's page: one static HTML page per run that a person can open from the object store.

Built from what the stages recorded and from the published manifest, so it reports what
happened rather than recomputing it; each domain renders its own section (data quality,
fidelity gate, evaluation). The markup is in ``generec_core/templates/`` (``report.html.j2``).
"""

from __future__ import annotations

import json

from markupsafe import Markup

from generec_core.evaluation.html import evaluation_section
from generec_core.expectations.html import data_quality_section
from generec_core.fidelity.report import gate_section
from generec_core.kinds import ThumbnailKind
from generec_core.stage_graph import STAGES
from generec_core.templates import render

GALLERY_SIZE = 12


def page(run_id: str, date: str, stage_metrics: dict[str, dict], rows: list[dict], evaluation: dict | None) -> str:
    """The page (``templates/report.html.j2``): stage metrics, data quality, gate, evaluation, gallery."""
    recorded = {s.split("-shard-")[0] for s in stage_metrics}
    missing = [s.name for s in STAGES if s.name not in recorded and not s.always]
    stages = [{"name": stage, "seconds": payload.get("seconds", ""),
               "details": json.dumps({k: v for k, v in payload.items() if k != "seconds"}, indent=1, sort_keys=True,
                                     default=str)}
              for stage, payload in sorted(stage_metrics.items())]
    gate = stage_metrics.get("gate")
    # the sections are HTML rendered (and escaped) by their own templates: Markup keeps them from being escaped again
    return render("report.html.j2", run_id=run_id, date=date, missing=missing, stages=stages, gate=gate,
                  data_quality=Markup(data_quality_section(stage_metrics)), gate_details=Markup(gate_section(gate)),
                  evaluation=Markup(evaluation_section(evaluation)), generation=_generation(stage_metrics),
                  gallery=_gallery(rows))


def _relative_asset(uri: str | None) -> str:
    """Reports sit at reports/run=<id>/, assets at catalog/assets/: link relatively so it works on any root."""
    return "" if not uri else "../../catalog/assets/" + uri.rsplit("/", 1)[-1]


def _generation(stage_metrics: dict[str, dict]) -> dict | None:
    """Images generated vs what per-(user, item) generation would have needed, and how many the gate kept."""
    shards = [m for s, m in stage_metrics.items() if s.startswith("generate-shard-")]
    if not shards:
        return None
    gated = (stage_metrics.get("gate") or {}).get("generated") or {}
    return {"rendered": sum(m.get("images_generated", 0) for m in shards),
            "needed": sum(m.get("per_user_images_needed", 0) for m in shards),
            "generators": sorted({m["generator_id"] for m in shards if m.get("generator_id")}),
            # distinct images, shards share them
            "images": gated.get("assets", sum(m.get("images", 0) for m in shards)),
            "gated": bool(gated.get("assets")), "passed": gated.get("passed")}


def _gallery(rows: list[dict]) -> list[dict] | None:
    """Original cover vs personalised thumbnail for a sample of users (first item of each); None: nothing published."""
    if not rows:
        return None
    seen, sample = set(), []
    for r in rows:
        if r["user_id"] not in seen and r["thumbnail_kind"] != ThumbnailKind.ORIGINAL:
            seen.add(r["user_id"])
            sample.append(r)
        if len(sample) == GALLERY_SIZE:
            break
    return [{"user_id": r["user_id"], "item_id": r["item_id"], "cover": _relative_asset(r["cover_uri"]),
             "thumbnail": _relative_asset(r["thumbnail_uri"]), "score": r["score"], "clip": _clip(r)} for r in sample]


def _clip(row: dict) -> dict | None:
    if not row["clip_uri"]:
        return None
    return {"href": _relative_asset(row["clip_uri"]), "start": row["clip_start_s"], "end": row["clip_end_s"]}
