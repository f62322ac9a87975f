"""The fidelity part of the run report: pass rates per stage and check, data checks, and bias.

Bias: the share of rows shown as personalised (no fallback) per taste cluster and per user
activity bucket. A gate that rejects one group's assets far more often than another's would
quietly give that group a worse product; the gap makes it visible.
"""

from __future__ import annotations

import html

BIAS_GAP_WARNING = 0.2  # a pass-rate spread between groups at least this large is flagged


def gate_section(gate: dict | None) -> str:
    """HTML for the gate's metrics (the ``gate`` stage's recorded summary); empty when it did not run."""
    if not gate or "by_stage" not in gate:
        return ""
    esc = html.escape
    parts = ["<table><tr><th>stage</th><th>assets</th><th>passed</th><th>pass rate</th><th>floor</th></tr>"]
    for stage, s in gate["by_stage"].items():
        parts.append(f"<tr><td>{esc(stage)}</td><td>{s['assets']}</td><td>{s['passed']}</td>"
                     f"<td>{esc(str(s['pass_rate']))}</td><td>{s['floor']}</td></tr>")
    parts.append("</table>")
    failed = gate.get("failed_checks") or {}
    parts.append("<p>Failed checks: " + (esc(", ".join(f"{k} {v}" for k, v in failed.items())) or "none") + "</p>")
    checks = gate.get("manifest_checks") or {}
    parts.append(f"<p>Manifest data checks (great-expectations): "
                 f"{'passed' if checks.get('success') else 'FAILED'}, {checks.get('evaluated', 0)} expectations"
                 + "".join(f"<br>{esc(f)}" for f in checks.get("failed", [])) + "</p>")
    for axis, title in (("cluster", "taste cluster"), ("activity", "user activity")):
        parts.append(_bias_table(gate.get("bias", {}).get(axis), title))
    return "\n".join(parts)


def _bias_table(bias: dict | None, title: str) -> str:
    if not bias or not bias.get("groups"):
        return ""
    esc = html.escape
    gap = bias.get("gap", 0.0)
    flag = f" <b>— gap {gap} between groups</b>" if gap >= BIAS_GAP_WARNING else f" (gap {gap})"
    rows = "".join(f"<tr><td>{esc(g)}</td><td>{v['rows']}</td><td>{v['pass_rate']}</td></tr>"
                   for g, v in bias["groups"].items())
    return (f"<h3>Rows shown as personalised, by {esc(title)}{flag}</h3>"
            f"<table><tr><th>{esc(title)}</th><th>rows</th><th>pass rate</th></tr>{rows}</table>")
