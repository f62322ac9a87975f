"""``load_item_frames``: the frames of some items, read from their own files only, equal to ``load_frames``'s rows
of those items (same order, same re-judged verdicts, same video facts)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from frame_reads import record_frames_reads, write_frames

from generec_core.config import PipelineConfig, normalise_root
from generec_core.datasets.frames import FRAMES_SCHEMA, load_frames, load_item_frames
from generec_core.datasets.layout import safe_name

ITEMS = ("a", "b", "odd id/é", "c-2")  # "odd id/é": its file name is escaped (safe_name)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> PipelineConfig:
    root = normalise_root(str(tmp_path_factory.mktemp("frames-subset")))
    config = PipelineConfig.from_dict({"root": root, "frames": {"frames_per_video": 3}})
    write_frames(config, ITEMS)
    return config


def _only(table: pa.Table, ids: set[str]) -> pa.Table:
    return table.filter(pc.is_in(table["item_id"], pa.array(sorted(ids), pa.string())))


@pytest.mark.parametrize("ids", [{"b"}, {"odd id/é", "a"}, set(ITEMS)])
def test_a_subset_is_load_frames_restricted_to_it_and_reads_only_its_files(config, ids, monkeypatch):
    every_rows, every_videos = load_frames(config)
    read = record_frames_reads(monkeypatch)
    rows, videos = load_item_frames(config, ids)
    assert sorted(read) == sorted(f"{safe_name(i)}.parquet" for i in ids)  # one file per item, no other
    assert rows.equals(_only(every_rows, ids), check_metadata=True)  # same rows, order, verdicts and metadata
    assert videos.equals(_only(every_videos, ids))
    assert rows["is_poor"].to_pylist().count(True) == sum(1 for n, i in enumerate(ITEMS) if i in ids and n % 2)


def test_an_empty_set_reads_nothing_and_gives_empty_tables(config, monkeypatch):
    read = record_frames_reads(monkeypatch)
    rows, videos = load_item_frames(config, set())
    assert read == [] and rows.num_rows == 0 and videos.num_rows == 0
    assert rows.schema.remove_metadata() == FRAMES_SCHEMA and rows.schema.metadata is None


def test_unknown_ids_are_absent_as_in_load_frames(config):
    rows, videos = load_item_frames(config, ["never-embedded", "a", "a", "../escape"])
    assert set(rows["item_id"].to_pylist()) == {"a"} and videos["item_id"].to_pylist() == ["a"]
    rows, videos = load_item_frames(config, iter(["never-embedded"]))
    assert rows.num_rows == 0 and videos.num_rows == 0
