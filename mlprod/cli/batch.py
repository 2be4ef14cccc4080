"""``mlprod score FILE`` and ``mlprod import mlflow``: score a source of runs, write the
scored file, save the good rows, say what happened.

Both run the same job: the sources differ only in how they read (a file, or a tracking
server's runs as a Parquet file), and in what "saved before" means (the same bytes, or the
same server and run id).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlprod import config
from mlprod.cli.exits import EXIT_DATABASE, EXIT_OK, EXIT_ROW_ERRORS
from mlprod.cli.team import team_pricing
from mlprod.costs.fx import default_fx
from mlprod.errors import AlreadySaved, BadFile, CannotWrite, DatabaseError
from mlprod.export import CsvOut, ParquetOut, scored_out
from mlprod.ingest import BatchSummary, Inspection, inspect, resolve_mapping, scored_batches
from mlprod.ingest.defaults import Scenario, parse_set
from mlprod.ingest.fields import provenance
from mlprod.ingest.readers import DEFAULT_BLOCK_BYTES, LONG_ROW_BLOCK_BYTES, RowTooLong, gzipped
from mlprod.quality import metric_named

if TYPE_CHECKING:  # the store (DuckDB) is imported only when a command saves
    from mlprod.store import Store

__all__ = ["import_evals", "import_mlflow", "import_tracker", "score"]

Saver = Callable[["Store", Iterator[pa.Table]], int]


def parse_map(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column:
            raise BadFile(f"--map takes FIELD=COLUMN (e.g. f1=metrics.val_f1), got '{pair}'.")
        overrides[field.strip()] = column
    return overrides


def score(args: argparse.Namespace) -> int:
    """``mlprod score RUNS``."""
    path = Path(args.runs)
    if not path.is_file():
        raise BadFile(
            f"{path} is a folder: give the CSV or Parquet file of runs inside it."
            if path.is_dir()
            else f"No such file: {path}"
        )

    def save(store: Store, rows: Iterator[pa.Table]) -> int:
        from mlprod.saving import save_batch

        return save_batch(
            store,
            rows,
            source="cli",
            file=path,
            author=args.author or config.local_user(),
            currency=args.currency,
            again=args.again,
        )

    return _run(args, inspect(path), path.name, _default_output(path), save)


def import_mlflow(args: argparse.Namespace) -> int:
    """``mlprod import mlflow``: runs straight from a tracking server."""
    from mlprod.ingest.mlflow_server import SOURCE, MlflowSource

    uri = (args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")).rstrip("/")
    source = MlflowSource(uri, args.experiment, args.filter or "")
    scored: list[pa.Table] = []

    def at_steps(runs: pa.Table, folder: Path, extra: dict[str, Any]) -> pa.Table:
        # each run's quality at its best (or last) step, from its metric history
        inspection = inspect(source.to_parquet(runs, folder), name=f"MLflow {uri}")
        quality = _quality_columns(
            inspection.for_metric(metric_named(args.metric)), parse_map(args.map)
        )
        if not quality:
            return runs
        runs, steps = source.at_steps(
            runs, quality, metric_named(args.metric), best=args.step == "best"
        )
        extra["steps"] = steps
        extra["said"] = [steps["said"]]
        return runs

    code = _import_runs(
        args,
        source.runs(),
        source=SOURCE,
        origin=uri,
        name=f"{uri} ({', '.join(args.experiment)})",
        fmt="mlflow-server",
        default_output=Path("mlflow-runs.scored.csv"),
        prepare=at_steps,
        keep=scored if args.write_back else None,
    )
    if args.write_back and code != EXIT_DATABASE and scored:
        done = source.write_back(scored)
        print(
            f"Logged mlprod.cer, mlprod.ter and mlprod.psr on {done:,} MLflow runs.",
            file=sys.stderr,
        )
    return code


#: The quality each evaluation tool's import scores on by default.
EVAL_TOOLS = {"lm-eval": "accuracy", "promptfoo": "pass_rate"}


def import_evals(args: argparse.Namespace) -> int:
    """``mlprod import lm-eval PATH`` and ``mlprod import promptfoo PATH``: evaluation
    runs from the tools' own files, their tokens priced by the LLM price book."""
    from mlprod.ingest.evals import TOKEN_PRICING, read_evaluations

    tool = args.tracker
    args.metric = args.metric or EVAL_TOOLS[tool]
    typed = {k: v for k, v in parse_set(args.set).items() if k in TOKEN_PRICING}
    args.set = [pair for pair in args.set if pair.partition("=")[0].strip() not in TOKEN_PRICING]
    read = read_evaluations(
        tool,
        args.paths,
        metric_named(args.metric),
        typed,
        args.currency,
        per_1k_evals=args.per_1k_evals,
    )
    return _import_runs(
        args,
        read.runs,
        source=tool,
        origin=str(read.root),
        name=f"{tool} {read.root} ({read.files:,} file{'s' if read.files != 1 else ''})",
        fmt=tool,
        default_output=Path(f"{tool}-runs.scored.csv"),
        said=[f"inference cost of {line}" for line in read.said],
    )


