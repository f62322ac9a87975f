"""What each taste group did with each thumbnail it was shown: the evidence the candidate bandit learns from.

From the lake (contract v2): impressions that say which catalog asset they showed, and the clicks
that name the impression they follow. Per (taste cluster of the user today, asset content address):
``impressions`` and ``clicks`` (distinct impressions clicked) over the ``days`` partitions up to the
date. Clusters, not users: a thumbnail's evidence is shared by everyone of the same taste, which is
what makes a few nights of logs enough to learn from (the same grouping generation uses).
"""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from generec_core.datasets.feedback import FEEDBACK_COLUMNS
from generec_core.spark.ingest import parse_date


def thumbnail_feedback(lake: DataFrame, users: DataFrame, date: str, days: int) -> DataFrame:
    """``FEEDBACK_COLUMNS`` per (cluster, asset) from the lake's last ``days`` partitions up to ``date``."""
    first = (parse_date(date) - timedelta(days=days - 1)).isoformat()
    window = lake.where((F.col("dt") >= first) & (F.col("dt") <= date))
    shown = (window.where((F.col("event_type") == "impression") & F.col("thumbnail_uri").isNotNull())
             .select(F.col("event_id").alias("impression_id"), "user_id",
                     F.regexp_extract(F.col("thumbnail_uri"), r"([^/]+)$", 1).alias("asset")))
    clicked = (window.where((F.col("event_type") == "click") & F.col("impression_id").isNotNull())
               .select("impression_id").distinct().withColumn("clicked", F.lit(1)))
    clusters = users.select("user_id", F.col("cluster").cast("int").alias("cluster"))
    return (shown.join(clicked, "impression_id", "left").join(clusters, "user_id")
            .groupBy("cluster", "asset")
            .agg(F.count(F.lit(1)).alias("impressions"), F.sum(F.coalesce("clicked", F.lit(0))).alias("clicks"))
            .select(*FEEDBACK_COLUMNS).repartition("cluster").sortWithinPartitions("cluster", "asset"))
