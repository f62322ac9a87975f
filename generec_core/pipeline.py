"""The nightly pipeline's stages, by name, in data-flow order — the library's table of contents.

raw logs -> ingest -> (instruct, frames) -> features -> personalise (per shard) -> generate (per shard)
-> gate -> publish -> evaluate -> report

Each function takes the typed config and the logical date and returns a small JSON-able
summary. The Airflow DAG and the ``jobs/`` entrypoints call exactly these, so a stage
behaves the same whether Airflow, spark-submit or a test runs it.
"""

from __future__ import annotations

from typing import Callable

from generec_core import metrics, storage
from generec_core.config import PipelineConfig
from generec_core.layout import Layout, run_id_for
from generec_core.storage import read_parquet

STAGES: tuple[str, ...] = ("ingest", "instruct", "frames", "features", "personalise", "generate", "gate", "publish",
                           "evaluate", "report")


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
    storage.configure(config.storage)
    with metrics.timed() as clock:
        summary = work()
    summary = {**summary, "seconds": clock["seconds"]}
    metrics.record(config.root, run_id_for(date), stage, summary)
    return summary


def ingest(config: PipelineConfig, date: str) -> dict:
    """Spark: raw interaction logs of the date -> cleaned lake partition + quarantine, then its GX gate.

    Raises ``DataQualityError`` (after recording the counts) when a critical expectation failed.
    """
    from generec_core.expectations import raise_on_failure
    from generec_core.expectations.gates import audited_ingest
    from generec_core.spark.session import get_spark
    from generec_core.spark_mirror import run_spark_stage

    spark = get_spark(config.features.spark_master, "generec-ingest", config.features.shuffle_partitions)
    summary = _recorded("ingest", config, date, lambda: run_spark_stage(
        "ingest", config, date, lambda cfg: audited_ingest(spark, cfg, date)))
    raise_on_failure(summary["audit"])
    return summary


def instruct(config: PipelineConfig, date: str) -> dict:
    """Instructor: users' instructions (all up to the date) + feedback -> one guidance record per user."""
    from generec_core.stages.instruct import build_guidance

    return _recorded("instruct", config, date, lambda: build_guidance(config, date))


def frames(config: PipelineConfig, date: str) -> dict:
    """Decode, sample and embed frames of items not embedded yet with the configured encoder."""
    from generec_core.stages.frames import embed_items

    return _recorded("frames", config, date, lambda: embed_items(config))


def features(config: PipelineConfig, date: str) -> dict:
    """Spark: user taste vectors, clusters, candidates and the sharded worklist for the date, then its GX gate.

    Raises ``DataQualityError`` (after recording the counts) when a critical expectation failed.
    """
    from generec_core.expectations import raise_on_failure
    from generec_core.expectations.gates import audited_features
    from generec_core.spark.session import get_spark
    from generec_core.spark_mirror import run_spark_stage
    from generec_core.stages.frames import load_frame_embeddings

    spark = get_spark(config.features.spark_master, "generec-features", config.features.shuffle_partitions)
    summary = _recorded("features", config, date, lambda: run_spark_stage(
        "features", config, date, lambda cfg: audited_features(spark, cfg, date, load_frame_embeddings(config))))
    raise_on_failure(summary["audit"])
    return summary


def shards_to_run(config: PipelineConfig, date: str) -> list[int]:
    """The shards of the worklist that hold work (the fan-out of the personalise stage)."""
    storage.configure(config.storage)
    worklist = read_parquet(Layout(config.root).worklist(run_id_for(date)))
    return sorted(set(worklist.column("shard").to_pylist()))


def personalise(config: PipelineConfig, date: str, shard: int) -> dict:
    """AI editor on one shard: thumbnail + clip selection, staged in the audit zone."""
    from generec_core.stages.personalise import personalise_shard

    return _recorded(f"personalise-shard-{shard}", config, date, lambda: personalise_shard(config, date, shard))


def generate(config: PipelineConfig, date: str, shard: int) -> dict:
    """AI editor on one shard: personalised thumbnails generated from the selected frames (GPU task)."""
    from generec_core.stages.generate import generate_shard

    return _recorded(f"generate-shard-{shard}", config, date, lambda: generate_shard(config, date, shard))


def gate(config: PipelineConfig, date: str) -> dict:
    """Fidelity gate over everything the run staged; raises GateFailed below the pass-rate floor."""
    from generec_core.stages.gate import run_gate

    storage.configure(config.storage)
    return run_gate(config, date)


def publish(config: PipelineConfig, date: str) -> dict:
    """Content-addressed assets, then the date's manifest, then the CURRENT pointer."""
    from generec_core.stages.publish import publish as publish_run

    if config.run.dry_run:  # a dry run audits everything and leaves the catalog untouched
        return _recorded("publish", config, date, lambda: {"dry_run": True, "published": False})
    return _recorded("publish", config, date, lambda: publish_run(config, date))


def evaluate(config: PipelineConfig, date: str) -> dict:
    """Cosine@K (paper's table) and the demo's planted-taste share of the published run."""
    from generec_core.evaluation.run import evaluate as evaluate_run

    def work() -> dict:
        summary = evaluate_run(config, date)
        if summary.get("skipped"):
            return {"skipped": summary["skipped"]}
        brief = {f"cosine@5 {row['method']}": row["cosine@5"] for row in summary["thumbnail"] + summary["clip"]}
        planted = summary.get("planted") or {}
        brief.update({f"planted {k}": v for k, v in planted.items() if k in ("ours", "random_frame", "pairs")})
        return {"users_evaluated": summary["users_evaluated"], **brief}

    return _recorded("evaluate", config, date, work)


def report(config: PipelineConfig, date: str) -> dict:
    """Static HTML run report from the recorded metrics and the published manifest."""
    from generec_core.stages.report import build_report

    storage.configure(config.storage)
    return {"report": build_report(config, date)}
