"""Shared pytest fixtures. Keep this file small: fixtures used by one file live in that file."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test run (a JVM start costs 10-20 s)."""
    from generec_core.spark.session import get_spark  # imported lazily: unit tests never load pyspark

    session = get_spark("local[2]", "generec-tests", shuffle_partitions=2)
    yield session
    session.stop()
