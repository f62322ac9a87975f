"""Per-field accuracy of the instructor on a labelled set of instructions (JSONL).

Each line: ``text``, optional ``tags`` and the expected fields, omitted when empty/null:
``styles``, ``avoid_styles``, ``prefer_topics``, ``avoid_topics`` (lists), ``length``
("shorter" | "longer" | [min_s|null, max_s|null] | null), ``opt_out`` (true | false | null:
not mentioned), ``rejected`` (a guard reason | null), ``pii`` (strings that must not survive
scrubbing). ``generate`` is derived: a style asked for, no opt-out, not rejected.

An instruction counts as correct for a field when the field matches exactly (sets for lists).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generec_core.config import InstructorConfig
from generec_core.instructor.encoder import TextEncoder
from generec_core.instructor.guidance import Reading, clip_seconds, fold
from generec_core.instructor.reading import understand
from generec_core.instructor.scrub import scrub

FIELDS: tuple[str, ...] = ("styles", "avoid_styles", "prefer_topics", "avoid_topics", "clip_seconds", "opt_out",
                           "rejected", "generate", "pii_scrubbed")


@dataclass
class Report:
    n: int = 0
    correct: dict[str, int] = field(default_factory=lambda: {f: 0 for f in FIELDS})
    counted: dict[str, int] = field(default_factory=lambda: {f: 0 for f in FIELDS})
    errors: list[dict[str, Any]] = field(default_factory=list)

    def accuracy(self) -> dict[str, float]:
        return {f: self.correct[f] / self.counted[f] for f in FIELDS if self.counted[f]}

    def all_fields_correct(self) -> float:
        wrong = {e["line"] for e in self.errors}
        return (self.n - len(wrong)) / self.n if self.n else 0.0


def load(path: str | Path) -> list[dict[str, Any]]:
    out = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                out.append({**json.loads(line), "line": lineno})
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: not JSON ({exc})") from None
    return out


def _length(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _observed(reading: Reading, cfg: InstructorConfig, text: str) -> dict[str, Any]:
    guidance = fold([reading], cfg)
    return {"styles": set(reading.styles), "avoid_styles": set(reading.avoid_styles),
            "prefer_topics": set(reading.prefer_topics), "avoid_topics": set(reading.avoid_topics),
            "clip_seconds": clip_seconds(reading.length, cfg), "opt_out": reading.opt_out,
            "rejected": reading.rejected, "generate": guidance.generate, "scrubbed": scrub(text).text}


def _expected(case: dict[str, Any], cfg: InstructorConfig) -> dict[str, Any]:
    styles = set(case.get("styles", ()))
    return {"styles": styles, "avoid_styles": set(case.get("avoid_styles", ())),
            "prefer_topics": set(case.get("prefer_topics", ())), "avoid_topics": set(case.get("avoid_topics", ())),
            "clip_seconds": clip_seconds(_length(case.get("length")), cfg), "opt_out": case.get("opt_out"),
            "rejected": case.get("rejected"),
            "generate": bool(styles) and case.get("opt_out") is not True and case.get("rejected") is None}


def evaluate(cases: list[dict[str, Any]], encoder: TextEncoder, cfg: InstructorConfig) -> Report:
    report = Report()
    for case in cases:
        report.n += 1
        got = _observed(understand(case["text"], encoder, cfg), cfg, case["text"])
        want = _expected(case, cfg)
        for name in FIELDS[:-1]:
            report.counted[name] += 1
            if got[name] == want[name]:
                report.correct[name] += 1
            else:
                report.errors.append({"line": case["line"], "text": case["text"], "field": name,
                                      "want": _show(want[name]), "got": _show(got[name])})
        if case.get("pii"):
            report.counted["pii_scrubbed"] += 1
            leaked = [p for p in case["pii"] if p.lower() in got["scrubbed"].lower()]
            if leaked:
                report.errors.append({"line": case["line"], "text": "<pii case>", "field": "pii_scrubbed",
                                      "want": [], "got": f"{len(leaked)} leaked"})
            else:
                report.correct["pii_scrubbed"] += 1
    return report


def _show(value: Any) -> Any:
    return sorted(value) if isinstance(value, set) else value
