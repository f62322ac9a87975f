"""What makes an id (event, user, item) usable: one rule wherever ids enter the pipeline.

An id is data, never a path (``datasets.layout.safe_name`` makes file names), but an id with
control characters, surrounding whitespace or an absurd length is a producer's bug: two spellings
of one user, or a log line that breaks every reader downstream. Such a row is quarantined.
"""

from __future__ import annotations

import hashlib
import re

CONTROL_CHARS = r"[\x00-\x1f\x7f]"  # also a Spark (Java) regex: spark/ingest.py uses the same pattern
_CONTROL = re.compile(CONTROL_CHARS)


def is_usable_id(value: str, max_chars: int) -> bool:
    return len(value) <= max_chars and not _CONTROL.search(value) and value.strip() == value


def shard_of(key: str, shards: int) -> int:
    """Stable shard of an id (a user, an item, an asset URI): first 8 hex digits of sha256(key utf-8) mod
    ``shards``. The same on every run, task and host (unlike Python's ``hash``); the Spark worklist computes
    it in SQL (``spark.features.shard_column``)."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % shards