def import_tracker(args: argparse.Namespace) -> int:
    """``mlprod import wandb|tensorboard|trainer|lightning|dvc|mlruns|codecarbon PATH``:
    runs from the files a tracker left on disk, scored as a file."""
    from mlprod.trackers import TRACKERS

    tool = TRACKERS[args.tracker]
    paths = [Path(p) for p in args.paths]
    for path in paths:
        if not path.exists():
            raise BadFile(f"No such file or folder: {path}")
    runs = tool.read(paths, metric_named(args.metric), best=args.step == "best")
    if runs.num_rows == 0:
        raise BadFile(f"No {tool.what} under {', '.join(map(str, paths))}.")
    said = [f"read {runs.num_rows:,} runs: {tool.fed}"]
    if args.energy:
        from mlprod.ingest.trackers.codecarbon import join_energy

        runs, joined = join_energy(runs, Path(args.energy))
        said.append(joined)
    given = [p.resolve() for p in paths]
    root = Path(os.path.commonpath(given)) if len(given) > 1 else given[0]
    return _import_runs(
        args,
        runs,
        source=args.tracker,
        origin=str(root),
        name=f"{args.tracker} {root}",
        fmt=tool.format,
        default_output=Path(f"{args.tracker}-runs.scored.csv"),
        said=said,
    )


def _import_runs(
    args: argparse.Namespace,
    runs: pa.Table,
    *,
    source: str,
    origin: str,
    name: str,
    fmt: str,
    default_output: Path,
    prepare: Callable[[pa.Table, Path, dict[str, Any]], pa.Table] | None = None,
    said: list[str] | None = None,
    keep: list[pa.Table] | None = None,
) -> int:
    """Score runs a tracker or a tool gave (one row per run, a file's columns) like a
    file; with ``--save``, runs already in the history from ``source`` and ``origin``
    (same run id) are left out, so the import can run from cron."""
    read = runs.num_rows
    skipped = 0
    if args.save and read:
        from mlprod.saving import unsaved_runs
        from mlprod.store import Store

        with Store(args.db or config.database(), wait=args.wait) as store:
            runs, skipped = unsaved_runs(store, runs, source=source, origin=origin)
    extra: dict[str, Any] = {
        "source": origin,
        "read": read,
        "skipped": skipped,
        "written_back": 0,
        "said": said or [],
    }
    if runs.num_rows == 0:
        _say(
            args,
            {"rows": 0, "ok": 0, "scored": 0, "errors": 0, "saved": 0, **extra},
            f"{origin}: {read:,} runs, all already in the history ({skipped:,} skipped); "
            "nothing new to score.",
        )
        return EXIT_OK

    def save(store: Store, rows: Iterator[pa.Table]) -> int:
        from mlprod.saving import save_batch

        return save_batch(
            store,
            rows,
            source=source,
            file_name=origin,
            author=args.author or config.local_user(),
            currency=args.currency,
            again=True,
            imported_from=origin,
        )

    with tempfile.TemporaryDirectory(prefix=f"mlprod-{source}-") as folder:
        if prepare is not None:
            runs = prepare(runs, Path(folder), extra)
        path = Path(folder) / f"{source}-runs.parquet"
        pq.write_table(runs, path)
        inspection = inspect(path, name=name)
        inspection.format = fmt
        output = Path(args.output) if args.output and args.output != "-" else None
        return _run(args, inspection, name, output or default_output, save, extra, keep=keep)


def _quality_columns(inspection: Inspection, overrides: dict[str, str]) -> list[str]:
    """The tracker's metric columns the quality is read from, best first."""
    mapping = {**inspection.mapping}
    column = overrides.get("metric") or overrides.get("f1")
    if column is not None:
        return [column] if column.startswith("metrics.") else []
    if "f1" not in mapping:
        return []
    found = [mapping["f1"], *inspection.fallbacks.get("f1", [])]
    return [c for c in found if c.startswith("metrics.")]


