"""The ``mlprod`` command line: every command, option and its help."""

from __future__ import annotations

import argparse
import sys

from mlprod import config
from mlprod.cli.exits import EXIT_BAD_INPUT
from mlprod.config import CURRENCIES

__all__ = ["build_parser"]

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
    f1 = calc.add_argument_group(
        "quality (give one of: --f1, --precision/--recall, --tp/--fp/--fn; or --metric NAME "
        "--value X)"
    )
    f1.add_argument("--f1", type=float, help="F1 score between 0 and 1")
    _metric_option(f1)
    f1.add_argument(
        "--value", type=float, help="with --metric: the run's value of it, as logged (0 to 1)"
    )
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
    train.add_argument(
        "--spot", action="store_true", help="use the spot price (default: the team's pricing)"
    )
    train.add_argument(
        "--provider",
        help="price at this provider (default: the team's pricing, else the cheapest)",
    )
    train.add_argument(
        "--discount",
        help="share off list price, e.g. 0.25 or 25%% (default: the team's pricing, else 0)",
    )
    train.add_argument("--price-per-gpu-hour", type=float, help="your own price, in --currency")
    train.add_argument("--extra-costs", type=float, default=0.0, help="storage, people, ...")
    infer = calc.add_argument_group(
        "inference cost (give --inference-cost, or requests, or tokens, or serving GPUs)"
    )
    infer.add_argument("--inference-cost", type=float, help="in --currency")
    infer.add_argument("--requests-per-month", type=float)
    infer.add_argument("--cost-per-1k-requests", type=float, help="in --currency")
    infer.add_argument(
        "--tokens-in-per-month",
        "--tokens-in",
        dest="tokens_in",
        type=float,
        help="input tokens per month",
    )
    infer.add_argument(
        "--tokens-out-per-month",
        "--tokens-out",
        dest="tokens_out",
        type=float,
        help="output tokens per month",
    )
    infer.add_argument(
        "--cached-input-share",
        type=float,
        help="share of input tokens read from the provider's cache (0-1; the cached price)",
    )
    infer.add_argument(
        "--price-cached-per-1m",
        type=float,
        help="per 1M cached input tokens (default: the price book's)",
    )
    infer.add_argument(
        "--batch-share",
        type=float,
        help="share of tokens sent through the batch API (0-1; the book's batch discount)",
    )
    infer.add_argument(
        "--llm-model",
        help="an API model from data/llm_prices.csv, e.g. "
        "gpt-4.1-mini (its prices per 1M tokens; a typed price wins)",
    )
    infer.add_argument("--llm-provider", help="the price book's row at this provider")
    infer.add_argument("--price-in-per-1m", type=float, help="per 1M input tokens, in --currency")
    infer.add_argument("--price-out-per-1m", type=float, help="per 1M output tokens")
    serve = calc.add_argument_group(
        "self-hosted serving (GPUs that serve all month whatever the traffic)"
    )
    serve.add_argument("--serving-gpu", help="GPU model from data/gpu_prices.csv, e.g. L4")
    serve.add_argument("--serving-gpus", type=float, help="GPUs per replica (default 1)")
    serve.add_argument("--replicas", type=float, help="replicas (default 1)")
    serve.add_argument(
        "--hours-per-month", type=float, help="hours served per month (default 730: always on)"
    )
    serve.add_argument(
        "--requests-per-second-per-replica",
        "--requests-per-s-per-replica",
        dest="requests_per_s_per_replica",
        type=float,
        help="one replica's throughput: with --requests-per-month "
        "the replicas follow from the traffic",
    )
    serve.add_argument("--serving-provider", help="price at this provider (default: cheapest)")
    serve.add_argument("--serving-spot", action="store_true", help="the spot price")
    serve.add_argument(
        "--serving-price-per-gpu-hour", type=float, help="your own price, in --currency"
    )
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
        "group:group=NAME (a group's mean: runs tagged group=NAME, which scoring gives the "
        "children of one MLflow parent run and runs that differ only in a seed) or "
        "NAME~F1~TRAINING~INFERENCE~HOURS~LATENCY.",
    )
    versus.add_argument("a", help="model A")
    versus.add_argument("b", help="model B")
    versus.add_argument("--weights", default="1,1,1", help="cost,time,speed (default 1,1,1)")
    versus.add_argument("--tie", type=float, default=2.0, help="tie band in %% (default 2)")
    versus.add_argument(
        "--traffic", type=float, help="requests per month now (default: the runs' assumptions)"
    )
    versus.add_argument(
        "--no-noise",
        action="store_true",
        help="ignore run-to-run spread (other runs of the same group)",
    )
    versus.add_argument("--json", action="store_true", help="print the answer as JSON")
    versus.add_argument("--db", help=_DB_HELP)

    report = commands.add_parser(
        "report",
        help="a review report of model A vs model B: one self-contained HTML or PDF file",
        description="Write what the Compare page shows for a reviewer, in one file with its "
        "charts (no network needed to open it): the verdict, the key numbers, the ratios, "
        "inputs, cost assumptions and price dates, run-to-run spread, break-even traffic and "
        "the permalink. Sides as compare takes them.",
    )
    report.add_argument("a", help="model A")
    report.add_argument("b", help="model B")
    report.add_argument(
        "-o", "--output", required=True, help="review.html, or review.pdf for a PDF"
    )
    report.add_argument("--weights", default="1,1,1", help="cost,time,speed (default 1,1,1)")
    report.add_argument("--tie", type=float, default=2.0, help="tie band in %% (default 2)")
    report.add_argument("--traffic", type=float, help="requests per month now")
    report.add_argument("--no-noise", action="store_true", help="ignore run-to-run spread")
    report.add_argument("--dashboard-url", help="for the permalink (default: MLPROD_DASHBOARD_URL)")
    report.add_argument("--db", help=_DB_HELP)

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
    mlflow.add_argument(
        "--experiment",
        action="append",
        default=[],
        metavar="NAME",
        help="experiment name or id (repeatable)",
    )
    mlflow.add_argument("--filter", help='MLflow search filter, e.g. "metrics.f1 > 0.5"')
    mlflow.add_argument(
        "--write-back",
        action="store_true",
        help="log mlprod.cer, mlprod.ter and mlprod.psr on each scored run",
    )
    mlflow.add_argument("-o", "--output", help="scored file (default: mlflow-runs.scored.csv)")
    _step_option(mlflow)
    _batch_options(mlflow, saves="the runs not stored yet")
    _energy_option(mlflow)
    from mlprod.trackers import TRACKERS

    for name, tracker in TRACKERS.items():
        files = trackers.add_parser(
            name,
            help=tracker.what,
            description=f"Score {tracker.what}: {tracker.fed}. Same options as import "
            "mlflow; with --save, runs already in the history (same path, same run id) are "
            "skipped, so it can run from cron.",
        )
        files.add_argument("paths", nargs="+", metavar="PATH", help=tracker.paths)
        files.add_argument("-o", "--output", help=f"scored file (default: {name}-runs.scored.csv)")
        if name != "codecarbon":
            _step_option(files)
            _energy_option(files)
        else:
            files.set_defaults(step="best", energy=None)
        _batch_options(files, saves="the runs not stored yet")
    for tool, what, where in (
        (
            "lm-eval",
            "lm-evaluation-harness results: one run per task of each results_*.json "
            "(default --metric accuracy, i.e. acc; acc_norm, exact_match, ... as the harness "
            "names them)",
            "results_*.json files, or folders holding them",
        ),
        (
            "promptfoo",
            "promptfoo output (promptfoo eval -o FILE.json): one run per prompt x provider "
            "(default --metric pass_rate; score and named scores too)",
            "output JSON files, or folders holding them",
        ),
    ):
        evals = trackers.add_parser(
            tool,
            help=what.split(":")[0] + " files",
            description=f"Score {what}. Tokens are priced by the LLM price book "
            "(data/llm_prices.csv); a model it does not list is a row error unless you "
            "--set price_in_per_1m and price_out_per_1m (or llm_model=A_LISTED_MODEL). "
            "Training hours and cost are the model's: --set them. With --save, runs already "
            "in the history (same folder, same run) are skipped.",
        )
        evals.add_argument("paths", nargs="+", metavar="PATH", help=where)
        evals.add_argument(
            "--per-1k-evals",
            action="store_true",
            help="the inference cost per 1,000 evaluations instead of over the whole run "
            "(runs of different sizes on one footing)",
        )
        _energy_option(evals)
        evals.add_argument("-o", "--output", help=f"scored file (default: {tool}-runs.scored.csv)")
        _batch_options(evals, saves="the runs not stored yet")
    gate = commands.add_parser(
        "gate",
        help="CI: promote or hold a candidate against the run in production",
        description="Compare CANDIDATE with the baseline (by default the run in production "
        "for its model, else its project) as the Compare page does, and apply the gate's "
        "rules ([mlprod.gate] in .streamlit/secrets.toml; options go over them). Exit codes: "
        "0 promote, 1 hold, 2 bad input or no baseline.",
    )
    gate.add_argument(
        "candidate",
        nargs="?",
        help="a history id, group:NAME, mlflow:RUN_ID (with --tracking-uri) or "
        "NAME~F1~TRAINING~INFERENCE~HOURS~LATENCY",
    )
    gate.add_argument("--baseline", help="a side as the candidate (default: in production)")
    gate.add_argument("--from", dest="from_file", metavar="FILE", help="a file of runs")
    gate.add_argument("--row", type=int, default=1, help="with --from: the Nth run (default 1)")
    gate.add_argument("--tracking-uri", help="for mlflow:RUN_ID (default: MLFLOW_TRACKING_URI)")
    gate.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="for a run from --from or MLflow: what it lacks, as score --set",
    )
    gate.add_argument("--min-quality-gain", type=float, help="F1 points, e.g. 0.01")
    gate.add_argument("--max-cost-increase", type=float, metavar="PCT", help="e.g. 10 (%%)")
    gate.add_argument("--max-latency-increase", type=float, metavar="PCT", help="e.g. 20 (%%)")
    gate.add_argument("--weights", help="cost,time,speed (default 1,1,1)")
    gate.add_argument("--tie", type=float, metavar="PCT", help="tie band in %% (default 2)")
    gate.add_argument(
        "--spread-does-not-hold",
        action="store_true",
        help="promote a lead inside run-to-run spread (by default it holds)",
    )
    gate.add_argument("--no-noise", action="store_true", help="ignore run-to-run spread")
    gate.add_argument("--markdown", metavar="FILE", help="write a pull-request comment")
    gate.add_argument("--json", action="store_true", help="print the decision as JSON")
    gate.add_argument("--dashboard-url", help="for the link (default: MLPROD_DASHBOARD_URL)")
    gate.add_argument("--db", help=_DB_HELP)
    marks = commands.add_parser(
        "production", help="mark, unmark or show the run in production for a model or project"
    )
    marks.add_argument("action", choices=("mark", "unmark", "show"))
    marks.add_argument("side", nargs="?", help="with mark: a history id or group:NAME")
    marks.add_argument("--model", help="the model it is in production for")
    marks.add_argument("--project", help="the project it is in production for")
    marks.add_argument("--note", help="why (kept with the mark)")
    marks.add_argument("--author", help="who marks (default: $USER)")
    marks.add_argument("--json", action="store_true", help="show: as JSON")
    marks.add_argument("--db", help=_DB_HELP)
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
        "--address",
        default="localhost",
        help="where to listen (default localhost: only this machine; 0.0.0.0 for a team)",
    )
    ui.add_argument("--db", help=_DB_HELP)
    ui.add_argument("--browser", action="store_true", help="open a browser tab too")
    return parser


