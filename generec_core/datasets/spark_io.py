"""How the datasets Spark writes are read and written: whole folders, replaced, columns checked.

pyspark is imported only when a Spark dataset is touched, so the Python stages that read the
same data with pyarrow never load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType


def replace_folder(frame: "DataFrame", uri: str, columns: tuple[str, ...], dataset: str) -> None:
    """Overwrite the Parquet folder at ``uri`` with ``frame``, whose columns must be exactly ``columns``."""
    from generec_core.spark.session import spark_path

    if tuple(frame.columns) != columns:
        raise ValueError(f"{dataset}: columns {frame.columns} differ from the dataset's {list(columns)}")
    frame.write.mode("overwrite").parquet(spark_path(uri))


def read_folder(spark: "SparkSession", uri: str, schema: "StructType | None" = None) -> "DataFrame":
    from generec_core.spark.session import spark_path

    reader = spark.read.schema(schema) if schema is not None else spark.read
    return reader.parquet(spark_path(uri))
