"""The fidelity gate: audit every staged asset in ``work/`` before anything may be published.

Write-audit-publish: the editor stages, this stage audits, only ``publish`` touches the
catalog. A failed asset is quarantined with its reasons and its rows fall back (thumbnail
-> original cover, clip -> none); if too few assets pass, the gate fails the run so that
publish never runs on a bad batch.
"""

from __future__ import annotations

import json
import logging
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generec_core import metrics
from generec_core.config import PipelineConfig
from generec_core.embedding.encoder import load_encoder
from generec_core.fidelity.checks import CheckResult, authenticity, clip_checks, image_quality
from generec_core.layout import Layout, run_id_for
from generec_core.stages.frames import load_frame_embeddings
from generec_core.storage import join, list_uris, read_parquet, storage_for, write_parquet, write_text

log = logging.getLogger(__name__)


class GateFailed(RuntimeError):
    """Too many assets failed: publishing this run would ship a bad batch."""


def gate_rows_uri(layout: Layout, run_id: str) -> str:
    return join(layout.gate_results(run_id), "rows.parquet")


def run_gate(config: PipelineConfig, date: str) -> dict:
    layout, run_id = Layout(config.root), run_id_for(date)
    with metrics.timed() as clock:
        rows = _staged_rows(layout, run_id)
        verdicts = _audit(config, rows)
        final = _apply_fallbacks(rows, verdicts)
        write_parquet(join(layout.gate_results(run_id), "verdicts.parquet"), pa.Table.from_pylist(
            [{"asset": a, "kind": v["kind"], "passed": v["passed"], "reasons": v["reasons"],
              "checks": json.dumps(v["checks"])} for a, v in sorted(verdicts.items())]))
        write_parquet(gate_rows_uri(layout, run_id), final)
        _quarantine_failed(layout, date, verdicts)
    summary = _summary(verdicts, final, config.gate.min_pass_rate)
    summary.update(rows_dropped=rows.num_rows - final.num_rows, seconds=clock["seconds"])
    metrics.record(config.root, run_id, "gate", summary)
    log.info("gate run=%s pass_rate=%s", run_id, summary["pass_rate"])
    if summary["pass_rate"] < config.gate.min_pass_rate:
        raise GateFailed(f"fidelity gate: pass rate {summary['pass_rate']:.3f} below floor "
                         f"{config.gate.min_pass_rate}; dominant failures: {summary['failure_reasons']}")
    return summary


def _staged_rows(layout: Layout, run_id: str) -> pa.Table:
    shard_files = [u for u in list_uris(layout.work(run_id), "rows.parquet") if "/shard=" in u]
    if not shard_files:
        raise FileNotFoundError(f"no staged shard outputs under {layout.work(run_id)}: did personalise run?")
    return pa.concat_tables([read_parquet(u) for u in sorted(shard_files)])


def _audit(config: PipelineConfig, rows: pa.Table) -> dict[str, dict]:
    """One verdict per distinct staged asset (many rows share one frame or clip)."""
    verdicts: dict[str, dict] = {}
    image_sources = _image_sources(rows)
    pixels_by_asset: dict[str, np.ndarray] = {}
    for asset in sorted(image_sources):
        checks, pixels = image_quality(storage_for(asset).read_bytes(asset), config.gate)
        verdicts[asset] = {"kind": "thumbnail", "checks": [c.to_dict() for c in checks]}
        if pixels is not None:
            pixels_by_asset[asset] = pixels
    for asset, check in _authenticity(config, image_sources, pixels_by_asset).items():
        verdicts[asset]["checks"].append(check.to_dict())
    for asset, expected in _clip_expectations(rows).items():
        verdicts[asset] = {"kind": "clip", "checks": [c.to_dict() for c in
                                                      clip_checks(storage_for(asset).read_bytes(asset), expected)]}
    for verdict in verdicts.values():
        verdict["passed"] = all(c["passed"] for c in verdict["checks"])
        verdict["reasons"] = sorted({f"{c['name']}: {c['reason']}" for c in verdict["checks"] if not c["passed"]})
    return verdicts


def _image_sources(rows: pa.Table) -> dict[str, tuple[str, int]]:
    """Staged image -> (item, source frame index; -1 = the item's cover)."""
    out: dict[str, tuple[str, int]] = {}
    for thumb, cover, item, idx in zip(rows["thumbnail_staged"].to_pylist(), rows["cover_staged"].to_pylist(),
                                       rows["item_id"].to_pylist(), rows["thumbnail_frame_idx"].to_pylist()):
        out[thumb] = (item, -1 if idx is None else int(idx))
        out[cover] = (item, -1)
    return out


