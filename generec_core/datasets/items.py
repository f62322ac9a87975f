"""Dataset ``items``: the item catalogue input (``raw/items/items.jsonl``, input contract v1).

Every stage that needs an item's video or cover goes through ``read_items`` so the contract's
rules (paths relative to ``raw/items/``, cover optional) live in one place. A line that breaks
them costs that line only: it is left out with its reason (``read_catalogue``), and the frames
stage keeps those reasons in ``lake/quarantine/items_manifest/rejected.jsonl``. A file that is
missing altogether is the only error.

Rules, first that applies: ``bad_json`` (not a JSON object), ``missing_field:<f>`` (``item_id``
or ``video`` absent, null or blank), ``bad_type:<f>`` (a field of the wrong JSON type: the ids
and paths are strings, ``title`` a string, ``topics`` a list of strings), ``bad_id:item_id``
(control characters, surrounding whitespace, longer than ``ingest.max_id_chars``),
``path_outside_items:<f>`` (``video`` or ``cover`` absolute, with a ``..`` segment, or a link
that resolves outside ``raw/items/``: never opened), ``duplicate_item_id`` (a later line with an
id already seen: the first line wins).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from generec_core.config import IngestConfig
from generec_core.datasets.layout import Layout
from generec_core.generation.taste import cover_image_pixels, first_frame_pixels
from generec_core.identifiers import CONTROL_CHARS, is_usable_id
from generec_core.storage import LocalStorage, ObjectNotFound, join

log = logging.getLogger(__name__)

_CONTROL_CHARS = re.compile(CONTROL_CHARS)  # in a path too
_MAX_LINE_CHARS = 2000  # of a rejected line kept in the quarantine record


@dataclass(frozen=True)
class Item:
    item_id: str
    video_uri: str
    cover_uri: str | None  # None: the cover is the video's first frame
    title: str = ""
    topics: tuple[str, ...] = ()  # optional (contract v1 addition): lower-case topic names


@dataclass(frozen=True)
class RejectedItemLine:
    line: int
    reason: str
    text: str  # the line as read, cut at _MAX_LINE_CHARS

    def to_dict(self) -> dict:
        return {"line": self.line, "reason": self.reason, "text": self.text}


class _Rejected(ValueError):
    """One line breaks a rule: its reason code."""


def read_catalogue(layout: Layout, max_id_chars: int = IngestConfig.max_id_chars
                   ) -> tuple[list[Item], list[RejectedItemLine]]:
    """The items of ``items.jsonl`` that keep the contract, and each line that does not, with its reason."""
    items: list[Item] = []
    rejected: list[RejectedItemLine] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(layout.store.read_bytes(layout.items_manifest).splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = _item(layout, raw, max_id_chars)
            if item.item_id in seen:
                raise _Rejected("duplicate_item_id")
        except _Rejected as exc:
            text = raw.decode("utf-8", "replace")[:_MAX_LINE_CHARS]
            rejected.append(RejectedItemLine(lineno, str(exc), text))
            continue
        seen.add(item.item_id)
        items.append(item)
    if rejected:
        log.warning("%s: %s line(s) left out: %s", layout.items_manifest, len(rejected),
                    sorted({r.reason for r in rejected}))
    return items, rejected


def read_items(layout: Layout) -> list[Item]:
    """The items that keep the contract (lines that break it are left out; see ``read_catalogue``)."""
    return read_catalogue(layout)[0]


def _item(layout: Layout, raw: bytes, max_id_chars: int) -> Item:
    try:
        rec = json.loads(raw)
    except ValueError:
        raise _Rejected("bad_json") from None
    if not isinstance(rec, dict):
        raise _Rejected("bad_json")
    item_id, video = _required(rec, "item_id"), _required(rec, "video")
    if not is_usable_id(item_id, max_id_chars):
        raise _Rejected("bad_id:item_id")
    cover, title = _optional(rec, "cover", str), _optional(rec, "title", str)
    return Item(item_id=item_id, video_uri=_inside_items(layout, video, "video"),
                cover_uri=_inside_items(layout, cover, "cover") if cover else None,
                title=title or "", topics=_topics(rec.get("topics")))


def _required(rec: dict, name: str) -> str:
    value = rec.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Rejected(f"missing_field:{name}")
    if not isinstance(value, str):
        raise _Rejected(f"bad_type:{name}")
    return value


def _optional(rec: dict, name: str, kind: type) -> object:
    value = rec.get(name)
    if value is not None and not isinstance(value, kind):
        raise _Rejected(f"bad_type:{name}")
    return value


def _topics(value: object) -> tuple[str, ...]:
    """Optional ``topics``: a list of strings (compared lower-case with the instructor's vocabulary)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise _Rejected("bad_type:topics")
    return tuple(sorted({t.strip().lower() for t in value if t.strip()}))


def _inside_items(layout: Layout, rel: str, name: str) -> str:
    """The URI of a path relative to ``raw/items/``; one that could lead outside it is refused, unopened."""
    path = PurePosixPath(rel)
    if path.is_absolute() or rel.startswith("\\") or ".." in path.parts or _CONTROL_CHARS.search(rel):
        raise _Rejected(f"path_outside_items:{name}")
    uri = join(layout.items_dir, rel)
    if uri.startswith("file://"):  # a link under raw/items/ must not lead out of it
        base = LocalStorage.path(layout.items_dir).resolve()
        target = LocalStorage.path(uri).resolve()
        if target != base and base not in target.parents:
            raise _Rejected(f"path_outside_items:{name}")
    return uri


def cover_loader(layout: Layout) -> Callable[[str], np.ndarray | None]:
    """``item_id -> cover pixels`` (at most ``taste.COVER_MAX_SIDE``): the cover image, else the video's first
    frame, as the input contract says; None for an unknown item; raises when the file is unreadable."""
    items = {i.item_id: i for i in read_items(layout)}

    def load(item_id: str) -> np.ndarray | None:
        item = items.get(item_id)
        if item is None:
            return None
        if item.cover_uri is not None:
            return cover_image_pixels(layout.store.read_bytes(item.cover_uri))
        with layout.store.local_file(item.video_uri) as path:
            return first_frame_pixels(path)
    return load


def item_topics(layout: Layout) -> dict[str, tuple[str, ...]]:
    """item_id -> its topics, for items that declare any; empty (and logged) when the catalogue is missing."""
    try:
        return {i.item_id: i.topics for i in read_items(layout) if i.topics}
    except ObjectNotFound as exc:
        log.warning("no item topics (%s)", exc)
        return {}


def write_rejected(layout: Layout, rejected: list[RejectedItemLine]) -> None:
    """Replace the record of the catalogue's rejected lines (one JSON object per line)."""
    layout.store.write_text(layout.rejected_items,
                            "".join(json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=False) + "\n"
                                    for r in rejected))
