"""The evaluation's section of the run report (``stages/report.py`` embeds it)."""

from __future__ import annotations

import html

from generec_core.evaluation.run import items_per_user, load_evaluation
from generec_core.layout import Layout

_PLANTED = (("random_frame", "random frame"), ("original_cover", "original cover"), ("ours", "ours (published)"),
            ("reference", "paper reference"), ("attainable", "attainable (item shows a favourite at all)"))
_PLANTED_CLIPS = (("clip_first", "first clip"), ("clip_unclipped", "unclipped video"), ("clip_ours", "ours (published)"))


def evaluation_section(layout: Layout, run_id: str) -> str:
    """Cosine@K in the paper's table form and the planted-taste shares, as an HTML fragment."""
    summary = load_evaluation(layout, run_id)
    if summary is None:
        return "<h2>Evaluation</h2><p>not evaluated (the evaluate stage did not run)</p>"
    esc = html.escape
    ks = summary["ks"]
    out = ["<h2>Evaluation: Cosine@K</h2>",
           f"<p>{summary['users_evaluated']} users with liked covers ({summary['users_without_history']} without, "
           f"left out), {summary['pairs']} (user, item) pairs; {items_per_user(summary)}. "
           "Paper values: their data and CLIP encoder; compare orderings, not values.</p>",
           "<table><tr><th>method</th>" + "".join(f"<th>Cosine@{k}</th>" for k in ks) + "<th>paper Cosine@5</th></tr>"]
    for section in ("thumbnail", "clip"):
        out.append(f"<tr><th colspan='{len(ks) + 2}'>{section}</th></tr>")
        for row in summary[section]:
            cells = "".join(f"<td>{_fmt(row[f'cosine@{k}'])}</td>" for k in ks)
            out.append(f"<tr><td>{esc(row['method'])}</td>{cells}<td>{_fmt(row['paper_cosine@5'])}</td></tr>")
    out.append("</table>")
    planted = summary.get("planted")
    if planted:
        out.append(f"<h3>Planted taste (demo truth, {planted['pairs']} pairs)</h3>"
                   "<table><tr><th>thumbnail shows a favourite category</th><th>share</th></tr>")
        out += [f"<tr><td>{label}</td><td>{_fmt(planted.get(key))}</td></tr>" for key, label in _PLANTED]
        out.append("<tr><th>clip frames showing a favourite</th><th>share</th></tr>")
        out += [f"<tr><td>{label}</td><td>{_fmt(planted.get(key))}</td></tr>" for key, label in _PLANTED_CLIPS]
        out.append("</table>")
    return "\n".join(out)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