def _authenticity(config: PipelineConfig, sources: dict[str, tuple[str, int]],
                  pixels: dict[str, np.ndarray]) -> dict[str, CheckResult]:
    """Re-embed each decoded asset and compare with the stored embedding of its source frame."""
    if not pixels:
        return {}
    frames = load_frame_embeddings(config)
    reference = {(i, f): e for i, f, e in zip(frames["item_id"].to_pylist(), frames["frame_idx"].to_pylist(),
                                               frames["embedding"].to_pylist())}
    encoder = load_encoder(config.frames.encoder, config.frames.device, config.frames.batch_size)
    assets = sorted(pixels)
    out: dict[str, CheckResult] = {}
    for start in range(0, len(assets), config.frames.batch_size):
        batch = assets[start:start + config.frames.batch_size]
        embeddings = encoder.embed_images([pixels[a] for a in batch])
        for asset, emb in zip(batch, embeddings):
            source = reference.get(sources[asset])
            out[asset] = (authenticity(emb, np.asarray(source, np.float32), config.gate) if source is not None
                          else CheckResult("authenticity", False, None, config.gate.min_authenticity, "source frame unknown"))
    return out


def _clip_expectations(rows: pa.Table) -> dict[str, float]:
    out: dict[str, float] = {}
    for asset, start, end in zip(rows["clip_staged"].to_pylist(), rows["clip_start_s"].to_pylist(),
                                 rows["clip_end_s"].to_pylist()):
        if asset:
            out[asset] = end - start
    return out


def _apply_fallbacks(rows: pa.Table, verdicts: dict[str, dict]) -> pa.Table:
    """Failed thumbnail -> the item's original cover; failed clip -> no clip. The row says why.

    A row whose cover fails too has nothing publishable to show and is dropped (counted).
    """
    out = []
    for row in rows.to_pylist():
        row["fallback"] = None
        thumb, cover_ok = verdicts[row["thumbnail_staged"]], verdicts[row["cover_staged"]]["passed"]
        if not cover_ok:
            if not thumb["passed"] or row["thumbnail_kind"] == "original":
                continue
            row["cover_staged"] = None
        if not thumb["passed"]:
            row["fallback"] = "thumbnail failed gate: " + "; ".join(thumb["reasons"])
            row.update(thumbnail_kind="original", thumbnail_staged=row["cover_staged"], thumbnail_frame_idx=None,
                       thumbnail_frame_ts=None, score=None)
        clip = verdicts.get(row["clip_staged"]) if row["clip_staged"] else None
        if clip is not None and not clip["passed"]:
            row["fallback"] = ((row["fallback"] + " | ") if row["fallback"] else "") + \
                "clip failed gate: " + "; ".join(clip["reasons"])
            row.update(clip_staged=None, clip_start_s=None, clip_end_s=None, clip_score=None)
        out.append(row)
    schema = rows.schema.append(pa.field("fallback", pa.string()))
    return pa.Table.from_pylist(out, schema)


def _quarantine_failed(layout: Layout, date: str, verdicts: dict[str, dict]) -> None:
    failed = [{"asset": a, "kind": v["kind"], "reasons": v["reasons"]} for a, v in sorted(verdicts.items()) if not v["passed"]]
    uri = join(layout.quarantine("assets", date), "failed.jsonl")
    write_text(uri, "".join(json.dumps(f, sort_keys=True) + "\n" for f in failed))


def _summary(verdicts: dict[str, dict], final: pa.Table, floor: float) -> dict:
    total = len(verdicts)
    passed = sum(v["passed"] for v in verdicts.values())
    reasons = Counter(r for v in verdicts.values() for r in v["reasons"])
    by_kind = Counter((v["kind"], v["passed"]) for v in verdicts.values())
    return {
        "assets": total, "passed": passed, "failed": total - passed,
        "pass_rate": round(passed / total, 4) if total else 1.0, "floor": floor,
        "by_kind": {f"{k}:{'pass' if p else 'fail'}": n for (k, p), n in sorted(by_kind.items())},
        "failure_reasons": dict(reasons.most_common(5)),
        "rows": final.num_rows,
        "rows_with_fallback": int(pc.sum(pc.is_valid(final["fallback"])).as_py() or 0),
    }
