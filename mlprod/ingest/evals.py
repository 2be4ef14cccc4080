"""Runs from LLM evaluation files: lm-evaluation-harness results and promptfoo output.

Each evaluation becomes a run in the columns of a file of runs, then is scored like one:

- lm-evaluation-harness ``results_*.json`` (``lm_eval --output_path``): one run per task
  of a results file; a column per metric as the harness names it (``acc``,
  ``acc_norm``, ``exact_match``; a filter other than ``none`` is appended:
  ``exact_match_strict_match``); the model from its ``model_args`` (``pretrained=``,
  ``model=``); latency is the evaluation's time per sample
  (``total_evaluation_time_seconds`` / samples). The harness logs no tokens.
- promptfoo's output JSON (``promptfoo eval -o out.json``, results version 3): one run per
  prompt × provider (``results.prompts[].metrics``): ``pass_rate`` (tests passed / run),
  ``score`` (mean score), each named score's mean, latency per request, and the tokens
  the provider reported.

Tokens are priced by the dated LLM price book (input, cached input, output; a typed price
wins). A model the book does not list is never priced at $0: its row says so, unless the
file carries the tool's own cost for it (promptfoo's ``cost``), which is then used and
named.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlprod.costs.fx import default_fx
from mlprod.costs.llm import LlmPriceBook, default_llm_prices
from mlprod.errors import BadFile, InvalidInput
from mlprod.ingest.trackers import number, rows_table
from mlprod.quality import Metric

__all__ = [
    "PATTERNS",
    "PRICED_COLUMNS",
    "TOKEN_PRICING",
    "Evaluations",
    "eval_files",
    "lm_eval_runs",
    "priced_by_the_book",
    "promptfoo_runs",
    "read_evaluations",
]

#: The files of each tool found under a folder given.
PATTERNS = {"lm-eval": "results_*.json", "promptfoo": "*.json"}

#: What a person may ``--set`` for the pricing of an evaluation's tokens.
TOKEN_PRICING = (
    "llm_model",
    "llm_provider",
    "price_in_per_1m",
    "price_out_per_1m",
    "price_cached_per_1m",
)
#: How an evaluation's tokens were priced: kept with each scored run (the store's
#: cost-assumption columns of the same names).
PRICED_COLUMNS = (
    "inference_mode",
    "llm_model",
    "llm_provider",
    "llm_prices_as_of",
    "tokens_in_per_month",
    "tokens_out_per_month",
    "price_in_per_1m",
    "price_out_per_1m",
    "price_cached_per_1m",
    "cached_input_share",
)


def eval_files(paths: Iterable[str | Path], pattern: str) -> list[Path]:
    """The files given, and those matching ``pattern`` under each folder given, sorted.

    Raises
    ------
    BadFile
        A path that does not exist, or nothing to read.
    """
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found += sorted(p for p in path.rglob(pattern) if p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise BadFile(f"No such file or folder: {path}")
    if not found:
        where = ", ".join(str(p) for p in paths)
        raise BadFile(f"No {pattern} files in {where}.")
    return found


def _load(path: Path) -> tuple[Any, str | None]:
    """A JSON file's content, or why it cannot be read (a row error, not a stop)."""
    try:
        with path.open("rb") as fh:
            return json.load(fh), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path.name} cannot be read as JSON ({exc}); is it cut short?"


# -- lm-evaluation-harness ----------------------------------------------------------------


def _lm_eval_model(config: Mapping[str, Any]) -> str | None:
    """The model an lm-eval run evaluated: ``pretrained=`` or ``model=`` of its model
    arguments (a dict since 0.4.8, a ``k=v,k=v`` string before), else the model type."""
    args = config.get("model_args")
    if isinstance(args, str):
        args = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
    if isinstance(args, Mapping):
        for key in ("pretrained", "model", "model_name", "engine", "path"):
            if args.get(key):
                return str(args[key])
    return str(config["model"]) if config.get("model") else None


