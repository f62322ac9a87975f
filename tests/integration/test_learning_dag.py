"""Closing the loop through the real DAG: a demo night, then a simulated audience's night (``generec demo
--nights 1``): its contract v2 logs are ingested, counted per taste cluster, replayed, and charted."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

NIGHT = "2026-11-25"  # the demo's last day is 2026-11-24
pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def world(two_night_demo):
    """The demo night and the simulated audience's night after it (``conftest``)."""
    root, _home = two_night_demo
    return root


def _manifest(root: Path, date: str) -> list[dict]:
    return pq.read_table(root / f"catalog/manifests/dt={date}/run=nightly-{date}/manifest.parquet").to_pylist()


def test_every_row_offers_gated_candidates_with_exact_probabilities(world):
    rows = _manifest(world, NIGHT)
    assert rows
    for row in rows:
        offered = row["candidates"]
        assert offered[0]["thumbnail_uri"] == row["thumbnail_uri"]
        assert abs(sum(c["probability"] for c in offered) - 1.0) < 1e-9 and min(c["probability"] for c in offered) > 0
        assert all((world / "catalog/assets" / c["thumbnail_uri"].rsplit("/", 1)[1]).exists() for c in offered)
    assert any(len(r["candidates"]) >= 3 for r in rows)  # selected, runner-up, cover (, the generated image)


def test_the_simulated_night_is_ingested_counted_replayed_and_charted(world):
    lake = pq.read_table(world / f"lake/interactions/dt={NIGHT}").to_pylist()
    shown = [e for e in lake if e["event_type"] == "impression" and e["thumbnail_uri"]]
    clicks = [e for e in lake if e["event_type"] == "click" and e["impression_id"]]
    assert shown and clicks and all(0 < e["propensity"] <= 1 for e in shown)
    feedback = pq.read_table(world / f"features/thumbnail_feedback/dt={NIGHT}").to_pylist()
    assert sum(f["impressions"] for f in feedback) == len(shown) and sum(f["clicks"] for f in feedback) > 0
    replay = json.loads((world / f"work/run=nightly-{NIGHT}/evaluation/replay.json").read_text())["replay"]
    assert replay["served_by"] == "nightly-2026-11-24" and replay["impressions"] == len(shown)
    assert set(replay["policies"]) == {"logging", "top", "original", "uniform", "learned"}
    logging = replay["policies"]["logging"]
    assert logging["dr"] == pytest.approx(sum(1 for e in shown if e["event_id"] in {c["impression_id"] for c in clicks})
                                          / len(shown), abs=1e-6)
    truth = json.loads((world / f"demo/simulation/dt={NIGHT}/truth.json").read_text())
    assert set(truth["true_take_rate"]) == {"logging", "top", "original", "uniform", "learned"}
    page = (world / f"reports/run=nightly-{NIGHT}/index.html").read_text()
    assert "Learning from clicks: take rate per night" in page and "alt='take rate per night and policy'" in page
