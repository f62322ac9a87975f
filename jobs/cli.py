"""``generec`` command line: build the demo world and run the nightly DAG through Airflow.

``generec run`` executes the real DAG with ``dag.test()`` — Airflow's own in-process
runner with an embedded SQLite metadata DB — so a laptop run exercises exactly the task
graph, params and mapping that the scheduler runs in production.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlparse

from jobs import catalog_cli, evaluate_cli, fidelity_cli, instruct_cli, stack
from jobs.cli_options import logical_date, root_option
from jobs.process_exit import exit_with_status_of

DAG_ID = "generec_nightly"
DAGS_DIR = Path(__file__).resolve().parent.parent / "dags"


def _dag_params(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs -> DAG params; a VALUE that parses as JSON (numbers, lists) is used as such."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--param expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _airflow_home(root: str) -> Path:
    """The embedded metadata DB lives under a file:// root (or a temp dir for object-store roots)."""
    override = os.environ.get("GENEREC_AIRFLOW_HOME")
    if override:
        return Path(override)
    if urlparse(root).scheme == "file":
        return Path(urlparse(root).path) / "_airflow"
    return Path(tempfile.gettempdir()) / "generec-airflow"


def _prepare_airflow(root: str, verbose: bool) -> None:
    """Point Airflow at our DAG folder and a private SQLite DB; migrate it once; ensure the gpu pool."""
    home = _airflow_home(root)
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO" if verbose else "WARNING",
        "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        "GENEREC_DEADLINE_HOURS": "off",  # dag.test() in Airflow 3.3.2 cannot evaluate deadline alerts
    })
    from jobs.airflow_glue import IN_PROCESS_RUN  # imports Airflow: after AIRFLOW_HOME is set

    os.environ[IN_PROCESS_RUN] = "1"  # dag.test() runs every task here, never queued on a pool: preflight skips pools
    if not (home / "airflow.db").exists():
        print(f"[generec] initialising Airflow metadata DB in {home}", file=sys.stderr)
        # what `airflow db migrate` and `airflow pools set` call, in this process: the CLI's two interpreters
        # cost ~6 s of imports per fresh home (measured 9.5 s for both against ~1.5 s here)
        from airflow.models.pool import Pool  # after AIRFLOW_HOME is set
        from airflow.utils import db

        db.upgradedb()
        Pool.create_or_update_pool(name="gpu", slots=1, description="GPU generation and embedding",
                                   include_deferred=False)


def run_dag(root: str, date: str, stages: list[str] | None = None, shards: int = 4,
            verbose: bool = False, params: dict | None = None) -> str:
    """Run the nightly DAG for one logical date; returns the DAG run's final state."""
    _prepare_airflow(root, verbose)
    from airflow.dag_processing.dagbag import DagBag  # after AIRFLOW_HOME is set

    bag = DagBag(dag_folder=str(DAGS_DIR))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(DAG_ID)
    logical = dt.datetime.fromisoformat(date).replace(tzinfo=dt.timezone.utc)
    conf = {**(params or {}), "root": root, "stages": stages or [], "shards": shards}
    dag_run = dag.test(logical_date=logical, run_conf=conf)
    return str(getattr(dag_run, "state", "unknown"))


def _summarise(root: str, date: str, state: str) -> None:
    from generec_core.datasets import metrics
    from generec_core.datasets.layout import Layout, run_id_for

    run_id = run_id_for(date)
    layout = Layout(root)
    for stage, payload in sorted(metrics.load_all(layout, run_id).items()):
        brief = {k: v for k, v in payload.items() if not isinstance(v, (dict, list))}
        print(f"[generec] {stage}: {json.dumps(brief, default=str)}", file=sys.stderr)
    print(f"[generec] run {run_id} finished: {state}", file=sys.stderr)
    print(f"catalog: {layout.current} (manifest {layout.manifest(date, run_id)})  report: {layout.report(run_id)}")


