"""``generec fidelity check``: the gate's content checks on one candidate image, against its source.

    generec fidelity check --source FRAME.jpg --candidate THUMB.jpg [--generated] [--user-id U ...]

Prints the JSON verdict ``{"pass": bool, "checks": {name: {"pass", "score", "threshold",
"reason"}}}`` with the same checks and thresholds the nightly gate applies (``--config`` takes
a PipelineConfig JSON, e.g. ``'{"gate": {"max_nsfw": 0.5}}'``). Exit code: 0 pass, 1 fail,
2 bad input (one stderr line naming it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    fidelity = subparsers.add_parser("fidelity", help="fidelity checks on single assets")
    sub = fidelity.add_subparsers(dest="fidelity_command", required=True)
    check = sub.add_parser("check", help="check a candidate image against its source image")
    check.add_argument("--source", type=Path, required=True, help="the source frame or cover it must be faithful to")
    check.add_argument("--candidate", type=Path, required=True, help="the image that would be published")
    check.add_argument("--generated", action="store_true",
                       help="apply the generated-asset rules (own authenticity bar, no new faces, AI mark required)")
    check.add_argument("--user-id", action="append", default=[], metavar="ID",
                       help="an identifier that must not appear in the file name or metadata (repeatable)")
    check.add_argument("--config", default="", help="PipelineConfig JSON overriding the gate thresholds")
    check.set_defaults(func=cmd_check)


def _read(path: Path, role: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"--{role} {path}: {exc.strerror or exc}") from None


def check_images(source: bytes, candidate: bytes, candidate_name: str, generated: bool,
                 user_ids: frozenset[str], config) -> dict:
    """The verdict dict the command prints (also what tests call)."""
    from generec_core.embedding.encoder import load_encoder_for
    from generec_core.fidelity.audit import Auditor, ImageAsset
    from generec_core.fidelity.quality import decode_image
    from generec_core.video.quality import QualityThresholds

    try:
        source_pixels = decode_image(source)
    except Exception as exc:  # noqa: BLE001 - the source is an input, not a checked asset
        raise ValueError(f"--source does not decode as an image: {type(exc).__name__}: {exc}") from None
    encoder = load_encoder_for(config.frames)
    source_embedding = encoder.embed([source_pixels])[0]
    asset = ImageAsset(candidate_name, candidate, source_embedding, generated=generated,
                       source_pixels=source_pixels, row_marked=True)  # no catalog row here: --generated declares it
    checks = Auditor(config.gate, encoder, user_ids, QualityThresholds.from_config(config.frames)).images([asset])[0]
    return {"pass": all(c.passed for c in checks),
            "checks": {c.name: {"pass": c.passed, "score": c.score, "threshold": c.threshold, "reason": c.reason}
                       for c in checks}}


def cmd_check(args: argparse.Namespace) -> int:
    from generec_core.config import PipelineConfig

    try:
        config = PipelineConfig.from_json(args.config) if args.config else PipelineConfig()
        result = check_images(_read(args.source, "source"), _read(args.candidate, "candidate"), args.candidate.name,
                              args.generated, frozenset(args.user_id), config)
    except (ValueError, json.JSONDecodeError) as exc:
        print(f"generec fidelity check: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, sort_keys=True))
    return 0 if result["pass"] else 1
