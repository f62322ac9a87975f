"""``load_item_frames`` on an S3 root (SeaweedFS): the items' own objects, read in parallel through the Store,
equal ``load_frames``'s rows of those items; an id without an object is absent."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from frame_reads import write_frames

from generec_core.config import PipelineConfig
from generec_core.datasets.frames import load_frames, load_item_frames

pytestmark = pytest.mark.s3
ITEMS = tuple(f"item-{n:02d}" for n in range(12)) + ("odd id/é",)


def test_a_subset_of_an_s3_root(s3):
    _, root = s3
    config = PipelineConfig.from_dict({"root": root, "frames": {"frames_per_video": 3}})
    write_frames(config, ITEMS)
    every_rows, every_videos = load_frames(config)
    wanted = {"odd id/é", "never-embedded", *ITEMS[1:10]}
    rows, videos = load_item_frames(config, wanted)
    keep = pa.array(sorted(wanted), pa.string())
    assert rows.equals(every_rows.filter(pc.is_in(every_rows["item_id"], keep)), check_metadata=True)
    assert videos.equals(every_videos.filter(pc.is_in(every_videos["item_id"], keep)))
    assert set(videos["item_id"].to_pylist()) == wanted - {"never-embedded"}
    assert load_item_frames(config, set())[0].num_rows == 0
