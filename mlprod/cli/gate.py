"""``mlprod gate`` (promote or hold a candidate, for CI) and ``mlprod production`` (which
run is in production for a model or project)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod import config
from mlprod.access import Person
from mlprod.cli.exits import EXIT_BAD_INPUT, EXIT_HOLD, EXIT_OK
from mlprod.errors import BadLink, InvalidInput

if TYPE_CHECKING:
    from mlprod.comparison.compare import Run
    from mlprod.store import Store

__all__ = ["gate", "production"]


def _author(args: argparse.Namespace) -> str:
    import getpass

    return args.author or getpass.getuser()


def _side(text: str, store: Store, *, noise: bool) -> tuple[Run, dict[str, Any]]:
    """A side as Compare takes it, and its row's model and project where it has one."""
    from mlprod.comparison.links import GroupSide, parse_side
    from mlprod.comparison.sides import side_run

    try:
        side = parse_side(text)
    except BadLink as exc:
        raise InvalidInput("side", str(exc)) from None
    run = side_run(side, store, noise=noise)
    about: dict[str, Any] = {"side": text}
    if isinstance(side, int):
        row = store.calculations_by_id([side]).iloc[0]
        about |= {"model": row.get("model_name"), "project": row.get("project")}
    elif isinstance(side, GroupSide):
        runs = store.group_runs(side.group)
        about |= {"model": runs["model_name"].mode().iloc[0] if len(runs) else None}
    return run, about


def _scored_run(
    table: Any, row: int, where: str, args: argparse.Namespace
) -> tuple[Run, dict[str, Any]]:
    """Run ``row`` (1 = the first) of a table of runs, scored as ``score`` scores it."""
    import pyarrow.parquet as pq

    from mlprod.cli.team import team_pricing
    from mlprod.comparison.compare import run_from_row
    from mlprod.ingest import inspect, score_file
    from mlprod.ingest.defaults import parse_set

    with tempfile.TemporaryDirectory(prefix="mlprod-gate-") as folder:
        path = Path(folder) / "runs.parquet"
        pq.write_table(table, path)
        scored = score_file(
            inspect(path, name=where), scenario=parse_set(args.set), pricing=team_pricing(args)
        ).table
    if not 1 <= row <= scored.num_rows:
        raise InvalidInput("row", f"{where} has {scored.num_rows} runs; there is no run {row}.")
    found = scored.slice(row - 1, 1).to_pylist()[0]
    if found["status"] != "ok":
        raise InvalidInput("row", f"Run {row} of {where} cannot be scored: {found['error']}")
    run = run_from_row(found)
    return run, {"model": found.get("model_name"), "project": found.get("project")}


def _candidate(args: argparse.Namespace, store: Store) -> tuple[Run, dict[str, Any]]:
    if args.from_file:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        path = Path(args.from_file)
        if not path.exists():
            raise InvalidInput("from", f"There is no file {path}.")
        table = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)
        run, about = _scored_run(table, args.row, path.name, args)
        return run, about | {"side": f"{path.name} run {args.row}"}
    if not args.candidate:
        raise InvalidInput(
            "candidate",
            "Give the candidate: a history id, group:NAME, mlflow:RUN_ID, or --from FILE --row N.",
        )
    if args.candidate.startswith("mlflow:"):
        from mlprod.ingest.mlflow_server import one_run

        uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
        if not uri:
            raise InvalidInput("tracking_uri", "mlflow:RUN_ID needs --tracking-uri.")
        run_id = args.candidate.removeprefix("mlflow:")
        run, about = _scored_run(one_run(uri, run_id), 1, f"MLflow run {run_id}", args)
        return run, about | {"side": args.candidate}
    return _side(args.candidate, store, noise=not args.no_noise)


def _where(about: dict[str, Any]) -> str:
    """``run 42`` for a history id; a group, a file's run or an MLflow run as given."""
    side = str(about.get("side", ""))
    return f"run {side}" if side.isdigit() else side.split("~")[0]


