"""Spark job: clean one day of raw interaction logs into the lake, then run its data-quality gate.

    spark-submit --master yarn jobs/ingest_interactions.py --root s3://bucket/generec --date 2026-11-20
    python -m jobs.ingest_interactions --root file:///var/lib/generec --date 2026-11-20 --master 'local[2]'

The same stage function as the DAG's in-process task (``pipeline.run_stage("ingest", ...)``).
Prints the counts (read, clean, quarantined by reason, duplicates, the gate's verdict) as
JSON on stdout; exits 1 when a critical expectation failed (nothing downstream may run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys

from generec_core import pipeline
from generec_core.config import PipelineConfig, normalise_root
from generec_core.expectations import DataQualityError
from generec_core.spark.ingest import parse_date
from jobs.process_exit import exit_with_status_of


def parse_args(argv: list[str] | None = None, description: str = __doc__) -> argparse.Namespace:
    """The arguments every Spark job shares: where the data is, which logical date, which cluster."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--root", required=True, help="storage root URI (file:///... or s3://bucket/prefix)")
    parser.add_argument("--date", required=True, help="logical date YYYY-MM-DD")
    parser.add_argument("--master", default=None,
                        help="Spark master, e.g. local[2] or yarn (default: spark-submit's --master when "
                             "launched by spark-submit, else config.features.spark_master)")
    parser.add_argument("--config", default="{}",
                        help="JSON of PipelineConfig overrides, e.g. '{\"features\": {\"top_k\": 10}}'")
    args = parser.parse_args(argv)
    try:
        parse_date(args.date)
        json.loads(args.config)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def build_config(args: argparse.Namespace) -> PipelineConfig:
    """Config from the overrides and the root; the master from --master or whoever launched us."""
    config = PipelineConfig.from_dict({**json.loads(args.config), "root": normalise_root(args.root)})
    master = args.master
    if master is None and os.environ.get("PYSPARK_GATEWAY_PORT"):
        master = ""  # launched by spark-submit: its --master (and deploy mode) rule, see get_spark
    if master is not None:
        config = dataclasses.replace(config, features=dataclasses.replace(config.features, spark_master=master))
    return config


def run_stage(stage: str, argv: list[str] | None, description: str) -> int:
    """Parse, run the pipeline stage, print its summary; 1 (and the failing expectations) on a failed gate."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv, description)
    try:
        summary = pipeline.run_stage(stage, build_config(args), args.date)
    except DataQualityError as exc:
        print(json.dumps(exc.verdict, sort_keys=True, default=str))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_stage("ingest", argv, __doc__)


if __name__ == "__main__":
    exit_with_status_of(main)
