"""Stage ``features`` (Spark): user tastes (and their weights), clusters, candidates and the worklist, then its gate.

Reads the lake (every partition up to the date: point in time) and the items' vectors (cover and
mean of frames, ``datasets.item_vectors``: two per item, never every frame), writes the date's
user features and the run's worklist (``spark/features.py`` documents the formulas), then
validates them with the features suites. A failed critical expectation raises
``DataQualityError`` after the counts are recorded.
"""

from __future__ import annotations

from typing import TypedDict

import pyarrow as pa
from pyspark.sql import SparkSession

from generec_core.config import PipelineConfig
from generec_core.datasets import expectations as expectation_pages
from generec_core.datasets import feedback, interactions, users
from generec_core.datasets.item_vectors import load_item_vectors
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.expectations import gates, raise_on_failure
from generec_core.expectations.verdict import brief
from generec_core.spark.feedback import thumbnail_feedback
from generec_core.spark.features import user_features
from generec_core.spark.ingest import parse_date
from generec_core.spark_mirror import run_spark_stage, spark_for_stage


class FeaturesSummary(TypedDict, total=False):
    dt: str
    taste_mode: str
    dim: int
    users: int
    cold_users: int
    clusters: int
    worklist_rows: int
    rows_per_shard: dict[str, int]
    rows_per_retriever: dict[str, int]
    audit: dict


def run(config: PipelineConfig, date: str) -> FeaturesSummary:
    spark = spark_for_stage("features", config, date)
    vectors = load_item_vectors(config)  # on the real root: not mirrored

    def work(cfg: PipelineConfig) -> dict:
        counts = build_user_features(spark, cfg, date, vectors)
        return {**counts, "audit": brief(check_features(spark, cfg, date, counts["dim"]))}

    summary = run_spark_stage("features", config, date, work)
    raise_on_failure(summary["audit"], summary)
    return summary  # type: ignore[return-value]


def build_user_features(spark: SparkSession, config: PipelineConfig, date: str, vectors: pa.Table) -> FeaturesSummary:
    """Write ``features/users/dt=<date>`` and the run's worklist; return the counts. ``vectors``: the items'
    vectors (``load_item_vectors``), or frame rows (tests and benchmarks build those directly)."""
    parse_date(date)
    layout = Layout.for_config(config)
    lake = interactions.read_lake(spark, layout)
    if lake is None:
        raise FileNotFoundError(f"no cleaned interactions at {layout.lake_interactions()}: run the ingest first")
    with user_features(spark, lake, vectors, config.features, date) as result:
        users.write_user_features(result.users, layout, date)
        users.write_taste_weights(result.taste_weights, layout, date)
        users.write_worklist(result.worklist, layout, run_id_for(date))
        feedback.write_feedback(thumbnail_feedback(lake, result.users, date, config.features.feedback_days),
                                layout, date)
    return result.counts  # type: ignore[return-value]


def check_features(spark: SparkSession, config: PipelineConfig, date: str, dim: int) -> dict:
    """Gate the date's user features and the run's worklist; store pages and verdict."""
    layout, run_id = Layout.for_config(config), run_id_for(date)
    if not config.expectations.enabled:
        verdict, pages = gates.disabled(gates.FEATURES, date), {}
    else:
        batches = gates.features_batches(users.spark_user_features(spark, layout, date),
                                         users.spark_worklist(spark, layout, run_id), dim,
                                         config.features.clusters, config.features.shards, config.expectations)
        verdict, pages = gates.judge(gates.FEATURES, date, run_id, batches, [],
                                     lambda suite: expectation_pages.page_key(layout, run_id, suite))
    expectation_pages.record_verdict(layout, run_id, verdict, pages, config.run.attempt)
    return verdict
