"""Dataset ``items``: the item catalogue input (``raw/items/items.jsonl``, input contract v1).

Every stage that needs an item's video or cover goes through ``read_items`` so the contract's
rules (paths relative to ``raw/items/``, cover optional) live in one place.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from generec_core.datasets.layout import Layout
from generec_core.storage import ObjectNotFound, join

log = logging.getLogger(__name__)


class ItemsManifestError(ValueError):
    """The items manifest itself is unusable (as opposed to one bad item)."""


@dataclass(frozen=True)
class Item:
    item_id: str
    video_uri: str
    cover_uri: str | None  # None: the cover is the video's first frame
    title: str = ""
    topics: tuple[str, ...] = ()  # optional (contract v1 addition): lower-case topic names


def read_items(layout: Layout) -> list[Item]:
    """Parse items.jsonl; a malformed line is an error naming the file and line number."""
    uri = layout.items_manifest
    items: list[Item] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(layout.store.read_bytes(uri).splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
            item_id, video = str(rec["item_id"]), str(rec["video"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ItemsManifestError(f"{uri}:{lineno}: not a valid item record ({exc!r})") from None
        if item_id in seen:
            raise ItemsManifestError(f"{uri}:{lineno}: duplicate item_id {item_id!r}")
        seen.add(item_id)
        cover = rec.get("cover")
        items.append(Item(item_id=item_id, video_uri=_resolve(layout, video, uri, lineno),
                          cover_uri=_resolve(layout, cover, uri, lineno) if cover else None,
                          title=str(rec.get("title", "")), topics=_topics(rec.get("topics"), uri, lineno)))
    return items


def _topics(value: object, uri: str, lineno: int) -> tuple[str, ...]:
    """Optional ``topics``: a list of strings (compared lower-case with the instructor's vocabulary)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ItemsManifestError(f"{uri}:{lineno}: topics must be a list of strings, got {value!r}")
    return tuple(sorted({t.strip().lower() for t in value if t.strip()}))


def _resolve(layout: Layout, rel: str, uri: str, lineno: int) -> str:
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts:
        raise ItemsManifestError(f"{uri}:{lineno}: path {rel!r} must stay inside raw/items/")
    return join(layout.items_dir, rel)


def item_topics(layout: Layout) -> dict[str, tuple[str, ...]]:
    """item_id -> its topics, for items that declare any; empty (and logged) when the catalogue is unreadable."""
    try:
        return {i.item_id: i.topics for i in read_items(layout) if i.topics}
    except (ObjectNotFound, ItemsManifestError) as exc:
        log.warning("no item topics (%s)", exc)
        return {}
