"""The fidelity gate: audit every staged asset in ``work/`` before anything may be published.

Write-audit-publish: the editor (and the generator) stage, this stage audits, only
``publish`` touches the catalog. Per asset (``fidelity/audit.py``): quality, safety,
authenticity, privacy and identifiability, with the generated-asset rules for thumbnails
the generate stage made. A failed asset is quarantined with its reasons under
``lake/quarantine/assets/dt=<date>/`` and its rows fall back:

* generated thumbnail -> the selected frame it was generated from (``selected_staged``);
* selected thumbnail -> the item's original cover; clip -> none;
* a row whose cover fails too has nothing publishable to show and is dropped (counted).

Then the rows that will become the manifest pass a great-expectations suite
(``fidelity/manifest_suite.py``). The run fails, before publish, when those data checks
fail or when a staging stage's pass rate falls below its floor (``GateConfig``), with a
summary naming the dominant failure reasons. The stage's metrics carry pass rates per
asset kind, per check and per user group (taste cluster, activity) for the run report.

Contract with publish: ``Layout.gate_rows`` holds the staged rows (same columns) plus
``fallback``; generated rows keep ``generator_id`` and ``selected_staged``.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from generec_core import metrics
from generec_core.config import PipelineConfig
from generec_core.embedding.encoder import load_encoder
from generec_core.expectations.verdict import DataQualityError
from generec_core.fidelity.audit import Auditor, ClipAsset, ImageAsset
from generec_core.fidelity.checks import verdict
from generec_core.fidelity.manifest_suite import validate_manifest
from generec_core.layout import Layout, run_id_for
from generec_core.stages.frames import load_frame_embeddings
from generec_core.storage import (
    ObjectNotFound,
    delete_prefix,
    join,
    list_uris,
    read_parquet,
    sha256_hex,
    storage_for,
    write_parquet,
    write_text,
)

log = logging.getLogger(__name__)

GENERATED = "generated"
STAGE_OF_KIND = {"selected": "personalise", "cover": "personalise", "clip": "personalise", GENERATED: "generate"}
ACTIVITY_BUCKETS = ((0, "0 likes"), (1, "1-2 likes"), (3, "3-9 likes"), (10, "10+ likes"))
_CHUNK = 32  # images decoded and checked at once: bounded memory, batched models


class GateFailed(DataQualityError):
    """Publishing this run would ship a bad batch: too many assets failed, or the data checks did.

    A data-quality verdict like the other gates' (the DAG fails such a task without retry).
    """


@dataclass
class AssetPlan:
    """What the staged rows say about one asset: its kind and what it must be faithful to."""

    kind: str  # selected | cover | generated | clip
    item_id: str
    frame_idx: int | None = None  # the source frame (-1: the cover)
    window: tuple[float, float] | None = None  # clips: [start_s, end_s) in source time
    selected: str | None = None  # generated: the staged frame it was generated from
    row_marked: bool = True  # generated: every row showing it says generated + generator_id


def run_gate(config: PipelineConfig, date: str) -> dict:
    layout, run_id = Layout(config.root), run_id_for(date)
    with metrics.timed() as clock:
        rows = _staged_rows(layout, run_id)
        plans = plan_assets(rows)
        verdicts = _audit(config, plans, frozenset(rows["user_id"].to_pylist()))
        final = apply_fallbacks(rows, verdicts)
        data_checks, gx_result = validate_manifest(final, {a: v["passed"] for a, v in verdicts.items()}, run_id)
        _write_results(layout, run_id, verdicts, final, data_checks, gx_result)
        _quarantine_failed(layout, date, verdicts)
        bias = bias_report(rows, final, _user_groups(layout, date))
    summary = _summary(config, verdicts, final, data_checks, bias)
    summary.update(rows_dropped=rows.num_rows - final.num_rows, seconds=clock["seconds"])
    metrics.record(config.root, run_id, "gate", summary)
    log.info("gate run=%s pass_rate=%s by_stage=%s", run_id, summary["pass_rate"], summary["by_stage"])
    _halt_if_bad(summary, date, _manifest_page(layout, run_id))
    return summary


def _staged_rows(layout: Layout, run_id: str) -> pa.Table:
    shard_files = [u for u in list_uris(layout.work(run_id), "rows.parquet") if "/shard=" in u]
    if not shard_files:
        raise FileNotFoundError(f"no staged shard outputs under {layout.work(run_id)}: did personalise run?")
    return pa.concat_tables([read_parquet(u) for u in sorted(shard_files)], promote_options="default")


def plan_assets(rows: pa.Table) -> dict[str, AssetPlan]:
    """One plan per distinct staged asset (many rows share one frame, cover or clip)."""
    plans: dict[str, AssetPlan] = {}
    marked: dict[str, bool] = defaultdict(lambda: True)
    for row in rows.to_pylist():
        item, idx, kind = row["item_id"], row["thumbnail_frame_idx"], row["thumbnail_kind"]
        plans.setdefault(row["cover_staged"], AssetPlan("cover", item, -1))
        if kind == GENERATED:
            selected = row.get("selected_staged")
            plans.setdefault(row["thumbnail_staged"], AssetPlan(GENERATED, item, idx, selected=selected))
            marked[row["thumbnail_staged"]] &= bool(row.get("generator_id"))
            if selected:
                plans.setdefault(selected, AssetPlan("selected", item, idx))
        elif kind == "selected":
            plans.setdefault(row["thumbnail_staged"], AssetPlan("selected", item, idx))
        else:  # original: the cover itself
            plans.setdefault(row["thumbnail_staged"], AssetPlan("cover", item, -1))
        if row["clip_staged"]:
            plans.setdefault(row["clip_staged"], AssetPlan("clip", item, window=(row["clip_start_s"], row["clip_end_s"])))
    for asset, ok in marked.items():
        plans[asset].row_marked = ok
    return plans


def _audit(config: PipelineConfig, plans: dict[str, AssetPlan], user_ids: frozenset[str]) -> dict[str, dict]:
    """One verdict per asset: ``{"kind", "passed", "reasons", "checks"}``."""
    frames = load_frame_embeddings(config)
    reference = {(i, f): np.asarray(e, np.float32) for i, f, e in zip(
        frames["item_id"].to_pylist(), frames["frame_idx"].to_pylist(), frames["embedding"].to_pylist())}
    timeline: dict[str, list[tuple[float, np.ndarray]]] = defaultdict(list)
    for item, idx, ts in zip(frames["item_id"].to_pylist(), frames["frame_idx"].to_pylist(), frames["ts"].to_pylist()):
        if idx >= 0:
            timeline[item].append((ts, reference[(item, idx)]))
    encoder = load_encoder(config.frames.encoder, config.frames.device, config.frames.batch_size,
                           config.frames.precision)
    auditor = Auditor(config.gate, encoder, user_ids)
    images = sorted(a for a, p in plans.items() if p.kind != "clip")
    verdicts: dict[str, dict] = {}
    for start in range(0, len(images), _CHUNK):
        batch = images[start:start + _CHUNK]
        cases = [_image_case(a, plans[a], reference) for a in batch]
        for asset, checks in zip(batch, auditor.images(cases)):
            verdicts[asset] = {"kind": plans[asset].kind, **verdict(checks)}
    clips = sorted(a for a, p in plans.items() if p.kind == "clip")
    per_batch = max(1, _CHUNK // config.gate.clip_check_frames)  # about _CHUNK frames through the models
    for start in range(0, len(clips), per_batch):
        batch = clips[start:start + per_batch]
        for asset, checks in zip(batch, auditor.clips([_clip_case(a, plans[a], timeline) for a in batch])):
            verdicts[asset] = {"kind": "clip", **verdict(checks)}
    return verdicts


def _read(uri: str) -> bytes:
    """A staged file's bytes; a missing one reads as empty, i.e. fails ``decodes`` with a reason."""
    try:
        return storage_for(uri).read_bytes(uri)
    except (ObjectNotFound, FileNotFoundError):
        log.warning("staged asset missing: %s", uri)
        return b""


