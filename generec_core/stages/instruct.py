"""The instruct stage: every user's instructions and feedback -> one guidance record per user.

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

import datetime as dt
import json
import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import pyarrow as pa

from generec_core.config import PipelineConfig
from generec_core.instructor import feedback
from generec_core.instructor.encoder import TextEncoder, default_encoder
from generec_core.instructor.guidance import Guidance, Reading, clip_base, fold
from generec_core.instructor.reading import understand
from generec_core.instructor.scrub import scrub
from generec_core.items import ItemsManifestError, read_items
from generec_core.layout import Layout
from generec_core.storage import (ObjectNotFound, is_missing, join, list_uris, read_parquet, read_text, storage_for)

log = logging.getLogger(__name__)

_DT = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/")
MALFORMED = "malformed"


@dataclass(frozen=True)
class Instruction:
    user_id: str
    text: str
    ts: str  # ISO-8601 UTC as written; sorts chronologically once normalised
    dt: str


def build_guidance(config: PipelineConfig, date: str, encoder: TextEncoder | None = None) -> dict:
    """Write the date's guidance records (and quarantine); return counts for the run's metrics."""
    layout = Layout(config.root)
    cfg = config.instructor
    instructions, bad = read_instructions(layout, date)
    encoder = encoder if encoder is not None or not instructions else default_encoder()
    readings: dict[str, list[Reading]] = defaultdict(list)
    rejected_today: list[dict] = list(bad)
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
    events = read_feedback_events(layout, date, cfg.feedback_lookback_days)
    topic_fb = feedback.topic_feedback(events, item_topics(layout), cfg)
    users = sorted(set(readings) | {u for u, _, _ in events})
    base = clip_base(config.editor)
    records = [fold(readings.get(u, []), cfg, user_id=u, feedback=topic_fb.get(u, ((), ())), base=base)
               for u in users]
    _write_jsonl(layout.guidance(date), [g.to_dict() for g in records])
    _write_jsonl(join(layout.quarantine("instruct", date), "rejected.jsonl"), rejected_today)
    sources = Counter(g.source for g in records)
    return {"users": len(records), "instructions": len(instructions),
            "instructions_today": sum(i.dt == date for i in instructions),
            "rejected_today": dict(sorted(reasons.items())), "malformed_today": len(bad), "pii_scrubbed_today": pii,
            "from_instruction": sources["instruction"], "from_feedback": sources["feedback"],
            "default": sources["default"], "opt_out": sum(g.opt_out for g in records),
            "generate": sum(g.generate for g in records), "guidance": layout.guidance(date)}


def guidance_for(config: PipelineConfig, date: str) -> dict[str, Guidance]:
    """user_id -> Guidance of the date; empty when the instruct stage has not written it (logged)."""
    return read_guidance(Layout(config.root), date)


def read_guidance(layout: Layout, date: str) -> dict[str, Guidance]:
    uri = layout.guidance(date)
    try:
        text = read_text(uri)
    except ObjectNotFound:
        log.warning("no guidance at %s (instruct stage not run): every user gets the defaults", uri)
        return {}
    out = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                g = Guidance.from_dict(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{uri}:{lineno}: {exc}") from None
            out[str(g.user_id)] = g
    return out


def apply_guidance(layout: Layout, date: str, worklist: pa.Table) -> tuple[pa.Table, set[str], int]:
    """The editor's side of the guidance: drop pairs whose item topics the user avoids.

    Returns (worklist without those pairs, users who opted out, pairs dropped). Dropping
    happens here, at the editor, rather than in candidate generation, so an avoided item is
    never promoted whatever produced the candidate list; the user gets fewer than top-K
    personalised items that night rather than one they asked not to see.
    """
    guidance = read_guidance(layout, date)
    if not guidance or worklist.num_rows == 0:
        return worklist, set(), 0
    opted_out = {u for u, g in guidance.items() if g.opt_out}
    avoid = {u: set(g.avoid_topics) for u, g in guidance.items() if g.avoid_topics}
    topics = item_topics(layout) if avoid else {}
    keep = [not (avoid.get(u, set()) & set(topics.get(i, ())))
            for u, i in zip(worklist.column("user_id").to_pylist(), worklist.column("item_id").to_pylist())]
    dropped = keep.count(False)
    return (worklist.filter(pa.array(keep, pa.bool_())) if dropped else worklist), opted_out, dropped


def read_instructions(layout: Layout, date: str) -> tuple[list[Instruction], list[dict]]:
    """Valid instructions dated ``<= date`` in time order, and the date's malformed lines (scrubbed)."""
    good: list[Instruction] = []
    bad: list[dict] = []
    for uri in list_uris(layout.raw_instructions_root, ".jsonl"):
        m = _DT.search(uri)
        if m is None or m.group(1) > date:
            continue
        for lineno, raw in enumerate(storage_for(uri).read_bytes(uri).splitlines(), start=1):
            if not raw.strip():
                continue
            ins, reason = _parse(raw, m.group(1))
            if ins is not None:
                good.append(ins)
            elif m.group(1) == date:
                bad.append({"file": uri.rsplit("/", 1)[-1], "line": lineno, "reason": reason,
                            "text": scrub(raw.decode("utf-8", "replace")).text[:500]})
    good.sort(key=lambda i: (i.user_id, _sort_ts(i.ts), i.dt, i.text))
    return good, bad


def _parse(raw: bytes, dt_: str) -> tuple[Instruction | None, str]:
    try:
        rec = json.loads(raw)
    except ValueError:
        return None, f"{MALFORMED}: not JSON"
    if not isinstance(rec, dict):
        return None, f"{MALFORMED}: not a JSON object"
    user, text, ts = rec.get("user_id"), rec.get("text"), rec.get("ts")
    if not isinstance(user, str) or not user.strip():
        return None, f"{MALFORMED}: user_id missing"
    if not isinstance(text, str):
        return None, f"{MALFORMED}: text missing"
    if not isinstance(ts, str) or _sort_ts(ts) is None:
        return None, f"{MALFORMED}: ts is not ISO-8601"
    return Instruction(user, text, ts, dt_), ""


def _sort_ts(ts: str) -> str | None:
    try:
        parsed = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc).isoformat()


def item_topics(layout: Layout) -> dict[str, tuple[str, ...]]:
    try:
        return {i.item_id: i.topics for i in read_items(layout) if i.topics}
    except (ObjectNotFound, ItemsManifestError) as exc:
        log.warning("no item topics for feedback (%s)", exc)
        return {}


def read_feedback_events(layout: Layout, date: str, days: int) -> list[tuple[str, str, str]]:
    """(user, item, event_type) of likes and skips in the lookback window of cleaned interactions."""
    end = dt.date.fromisoformat(date)
    events: list[tuple[str, str, str]] = []
    for k in range(max(days, 0)):
        day = (end - dt.timedelta(days=k)).isoformat()
        try:
            table = read_parquet(layout.lake_interactions(day)).select(["user_id", "item_id", "event_type"])
        except Exception as exc:  # noqa: BLE001 -- a missing partition is normal, anything else is not
            if is_missing(exc):
                continue
            raise
        events.extend(zip(*(table.column(c).to_pylist() for c in ("user_id", "item_id", "event_type"))))
    return sorted((u, i, e) for u, i, e in events if u and i and e in ("like", "skip"))


def _write_jsonl(uri: str, rows: list[dict]) -> None:
    data = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    storage_for(uri).write_bytes(uri, data)
