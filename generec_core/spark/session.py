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


def get_spark(master: str, app_name: str, shuffle_partitions: int) -> SparkSession:
    """Return the process's Spark session, creating it on first use.

    ``master`` "" leaves the master to the launcher (``spark-submit --master ...``): a
    master set in code would override the cluster spark-submit was pointed at.
    Runtime SQL settings (shuffle partitions, timezone) are re-applied to an existing
    session so a caller always gets the parallelism it asked for; static settings
    (master, memory) are fixed by whoever created the session first.
    """
    if shuffle_partitions < 1:
        raise ValueError(f"shuffle_partitions must be >= 1, got {shuffle_partitions}")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers must run the driver's interpreter (the venv with pandas/pyarrow).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master) if master else SparkSession.builder
    spark = (
        builder.appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.extraJavaOptions", f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
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
