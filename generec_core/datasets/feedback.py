"""Dataset ``thumbnail_feedback``: impressions and clicks per (taste cluster, thumbnail asset), per date.

``features/thumbnail_feedback/dt=<date>/`` (Spark folder, ``FEEDBACK_COLUMNS``), written by the features
stage (``spark/feedback.py``) and read by the gate, whose candidate bandit ranks each row's thumbnails
with it (``editor/bandit.py``). Empty when the logs carry no contract v2 impressions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generec_core.datasets.layout import Layout
from generec_core.datasets.spark_io import replace_folder
from generec_core.storage import ObjectNotFound

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

FEEDBACK_COLUMNS: tuple[str, ...] = ("cluster", "asset", "impressions", "clicks")


def write_feedback(feedback: "DataFrame", layout: Layout, date: str) -> None:
    replace_folder(feedback, layout.thumbnail_feedback(date), FEEDBACK_COLUMNS, "thumbnail feedback")


def read_feedback(layout: Layout, date: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(cluster, asset content address) -> (impressions, clicks); empty before any v2 impression was logged."""
    try:
        table = layout.store.read_parquet(layout.thumbnail_feedback(date))
    except (ObjectNotFound, FileNotFoundError):
        return {}
    if table.num_rows == 0:
        return {}
    return {(str(c), a): (int(n), int(k)) for c, a, n, k in zip(*(table[col].to_pylist() for col in FEEDBACK_COLUMNS))}
