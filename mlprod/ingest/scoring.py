"""Scoring: record batches in, scored tables out (one row per input row, in order).

A bad row never stops the others: it comes back with ``status == "error"``, its line
number and the reason. Reading, scoring and storing overlap on three threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from queue import Full, Queue
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlprod.costs.fx import default_fx
from mlprod.costs.gpus import default_prices
from mlprod.costs.pricing import ON_DEMAND_WORDS, SPOT_WORDS, Pricing
from mlprod.ingest.cells import (
    Problems,
    parse_hours,
    parse_numbers,
    parse_text,
    parse_timestamps,
    shorten,
)
from mlprod.ingest.defaults import (
    Scenario,
    check_scenario,
    coalesced,
    inference_assumptions,
    is_empty,
    with_scenario,
)
from mlprod.ingest.evals import PRICED_COLUMNS
from mlprod.ingest.fields import (
    ENERGY_FIELDS,
    EVAL_FORMATS,
    NUMERIC_FIELDS,
    REQUIRED,
    RUN_TEXT_FIELDS,
    TEXT_LIMITS,
    HoursFrom,
    too_long,
)
from mlprod.ingest.inspection import Inspection, resolve_mapping
from mlprod.ingest.readers import DEFAULT_BLOCK_BYTES, record_batches
from mlprod.ingest.seeds import Evidence, evidence_in, group_tags, with_group
from mlprod.metrics import (
    f1_arrays_from_counts,
    f1_arrays_from_precision_recall,
    round_significant,
    score_arrays,
)
from mlprod.quality import F1, Metric, metric_named
from mlprod.text import plain

__all__ = ["BatchSummary", "ScoredFile", "score_file", "scored_batches"]


def _score_batch(
    batch: pa.RecordBatch,
    mapping: Mapping[str, str],
    hours_from: HoursFrom | None,
    lines: np.ndarray,
    currency: str = "USD",
    decimal: str = ".",
    scenario: Scenario | None = None,
    spare: Mapping[str, list[str]] | None = None,
    evidence: Evidence | None = None,
    metric: Metric = F1,
    passthrough: tuple[str, ...] = (),
) -> pa.Table:
    """One block of runs scored: one row out per row in, a bad row an error, never a stop.

    The stages: spare columns fill a field's empty cells; the scenario fills what the runs
    lack; numbers are parsed; GPUs price the training cost; F1 is derived where it is not
    given; the ratios are scored; text is checked against its limits; runs that repeat one
    training (``evidence``) are tagged as its group; unfinished runs are skipped. Runs
    scored on another ``metric`` than F1 carry it in a ``metric`` column; a lower-is-better
    one is scored as ``1 − x``, its value as logged kept in ``metric_value``.
    """
    n = batch.num_rows
    batch = _with_spare_columns(batch, mapping, spare or {})
    given_inference = np.ones(n, dtype=bool)  # the rows the scenario gives their cost
    if scenario:
        if "inference_cost" in mapping:
            given_inference = is_empty(batch.column(mapping["inference_cost"]))
        batch, mapping = with_scenario(batch, mapping, scenario, decimal)
    problems, logged_f1, f1_parts = Problems(n), Problems(n), Problems(n)
    if "row_error" in mapping:  # what an importer could not read comes first
        _import_problems(batch.column(mapping["row_error"]), problems)
    values, assumed = _numbers_of(
        batch,
        mapping,
        hours_from,
        decimal,
        currency,
        scenario,
        problems,
        logged_f1,
        f1_parts,
        metric,
    )
    if scenario:
        assumed |= inference_assumptions(scenario, given_inference)
    if metric.is_f1:
        f1_from = _f1_per_row(batch, mapping, values, problems, logged_f1, f1_parts)
    else:
        problems.merge(logged_f1, np.ones(n, dtype=bool))
        f1_from = pa.nulls(n, pa.string())
        logged = values["f1"]
        values["f1"] = _scores_of(logged, metric, problems)
    scored = score_arrays(*(values[name] for name in REQUIRED), quality=metric.input_label)
    problems.add(~scored.ok, scored.error)
    energy = _energy_of(values, scored.cer, problems) if "energy_kwh" in values else {}
    texts = _texts_of(batch, mapping, problems)
    if evidence:  # runs that repeat one training are tagged as its group
        groups = group_tags(batch, evidence, [texts["model_name"], texts["project"]])
        texts["tags"] = with_group(texts["tags"], groups)
    state, unfinished = _states_of(batch, mapping)
    if ((problems.bad | unfinished) & scored.ok).any():  # fine by the calculator, not here
        for ratio in (scored.cer, scored.ter, scored.psr):
            ratio[problems.bad | unfinished] = np.nan
    out: dict[str, pa.Array] = {
        "line": pa.array(lines),
        "status": pa.array(np.where(unfinished, "skipped", np.where(problems.bad, "error", "ok"))),
        "error": pc.if_else(
            pa.array(unfinished),
            pc.binary_join_element_wise("Not finished: ", state, ""),
            problems.column(),
        ),
        "state": state,
        **texts,
        "created_at": pa.array(parse_timestamps(batch.column(mapping["created_at"])))
        if "created_at" in mapping
        else pa.nulls(n, pa.timestamp("us")),
        **{name: pa.array(values[name]) for name in REQUIRED},
        "cer": pa.array(scored.cer),
        "ter": pa.array(scored.ter),
        "psr": pa.array(scored.psr),
        "f1_from": f1_from,
    }
    for name in ("precision", "recall", "tp", "fp", "fn"):
        out[name] = pa.array(values[name]) if name in values else pa.nulls(n, pa.float64())
    out |= energy | _read_along(batch, mapping, passthrough)
    if not metric.is_f1:
        out |= _metric_columns(metric, logged)
    out.update(assumed)  # only when the training cost was priced from GPUs, or a scenario
    return pa.table(out)


def _read_along(
    batch: pa.RecordBatch, mapping: Mapping[str, str], passthrough: tuple[str, ...]
) -> dict[str, pa.Array]:
    """What travels with a run unscored: how an importer priced it (``passthrough``), and
    the step of a metric history its quality was read at."""
    out = {name: batch.column(name) for name in passthrough}
    if "step" in mapping:
        step = parse_numbers(batch.column(mapping["step"]), "step", Problems(batch.num_rows))
        out["step"] = pa.array(step)
    return out


def _import_problems(reasons: pa.Array, problems: Problems) -> None:
    """What an importer could not read for a run (its ``row_error``): the row's error."""
    text = parse_text(reasons, "row_error")
    problems.add(np.asarray(text.is_valid(), dtype=bool), text.to_numpy(zero_copy_only=False))


