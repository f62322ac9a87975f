"""Personal data out of instruction text, before anything else sees or stores it.

Scrubbing is the first step of understanding: the guard rails, the encoder, the quarantine
and the logs only ever receive the scrubbed text. Each kind of personal data becomes a
typed placeholder (``[email]``, ``[phone]``, ...), so the text keeps its shape ("send it to
[email]") and we can count what was removed without keeping it.

Patterns are deliberately greedy: a false scrub costs a word of an instruction that never
needed it; a missed e-mail address is a leak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Order matters: longer / more specific shapes first, so a card number is not read as a phone.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"[\w.+-]+\s*(?:@|\(at\)|\[at\])\s*[\w-]+(?:\s*(?:\.|\(dot\)|\[dot\])\s*[\w-]+)+",
                         re.IGNORECASE)),
    ("url", re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){3,7}(?:[ ]?[A-Z0-9]{1,3})?\b")),
    ("card", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("ssn", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("ip", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")),
    ("phone", re.compile(r"(?<![\w+])(?:\+|00)?\d[\d\s().-]{5,}\d(?!\w)")),
    ("handle", re.compile(r"(?<![\w@])@[A-Za-z0-9_]{2,}")),
    ("address", re.compile(
        r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|"
        r"Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Close|Square|Strasse|Straße)\b\.?")),
    ("name", re.compile(r"\b(?:[Mm]y name is|[Ii] am called|[Cc]all me)\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?")),
)
_PLACEHOLDER = {"name": "my name is [name]"}
_MIN_PHONE_DIGITS = 7


@dataclass(frozen=True)
class Scrubbed:
    text: str
    kinds: tuple[str, ...]  # one entry per removed span, e.g. ("email", "phone")


def scrub(text: str) -> Scrubbed:
    """Replace personal data in ``text`` by typed placeholders; report what was removed."""
    kinds: list[str] = []
    for kind, pattern in _PATTERNS:
        def replace(match: re.Match[str], kind: str = kind) -> str:
            if kind == "phone" and sum(ch.isdigit() for ch in match.group()) < _MIN_PHONE_DIGITS:
                return match.group()
            kinds.append(kind)
            return _PLACEHOLDER.get(kind, f"[{kind}]")
        text = pattern.sub(replace, text)
    return Scrubbed(text, tuple(kinds))
