"""Stage ``instruct``: every user's instructions and feedback -> one guidance record per user.

Inputs (point in time: nothing dated after the logical date is read):
- ``raw/instructions/dt=<d>/*.jsonl`` for every ``d <= date`` (``user_id``, ``text``, ``ts``).
  All of a user's history counts, oldest first, so an opt-out from last year still holds and a
  newer instruction overrides an older one only where they contradict (``guidance.fold``).
- ``lake/interactions/dt=<d>`` for the ``feedback_lookback_days`` days up to ``date`` and the
  items' optional ``topics`` (feedback-derived topics, ``instructor/feedback.py``).

Outputs:
- ``features/guidance/dt=<date>/guidance.jsonl``: one record per user seen in either input,
  sorted by user (record contract: ``generec_core/instructor/__init__.py``).
- ``lake/quarantine/instruct/dt=<date>/rejected.jsonl``: the date's refused or malformed
  instructions with a reason, text scrubbed of personal data (raw text is never stored).

Understanding is deterministic (the encoder runs in inference mode, rules are pure), so
re-running a date rewrites the same bytes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TypedDict

from generec_core.config import PipelineConfig
from generec_core.datasets import instructions as instruction_logs
from generec_core.datasets.guidance import write_guidance
from generec_core.datasets.interactions import feedback_events
from generec_core.datasets.items import item_topics
from generec_core.datasets.layout import Layout
from generec_core.instructor import feedback
from generec_core.instructor.encoder import TextEncoder, default_encoder
from generec_core.instructor.guidance import Reading, clip_base, fold
from generec_core.instructor.reading import understand
from generec_core.instructor.scrub import scrub


class InstructSummary(TypedDict):
    users: int
    instructions: int
    instructions_today: int
    rejected_today: dict[str, int]
    malformed_today: int
    pii_scrubbed_today: int
    from_instruction: int
    from_feedback: int
    default: int
    opt_out: int
    generate: int
    guidance: str


def run(config: PipelineConfig, date: str) -> InstructSummary:
    return build_guidance(config, date)


def build_guidance(config: PipelineConfig, date: str, encoder: TextEncoder | None = None) -> InstructSummary:
    """Write the date's guidance records (and quarantine); return counts for the run's metrics."""
    layout = Layout.for_config(config)
    cfg = config.instructor
    instructions, malformed = instruction_logs.read_instructions(layout, date)
    encoder = encoder if encoder is not None or not instructions else default_encoder()
    readings: dict[str, list[Reading]] = defaultdict(list)
    rejected_today: list[dict] = [{"file": m.file, "line": m.line, "reason": m.reason,
                                   "text": scrub(m.raw).text[:500]} for m in malformed]
    reasons: Counter[str] = Counter()
    pii = 0
    for ins in instructions:  # oldest first
        reading = understand(ins.text, encoder, cfg)
        readings[ins.user_id].append(reading)
        if ins.dt == date:
            pii += len(reading.pii)
            if reading.rejected is not None:
                reasons[reading.rejected] += 1
                rejected_today.append({"user_id": ins.user_id, "ts": ins.ts, "reason": reading.rejected,
                                       "text": scrub(ins.text).text})
    events = feedback_events(layout, date, cfg.feedback_lookback_days)
    topic_fb = feedback.topic_feedback(events, item_topics(layout), cfg)
    users = sorted(set(readings) | {u for u, _, _ in events})
    base = clip_base(config.editor)
    records = [fold(readings.get(u, []), cfg, user_id=u, feedback=topic_fb.get(u, ((), ())), base=base)
               for u in users]
    write_guidance(layout, date, records)
    instruction_logs.write_rejected(layout, date, rejected_today)
    sources = Counter(g.source for g in records)
    return {"users": len(records), "instructions": len(instructions),
            "instructions_today": sum(i.dt == date for i in instructions),
            "rejected_today": dict(sorted(reasons.items())), "malformed_today": len(malformed),
            "pii_scrubbed_today": pii, "from_instruction": sources["instruction"],
            "from_feedback": sources["feedback"], "default": sources["default"],
            "opt_out": sum(g.opt_out for g in records), "generate": sum(g.generate for g in records),
            "guidance": layout.guidance(date)}
