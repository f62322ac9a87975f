"""``python -m generec_core.demo --root URI``: build (or reuse) the demo world and print its summary."""

from __future__ import annotations

import argparse
import json
import sys
import time

from generec_core.config import default_root
from generec_core.demo.world import build_demo_world


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m generec_core.demo", description=__doc__)
    ap.add_argument("--root", default=None, help="root URI or local path (default: $GENEREC_ROOT or ./generec-data)")
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--end-date", default="2026-11-24")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    world = build_demo_world(args.root or default_root(), users=args.users, items=args.items, days=args.days,
                             end_date=args.end_date, seed=args.seed, progress=not args.quiet)
    print(json.dumps(world.to_dict(), indent=2))
    print(f"demo world ready in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
