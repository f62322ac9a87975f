"""Off-policy evaluation of a day's logs against the manifest that served them (the plumbing around the estimators:
matching impressions to rows, and the five policies: the taste ranking, the bandit's, the cover, uniform)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from generec_core.datasets.catalog import MANIFEST_SCHEMA
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.evaluation.replay import NothingToReplay, replay
from generec_core.storage import file_uri

PREV, DAY = "2026-11-24", "2026-11-25"
TRUE_RATE = {"A": 0.10, "B": 0.30, "C": 0.05}  # the top frame, a runner-up, the cover
REPO = Path(__file__).resolve().parents[2]


def _asset(root: str, name: str) -> str:
    return f"{root}/catalog/assets/{name * 64}.jpg"


def _rows(root: str, date: str, order: str, users: int) -> list[dict]:
    kinds = {"A": "selected", "B": "runner-up", "C": "original"}
    scores = {"A": 0.8, "B": 0.6, "C": 0.5}
    probabilities = [0.9, 0.05, 0.05]
    return [{"user_id": f"u{u:03d}", "item_id": "i1", "thumbnail_uri": _asset(root, order[0]),
             "thumbnail_kind": "selected", "date": date, "run_id": run_id_for(date),
             "candidates": [{"thumbnail_uri": _asset(root, c), "kind": kinds[c], "frame_ts": None, "probability": p,
                             "score": scores[c]}
                            for c, p in zip(order, probabilities)]} for u in range(users)]


@pytest.fixture()
def logged(tmp_path):
    """A manifest served DAY's logs with B first (the bandit's choice; the taste ranking prefers A); the logs follow
    the served probabilities and click with TRUE_RATE."""
    root = file_uri(tmp_path)
    layout = Layout(root)
    served = _rows(root, PREV, "BAC", 400)
    layout.store.write_parquet(layout.manifest(PREV, run_id_for(PREV)), pa.Table.from_pylist(served, MANIFEST_SCHEMA))
    rng = np.random.default_rng(3)
    events = []
    for n in range(8000):
        row = served[n % len(served)]
        k = int(rng.choice(3, p=[0.9, 0.05, 0.05]))
        shown = row["candidates"][k]
        base = {"user_id": row["user_id"], "item_id": "i1", "watch_ms": None, "dt": DAY}
        events.append({**base, "event_id": f"e{n}", "event_type": "impression", "thumbnail_uri": shown["thumbnail_uri"],
                       "propensity": shown["probability"], "impression_id": None})
        if rng.random() < TRUE_RATE["BAC"[k]]:
            events.append({**base, "event_id": f"c{n}", "event_type": "click", "thumbnail_uri": None,
                           "propensity": None, "impression_id": f"e{n}"})
    events.append({"user_id": "stranger", "item_id": "i9", "watch_ms": None, "dt": DAY, "event_id": "x",
                   "event_type": "impression", "thumbnail_uri": _asset(root, "A"), "propensity": 0.9,
                   "impression_id": None})
    layout.store.write_parquet(layout.lake_interactions(DAY) + "/part-00000.parquet", pa.Table.from_pylist(events))
    return layout


def test_every_policy_is_estimated_near_its_true_take_rate(logged):
    out = replay(logged, DAY)["replay"]
    assert out["served_by"] == run_id_for(PREV)
    assert out["impressions"] == 8000 and out["unmatched"] == 1
    policies = out["policies"]
    assert set(policies) == {"logging", "top", "original", "uniform", "learned"}
    assert set(policies["top"]) == {"replay", "ips", "snips", "dr", "ci95", "n"}
    truth = {"logging": 0.9 * 0.30 + 0.05 * 0.10 + 0.05 * 0.05, "top": 0.10, "original": 0.05,
             "uniform": sum(TRUE_RATE.values()) / 3, "learned": 0.30}
    for name, value in truth.items():
        estimate = policies[name]
        assert abs(estimate["dr"] - value) < 0.06, (name, estimate, value)
    lo, hi = policies["learned"]["ci95"]
    assert lo <= truth["learned"] <= hi
    assert policies["learned"]["dr"] > policies["top"]["dr"]  # the bandit's B beats the taste ranking's A


def test_logs_without_v2_impressions_say_why(tmp_path):
    with pytest.raises(NothingToReplay, match="no contract v2 impressions"):
        replay(Layout(file_uri(tmp_path)), DAY)


def test_the_cli_prints_the_replay_as_json(logged):
    proc = subprocess.run([sys.executable, "-m", "jobs.cli", "evaluate", "--root", logged.root, "--date", DAY,
                           "--replay", "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert set(out["replay"]["policies"]) == {"logging", "top", "original", "uniform", "learned"}
