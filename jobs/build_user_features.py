"""Spark job: user taste vectors, top-K candidates and the sharded worklist for one date.

    spark-submit jobs/build_user_features.py --root s3://bucket/generec --date 2026-11-20
    python -m jobs.build_user_features --root file:///var/lib/generec --date 2026-11-20

Needs the cleaned lake (jobs.ingest_interactions) and the frame embeddings (frames stage).
Prints the counts (users, cold users, worklist rows per shard) as JSON on stdout.
"""

from __future__ import annotations

import json
import sys

from generec_core.spark.features import build_user_features
from generec_core.spark.session import get_spark
from jobs.ingest_interactions import build_config, parse_args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, description=__doc__)
    config = build_config(args)
    # Imported here: the frames stage pulls torch/PIL, which the Spark session itself does not need.
    from generec_core.stages.frames import load_frame_embeddings

    frames = load_frame_embeddings(config)
    spark = get_spark(config.features.spark_master, "generec-features", config.features.shuffle_partitions)
    counts = build_user_features(spark, config, args.date, frames)
    print(json.dumps(counts, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
