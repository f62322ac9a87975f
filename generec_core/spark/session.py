"""One Spark session per process, configured for small local runs and cluster runs alike.

Starting a JVM costs 10-20 s, so every job and test reuses one session through
``getOrCreate``. The settings here are the ones whose absence bit us: a UI port that
collides on shared machines, a hostname that does not resolve, hundreds of shuffle
partitions for a few kilobytes of data, and timestamps that shift with the host's zone.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import SparkSession

from generec_core.storage import local_dir


# Warnings and errors only, on stdout: the default config's banner and INFO lines go to stderr,
# which an Airflow task log shows as ERROR.
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def spark_path(uri: str) -> str:
    """The path Spark should read/write for a storage URI.

    ``file://`` maps to the local path (this machine's Spark has no Hadoop S3 jars);
    ``s3://bucket/key`` maps to ``s3a://bucket/key`` (production images ship hadoop-aws).
    """
    scheme = urlparse(uri).scheme
    if scheme == "file":
        return str(local_dir(uri))
    if scheme in ("s3", "s3a"):
        return "s3a://" + uri.split("://", 1)[1]
    raise ValueError(f"unsupported storage URI for Spark {uri!r}: use file:// or s3://")


# A JVM for a short run over a small day. Most of its CPU would go to C2 compiling Spark's own code and
# to G1's threads, not to the data: C1 alone and the serial collector halve it (a cold ingest of a
# 24-user, 8-item world: 41-47 -> 24-26 CPU-s; features 62-63 -> 39-43). C1's frames are larger, so the
# deep task deserialisation of ALS's lineage needs a larger thread stack than the default 1 MB.
SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xss16m"
# Where "auto" stops choosing it: the input a stage reads (benchmarks/spark_features.py, local[*]: even at
# ~100k events, ~1.8 MB of lake Parquet; at 300k-1M events ingest is 1.7-1.9x slower, ALS 1.3x).
SHORT_LIVED_MAX_INPUT_BYTES = 2 << 20


def short_lived_jvm(spark_jvm: str, input_bytes: int) -> bool:
    """Whether the JVMs of a stage reading ``input_bytes`` get the ``SHORT_LIVED_JVM`` options
    (``features.spark_jvm``): its driver, and on a cluster its executors, which each application starts anew."""
    if spark_jvm == "auto":
        return input_bytes <= SHORT_LIVED_MAX_INPUT_BYTES
    return spark_jvm == "short"


def get_spark(master: str, app_name: str, shuffle_partitions: int, short_lived: bool = False) -> SparkSession:
    """Return the process's Spark session, creating it on first use.

    ``master`` "" leaves the master to the launcher (``spark-submit --master ...``): a
    master set in code would override the cluster spark-submit was pointed at.
    Runtime SQL settings (shuffle partitions, timezone) are re-applied to an existing
    session so a caller always gets the parallelism it asked for; static settings
    (master, memory, ``short_lived``: the ``SHORT_LIVED_JVM`` options of the driver JVM, which is all of
    Spark on a local master, and of the executors a cluster starts for this application) are fixed by
    whoever created the session first. Under spark-submit the driver JVM is already running: its options
    come from the submitter (``jobs.airflow_glue.StageSparkSubmit``).
    """
    if shuffle_partitions < 1:
        raise ValueError(f"shuffle_partitions must be >= 1, got {shuffle_partitions}")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers must run the driver's interpreter (the venv with pandas/pyarrow).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master) if master else SparkSession.builder
    jvm = f" {SHORT_LIVED_JVM}" if short_lived else ""
    spark = (
        builder.appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.extraJavaOptions",
                f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}{jvm}")
        .config("spark.executor.extraJavaOptions", f"-Duser.timezone=UTC{jvm}")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        # pyarrow/pandas readers understand micros natively; INT96 is deprecated.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    spark.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark
