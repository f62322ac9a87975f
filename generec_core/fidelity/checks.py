"""The verdict shape every fidelity check returns, and the authenticity check.

A check never raises on bad content: an undecodable asset is a failed verdict with the
decoder's reason, so one broken file costs one row, not the run. Reasons are short and
constant per failure kind ("blurred", "unlike its source") while the numbers live in
``score`` and ``threshold``, so a run's dominant failure reasons can be counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Union

import numpy as np

Threshold = Union[float, list, None]  # a bound, a [low, high] range, or None for pass/fail checks


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    score: float | None
    threshold: Threshold
    reason: str = ""

    @classmethod
    def of(cls, name: str, passed: bool, score: float | None, threshold: Threshold, failure: str) -> "CheckResult":
        """A verdict whose reason is ``failure`` only when it failed."""
        return cls(name, bool(passed), score, threshold, "" if passed else failure)

    def to_dict(self) -> dict:
        return asdict(self)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two embeddings (the encoder's rows are L2-normalised; re-normalise anyway)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denom if denom > 0 else 0.0


def authenticity(score: float | None, threshold: float) -> CheckResult:
    """Cosine(asset, its source) in encoder space at least ``threshold``; None = source unknown."""
    if score is None:
        return CheckResult("authenticity", False, None, threshold, "source unknown")
    return CheckResult.of("authenticity", score >= threshold, round(score, 4), threshold, "unlike its source")


def verdict(checks: list[CheckResult]) -> dict:
    """One asset's verdict: passed when every check passed; reasons of the failed ones."""
    return {"passed": all(c.passed for c in checks),
            "reasons": sorted({f"{c.name}: {c.reason}" for c in checks if not c.passed}),
            "checks": [c.to_dict() for c in checks]}
