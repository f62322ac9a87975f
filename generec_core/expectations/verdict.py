"""The verdict of a data-quality gate, as plain JSON-able data, and the exception that stops a run.

Kept free of great-expectations imports so the run report and the orchestrator can read a
verdict without loading GX (or Spark).

A verdict is a dict:
``{"gate", "dt", "success", "critical_failures": [name...], "warnings": [name...],
"skipped": [why...], "observed": {name: what was seen, for each failure}, "context": [fact...],
"suites": [{"suite", "success", "evaluated", "results": [...], "html"}...]}``. An expectation's
name is ``"<suite>: <expectation type>(<its column(s)>) — <what it guards>"``, so a failure
reads the same in the task log and in the report; ``context`` carries what the stage knows
that explains it (e.g. the day's top quarantine reasons).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class DataQualityError(RuntimeError):
    """A critical expectation failed: nothing downstream (least of all publish) may run."""

    def __init__(self, verdict: dict, summary: dict | None = None):
        self.verdict = verdict
        self.summary = summary  # the stopped stage's own summary, so its metrics are still recorded
        observed = verdict.get("observed") or {}
        failures = "; ".join(f"{name} (observed: {observed[name]})" if name in observed else name
                             for name in verdict.get("critical_failures", []))
        context = "".join(f"; {fact}" for fact in verdict.get("context") or [])
        pages = ", ".join(verdict.get("pages") or [s["html"] for s in verdict.get("suites", []) if s.get("html")])
        super().__init__(f"data-quality gate {verdict.get('gate')!r} failed for dt={verdict.get('dt')}: "
                         f"{failures}{context} (validation results: {pages})")


def raise_on_failure(verdict: dict, summary: dict | None = None) -> dict:
    """Log every failed expectation by name; raise ``DataQualityError`` (carrying the stage's
    ``summary``) if a critical one failed."""
    for name in verdict.get("warnings", []):
        log.warning("data-quality warning (%s): %s", verdict.get("gate"), name)
    for name in verdict.get("skipped", []):
        log.info("data-quality check skipped (%s): %s", verdict.get("gate"), name)
    if verdict.get("success", True):
        return verdict
    for name in verdict.get("critical_failures", []):
        log.error("data-quality FAILED (%s): %s", verdict.get("gate"), name)
    raise DataQualityError(verdict, summary)


def brief(verdict: dict) -> dict:
    """The verdict without per-expectation detail: what a stage's own summary carries."""
    keys = ("gate", "dt", "success", "critical_failures", "warnings", "skipped", "observed", "context")
    return {**{k: verdict[k] for k in keys if k in verdict},
            "pages": [s["html"] for s in verdict["suites"] if s.get("html")]}
