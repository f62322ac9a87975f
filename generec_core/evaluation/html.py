"""The evaluation's section of the run report (``stages/report.py`` embeds it).

The markup is ``generec_core/templates/evaluation.html.j2``; this module prepares its data.
"""

from __future__ import annotations

from generec_core.evaluation.summary import items_per_user, sections
from generec_core.templates import render

_PLANTED = (("random_frame", "random frame"), ("original_cover", "original cover"), ("ours", "ours (published)"),
            ("reference", "paper reference"), ("attainable", "attainable (item shows a favourite at all)"))
_PLANTED_CLIPS = (("clip_first", "first clip"), ("clip_unclipped", "unclipped video"), ("clip_ours", "ours (published)"))


def evaluation_section(summary: dict | None) -> str:
    """Cosine@K in the paper's table form and the planted-taste shares (``summary``: None when the run
    was not evaluated), as an HTML fragment."""
    return render("evaluation.html.j2", evaluation=None if summary is None else _evaluation(summary))


def _evaluation(summary: dict) -> dict:
    """The stored summary reshaped for the template: one list of Cosine@K values per method, shares per label."""
    ks = summary["ks"]
    tables = [{"name": name, "rows": [{"method": row["method"], "cosine": [row[f"cosine@{k}"] for k in ks],
                                       "paper": row["paper_cosine@5"]} for row in rows]}
              for name, rows in sections(summary)]
    planted = summary.get("planted")
    if planted:
        planted = {"pairs": planted["pairs"], "thumbnail": [(label, planted.get(key)) for key, label in _PLANTED],
                   "clip": [(label, planted.get(key)) for key, label in _PLANTED_CLIPS]}
    return {"users_evaluated": summary["users_evaluated"], "users_without_history": summary["users_without_history"],
            "pairs": summary["pairs"], "items_per_user": items_per_user(summary), "ks": ks, "sections": tables,
            "planted": planted or None, "created": summary.get("created")}
