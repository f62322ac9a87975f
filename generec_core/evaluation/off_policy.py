"""Off-policy evaluation: the take rate another policy would have had, estimated from this one's logs.

Serving shows one of a decision's candidates (thumbnails) at random, with a probability it knows, and
logs what it showed, that probability and whether it was clicked. Because every impression carries its
probability, the logs can be reweighted to answer "what if we had shown candidates by policy pi
instead?" without serving pi: an impression pi would have shown twice as often counts twice.

Notation. Impression i has context x_i (the decision, e.g. one (user, item)), shown candidate a_i,
logging propensity p_i = mu(a_i | x_i) and reward r_i (1 clicked, 0 not). The target policy gives
pi(a | x); the importance weight is w_i = pi(a_i | x_i) / p_i; q(x, a) is an optional reward model.
Over n impressions:

- replay (Li, Chu, Langford & Wang 2011, "Unbiased offline evaluation of contextual-bandit-based news
  article recommendation algorithms"): the mean reward where the target would have shown what was
  shown, sum_i pi(a_i|x_i) r_i / sum_i pi(a_i|x_i) (for a deterministic target: the plain mean over
  the matching impressions). Sound only when logging is uniform over the candidates (and contexts
  have equally many, else contexts with fewer match more often and weigh more); reported because
  it is the easiest number to explain, never as the answer.
- IPS, inverse propensity scoring (Horvitz & Thompson 1952): (1/n) sum_i w_i r_i. Unbiased when the
  propensities are exact and pi only shows candidates the logger could show (checked below); its
  variance grows with the weights, i.e. with how far pi strays from the logger.
- SNIPS, self-normalised IPS (Swaminathan & Joachims 2015, "The self-normalized estimator for
  counterfactual learning"): sum_i w_i r_i / sum_i w_i. Slightly biased but consistent, and usually
  much less noisy: the luck in how many high-weight impressions were drawn cancels between numerator
  and denominator.
- DR, doubly robust (Dudik, Langford & Li 2011, "Doubly robust policy evaluation and learning"):
  (1/n) sum_i [ sum_a pi(a|x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i)) ]. Unbiased if either the
  propensities or q are right; a good q removes most of IPS's variance, a bad one costs little.
  Without q (q = 0) DR is IPS.

The 95% interval is a percentile bootstrap of DR over impressions, seeded so that a rerun reports the
same interval. Pure numpy: the per-impression work is one pass in Python, the rest is vectorised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class Impression:
    """One logged showing: enough to reweight it for any target policy over the same candidates."""

    context: str  # e.g. "user\x1fitem": the decision the logging policy made
    shown: str  # the candidate shown (e.g. thumbnail asset name)
    propensity: float  # logging probability of `shown` in this context, in (0, 1]
    reward: float  # 1.0 clicked, 0.0 not
    candidates: tuple[str, ...]  # every candidate the logging policy could show in this context


Policy = Callable[[Impression], Mapping[str, float]]  # candidate -> probability, summing to 1 over the candidates
RewardModel = Callable[[Impression, str], float]  # predicted reward of showing a candidate in this context

TOLERANCE = 1e-6  # how far a policy's probabilities may sum from 1
_RESAMPLED_AT_ONCE = 1 << 20  # bootstrap values held at once (8 MiB of float64), whatever n


@dataclass(frozen=True)
class Estimate:
    """Every estimator side by side: where they disagree, the target strays far from the logger."""

    replay: float | None  # None when no impression matches the target
    ips: float
    snips: float | None  # None when every weight is 0
    dr: float
    ci95: tuple[float, float]  # percentile bootstrap of DR
    n: int

    def to_dict(self) -> dict:
        """JSON-ready, rounded to 6 decimals: more would be noise at any realistic n."""
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 6)

        return {"replay": rounded(self.replay), "ips": rounded(self.ips), "snips": rounded(self.snips),
                "dr": rounded(self.dr), "ci95": [rounded(self.ci95[0]), rounded(self.ci95[1])], "n": self.n}


def evaluate_policy(impressions: Sequence[Impression], policy: Policy, reward_model: RewardModel | None = None,
                    bootstrap: int = 1000, seed: int = 0) -> Estimate:
    """Every estimator of ``policy``'s take rate on the logged ``impressions``.

    ``policy`` and ``reward_model`` are called once per distinct (context, candidates), with the first
    impression of that decision: a target policy must not depend on what was shown or clicked, and a
    decision logged many times need not be re-scored.
    """
    propensity, reward = _logged(impressions)
    target, direct, predicted = _scored(impressions, policy, reward_model)
    weight = target / propensity
    terms = direct + weight * (reward - predicted)
    return Estimate(replay=_ratio(target @ reward, target.sum()), ips=float(np.mean(weight * reward)),
                    snips=_ratio(weight @ reward, weight.sum()), dr=float(np.mean(terms)),
                    ci95=_bootstrap_ci(terms, bootstrap, seed), n=len(impressions))


def on_policy(impressions: Sequence[Impression], bootstrap: int = 1000, seed: int = 0) -> Estimate:
    """The logging policy itself: every weight is 1, so every estimator is the plain take rate.

    The baseline a target's estimate is compared with, with an interval computed the same way.
    """
    _, reward = _logged(impressions)
    rate = float(np.mean(reward))
    return Estimate(replay=rate, ips=rate, snips=rate, dr=rate, ci95=_bootstrap_ci(reward, bootstrap, seed),
                    n=len(impressions))


def deterministic(choose: Callable[[Impression], str]) -> Policy:
    """The policy that always shows ``choose(impression)``, e.g. the candidate a model ranks first."""
    def policy(impression: Impression) -> Mapping[str, float]:
        return {choose(impression): 1.0}

    return policy


def uniform_policy(impression: Impression) -> Mapping[str, float]:
    """Every candidate equally often: the exploration baseline, and what replay is sound under."""
    share = 1.0 / len(impression.candidates)
    return {candidate: share for candidate in impression.candidates}


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else float(numerator / denominator)


def _logged(impressions: Sequence[Impression]) -> tuple[np.ndarray, np.ndarray]:
    """(propensity, reward) as arrays, refusing logs no estimator can use."""
    if len(impressions) == 0:
        raise ValueError("no impressions: nothing to estimate a take rate from")
    propensity = np.fromiter((imp.propensity for imp in impressions), np.float64, count=len(impressions))
    reward = np.fromiter((imp.reward for imp in impressions), np.float64, count=len(impressions))
    _refuse_first(impressions, ~((propensity > 0) & (propensity <= 1)), "propensity", "is outside (0, 1]")
    _refuse_first(impressions, ~np.isfinite(reward), "reward", "is not a finite number")
    return propensity, reward


def _refuse_first(impressions: Sequence[Impression], bad: np.ndarray, field: str, problem: str) -> None:
    """ValueError naming the first offending impression, its context and value (NaN counts as bad)."""
    where = np.flatnonzero(bad)
    if where.size:
        imp = impressions[int(where[0])]
        raise ValueError(f"impression {int(where[0])} (context {imp.context!r}, shown {imp.shown!r}): "
                         f"{field} {getattr(imp, field)!r} {problem} ({where.size} such impressions)")


def _scored(impressions: Sequence[Impression], policy: Policy,
            reward_model: RewardModel | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per impression: pi(a_i|x_i), sum_a pi(a|x_i) q(x_i, a) and q(x_i, a_i) (both 0 without a model)."""
    n = len(impressions)
    target, direct, predicted = np.empty(n), np.zeros(n), np.zeros(n)
    decisions: dict[tuple[str, tuple[str, ...]], tuple[Mapping[str, float], float, Mapping[str, float]]] = {}
    for i, imp in enumerate(impressions):
        key = (imp.context, imp.candidates)
        if key not in decisions:
            decisions[key] = _decision(imp, policy, reward_model)
        probabilities, direct[i], model = decisions[key]
        if imp.shown not in model:
            raise ValueError(f"impression {i} (context {imp.context!r}): shown {imp.shown!r} is not among its "
                             f"candidates {imp.candidates!r}")
        target[i], predicted[i] = probabilities.get(imp.shown, 0.0), model[imp.shown]
    return target, direct, predicted


