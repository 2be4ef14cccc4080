"""``mlprod`` (or ``python -m mlprod``): the same core without a browser.

Commands: ``calc`` (one run), ``compare`` (A vs B), ``score`` (a file of runs),
``import mlflow``, ``backup``,
``restore`` and ``ui`` (the dashboard). Exit codes: 0 success, 1 some rows had errors,
2 unusable input, 3 database locked or unusable, 4 internal error (a bug; its traceback is
written to a file the message names).

Each command imports what it needs when it runs (``--help`` loads no numpy, ``score``
without ``--save`` no DuckDB): a command in a pipeline starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, BinaryIO, TextIO

from mlprod import config
from mlprod.config import CURRENCIES
from mlprod.errors import DatabaseError, InvalidInput, MlprodError
from mlprod.text import plain

if TYPE_CHECKING:
    from mlprod.scenario import CostScenario

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_ROW_ERRORS, EXIT_BAD_INPUT, EXIT_DATABASE, EXIT_INTERNAL = 0, 1, 2, 3, 4
_DB_HELP = f"history database (default: MLPROD_DB, else {config.DEFAULT_DB})"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlprod", description="ML training productivity ratios.")
    parser.add_argument("--version", action="version", version=f"mlprod {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    calc = commands.add_parser("calc", help="ratios of one run")
    f1 = calc.add_argument_group("F1 (give one of: --f1, --precision/--recall, --tp/--fp/--fn)")
    f1.add_argument("--f1", type=float, help="F1 score between 0 and 1")
    f1.add_argument("--precision", type=float)
    f1.add_argument("--recall", type=float)
    f1.add_argument("--tp", type=float, help="true positives")
    f1.add_argument("--fp", type=float, help="false positives")
    f1.add_argument("--fn", type=float, help="false negatives")
    train = calc.add_argument_group("training cost (give --training-cost, or --gpu and --gpus)")
    train.add_argument("--training-cost", type=float, help="in --currency")
    train.add_argument("--gpu", help="GPU model from data/gpu_prices.csv, e.g. A100-80GB")
    train.add_argument("--gpus", type=float, help="number of GPUs")
    train.add_argument(
        "--gpu-hours", type=float, help="hours on those GPUs (default: training hours)"
    )
    train.add_argument("--spot", action="store_true", help="use the spot price")
    train.add_argument("--provider", help="price at this provider (default: the cheapest)")
    train.add_argument("--price-per-gpu-hour", type=float, help="your own price, in --currency")
    train.add_argument("--extra-costs", type=float, default=0.0, help="storage, people, ...")
    infer = calc.add_argument_group(
        "inference cost (give --inference-cost, or requests, or tokens, or serving GPUs)"
    )
    infer.add_argument("--inference-cost", type=float, help="in --currency")
    infer.add_argument("--requests-per-month", type=float)
    infer.add_argument("--cost-per-1k-requests", type=float, help="in --currency")
    infer.add_argument("--tokens-in-per-month", "--tokens-in", dest="tokens_in", type=float,
                       help="input tokens per month")  # fmt: skip
    infer.add_argument("--tokens-out-per-month", "--tokens-out", dest="tokens_out", type=float,
                       help="output tokens per month")  # fmt: skip
    infer.add_argument("--llm-model", help="an API model from data/llm_prices.csv, e.g. "
                       "gpt-4.1-mini (its prices per 1M tokens; a typed price wins)")  # fmt: skip
    infer.add_argument("--llm-provider", help="the price book's row at this provider")
    infer.add_argument("--price-in-per-1m", type=float, help="per 1M input tokens, in --currency")
    infer.add_argument("--price-out-per-1m", type=float, help="per 1M output tokens")
    serve = calc.add_argument_group(
        "self-hosted serving (GPUs that serve all month whatever the traffic)"
    )
    serve.add_argument("--serving-gpu", help="GPU model from data/gpu_prices.csv, e.g. L4")
    serve.add_argument("--serving-gpus", type=float, help="GPUs per replica (default 1)")
    serve.add_argument("--replicas", type=float, help="replicas (default 1)")
    serve.add_argument("--hours-per-month", type=float,
                       help="hours served per month (default 730: always on)")  # fmt: skip
    serve.add_argument("--requests-per-second-per-replica", dest="requests_per_s_per_replica",
                       type=float, help="one replica's throughput: with --requests-per-month "
                       "the replicas follow from the traffic")  # fmt: skip
    serve.add_argument("--serving-provider", help="price at this provider (default: cheapest)")
    serve.add_argument("--serving-spot", action="store_true", help="the spot price")
    serve.add_argument("--serving-price-per-gpu-hour", type=float,
                       help="your own price, in --currency")  # fmt: skip
    infer.add_argument("--months", type=float, default=1.0, help="horizon (default 1)")
    calc.add_argument("--training-hours", type=float, required=True)
    calc.add_argument("--latency-ms", type=float, required=True)
    calc.add_argument("--currency", default="USD", choices=sorted(CURRENCIES))
    calc.add_argument("--model-name")
    calc.add_argument("--project")
    calc.add_argument("--tags", help="comma separated")
    calc.add_argument("--notes")
    calc.add_argument("--json", action="store_true", help="print {cer, ter, psr} as JSON")
    calc.add_argument("--save", action="store_true", help="store the run in the history")
    calc.add_argument("--db", help=_DB_HELP)
    calc.add_argument("--author", help="who saves (default: $USER)")

    versus = commands.add_parser(
        "compare",
        help="model A vs model B from the history: verdict, break-even traffic, seed noise",
        description="Compare two sides as the Compare page does. A side is a history id, "
        "group:NAME (a group's mean: runs of one model and project, 'MODEL · PROJECT', or "
        "tagged group=NAME) or NAME~F1~TRAINING~INFERENCE~HOURS~LATENCY.",
    )
    versus.add_argument("a", help="model A")
    versus.add_argument("b", help="model B")
    versus.add_argument("--weights", default="1,1,1", help="cost,time,speed (default 1,1,1)")
    versus.add_argument("--tie", type=float, default=2.0, help="tie band in %% (default 2)")
    versus.add_argument(
        "--traffic", type=float, help="requests per month now (default: the runs' assumptions)"
    )
    versus.add_argument("--no-noise", action="store_true",
                        help="ignore run-to-run spread (other runs of the same group)")  # fmt: skip
    versus.add_argument("--json", action="store_true", help="print the answer as JSON")
    versus.add_argument("--db", help=_DB_HELP)

    score = commands.add_parser(
        "score",
        help="score a CSV/Parquet file of runs (ours, MLflow, W&B)",
        description="Score every row of a file of runs. Exit codes: 0 all rows scored, "
        "1 some rows have errors (the good rows are still scored and written), 2 the file "
        "is unusable, 3 the database is locked or unusable (the scored file is still "
        "written), 4 internal error (nothing saved unless a line says 'Saved').",
    )
    score.add_argument("runs", help="a .csv, .csv.gz or .parquet file")
    score.add_argument(
        "-o",
        "--output",
        help="scored file to write: Parquet for .parquet, gzip CSV for .csv.gz, CSV "
        "otherwise (default: RUNS.scored.csv; '-' for CSV on stdout)",
    )
    _batch_options(score, saves="the good rows")
    score.add_argument(
        "--again",
        action="store_true",
        help="with --save: store a file saved before once more (by default it is reported "
        "and not stored twice)",
    )
    imports = commands.add_parser("import", help="score runs straight from a tracker")
    trackers = imports.add_subparsers(dest="tracker", required=True, parser_class=_Parser)
    mlflow = trackers.add_parser(
        "mlflow",
        help="runs of an MLflow tracking server",
        description="Score the runs of MLflow experiments exactly like a file (same mapping, "
        "row errors, outputs and exit codes). With --save, runs already in the history "
        "(same server, same run id) are skipped, so it can run from cron.",
    )
    mlflow.add_argument("--tracking-uri", help="http://host:port (default: MLFLOW_TRACKING_URI)")
    mlflow.add_argument("--experiment", action="append", default=[], metavar="NAME",
                        help="experiment name or id (repeatable)")  # fmt: skip
    mlflow.add_argument("--filter", help='MLflow search filter, e.g. "metrics.f1 > 0.5"')
    mlflow.add_argument("--all-states", action="store_true",
                        help="every run, not only FINISHED ones")  # fmt: skip
    mlflow.add_argument(
        "--write-back",
        action="store_true",
        help="log mlprod.cer, mlprod.ter and mlprod.psr on each scored run",
    )
    mlflow.add_argument("-o", "--output", help="scored file (default: mlflow-runs.scored.csv)")
    _batch_options(mlflow, saves="the runs not stored yet")
    backup = commands.add_parser(
        "backup",
        help="write a consistent copy of the history database (also while the dashboard runs)",
    )
    backup.add_argument("dest", help="the new backup file, e.g. backups/mlprod-2026-11-29.duckdb")
    backup.add_argument("--db", help=_DB_HELP)
    restore = commands.add_parser(
        "restore",
        help="bring a backup back (stop the dashboard first; the current database is kept)",
    )
    restore.add_argument("source", help="a backup written by `python -m mlprod backup`")
    restore.add_argument("--db", help=_DB_HELP)
    ui = commands.add_parser(
        "ui",
        help="start the dashboard (the same app as `streamlit run app.py` in a clone)",
        description="Start the dashboard on http://ADDRESS:PORT with the shipped settings "
        "(uploads up to 200 MB, XSRF protection on, no usage statistics). Ctrl-C stops it.",
    )
    ui.add_argument("--port", type=int, default=8501, help="default 8501")
    ui.add_argument(
        "--address", default="localhost",
        help="where to listen (default localhost: only this machine; 0.0.0.0 for a team)",
    )  # fmt: skip
    ui.add_argument("--db", help=_DB_HELP)
    ui.add_argument("--browser", action="store_true", help="open a browser tab too")
    return parser


def _batch_options(parser: argparse.ArgumentParser, *, saves: str) -> None:
    """What every command that scores a batch of runs takes (``score``, ``import``)."""
    parser.add_argument(
        "--map", action="append", default=[], metavar="FIELD=COLUMN",
        help="use COLUMN for FIELD, e.g. --map f1=metrics.val_f1 (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE",
        help="one value for every run where the file has none (a column it lacks, or its "
        "empty cells), e.g. --set inference_cost=250, --set gpu_model=A100-80GB --set "
        "gpu_count=8, --set requests_per_month=2000000 --set cost_per_1k_requests=0.1 "
        "(repeatable; the fields of the calculator's cost builders work too)",
    )  # fmt: skip
    parser.add_argument("--save", action="store_true", help=f"store {saves} in the history")
    parser.add_argument("--db", help=_DB_HELP)
    parser.add_argument("--author", help="who saves (default: $USER)")
    parser.add_argument("--currency", default="USD", choices=sorted(CURRENCIES))
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--wait", type=float, default=None, metavar="SECONDS",
        help="with --save: how long to wait while another process (the dashboard, another "
        "save) works on the history file (default: MLPROD_DB_WAIT or 60)",
    )  # fmt: skip


def _backup(args: argparse.Namespace) -> int:
    from mlprod.backup import backup, restore

    database = args.db or config.database()
    if args.command == "backup":
        done = backup(database, args.dest)
        how = {
            "snapshot": "copied while another process held it",
            "server": "read from the server in one consistent snapshot",
        }.get(done.method, "checkpointed and copied")
        print(
            f"Backed up {done.calculations:,} calculations in {done.batches:,} batches to "
            f"{done.path} ({how}; checked: every batch complete)."
        )
    else:
        if "://" in database:
            raise DatabaseError(
                "restore writes a DuckDB file; a history on a database server is restored "
                "with the server's own tools (pg_restore, psql) from a pg_dump."
            )
        done = restore(args.source, database)
        kept = f" The database it replaced is kept at {done.kept}." if done.kept else ""
        if done.stale_log:
            kept += (f" A log file without its database was beside it (it would have been "
                     f"read into the restored one); it is kept at {done.stale_log}.")  # fmt: skip
        print(
            f"Restored {done.calculations:,} calculations in {done.batches:,} batches to "
            f"{done.path}.{kept}"
        )
    return EXIT_OK


def _ui(args: argparse.Namespace) -> int:
    from mlprod.launch import run_dashboard

    return run_dashboard(port=args.port, address=args.address, db=args.db, browser=args.browser)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlprod")
    except PackageNotFoundError:  # a clone that was never installed
        return "(not installed)"


def _scenario(args: argparse.Namespace) -> CostScenario:
    """The cost inputs of ``calc``, as the calculator page gathers them."""
    from mlprod.scenario import CostScenario

    return CostScenario(
        training_cost=args.training_cost, gpu_model=args.gpu, gpu_count=args.gpus,
        gpu_hours=args.gpu_hours, spot=args.spot, provider=args.provider,
        price_per_gpu_hour=args.price_per_gpu_hour, extra_costs=args.extra_costs,
        inference_cost=args.inference_cost, requests_per_month=args.requests_per_month,
        cost_per_1k_requests=args.cost_per_1k_requests, tokens_in_per_month=args.tokens_in,
        tokens_out_per_month=args.tokens_out, price_in_per_1m=args.price_in_per_1m,
        price_out_per_1m=args.price_out_per_1m, llm_model=args.llm_model,
        llm_provider=args.llm_provider, serving_gpu=args.serving_gpu,
        serving_gpus=args.serving_gpus, replicas=args.replicas,
        hours_per_month=args.hours_per_month,
        requests_per_s_per_replica=args.requests_per_s_per_replica,
        serving_spot=args.serving_spot or (args.spot and not args.gpu),
        serving_provider=args.serving_provider or (None if args.gpu else args.provider),
        serving_price_per_gpu_hour=args.serving_price_per_gpu_hour
        or (None if args.gpu else args.price_per_gpu_hour),
        months=args.months, currency=args.currency,
    )  # fmt: skip


def _calc(args: argparse.Namespace) -> int:
    from mlprod.explain import advice_for, format_ratio, formulas, readable
    from mlprod.metrics import calculate, resolve_f1
    from mlprod.scenario import build_costs

    f1_inputs = {"precision": args.precision, "recall": args.recall, "tp": args.tp,
                 "fp": args.fp, "fn": args.fn}  # fmt: skip
    f1 = resolve_f1(args.f1, **f1_inputs)
    costs = build_costs(_scenario(args), args.training_hours)
    training, inference = costs.training_cost, costs.inference_cost
    ratios = calculate(f1, training, inference, args.training_hours, args.latency_ms)
    if args.json:
        out: dict[str, object] = ratios.as_dict()
        if costs.formulas:  # built costs are part of the answer
            out |= {"training_cost": training, "inference_cost": inference}
        print(json.dumps(out))
    else:
        for line in costs.formulas:
            print(line)
        if costs.formulas:
            print()
        words = readable(ratios, args.currency)
        shown = formulas(
            f1, training, inference, args.training_hours, args.latency_ms, ratios, args.currency
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
        from mlprod.saving import calculation_record, save_calculation
        from mlprod.store import Store

        record = calculation_record(
            f1=f1, training_cost=training, inference_cost=inference,
            training_hours=args.training_hours, latency_ms=args.latency_ms, ratios=ratios,
            currency=args.currency, f1_inputs=f1_inputs, assumptions=costs.assumptions,
            model_name=args.model_name, project=args.project, tags=args.tags, notes=args.notes,
        )  # fmt: skip
        database = args.db or config.database()
        with Store(database) as store:
            save_calculation(store, record, calc_key=uuid.uuid4().hex,
                             author=args.author or config.local_user(),
                             source="cli")  # fmt: skip
        print(f"Saved to {database}", file=sys.stderr)
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    from mlprod.break_even import break_even
    from mlprod.compare import compare
    from mlprod.errors import BadLink
    from mlprod.links import parse_side, parse_weights
    from mlprod.sides import side_run
    from mlprod.store import Store

    try:
        sides = [parse_side(args.a), parse_side(args.b)]
        weights = parse_weights(args.weights)
    except BadLink as exc:
        raise InvalidInput("side", str(exc)) from None
    with Store(args.db or config.database()) as store:
        run_a, run_b = (side_run(s, store, noise=not args.no_noise) for s in sides)
    comparison = compare(run_a, run_b, weights=weights, tie_band=args.tie / 100)
    even = break_even(run_a, run_b, traffic=args.traffic)
    if args.json:
        out = {
            "a": run_a.name, "b": run_b.name, "recommended": comparison.recommended,
            "within_noise": comparison.within_noise, "verdict": comparison.verdict,
            "ratios": {k: {"a": r.a, "b": r.b, "winner": r.winner,
                           "within_noise": r.within_noise} for k, r in comparison.ratios.items()},
            "total_cost": {"a": run_a.total_cost, "b": run_b.total_cost},
            "break_even": None if even is None else {
                "traffic_now": even.traffic, "traffic_given": even.traffic_given,
                "equal_total_cost_at": even.cost_at, "equal_cer_at": even.cer_at,
                "cheaper_now": even.cheaper_now},
        }  # fmt: skip
        print(json.dumps(out))
        return EXIT_OK
    print(comparison.verdict)
    for line in comparison.key_numbers + comparison.break_evens + (even.lines if even else []):
        print(f"  - {line}")
    if even is None:
        print("  - No break-even traffic: neither side's cost follows traffic (typed costs or "
              "GPUs that serve all month).")  # fmt: skip
    return EXIT_OK


class _Inert(io.TextIOBase):
    """A terminal stream whose text cannot act on the terminal: every control character
    but a line break, carriage return or tab is written as its escape (a run name holding
    ``ESC]52`` would write the clipboard, ``ESC[2J`` clear the screen). JSON escapes them
    itself, and binary output (CSV on stdout) goes to ``buffer`` unchanged."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(plain(text, keep="\n\r\t"))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def buffer(self) -> BinaryIO:
        return self._stream.buffer  # type: ignore[attr-defined]