def _lm_eval_file(path: Path, name: str, metric: Metric | None) -> list[dict[str, Any]]:
    """The runs of one results file: one per task; one with the reason where the file
    cannot be read."""
    data, problem = _load(path)
    if problem is None and not (isinstance(data, dict) and isinstance(data.get("results"), dict)):
        problem = f"{path.name} is not an lm-eval results file (no 'results' by task)."
    if problem is not None:
        return [{"run_id": name, "run_name": path.name, "row_error": problem}]
    samples = {
        task: number((counts or {}).get("effective", (counts or {}).get("original")))
        for task, counts in (data.get("n-samples") or {}).items()
    }
    seconds = number(data.get("total_evaluation_time_seconds"))
    total = sum(n for n in samples.values() if n)
    when = number(data.get("date"))
    shared = {
        "model_name": _lm_eval_model(data.get("config") or {}),
        "project": "lm-eval",
        "created_at": datetime.fromtimestamp(when, UTC) if when else None,
        "latency_ms": seconds * 1000 / total if seconds and total else None,
    }
    directions = data.get("higher_is_better") or {}
    return [
        _lm_eval_task(task, values, name, shared, samples.get(task), directions, metric)
        for task, values in data["results"].items()
        if isinstance(values, dict)
    ]


def _lm_eval_task(
    task: str,
    values: Mapping[str, Any],
    name: str,
    shared: Mapping[str, Any],
    samples: float | None,
    directions: Mapping[str, Any],
    metric: Metric | None,
) -> dict[str, Any]:
    """One task of a results file as a run: each metric a column (``metrics.acc``; a
    filter other than ``none`` appended); a metric the harness marks lower-is-better,
    read on a higher-is-better one, a row error."""
    row: dict[str, Any] = {
        "run_id": f"{name}#{task}",
        "run_name": str(values.get("alias") or task).strip() or task,
        **shared,
        "samples": samples,
    }
    for key, value in values.items():
        measure, _, kind = key.partition(",")
        if not kind or measure.endswith("_stderr"):
            continue
        row.setdefault(f"metrics.{measure if kind == 'none' else f'{measure}_{kind}'}", value)
        lower = (directions.get(task) or {}).get(measure) is False
        if lower and metric is not None and not metric.lower_is_better and measure in metric.names:
            row["row_error"] = (
                f"lm-eval marks {measure} lower-is-better in {task}: score it as an error "
                "rate (--metric error_rate with --map metric=...)."
            )
    return row


def lm_eval_runs(
    files: list[Path], root: Path | None = None, metric: Metric | None = None
) -> pa.Table:
    """One run per task of each lm-eval results file (see the module's docstring). A file
    that cannot be read is one run with its reason in ``row_error``; a task whose metric
    the harness marks lower-is-better, read on a higher-is-better metric, too."""
    rows = [row for path in files for row in _lm_eval_file(path, _named(path, root), metric)]
    if not rows:
        raise BadFile("The lm-eval results files hold no tasks.")
    return rows_table(rows)


def _named(path: Path, root: Path | None) -> str:
    return str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)


# -- promptfoo --------------------------------------------------------------------------------


def _promptfoo_model(provider: str) -> str:
    """``openai:chat:gpt-4o-mini`` is gpt-4o-mini; a label is the model as written."""
    return provider.rsplit(":", 1)[-1].strip() or provider


def _shortened(text: str, limit: int = 120) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _promptfoo_file(path: Path, name: str) -> list[dict[str, Any]]:
    """The runs of one output file: one per prompt × provider; one with the reason where
    the file cannot be read."""
    data, problem = _load(path)
    results = data.get("results") if isinstance(data, dict) else None
    prompts = results.get("prompts") if isinstance(results, dict) else None
    if problem is None and not isinstance(prompts, list):
        problem = (
            f"{path.name} is not a promptfoo output file with per-prompt metrics (written "
            "by `promptfoo eval -o FILE.json`, results version 3)."
        )
    if problem is not None:
        return [{"run_id": name, "run_name": path.name, "row_error": problem}]
    assert isinstance(data, dict) and isinstance(results, dict) and isinstance(prompts, list)
    created = None
    if isinstance(when := results.get("timestamp"), str):
        with suppress(ValueError):
            created = datetime.fromisoformat(when.replace("Z", "+00:00"))
    project = (data.get("config") or {}).get("description")
    shared = {"project": str(project) if project else None, "created_at": created}
    eval_id = str(data.get("evalId") or name)
    return [_prompt_run(prompt, eval_id, shared) for prompt in prompts]


