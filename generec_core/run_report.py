"""The run report's page: one static HTML page per run that a person can open from the object store.

Built from what the stages recorded and from the published manifest, so it reports what
happened rather than recomputing it. It opens with the overview an operator reads first
(``run_overview``: status, what was published, gate pass rates and failure reasons, the timing
chart); the details follow, each domain rendering its own section (data quality, fidelity gate,
evaluation), and the raw stage metrics come last, folded. The markup is in
``generec_core/templates/`` (``report.html.j2``).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field

import numpy as np
from markupsafe import Markup
from PIL import Image

from generec_core.evaluation.html import evaluation_section
from generec_core.expectations.html import data_quality_section
from generec_core.fidelity.report import gate_section
from generec_core.kinds import ClipKind, ThumbnailKind
from generec_core.run_overview import pass_rates, published, run_order, run_status, top_failure_reasons
from generec_core.stage_graph import STAGES
from generec_core.templates import render

GALLERY_SIZE = 12
SHOWCASE_USERS = 6  # users whose taste, source frame and generated thumbnail the page shows
SHOWCASE_CLIPS = 4  # edited clips shown next to their source clip
PREVIEW_SIDE = 160  # px: liked covers and source frames are embedded in the page at this size


@dataclass
class RunFacts:
    """What the page says about this run itself, beyond what the stages recorded."""

    attempt: str = ""  # the orchestrator's run id ("" outside an orchestrator)
    dry_run: bool = False
    failures: list[dict] = field(default_factory=list)  # datasets.reports.TaskFailure of this run
    earlier: list[str] = field(default_factory=list)  # stages only an earlier run of the date recorded
    timing_chart: str = ""  # data: URI of the stage timing PNG (timing_chart.py; "" when it could not be drawn)


@dataclass
class GeneratedSample:
    """One generated thumbnail with what it was made from: the user's liked covers and the source frame."""

    user_id: str
    item_id: str
    generated: str  # link to the published asset
    generator_id: str
    source_frame: str = ""  # data: URI (the staged frame is not published for a generated row)
    liked_covers: list[str] = field(default_factory=list)  # data: URIs


@dataclass
class EditedSample:
    """One edited clip and the clip it was edited from, both playable."""

    user_id: str
    item_id: str
    edited: str  # link to the published asset
    generator_id: str
    source_clip: str = ""  # data: URI (the unedited clip is not published for an edited row)


@dataclass
class Learning:
    """Learning from clicks: tonight's replay of the date's logs, the simulated truth, and the chart of all nights."""

    replay: dict  # the ``replay`` section of evaluation/replay.py
    truth: dict  # policy -> true take rate (a simulated demo audience); empty elsewhere
    chart: str  # data: URI of the PNG ("" when it could not be drawn)