def _say(args: argparse.Namespace, report: dict[str, Any], text: str) -> None:
    print(json.dumps(report, default=str) if args.json else text)


def _run(
    args: argparse.Namespace,
    inspection: Inspection,
    name: str,
    default_output: Path,
    save: Saver,
    extra: dict[str, Any] | None = None,
    keep: list[pa.Table] | None = None,
) -> int:
    """Score, write, save and report one source of runs; returns the exit code."""
    given = parse_set(args.set)
    scenario = Scenario(given, args.currency, team_pricing(args))
    inspection = inspection.for_metric(metric_named(args.metric))
    overrides: dict[str, str | None] = {**parse_map(args.map)}
    if args.all_states:  # a run's state then decides nothing
        overrides["state"] = None
    mapping = resolve_mapping(inspection, overrides, provided=scenario.provides())
    output = None if args.output == "-" else Path(args.output or default_output)
    if output is not None:  # a mistyped --db as -o would have replaced the history
        config.refuse_to_overwrite_a_history(output, args.db or config.database())
    progress = _Progress(compressed=gzipped(inspection.path))
    try:
        outcome = _attempt(args, inspection, mapping, scenario, output, save, progress, keep)
    except RowTooLong:
        if output is None:  # what went to stdout cannot be taken back
            raise
        # A row longer than a streamed block (a 10 MB cell): once more with big blocks, so
        # that whatever `score` reads, `--save` stores (nothing was kept of the first go).
        outcome = _attempt(
            args,
            inspection,
            mapping,
            scenario,
            output,
            save,
            progress,
            keep,
            block_bytes=LONG_ROW_BLOCK_BYTES,
        )
    if progress:
        progress.done()
    source = provenance(
        mapping,
        inspection.hours_from,
        scenario.provides(),
        inspection.spare_columns(mapping),
        metric=inspection.metric,
    )
    lines = scenario.describe()
    pricing = scenario.pricing(default_fx().rate(args.currency))
    if priced := outcome.summary.pricing_text(pricing):
        lines.append(priced)
    metric = inspection.metric
    said = [] if metric.is_f1 else [f"Quality: {metric.score_label} ({metric.direction})"]
    said += [f"Source: {line}" for line in (extra or {}).get("said", [])]
    extra = {**(extra or {}), "pricing": pricing.as_record(), "metric": metric.key, "said": said}
    return _report(args, outcome, inspection, name, output, source, lines, given, extra)


def _report(
    args: argparse.Namespace,
    outcome: _Outcome,
    inspection: Inspection,
    name: str,
    output: Path | None,
    source: str,
    scenario_lines: list[str],
    given: dict[str, str | float],
    extra: dict[str, Any],
) -> int:
    """Say what happened (text, or JSON with ``--json``); returns the exit code."""
    summary, batch_no, already = outcome.summary, outcome.batch_no, outcome.already
    report = summary.as_dict(name, inspection.format_label, output, batch_no)
    report["already_saved"] = already.previous if already else None
    report["scored"] = summary.ok
    report["saved"] = summary.ok if batch_no is not None else 0
    report |= {"columns": source, "scenario": given, **extra}
    stream = sys.stderr if args.output == "-" else sys.stdout
    if args.json:
        print(json.dumps(report, default=str), file=stream)
    else:
        print(summary.describe(name, inspection.format_label, output, batch_no), file=stream)
        if extra.get("skipped"):
            print(f"Skipped {extra['skipped']:,} runs already in the history.", file=stream)
        for line in extra.get("said", []):
            print(line, file=stream)
        print(f"Columns: {source}.", file=stream)
        for line in scenario_lines:
            print(f"Scenario: {line}", file=stream)
    if already is not None:
        print(
            f"Not saved again: {already} Add --again to store it once more.",
            file=sys.stderr if args.json else stream,
        )
    if outcome.store_problem is not None:
        print(f"error: not saved: {outcome.store_problem}", file=sys.stderr)
        return EXIT_DATABASE
    return EXIT_ROW_ERRORS if summary.errors else EXIT_OK


@dataclass
class _Outcome:
    """What one pass over a source did: the summary of its rows, the batch it was saved
    as, or why it was not saved (saved before; a history that cannot be written)."""

    summary: BatchSummary = field(default_factory=BatchSummary)
    batch_no: int | None = None
    already: AlreadySaved | None = None
    store_problem: DatabaseError | None = None