def _prompt_run(
    prompt: Mapping[str, Any], eval_id: str, shared: Mapping[str, Any]
) -> dict[str, Any]:
    """One prompt × provider's metrics as a run: pass rate, mean score, each named score's
    mean, latency per request and the tokens used."""
    metrics = prompt.get("metrics") or {}
    provider = str(prompt.get("provider") or "")
    counted = [number(metrics.get(k)) or 0.0 for k in ("testPassCount", "testFailCount",
                                                       "testErrorCount")]  # fmt: skip
    tests = sum(counted)
    usage = metrics.get("tokenUsage") or {}
    requests = number(usage.get("numRequests")) or tests

    def per(value: float | None, count: float) -> float | None:
        return value / count if value is not None and count else None

    row: dict[str, Any] = {
        "run_id": f"{eval_id}/{str(prompt.get('id') or '')[:12]}/{provider}",
        "run_name": _shortened(str(prompt.get("label") or prompt.get("raw") or "")),
        "model_name": _promptfoo_model(provider),
        **shared,
        "metrics.pass_rate": per(counted[0], tests),
        "metrics.score": per(number(metrics.get("score")) or 0.0, tests),
        "latency_ms": per(number(metrics.get("totalLatencyMs")), requests),
        "samples": tests,
        "tokens_in": number(usage.get("prompt")),
        "tokens_out": number(usage.get("completion")),
        "tokens_cached": number(usage.get("cached")),
        "tool_cost": number(metrics.get("cost")),
    }
    counts = metrics.get("namedScoresCount") or {}
    for named, total in (metrics.get("namedScores") or {}).items():
        if (mean := per(number(total), number(counts.get(named)) or 0.0)) is not None:
            row.setdefault(f"metrics.{str(named).strip().lower().replace(' ', '_')}", mean)
    if not tests:
        row["row_error"] = f"{provider}: no tests ran for this prompt."
    return row


def promptfoo_runs(files: list[Path], root: Path | None = None) -> pa.Table:
    """One run per prompt × provider of each promptfoo output file (see the module's
    docstring); a file that cannot be read is one run with its reason in ``row_error``."""
    rows = [row for path in files for row in _promptfoo_file(path, _named(path, root))]
    if not rows:
        raise BadFile("The promptfoo output files hold no prompts.")
    return rows_table(rows)


# -- pricing the tokens --------------------------------------------------------------------


@dataclass(frozen=True)
class _Price:
    """One model's price per 1M tokens, in the batch's currency, and where it came from."""

    input: float
    output: float
    cached: float
    provider: str | None = None
    as_of: date | None = None


def _price_of(
    model: str, typed: Mapping[str, str | float], book: LlmPriceBook, rate: float
) -> _Price | str:
    """``model``'s price (typed prices win over the book's), or why it has none."""
    typed_in = number(typed.get("price_in_per_1m"))
    typed_out = number(typed.get("price_out_per_1m"))
    typed_cached = number(typed.get("price_cached_per_1m"))
    provider = str(typed["llm_provider"]) if typed.get("llm_provider") else None
    try:
        listed = book.price(model, provider)
    except InvalidInput:
        listed = None
    if listed is None:
        if typed_in is None or typed_out is None:
            return (
                f"no price for model {model}: add it to the price book (data/llm_prices.csv) "
                "or --set its prices (price_in_per_1m, price_out_per_1m)"
            )
        return _Price(typed_in, typed_out, typed_cached if typed_cached is not None else typed_in)
    price_in = typed_in if typed_in is not None else listed.input_per_1m * rate
    cached = typed_cached
    if cached is None:
        cached = (
            listed.cached_input_per_1m * rate
            if listed.cached_input_per_1m is not None
            else price_in
        )
    return _Price(
        price_in,
        typed_out if typed_out is not None else listed.output_per_1m * rate,
        cached,
        listed.provider,
        listed.as_of,
    )


def _floats(runs: pa.Table, name: str) -> np.ndarray:
    if name not in runs.column_names:
        return np.full(runs.num_rows, np.nan)
    return np.asarray(runs[name].to_numpy(zero_copy_only=False), dtype=float)


