"""Stage ``ingest`` (Spark): the date's raw logs -> the lake partition and its quarantine, then its gate.

Reads ``interactions.raw`` and the lake's other dates (for replays), writes the date's lake
partition and quarantine (``spark/ingest.py`` documents every reason and the lateness policy),
then validates what was written with the interactions suites. Anything that can be wrong in one
line costs that line (quarantined with its reason); only day-level expectations (volume,
duplicate share, quarantined share) fail the stage: ``DataQualityError`` naming the date, the
expectation, what was observed and the top quarantine reasons, after the counts are recorded.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Callable, TypedDict

from pyspark.sql import SparkSession

from generec_core.config import PipelineConfig
from generec_core.datasets import expectations as expectation_pages
from generec_core.datasets import catalog, interactions
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.expectations import gates, raise_on_failure
from generec_core.expectations.verdict import brief
from generec_core.spark.ingest import CleanDay, accepted_interval, clean_day, parse_date
from generec_core.spark_mirror import run_spark_stage, spark_for_stage


class IngestSummary(TypedDict, total=False):
    dt: str
    read: int  # == clean + quarantined + duplicates + duplicate_replays
    clean: int
    quarantined: int
    quarantine_by_reason: dict[str, int]
    duplicates: int
    duplicate_replays: int
    late_accepted: int
    audit: dict  # the gate's brief verdict


def run(config: PipelineConfig, date: str) -> IngestSummary:
    spark = spark_for_stage("ingest", config, date)
    assets = published_assets(config)  # listed at the real root: a mirrored run sees no catalog
    summary = run_spark_stage("ingest", config, date, lambda cfg: clean_interactions(
        spark, cfg, date, audit=lambda day: brief(check_interactions(spark, cfg, date, day)), assets=assets))
    raise_on_failure(summary["audit"], summary)
    return summary


def published_assets(config: PipelineConfig) -> list[str]:
    """The content addresses of every published asset: an impression's ``thumbnail_uri`` must be one."""
    layout = Layout.for_config(config)
    return sorted({catalog.asset_name(uri) or "" for uri in layout.store.list_uris(layout.assets)})


def clean_interactions(spark: SparkSession, config: PipelineConfig, date: str,
                       audit: Callable[[CleanDay], dict] | None = None, assets: list[str] | None = None
                       ) -> IngestSummary:
    """Clean one day of raw logs into the lake; the counts, plus ``audit`` = what ``audit(day)`` said.

    ``assets``: the published assets' content addresses (``published_assets``; listed here when None).
    Re-running a date overwrites that date's lake and quarantine partitions only.
    """
    parse_date(date)
    layout = Layout.for_config(config)
    lines = interactions.read_raw_lines(spark, layout, date)
    names = published_assets(config) if assets is None else assets
    known = spark.createDataFrame([(name,) for name in names], "asset string")
    with clean_day(lines, interactions.read_lake(spark, layout), date, config.ingest, known) as day:
        interactions.write_lake(day.clean, layout, date)
        interactions.write_quarantine(day.quarantined, layout, date)
        counts = dict(day.counts)
        if audit is not None:
            counts["audit"] = audit(day)
    return counts  # type: ignore[return-value]


def check_interactions(spark: SparkSession, config: PipelineConfig, date: str, day: CleanDay) -> dict:
    """Gate the date's lake partition (read back as written) and the day's shares; store pages and verdict."""
    layout, run_id = Layout.for_config(config), run_id_for(date)
    if not config.expectations.enabled:
        verdict, pages = gates.disabled(gates.INTERACTIONS, date), {}
    else:
        settings = config.expectations
        first = (parse_date(date) - timedelta(days=settings.volume_history_days)).isoformat()
        band, note = gates.volume_band(interactions.read_lake(spark, layout), date, first, settings)
        batches = gates.interactions_batches(interactions.read_lake(spark, layout, date), day.statuses, date,
                                             accepted_interval(date), band, settings)
        verdict, pages = gates.judge(gates.INTERACTIONS, date, run_id, batches, [] if band else [note],
                                     lambda suite: expectation_pages.page_key(layout, run_id, suite),
                                     [quarantine_context(day.counts)])
    expectation_pages.record_verdict(layout, run_id, verdict, pages, config.run.attempt)
    return verdict


def quarantine_context(counts: dict) -> str:
    """``quarantined 12 of 400 lines read (3.0%); top reasons: bad_json 7, implausible:watch_ms 5``."""
    read, quarantined = counts["read"], counts["quarantined"]
    share = f"{quarantined / read:.1%}" if read else "-"
    top = sorted(counts["quarantine_by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return (f"quarantined {quarantined} of {read} lines read ({share})"
            + ("; top reasons: " + ", ".join(f"{r} {n}" for r, n in top) if top else ""))
