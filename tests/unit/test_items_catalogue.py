"""items.jsonl: a line that breaks the contract costs that line, with its reason; the others are items."""

from __future__ import annotations

import json
import os

import pytest

from generec_core.datasets.items import read_catalogue, read_items, write_rejected
from generec_core.datasets.layout import Layout
from generec_core.storage import file_uri, read_text


def _line(**fields) -> str:
    return json.dumps({"item_id": "ok", "video": "videos/ok.mp4", **fields})


BAD = {
    "bad_json": ["{not json", "[1, 2]", '"just a string"'],
    "missing_field:item_id": [_line(item_id=None), _line(item_id="   ")],
    "missing_field:video": [json.dumps({"item_id": "no-video"}), _line(item_id="v2", video="")],
    "bad_type:item_id": [_line(item_id=123), _line(item_id=["a"])],
    "bad_type:video": [_line(item_id="v3", video={"path": "x.mp4"})],
    "bad_type:cover": [_line(item_id="c1", cover=5)],
    "bad_type:title": [_line(item_id="t1", title=["a"])],
    "bad_type:topics": [_line(item_id="t2", topics="cats"), _line(item_id="t3", topics=["cats", 1])],
    "bad_id:item_id": [_line(item_id="tab\there"), _line(item_id=" padded"), _line(item_id="x" * 300)],
    "path_outside_items:video": [_line(item_id="p1", video="/etc/passwd"), _line(item_id="p2", video="../x.mp4"),
                                 _line(item_id="p3", video="videos/../../x.mp4"),
                                 _line(item_id="p4", video="link/x.mp4")],
    "path_outside_items:cover": [_line(item_id="p5", cover="../../cover.jpg")],
}


@pytest.fixture()
def layout(tmp_path) -> Layout:
    items = tmp_path / "raw/items"
    (items / "videos").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", items / "link")  # a link under raw/items/ that leads out of it
    good = [_line(item_id="a", video="videos/a.mp4", title="A", topics=["Cats", " dogs "]),
            _line(item_id="b", video="videos/b.mp4", cover="covers/b.jpg"),
            _line(item_id="a", video="videos/other.mp4")]  # a repeat: the first line wins
    lines = good[:2] + [line for lines in BAD.values() for line in lines] + ["", good[2]]
    (items / "items.jsonl").write_text("\n".join(lines) + "\n")
    return Layout(file_uri(tmp_path))


def test_every_rule_costs_its_line_only(layout):
    items, rejected = read_catalogue(layout)
    assert [(i.item_id, i.title, i.topics) for i in items] == [("a", "A", ("cats", "dogs")), ("b", "", ())]
    assert items[1].cover_uri == layout.items_dir + "/covers/b.jpg"
    by_reason: dict[str, int] = {}
    for r in rejected:
        by_reason[r.reason] = by_reason.get(r.reason, 0) + 1
    assert by_reason == {reason: len(lines) for reason, lines in BAD.items()} | {"duplicate_item_id": 1}
    last_line = len(layout.store.read_text(layout.items_manifest).splitlines())
    assert (rejected[-1].reason, rejected[-1].line) == ("duplicate_item_id", last_line)
    assert read_items(layout) == items


def test_rejected_lines_are_kept_with_their_reason_and_line_number(layout):
    _, rejected = read_catalogue(layout)
    write_rejected(layout, rejected)
    records = [json.loads(line) for line in read_text(layout.rejected_items).splitlines()]
    assert records[0] == {"line": 3, "reason": "bad_json", "text": "{not json"}
    assert {r["reason"] for r in records} == set(BAD) | {"duplicate_item_id"}
    assert all(len(r["text"]) <= 2000 for r in records)


def test_a_missing_catalogue_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="items.jsonl"):
        read_items(Layout(file_uri(tmp_path)))
