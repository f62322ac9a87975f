"""The run report: one static HTML page per run that a person can open from the object store.

It is built from what the stages recorded (``work/run=<id>/metrics``) and from the
published manifest, so it reports what happened rather than recomputing it. It also runs
when an upstream stage failed, to say how far the run got.
"""

from __future__ import annotations

import html
import json
import logging

from generec_core import metrics
from generec_core.config import PipelineConfig
from generec_core.evaluation.html import evaluation_section
from generec_core.expectations.html import data_quality_section
from generec_core.fidelity.report import gate_section
from generec_core.layout import Layout, run_id_for
from generec_core.pipeline import STAGES
from generec_core.storage import ObjectNotFound, read_parquet, write_text

log = logging.getLogger(__name__)

GALLERY_SIZE = 12


def build_report(config: PipelineConfig, date: str) -> str:
    """Write ``reports/run=<id>/index.html``; returns its URI."""
    layout, run_id = Layout(config.root), run_id_for(date)
    stage_metrics = metrics.load_all(config.root, run_id)
    manifest_rows = _manifest_rows(layout, date, run_id)
    page = _page(run_id, date, stage_metrics, manifest_rows, evaluation_section(layout, run_id))
    uri = layout.report(run_id)
    write_text(uri, page)
    log.info("report written: %s", uri)
    return uri


def _manifest_rows(layout: Layout, date: str, run_id: str) -> list[dict]:
    try:
        return read_parquet(layout.manifest(date, run_id)).to_pylist()
    except ObjectNotFound:
        return []


def _relative_asset(uri: str | None) -> str:
    """Reports sit at reports/run=<id>/, assets at catalog/assets/: link relatively so it works on any root."""
    return "" if not uri else "../../catalog/assets/" + uri.rsplit("/", 1)[-1]


def _page(run_id: str, date: str, stage_metrics: dict[str, dict], rows: list[dict], evaluation: str = "") -> str:
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>GeneRec run {esc(run_id)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}img{max-width:240px}"
             "pre{margin:0;font-size:12px}</style></head><body>",
             f"<h1>GeneRec nightly run {esc(run_id)}</h1><p>Logical date: {esc(date)}</p>"]
    recorded = {s.split("-shard-")[0] for s in stage_metrics}
    missing = [s for s in STAGES if s not in recorded and s != "report"]
    parts.append(f"<p><b>Stages without a record (failed, skipped or not run):</b> {esc(', '.join(missing))}</p>"
                 if missing else "<p>All stages recorded their results.</p>")
    parts.append("<h2>Stages: counts and timings</h2><table><tr><th>stage</th><th>seconds</th><th>details</th></tr>")
    for stage, payload in sorted(stage_metrics.items()):
        details = {k: v for k, v in payload.items() if k != "seconds"}
        parts.append(f"<tr><td>{esc(stage)}</td><td>{esc(str(payload.get('seconds', '')))}</td>"
                     f"<td><pre>{esc(json.dumps(details, indent=1, sort_keys=True, default=str))}</pre></td></tr>")
    parts.append("</table>")
    gate = stage_metrics.get("gate")
    parts.append(data_quality_section(stage_metrics))
    parts.append("<h2>Fidelity gate</h2>")
    parts.append(f"<p>pass rate {esc(str(gate['pass_rate']))} (floor {esc(str(gate['floor']))}), "
                 f"{gate['failed']} of {gate['assets']} assets failed</p>" if gate else "<p>gate did not run</p>")
    parts.append(gate_section(gate))
    parts.append(evaluation)
    parts.append(_generation(stage_metrics))
    parts.append(_gallery(rows))
    parts.append("</body></html>")
    return "\n".join(parts)


def _generation(stage_metrics: dict[str, dict]) -> str:
    """Images generated vs what per-(user, item) generation would have needed, and how many the gate kept."""
    shards = [m for s, m in stage_metrics.items() if s.startswith("generate-shard-")]
    if not shards:
        return "<h2>Thumbnail generation</h2><p>generation did not run</p>"
    rendered = sum(m.get("images_generated", 0) for m in shards)
    needed = sum(m.get("per_user_images_needed", 0) for m in shards)
    generators = sorted({m["generator_id"] for m in shards if m.get("generator_id")})
    gated = (stage_metrics.get("gate") or {}).get("generated") or {}
    images = gated.get("assets", sum(m.get("images", 0) for m in shards))  # distinct images, shards share them
    kept = f"; {gated['passed']} of them passed the fidelity gate" if gated.get("assets") else ""
    return (f"<h2>Thumbnail generation</h2><p>{needed} (user, item) thumbnails came from {images} generated "
            f"images ({rendered} rendered in this run, the rest reused); per-user generation would have needed "
            f"{needed}{kept}. Generator: {html.escape(', '.join(generators) or 'none')}</p>")


def _gallery(rows: list[dict]) -> str:
    """Original cover vs personalised thumbnail for a sample of users (first item of each)."""
    if not rows:
        return "<h2>Gallery</h2><p>nothing published for this run</p>"
    esc = html.escape
    seen, sample = set(), []
    for r in rows:
        if r["user_id"] not in seen and r["thumbnail_kind"] != "original":
            seen.add(r["user_id"])
            sample.append(r)
        if len(sample) == GALLERY_SIZE:
            break
    out = ["<h2>Gallery: original cover vs personalised</h2><table>"
           "<tr><th>user</th><th>item</th><th>original cover</th><th>personalised thumbnail</th><th>clip</th></tr>"]
    for r in sample:
        clip = (f"<a href='{esc(_relative_asset(r['clip_uri']))}'>{r['clip_start_s']:.2f}s-{r['clip_end_s']:.2f}s</a>"
                if r["clip_uri"] else "none")
        score = "" if r["score"] is None else f"<br>score {r['score']:.3f}"
        out.append(f"<tr><td>{esc(r['user_id'])}</td><td>{esc(r['item_id'])}</td>"
                   f"<td><img src='{esc(_relative_asset(r['cover_uri']))}'></td>"
                   f"<td><img src='{esc(_relative_asset(r['thumbnail_uri']))}'>{score}</td><td>{clip}</td></tr>")
    out.append("</table>")
    return "\n".join(out)
