"""Off-policy estimators (generec_core/evaluation/off_policy.py) against a simulated world with known truth.

The world: five (user, item) decisions with 3-4 thumbnails each and known click probabilities. The
logging policy puts 90% on one thumbnail (the "favourite", listed first) and spreads 10% over the
rest, with exact propensities. Take rates are high (0.4-0.7) on purpose: the variance SNIPS and DR
remove is the part due to *which* thumbnail was drawn, and with rare clicks the click noise, which
no estimator removes, would hide it at 20 seeds x 20k impressions.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from generec_core.evaluation.off_policy import (Estimate, Impression, deterministic, evaluate_policy, on_policy,
                                                uniform_policy)

CTR = {"u1\x1fi1": (0.50, 0.40, 0.65), "u1\x1fi2": (0.70, 0.45, 0.55, 0.40), "u2\x1fi1": (0.45, 0.60, 0.50),
       "u2\x1fi3": (0.60, 0.50, 0.40, 0.55), "u3\x1fi2": (0.65, 0.50, 0.45, 0.55)}
CONTEXTS = sorted(CTR)
CANDIDATES = {context: tuple(f"frame{k}.jpg" for k in range(len(ctr))) for context, ctr in CTR.items()}
SEEDS = range(20)
N = 20_000
BOOTSTRAP = 500  # a 95% percentile interval from fewer replicates moves its ends visibly

TARGETS = {
    "top": deterministic(lambda imp: imp.candidates[0]),
    "best": deterministic(lambda imp: imp.candidates[int(np.argmax(CTR[imp.context]))]),
    "uniform": uniform_policy,
}


def true_reward(imp: Impression, candidate: str) -> float:
    return CTR[imp.context][imp.candidates.index(candidate)]


def wrong_reward(imp: Impression, candidate: str) -> float:
    """A badly wrong model (favours the least clicked thumbnails): DR must stay unbiased anyway."""
    return 1.0 - true_reward(imp, candidate)


def favouring_logger(k: int, favourite: float = 0.9) -> tuple[float, ...]:
    return (favourite,) + ((1 - favourite) / (k - 1),) * (k - 1)


def simulate(seed: int, n: int = N, logger=favouring_logger) -> list[Impression]:
    """n impressions: a context uniformly at random, a thumbnail by ``logger``, a click by its CTR."""
    rng = np.random.default_rng(seed)
    context, draw, click = rng.integers(0, len(CONTEXTS), n), rng.random(n), rng.random(n)
    logs: list[Impression | None] = [None] * n
    for j, name in enumerate(CONTEXTS):
        rows = np.flatnonzero(context == j)
        propensity = logger(len(CTR[name]))
        shown = np.minimum(np.searchsorted(np.cumsum(propensity), draw[rows], side="right"), len(propensity) - 1)
        clicked = click[rows] < np.asarray(CTR[name])[shown]
        for i, k, r in zip(rows.tolist(), shown.tolist(), clicked.tolist()):
            logs[i] = Impression(name, CANDIDATES[name][k], propensity[k], float(r), CANDIDATES[name])
    return logs


def truth(policy) -> float:
    """mean over contexts of sum_a pi(a|x) ctr(x, a): contexts are drawn uniformly."""
    values = []
    for name in CONTEXTS:
        probabilities = policy(Impression(name, CANDIDATES[name][0], 1.0, 0.0, CANDIDATES[name]))
        values.append(sum(probabilities.get(a, 0.0) * ctr for a, ctr in zip(CANDIDATES[name], CTR[name])))
    return float(np.mean(values))


@pytest.fixture(scope="module")
def runs() -> dict[str, list[dict[str, Estimate]]]:
    """Per target, per seed: the estimates with the true reward model (with an interval) and without one.

    The uniform target also gets a wrong reward model. Intervals only where a test reads them: the
    bootstrap is most of the cost.
    """
    out: dict[str, list[dict[str, Estimate]]] = {name: [] for name in TARGETS}
    for seed in SEEDS:
        logs = simulate(seed)
        for name, policy in TARGETS.items():
            run = {"true": evaluate_policy(logs, policy, true_reward, bootstrap=BOOTSTRAP, seed=seed),
                   "none": evaluate_policy(logs, policy, bootstrap=1, seed=seed)}
            if name == "uniform":
                run["wrong"] = evaluate_policy(logs, policy, wrong_reward, bootstrap=1, seed=seed)
            out[name].append(run)
    return out


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_dr_interval_covers_the_truth_and_ips_is_close(runs, target):
    value = truth(TARGETS[target])
    covered = sum(run["true"].ci95[0] <= value <= run["true"].ci95[1] for run in runs[target])
    assert covered >= 17, covered
    assert np.mean([abs(run["none"].ips - value) for run in runs[target]]) < 0.02


@pytest.mark.parametrize("target", ["best", "uniform"])
def test_snips_and_dr_with_a_true_model_vary_less_than_ips(runs, target):
    """Only for targets that stray from the logger: "top" is nearly the logger (weights ~1.1), so there
    the three estimators coincide up to a few percent, too little to rank at 20 seeds."""
    ips = np.std([run["none"].ips for run in runs[target]])
    assert np.std([run["none"].snips for run in runs[target]]) < ips
    assert np.std([run["true"].dr for run in runs[target]]) < ips


def test_dr_stays_unbiased_with_a_wrong_reward_model(runs):
    estimates = [run["wrong"].dr for run in runs["uniform"]]
    assert abs(np.mean(estimates) - truth(uniform_policy)) < 3 * np.std(estimates) / math.sqrt(len(estimates))


def test_dr_without_a_reward_model_is_ips(runs):
    for run in runs["uniform"]:
        assert run["none"].dr == pytest.approx(run["none"].ips, abs=1e-12)


def test_on_policy_is_the_plain_take_rate():
    logs = simulate(1, n=5_000)
    rate = np.mean([imp.reward for imp in logs])
    estimate = on_policy(logs)
    for value in (estimate.replay, estimate.ips, estimate.snips, estimate.dr):
        assert value == pytest.approx(rate, abs=1e-12)
    assert estimate.ci95[0] < rate < estimate.ci95[1]
    assert estimate.n == 5_000


def test_replay_is_the_matched_mean_for_a_deterministic_target_under_uniform_logging():
    logs = simulate(2, n=5_000, logger=lambda k: (1.0 / k,) * k)
    choose = TARGETS["best"]
    matched = [imp.reward for imp in logs if choose(imp).get(imp.shown, 0.0) == 1.0]
    estimate = evaluate_policy(logs, choose, bootstrap=10)
    assert estimate.replay == pytest.approx(np.mean(matched), abs=1e-12)
    assert abs(estimate.replay - truth(choose)) < 0.05


def test_replay_and_snips_are_none_when_the_target_never_matches():
    logs = [Impression("u\x1fi", "a", 0.5, 1.0, ("a", "b"))]
    estimate = evaluate_policy(logs, deterministic(lambda imp: "b"), bootstrap=10)
    assert (estimate.replay, estimate.snips, estimate.ips, estimate.dr) == (None, None, 0.0, 0.0)


def test_the_bootstrap_interval_is_reproducible():
    logs = simulate(3, n=2_000)
    first = evaluate_policy(logs, uniform_policy, true_reward, seed=7)
    assert evaluate_policy(logs, uniform_policy, true_reward, seed=7).ci95 == first.ci95
    assert evaluate_policy(logs, uniform_policy, true_reward, seed=8).ci95 != first.ci95
    assert on_policy(logs, seed=7).ci95 == on_policy(logs, seed=7).ci95


def test_to_dict_rounds_and_keeps_none():
    estimate = Estimate(replay=None, ips=0.123456789, snips=None, dr=0.1, ci95=(0.0999999999, 0.2), n=3)
    assert estimate.to_dict() == {"replay": None, "ips": 0.123457, "snips": None, "dr": 0.1,
                                  "ci95": [0.1, 0.2], "n": 3}


def _one(context: str = "u7\x1fi9", propensity: float = 0.5, shown: str = "a") -> Impression:
    return Impression(context, shown, propensity, 1.0, ("a", "b"))


@pytest.mark.parametrize("propensity", [0.0, -0.1, 1.5, float("nan")])
def test_a_propensity_outside_0_1_is_refused_by_value_and_context(propensity):
    logs = [_one(), _one(context="u8\x1fi2", propensity=propensity)]
    expected = r"impression 1 \(context 'u8\\x1fi2'.*propensity " + re.escape(repr(propensity))
    with pytest.raises(ValueError, match=expected):
        evaluate_policy(logs, uniform_policy)
    with pytest.raises(ValueError, match="propensity"):
        on_policy(logs)


def test_a_policy_not_summing_to_one_is_refused_by_sum_and_context():
    with pytest.raises(ValueError, match=r"context 'u7\\x1fi9': policy probabilities sum to 0\.75, not 1"):
        evaluate_policy([_one()], lambda imp: {"a": 0.5, "b": 0.25})


def test_a_policy_giving_mass_to_a_non_candidate_is_refused():
    with pytest.raises(ValueError, match=r"'c', which is not a candidate"):
        evaluate_policy([_one()], lambda imp: {"a": 0.5, "c": 0.5})


@pytest.mark.parametrize("bad", [
    pytest.param(lambda: evaluate_policy([], uniform_policy), id="no impressions"),
    pytest.param(lambda: on_policy([]), id="no impressions on policy"),
    pytest.param(lambda: evaluate_policy([_one(shown="z")], uniform_policy), id="shown not a candidate"),
    pytest.param(lambda: evaluate_policy([_one()], lambda imp: {"a": 1.5, "b": -0.5}), id="negative probability"),
    pytest.param(lambda: evaluate_policy([_one()], uniform_policy, lambda imp, a: float("nan")), id="nan model"),
    pytest.param(lambda: evaluate_policy([_one()], uniform_policy, bootstrap=0), id="no bootstrap"),
])
def test_other_unusable_inputs_are_refused(bad):
    with pytest.raises(ValueError):
        bad()


def test_ready_made_policies():
    imp = Impression("u\x1fi", "b", 0.25, 0.0, ("a", "b", "c", "d"))
    assert uniform_policy(imp) == {"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}
    assert deterministic(lambda i: i.candidates[-1])(imp) == {"d": 1.0}


@st.composite
def logged_world(draw):
    """Small arbitrary logs, a stochastic target and a reward model, all as plain tables."""
    contexts = [f"u{j}\x1fi" for j in range(draw(st.integers(1, 3)))]
    candidates = {c: tuple(f"t{k}" for k in range(draw(st.integers(1, 4)))) for c in contexts}
    target, model = {}, {}
    for c, names in candidates.items():
        mass = draw(st.lists(st.integers(0, 5), min_size=len(names), max_size=len(names)).filter(any))
        target[c] = {a: m / sum(mass) for a, m in zip(names, mass)}
        model.update({(c, a): draw(st.floats(0, 1)) for a in names})
    logs = []
    for _ in range(draw(st.integers(1, 30))):
        c = draw(st.sampled_from(contexts))
        logs.append(Impression(c, draw(st.sampled_from(candidates[c])), draw(st.floats(0.01, 1.0)),
                               draw(st.sampled_from([0.0, 1.0])), candidates[c]))
    return logs, target, model


@given(logged_world())
def test_estimators_match_the_formulas_term_by_term(world):
    logs, target, model = world
    estimate = evaluate_policy(logs, lambda imp: target[imp.context], lambda imp, a: model[(imp.context, a)],
                               bootstrap=20)
    pi = [target[i.context].get(i.shown, 0.0) for i in logs]
    w = [p / i.propensity for p, i in zip(pi, logs)]
    dr = [sum(target[i.context][a] * model[(i.context, a)] for a in i.candidates)
          + wi * (i.reward - model[(i.context, i.shown)]) for wi, i in zip(w, logs)]
    assert estimate.ips == pytest.approx(np.mean([wi * i.reward for wi, i in zip(w, logs)]), abs=1e-9)
    assert estimate.dr == pytest.approx(np.mean(dr), abs=1e-9)
    assert min(dr) - 1e-9 <= estimate.ci95[0] <= estimate.ci95[1] <= max(dr) + 1e-9
    if sum(pi) > 0:
        assert estimate.replay == pytest.approx(sum(p * i.reward for p, i in zip(pi, logs)) / sum(pi), abs=1e-9)
        assert estimate.snips == pytest.approx(sum(wi * i.reward for wi, i in zip(w, logs)) / sum(w), abs=1e-9)
    else:
        assert estimate.replay is None and estimate.snips is None