@dataclass(frozen=True)
class _Priced:
    """Each run's model price (or why none) and how its cost was found."""

    key: list[str]
    found: list[_Price | str | None]
    by_book: np.ndarray  # its tokens priced by the book (or the typed prices)
    by_tool: np.ndarray  # no price, but the tool's own cost
    has_tokens: np.ndarray

    def each(self, attribute: str) -> np.ndarray:
        return np.array(
            [getattr(f, attribute) if isinstance(f, _Price) else np.nan for f in self.found]
        )

    def booked(self) -> list[_Price | None]:
        return [
            f if isinstance(f, _Price) and b else None
            for f, b in zip(self.found, self.by_book, strict=True)
        ]


def _priced(runs: pa.Table, prices: Mapping[str, _Price | str], as_model: str | None) -> _Priced:
    key = [as_model or m for m in runs["model_name"].to_pylist()]
    found = [prices.get(k) if k else None for k in key]
    known = np.array([isinstance(f, _Price) for f in found], dtype=bool)
    has_tokens = ~np.isnan(_floats(runs, "tokens_in")) & ~np.isnan(_floats(runs, "tokens_out"))
    with np.errstate(invalid="ignore"):
        by_tool = ~known & has_tokens & (_floats(runs, "tool_cost") > 0)
    return _Priced(key, found, known & has_tokens, by_tool, has_tokens)


def _costs(runs: pa.Table, p: _Priced, rate: float, per_1k_evals: bool) -> np.ndarray:
    """Tokens × prices per 1M (cached input at its price), or the tool's own cost; per
    1,000 evaluations when asked."""
    tokens_in, tokens_out = _floats(runs, "tokens_in"), _floats(runs, "tokens_out")
    cached = np.nan_to_num(_floats(runs, "tokens_cached"))
    with np.errstate(invalid="ignore"):
        cost = (
            (tokens_in - cached) * p.each("input")
            + cached * p.each("cached")
            + tokens_out * p.each("output")
        ) / 1e6
        cost = np.where(
            p.by_book, cost, np.where(p.by_tool, _floats(runs, "tool_cost") * rate, np.nan)
        )
        if per_1k_evals:
            samples = _floats(runs, "samples")
            cost = np.where(samples > 0, cost / samples * 1000, np.nan)
    return np.round(cost, 12)


def _priced_columns(runs: pa.Table, p: _Priced, cost: np.ndarray) -> dict[str, pa.Array]:
    """The cost, each run's reason where it has no price, and what its tokens assumed."""
    n = runs.num_rows
    old = runs["row_error"].to_pylist() if "row_error" in runs.column_names else [None] * n
    errors = [
        before or (f if isinstance(f, str) and has and not tool else None)
        for before, f, has, tool in zip(old, p.found, p.has_tokens, p.by_tool, strict=True)
    ]
    booked = p.booked()
    tokens_in, cached = _floats(runs, "tokens_in"), np.nan_to_num(_floats(runs, "tokens_cached"))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(tokens_in > 0, cached / tokens_in, np.nan)

    def kept(values: np.ndarray, where: np.ndarray | None = None) -> pa.Array:
        return pa.array(np.where(p.by_book if where is None else where, values, np.nan),
                        from_pandas=True)  # fmt: skip

    return {
        "inference_cost": pa.array(cost, from_pandas=True),
        "row_error": pa.array(errors, pa.string()),
        "inference_mode": pa.array(
            [
                "eval tokens" if b else "the tool's own cost" if t else None
                for b, t in zip(p.by_book, p.by_tool, strict=True)
            ],
            pa.string(),
        ),
        "llm_model": pa.array(
            [k if b else None for k, b in zip(p.key, booked, strict=True)], pa.string()
        ),
        "llm_provider": pa.array([b.provider if b else None for b in booked], pa.string()),
        "llm_prices_as_of": pa.array([b.as_of if b else None for b in booked], pa.date32()),
        "tokens_in_per_month": kept(tokens_in),
        "tokens_out_per_month": kept(_floats(runs, "tokens_out")),
        "price_in_per_1m": kept(p.each("input")),
        "price_out_per_1m": kept(p.each("output")),
        "price_cached_per_1m": kept(p.each("cached"), p.by_book & (cached > 0)),
        "cached_input_share": kept(share),
    }


