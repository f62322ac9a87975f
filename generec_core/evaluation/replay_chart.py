"""The run report's chart of learning from clicks: take rate per night, replay estimate vs truth, per policy.

One line per thumbnail policy: the doubly robust replay estimate of each night's logs with its 95%
interval (``evaluation/replay.py``), and, dashed, the simulated audience's true take rate where the
root holds one (``demo/simulator.py``). A PNG from matplotlib's object API (no pyplot global state).
"""

from __future__ import annotations

import io

from generec_core.evaluation.replay import POLICIES

_COLOURS = {"logging": "#555555", "top": "#1f77b4", "original": "#ff7f0e", "uniform": "#2ca02c", "learned": "#d62728"}


def take_rate_chart(nights: list[dict], truths: dict[str, dict]) -> bytes:
    """PNG bytes; ``nights``: replay summaries (``replay`` sections) in date order; ``truths``: date -> truth."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.5, 3.8), dpi=100)
    axes = figure.subplots()
    dates = [night["date"] for night in nights]
    x = list(range(len(dates)))
    for offset, name in enumerate(POLICIES):
        shifted = [v + (offset - 2) * 0.04 for v in x]  # side by side: the intervals stay readable
        estimates = [night["policies"].get(name) or {} for night in nights]
        dr = [e.get("dr") for e in estimates]
        if any(v is not None for v in dr):
            low = [v - e["ci95"][0] if v is not None else 0 for v, e in zip(dr, estimates)]
            high = [e["ci95"][1] - v if v is not None else 0 for v, e in zip(dr, estimates)]
            axes.errorbar(shifted, [v if v is not None else float("nan") for v in dr], yerr=[low, high], marker="o",
                          capsize=3, color=_COLOURS[name], label=f"{name}: replay (DR, 95% CI)")
        true = [truths.get(d, {}).get("true_take_rate", {}).get(name) for d in dates]
        if any(v is not None for v in true):
            axes.plot(shifted, [v if v is not None else float("nan") for v in true], linestyle="--", marker="x",
                      color=_COLOURS[name], label=f"{name}: true (simulated audience)")
    axes.set_xticks(x, dates)
    axes.set_xlabel("night (date of the logs)")
    axes.set_ylabel("take rate (clicks / impressions)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()