def gate(args: argparse.Namespace) -> int:
    """Compare the candidate with the baseline and say promote (exit 0) or hold (exit 1);
    bad input or no baseline: exit 2."""
    from mlprod.comparison.compare import compare
    from mlprod.comparison.gate import baseline_needed, decide, rules_from
    from mlprod.comparison.links import compare_link, side_param
    from mlprod.store import Store

    section = config.secrets().get("mlprod", {})
    rules = rules_from(
        section.get("gate", {}) if isinstance(section, dict) else {},
        min_quality_gain=args.min_quality_gain,
        max_cost_increase=args.max_cost_increase,
        max_latency_increase=args.max_latency_increase,
        weights=args.weights,
        tie_band=args.tie,
        spread_holds=False if args.spread_does_not_hold else None,
    )
    with Store(args.db or config.database()) as store:
        candidate, about = _candidate(args, store)
        if args.baseline:
            baseline, base_about = _side(args.baseline, store, noise=not args.no_noise)
        else:
            mark = store.production(model=about.get("model"), project=about.get("project"))
            if mark is None:
                print(f"error: {baseline_needed(candidate)}", file=sys.stderr)
                return EXIT_BAD_INPUT
            baseline, base_about = _side(mark.side, store, noise=not args.no_noise)
            base_about["production"] = mark.describe()
    comparison = compare(baseline, candidate, weights=dict(rules.weights), tie_band=rules.tie_band)
    link = None
    url = args.dashboard_url or os.environ.get("MLPROD_DASHBOARD_URL")
    if url:  # the comparison on the dashboard: a file's or MLflow's run travels by value
        b = about["side"]
        if args.from_file or b.startswith("mlflow:"):
            b = side_param(candidate)
        link = compare_link(url, base_about["side"], b, dict(rules.weights), rules.tie_band)
    decision = decide(comparison, rules, link, (_where(base_about), _where(about)))
    report = decision.as_dict() | {"baseline_side": base_about, "candidate_side": about}
    if args.markdown:
        Path(args.markdown).write_text(decision.markdown(), encoding="utf-8")
    if args.json:
        print(json.dumps(report, default=str))
    else:
        print(f"{decision.word.upper()}: {decision.named(1)} over {decision.named(0)}")
        if "production" in base_about:
            print(f"  baseline in production: {base_about['production']}")
        for reason in decision.reasons:
            print(f"  - {reason}")
        print(f"  {comparison.verdict}")
    return EXIT_OK if decision.promote else EXIT_HOLD


def production(args: argparse.Namespace) -> int:
    """``mark``, ``unmark`` or ``show`` the run in production for a model or project."""
    from mlprod.comparison.links import GroupSide, parse_side
    from mlprod.store import Store

    with Store(args.db or config.database()) as store:
        if args.action == "show":
            marks = store.production_marks()
            if args.json:
                print(marks.to_json(orient="records", date_format="iso"))
            elif marks.empty:
                print("Nothing is marked in production.")
            for row in marks.itertuples():
                print(
                    f"{row.scope_kind} {row.scope}: {row.side}, by {row.marked_by} on "
                    f"{row.marked_at:%Y-%m-%d}" + (f" ({row.note})" if row.note else "")
                )
            return EXIT_OK
        if not (args.model or args.project):
            raise InvalidInput("scope", "Name the model (--model) or the project (--project).")
        kind, scope = ("model", args.model) if args.model else ("project", args.project)
        who = Person.local(_author(args))
        if args.action == "unmark":
            store.unmark_production(scope_kind=kind, scope=scope, who=who)
            print(f"Nothing is in production for {kind} {scope} any more.")
            return EXIT_OK
        try:
            side = parse_side(args.side or "")
        except BadLink as exc:
            raise InvalidInput("side", str(exc)) from None
        if isinstance(side, int):
            if store.calculations_by_id([side]).empty:
                raise InvalidInput("side", f"There is no run {side} in the history.")
        elif not isinstance(side, GroupSide):
            raise InvalidInput("side", "A run in production is a history id or group:NAME.")
        mark = store.mark_production(
            str(args.side).strip(), scope_kind=kind, scope=scope, who=who, note=args.note
        )
        print(f"In production: {mark.describe()}")
    return EXIT_OK
