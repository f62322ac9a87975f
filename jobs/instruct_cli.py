"""``generec instruct "TEXT"``: the guidance one instruction gives, as JSON; ``--eval FILE``: accuracy.

The same understanding the nightly ``instruct`` stage runs (scrubbing, guard rails, rules and
the offline all-MiniLM-L6-v2 encoder), for one text typed at the terminal — handy to see why
an instruction was refused, or what a phrasing maps to. ``--eval`` scores a labelled JSONL set
(format: ``generec_core/instructor/evaluate.py``) and prints per-field accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("instruct", help="print the guidance JSON one natural-language instruction gives")
    p.add_argument("text", nargs="?", help="the instruction, e.g. \"more cats, shorter clips\"")
    p.add_argument("--eval", metavar="JSONL", help="score a labelled set instead: per-field accuracy")
    p.add_argument("--explain", action="store_true", help="also print how each label was found (stderr)")
    p.set_defaults(func=cmd_instruct)


def cmd_instruct(args: argparse.Namespace) -> int:
    from generec_core.config import InstructorConfig
    from generec_core.instructor.encoder import default_encoder
    from generec_core.instructor.guidance import fold
    from generec_core.instructor.reading import understand

    cfg = InstructorConfig()
    if args.eval:
        return _evaluate(args.eval, cfg)
    if args.text is None:
        print("generec instruct: give an instruction (or --eval FILE)", file=sys.stderr)
        return 2
    reading = understand(args.text, default_encoder(), cfg)
    if args.explain:
        print(json.dumps({"evidence": list(reading.evidence), "pii_scrubbed": list(reading.pii)}), file=sys.stderr)
    print(json.dumps(fold([reading], cfg).to_dict(), indent=2, sort_keys=True))
    return 0


def _evaluate(path: str, cfg) -> int:
    from generec_core.instructor.encoder import default_encoder
    from generec_core.instructor.evaluate import evaluate, load

    report = evaluate(load(path), default_encoder(), cfg)
    for error in report.errors:
        print(f"  line {error['line']} {error['field']}: want {error['want']} got {error['got']}  "
              f"({error['text'][:60]!r})", file=sys.stderr)
    print(json.dumps({"instructions": report.n, "accuracy": {k: round(v, 3) for k, v in report.accuracy().items()},
                      "all_fields_correct": round(report.all_fields_correct(), 3)}, indent=2))
    return 0
