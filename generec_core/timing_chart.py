"""The run report's timing chart: one horizontal bar per stage (per shard of a per-shard stage), in run order.

Top to bottom is the order the pipeline runs (``run_overview.stage_timings``), so the slow step is
found where it happens, not in an alphabetical list. A PNG from matplotlib's object API (no pyplot
global state), embedded in the page as a data: URI so the report stays one self-contained file.
"""

from __future__ import annotations

import io

from generec_core.run_overview import StageTiming

BAR_HEIGHT_IN = 0.28  # inches per bar: the figure grows with the number of shards
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def timing_chart(timings: list[StageTiming]) -> bytes:
    """PNG bytes: seconds per stage, the first stage on top; a stage's shards share its colour."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.0, 1.0 + BAR_HEIGHT_IN * len(timings)), dpi=100)
    axes = figure.subplots()
    stages = list(dict.fromkeys(t.stage for t in timings))
    colours = [_COLOURS[stages.index(t.stage) % len(_COLOURS)] for t in timings]
    y = list(range(len(timings)))
    bars = axes.barh(y, [t.seconds for t in timings], color=colours)
    axes.bar_label(bars, labels=[f"{t.seconds:.1f} s" for t in timings], padding=3, fontsize=8)
    axes.set_yticks(y, [t.label for t in timings], fontsize=8)
    axes.invert_yaxis()  # run order reads top to bottom
    axes.set_xlabel("wall time (seconds)")
    axes.margins(x=0.15)
    axes.grid(axis="x", alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()
