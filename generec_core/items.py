"""The item catalogue input (``raw/items/items.jsonl``, input contract v1), parsed once.

Every stage that needs an item's video or cover goes through ``read_items`` so the contract's
rules (paths relative to ``raw/items/``, cover optional) live in one place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from generec_core.layout import Layout
from generec_core.storage import LocalStorage, join, storage_for


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
    for lineno, raw in enumerate(storage_for(uri).read_bytes(uri).splitlines(), start=1):
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


_SAFE_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_MAX_NAME = 120


def safe_name(item_id: str) -> str:
    """An injective, portable file name for any item id.

    Bytes outside ``[A-Za-z0-9._-]`` (and a leading '.') become ``~XX``: unlike '%'
    escapes, '~' survives URI unquoting, so the name is the same on disk, in a
    ``file://`` URI and as an S3 key. Long names keep a prefix plus a hash.
    """
    raw = item_id.encode("utf-8")
    name = "".join(chr(b) if b in _SAFE_BYTES and not (i == 0 and b == ord(".")) else f"~{b:02X}"
                   for i, b in enumerate(raw)) or "~"
    if len(name) > _MAX_NAME:
        name = f"{name[:100]}-{hashlib.sha256(raw).hexdigest()[:16]}"
    return name



@contextlib.contextmanager
def local_file(uri: str) -> Iterator[Path]:
    """A local path for tools that need one (PyAV, ffmpeg): the file itself, or a temp copy."""
    if uri.startswith("file://"):
        yield LocalStorage.path(uri)
        return
    suffix = os.path.splitext(uri)[1]
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        tmp.write(storage_for(uri).read_bytes(uri))
        tmp.flush()
        yield Path(tmp.name)
