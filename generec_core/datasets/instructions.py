"""Dataset ``instructions``: users' natural-language instructions (input) and the ones refused.

- ``raw/instructions/dt=<d>/*.jsonl`` (optional input): ``user_id``, ``text``, ``ts`` per line;
- ``lake/quarantine/instruct/dt=<d>/rejected.jsonl``: the date's refused or malformed
  instructions with a reason, text scrubbed of personal data (raw text is never stored).

Point in time: a reader of date D sees every instruction dated ``<= D`` (an opt-out from last
year still holds) and nothing later.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from generec_core.config import IngestConfig
from generec_core.datasets.layout import Layout, partition_date
from generec_core.identifiers import is_usable_id

MALFORMED = "malformed"


@dataclass(frozen=True)
class Instruction:
    user_id: str
    text: str
    ts: str  # ISO-8601 UTC as written; sorts chronologically once normalised
    dt: str


@dataclass(frozen=True)
class MalformedLine:
    """A line of the date's instructions that is not an instruction: where, why, and its raw text."""

    file: str
    line: int
    reason: str
    raw: str  # scrub before storing: it may hold anything a user typed


def read_instructions(layout: Layout, date: str) -> tuple[list[Instruction], list[MalformedLine]]:
    """Valid instructions dated ``<= date`` in time order, and the date's malformed lines."""
    good: list[Instruction] = []
    bad: list[MalformedLine] = []
    for uri in layout.store.list_uris(layout.raw_instructions_root, ".jsonl"):
        day = partition_date(uri)
        if day is None or day > date:
            continue
        for lineno, raw in enumerate(layout.store.read_bytes(uri).splitlines(), start=1):
            if not raw.strip():
                continue
            ins, reason = _parse(raw, day)
            if ins is not None:
                good.append(ins)
            elif day == date:
                bad.append(MalformedLine(uri.rsplit("/", 1)[-1], lineno, reason, raw.decode("utf-8", "replace")))
    good.sort(key=lambda i: (i.user_id, sort_ts(i.ts), i.dt, i.text))
    return good, bad


def _parse(raw: bytes, day: str) -> tuple[Instruction | None, str]:
    try:
        rec = json.loads(raw)
    except ValueError:
        return None, f"{MALFORMED}: not JSON"
    if not isinstance(rec, dict):
        return None, f"{MALFORMED}: not a JSON object"
    user, text, ts = rec.get("user_id"), rec.get("text"), rec.get("ts")
    if not isinstance(user, str) or not user.strip():
        return None, f"{MALFORMED}: user_id missing"
    if not is_usable_id(user, IngestConfig.max_id_chars):
        return None, f"{MALFORMED}: user_id not a usable id"
    if not isinstance(text, str):
        return None, f"{MALFORMED}: text missing"
    if not isinstance(ts, str) or sort_ts(ts) is None:
        return None, f"{MALFORMED}: ts is not ISO-8601"
    return Instruction(user, text, ts, day), ""


def sort_ts(ts: str) -> str | None:
    """An ISO-8601 time normalised to UTC (so it sorts), or None when it does not parse."""
    try:
        parsed = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc).isoformat()


def write_rejected(layout: Layout, date: str, rejected: list[dict]) -> None:
    """The date's refused and malformed instructions (already scrubbed), one JSON object per line."""
    layout.store.write_bytes(layout.rejected_instructions(date), jsonl(rejected))


def jsonl(rows: list[dict]) -> bytes:
    """One sorted-key JSON object per line, UTF-8 kept as is: byte-stable for the same rows."""
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