def _step_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--step",
        choices=("best", "last"),
        default="best",
        help="the quality at each run's best step in the metric's direction, from its metric "
        "history (default), or at its last step",
    )


def _energy_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--energy",
        metavar="EMISSIONS_CSV",
        help="CodeCarbon's emissions.csv: each run takes the energy (kWh) and CO2e measured "
        "for it (by run id or name, else by project and overlapping time)",
    )


def _metric_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--metric",
        metavar="NAME",
        help="the quality the ratios divide (default F1): accuracy, auc, exact_match, pass@1, "
        "win_rate, rouge_l, bleu, a name of your own (higher is better, 0 to 1), or an error "
        "rate such as wer (scored as 1 - WER); unbounded ones (loss, RMSE, perplexity) are "
        "refused",
    )


def _batch_options(parser: argparse.ArgumentParser, *, saves: str) -> None:
    """What every command that scores a batch of runs takes (``score``, ``import``)."""
    _metric_option(parser)
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="use COLUMN for FIELD, e.g. --map f1=metrics.val_f1, --map metric=COLUMN (the "
        "quality's column, with --metric) (repeatable)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="one value for every run where the file has none (a column it lacks, or its "
        "empty cells), e.g. --set inference_cost=250, --set gpu_model=A100-80GB --set "
        "gpu_count=8, --set requests_per_month=2000000 --set cost_per_1k_requests=0.1 "
        "(repeatable; the fields of the calculator's cost builders work too)",
    )
    parser.add_argument(
        "--all-states",
        action="store_true",
        help="score every run, also those that did not finish (FAILED, KILLED, RUNNING: "
        "skipped by default)",
    )
    parser.add_argument("--save", action="store_true", help=f"store {saves} in the history")
    parser.add_argument("--db", help=_DB_HELP)
    parser.add_argument("--author", help="who saves (default: $USER)")
    parser.add_argument("--currency", default="USD", choices=sorted(CURRENCIES))
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --save: how long to wait while another process (the dashboard, another "
        "save) works on the history file (default: MLPROD_DB_WAIT or 60)",
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlprod")
    except PackageNotFoundError:  # a clone that was never installed
        return "(not installed)"
