"""A finished ``generec`` command exits with its own status, every time.

Arrow's thread pools can abort a process at interpreter teardown after all its work is done
("terminate called without an active exception", apache/arrow#34314): CI saw
``generec catalog diff`` print a complete answer and still die with SIGABRT. One run proves
little, so this runs the command repeatedly; before the fix about one run in six aborted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from generec_core.config import PipelineConfig
from generec_core.stages.publish import publish
from staged_run import stage_run

REPO = Path(__file__).resolve().parents[2]
RUNS = 24


def _generec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)


def test_catalog_diff_exits_cleanly_every_time(tmp_path):
    root = (tmp_path / "root").as_uri()
    for date, items in (("2026-11-23", ["i1", "i2"]), ("2026-11-24", ["i2", "i3"])):
        stage_run(root, date, ["u1", "u2"], items, version=date)
        publish(PipelineConfig.from_dict({"root": root}), date)
    outcomes = [_generec("catalog", "diff", "--root", root, "2026-11-23", "2026-11-24", "--json") for _ in range(RUNS)]
    failures = [(p.returncode, p.stderr.strip()[-120:]) for p in outcomes if p.returncode != 0]
    assert failures == [], f"{len(failures)} of {RUNS} runs failed"
    assert {json.loads(p.stdout)["summary"]["removed"] for p in outcomes} == {2}


def test_exit_status_and_output_survive_the_fast_exit(tmp_path):
    """Known errors keep their status and message; stdout is flushed before the process leaves."""
    proc = _generec("catalog", "diff", "--root", (tmp_path / "empty").as_uri(), "2026-11-23", "2026-11-24")
    assert proc.returncode == 2 and "no manifest for run '2026-11-23'" in proc.stderr
