"""End to end: the real DAG, run through Airflow on a small demo world, leaves a correct catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import pyarrow.parquet as pq
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]


def _generec(args: list[str], airflow_home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GENEREC_AIRFLOW_HOME": str(airflow_home), "SPARK_LOCAL_IP": "127.0.0.1"}
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)


def _mp4_duration(path: Path) -> tuple[float, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        n = sum(1 for _ in container.decode(stream))
    return n / fps, fps


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    home = tmp_path_factory.mktemp("airflow")
    proc = _generec(["demo", "--root", str(root), "--users", "40", "--items", "12", "--days", "2",
                     "--shards", "2"], home)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return root, home, proc


def _manifest(root: Path) -> tuple[dict, list[dict]]:
    current = json.loads((root / "catalog/CURRENT").read_text())
    path = Path(current["manifest"].removeprefix("file://"))
    return current, pq.read_table(path).to_pylist()


def test_dag_imports_cleanly_and_routes_gpu_tasks(tmp_path):
    code = ("from airflow.dag_processing.dagbag import DagBag; "
            f"b = DagBag(dag_folder={str(REPO / 'dags')!r}); "
            "print(b.import_errors); assert not b.import_errors, b.import_errors; "
            "import json; d = b.dags['generec_nightly']; "
            "print(json.dumps({t.task_id: [t.pool, t.queue] for t in d.tasks}))")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    placement = json.loads(proc.stdout.splitlines()[-1])
    assert set(placement) >= {"ingest", "instruct", "frames", "features", "personalise", "generate", "gate",
                              "publish", "evaluate", "report"}
    on_gpu = {task for task, (pool, queue) in placement.items() if pool == "gpu" and queue == "gpu"}
    assert on_gpu == {"frames", "personalise", "generate", "gate"}  # and nothing else takes a GPU slot
    assert all(pool != "gpu" and queue != "gpu" for task, (pool, queue) in placement.items() if task not in on_gpu)


def _avoided(root: Path, date: str, worklist: list[dict]) -> set[tuple[str, str]]:
    """Pairs the editor drops because the user's guidance avoids the item's topics (instructor)."""
    import pyarrow as pa

    from generec_core.datasets.layout import Layout
    from generec_core.stages.personalise import apply_guidance
    from generec_core.storage import file_uri

    table = pa.Table.from_pylist([{"user_id": r["user_id"], "item_id": r["item_id"]} for r in worklist])
    kept, _, _ = apply_guidance(Layout(file_uri(root)), date, table)
    assert (root / f"features/guidance/dt={date}/guidance.jsonl").is_file()  # the instruct stage ran
    return {(r["user_id"], r["item_id"]) for r in worklist} - set(zip(kept["user_id"].to_pylist(),
                                                                      kept["item_id"].to_pylist()))


def test_catalog_has_a_row_for_every_planned_pair(demo_run):
    root, _, proc = demo_run
    current, rows = _manifest(root)
    assert current["date"] == "2026-11-24" and current["run_id"] == "nightly-2026-11-24"
    worklist = pq.read_table(root / f"work/run={current['run_id']}/worklist").to_pylist()
    planned = {(r["user_id"], r["item_id"]) for r in worklist} - _avoided(root, current["date"], worklist)
    got = [(r["user_id"], r["item_id"]) for r in rows]
    assert len(got) == len(set(got)), "duplicate (user, item) rows"
    assert set(got) == planned and planned
    assert {r["thumbnail_kind"] for r in rows} <= {"selected", "original", "generated"}
    assert "report:" in proc.stdout.strip().splitlines()[-1]
    assert (root / f"reports/run={current['run_id']}/index.html").is_file()


def test_every_asset_exists_and_opens(demo_run):
    root, _, _ = demo_run
    _, rows = _manifest(root)
    for uri in sorted({r["thumbnail_uri"] for r in rows} | {r["cover_uri"] for r in rows if r["cover_uri"]}):
        with Image.open(Path(uri.removeprefix("file://"))) as image:
            assert image.format == "JPEG"
            image.load()
    clips = {(r["clip_uri"], r["clip_start_s"], r["clip_end_s"]) for r in rows if r["clip_uri"]}
    assert clips
    for uri, start, end in sorted(clips):
        duration, fps = _mp4_duration(Path(uri.removeprefix("file://")))
        assert abs(duration - (end - start)) <= 1.0 / fps + 1e-6, (uri, duration, start, end)


def test_quarantined_items_are_reported_not_fatal(demo_run):
    root, _, _ = demo_run
    quarantined = list((root / "lake/quarantine/items").glob("*.json"))
    assert quarantined, "the demo world's corrupt videos should be quarantined"
    reasons = [json.loads(p.read_text())["reason"] for p in quarantined]
    assert all(reasons)


def test_rerunning_the_date_gives_the_same_catalog(demo_run):
    root, home, _ = demo_run
    _, before = _manifest(root)
    assets_before = sorted(p.name for p in (root / "catalog/assets").iterdir())
    proc = _generec(["run", "--root", str(root), "--date", "2026-11-24", "--shards", "2"], home)
    assert proc.returncode == 0, proc.stderr[-6000:]
    _, after = _manifest(root)
    assert after == before
    assert sorted(p.name for p in (root / "catalog/assets").iterdir()) == assets_before