def _image_case(asset: str, plan: AssetPlan, reference: dict) -> ImageAsset:
    source = reference.get((plan.item_id, plan.frame_idx)) if plan.frame_idx is not None else None
    generated = plan.kind == GENERATED
    return ImageAsset(asset, _read(asset), source, generated=generated,
                      source_pixels=_pixels(plan.selected) if generated else None, row_marked=plan.row_marked)


def _clip_case(asset: str, plan: AssetPlan, timeline: dict[str, list[tuple[float, np.ndarray]]]) -> ClipAsset:
    """The clip with the stored embeddings of the sampled frames its window covers."""
    start_s, end_s = plan.window
    window = [(t, e) for t, e in timeline.get(plan.item_id, []) if start_s - 1e-6 <= t < end_s - 1e-6]
    return ClipAsset(asset, _read(asset), start_s, end_s, window)


def _pixels(uri: str | None) -> np.ndarray | None:
    if not uri:
        return None
    try:
        with Image.open(io.BytesIO(_read(uri))) as image:
            return np.asarray(image.convert("RGB"))
    except Exception:  # noqa: BLE001 - an unreadable source fails new_faces with "source frame unavailable"
        return None


def apply_fallbacks(rows: pa.Table, verdicts: dict[str, dict]) -> pa.Table:
    """Failed generated -> its selected frame; failed selected -> the cover; failed clip -> none.

    Every fallback is written into the row (``fallback``: which asset failed and why).
    """
    def passed(asset: str | None) -> bool:
        return bool(asset) and verdicts.get(asset, {}).get("passed", False)

    def reasons(asset: str | None) -> str:
        return "; ".join(verdicts.get(asset, {}).get("reasons") or ["not audited"])

    out = []
    for row in rows.to_pylist():
        notes: list[str] = []
        if row["thumbnail_kind"] == GENERATED and not passed(row["thumbnail_staged"]):
            notes.append("generated thumbnail failed gate: " + reasons(row["thumbnail_staged"]))
            row.update(thumbnail_kind="selected", thumbnail_staged=row.get("selected_staged"), generator_id=None)
        cover_ok = passed(row["cover_staged"])
        if row["thumbnail_kind"] != "original" and not passed(row["thumbnail_staged"]):
            if not cover_ok:
                continue
            notes.append("thumbnail failed gate: " + reasons(row["thumbnail_staged"]))
            row.update(thumbnail_kind="original", thumbnail_staged=row["cover_staged"], thumbnail_frame_idx=None,
                       thumbnail_frame_ts=None, score=None, generator_id=None)
        if not cover_ok:
            if row["thumbnail_kind"] == "original":
                continue
            row["cover_staged"] = None
        if row["clip_staged"] and not passed(row["clip_staged"]):
            notes.append("clip failed gate: " + reasons(row["clip_staged"]))
            row.update(clip_staged=None, clip_start_s=None, clip_end_s=None, clip_score=None)
        row["fallback"] = " | ".join(notes) or None
        out.append(row)
    schema = rows.schema
    for name, dtype in (("generator_id", pa.string()), ("fallback", pa.string())):
        if schema.get_field_index(name) < 0:
            schema = schema.append(pa.field(name, dtype))
    return pa.Table.from_pylist(out, schema)


