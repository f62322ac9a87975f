"""End to end: the real DAG, run through Airflow on a small demo world, leaves a correct catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from generec_cli import run_generec
from PIL import Image
from video_fixtures import encode_mp4

from generec_core.demo import build_demo_world

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]


def _mp4_duration(path: Path) -> tuple[float, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        n = sum(1 for _ in container.decode(stream))
    return n / fps, fps


DATE = "2026-11-24"


def _event(event_id: str, **fields) -> dict:
    return {"event_id": event_id, "user_id": "bad-day-user", "item_id": "item-0001", "event_type": "click",
            "ts": f"{DATE}T12:00:00Z", **fields}


# Every kind of line that is wrong on its own, appended to the demo's last day: each must cost only itself.
BAD_LINES: dict[str, list[bytes]] = {
    "oversized_line": [json.dumps(_event("x-big", note="x" * 70_000)).encode()],
    "non_utf8": [json.dumps(_event("x-latin", item_id="cafe")).encode().replace(b"cafe", "café".encode("latin-1"))],
    "bad_json": [b'{"event_id": "x-cut", "user_id": "u"', b"[1, 2, 3]"],
    "duplicate_key:user_id": [json.dumps(_event("x-dup"))[:-1].encode() + b', "user_id": "someone-else"}'],
    "missing_field:user_id": [json.dumps(_event("x-blank", user_id="   ")).encode()],
    "bad_type:user_id": [json.dumps(_event("x-number", user_id=12345)).encode()],
    "bad_id:user_id": [json.dumps(_event("x-ctrl", user_id="bad\u0001user")).encode(),
                       json.dumps(_event("x-pad", user_id=" padded")).encode(),
                       json.dumps(_event("x-long", user_id="u" * 400)).encode()],
    "implausible:watch_ms": [json.dumps(_event("x-neg", event_type="watch", watch_ms=-5)).encode(),
                             json.dumps(_event("x-week", event_type="watch", watch_ms=7 * 86_400_000)).encode()],
    "bad_type:watch_ms": [json.dumps(_event("x-str", event_type="watch", watch_ms="12s")).encode()],
    "unknown_event_type": [json.dumps(_event("x-poke", event_type="poke")).encode()],
    "ts_outside_interval": [json.dumps(_event("x-future", ts="2030-01-01T00:00:00Z")).encode()],
}
BAD_ITEM_LINES = {
    "bad_json": "{not json",
    "missing_field:video": json.dumps({"item_id": "no-video"}),
    "bad_type:item_id": json.dumps({"item_id": 42, "video": "videos/item-0000.mp4"}),
    "bad_id:item_id": json.dumps({"item_id": "tab\there", "video": "videos/item-0000.mp4"}),
    "path_outside_items:video": json.dumps({"item_id": "escape", "video": "../../etc/passwd"}),
    "duplicate_item_id": json.dumps({"item_id": "item-0000", "video": "videos/item-0001.mp4"}),
}


def _spoil_the_day(root: Path) -> None:
    """Bad lines of every kind in the day's logs and the catalogue, and a video of absurd dimensions."""
    logs = root / f"raw/interactions/dt={DATE}/part-00000.jsonl"
    logs.write_bytes(logs.read_bytes() + b"".join(line + b"\n" for lines in BAD_LINES.values() for line in lines))
    (root / "raw/items/videos/absurd.mp4").write_bytes(encode_mp4([np.full((8, 8, 3), 90, np.uint8)] * 5))
    catalogue = root / "raw/items/items.jsonl"
    lines = [*BAD_ITEM_LINES.values(), json.dumps({"item_id": "absurd", "video": "videos/absurd.mp4"})]
    catalogue.write_text(catalogue.read_text() + "".join(line + "\n" for line in lines))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo world's last day, spoilt with bad lines of every kind, through the real DAG."""
    root = tmp_path_factory.mktemp("world")
    home = tmp_path_factory.mktemp("airflow")
    world = build_demo_world(str(root), users=40, items=12, days=2, progress=False)
    assert world.dates[-1] == DATE
    _spoil_the_day(root)
    proc = run_generec(["run", "--root", str(root), "--date", DATE, "--shards", "2"], home)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return root, home, proc


def _manifest(root: Path) -> tuple[dict, list[dict]]:
    current = json.loads((root / "catalog/CURRENT").read_text())
    path = Path(current["manifest"].removeprefix("file://"))
    return current, pq.read_table(path).to_pylist()


