"""``generec evaluate --root URI --date D [--replay]``: Cosine@K and the planted-taste share of a published run;
with ``--replay``, the off-policy evaluation of the date's logs.

Runs the pipeline's ``evaluate`` stage on the date's published outputs (the same function
the nightly DAG runs), prints the paper's table form and refreshes the run report so the
page shows it.
"""

from __future__ import annotations

import argparse
import json

from jobs.cli_options import common_options, config_from, logical_date


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="Cosine@K (paper's table) and planted-taste share of a run")
    common_options(p)
    p.add_argument("--date", type=logical_date, required=True, help="logical date YYYY-MM-DD of a published run")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of the table")
    p.add_argument("--no-report", action="store_true", help="do not refresh the run report")
    p.add_argument("--replay", action="store_true",
                   help="off-policy evaluation of the date's logs (contract v2) against the manifest that served "
                        "them: take rate of the logging, top, original, uniform and learned policies")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from generec_core import pipeline
    from generec_core.datasets.evaluation import load_evaluation
    from generec_core.datasets.layout import Layout, run_id_for
    from generec_core.evaluation.summary import format_table

    config = config_from(args)
    if args.replay:
        return _replay(config, args.date)
    brief = pipeline.run_stage("evaluate", config, args.date)
    summary = brief if brief.get("skipped") else (
        load_evaluation(Layout.for_config(config), run_id_for(args.date)) or brief)
    print(json.dumps(summary, indent=2, sort_keys=True) if args.json else format_table(summary))
    if not args.no_report and not summary.get("skipped"):
        print(f"report: {pipeline.run_stage('report', config, args.date)['report']}")
    return 1 if summary.get("skipped") else 0


def _replay(config, date: str) -> int:
    from generec_core.datasets.layout import Layout
    from generec_core.evaluation.replay import NothingToReplay, replay

    try:
        summary = replay(Layout.for_config(config), date)
    except NothingToReplay as exc:
        print(f"generec evaluate --replay: {exc}")
        return 1
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0