def priced_by_the_book(
    runs: pa.Table,
    typed: Mapping[str, str | float],
    currency: str = "USD",
    book: LlmPriceBook | None = None,
    *,
    per_1k_evals: bool = False,
) -> tuple[pa.Table, list[str]]:
    """Each run's inference cost from its tokens (``tokens_in``, ``tokens_out``,
    ``tokens_cached``: the evaluation's own) at its model's price (the book's in US$,
    converted to ``currency``, or the typed ``price_in_per_1m``/``price_out_per_1m``, or
    the book's price of a typed ``llm_model``): cached input tokens at the cached price.
    A run whose model has no price is never $0: its ``row_error`` says so, unless the
    tool's own cost (``tool_cost``) is there to use. Runs without tokens are left as they
    are. With ``per_1k_evals`` the cost is per 1,000 evaluations (the run's cost over its
    ``samples``, × 1,000): runs of different sizes then compare on one footing. Returns the
    runs with ``inference_cost`` and :data:`PRICED_COLUMNS`, and what was priced how, in
    words."""
    if "tokens_in" not in runs.column_names or runs.num_rows == 0:
        return runs, []
    book = book or default_llm_prices()
    rate = default_fx().rate(currency)
    as_model = str(typed["llm_model"]) if typed.get("llm_model") else None
    models = {as_model or m for m in runs["model_name"].to_pylist()} - {None}
    prices = {model: _price_of(model, typed, book, rate) for model in models}
    priced = _priced(runs, prices, as_model)
    columns = _priced_columns(runs, priced, _costs(runs, priced, rate, per_1k_evals))
    for name, column in columns.items():
        if name in runs.column_names:
            runs = runs.set_column(runs.column_names.index(name), name, column)
        else:
            runs = runs.append_column(name, column)
    said = _said(prices, priced.key, currency)
    if per_1k_evals:
        said.append("inference cost per 1,000 evaluations (each run's cost over its samples)")
    return runs, said


def _said(prices: Mapping[str, _Price | str], key: list[str], currency: str) -> list[str]:
    """How each model's runs were priced, in words."""
    said = []
    for model, price in sorted(prices.items()):
        runs = sum(1 for k in key if k == model)
        what = f"{model}: {runs:,} run{'s' if runs != 1 else ''}"
        if isinstance(price, str):
            said.append(f"{what} — {price}")
            continue
        where = f" at {price.provider}, {price.as_of}" if price.provider else " at the typed prices"
        said.append(
            f"{what} priced by their tokens{where} (in {price.input:.4g}, cached "
            f"{price.cached:.4g}, out {price.output:.4g} {currency} per 1M)"
        )
    return said


@dataclass(frozen=True)
class Evaluations:
    """An evaluation tool's runs, priced; what was priced how, in words; the folder their
    ids are relative to; how many files were read."""

    runs: pa.Table
    said: list[str]
    root: Path
    files: int


def read_evaluations(
    tool: str,
    paths: Iterable[str | Path],
    metric: Metric,
    typed: Mapping[str, str | float] | None = None,
    currency: str = "USD",
    *,
    per_1k_evals: bool = False,
) -> Evaluations:
    """The runs of ``tool``'s files (``lm-eval`` or ``promptfoo``: :data:`PATTERNS`) at
    ``paths``, their tokens priced by :func:`priced_by_the_book`: the one reading of
    ``mlprod import lm-eval|promptfoo`` and the Batch page."""
    paths = list(paths)
    files = eval_files(paths, PATTERNS[tool])
    given = [Path(p).resolve() for p in paths]
    root = Path(os.path.commonpath(given)) if given else Path.cwd()
    if root.is_file():
        root = root.parent
    runs = lm_eval_runs(files, root, metric) if tool == "lm-eval" else promptfoo_runs(files, root)
    runs, said = priced_by_the_book(runs, typed or {}, currency, per_1k_evals=per_1k_evals)
    return Evaluations(runs, said, root, len(files))