def _decision(imp: Impression, policy: Policy,
              reward_model: RewardModel | None) -> tuple[Mapping[str, float], float, Mapping[str, float]]:
    """One context's checked target probabilities, sum_a pi(a|x) q(x, a), and q per candidate."""
    if not imp.candidates or len(set(imp.candidates)) != len(imp.candidates):
        raise ValueError(f"context {imp.context!r}: candidates {imp.candidates!r} must be non-empty and distinct")
    probabilities = _checked_policy(imp, policy(imp))
    model = {a: 0.0 if reward_model is None else _checked_prediction(imp, a, reward_model(imp, a))
             for a in imp.candidates}
    return probabilities, math.fsum(p * model[a] for a, p in probabilities.items() if p > 0), model


def _checked_policy(imp: Impression, probabilities: Mapping[str, float]) -> Mapping[str, float]:
    """The target's probabilities, if they are a distribution over the logged candidates.

    Mass on a candidate the logger never shows is mass no log can evaluate: IPS would silently
    count it as zero reward, so it is refused rather than estimated.
    """
    for candidate, probability in probabilities.items():
        if not 0.0 <= probability <= 1.0 + TOLERANCE:
            raise ValueError(f"context {imp.context!r}: policy gives {candidate!r} probability {probability!r}, "
                             f"outside [0, 1]")
        if probability > 0 and candidate not in imp.candidates:
            raise ValueError(f"context {imp.context!r}: policy gives probability {probability!r} to {candidate!r}, "
                             f"which is not a candidate {imp.candidates!r}; the logs cannot evaluate it")
    total = math.fsum(probabilities.values())
    if abs(total - 1.0) > TOLERANCE:
        raise ValueError(f"context {imp.context!r}: policy probabilities sum to {total!r}, not 1, over the "
                         f"candidates {imp.candidates!r}")
    return probabilities


def _checked_prediction(imp: Impression, candidate: str, prediction: float) -> float:
    if not math.isfinite(prediction):
        raise ValueError(f"context {imp.context!r}: reward model predicts {prediction!r} for {candidate!r}")
    return float(prediction)


def _bootstrap_ci(terms: np.ndarray, bootstrap: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of mean(terms) over impressions resampled with replacement.

    Vectorised: a (rows, n) block of indices per step, with rows chosen so a block holds at most
    ``_RESAMPLED_AT_ONCE`` values; one (bootstrap, n) block would need 1.6 GB at n = 100k.
    """
    if bootstrap < 1:
        raise ValueError(f"bootstrap must be at least 1, got {bootstrap!r}")
    rng, n = np.random.default_rng(seed), terms.size
    rows = max(1, _RESAMPLED_AT_ONCE // n)
    means = np.concatenate([terms[rng.integers(0, n, size=(min(rows, bootstrap - start), n))].mean(axis=1)
                            for start in range(0, bootstrap, rows)])
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)
