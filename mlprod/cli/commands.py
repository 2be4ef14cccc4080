"""The commands about one run or two (``calc``, ``compare``), the history file (``backup``,
``restore``) and the dashboard (``ui``): each parses, calls the core, prints."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import TYPE_CHECKING

from mlprod import config
from mlprod.cli.exits import EXIT_OK
from mlprod.errors import DatabaseError, InvalidInput

if TYPE_CHECKING:
    from mlprod.costs.scenario import CostScenario

__all__ = ["backup_or_restore", "calc", "compare", "run", "ui"]


def backup_or_restore(args: argparse.Namespace) -> int:
    from mlprod.store.backup import backup, restore

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
            kept += (
                f" A log file without its database was beside it (it would have been "
                f"read into the restored one); it is kept at {done.stale_log}."
            )
        print(
            f"Restored {done.calculations:,} calculations in {done.batches:,} batches to "
            f"{done.path}.{kept}"
        )
    return EXIT_OK


def ui(args: argparse.Namespace) -> int:
    from mlprod.cli.launch import run_dashboard

    return run_dashboard(port=args.port, address=args.address, db=args.db, browser=args.browser)


def _scenario(args: argparse.Namespace) -> CostScenario:
    """The cost inputs of ``calc``, as the calculator page gathers them: GPU hours priced
    as the team's pricing says (kept in the history ``--db`` names), unless given here."""
    from mlprod.cli.team import team_pricing
    from mlprod.costs.fx import default_fx
    from mlprod.costs.gpus import default_prices
    from mlprod.costs.scenario import CostScenario

    team = team_pricing(args).with_values(
        {"provider": args.provider, "discount": args.discount, "spot": args.spot or None}
    )
    price = args.price_per_gpu_hour
    if price is None and args.gpu and not default_prices().canonical(args.gpu):
        own = {name.lower(): usd for name, usd in team.gpu_prices.items()}.get(args.gpu.lower())
        price = None if own is None else own * default_fx().rate(args.currency)
    return CostScenario(
        training_cost=args.training_cost,
        gpu_model=args.gpu,
        gpu_count=args.gpus,
        gpu_hours=args.gpu_hours,
        spot=team.spot,
        provider=team.provider,
        price_per_gpu_hour=price,
        discount=team.discount,
        extra_costs=args.extra_costs,
        inference_cost=args.inference_cost,
        requests_per_month=args.requests_per_month,
        cost_per_1k_requests=args.cost_per_1k_requests,
        tokens_in_per_month=args.tokens_in,
        tokens_out_per_month=args.tokens_out,
        price_in_per_1m=args.price_in_per_1m,
        price_out_per_1m=args.price_out_per_1m,
        llm_model=args.llm_model,
        cached_input_share=args.cached_input_share,
        price_cached_per_1m=args.price_cached_per_1m,
        batch_share=args.batch_share,
        llm_provider=args.llm_provider,
        serving_gpu=args.serving_gpu,
        serving_gpus=args.serving_gpus,
        replicas=args.replicas,
        hours_per_month=args.hours_per_month,
        requests_per_s_per_replica=args.requests_per_s_per_replica,
        serving_spot=args.serving_spot or (args.spot and not args.gpu),
        serving_provider=args.serving_provider or (None if args.gpu else args.provider),
        serving_price_per_gpu_hour=args.serving_price_per_gpu_hour
        or (None if args.gpu else args.price_per_gpu_hour),
        months=args.months,
        currency=args.currency,
    )


def calc(args: argparse.Namespace) -> int:
    from mlprod.advice import advice_for
    from mlprod.costs.scenario import build_costs
    from mlprod.formatting import format_ratio, formulas, readable
    from mlprod.metrics import RunInputs, resolve_f1
    from mlprod.quality import metric_named

    f1_inputs = {
        "precision": args.precision,
        "recall": args.recall,
        "tp": args.tp,
        "fp": args.fp,
        "fn": args.fn,
    }
    metric = metric_named(args.metric)
    if metric.is_f1:
        f1 = resolve_f1(args.f1 if args.value is None else args.value, **f1_inputs)
    elif args.value is None:
        raise InvalidInput("f1", f"Give the run's {metric.label} with --value (0 to 1).")
    else:
        f1 = metric.score_of(args.value)
    costs = build_costs(_scenario(args), args.training_hours)
    training, inference = costs.training_cost, costs.inference_cost
    run = RunInputs(f1, training, inference, args.training_hours, args.latency_ms)
    ratios = run.ratios
    if args.json:
        out: dict[str, float] = ratios.as_dict()
        if costs.formulas:  # built costs are part of the answer
            out |= {"training_cost": training, "inference_cost": inference}
        print(json.dumps(out))
    else:
        for line in costs.formulas:
            print(line)
        if costs.formulas:
            print()
        words = readable(ratios, args.currency, metric)
        shown = formulas(run, args.currency, metric)
        if not metric.is_f1:
            print(f"Quality: {metric.score_label} = {format_ratio(f1)} ({metric.direction})")
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
            run,
            currency=args.currency,
            f1_inputs=f1_inputs,
            assumptions=costs.assumptions,
            model_name=args.model_name,
            project=args.project,
            tags=args.tags,
            notes=args.notes,
            metric=metric,
        )
        database = args.db or config.database()
        with Store(database) as store:
            save_calculation(
                store,
                record,
                calc_key=uuid.uuid4().hex,
                author=args.author or config.local_user(),
                source="cli",
            )
        print(f"Saved to {database}", file=sys.stderr)
    return EXIT_OK


