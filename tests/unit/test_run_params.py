"""Per-run params a person sets when triggering: a user subset and the typed run section."""

import pyarrow as pa
import pytest

from generec_core.config import PipelineConfig
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.users import shard_worklist as _shard_worklist
from generec_core.storage import file_uri, join, write_parquet


def test_a_user_subset_personalises_only_those_users(tmp_path):
    root = file_uri(tmp_path)
    layout, run_id = Layout(root), run_id_for("2026-11-24")
    write_parquet(join(layout.worklist(run_id), "part.parquet"), pa.table({
        "user_id": ["a", "b", "c", "a"], "item_id": ["i1", "i1", "i2", "i2"], "shard": [0, 0, 0, 1]}))
    assert _shard_worklist(layout, run_id, 0).column("user_id").to_pylist() == ["a", "b", "c"]
    subset = _shard_worklist(layout, run_id, 0, ("c", "a"))
    assert subset.column("user_id").to_pylist() == ["a", "c"]


def test_run_section_is_typed_and_rejects_unknown_keys():
    config = PipelineConfig.from_dict({"run": {"users": ["u1"], "dry_run": True}})
    assert config.run.users == ("u1",) and config.run.dry_run is True
    with pytest.raises(ValueError, match="dryrun"):
        PipelineConfig.from_dict({"run": {"dryrun": True}})
