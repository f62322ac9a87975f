"""The nightly pipeline's table of contents: run any stage by name, and record what it did.

The stages, their order and their edges are data in ``stage_graph``; each lives in
``generec_core/stages/<name>.py`` with a ``run(config, date[, shard])`` that reads datasets,
calls domain code, writes datasets and returns a summary. This is the only module that
imports stages, lazily by name, so that parsing the DAG loads neither Spark nor torch. The
Airflow DAG, the ``jobs/`` entrypoints and the tests all run stages through ``run_stage``,
so a stage behaves the same whoever runs it.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from generec_core.config import PipelineConfig
from generec_core.datasets import metrics
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.users import worklist_shards
from generec_core.expectations.verdict import DataQualityError
from generec_core.stage_graph import BY_NAME, FAN_OUTS, parse_stages

__all__ = ["parse_stages", "run_stage", "shards_to_run"]


def run_stage(name: str, config: PipelineConfig, date: str, shard: int | None = None) -> dict[str, Any]:
    """Run one stage (one shard of a per-shard stage) for the logical date; its summary, also kept in the
    run's metrics with the wall time (under ``<stage>-shard-<n>`` for a shard), even when it fails a verdict."""
    stage = BY_NAME[name]
    if stage.per_shard != (shard is not None):
        raise ValueError(f"stage {name!r} {'needs' if stage.per_shard else 'takes no'} shard (got {shard!r})")
    work = importlib.import_module(stage.module).run
    layout, run_id = Layout.for_config(config), run_id_for(date)
    key = name if shard is None else f"{name}-shard-{shard}"
    started, attempt = time.perf_counter(), config.run.attempt
    try:
        summary = work(config, date) if shard is None else work(config, date, shard)
    except DataQualityError as exc:
        if exc.summary is not None:
            metrics.record(layout, run_id, key, {**exc.summary, "seconds": _since(started)}, attempt)
        raise
    summary = {**summary, "seconds": _since(started)}
    if not stage.always:  # the report records nothing: it is what reads the records
        metrics.record(layout, run_id, key, summary, attempt)
    return summary


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def shards_to_run(config: PipelineConfig, date: str, fan_out: str = "worklist") -> list[int]:
    """The shards a fan-out (``stage_graph.FAN_OUTS``) maps its stages over: the worklist's shards that hold
    work; every item shard (``frames.shards``) and every asset shard (``gate.shards``), known before the data."""
    if fan_out == "worklist":
        return worklist_shards(Layout.for_config(config), run_id_for(date))
    if fan_out == "items":
        return list(range(config.frames.shards))
    if fan_out == "assets":
        return list(range(config.gate.shards))
    raise ValueError(f"unknown fan-out {fan_out!r}; known: {', '.join(FAN_OUTS)}")