def _scores_of(logged: np.ndarray, metric: Metric, problems: Problems) -> np.ndarray:
    """Another metric's values as the quality the ratios divide (``1 − x`` for a
    lower-is-better one); a lower-is-better value above 1 is a row error saying why."""
    with np.errstate(invalid="ignore"):
        above = (logged > 1) if metric.lower_is_better else np.zeros(len(logged), dtype=bool)
    if above.any():  # a WER of 1.4 is no typo: more errors than words
        messages = np.full(len(logged), None, dtype=object)
        messages[above] = [metric.above_one(v) for v in logged[above].tolist()]
        problems.add(above, messages)
    return metric.scores(logged)


def _metric_columns(metric: Metric, logged: np.ndarray) -> dict[str, pa.Array]:
    """The metric every row is scored on, and a lower-is-better one's value as logged."""
    out = {"metric": pa.array(np.full(len(logged), metric.key, dtype=object), pa.string())}
    if metric.lower_is_better:
        out["metric_value"] = pa.array(logged)
    return out


def _energy_of(
    values: Mapping[str, np.ndarray], cer: np.ndarray, problems: Problems
) -> dict[str, pa.Array]:
    """The energy a run's training used and its quality per kWh, where it was measured;
    unknown (null) elsewhere, never estimated. A measured energy of 0 or less is a row
    error."""
    energy = values["energy_kwh"]
    co2 = values.get("co2_kg", np.full(len(energy), np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        bad = ~np.isnan(energy) & (energy <= 0)
        bad_co2 = ~np.isnan(co2) & (co2 < 0)
        per_kwh = np.where(np.isnan(cer) | bad, np.nan, values["f1"] / energy)
    if bad.any():
        problems.add(bad, "Energy (kWh) must be above 0 where it was measured.")
    if bad_co2.any():
        problems.add(bad_co2, "CO2e (kg) cannot be negative.")
    return {
        "energy_kwh": pa.array(energy, from_pandas=True),
        "co2_kg": pa.array(co2, from_pandas=True),
        "quality_per_kwh": pa.array(round_significant(per_kwh), from_pandas=True),
    }


def _with_spare_columns(
    batch: pa.RecordBatch, mapping: Mapping[str, str], spare: Mapping[str, list[str]]
) -> pa.RecordBatch:
    """A field's column with its empty cells filled from the other columns found for it
    (``f1`` here, ``val_f1`` there: one field)."""
    for name, others in spare.items():
        index = batch.schema.get_field_index(mapping[name])
        column = batch.column(index)
        for other in others:
            column = coalesced(column, batch.column(other))
        batch = batch.set_column(index, mapping[name], column)
    return batch


def _numbers_of(
    batch: pa.RecordBatch,
    mapping: Mapping[str, str],
    hours_from: HoursFrom | None,
    decimal: str,
    currency: str,
    scenario: Scenario | None,
    problems: Problems,
    logged_f1: Problems,
    f1_parts: Problems,
    metric: Metric = F1,
) -> tuple[dict[str, np.ndarray], dict[str, pa.Array]]:
    """Every numeric field as floats (NaN where a cell is bad, its problem noted; F1's in
    ``logged_f1``, as a row may derive it instead; those of what F1 is derived from in
    ``f1_parts``, which count only where a row derives it), the training cost priced from GPUs
    where a row has none of its own; and the GPU pricing's assumptions for the rows it
    priced."""
    n = batch.num_rows
    # A row without a training cost of its own but with GPUs is priced from the GPU table,
    # whether or not the file has a cost column: its own cell's problems then do not count.
    gpu_priced = "gpu_model" in mapping and "gpu_count" in mapping
    own_cost, by_gpu = Problems(n), Problems(n)
    values: dict[str, np.ndarray] = {}
    for name in NUMERIC_FIELDS:
        if name in mapping:
            found = logged_f1 if name == "f1" else f1_parts if name in _F1_PARTS else problems
            if gpu_priced and name in ("training_cost", "gpu_count"):
                found = own_cost if name == "training_cost" else by_gpu
            if name in ENERGY_FIELDS:  # measured for some runs: an empty cell is unknown
                found = Problems(n)
            label = metric.label if name == "f1" and not metric.is_f1 else None
            values[name] = parse_numbers(batch.column(mapping[name]), name, found, decimal, label)
    if "training_hours" not in values and hours_from is not None:
        values["training_hours"] = parse_hours(batch, hours_from, problems, decimal)
    if not (gpu_priced and "training_hours" in values):
        problems.merge(own_cost, np.ones(n, dtype=bool))
        problems.merge(by_gpu, np.ones(n, dtype=bool))
        return values, {}
    priced = (
        is_empty(batch.column(mapping["training_cost"]))
        if "training_cost" in mapping
        else np.ones(n, dtype=bool)
    )
    cost, assumed = _gpu_training_cost(
        batch,
        mapping,
        values["gpu_count"],
        values["training_hours"],
        by_gpu,
        default_fx().rate(currency),
        scenario,
    )
    problems.merge(by_gpu, priced)
    problems.merge(own_cost, ~priced)
    values["training_cost"] = np.where(priced, cost, values.get("training_cost", np.nan))
    return values, {  # assumptions only for the rows the GPUs priced
        k: pc.if_else(pa.array(priced), v, pa.scalar(None, v.type)) for k, v in assumed.items()
    }


#: What F1 is derived from where a run logs none (precision and recall, or the counts).
_F1_PARTS = ("precision", "recall", "tp", "fp", "fn")


def _f1_per_row(
    batch: pa.RecordBatch,
    mapping: Mapping[str, str],
    values: dict[str, np.ndarray],
    problems: Problems,
    logged_f1: Problems,
    f1_parts: Problems,
) -> pa.Array:
    """F1 row by row: a logged F1 always wins; a row without one derives it from its
    precision and recall, else from its TP, FP and FN counts. Returns what each row's F1
    was derived from (null where it was logged), for the summary and the scored file."""
    n = batch.num_rows
    if "precision" in values and "recall" in values:
        source = "precision and recall"
    elif all(name in values for name in ("tp", "fp", "fn")):
        source = "TP, FP and FN"
    else:
        problems.merge(logged_f1, np.ones(n, dtype=bool))
        return pa.nulls(n, pa.string())
    derive = is_empty(batch.column(mapping["f1"])) if "f1" in values else np.ones(n, dtype=bool)
    problems.merge(logged_f1, ~derive)
    problems.merge(f1_parts, derive)  # an empty precision matters only where F1 is derived
    if not derive.any():
        return pa.nulls(n, pa.string())
    if source == "precision and recall":
        f1, error, _ = f1_arrays_from_precision_recall(values["precision"], values["recall"])
    else:
        f1, error, _ = f1_arrays_from_counts(values["tp"], values["fp"], values["fn"])
    problems.add(derive & (error != None), error)  # noqa: E711  (few rows: object compare)
    values["f1"] = np.where(derive, f1, values.get("f1", f1))
    return pc.if_else(pa.array(derive), pa.scalar(source), pa.scalar(None, pa.string()))


#: Run states that mean a run finished (MLflow's FINISHED, W&B's finished, ...; ``ok`` is
#: mlprod's own scored file, scored again): a run in any other state (FAILED, KILLED,
#: RUNNING, crashed) is skipped, not an error. A file without a state column is taken as
#: finished runs.
FINISHED_STATES = ("finished", "completed", "complete", "succeeded", "success", "done", "ok")


def _states_of(batch: pa.RecordBatch, mapping: Mapping[str, str]) -> tuple[pa.Array, np.ndarray]:
    """Each run's state as written (upper case; null where none) and which did not
    finish."""
    n = batch.num_rows
    if "state" not in mapping:
        return pa.nulls(n, pa.string()), np.zeros(n, dtype=bool)
    state = pc.utf8_upper(
        pc.utf8_trim_whitespace(parse_text(batch.column(mapping["state"]), "state"))
    )
    state = pc.if_else(pc.equal(pc.utf8_length(state), 0), pa.scalar(None, pa.string()), state)
    finished = pc.is_in(pc.utf8_lower(state), pa.array(FINISHED_STATES))
    unfinished = pc.and_(pc.is_valid(state), pc.invert(pc.fill_null(finished, False)))
    return state, np.asarray(unfinished.to_numpy(zero_copy_only=False), dtype=bool)


def _texts_of(
    batch: pa.RecordBatch, mapping: Mapping[str, str], problems: Problems
) -> dict[str, pa.Array]:
    """The run's text fields (null where the file has none); text over its field's limit
    is a row error, never cut silently."""
    n = batch.num_rows
    texts: dict[str, pa.Array] = {}
    for name in RUN_TEXT_FIELDS:  # gpu_model comes with the GPU pricing columns
        texts[name] = (
            parse_text(batch.column(mapping[name]), name)
            if name in mapping
            else pa.nulls(n, pa.string())
        )
        lengths = pc.fill_null(pc.utf8_length(texts[name]), 0).to_numpy(zero_copy_only=False)
        if (long := lengths > TEXT_LIMITS[name]).any():
            messages = np.full(n, None, dtype=object)
            for i in np.flatnonzero(long):  # the long rows only
                messages[i] = too_long(name, int(lengths[i]))
            problems.add(long, messages)
    return texts


def _gpu_training_cost(
    batch: pa.RecordBatch,
    mapping: Mapping[str, str],
    counts: np.ndarray,
    hours: np.ndarray,
    problems: Problems,
    fx_rate: float = 1.0,
    scenario: Scenario | None = None,
) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Training cost = GPUs × hours × the price per GPU-hour as the team's pricing gives
    it (its provider, or each run's own; on demand or spot; less its discount; its own
    price for a GPU it names), × ``fx_rate`` units of the batch's currency per US$; or the
    scenario's one price per GPU-hour for every run; plus its extra costs. A GPU that
    cannot be priced is a row error saying why and how to price it."""
    gpu_models = batch.column(mapping["gpu_model"])
    scenario = Scenario() if scenario is None else scenario  # one without values is falsy
    pricing = scenario.pricing(fx_rate)
    spots = None
    if "spot" in mapping:
        spots = _spots_of(batch.column(mapping["spot"]), pricing.spot, problems)
    found = default_prices().hourly_prices(
        gpu_models,
        pricing,
        providers=batch.column(mapping["provider"]) if "provider" in mapping else None,
        spots=spots,
    )
    given = dict(scenario.values)
    override = given.get("price_per_gpu_hour")
    extra = float(given.get("extra_costs", 0.0))
    n = len(hours)
    if override is not None:  # in the batch's currency already: every run at this price
        nothing = pa.nulls(n, pa.string())
        found |= {
            "price": np.full(n, float(override) / fx_rate),
            "provider": nothing,
            "as_of": pa.nulls(n, pa.date32()),
            "why": nothing,
            "kind": pa.array(np.full(n, "override", dtype=object), pa.string()),
        }
    unknown = np.isnan(found["price"])
    if unknown.any():
        problems.add(unknown, found["why"].to_numpy(zero_copy_only=False))
    logged = parse_text(gpu_models, "gpu_model")
    price = found["price"] * fx_rate
    cost = counts * hours * price + extra
    listed = np.asarray(found["provider"].is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    not_in_table = found["gpu_model"].is_null()
    columns = {
        # What was priced: the table's name ("NVIDIA A100-SXM4-80GB" is A100-80GB).
        "gpu_model": pc.coalesce(found["gpu_model"], logged),
        "gpu_count": pa.array(counts),
        "gpu_hours": pa.array(hours),
        "price_per_gpu_hour": pa.array(price),
        "price_kind": found["kind"],
        "price_discount": pa.array(np.where(listed, pricing.discount, np.nan)),
        "extra_costs": pa.array(np.full(n, extra)),
        "price_provider": found["provider"],
        "price_as_of": found["as_of"],
        "fx_rate": pa.array(np.full(n, fx_rate)),
        # A GPU the table does not list and nobody priced: the page asks for its price.
        "unpriced_gpu": pc.if_else(
            pc.and_(pa.array(unknown), not_in_table), logged, pa.scalar(None, pa.string())
        ),
    }
    return cost, columns


def _spots_of(column: pa.Array, default: bool, problems: Problems) -> np.ndarray:
    """A run's own spot flag (true/yes/spot or false/no/on-demand); empty: ``default``."""
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(column, pa.string())))
    text = pc.fill_null(text, "")
    yes = np.asarray(pc.is_in(text, pa.array(SPOT_WORDS)))
    empty = np.asarray(pc.equal(text, ""))
    no = np.asarray(pc.is_in(text, pa.array(ON_DEMAND_WORDS)))
    bad = ~(yes | no | empty)
    if bad.any():
        problems.add(bad, "Spot is not true or false (spot or on-demand).")
    return np.where(empty, default, yes)


