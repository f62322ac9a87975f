"""Spark job: clean one day of raw interaction logs into the lake.

    spark-submit jobs/ingest_interactions.py --root s3://bucket/generec --date 2026-11-20
    python -m jobs.ingest_interactions --root file:///var/lib/generec --date 2026-11-20

Prints the counts (read, clean, quarantined by reason, duplicates) as JSON on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from generec_core.config import PipelineConfig, normalise_root
from generec_core.spark.ingest import clean_interactions, parse_date
from generec_core.spark.session import get_spark


def parse_args(argv: list[str] | None = None, description: str = __doc__) -> argparse.Namespace:
    """The arguments every Spark job shares: where the data is, which logical date, which cluster."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--root", required=True, help="storage root URI (file:///... or s3://bucket/prefix)")
    parser.add_argument("--date", required=True, help="logical date YYYY-MM-DD")
    parser.add_argument("--master", default=None,
                        help="Spark master (default: config.features.spark_master, e.g. local[2])")
    args = parser.parse_args(argv)
    try:
        parse_date(args.date)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def build_config(args: argparse.Namespace) -> PipelineConfig:
    config = PipelineConfig(root=normalise_root(args.root))
    if args.master:
        config = dataclasses.replace(
            config, features=dataclasses.replace(config.features, spark_master=args.master))
    return config


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = build_config(args)
    spark = get_spark(config.features.spark_master, "generec-ingest", config.features.shuffle_partitions)
    counts = clean_interactions(spark, config, args.date)
    print(json.dumps(counts, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
