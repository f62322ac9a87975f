"""Spark job: taste vectors, clusters, candidates and the sharded worklist for one date, then its gate.

    spark-submit --master yarn jobs/build_user_features.py --root s3://bucket/generec --date 2026-11-20
    python -m jobs.build_user_features --root file:///var/lib/generec --date 2026-11-20 --master 'local[2]'

Needs the cleaned lake (jobs.ingest_interactions) and the frame embeddings (frames stage).
The same stage function as the DAG's in-process task (``pipeline.run_stage("features", ...)``).
Prints the counts (users, cold users, clusters, worklist rows per shard and per retriever,
the gate's verdict) as JSON on stdout; exits 1 when a critical expectation failed.
"""

from __future__ import annotations

from jobs.ingest_interactions import run_stage
from jobs.process_exit import exit_with_status_of


def main(argv: list[str] | None = None) -> int:
    return run_stage("features", argv, __doc__)


if __name__ == "__main__":
    exit_with_status_of(main)