def cmd_run(args: argparse.Namespace) -> int:
    from generec_core.stage_graph import parse_stages

    stages = parse_stages(args.stages) if args.stages else []
    state = run_dag(args.root, args.date, stages, args.shards, args.verbose, _dag_params(args.param))
    _summarise(args.root, args.date, state)
    return 0 if state.endswith("success") else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from generec_core.demo.world import build_demo_world

    world = build_demo_world(args.root, users=args.users, items=args.items, days=args.days)
    date = world.dates[-1]
    print(f"[generec] demo world ready in {args.root}: {world.n_items} items, {world.n_users} users, "
          f"{world.n_events} events over {len(world.dates)} days; running {date}", file=sys.stderr)
    state = run_dag(args.root, date, None, args.shards, args.verbose, _dag_params(args.param))
    _summarise(args.root, date, state)
    for night in range(1, args.nights + 1):
        if not state.endswith("success"):
            break
        date, state = _simulated_night(args, world.dates[-1], night)
    return 0 if state.endswith("success") else 1


def _simulated_night(args: argparse.Namespace, last_day: str, night: int) -> tuple[str, str]:
    """The simulated audience is served the live catalog for a day, then the pipeline runs that day on its logs."""
    from datetime import date as Date, timedelta

    from generec_core.config import normalise_root
    from generec_core.datasets.layout import Layout
    from generec_core.demo.simulator import simulate_night

    date = (Date.fromisoformat(last_day) + timedelta(days=night)).isoformat()
    layout = Layout(normalise_root(args.root))
    record = simulate_night(layout, date)
    print(f"[generec] night {night} ({date}): the simulated audience saw {record['impressions']} thumbnails and "
          f"clicked {record['clicks']}; running {date}", file=sys.stderr)
    state = run_dag(args.root, date, None, args.shards, args.verbose, _dag_params(args.param))
    print(f"[generec] night {night} ({date}): true take rates " + ", ".join(
        f"{k} {v:.3f}" for k, v in record["true_take_rate"].items() if v is not None), file=sys.stderr)
    _summarise(args.root, date, state)
    return date, state


# Subcommand modules beyond demo/run: each exposes ``register(subparsers)``. Add a feature's
# commands as its own module here rather than growing this file.
COMMAND_MODULES = (evaluate_cli, catalog_cli, instruct_cli, fidelity_cli, stack)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="generec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def pipeline_options(p: argparse.ArgumentParser) -> None:
        root_option(p)  # the run's settings are DAG params (--param), as in the Airflow UI
        p.add_argument("--shards", type=int, default=4, help="shards of each fan-out: worklist (personalise, generate), items (frames), "
                       "assets (audit)")
        p.add_argument("--verbose", action="store_true", help="show Airflow's task logs")
        p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                       help="extra DAG param, e.g. generator_backend=diffusers (repeatable)")

    demo = sub.add_parser("demo", help="build the demo world and run the pipeline for its last day")
    pipeline_options(demo)
    demo.add_argument("--users", type=int, default=500)
    demo.add_argument("--items", type=int, default=100)
    demo.add_argument("--days", type=int, default=7)
    demo.add_argument("--nights", type=int, default=0,
                      help="then simulate an audience for N more nights: it is served each night's catalog, clicks "
                           "by its planted taste, and its logs feed the next night (learning from clicks)")
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="run the nightly DAG for one logical date through Airflow")
    pipeline_options(run)
    run.add_argument("--date", type=logical_date, required=True, help="logical date YYYY-MM-DD")
    run.add_argument("--stages", default="", help="comma-separated subset of stages (default: all)")
    run.set_defaults(func=cmd_run)

    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def entrypoint() -> NoReturn:
    """The ``generec`` console script (see ``jobs.process_exit`` for why it does not just return)."""
    exit_with_status_of(main)


if __name__ == "__main__":
    entrypoint()
