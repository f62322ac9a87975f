"""The fidelity part of the run report: pass rates per stage and check, data checks, and bias.

Bias: the share of rows shown as personalised (no fallback) per taste cluster and per user
activity bucket. A gate that rejects one group's assets far more often than another's would
quietly give that group a worse product; the gap makes it visible.

The markup is ``generec_core/templates/fidelity.html.j2``; this module prepares its data.
"""

from __future__ import annotations

from generec_core.templates import render

BIAS_GAP_WARNING = 0.2  # a pass-rate spread between groups at least this large is flagged


def gate_section(gate: dict | None) -> str:
    """HTML for the gate's metrics (the ``gate`` stage's recorded summary); empty when it did not run."""
    if not gate or "by_stage" not in gate:
        return ""
    by_stage = [{"name": stage, "assets": s["assets"], "passed": s["passed"], "pass_rate": s["pass_rate"],
                 "floor": s["floor"]} for stage, s in gate["by_stage"].items()]
    failed = gate.get("failed_checks") or {}
    checks = gate.get("manifest_checks") or {}
    manifest_checks = {"success": bool(checks.get("success")), "evaluated": checks.get("evaluated", 0),
                       "failed": list(checks.get("failed", []))}
    bias = [_bias_table(gate.get("bias", {}).get(axis), title)
            for axis, title in (("cluster", "taste cluster"), ("activity", "user activity"))]
    return render("fidelity.html.j2", by_stage=by_stage, failed_checks=[f"{k} {v}" for k, v in failed.items()],
                  manifest_checks=manifest_checks, bias=[table for table in bias if table])


def _bias_table(bias: dict | None, title: str) -> dict | None:
    """One axis's groups for the template; None when there are none to show."""
    if not bias or not bias.get("groups"):
        return None
    gap = bias.get("gap", 0.0)
    return {"title": title, "gap": gap, "flagged": gap >= BIAS_GAP_WARNING,
            "groups": [{"name": g, "rows": v["rows"], "pass_rate": v["pass_rate"]} for g, v in bias["groups"].items()]}
