"""Options every ``generec`` subcommand shares: where the data is, with which settings, for which date."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from generec_core.config import PipelineConfig, default_root, normalise_root


def logical_date(text: str) -> str:
    """An argparse type: ``YYYY-MM-DD``, with an error naming the bad value."""
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"--date must be YYYY-MM-DD, got {text!r}") from None


def root_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=normalise_root, default=default_root(),
                   help="storage root URI (default: $GENEREC_ROOT or file://$PWD/generec-data)")


def common_options(p: argparse.ArgumentParser) -> None:
    """``--root`` and ``--config`` (for commands that read a root outside a DAG run: its settings)."""
    root_option(p)
    p.add_argument("--config", default="{}", metavar="JSON",
                   help="PipelineConfig overrides as JSON, e.g. '{\"storage\": {\"endpoint_url\": \"http://...\"}}'")


def config_from(args: argparse.Namespace) -> PipelineConfig:
    """The run's typed config: ``--config`` overrides on the defaults, at ``--root``."""
    try:
        overrides = json.loads(args.config)
    except ValueError as exc:
        raise ValueError(f"--config is not valid JSON: {exc}") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"--config must be a JSON object, got {args.config!r}")
    return PipelineConfig.from_dict({**overrides, "root": args.root})
