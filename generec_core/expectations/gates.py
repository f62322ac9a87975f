"""The two data-quality gates of a nightly run: on the cleaned interactions and on the features.

Each gate builds its batches for the date as Spark DataFrames, validates each against its
suite (``suites``) with GX (``runner``), writes every rendered validation page to
``work/run=<id>/expectations/<suite>.html``, records the verdict in the run's metrics
(``expectations-<gate>``, read by the run report) and returns it. The caller decides what
a failure means (the pipeline raises ``DataQualityError`` before anything downstream runs).
"""

from __future__ import annotations

import math
from datetime import timedelta

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from generec_core import metrics
from generec_core.config import PipelineConfig
from generec_core.expectations import runner, suites
from generec_core.expectations.verdict import brief
from generec_core.layout import Layout, run_id_for
from generec_core.spark.ingest import accepted_interval, clean_interactions, parse_date, read_lake_interactions
from generec_core.spark.session import spark_path
from generec_core.storage import join, write_text

INTERACTIONS, FEATURES = "interactions", "features"


def page_key(root: str, run_id: str, suite: str) -> str:
    """Where a suite's rendered validation page lives, relative to the root."""
    return join(Layout(root).expectations(run_id), f"{suite}.html")[len(root) + 1:]


def _verdict(config: PipelineConfig, gate: str, date: str, batches: list, skipped: list[str]) -> dict:
    """Validate each (suite, DataFrame), render and store the pages, record and return the verdict."""
    run_id = run_id_for(date)
    digests = []
    for suite, frame in batches:
        result = runner.validate(suite, frame, run_name=run_id)
        digest = runner.summarise(suite.name, result)
        # relative to the root: the page is found the same way on a mirrored (local) and the real root
        digest["html"] = page_key(config.root, run_id, suite.name)
        write_text(join(config.root, digest["html"]), runner.render_html(result))
        digests.append(digest)
    failed = [r for d in digests for r in d["results"] if not r["success"]]
    verdict = {
        "gate": gate,
        "dt": date,
        "success": not any(r["severity"] == "critical" for r in failed),
        "critical_failures": [r["name"] for r in failed if r["severity"] == "critical"],
        "warnings": [r["name"] for r in failed if r["severity"] != "critical"],
        "skipped": skipped,
        "suites": digests,
    }
    metrics.record(config.root, run_id, f"expectations-{gate}", verdict)
    return verdict


def _disabled(config: PipelineConfig, gate: str, date: str) -> dict:
    verdict = {"gate": gate, "dt": date, "success": True, "critical_failures": [], "warnings": [],
               "skipped": ["all checks: expectations.enabled is false"], "suites": []}
    metrics.record(config.root, run_id_for(date), f"expectations-{gate}", verdict)
    return verdict


def volume_band(spark: SparkSession, config: PipelineConfig, date: str) -> tuple[tuple[int, int] | None, str]:
    """The allowed row-count range from the trailing days' clean partitions, or None and why not."""
    settings = config.expectations
    first = (parse_date(date) - timedelta(days=settings.volume_history_days)).isoformat()
    lake = read_lake_interactions(spark, config.root)
    counts = [] if lake is None else [
        r["count"] for r in lake.where((F.col("dt") >= first) & (F.col("dt") < date)).groupBy("dt").count().collect()]
    if len(counts) < settings.volume_min_history_days or not counts:
        return None, (f"volume band: {len(counts)} of the trailing {settings.volume_history_days} day(s) "
                      f"in the lake, {settings.volume_min_history_days} needed")
    mean = sum(counts) / len(counts)
    band = (math.floor(mean * (1 - settings.volume_band)), math.ceil(mean * (1 + settings.volume_band)))
    return band, f"volume band {band} from the mean {mean:.1f} of {len(counts)} day(s)"


def check_interactions(spark: SparkSession, config: PipelineConfig, date: str, accepted: DataFrame) -> dict:
    """Gate the date's lake partition (read back as written) and its accepted lines (duplicate rate)."""
    if not config.expectations.enabled:
        return _disabled(config, INTERACTIONS, date)
    written = spark.read.parquet(spark_path(Layout(config.root).lake_interactions(date)))
    band, note = volume_band(spark, config, date)
    lake_suite = suites.interactions_lake(date, accepted_interval(date), tuple(suites.LAKE_TYPES), band,
                                          config.expectations)
    batches = [(lake_suite, written), (suites.interactions_arrivals(config.expectations), accepted)]
    return _verdict(config, INTERACTIONS, date, batches, [] if band else [note])


def _taste_scalars(users: DataFrame) -> DataFrame:
    """GX has no array expectations: derive the taste's dimension, finiteness and norm as columns."""
    finite = F.forall("taste", lambda x: ~F.isnan(x) & (F.abs(x) < F.lit(float("inf"))))
    norm = F.sqrt(F.aggregate("taste", F.lit(0.0).cast("double"), lambda acc, x: acc + x.cast("double") * x))
    return users.select("*", F.size("taste").alias("taste_dim"), finite.alias("taste_finite"), norm.alias("taste_norm"))


def check_features(spark: SparkSession, config: PipelineConfig, date: str, dim: int) -> dict:
    """Gate the date's user features (dimension, finiteness, unit norms) and the run's worklist."""
    if not config.expectations.enabled:
        return _disabled(config, FEATURES, date)
    from generec_core.spark.features import USER_FEATURE_COLUMNS

    layout = Layout(config.root)
    users = _taste_scalars(spark.read.parquet(spark_path(layout.user_features(date))))
    has_taste = (F.col("taste_dim") == dim) & F.col("taste_finite")
    candidates = (spark.read.parquet(spark_path(layout.worklist(run_id_for(date))))
                  .join(users.select("user_id", has_taste.alias("has_taste")), "user_id", "left"))
    batches = [
        (suites.user_features(dim, config.features.clusters, USER_FEATURE_COLUMNS, config.expectations), users),
        (suites.worklist(config.features.shards), candidates),
    ]
    return _verdict(config, FEATURES, date, batches, [])


def audited_ingest(spark: SparkSession, config: PipelineConfig, date: str) -> dict:
    """The ingest with its gate: the counts, plus ``audit`` = the brief verdict on what was written."""
    return clean_interactions(spark, config, date,
                              audit=lambda accepted: brief(check_interactions(spark, config, date, accepted)))


def audited_features(spark: SparkSession, config: PipelineConfig, date: str, frames: pa.Table) -> dict:
    """The features build with its gate: the counts, plus ``audit`` = the brief verdict on what was written."""
    from generec_core.spark.features import build_user_features

    counts = build_user_features(spark, config, date, frames)
    return {**counts, "audit": brief(check_features(spark, config, date, counts["dim"]))}
