"""``generec catalog show|diff|gc``: read and maintain the published catalog under any root.

    generec catalog show --root URI --user U [--item I] [--run RUN_OR_DATE]
    generec catalog diff --root URI RUN_A RUN_B [--root-b URI] [--json]
    generec catalog gc   --root URI --older-than DAYS [--apply]

``--config JSON`` sets the storage settings (``{"storage": {"endpoint_url": ...}}``) as for a run.

Output is JSON (one object per line for rows), so ids with any characters print safely.
Errors go to stderr as one line naming the input; credentials never appear in them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

from generec_core.config import normalise_root
from jobs.cli_options import common_options, config_from


def register(subparsers: argparse._SubParsersAction) -> None:
    catalog = subparsers.add_parser("catalog", help="show, diff and garbage-collect the published catalog")
    sub = catalog.add_subparsers(dest="catalog_command", required=True)

    show = sub.add_parser("show", help="one user's published rows (CURRENT's manifest unless --run)")
    common_options(show)
    show.add_argument("--user", required=True, help="user id (matched exactly)")
    show.add_argument("--item", help="only this item id")
    show.add_argument("--run", help="a run id or date instead of the live manifest")
    show.set_defaults(func=_guarded(cmd_show))

    diff = sub.add_parser("diff", help="rows added, removed and changed between two runs")
    common_options(diff)
    diff.add_argument("run_a", help="run id (nightly-YYYY-MM-DD) or date")
    diff.add_argument("run_b", help="run id (nightly-YYYY-MM-DD) or date")
    diff.add_argument("--root-b", type=normalise_root, help="read RUN_B from this other catalog root instead")
    diff.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    diff.set_defaults(func=_guarded(cmd_diff))

    gc = sub.add_parser("gc", help="delete assets no manifest references (dry run unless --apply)")
    common_options(gc)
    gc.add_argument("--older-than", type=float, required=True, metavar="DAYS",
                    help="grace period: only assets older than this many days are removed")
    gc.add_argument("--apply", action="store_true", help="delete; without it, only list what would go")
    gc.set_defaults(func=_guarded(cmd_gc))


def _guarded(cmd: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Known failures (nothing published, unknown run, refused credentials) -> one stderr line, exit 2."""
    def run(args: argparse.Namespace) -> int:
        from generec_core.datasets.catalog import CatalogError
        from generec_core.storage import InvalidKey, StorageError

        try:
            return cmd(args)
        except (CatalogError, StorageError, InvalidKey, ValueError) as exc:
            print(f"generec catalog {args.catalog_command}: error: {exc}", file=sys.stderr)
            return 2
    return run


def _print(doc: object) -> None:
    print(json.dumps(doc, ensure_ascii=False, sort_keys=True, default=str))


def _store(args: argparse.Namespace):
    """The store with the storage settings ``--config`` gives."""
    from generec_core.storage import Store

    return Store(config_from(args).storage)


def cmd_show(args: argparse.Namespace) -> int:
    from generec_core.catalog.show import show

    rows = show(args.root, args.user, args.item, args.run, store=_store(args))
    for row in rows:
        _print(row)
    if not rows:
        what = f"user {args.user!r}" + (f", item {args.item!r}" if args.item else "")
        print(f"generec catalog show: no published rows for {what}", file=sys.stderr)
        return 1
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from generec_core.catalog.diff import diff

    result = diff(args.root, args.run_a, args.run_b, store=_store(args), root_b=args.root_b)
    if args.json:
        _print({"summary": result.summary(), "added": result.added, "removed": result.removed,
                "changed": [{"user_id": u, "item_id": i, "fields": f} for (u, i), f in result.changed]})
        return 0
    _print(result.summary())
    for user, item in result.added:
        _print({"op": "added", "user_id": user, "item_id": item})
    for user, item in result.removed:
        _print({"op": "removed", "user_id": user, "item_id": item})
    for (user, item), fields in result.changed:
        _print({"op": "changed", "user_id": user, "item_id": item, "fields": fields})
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    from generec_core.catalog.gc import collect_garbage

    report = collect_garbage(args.root, args.older_than, apply=args.apply, store=_store(args))
    verb = "deleted" if args.apply else "would delete"
    for obj in report.garbage:
        _print({"op": verb, "uri": obj.uri, "bytes": obj.size})
    for pending in report.pending:
        _print({"op": "aborted" if args.apply else "would abort", "pending_write": pending.uri})
    _print(report.summary())
    if not args.apply and (report.garbage or report.pending):
        print("generec catalog gc: dry run; add --apply to delete", file=sys.stderr)
    return 0
