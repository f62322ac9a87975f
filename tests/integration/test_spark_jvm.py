"""The JVM a Spark stage starts is sized by what the stage reads: a small day gets the short-lived options
(C1-only JIT, serial GC, a larger thread stack), which must reach the JVM that really runs."""

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
spark.stop()
"""


def _jvm_arguments(root: Path, spark_jvm: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", START, root.as_uri(), spark_jvm], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("JVM ")]
    return json.loads(line[4:])


def test_a_small_days_ingest_starts_a_short_lived_jvm_and_throughput_keeps_the_defaults(tmp_path):
    raw = tmp_path / "raw/interactions/dt=2026-11-20"
    raw.mkdir(parents=True)
    (raw / "part-00000.jsonl").write_text('{"event_id": "e1"}\n')
    short = _jvm_arguments(tmp_path, "auto")
    assert set(SHORT_LIVED_JVM.split()) <= set(short), short
    assert "-Duser.timezone=UTC" in short
    throughput = _jvm_arguments(tmp_path, "throughput")
    assert "-Duser.timezone=UTC" in throughput
    assert not set(SHORT_LIVED_JVM.split()) & set(throughput), throughput
