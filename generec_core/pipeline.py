"""The nightly pipeline's stages, by name, in data-flow order — the library's table of contents.

raw logs -> ingest -> (frames) -> features -> personalise (per shard) -> gate -> publish -> report

Each function takes the typed config and the logical date and returns a small JSON-able
summary. The Airflow DAG and the ``jobs/`` entrypoints call exactly these, so a stage
behaves the same whether Airflow, spark-submit or a test runs it.
"""

from __future__ import annotations

from typing import Callable

from generec_core import metrics
from generec_core.config import PipelineConfig
from generec_core.layout import Layout, run_id_for
from generec_core.storage import read_parquet

STAGES: tuple[str, ...] = ("ingest", "frames", "features", "personalise", "gate", "publish", "report")


def parse_stages(text: str | list[str] | None) -> list[str]:
    """``"ingest,frames"`` or a list -> validated stage names (all stages when empty)."""
    if not text:
        return list(STAGES)
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = [s for s in names if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; valid stages: {', '.join(STAGES)}")
    return names


def _recorded(stage: str, config: PipelineConfig, date: str, work: Callable[[], dict]) -> dict:
    """Run a stage and keep its summary and wall time in the run's metrics for the report."""
    with metrics.timed() as clock:
        summary = work()
    summary = {**summary, "seconds": clock["seconds"]}
    metrics.record(config.root, run_id_for(date), stage, summary)
    return summary


def ingest(config: PipelineConfig, date: str) -> dict:
    """Spark: raw interaction logs of the date -> cleaned lake partition + quarantine."""
    from generec_core.spark.ingest import clean_interactions
    from generec_core.spark.session import get_spark

    spark = get_spark(config.features.spark_master, "generec-ingest", config.features.shuffle_partitions)
    return _recorded("ingest", config, date, lambda: clean_interactions(spark, config, date))


def frames(config: PipelineConfig, date: str) -> dict:
    """Decode, sample and embed frames of items not embedded yet with the configured encoder."""
    from generec_core.stages.frames import embed_items

    return _recorded("frames", config, date, lambda: embed_items(config))


def features(config: PipelineConfig, date: str) -> dict:
    """Spark: user taste vectors, candidates and the sharded worklist for the date."""
    from generec_core.spark.features import build_user_features
    from generec_core.spark.session import get_spark
    from generec_core.stages.frames import load_frame_embeddings

    spark = get_spark(config.features.spark_master, "generec-features", config.features.shuffle_partitions)
    return _recorded("features", config, date,
                     lambda: build_user_features(spark, config, date, load_frame_embeddings(config)))


def shards_to_run(config: PipelineConfig, date: str) -> list[int]:
    """The shards of the worklist that hold work (the fan-out of the personalise stage)."""
    worklist = read_parquet(Layout(config.root).worklist(run_id_for(date)))
    return sorted(set(worklist.column("shard").to_pylist()))


def personalise(config: PipelineConfig, date: str, shard: int) -> dict:
    """AI editor on one shard: thumbnail + clip selection, staged in the audit zone."""
    from generec_core.stages.personalise import personalise_shard

    return _recorded(f"personalise-shard-{shard}", config, date, lambda: personalise_shard(config, date, shard))


def gate(config: PipelineConfig, date: str) -> dict:
    """Fidelity gate over everything the run staged; raises GateFailed below the pass-rate floor."""
    from generec_core.stages.gate import run_gate

    return run_gate(config, date)


def publish(config: PipelineConfig, date: str) -> dict:
    """Content-addressed assets, then the date's manifest, then the CURRENT pointer."""
    from generec_core.stages.publish import publish as publish_run

    return _recorded("publish", config, date, lambda: publish_run(config, date))


def report(config: PipelineConfig, date: str) -> dict:
    """Static HTML run report from the recorded metrics and the published manifest."""
    from generec_core.stages.report import build_report

    return {"report": build_report(config, date)}
