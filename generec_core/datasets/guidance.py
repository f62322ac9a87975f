"""Dataset ``guidance``: one generation-guidance record per user and date (the instructor's output).

``features/guidance/dt=<date>/guidance.jsonl``, one ``instructor.Guidance`` record per line
(record contract: ``generec_core/instructor/__init__.py``), sorted by user. The editor and the
generator read it; no guidance for a date (the instruct stage did not run) is normal and means
every user gets the defaults.
"""

from __future__ import annotations

import json
import logging

from generec_core.datasets.instructions import jsonl
from generec_core.datasets.layout import Layout
from generec_core.instructor.guidance import Guidance
from generec_core.storage import ObjectNotFound

log = logging.getLogger(__name__)


def write_guidance(layout: Layout, date: str, records: list[Guidance]) -> None:
    layout.store.write_bytes(layout.guidance(date), jsonl([g.to_dict() for g in records]))


def read_guidance(layout: Layout, date: str) -> dict[str, Guidance]:
    """user_id -> Guidance of the date; empty (and logged) when the instruct stage has not written it."""
    uri = layout.guidance(date)
    try:
        text = layout.store.read_text(uri)
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
