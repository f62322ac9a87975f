"""Dataset ``interactions``: raw logs (input contract), the cleaned lake, and the lines quarantined.

- ``raw/interactions/dt=<d>/*.jsonl``: one JSON event per line as upstream wrote it;
- ``lake/interactions/dt=<d>/``: typed, deduplicated events (Spark folder, ``LAKE_COLUMNS``);
  ``dt`` says when we learned of an event, ``ts`` when it happened (``spark/ingest.py``);
- ``lake/quarantine/interactions/dt=<d>/``: rejected lines verbatim with one reason each.

Spark reads and writes the big side; the pipeline's Python stages read what they need of the
lake (likes, skips) with pyarrow, point in time: partitions ``dt <= date`` only.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from generec_core.datasets.layout import Layout, partition_date
from generec_core.datasets.spark_io import read_folder, replace_folder
from generec_core.storage import is_missing, parquet_from_bytes

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

EVENT_TYPES: tuple[str, ...] = ("impression", "click", "like", "share", "skip", "watch")
# contract v2 added thumbnail_uri + propensity (impressions) and impression_id (what a click, like or
# watch follows); v1 partitions read them as null
LAKE_COLUMNS: tuple[str, ...] = ("event_id", "user_id", "item_id", "event_type", "ts", "watch_ms",
                                 "thumbnail_uri", "propensity", "impression_id", "dt")
QUARANTINE_COLUMNS: tuple[str, ...] = ("line", "line_bytes", "reason", "dt")
FEEDBACK_EVENTS: tuple[str, ...] = ("like", "skip")


def lake_schema() -> "StructType":
    """The lake's explicit Spark schema: ``dt`` stays a string (partition inference would make it a
    date) and filters on ``dt`` prune partitions."""
    from pyspark.sql import types as T

    return T.StructType([
        T.StructField("event_id", T.StringType()),
        T.StructField("user_id", T.StringType()),
        T.StructField("item_id", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("ts", T.TimestampType()),
        T.StructField("watch_ms", T.LongType()),
        T.StructField("thumbnail_uri", T.StringType()),
        T.StructField("propensity", T.DoubleType()),
        T.StructField("impression_id", T.StringType()),
        T.StructField("dt", T.StringType()),
    ])


# --- Spark side ------------------------------------------------------------------------------

def read_raw_lines(spark: "SparkSession", layout: Layout, date: str) -> "DataFrame":
    """The date's raw log lines (column ``value``), whitespace-only lines dropped."""
    from pyspark.sql import functions as F

    from generec_core.spark.session import spark_path

    raw = layout.raw_interactions(date)
    files = layout.store.list_uris(raw, ".jsonl")
    if not files:
        raise FileNotFoundError(f"no interaction logs (*.jsonl) at {raw}")
    lines = spark.read.text([spark_path(f) for f in files])
    return lines.where(F.trim(F.col("value")) != "")


def read_lake(spark: "SparkSession", layout: Layout, date: str | None = None) -> "DataFrame | None":
    """Every cleaned partition (or one date's, as written) with the lake's schema; None while the lake is empty."""
    if date is not None:
        return read_folder(spark, layout.lake_interactions(date))
    lake = layout.lake_interactions()
    if not layout.store.list_uris(lake, ".parquet"):
        return None
    return read_folder(spark, lake, lake_schema())


def write_lake(clean: "DataFrame", layout: Layout, date: str) -> None:
    replace_folder(clean, layout.lake_interactions(date), LAKE_COLUMNS, "interactions lake")


def write_quarantine(quarantined: "DataFrame", layout: Layout, date: str) -> None:
    replace_folder(quarantined, layout.quarantine("interactions", date), QUARANTINE_COLUMNS, "interactions quarantine")


# --- pyarrow side: what the Python stages read -------------------------------------------------

def likes_and_skips(layout: Layout, date: str,
                    users: set[str]) -> tuple[dict[str, set[str]], dict[tuple[str, str], int]]:
    """Items each of ``users`` liked, and skips per (user, item), in lake partitions up to ``date``."""
    likes: dict[str, set[str]] = {u: set() for u in users}
    skips: dict[tuple[str, str], int] = {}
    if not users:
        return likes, skips
    wanted = pa.array(sorted(users), pa.string())
    for uri in layout.store.list_uris(layout.lake_interactions(), ".parquet"):
        day = partition_date(uri)
        if day is None or day > date:
            continue
        table = parquet_from_bytes(layout.store.read_bytes(uri), columns=["user_id", "item_id", "event_type"])
        table = table.filter(pc.and_(pc.is_in(table["event_type"], value_set=pa.array(list(FEEDBACK_EVENTS))),
                                     pc.is_in(table["user_id"], value_set=wanted)))
        for user, item, event in zip(*(table[c].to_pylist() for c in ("user_id", "item_id", "event_type"))):
            if event == "like":
                likes[user].add(item)
            else:
                skips[(user, item)] = skips.get((user, item), 0) + 1
    return likes, skips


def feedback_events(layout: Layout, date: str, days: int) -> list[tuple[str, str, str]]:
    """(user, item, event_type) of likes and skips in the ``days`` partitions up to ``date``, sorted."""
    end = dt.date.fromisoformat(date)
    events: list[tuple[str, str, str]] = []
    for k in range(max(days, 0)):
        day = (end - dt.timedelta(days=k)).isoformat()
        try:
            table = layout.store.read_parquet(layout.lake_interactions(day), ["user_id", "item_id", "event_type"])
        except Exception as exc:  # noqa: BLE001 -- a missing partition is normal, anything else is not
            if is_missing(exc):
                continue
            raise
        events.extend(zip(*(table.column(c).to_pylist() for c in ("user_id", "item_id", "event_type"))))
    return sorted((u, i, e) for u, i, e in events if u and i and e in FEEDBACK_EVENTS)


SERVED_COLUMNS: tuple[str, ...] = ("event_id", "user_id", "item_id", "event_type", "thumbnail_uri", "propensity",
                                   "impression_id")


def served_impressions(layout: Layout, date: str) -> tuple[list[dict], set[str]]:
    """The date's contract v2 impressions (``thumbnail_uri`` and ``propensity`` set), and the ids of those a
    click of the same date names. None of either in a v1 partition."""
    try:
        table = layout.store.read_parquet(layout.lake_interactions(date))
    except Exception as exc:  # noqa: BLE001 -- a missing partition is normal, anything else is not
        if is_missing(exc):
            return [], set()
        raise
    if not set(SERVED_COLUMNS) <= set(table.column_names):
        return [], set()
    rows = table.select(list(SERVED_COLUMNS)).to_pylist()
    shown = [r for r in rows if r["event_type"] == "impression" and r["thumbnail_uri"] and r["propensity"]]
    clicked = {r["impression_id"] for r in rows if r["event_type"] == "click" and r["impression_id"]}
    return shown, clicked