def showcase_rows(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Published rows to show: the first generated thumbnail of up to SHOWCASE_USERS users, and up to
    SHOWCASE_CLIPS edited clips of distinct users (rows are in manifest order: user, item)."""
    generated, edited, seen = [], [], set()
    for r in rows:
        if r["thumbnail_kind"] == ThumbnailKind.GENERATED and r["user_id"] not in seen and len(generated) < SHOWCASE_USERS:
            seen.add(r["user_id"])
            generated.append(r)
        if r.get("clip_kind") == ClipKind.EDITED and len(edited) < SHOWCASE_CLIPS and \
                r["user_id"] not in {e["user_id"] for e in edited}:
            edited.append(r)
    return generated, edited


def image_data_uri(pixels: np.ndarray) -> str:
    """A small JPEG of the pixels, inline: the page stays one self-contained file."""
    image = Image.fromarray(pixels)
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def video_data_uri(mp4: bytes) -> str:
    return "data:video/mp4;base64," + base64.b64encode(mp4).decode("ascii")


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def page(run_id: str, date: str, stage_metrics: dict[str, dict], rows: list[dict], evaluation: dict | None,
         showcase: tuple[list[GeneratedSample], list[EditedSample]] = ([], []), facts: RunFacts | None = None,
         created: list[dict] | None = None, learning: Learning | None = None) -> str:
    """The page (``templates/report.html.j2``): the overview (status, published, gate pass rates and failure
    reasons, timing chart), then this run's failures, data quality, gate, evaluation, generation showcase
    (``showcase``: samples made by ``showcase_rows`` and filled by the report stage), the created items this
    run published (the catalog's created table), gallery, and last the raw stage metrics, folded.
    ``stage_metrics`` are this run's records only (see ``metrics.of_attempt``)."""
    facts = facts or RunFacts()
    recorded = {s.split("-shard-")[0] for s in stage_metrics}
    missing = [s.name for s in STAGES if s.name not in recorded and not s.always]
    stages = [{"name": stage, "seconds": payload.get("seconds", ""),
               "details": json.dumps({k: v for k, v in payload.items() if k != "seconds"}, indent=1, sort_keys=True,
                                     default=str)}
              for stage, payload in sorted(stage_metrics.items(), key=lambda kv: run_order(kv[0]))]
    gate = stage_metrics.get("gate")
    overview = {"status": run_status(facts.failures, stage_metrics, missing),
                "published": published(stage_metrics.get("publish"), rows, facts.dry_run),
                "pass_rates": pass_rates(gate), "reasons": top_failure_reasons(gate),
                "created": (gate or {}).get("created")}
    # the sections are HTML rendered (and escaped) by their own templates: Markup keeps them from being escaped again
    return render("report.html.j2", run_id=run_id, date=date, facts=facts, missing=missing, stages=stages, gate=gate,
                  overview=overview,
                  data_quality=Markup(data_quality_section(stage_metrics)), gate_details=Markup(gate_section(gate)),
                  evaluation=Markup(evaluation_section(evaluation)), generation=_generation(stage_metrics),
                  generated_samples=showcase[0], edited_samples=showcase[1], created=_created(created or []),
                  learning=learning,
                  gallery=_gallery(rows))


def relative_asset(uri: str | None) -> str:
    """Reports sit at reports/run=<id>/, assets at catalog/assets/: link relatively so it works on any root."""
    return "" if not uri else "../../catalog/assets/" + uri.rsplit("/", 1)[-1]


def _generation(stage_metrics: dict[str, dict]) -> dict | None:
    """Images generated vs what per-(user, item) generation would have needed, and how many the gate kept."""
    shards = [m for s, m in stage_metrics.items() if s.startswith("generate-shard-")]
    if not shards:
        return None
    gated = (stage_metrics.get("gate") or {}).get("generated") or {}
    return {"rendered": sum(m.get("images_generated", 0) for m in shards),
            "clips": sum(m.get("edited_clips", 0) for m in shards),
            "clips_made": sum(m.get("edited_clips_made", 0) for m in shards),
            "clip_rows": sum(m.get("edited_clip_rows", 0) for m in shards),
            "needed": sum(m.get("per_user_images_needed", 0) for m in shards),
            "generators": sorted({m["generator_id"] for m in shards if m.get("generator_id")}),
            # distinct images, shards share them
            "images": gated.get("assets", sum(m.get("images", 0) for m in shards)),
            "gated": bool(gated.get("assets")), "passed": gated.get("passed")}


def _created(items: list[dict]) -> list[dict]:
    """The created items with links to their published cover and video."""
    return [{**item, "cover": relative_asset(item["cover_uri"]), "video": relative_asset(item["video_uri"])}
            for item in items]


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
    return [{"user_id": r["user_id"], "item_id": r["item_id"], "cover": relative_asset(r["cover_uri"]),
             "thumbnail": relative_asset(r["thumbnail_uri"]), "score": r["score"], "clip": _clip(r)} for r in sample]


def _clip(row: dict) -> dict | None:
    if not row["clip_uri"]:
        return None
    return {"href": relative_asset(row["clip_uri"]), "start": row["clip_start_s"], "end": row["clip_end_s"]}
