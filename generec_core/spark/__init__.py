"""Spark transforms of the pipeline (log cleaning, taste vectors, candidates, shards).

Kept apart from the rest of ``generec_core`` so that importing the library never
starts or requires a JVM; only jobs and Spark tests import this package.
"""

from generec_core.spark.session import get_spark, spark_path

__all__ = ["get_spark", "spark_path"]
