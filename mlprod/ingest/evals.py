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
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlprod.costs.fx import default_fx
from mlprod.costs.llm import LlmPriceBook, default_llm_prices
from mlprod.errors import BadFile, InvalidInput
from mlprod.quality import Metric

__all__ = [
    "PRICED_COLUMNS",
    "TOKEN_PRICING",
    "eval_files",
    "lm_eval_runs",
    "priced_by_the_book",
    "promptfoo_runs",
]

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


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _table(rows: list[dict[str, Any]], numeric: Iterable[str]) -> pa.Table:
    names = list(dict.fromkeys(k for row in rows for k in row))
    numeric = set(numeric)
    columns: dict[str, pa.Array] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if name == "created_at":
            columns[name] = pa.array(values, pa.timestamp("us", tz="UTC"))
        elif name in numeric:
            columns[name] = pa.array(values, pa.float64())
        else:
            columns[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.table(columns)


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


def lm_eval_runs(
    files: list[Path], root: Path | None = None, metric: Metric | None = None
) -> pa.Table:
    """One run per task of each lm-eval results file (see the module's docstring). A file
    that cannot be read is one run with its reason in ``row_error``; a task whose metric
    the harness marks lower-is-better, read on a higher-is-better metric, too."""
    rows: list[dict[str, Any]] = []
    numeric: set[str] = {"latency_ms", "samples"}
    for path in files:
        name = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
        data, problem = _load(path)
        if problem is None and not (
            isinstance(data, dict) and isinstance(data.get("results"), dict)
        ):
            problem = f"{path.name} is not an lm-eval results file (no 'results' by task)."
        if problem is not None:
            rows.append({"run_id": name, "run_name": path.name, "row_error": problem})
            continue
        config = data.get("config") or {}
        samples = {
            task: _number((counts or {}).get("effective", (counts or {}).get("original")))
            for task, counts in (data.get("n-samples") or {}).items()
        }
        seconds = _number(data.get("total_evaluation_time_seconds"))
        total = sum(n for n in samples.values() if n)
        latency = seconds * 1000 / total if seconds and total else None
        when = _number(data.get("date"))
        directions = data.get("higher_is_better") or {}
        for task, values in data["results"].items():
            if not isinstance(values, dict):
                continue
            row: dict[str, Any] = {
                "run_id": f"{name}#{task}",
                "run_name": str(values.get("alias") or task).strip() or task,
                "model_name": _lm_eval_model(config),
                "project": "lm-eval",
                "created_at": datetime.fromtimestamp(when, UTC) if when else None,
                "latency_ms": latency,
                "samples": samples.get(task),
            }
            for key, value in values.items():
                measure, _, kind = key.partition(",")
                if not kind or measure.endswith("_stderr"):
                    continue
                column = measure if kind == "none" else f"{measure}_{kind}"
                row.setdefault(column, _number(value))
                numeric.add(column)
                lower = (directions.get(task) or {}).get(measure) is False
                if (
                    lower
                    and metric is not None
                    and not metric.lower_is_better
                    and measure in metric.names
                ):
                    row["row_error"] = (
                        f"lm-eval marks {measure} lower-is-better in {task}: score it as an "
                        "error rate (--metric error_rate with --map metric=...)."
                    )
            rows.append(row)
    if not rows:
        raise BadFile("The lm-eval results files hold no tasks.")
    return _table(rows, numeric)


# -- promptfoo --------------------------------------------------------------------------------


def _promptfoo_model(provider: str) -> str:
    """``openai:chat:gpt-4o-mini`` is gpt-4o-mini; a label is the model as written."""
    return provider.rsplit(":", 1)[-1].strip() or provider


def _shortened(text: str, limit: int = 120) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def promptfoo_runs(files: list[Path], root: Path | None = None) -> pa.Table:
    """One run per prompt × provider of each promptfoo output file (see the module's
    docstring); a file that cannot be read is one run with its reason in ``row_error``."""
    rows: list[dict[str, Any]] = []
    numeric: set[str] = {
        "pass_rate",
        "score",
        "latency_ms",
        "samples",
        "tokens_in",
        "tokens_out",
        "tokens_cached",
        "tool_cost",
    }
    for path in files:
        name = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
        data, problem = _load(path)
        results = data.get("results") if isinstance(data, dict) else None
        prompts = results.get("prompts") if isinstance(results, dict) else None
        if problem is None and not isinstance(prompts, list):
            problem = (
                f"{path.name} is not a promptfoo output file with per-prompt metrics (written "
                "by `promptfoo eval -o FILE.json`, results version 3)."
            )
        if problem is not None:
            rows.append({"run_id": name, "run_name": path.name, "row_error": problem})
            continue
        assert isinstance(data, dict) and isinstance(results, dict) and isinstance(prompts, list)
        eval_id = str(data.get("evalId") or name)
        when = results.get("timestamp")
        created = None
        if isinstance(when, str):
            try:
                created = datetime.fromisoformat(when.replace("Z", "+00:00"))
            except ValueError:
                created = None
        project = (data.get("config") or {}).get("description")
        for prompt in prompts:
            metrics = prompt.get("metrics") or {}
            provider = str(prompt.get("provider") or "")
            passed = _number(metrics.get("testPassCount")) or 0.0
            tests = passed + (_number(metrics.get("testFailCount")) or 0.0)
            tests += _number(metrics.get("testErrorCount")) or 0.0
            usage = metrics.get("tokenUsage") or {}
            requests = _number(usage.get("numRequests")) or tests
            latency = _number(metrics.get("totalLatencyMs"))
            row: dict[str, Any] = {
                "run_id": f"{eval_id}/{str(prompt.get('id') or '')[:12]}/{provider}",
                "run_name": _shortened(str(prompt.get("label") or prompt.get("raw") or "")),
                "model_name": _promptfoo_model(provider),
                "project": str(project) if project else None,
                "created_at": created,
                "pass_rate": passed / tests if tests else None,
                "score": (_number(metrics.get("score")) or 0.0) / tests if tests else None,
                "latency_ms": latency / requests if latency is not None and requests else None,
                "samples": tests,
                "tokens_in": _number(usage.get("prompt")),
                "tokens_out": _number(usage.get("completion")),
                "tokens_cached": _number(usage.get("cached")),
                "tool_cost": _number(metrics.get("cost")),
            }
            counts = metrics.get("namedScoresCount") or {}
            for named, total in (metrics.get("namedScores") or {}).items():
                count = _number(counts.get(named))
                total_value = _number(total)
                if count and total_value is not None:
                    column = str(named).strip().lower().replace(" ", "_")
                    row.setdefault(column, total_value / count)
                    numeric.add(column)
            if not tests:
                row["row_error"] = f"{provider}: no tests ran for this prompt."
            rows.append(row)
    if not rows:
        raise BadFile("The promptfoo output files hold no prompts.")
    return _table(rows, numeric)


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
    typed_in = _number(typed.get("price_in_per_1m"))
    typed_out = _number(typed.get("price_out_per_1m"))
    typed_cached = _number(typed.get("price_cached_per_1m"))
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
    n = runs.num_rows
    as_model = str(typed["llm_model"]) if typed.get("llm_model") else None
    key = [as_model or m for m in runs["model_name"].to_pylist()]
    prices = {model: _price_of(model, typed, book, rate) for model in set(key) if model}
    found = [prices.get(k) if k else None for k in key]
    known = np.array([isinstance(f, _Price) for f in found], dtype=bool)

    def each(attribute: str) -> np.ndarray:
        return np.array([getattr(f, attribute) if isinstance(f, _Price) else np.nan for f in found])

    tokens_in, tokens_out = _floats(runs, "tokens_in"), _floats(runs, "tokens_out")
    cached = np.nan_to_num(_floats(runs, "tokens_cached"))
    tool_cost = _floats(runs, "tool_cost")
    p_in, p_out, p_cached = each("input"), each("output"), each("cached")
    with np.errstate(invalid="ignore"):
        cost = ((tokens_in - cached) * p_in + cached * p_cached + tokens_out * p_out) / 1e6
        has_tokens = ~np.isnan(tokens_in) & ~np.isnan(tokens_out)
        by_book = known & has_tokens
        by_tool = ~known & has_tokens & (tool_cost > 0)
        cost = np.where(by_book, cost, np.where(by_tool, tool_cost * rate, np.nan))
        if per_1k_evals:
            samples = _floats(runs, "samples")
            cost = np.where(samples > 0, cost / samples * 1000, np.nan)
        cost = np.round(cost, 12)
        share = np.where(tokens_in > 0, cached / np.where(tokens_in > 0, tokens_in, 1), np.nan)
    old = runs["row_error"].to_pylist() if "row_error" in runs.column_names else [None] * n
    errors = [
        before or (f if isinstance(f, str) and has and not tool else None)
        for before, f, has, tool in zip(old, found, has_tokens, by_tool, strict=True)
    ]
    booked = [
        f if isinstance(f, _Price) and b else None for f, b in zip(found, by_book, strict=True)
    ]
    modes = [
        "eval tokens" if b else "the tool's own cost" if t else None
        for b, t in zip(by_book, by_tool, strict=True)
    ]
    columns = {
        "inference_cost": pa.array(cost, from_pandas=True),
        "row_error": pa.array(errors, pa.string()),
        "inference_mode": pa.array(modes, pa.string()),
        "llm_model": pa.array(
            [k if b else None for k, b in zip(key, booked, strict=True)], pa.string()
        ),
        "llm_provider": pa.array([b.provider if b else None for b in booked], pa.string()),
        "llm_prices_as_of": pa.array([b.as_of if b else None for b in booked], pa.date32()),
        "tokens_in_per_month": pa.array(np.where(by_book, tokens_in, np.nan), from_pandas=True),
        "tokens_out_per_month": pa.array(np.where(by_book, tokens_out, np.nan), from_pandas=True),
        "price_in_per_1m": pa.array(np.where(by_book, p_in, np.nan), from_pandas=True),
        "price_out_per_1m": pa.array(np.where(by_book, p_out, np.nan), from_pandas=True),
        "price_cached_per_1m": pa.array(
            np.where(by_book & (cached > 0), p_cached, np.nan), from_pandas=True
        ),
        "cached_input_share": pa.array(np.where(by_book, share, np.nan), from_pandas=True),
    }
    for name, column in columns.items():
        if name in runs.column_names:
            runs = runs.set_column(runs.column_names.index(name), name, column)
        else:
            runs = runs.append_column(name, column)
    said = _said(prices, key, currency)
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
