"""Spark stages on an s3:// root through a local mirror (this Spark has no s3a:// jars).

The stage function here writes the way Spark's ``mode("overwrite")`` does (part files, a
hidden ``.crc`` per part, ``_SUCCESS``), so the test needs no JVM and runs in a second.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generec_core.config import PipelineConfig
from generec_core.datasets.layout import Layout
from generec_core.spark_mirror import run_spark_stage
from generec_core.storage import LocalStorage, join, list_uris, storage_for

pytestmark = pytest.mark.s3


def _spark_like_write(folder: Path, parts: dict[str, bytes]) -> None:
    """What an overwrite leaves: the old folder gone, new parts, their .crc files, then _SUCCESS."""
    if folder.exists():
        for p in folder.iterdir():
            p.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in parts.items():
        (folder / name).write_bytes(data)
        (folder / f".{name}.crc").write_bytes(b"crc")
    (folder / "_SUCCESS").write_bytes(b"")


def test_mirror_brings_inputs_down_and_committed_outputs_up(s3):
    _, root = s3
    layout = Layout(root)
    put = lambda uri, data: storage_for(uri).write_bytes(uri, data)  # noqa: E731
    put(join(layout.raw_interactions("2026-11-24"), "part-0.jsonl"), b'{"e": 1}\n')
    put(join(layout.lake_interactions("2026-11-23"), "part-old.parquet"), b"old-23")
    put(join(layout.lake_interactions("2026-11-23"), "_SUCCESS"), b"")
    put(join(layout.lake_interactions("2026-11-24"), "part-stale.parquet"), b"stale-24")
    put(join(root, "features/frames/x.parquet"), b"not an input of ingest")
    config = PipelineConfig.from_dict({"root": root})
    seen: dict[str, object] = {}

    def stage(cfg: PipelineConfig) -> dict:
        local = LocalStorage.path(cfg.root)
        seen["root"] = cfg.root
        seen["inputs"] = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
        lake = local / "lake/interactions"
        _spark_like_write(lake / "dt=2026-11-24", {"part-new.parquet": b"new-24"})
        _spark_like_write(local / "lake/quarantine/interactions/dt=2026-11-24", {"part-q.parquet": b"q"})
        (local / "work/run=nightly-2026-11-24").mkdir(parents=True)
        (local / "work/run=nightly-2026-11-24/notes.json").write_text("{}")
        return {"clean": 1, "report": cfg.root + "/work/run=nightly-2026-11-24/notes.json"}

    summary = run_spark_stage("ingest", config, "2026-11-24", stage)
    assert summary == {"clean": 1, "report": root + "/work/run=nightly-2026-11-24/notes.json"}  # not the temp root
    assert seen["root"].startswith("file:///") and not Path(seen["root"][7:]).exists()  # temp root removed
    assert seen["inputs"] == ["lake/interactions/dt=2026-11-23/_SUCCESS",
                              "lake/interactions/dt=2026-11-23/part-old.parquet",
                              "lake/interactions/dt=2026-11-24/part-stale.parquet",
                              "raw/interactions/dt=2026-11-24/part-0.jsonl"]
    names = lambda prefix: sorted(u.rsplit("/", 1)[-1] for u in list_uris(prefix))  # noqa: E731
    assert names(layout.lake_interactions("2026-11-24")) == ["_SUCCESS", "part-new.parquet"]  # stale part gone
    assert names(layout.lake_interactions("2026-11-23")) == ["_SUCCESS", "part-old.parquet"]  # untouched
    assert names(layout.quarantine("interactions", "2026-11-24")) == ["_SUCCESS", "part-q.parquet"]
    assert names(join(root, "work/run=nightly-2026-11-24")) == ["notes.json"]
    assert storage_for(root).read_bytes(join(layout.lake_interactions("2026-11-24"), "part-new.parquet")) == b"new-24"

