"""Dataset ``expectations``: the rendered data-quality validation pages of a run.

``work/run=<id>/expectations/<suite>.html``, one great-expectations result page per suite that
ran (interactions, features, the gate's manifest suite). The run report links them relatively,
so ``page_key`` gives each page's key under the root: the same on a mirrored local root and on
the real one.
"""

from __future__ import annotations

from generec_core.datasets import metrics
from generec_core.datasets.layout import Layout


def page_key(layout: Layout, run_id: str, suite: str) -> str:
    """Where a suite's page lives, relative to the root."""
    return layout.expectation_page(run_id, suite)[len(layout.root) + 1:]


def write_page(layout: Layout, run_id: str, suite: str, html: str) -> str:
    """Store a suite's page; returns its URI."""
    uri = layout.expectation_page(run_id, suite)
    layout.store.write_text(uri, html)
    return uri


def record_verdict(layout: Layout, run_id: str, verdict: dict, pages: dict[str, str], attempt: str) -> None:
    """Store a gate's pages, and its verdict as the run metric ``expectations-<gate>`` (the report reads it)."""
    for suite, html in pages.items():
        write_page(layout, run_id, suite, html)
    metrics.record(layout, run_id, f"expectations-{verdict['gate']}", verdict, attempt)
