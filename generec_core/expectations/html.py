"""The run report's data-quality section: ingest quarantine counts and the gates' verdicts.

Built only from what the stages recorded (``ingest`` and ``expectations-<gate>`` metrics),
so it also explains a run that a gate stopped. Links point at the GX validation pages in
the run's ``work/`` zone, relative to the report (``reports/run=<id>/index.html``).
"""

from __future__ import annotations

import html

_INGEST_COUNTS = ("read", "clean", "quarantined", "duplicates", "duplicate_replays", "late_accepted")


def _quarantine(ingest: dict | None) -> str:
    esc = html.escape
    if not ingest:
        return "<p>ingest did not record counts</p>"
    counts = ", ".join(f"{k.replace('_', ' ')} {ingest.get(k, 0)}" for k in _INGEST_COUNTS)
    reasons = ingest.get("quarantine_by_reason") or {}
    rows = "".join(f"<tr><td>{esc(r)}</td><td>{n}</td></tr>" for r, n in sorted(reasons.items()))
    table = (f"<table><tr><th>quarantine reason</th><th>lines</th></tr>{rows}</table>" if rows
             else "<p>no line was quarantined</p>")
    return f"<h3>Ingest</h3><p>{esc(counts)}</p>{table}"


def _gate(verdict: dict) -> str:
    esc = html.escape
    status = "PASSED" if verdict.get("success") else "FAILED — the run stopped before publish"
    parts = [f"<h3>Gate {esc(str(verdict.get('gate')))}: {esc(status)}</h3>"]
    for label, key in (("Critical failures", "critical_failures"), ("Warnings", "warnings"), ("Skipped", "skipped")):
        if verdict.get(key):
            items = "".join(f"<li>{esc(n)}</li>" for n in verdict[key])
            parts.append(f"<p><b>{label}</b></p><ul>{items}</ul>")
    rows = []
    for suite in verdict.get("suites", []):
        results = suite.get("results", [])
        passed = sum(r["success"] for r in results)
        failed = "<br>".join(f"{esc(r['name'])} [{esc(r['severity'])}]: {esc(r['observed'])}"
                             for r in results if not r["success"]) or "none"
        link = f"<a href='../../{esc(suite['html'])}'>{esc(suite['suite'])}</a>" if suite.get("html") else esc(suite["suite"])
        rows.append(f"<tr><td>{link}</td><td>{passed} / {len(results)}</td><td>{failed}</td></tr>")
    if rows:
        parts.append("<table><tr><th>suite (GX validation page)</th><th>passed</th><th>failed expectations</th></tr>"
                     + "".join(rows) + "</table>")
    return "".join(parts)


def data_quality_section(stage_metrics: dict[str, dict]) -> str:
    """HTML: quarantine counts by reason, then each gate's verdict with links to its GX pages."""
    order = {"expectations-interactions": 0, "expectations-features": 1}  # data-flow order, then any other
    gates = [m for name, m in sorted(stage_metrics.items(), key=lambda kv: (order.get(kv[0], 2), kv[0]))
             if name.startswith("expectations-")]
    body = "".join(_gate(v) for v in gates) or "<p>no data-quality gate ran</p>"
    return f"<h2>Data quality</h2>{_quarantine(stage_metrics.get('ingest'))}{body}"