# -- the public entry points ---------------------------------------------------------------


def _ragged_table(rows: list[tuple[int | None, str]], schema: pa.Schema) -> pa.Table:
    """Rows that could not be split into fields, shaped like the scored blocks."""
    n = len(rows)
    table = {field.name: pa.nulls(n, field.type) for field in schema}
    table["line"] = pa.array([line for line, _ in rows], type=pa.int64())
    table["status"] = pa.array(["error"] * n)
    table["error"] = pa.array([reason for _, reason in rows])
    return pa.table(table, schema=schema)


def _priced_by_importer(inspection: Inspection) -> tuple[str, ...]:
    """The columns in which an evaluation importer said how it priced each run's tokens
    (kept with the run); none for any other file."""
    if inspection.format not in EVAL_FORMATS:
        return ()
    return tuple(c for c in PRICED_COLUMNS if c in inspection.columns)


def scored_batches(
    inspection: Inspection,
    mapping: Mapping[str, str],
    *,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    progress: Callable[[int, int], None] | None = None,
    currency: str = "USD",
    stream: bool = False,
    scenario: Mapping[str, str | float] | None = None,
    pricing: Pricing | None = None,
) -> Iterator[pa.Table]:
    """Score a file block by block, in input order; rows that cannot be split come last.

    Costs in the file are taken to be in ``currency``; GPU prices (US$) are converted to it.
    ``scenario`` gives one value per field for every run (``--set``, see
    :mod:`mlprod.ingest.defaults`): where the file has no such column, and in its empty
    cells. Hours the file gives by their start and end are the run's own. ``pricing`` is
    the team's (:mod:`mlprod.costs.pricing`), under the scenario's own pricing values.

    A file that fits in memory is read whole with every core, which scores it fastest.
    ``stream=True`` reads it block by block instead: when each block is stored as it
    comes, parsing the next block while DuckDB writes the last one wins (run.py's
    ``score_store``).

    ``progress(bytes_done, bytes_total)`` is called after each block (approximate).
    """
    hours_from = None if "training_hours" in mapping else inspection.hours_from
    spare = inspection.spare_columns(mapping)
    given = {
        k: v for k, v in (scenario or {}).items() if not (hours_from and k == "training_hours")
    }
    batch_scenario = Scenario(given, currency, pricing or Pricing()) if given or pricing else None
    if batch_scenario is not None:
        check_scenario(batch_scenario)
    extra = {c for columns in spare.values() for c in columns}
    evidence = evidence_in(inspection.columns)
    passthrough = _priced_by_importer(inspection)
    needed = sorted(
        set(mapping.values())
        | (set(hours_from.columns) if hours_from else set())
        | extra
        | set(evidence.columns)
        | set(passthrough),
        key=inspection.columns.index,
    )
    numeric = {mapping[name] for name in NUMERIC_FIELDS if name in mapping} | {
        c for name, columns in spare.items() if name in NUMERIC_FIELDS for c in columns
    }
    if hours_from and hours_from.kind == "seconds":
        numeric.add(hours_from.columns[0])
    ragged: list[tuple[int | None, str]] = []

    def on_ragged(row: Any) -> str:
        ragged.append(
            (
                row.number,
                f"Expected {row.expected_columns} fields, found {row.actual_columns}: "
                f"{shorten(row.text, 60)}",
            )
        )
        return "skip"

    def read() -> Iterator[tuple[pa.RecordBatch | None, list[tuple[int | None, str]]]]:
        # Each block with the rows skipped while reading it (on_ragged runs on this thread);
        # a last (None, rows) hands over the rows skipped after the last block.
        for batch in record_batches(
            inspection.facts, needed, numeric, block_bytes, on_ragged, stream
        ):
            yield batch, ragged[:]
            ragged.clear()
        yield None, ragged[:]

    def scored() -> Iterator[pa.Table]:
        # Reading, scoring and storing run at once on three threads: DuckDB stores one
        # block while the next is scored and the one after is read. Rows that could not be
        # split (``ragged``) are placed by their line number among the good rows.
        cursor = 2  # line 1 is the header
        schema: pa.Schema | None = None
        pending: list[tuple[int | None, str]] = []
        for batch, skipped_rows in _prefetch(read()):  # the next block is read meanwhile
            pending += skipped_rows
            if batch is None:
                break
            skipped = {number for number, _ in pending if number is not None}
            candidates = np.arange(cursor, cursor + batch.num_rows + len(skipped), dtype=np.int64)
            lines = candidates[~np.isin(candidates, list(skipped))][: batch.num_rows]
            cursor = int(lines[-1]) + 1 if len(lines) else cursor
            table = _score_batch(
                batch,
                mapping,
                hours_from,
                lines,
                currency,
                inspection.facts.decimal,
                batch_scenario,
                spare,
                evidence,
                inspection.metric,
                passthrough,
            )
            schema = table.schema
            here = [row for row in pending if row[0] is not None and row[0] < cursor]
            if here:
                pending = [row for row in pending if row not in here]
                table = pa.concat_tables([table, _ragged_table(here, table.schema)])
                table = table.sort_by("line")
            yield table
        if pending:
            yield _ragged_table(
                pending,
                schema
                or _score_batch(
                    pa.record_batch({c: pa.array([], pa.string()) for c in needed}),
                    mapping,
                    hours_from,
                    np.arange(0),
                    currency,
                    ".",
                    batch_scenario,
                    metric=inspection.metric,
                ).schema,
            )

    done = 0
    for table in _prefetch(scored()):
        yield table
        if progress:  # on the caller's thread: Streamlit widgets can't be touched elsewhere
            done = min(inspection.size, done + table.nbytes // 2)
            progress(done, inspection.size)
    if progress:
        progress(inspection.size, inspection.size)


_END = object()


def _prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Produce ``items`` in a background thread, ``depth`` ahead of the consumer.

    Parsing (pyarrow) and storing (DuckDB) both release the GIL, so on two cores the next
    block is parsed while the previous one is written.
    """
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put(item, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            queue.put(exc)

    worker = threading.Thread(target=produce, name="mlprod-parse", daemon=True)
    worker.start()
    try:
        while True:
            item = queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def _tally(counts: dict[Any, int], table: pa.Table, keys: list[str], rows: pa.Array) -> None:
    """Add to ``counts`` how many of ``rows`` hold each value of ``keys`` (a tuple for more
    than one key), where the last key has one: a group-by of the columns counted only."""
    if keys[-1] not in table.column_names:
        return
    picked = table.select([*keys, "line"]).filter(pc.and_(rows, pc.is_valid(table[keys[-1]])))
    if not picked.num_rows:
        return
    for row in picked.group_by(keys).aggregate([("line", "count")]).to_pylist():
        key = row[keys[0]] if len(keys) == 1 else tuple(row[k] for k in keys)
        counts[key] = counts.get(key, 0) + row["line_count"]


class BatchSummary:
    """Counts, the first errors and the best run per ratio, gathered block by block."""

    SHOWN_ERRORS = 50
    #: Lines kept per kind of error, and the kinds kept (the rest are counted as "other").
    LINES_PER_KIND = 5
    KINDS = 100

    def __init__(self) -> None:
        self.rows = 0
        self.errors = 0
        self.first_errors: list[dict[str, Any]] = []
        #: error message -> {"count": runs, "lines": the first lines}, most frequent first
        self.error_kinds: dict[str, dict[str, Any]] = {}
        #: state -> runs skipped in it (FAILED: 8, KILLED: 5, ...)
        self.skipped_states: dict[str, int] = {}
        self.f1_derived: dict[str, int] = {}  # what F1 was derived from -> runs
        #: (provider or None, price kind) -> runs priced so from GPU hours
        self.priced: dict[tuple[str | None, str], int] = {}
        #: GPU name as logged -> runs it left unpriced (the table does not list it)
        self.unpriced_gpus: dict[str, int] = {}
        self.best: dict[str, dict[str, Any]] = {}

    @property
    def skipped(self) -> int:
        return sum(self.skipped_states.values())

    @property
    def ok(self) -> int:
        return self.rows - self.errors - self.skipped

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        bad = pc.equal(table["status"], "error")
        n_bad = int(pc.sum(bad).as_py() or 0)
        self.errors += n_bad
        if n_bad and len(self.first_errors) < self.SHOWN_ERRORS:
            wanted = self.SHOWN_ERRORS - len(self.first_errors)
            errors = table.filter(bad).slice(0, wanted)
            self.first_errors += errors.select(["line", "error", "run_id", "run_name"]).to_pylist()
        if n_bad:
            self._add_kinds(table.select(["error", "line"]).filter(bad))
        ok = pc.equal(table["status"], "ok")
        _tally(self.unpriced_gpus, table, ["unpriced_gpu"], bad)
        _tally(self.skipped_states, table, ["state"], pc.equal(table["status"], "skipped"))
        _tally(self.f1_derived, table, ["f1_from"], ok)
        _tally(self.priced, table, ["price_provider", "price_kind"], ok)
        if n_bad == table.num_rows or not pc.any(ok).as_py():
            return
        for ratio in ("cer", "ter", "psr"):
            best_here = pc.max(table[ratio]).as_py()  # NaN of error rows is skipped
            if best_here is not None and best_here > self.best.get(ratio, {}).get(ratio, -1):
                index = pc.index(table[ratio], best_here).as_py()
                self.best[ratio] = table.slice(index, 1).to_pylist()[0]

    def _add_kinds(self, errors: pa.Table) -> None:
        """Count this block's errors by message (one group per kind, not a loop per row)."""
        kinds = errors.group_by("error").aggregate([("line", "count"), ("line", "list")])
        for message, count, lines in zip(
            kinds["error"].to_pylist(),
            kinds["line_count"].to_pylist(),
            kinds["line_list"].to_pylist(),
            strict=True,
        ):
            key = (
                message
                if message in self.error_kinds or len(self.error_kinds) < self.KINDS
                else ("Other errors")
            )
            kind = self.error_kinds.setdefault(key, {"count": 0, "lines": []})
            kind["count"] += count
            kind["lines"] = sorted(kind["lines"] + lines[: self.LINES_PER_KIND])[
                : self.LINES_PER_KIND
            ]

    def kinds(self) -> list[dict[str, Any]]:
        """The errors grouped by message, most frequent first: message, runs, first lines."""
        ordered = sorted(self.error_kinds.items(), key=lambda kv: (-kv[1]["count"], kv[0]))
        return [{"error": k, "count": v["count"], "lines": v["lines"]} for k, v in ordered]

    def skipped_text(self) -> str:
        """``skipped (FAILED: 8, KILLED: 5, RUNNING: 6)``; empty when none were."""
        if not self.skipped_states:
            return ""
        counts = sorted(self.skipped_states.items(), key=lambda kv: (-kv[1], kv[0]))
        return f"skipped ({', '.join(f'{state}: {n:,}' for state, n in counts)})"

    def derived_text(self) -> str:
        """``F1 derived from precision and recall for 12 runs``; empty when none was."""
        return "; ".join(
            f"F1 derived from {source} for {n:,} run{'s' if n != 1 else ''}"
            for source, n in sorted(self.f1_derived.items())
        )

    def pricing_text(self, pricing: Pricing) -> str:
        """How the GPU hours were priced: the pricing in words, then where each run's
        price came from (``priced at Lambda on-demand: 80 runs, AWS on-demand: 20``);
        empty when no run was priced from GPU hours."""
        if not self.priced:
            return ""
        where = ", ".join(
            f"{provider + ' ' if provider else ''}{kind}: {n:,} run{'s' if n != 1 else ''}"
            for (provider, kind), n in sorted(self.priced.items(), key=lambda kv: -kv[1])
        )
        return f"GPU hours priced at {pricing.describe()} — {where}"

    def as_dict(
        self, name: str, fmt: str, output: Path | None, batch_no: int | None
    ) -> dict[str, Any]:
        return {
            "file": name,
            "format": fmt,
            "rows": self.rows,
            "ok": self.ok,
            "errors": self.errors,
            "skipped_states": dict(self.skipped_states),  # "skipped": runs stored before
            "error_kinds": self.kinds(),
            "unpriced_gpus": dict(self.unpriced_gpus),
            "f1_derived": dict(self.f1_derived),
            "priced_at": [
                {"provider": provider, "kind": kind, "runs": n}
                for (provider, kind), n in self.priced.items()
            ],
            "output": str(output) if output else None,
            "saved_batch": batch_no,
            "best": {
                ratio: {k: row.get(k) for k in ("line", "run_id", "run_name", "model_name", ratio)}
                for ratio, row in self.best.items()
            },
            "first_errors": self.first_errors,
        }

    def describe(self, name: str, fmt: str, output: Path | None, batch_no: int | None) -> str:
        """What a terminal shows of a scored file; each text from the file as one inert
        line (:func:`~mlprod.text.plain`)."""
        skipped = f", {self.skipped_text()}" if self.skipped else ""
        lines = [
            f"{plain(name)} ({fmt}): {self.rows:,} rows, {self.ok:,} scored, "
            f"{self.errors:,} with errors{skipped}."
        ]
        if self.f1_derived:
            lines.append(f"  {self.derived_text()}.")
        for ratio, row in self.best.items():
            who = row.get("run_name") or row.get("run_id") or f"line {row['line']}"
            model = f" ({plain(row['model_name'])})" if row.get("model_name") else ""
            lines.append(f"  best {ratio.upper()}: {row[ratio]:.4g}  {plain(who)}{model}")
        kinds = self.kinds()
        for kind in kinds[:10]:
            at = ", ".join(str(line) for line in kind["lines"])
            more = ", …" if kind["count"] > len(kind["lines"]) else ""
            runs = f"{kind['count']:,} run{'s' if kind['count'] != 1 else ''}"
            lines.append(
                f"  {runs} (line{'s' if kind['count'] != 1 else ''} {at}{more}): "
                f"{plain(kind['error'])}"
            )
        if len(kinds) > 10:
            rest = sum(kind["count"] for kind in kinds[10:])
            lines.append(f"  … and {rest:,} more errors of other kinds (see the scored file).")
        if output:
            lines.append(f"Scored rows written to {output}")
        if batch_no is not None:
            lines.append(f"Saved {self.ok:,} rows to the history as batch {batch_no}.")
        return "\n".join(lines)


@dataclass
class ScoredFile:
    """A whole scored file: one row per input row, and its summary."""

    inspection: Inspection
    mapping: dict[str, str]
    table: pa.Table
    summary: BatchSummary

    def good(self) -> pa.Table:
        return self.table.filter(pc.equal(self.table["status"], "ok"))

    def errors(self) -> pa.Table:
        return self.table.filter(pc.equal(self.table["status"], "error")).select(
            ["line", "error", "run_id", "run_name", "model_name"]
        )


def score_file(
    inspection: Inspection,
    overrides: Mapping[str, str | None] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    currency: str = "USD",
    scenario: Mapping[str, str | float] | None = None,
    pricing: Pricing | None = None,
    metric: Metric | str | None = None,
) -> ScoredFile:
    r"""Score every row of an inspected file into one table (for files that fit in memory).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from mlprod.ingest import inspect
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "runs.csv"
    >>> _ = path.write_text("model,F1 Score,train_cost,inference_cost,hours,latency\n"
    ...                     "bert,0.9,1000,200,10,50\nbert,90,1000,200,10,50\n")
    >>> scored = score_file(inspect(path))
    >>> scored.table.select(["line", "status", "cer"]).to_pylist()[0]
    {'line': 2, 'status': 'ok', 'cer': 0.00075}
    >>> scored.table["error"][1].as_py()
    'F1 score must be between 0 and 1 — did you mean 0.90?'
    """
    if metric is not None:
        inspection = inspection.for_metric(
            metric if isinstance(metric, Metric) else metric_named(metric)
        )
    provided = Scenario(scenario or {}, currency).provides()
    mapping = resolve_mapping(inspection, overrides, provided=provided)
    summary = BatchSummary()
    tables = []
    for table in scored_batches(
        inspection,
        mapping,
        progress=progress,
        block_bytes=block_bytes,
        currency=currency,
        scenario=scenario,
        pricing=pricing,
    ):
        summary.add(table)
        tables.append(table)
    return ScoredFile(inspection, mapping, pa.concat_tables(tables), summary)