def _parsed_dag(airflow_home: Path, expression: str):
    """``expression`` (JSON-able; ``d`` is the parsed DAG, ``s`` its serialized round trip) evaluated in a
    child process with its own AIRFLOW_HOME, after the DAG folder imported without errors."""
    code = ("import json; from airflow.dag_processing.dagbag import DagBag; "
            "from airflow.serialization.serialized_objects import DagSerialization as S; "
            f"b = DagBag(dag_folder={str(REPO / 'dags')!r}); "
            "print(b.import_errors); assert not b.import_errors, b.import_errors; "
            "d = b.dags['generec_nightly']; s = S.deserialize_dag(S.serialize_dag(d)); "
            f"print(json.dumps({expression}, default=str))")
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_dag_imports_cleanly_and_routes_gpu_tasks(tmp_path):
    placement = _parsed_dag(tmp_path, "{t.task_id: [t.pool, t.queue] for t in d.tasks}")
    assert set(placement) >= {"ingest", "instruct", "frames", "features", "personalise", "generate", "audit",
                              "gate", "publish", "evaluate", "report"}
    on_gpu = {task for task, (pool, queue) in placement.items() if pool == "gpu" and queue == "gpu"}
    assert placement["preflight"] == ["default_pool", "default"]
    # the mapped frames and audit tasks too; the gate only combines verdicts: nothing else takes a GPU slot
    assert on_gpu == {"frames", "personalise", "generate", "create", "audit"}
    assert all(pool != "gpu" and queue != "gpu" for task, (pool, queue) in placement.items() if task not in on_gpu)


def test_the_ui_explains_the_dag_and_its_defaults_trigger_a_valid_run(tmp_path):
    """What the trigger form and the grid show: docs, shard labels, the report link, params whose
    defaults validate (optional ones are nullable, not required strings), preflight before every stage."""
    dag = _parsed_dag(tmp_path, (
        "{'doc': d.doc_md, 'defaults': d.params.validate(), "
        "'schema': {k: d.params.get_param(k).schema for k in d.params}, "
        "'tasks': {t.task_id: {'doc': t.doc_md, 'up': sorted(t.upstream_task_ids), "
        "'label': getattr(t, 'map_index_template', None), 'links': list(s.get_task(t.task_id).extra_links)} "
        "for t in d.tasks}}"))
    assert "preflight" in dag["doc"] and "Re-running a date" in dag["doc"]
    assert dag["defaults"]["aws_conn_id"] is None and dag["defaults"]["generator_model"] is None
    assert "null" in dag["schema"]["aws_conn_id"]["type"] and "null" in dag["schema"]["generator_model"]["type"]
    tasks = dag["tasks"]
    for name, task in tasks.items():
        assert task["doc"], f"{name} has no docs"
    for name in ("ingest", "frames", "features", "personalise", "generate", "create", "audit", "gate", "publish",
                 "report"):
        assert "**Reads:**" in tasks[name]["doc"] and "**Writes:**" in tasks[name]["doc"], name
    assert tasks["ingest"]["up"] == ["preflight"] and tasks["frames"]["up"] == ["plan_item_shards", "preflight"]
    assert tasks["plan_item_shards"]["up"] == tasks["plan_asset_shards"]["up"][1:] == ["preflight"]
    assert tasks["create"]["up"] == ["features", "instruct"] and tasks["audit"]["up"] == ["generate",
                                                                                          "plan_asset_shards"]
    assert tasks["gate"]["up"] == ["audit"]
    assert all(tasks[name]["label"] == "{{ shard_label }}" for name in ("frames", "personalise", "generate", "audit"))
    assert "item shards" in tasks["frames"]["doc"] and "asset shards" in tasks["audit"]["doc"]
    assert tasks["report"]["links"] == ["Run report"]
    assert all(not t["links"] for name, t in tasks.items() if name != "report")


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
    assert current["date"] == DATE and current["run_id"] == f"nightly-{DATE}"
    worklist = pq.read_table(root / f"work/run={current['run_id']}/worklist").to_pylist()
    planned = {(r["user_id"], r["item_id"]) for r in worklist} - _avoided(root, current["date"], worklist)
    got = [(r["user_id"], r["item_id"]) for r in rows]
    assert len(got) == len(set(got)), "duplicate (user, item) rows"
    retrieved = {(r["user_id"], r["item_id"]) for r in rows if r["thumbnail_kind"] != "created"}
    assert retrieved == planned and planned  # and, beside them, the AI creator's items for their audiences
    assert {r["thumbnail_kind"] for r in rows} <= {"selected", "original", "generated", "created"}
    assert all(r["item_id"].startswith("created-") for r in rows if r["thumbnail_kind"] == "created")
    assert "report:" in proc.stdout.strip().splitlines()[-1]
    assert "could not check that Airflow pool" not in proc.stderr  # dag.test() queues nothing on pools
    assert (root / f"reports/run={current['run_id']}/index.html").is_file()
    # frames and the audit ran as --shards 2 mapped tasks each; one gate combined the audit's verdicts
    recorded = {p.stem for p in (root / f"work/run={current['run_id']}/metrics").glob("*.json")}
    assert {"frames-shard-0", "frames-shard-1", "audit-shard-0", "audit-shard-1", "gate"} <= recorded
    assert "frames" not in recorded and "audit" not in recorded


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


