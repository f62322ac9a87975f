"""How ``make test`` spreads test modules over its pytest-xdist workers (``--dist loadfile``; see ``conftest``).

xdist's own loadfile scheduler hands modules out in collection order, and queues the next module on a worker as
soon as that worker is down to its last two tests. Our suite is a handful of modules that run real DAG runs
(minutes each) among hundreds of quick ones, so that order left the scheduler, S3 and stack modules queued one
behind the other on one worker while the other sat idle for the last 20 minutes (measured: 49 min). Here:

- modules of ``SAME_WORKER`` count as one unit, so the session world they share is built once;
- the costliest unit goes first (longest-processing-time first, with the costs in ``MODULE_SECONDS``);
- a worker still busy with a costly module is given the cheapest unit to queue behind it, never another costly
  one, so costly modules start on whichever worker frees up first.

xdist's ``loadgroup`` (``xdist_group`` marks) cannot do the first: under pytest 9 those marks no longer reach
the scheduler.
"""

from __future__ import annotations

from xdist.scheduler import LoadFileScheduling

# Modules that share a session-scoped fixture (conftest ``two_night_demo``): module -> the module it goes with.
SAME_WORKER = {"tests/integration/test_learning_dag.py": "tests/integration/test_generation_dag.py"}

# Seconds per unit measured under ``make test`` on 2 cores (clean clone, 2026-12-07). Only their order matters:
# a stale or missing figure costs time, never a test. Units not listed count as cheap.
MODULE_SECONDS = {
    "tests/integration/test_scheduler.py": 1260,
    "tests/ui/test_airflow_ui.py": 1050,
    "tests/stack/test_stack.py": 740,
    "tests/integration/test_nightly_dag.py": 470,
    "tests/integration/test_generation_dag.py": 400,  # with test_learning_dag.py
    "tests/integration/test_s3_pipeline.py": 280,
    "tests/integration/test_ingest_properties.py": 155,
    "tests/integration/test_expectations.py": 90,
    "tests/integration/test_expectations_dag.py": 80,
    "tests/integration/test_spark_submit.py": 55,
}
COSTLY_SECONDS = 60  # a unit at least this long is not queued behind another such unit


class CostOrderedLoadFile(LoadFileScheduling):
    """``--dist loadfile`` with shared-world units, costliest first, cheap units queued behind costly ones."""

    def _split_scope(self, nodeid: str) -> str:
        module = super()._split_scope(nodeid)
        return SAME_WORKER.get(module, module)

    def _assign_work_unit(self, node) -> None:
        """Put the unit this worker should get at the head of the queue; xdist assigns the head."""
        busy_with_costly = any(MODULE_SECONDS.get(scope, 0) >= COSTLY_SECONDS and not all(tests.values())
                               for scope, tests in self.assigned_work[node].items())
        by_cost = sorted(self.workqueue, key=lambda scope: MODULE_SECONDS.get(scope, 0), reverse=not busy_with_costly)
        self.workqueue.move_to_end(by_cost[0], last=False)
        super()._assign_work_unit(node)
