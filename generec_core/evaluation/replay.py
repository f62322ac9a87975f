"""Off-policy evaluation of one day's logs: what would other thumbnail policies have earned on them?

The logs of date D (contract v2: impressions carry the shown ``thumbnail_uri`` and its ``propensity``,
clicks the ``impression_id`` they follow) were served by the manifest published last before D; each
impression is matched to its (user, item) row there, whose ``candidates`` are the decision's options.
The take rate (clicks / impressions, a click counted on the date it is logged) of these policies is
estimated with every estimator of ``evaluation/off_policy.py`` (replay, IPS, SNIPS, doubly robust
with a constant reward model, the day's mean take rate; 95% bootstrap interval of DR):

- ``logging``: the served policy itself (on-policy: the plain take rate);
- ``top``: always the candidate with the best taste score (the editor's ranking, no learning);
- ``original``: always the item's own cover (the first candidate where a row offers no cover);
- ``uniform``: every candidate equally often;
- ``learned``: always the row's first candidate, the one the candidate bandit (``editor/bandit.py``)
  ranked first with its taste cluster's clicks up to the night before the logs, without exploration.

Why not the ranking learned *from* these logs: a policy scored on the very clicks it was fitted to looks
far better than it is. Measured on the demo's simulated audience (3 nights, 150 users): such a ranking
was replayed at 0.34-0.43 while its true take rate was 0.11-0.22. The ranking the logs were served with
is the honest learned policy for them; tonight's learning is judged on tomorrow's logs.
"""

from __future__ import annotations

from typing import Mapping

from generec_core.datasets import catalog
from generec_core.datasets.interactions import served_impressions
from generec_core.datasets.layout import Layout
from generec_core.evaluation.off_policy import (
    Impression,
    Policy,
    deterministic,
    evaluate_policy,
    on_policy,
    uniform_policy,
)
from generec_core.kinds import CandidateKind

LOOKBACK_DAYS = 7  # the serving manifest is the latest published this many days before the logs at most
POLICIES: tuple[str, ...] = ("logging", "top", "original", "uniform", "learned")


class NothingToReplay(ValueError):
    """The date's logs cannot be replayed: no v2 impressions, or no manifest served them."""


def replay(layout: Layout, date: str) -> dict:
    """``{"replay": {"date", "served_by", "impressions", "unmatched", "policies": {...}}}``."""
    shown, clicked = served_impressions(layout, date)
    if not shown:
        raise NothingToReplay(f"the logs of {date} carry no contract v2 impressions (thumbnail_uri + propensity)")
    served = catalog.previous_manifest(layout, date, LOOKBACK_DAYS)
    if served is None:
        raise NothingToReplay(f"no manifest published in the {LOOKBACK_DAYS} days before {date} served its logs")
    served_rows = catalog.read_rows(layout, served.uri)
    offered = _offered(served_rows)
    impressions = [Impression(_context(r["user_id"], r["item_id"]), catalog.asset_name(r["thumbnail_uri"]) or "",
                               float(r["propensity"]), 1.0 if r["event_id"] in clicked else 0.0,
                               tuple(a for a, _ in offered[_context(r["user_id"], r["item_id"])]))
                   for r in shown if _matches(r, offered)]
    if not impressions:
        raise NothingToReplay(f"none of the {len(shown)} impressions of {date} matches a row of {served.uri}")
    taste_best = {_context(r["user_id"], r["item_id"]): catalog.asset_name(best_by_taste(r)["thumbnail_uri"])
                  for r in served_rows if r.get("candidates")}
    mean = sum(i.reward for i in impressions) / len(impressions)
    policies = _policies(offered, taste_best)
    estimates = {"logging": on_policy(impressions).to_dict(),
                 **{name: evaluate_policy(impressions, policy, lambda imp, a: mean).to_dict()
                    for name, policy in policies.items()}}
    return {"replay": {"date": date, "served_by": served.run_id,
                       "impressions": len(impressions), "unmatched": len(shown) - len(impressions),
                       "policies": estimates}}


def _context(user: str, item: str) -> str:
    return f"{user}\x1f{item}"


def _offered(rows: list[dict]) -> dict[str, list[tuple[str, str]]]:
    """context -> [(candidate asset, kind)], the row's first candidate first."""
    return {_context(r["user_id"], r["item_id"]): [(catalog.asset_name(c["thumbnail_uri"]) or "", c["kind"])
                                                    for c in r.get("candidates") or []]
            for r in rows if r.get("candidates")}


def _matches(row: dict, offered: Mapping[str, list[tuple[str, str]]]) -> bool:
    options = offered.get(_context(row["user_id"], row["item_id"]), [])
    return catalog.asset_name(row["thumbnail_uri"]) in {a for a, _ in options}


def best_by_taste(row: dict) -> dict:
    """The row's candidate with the best taste score (the first of equals): what the editor alone would show."""
    offered = row["candidates"]
    return max(offered, key=lambda c: (c.get("score") if c.get("score") is not None else -2.0,
                                       -offered.index(c)))


def _policies(offered: Mapping[str, list[tuple[str, str]]], taste_best: Mapping[str, str]) -> dict[str, Policy]:
    def top(imp: Impression) -> str:
        return taste_best.get(imp.context) or imp.candidates[0]

    def original(imp: Impression) -> str:
        return next((a for a, kind in offered[imp.context] if kind == CandidateKind.ORIGINAL), imp.candidates[0])

    def learned(imp: Impression) -> str:
        return imp.candidates[0]

    return {"top": deterministic(top), "original": deterministic(original), "uniform": uniform_policy,
            "learned": deterministic(learned)}