def _attempt(
    args: argparse.Namespace,
    inspection: Inspection,
    mapping: dict[str, str],
    scenario: Scenario,
    output: Path | None,
    save: Saver,
    progress: _Progress | None,
    keep: list[pa.Table] | None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> _Outcome:
    """Score the source once: write the output, save if asked; what happened."""
    outcome = _Outcome()
    if keep is not None:
        keep.clear()
    with _scored_file(output) as out:

        def scored_rows() -> Iterator[pa.Table]:
            for table in scored_batches(
                inspection,
                mapping,
                progress=progress,
                currency=args.currency,
                stream=args.save,
                scenario=dict(scenario.values),
                pricing=scenario.team_pricing,
                block_bytes=block_bytes,
            ):
                with _writing(output):
                    out.write(table)
                outcome.summary.add(table)
                if progress is not None:
                    progress.rows = outcome.summary.rows
                if keep is not None:
                    keep.append(table)
                yield table  # the save path keeps only the rows whose status is "ok"

        if args.save:
            _save(args, save, scored_rows(), outcome)
        if not args.save or outcome.store_problem is not None:
            for _ in scored_rows():
                pass
    return outcome


def _save(args: argparse.Namespace, save: Saver, rows: Iterator[pa.Table], into: _Outcome) -> None:
    """Store the rows in the history. A history that cannot be opened or written, or rows
    saved before, are noted in ``into`` (the caller then scores without saving)."""
    from mlprod.store import Store

    try:
        store = Store(args.db or config.database(), wait=args.wait)
    except DatabaseError as exc:
        into.store_problem = exc
        return
    with store:
        try:
            store.require_writable()
        except DatabaseError as exc:
            into.store_problem = exc
            return
        try:
            into.batch_no = save(store, rows)
        except AlreadySaved as exc:
            into.already = exc


@contextmanager
def _scored_file(output: Path | None) -> Iterator[CsvOut | ParquetOut]:
    """The scored file (stdout when ``output`` is None), kept only if the pass ends well.

    It is written under a temporary name beside it and renamed at the end: a run that
    stops half-way (a file unusable past its first block, a crash) leaves no partial
    output. Not so for what is not a plain file (``-o /dev/null``, a named pipe): renaming
    over it would replace the device with a file; it is written in place.
    """
    special = output is not None and output.exists() and not output.is_file()
    partial = (
        None
        if output is None or special
        else output.with_name(f".{output.name}.{os.getpid()}.part")
    )
    with _writing(output):
        out = (
            scored_out(sys.stdout.buffer)
            if output is None
            else scored_out(str(partial or output), name=output.name)
        )
    try:
        yield out
    except BaseException:
        with suppress(OSError):  # the output may be what failed: its error is the one raised
            out.close()
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    else:
        with _writing(output):
            out.close()
            if partial is not None and output is not None:
                os.replace(partial, output)
    finally:
        if output is None:  # all of the CSV before the summary on stderr
            sys.stdout.flush()


@contextmanager
def _writing(output: Path | None) -> Iterator[None]:
    """A write of the scored file that the system refuses is said as such, naming the file
    (not the temporary name it is written under), never as a crash."""
    try:
        yield
    except BrokenPipeError:  # `mlprod score ... -o - | head`: the reader has what it wanted
        raise
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        where = "standard output" if output is None else str(output)
        raise CannotWrite(f"Cannot write the scored rows to {where}: {reason}.") from exc


def _default_output(path: Path) -> Path:
    name = path.name
    for suffix in (".csv.gz", ".csv", ".parquet", ".tsv", ".txt"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".scored.csv")


class _Progress:
    """Progress on stderr for any run that takes a while (after :attr:`QUIET_SECONDS`),
    whatever the file's size: a small ``.csv.gz`` can expand to gigabytes, so a
    compressed file reports the rows scored and the time, a plain one its share done."""

    QUIET_SECONDS = 2.0

    def __init__(self, compressed: bool) -> None:
        self.started = time.monotonic()
        self.compressed = compressed
        self.rows = 0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self.started
        if elapsed < self.QUIET_SECONDS:
            return
        self.shown = True
        share = "" if self.compressed else f"{done / max(total, 1):4.0%}, "
        print(
            f"\rscoring… {share}{self.rows:,} rows, {elapsed:.0f} s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def done(self) -> None:
        if self.shown:
            print(
                f"\rscored {self.rows:,} rows in {time.monotonic() - self.started:.1f} s",
                file=sys.stderr,
            )
