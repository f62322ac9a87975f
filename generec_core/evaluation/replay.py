"""Off-policy evaluation of one day's logs: what would other thumbnail policies have earned on them?

The logs of date D (contract v2: impressions carry the shown ``thumbnail_uri`` and its ``propensity``,
clicks the ``impression_id`` they follow) were served by the manifest published last before D; each
impression is matched to its (user, item) row there, whose ``candidates`` are the decision's options.
The take rate (clicks / impressions, a click counted on the date it is logged) of these policies is
estimated with every estimator of ``evaluation/off_policy.py`` (replay, IPS, SNIPS, doubly robust
with a constant reward model, the day's mean take rate; 95% bootstrap interval of DR):

- ``logging``: the served policy itself (on-policy: the plain take rate);
- ``top``: always the row's first candidate (the editor's and bandit's choice, no exploration);
- ``original``: always the item's own cover (the first candidate where a row offers no cover);
- ``uniform``: every candidate equally often;
- ``learned``: tonight's ranking: the candidate bandit (``editor/bandit.py``) ranks each logged row's
  candidates with the evidence up to D (D's thumbnail feedback, the user's taste cluster on D) and
  shows its first. Tonight's manifest itself mostly holds other items (yesterday's are seen now), so
  the ranking is applied to the rows the logs are about.
"""

from __future__ import annotations

from typing import Mapping

from generec_core.config import EditorConfig
from generec_core.datasets import catalog
from generec_core.datasets.feedback import read_feedback
from generec_core.datasets.interactions import served_impressions
from generec_core.datasets.layout import Layout
from generec_core.datasets.users import read_user_features
from generec_core.editor.bandit import Feedback, rank
from generec_core.evaluation.off_policy import (
    Impression,
    Policy,
    deterministic,
    evaluate_policy,
    on_policy,
    uniform_policy,
)
from generec_core.kinds import CandidateKind
from generec_core.storage import ObjectNotFound

LOOKBACK_DAYS = 7  # the serving manifest is the latest published this many days before the logs at most
POLICIES: tuple[str, ...] = ("logging", "top", "original", "uniform", "learned")


class NothingToReplay(ValueError):
    """The date's logs cannot be replayed: no v2 impressions, or no manifest served them."""


def replay(layout: Layout, date: str, editor: EditorConfig) -> dict:
    """``{"replay": {"date", "served_by", "learned_from", "impressions", "unmatched", "policies": {...}}}``."""
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
    tonight = {_context(*key): row["candidates"][k]["thumbnail_uri"].rsplit("/", 1)[-1]
               for key, (row, k) in learned_choices(layout, date, served_rows, editor).items()}
    mean = sum(i.reward for i in impressions) / len(impressions)
    policies = _policies(offered, tonight)
    estimates = {"logging": on_policy(impressions).to_dict(),
                 **{name: evaluate_policy(impressions, policy, lambda imp, a: mean).to_dict()
                    for name, policy in policies.items()}}
    return {"replay": {"date": date, "served_by": served.run_id, "learned_from": f"thumbnail feedback of {date}",
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


def learned_choices(layout: Layout, date: str, rows: list[dict], editor: EditorConfig
                    ) -> dict[tuple[str, str], tuple[dict, int]]:
    """(user, item) -> (row, index of the candidate the bandit shows) for manifest ``rows``, ranked with the
    evidence of ``date`` (its thumbnail feedback and taste clusters)."""
    try:
        features = read_user_features(layout, date, ["user_id", "cluster"])
        clusters = {u: str(c) for u, c in zip(features["user_id"].to_pylist(), features["cluster"].to_pylist())}
    except (ObjectNotFound, FileNotFoundError):
        clusters = {}
    feedback = Feedback(clusters, read_feedback(layout, date), {})
    out = {}
    for row in rows:
        offers = [{"asset": catalog.asset_name(c["thumbnail_uri"]), "score": c.get("score"), "index": k}
                  for k, c in enumerate(row.get("candidates") or [])]
        if offers:
            out[(row["user_id"], row["item_id"])] = (row, rank(offers, feedback.evidence(row["user_id"]),
                                                               editor)[0]["index"])
    return out


def _policies(offered: Mapping[str, list[tuple[str, str]]], tonight: Mapping[str, str]) -> dict[str, Policy]:
    def top(imp: Impression) -> str:
        return imp.candidates[0]

    def original(imp: Impression) -> str:
        return next((a for a, kind in offered[imp.context] if kind == CandidateKind.ORIGINAL), imp.candidates[0])

    def learned(imp: Impression) -> str:
        choice = tonight.get(imp.context)
        return choice if choice in imp.candidates else imp.candidates[0]

    return {"top": deterministic(top), "original": deterministic(original), "uniform": uniform_policy,
            "learned": deterministic(learned)}