def compare(args: argparse.Namespace) -> int:
    from mlprod.comparison.break_even import break_even
    from mlprod.comparison.compare import compare, told_apart
    from mlprod.comparison.links import parse_side, parse_weights
    from mlprod.comparison.sides import side_run
    from mlprod.errors import BadLink
    from mlprod.store import Store

    try:
        sides = [parse_side(args.a), parse_side(args.b)]
        weights = parse_weights(args.weights)
    except BadLink as exc:
        raise InvalidInput("side", str(exc)) from None
    with Store(args.db or config.database()) as store:
        run_a, run_b = told_apart(*(side_run(s, store, noise=not args.no_noise) for s in sides))
    comparison = compare(run_a, run_b, weights=weights, tie_band=args.tie / 100)
    even = break_even(run_a, run_b, traffic=args.traffic)
    if args.json:
        out = {
            "a": run_a.name,
            "b": run_b.name,
            "recommended": comparison.recommended,
            "within_noise": comparison.within_noise,
            "verdict": comparison.verdict,
            "ratios": {
                k: {"a": r.a, "b": r.b, "winner": r.winner, "within_noise": r.within_noise}
                for k, r in comparison.ratios.items()
            },
            "total_cost": {"a": run_a.total_cost, "b": run_b.total_cost},
            "break_even": None
            if even is None
            else {
                "traffic_now": even.traffic,
                "traffic_given": even.traffic_given,
                "equal_total_cost_at": even.cost_at,
                "equal_cer_at": even.cer_at,
                "cheaper_now": even.cheaper_now,
            },
        }
        print(json.dumps(out))
        return EXIT_OK
    print(comparison.verdict)
    energy = [comparison.energy] if comparison.energy else []
    for line in (
        comparison.key_numbers + energy + comparison.break_evens + (even.lines if even else [])
    ):
        print(f"  - {line}")
    if even is None:
        print(
            "  - No break-even traffic: neither side's cost follows traffic (typed costs or "
            "GPUs that serve all month)."
        )
    return EXIT_OK


def report(args: argparse.Namespace) -> int:
    """``mlprod report A B -o review.html|review.pdf``."""
    import os
    from pathlib import Path

    from mlprod.comparison.break_even import break_even
    from mlprod.comparison.compare import compare, told_apart
    from mlprod.comparison.links import compare_link, parse_side, parse_weights
    from mlprod.comparison.sides import side_run
    from mlprod.errors import BadLink
    from mlprod.report import Review, write_review
    from mlprod.store import Store

    try:
        sides = [parse_side(args.a), parse_side(args.b)]
        weights = parse_weights(args.weights)
    except BadLink as exc:
        raise InvalidInput("side", str(exc)) from None
    out = Path(args.output)
    if not out.parent.is_dir():
        raise InvalidInput("output", f"No folder {out.parent} to write {out.name} into.")
    with Store(args.db or config.database()) as store:
        run_a, run_b = told_apart(*(side_run(s, store, noise=not args.no_noise) for s in sides))
    comparison = compare(run_a, run_b, weights=weights, tie_band=args.tie / 100)
    url = args.dashboard_url or os.environ.get("MLPROD_DASHBOARD_URL")
    link = compare_link(url, sides[0], sides[1], weights, args.tie / 100) if url else None
    even = break_even(run_a, run_b, traffic=args.traffic)
    written = write_review(Review(comparison, even=even, link=link), out)
    print(f"{comparison.verdict}\nReview written to {written}")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run the command ``args`` name."""
    if args.command in ("gate", "production"):
        from mlprod.cli import gate

        return gate.gate(args) if args.command == "gate" else gate.production(args)
    command = {
        "backup": backup_or_restore,
        "restore": backup_or_restore,
        "calc": calc,
        "compare": compare,
        "report": report,
        "ui": ui,
    }[args.command]
    return command(args)
