"""The JVMs a Spark stage starts are sized by what the stage reads: a small day gets the short-lived options
(C1-only JIT, serial GC, a larger thread stack), which must reach the JVM that really runs and the executors a
cluster would start for the application (spark-submit's driver: ``test_spark_submit``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from generec_core.spark.session import SHORT_LIVED_JVM

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.spark

# A fresh process: the test session's own JVM (conftest ``spark``) is a throughput one, and a process
# has one JVM, started by whoever asks first.
START = """
import json, sys
from generec_core.config import PipelineConfig
from generec_core.spark_mirror import spark_for_stage
config = PipelineConfig.from_dict({"root": sys.argv[1], "features": {"spark_jvm": sys.argv[2]}})
spark = spark_for_stage("ingest", config, "2026-11-20")
arguments = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
print("JVM " + json.dumps([str(a) for a in arguments]))
print("EXECUTORS " + json.dumps(spark.conf.get("spark.executor.extraJavaOptions").split()))
spark.stop()
"""


def _jvm_arguments(root: Path, spark_jvm: str) -> tuple[list[str], list[str]]:
    """(the driver JVM's own input arguments, the options its application gives a cluster's executors)."""
    done = subprocess.run([sys.executable, "-c", START, root.as_uri(), spark_jvm], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = {x.split(" ", 1)[0]: json.loads(x.split(" ", 1)[1]) for x in done.stdout.splitlines()
             if x.startswith(("JVM ", "EXECUTORS "))}
    return lines["JVM"], lines["EXECUTORS"]


def test_a_small_days_ingest_starts_a_short_lived_jvm_and_throughput_keeps_the_defaults(tmp_path):
    raw = tmp_path / "raw/interactions/dt=2026-11-20"
    raw.mkdir(parents=True)
    (raw / "part-00000.jsonl").write_text('{"event_id": "e1"}\n')
    options = set(SHORT_LIVED_JVM.split())
    short, short_executors = _jvm_arguments(tmp_path, "auto")
    assert options <= set(short) and options <= set(short_executors), (short, short_executors)
    assert "-Duser.timezone=UTC" in short and "-Duser.timezone=UTC" in short_executors
    throughput, throughput_executors = _jvm_arguments(tmp_path, "throughput")
    assert "-Duser.timezone=UTC" in throughput and "-Duser.timezone=UTC" in throughput_executors
    assert not options & (set(throughput) | set(throughput_executors)), (throughput, throughput_executors)