def main(argv: Sequence[str] | None = None) -> int:
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Inert(sys.stdout), _Inert(sys.stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "ui":
            return _ui(args)
        if args.command in ("backup", "restore"):
            return _backup(args)
        if args.command == "calc":
            return _calc(args)
        if args.command == "compare":
            return _compare(args)
        from mlprod import batch_commands

        if args.command == "import":
            return batch_commands.import_mlflow(args)
        return batch_commands.score(args)
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except MlprodError as exc:  # BadFile and other unusable input
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `mlprod calc ... | head`: the reader has all it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("\nstopped: a batch is stored only when a line says 'Saved'.", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: never read as "some rows had errors" (1)
        log = _crash_log(exc)
        print(f"internal error ({type(exc).__name__}: {str(exc)[:200]}). A batch is stored "
              "only when a line says 'Saved'; a save cut short stores nothing. Details: "
              f"{log}", file=sys.stderr)  # fmt: skip
        return EXIT_INTERNAL


def _crash_log(exc: BaseException) -> str:
    """Write the traceback of an unexpected failure to a file; returns its path."""
    import tempfile
    import traceback

    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="mlprod-crash-", suffix=".log", delete=False
        ) as fh:
            fh.write(f"mlprod {' '.join(sys.argv[1:])}\n")
            traceback.print_exception(exc, file=fh)
            return fh.name
    except OSError:
        return "(could not be written: the disk may be full)"