def test_a_day_with_every_kind_of_bad_line_publishes_for_everyone_else(demo_run):
    root, _, _ = demo_run
    current, rows = _manifest(root)
    assert current["date"] == DATE and rows
    quarantine = pq.read_table(root / f"lake/quarantine/interactions/dt={DATE}").to_pylist()
    for reason, lines in BAD_LINES.items():
        kept = [r["line_bytes"] or r["line"].encode() for r in quarantine if r["reason"] == reason]
        assert all(line in kept for line in lines), reason  # each under its reason, verbatim
    rejected = [json.loads(line) for line in (root / "lake/quarantine/items_manifest/rejected.jsonl").open()]
    assert {r["reason"] for r in rejected} == set(BAD_ITEM_LINES)
    absurd = json.loads((root / "lake/quarantine/items/absurd.json").read_text())
    assert absurd["reason"].startswith("absurd dimensions")
    report = (root / f"reports/run=nightly-{DATE}/index.html").read_text()
    for reason in [*BAD_LINES, *BAD_ITEM_LINES, "absurd dimensions"]:
        assert f"<td>{reason}</td>" in report, reason
    assert "bad-day-user" not in {r["user_id"] for r in rows}


def test_rerunning_the_date_gives_the_same_catalog(demo_run):
    root, home, _ = demo_run
    _, before = _manifest(root)
    assets_before = sorted(p.name for p in (root / "catalog/assets").iterdir())
    proc = run_generec(["run", "--root", str(root), "--date", DATE, "--shards", "2"], home)
    assert proc.returncode == 0, proc.stderr[-6000:]
    _, after = _manifest(root)
    assert after == before
    assert sorted(p.name for p in (root / "catalog/assets").iterdir()) == assets_before


def _attempt_pages(root: Path) -> dict[str, Path]:
    return {p.parent.name: p for p in (root / "reports").glob("attempt=*/index.html")}


def test_a_dry_run_succeeds_says_so_and_leaves_the_catalog_untouched(demo_run):
    root, home, _ = demo_run
    current_before = (root / "catalog/CURRENT").read_bytes()
    manifests_before = sorted((p, p.read_bytes()) for p in (root / "catalog/manifests").rglob("*.parquet"))
    pages_before = set(_attempt_pages(root))
    proc = run_generec(["run", "--root", str(root), "--date", DATE, "--shards", "2", "--param", "dry_run=true"], home)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert (root / "catalog/CURRENT").read_bytes() == current_before
    assert sorted((p, p.read_bytes()) for p in (root / "catalog/manifests").rglob("*.parquet")) == manifests_before
    new_pages = set(_attempt_pages(root)) - pages_before
    assert len(new_pages) == 1, new_pages
    page = _attempt_pages(root)[new_pages.pop()].read_text()
    assert "Dry run:" in page and "Failed tasks" not in page
    assert "dry run: nothing was published to evaluate" in page


def test_an_unknown_conf_key_is_refused_before_anything_is_written(demo_run):
    root, home, _ = demo_run
    watched = [root / "catalog", root / "work", root / "features", root / "lake"]
    before = {p: p.stat().st_mtime_ns for top in watched if top.exists() for p in top.rglob("*")}
    proc = run_generec(["run", "--root", str(root), "--date", DATE, "--param", "dryrun=true"], home)
    assert proc.returncode == 1
    assert {p: p.stat().st_mtime_ns for top in watched if top.exists() for p in top.rglob("*")} == before
    summaries = [json.loads(p.read_text()) for p in (root / "reports").glob("attempt=*/failure.json")]
    refused = [s for s in summaries if "preflight" in s["failed_tasks"]]
    assert len(refused) == 1, summaries
    assert "dryrun" in refused[0]["errors"]["preflight"] and "unknown conf keys" in refused[0]["errors"]["preflight"]
    assert refused[0]["failed_tasks"] == ["preflight"]
