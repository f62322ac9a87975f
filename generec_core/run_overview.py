"""The top of the run report: what an operator reads first, before any detail.

Did the run succeed (and if not, which tasks failed), what did it publish, how much passed the
fidelity gate and why the rest did not, and where the time went. Built only from what the run
recorded (``datasets.metrics``, the failed tasks of ``datasets.reports``, the published rows), like
the rest of the page; the markup is the top of ``templates/report.html.j2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from generec_core.stage_graph import STAGES

TOP_REASONS = 5  # the gate records its five most frequent failure reasons
SHARD_SEPARATOR = "-shard-"  # a per-shard stage's metrics key: ``generate-shard-0`` (pipeline.run_stage)


@dataclass
class RunStatus:
    """Succeeded, or failed with the tasks (or verdicts) that failed."""

    succeeded: bool
    failed: list[str] = field(default_factory=list)  # task labels, then verdicts that stopped the run
    missing: list[str] = field(default_factory=list)  # stages without a record in this run


@dataclass
class Published:
    """What this run put in the catalog; ``note`` says why nothing was, when nothing was."""

    rows: int = 0
    users: int = 0
    created_items: int = 0
    assets: int = 0
    note: str = ""


@dataclass
class PassRate:
    """One asset kind's gate verdicts."""

    kind: str
    assets: int
    passed: int

    @property
    def rate(self) -> float | None:
        return self.passed / self.assets if self.assets else None


@dataclass
class StageTiming:
    """One bar of the timing chart: a stage, or one shard of a per-shard stage."""

    label: str  # ``generate [shard 0]`` for a shard, as the Airflow UI names a mapped task
    stage: str
    seconds: float


def run_status(failures: list[dict], stage_metrics: dict[str, dict], missing: list[str]) -> RunStatus:
    """Failed when a task failed (the orchestrator's records) or a verdict stopped the run (the metrics):
    a run outside an orchestrator records no task failures, but a halted gate still recorded its verdict."""
    failed = [f["task"] for f in failures]
    failed += [name for name in halted_verdicts(stage_metrics) if name not in failed]
    return RunStatus(not failed, failed, missing)


def halted_verdicts(stage_metrics: dict[str, dict]) -> list[str]:
    """The data-quality gates (``expectations-<gate>``) and the fidelity gate whose recorded verdict failed."""
    halted = [name for name, m in sorted(stage_metrics.items())
              if name.startswith("expectations-") and m.get("success") is False]
    gate = stage_metrics.get("gate") or {}
    below = [s for s in (gate.get("by_stage") or {}).values() if s.get("assets") and s["pass_rate"] < s["floor"]]
    if below or (gate.get("manifest_checks") or {}).get("success") is False:
        halted.append("gate")
    return halted


def published(publish: dict | None, rows: list[dict], dry_run: bool) -> Published:
    """Rows, distinct users and created items this run published; a dry run or a run that never reached
    publish published nothing, and the page says which."""
    if dry_run or (publish or {}).get("dry_run"):
        return Published(note="dry run: nothing was published, the catalog is untouched")
    if not publish or not publish.get("manifest"):
        return Published(note="nothing was published: the publish stage did not run in this run")
    return Published(rows=publish.get("rows", len(rows)), users=len({r["user_id"] for r in rows}),
                     created_items=publish.get("created_items", 0), assets=publish.get("assets", 0))


def pass_rates(gate: dict | None) -> list[PassRate]:
    """Per asset kind, from the gate's ``by_kind`` counts (``"<kind>:pass"`` / ``"<kind>:fail"``)."""
    counts: dict[str, list[int]] = {}
    for key, n in ((gate or {}).get("by_kind") or {}).items():
        kind, _, verdict = key.rpartition(":")
        counts.setdefault(kind, [0, 0])[verdict == "pass"] += n
    return [PassRate(kind, failed + passed, passed) for kind, (failed, passed) in sorted(counts.items())]


def top_failure_reasons(gate: dict | None, limit: int = TOP_REASONS) -> list[tuple[str, int]]:
    """The gate's failure reasons, most frequent first (ties by name). The metrics are stored with sorted
    keys, so the order the gate counted them in is lost and must be restored here."""
    reasons = ((gate or {}).get("failure_reasons") or {}).items()
    return sorted(reasons, key=lambda kv: (-kv[1], kv[0]))[:limit]


def stage_timings(stage_metrics: dict[str, dict]) -> list[StageTiming]:
    """Recorded wall times in run order (``stage_graph.STAGES``), each shard of a per-shard stage on its own
    (a slow shard is what an operator looks for); records that are not a stage's (``expectations-*``) are left out."""
    timings = []
    for stage in STAGES:
        if stage.name in stage_metrics and "seconds" in stage_metrics[stage.name]:
            timings.append(StageTiming(stage.name, stage.name, float(stage_metrics[stage.name]["seconds"])))
        shards = sorted(_shard(key) for key in stage_metrics if key.startswith(stage.name + SHARD_SEPARATOR))
        timings += [StageTiming(f"{stage.name} [shard {n}]", stage.name, float(m["seconds"]))
                    for n in shards if "seconds" in (m := stage_metrics[f"{stage.name}{SHARD_SEPARATOR}{n}"])]
    return timings


def run_order(key: str) -> tuple[int, int, str]:
    """Sort key of a metrics record: its stage's place in ``STAGES``, then shard; other records last, by name."""
    names = [s.name for s in STAGES]
    stage, _, shard = key.partition(SHARD_SEPARATOR)
    return (names.index(stage) if stage in names else len(names), int(shard) if shard.isdigit() else -1, key)


def _shard(key: str) -> int:
    return int(key.rpartition(SHARD_SEPARATOR)[2])
