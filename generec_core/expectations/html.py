"""The run report's data-quality section: what was quarantined, and the gates' verdicts.

Built only from what the stages recorded (``ingest``, ``frames`` and ``expectations-<gate>`` metrics),
so it also explains a run that a gate stopped. Links point at the GX validation pages in
the run's ``work/`` zone, relative to the report (``reports/run=<id>/index.html``).
The markup is ``generec_core/templates/data_quality.html.j2``; this module prepares its data.
"""

from __future__ import annotations

from generec_core.templates import render

_INGEST_COUNTS = ("read", "clean", "quarantined", "duplicates", "duplicate_replays", "late_accepted")
_LISTS = (("Critical failures", "critical_failures"), ("Warnings", "warnings"), ("Skipped", "skipped"))


def _quarantine(ingest: dict | None) -> dict | None:
    """The ingest counts as one line, and the quarantined lines by reason; None when ingest recorded nothing."""
    if not ingest:
        return None
    counts = ", ".join(f"{k.replace('_', ' ')} {ingest.get(k, 0)}" for k in _INGEST_COUNTS)
    reasons = ingest.get("quarantine_by_reason") or {}
    return {"counts": counts, "reasons": sorted(reasons.items())}


def _items(frames: dict | None) -> dict | None:
    """Catalogue lines and items left out, by reason; None when the frames stage recorded nothing."""
    if not frames:
        return None
    return {"lines": sorted((frames.get("catalogue_rejected_by_reason") or {}).items()),
            "videos": sorted((frames.get("items_quarantined_by_reason") or {}).items())}


def _gate(verdict: dict) -> dict:
    """One gate's verdict: its named failures/warnings/skips, and per suite the passed count and failed results."""
    suites = []
    for suite in verdict.get("suites", []):
        results = suite.get("results", [])
        suites.append({"name": suite["suite"], "html": suite.get("html"), "total": len(results),
                       "passed": sum(r["success"] for r in results),
                       "failures": [r for r in results if not r["success"]]})
    return {"name": str(verdict.get("gate")), "success": bool(verdict.get("success")),
            "lists": [(label, verdict[key]) for label, key in _LISTS if verdict.get(key)], "suites": suites}


def data_quality_section(stage_metrics: dict[str, dict]) -> str:
    """HTML: quarantine counts by reason, then each gate's verdict with links to its GX pages."""
    order = {"expectations-interactions": 0, "expectations-features": 1}  # data-flow order, then any other
    gates = [m for name, m in sorted(stage_metrics.items(), key=lambda kv: (order.get(kv[0], 2), kv[0]))
             if name.startswith("expectations-")]
    return render("data_quality.html.j2", ingest=_quarantine(stage_metrics.get("ingest")),
                  items=_items(_frames(stage_metrics)), gates=[_gate(v) for v in gates])


def _frames(stage_metrics: dict[str, dict]) -> dict | None:
    """The frames stage's reasons, summed over its item shards (``frames-shard-<n>``; shard 0 alone counts the
    catalogue's lines); ``frames`` itself when it ran as one task."""
    shards = [m for name, m in sorted(stage_metrics.items()) if name == "frames" or name.startswith("frames-shard-")]
    if not shards:
        return None
    summed: dict[str, dict[str, int]] = {"catalogue_rejected_by_reason": {}, "items_quarantined_by_reason": {}}
    for key, total in summed.items():
        for shard in shards:
            for reason, n in (shard.get(key) or {}).items():
                total[reason] = total.get(reason, 0) + n
    return summed