def _write_results(layout: Layout, run_id: str, verdicts: dict[str, dict], final: pa.Table, data_checks: dict,
                   gx_result) -> None:
    base = layout.gate_results(run_id)
    write_parquet(join(base, "verdicts.parquet"), pa.Table.from_pylist(
        [{"asset": a, "kind": v["kind"], "passed": v["passed"], "reasons": v["reasons"],
          "checks": json.dumps(v["checks"])} for a, v in sorted(verdicts.items())]))
    write_parquet(layout.gate_rows(run_id), final)
    write_text(join(base, "manifest_checks.json"), json.dumps(data_checks, indent=1, sort_keys=True, default=str))
    try:
        from generec_core.expectations.runner import render_html

        write_text(_manifest_page(layout, run_id), render_html(gx_result))
    except Exception as exc:  # noqa: BLE001 - the page is a convenience; the JSON above is the record
        log.warning("could not render the manifest validation page: %s", exc)


def _manifest_page(layout: Layout, run_id: str) -> str:
    return join(layout.expectations(run_id), "gate_manifest.html")


def _quarantine_failed(layout: Layout, date: str, verdicts: dict[str, dict]) -> None:
    """Failed assets' bytes (named by content hash: a name may be what leaked) and their reasons."""
    base = layout.quarantine("assets", date)
    delete_prefix(base)  # a re-run of the date replaces its quarantine
    failed = []
    for asset, v in sorted(verdicts.items()):
        if v["passed"]:
            continue
        data = _read(asset)
        stored = None
        if data:
            stored = join(base, f"{sha256_hex(data)}.{asset.rsplit('.', 1)[-1]}")
            storage_for(stored).write_bytes(stored, data)
        failed.append({"asset": asset, "quarantined": stored, "kind": v["kind"], "reasons": v["reasons"],
                       "checks": v["checks"]})
    write_text(join(base, "failed.jsonl"), "".join(json.dumps(f, sort_keys=True) + "\n" for f in failed))


def _user_groups(layout: Layout, date: str) -> dict[str, tuple[str, str]]:
    """user -> (taste cluster, activity bucket) from the date's user features."""
    try:
        features = read_parquet(layout.user_features(date))
    except (ObjectNotFound, FileNotFoundError):
        return {}
    users = features["user_id"].to_pylist()
    clusters = (features["cluster"].to_pylist() if "cluster" in features.column_names else ["all"] * len(users))
    likes = features["n_likes"].to_pylist() if "n_likes" in features.column_names else [None] * len(users)
    return {u: ("all" if c is None else str(c), activity_bucket(n)) for u, c, n in zip(users, clusters, likes)}


