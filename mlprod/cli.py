"""``python -m mlprod``: the same core without a browser.

Exit codes: 0 success, 1 some rows had errors, 2 unusable input, 3 database locked or
unusable.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence

from mlprod import config
from mlprod.errors import DatabaseError, InvalidInput, MlprodError
from mlprod.explain import CURRENCIES, advice_for, format_ratio, formulas, readable
from mlprod.metrics import calculate, resolve_f1
from mlprod.store import Store

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_ROW_ERRORS, EXIT_BAD_INPUT, EXIT_DATABASE = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mlprod", description="ML training productivity ratios.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    calc = commands.add_parser("calc", help="ratios of one run")
    f1 = calc.add_argument_group("F1 (give one of: --f1, --precision/--recall, --tp/--fp/--fn)")
    f1.add_argument("--f1", type=float, help="F1 score between 0 and 1")
    f1.add_argument("--precision", type=float)
    f1.add_argument("--recall", type=float)
    f1.add_argument("--tp", type=float, help="true positives")
    f1.add_argument("--fp", type=float, help="false positives")
    f1.add_argument("--fn", type=float, help="false negatives")
    calc.add_argument("--training-cost", type=float, required=True)
    calc.add_argument("--inference-cost", type=float, required=True)
    calc.add_argument("--training-hours", type=float, required=True)
    calc.add_argument("--latency-ms", type=float, required=True)
    calc.add_argument("--currency", default="USD", choices=sorted(CURRENCIES))
    calc.add_argument("--model-name")
    calc.add_argument("--project")
    calc.add_argument("--tags", help="comma separated")
    calc.add_argument("--notes")
    calc.add_argument("--json", action="store_true", help="print {cer, ter, psr} as JSON")
    calc.add_argument("--save", action="store_true", help="store the run in the history")
    calc.add_argument("--db", help="history database (default: MLPROD_DB or data/mlprod.duckdb)")
    calc.add_argument("--author")
    return parser


def _calc(args: argparse.Namespace) -> int:
    f1 = resolve_f1(
        args.f1, precision=args.precision, recall=args.recall, tp=args.tp, fp=args.fp, fn=args.fn
    )
    ratios = calculate(
        f1, args.training_cost, args.inference_cost, args.training_hours, args.latency_ms
    )
    if args.json:
        print(json.dumps(ratios.as_dict()))
    else:
        words = readable(ratios, args.currency)
        shown = formulas(
            f1,
            args.training_cost,
            args.inference_cost,
            args.training_hours,
            args.latency_ms,
            ratios,
            args.currency,
        )
        for name in ("cer", "ter", "psr"):
            print(f"{name.upper()}  {format_ratio(getattr(ratios, name)):>12}   {words[name]}")
        print()
        print("\n".join(shown.values()))
        advice = advice_for(ratios)
        print()
        print(advice.headline)
        print("\n".join(f"  - {action}" for action in advice.actions))
    if args.save:
        record = {
            "f1": f1,
            "precision": args.precision,
            "recall": args.recall,
            "tp": args.tp,
            "fp": args.fp,
            "fn": args.fn,
            "training_cost": args.training_cost,
            "inference_cost": args.inference_cost,
            "training_hours": args.training_hours,
            "latency_ms": args.latency_ms,
            "currency": args.currency,
            "model_name": args.model_name,
            "project": args.project,
            "tags": args.tags,
            "notes": args.notes,
            **ratios.as_dict(),
        }
        database = args.db or config.database()
        with Store(database) as store:
            store.save_calculation(
                record, calc_key=uuid.uuid4().hex, author=args.author, source="cli"
            )
        print(f"Saved to {database}", file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _calc(args)
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except MlprodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