def activity_bucket(n_likes: int | None) -> str:
    if n_likes is None:
        return "unknown"
    return [name for low, name in ACTIVITY_BUCKETS if n_likes >= low][-1]


def bias_report(staged: pa.Table, final: pa.Table, groups: dict[str, tuple[str, str]]) -> dict:
    """Per taste cluster and per activity bucket: rows, and the share shown as personalised (no fallback).

    A dropped row or a row with any fallback counts as not passed, so a gate that rejects one
    group's assets far more often than another's shows up as a gap.
    """
    clean = {(u, i) for u, i, f in zip(final["user_id"].to_pylist(), final["item_id"].to_pylist(),
                                        final["fallback"].to_pylist()) if f is None}
    out: dict[str, dict] = {}
    for axis, pick in (("cluster", 0), ("activity", 1)):
        totals: Counter = Counter()
        ok: Counter = Counter()
        for user, item in zip(staged["user_id"].to_pylist(), staged["item_id"].to_pylist()):
            group = groups.get(user, ("all", "unknown"))[pick]
            totals[group] += 1
            ok[group] += (user, item) in clean
        rates = {g: {"rows": n, "pass_rate": round(ok[g] / n, 4)} for g, n in sorted(totals.items())}
        values = [r["pass_rate"] for r in rates.values()]
        out[axis] = {"groups": rates, "gap": round(max(values) - min(values), 4) if values else 0.0}
    return out


def _rate(passed: int, total: int) -> float | None:
    return round(passed / total, 4) if total else None


def _summary(config: PipelineConfig, verdicts: dict[str, dict], final: pa.Table, data_checks: dict,
             bias: dict) -> dict:
    gate = config.gate
    by_stage: dict[str, dict] = {}
    for stage, floor in (("personalise", gate.min_pass_rate), ("generate", gate.min_pass_rate_generated)):
        mine = [v["passed"] for v in verdicts.values() if STAGE_OF_KIND[v["kind"]] == stage]
        by_stage[stage] = {"assets": len(mine), "passed": sum(mine), "pass_rate": _rate(sum(mine), len(mine)),
                           "floor": floor}
    failed_checks = Counter(c["name"] for v in verdicts.values() for c in v["checks"] if not c["passed"])
    reasons = Counter(r for v in verdicts.values() for r in v["reasons"])
    by_kind = Counter((v["kind"], v["passed"]) for v in verdicts.values())
    repurposed, generated = by_stage["personalise"], by_stage["generate"]
    return {
        # the repurposed assets' rate is the headline: a failed generated asset has an audited fallback
        "assets": repurposed["assets"], "passed": repurposed["passed"],
        "failed": repurposed["assets"] - repurposed["passed"],
        "pass_rate": repurposed["pass_rate"] if repurposed["assets"] else 1.0, "floor": gate.min_pass_rate,
        "generated": {k: generated[k] for k in ("assets", "passed", "pass_rate")},
        "by_stage": by_stage,
        "by_kind": {f"{k}:{'pass' if p else 'fail'}": n for (k, p), n in sorted(by_kind.items())},
        "failed_checks": dict(sorted(failed_checks.items())),
        "failure_reasons": dict(reasons.most_common(5)),
        "rows": final.num_rows,
        "rows_with_fallback": int(pc.sum(pc.is_valid(final["fallback"])).as_py() or 0),
        "manifest_checks": {"success": data_checks["success"], "evaluated": data_checks["evaluated"],
                            "failed": [r["name"] + ": " + r["observed"] for r in data_checks["results"]
                                       if not r["success"]]},
        "bias": bias,
    }


def _halt_if_bad(summary: dict, date: str, page: str) -> None:
    problems = []
    for stage, s in summary["by_stage"].items():
        if s["assets"] and s["pass_rate"] < s["floor"]:
            problems.append(f"{stage} pass rate {s['pass_rate']:.3f} below floor {s['floor']}")
    if not summary["manifest_checks"]["success"]:
        problems.append("manifest data checks failed: " + "; ".join(summary["manifest_checks"]["failed"]))
    if problems:
        problems.append(f"dominant failure reasons: {summary['failure_reasons']}")
        raise GateFailed({"gate": "fidelity", "dt": date, "success": False, "critical_failures": problems,
                          "warnings": [], "skipped": [], "suites": [], "pages": [page]})
