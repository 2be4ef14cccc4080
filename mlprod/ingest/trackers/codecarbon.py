"""CodeCarbon's ``emissions.csv``: the energy a training used and its carbon, measured.

Each row of the file is one tracked task: ``duration`` (s), ``energy_consumed`` (kWh),
``emissions`` (kg CO2e), ``gpu_model``, ``gpu_count``, ``region``/``country_name``,
``project_name``, ``run_id`` (CodeCarbon's own), ``experiment_id`` and ``timestamp``
(when it stopped). Two uses:

- **as runs of their own** (``mlprod import codecarbon FILE``): the quality and the rest
  come from ``--set`` or ``--map``; the training hours are the tracked duration;
- **joined to a tracker's runs** (``--energy FILE`` on every ``import``): a run takes the
  energy of the CodeCarbon row whose ``run_id`` or ``experiment_id`` is the run's id or
  name; else of the one row of the same project (the run's project or experiment) whose
  tracked interval (``timestamp`` − ``duration`` to ``timestamp``) overlaps the run's
  (start to start + training hours) the most. A run nothing matches keeps no energy: it is
  never estimated.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from mlprod.errors import BadFile
from mlprod.ingest.trackers import number, rows_table

__all__ = ["join_energy", "read_codecarbon", "tracked"]


def tracked(path: Path) -> list[dict[str, Any]]:
    """The rows of an ``emissions.csv`` (strings as written).

    Raises
    ------
    BadFile
        Not a CodeCarbon file (no ``energy_consumed`` column), or one that cannot be read.
    """
    try:
        table = pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(column_types={}, strings_can_be_null=True)
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise BadFile(f"{path.name} cannot be read as CSV ({exc}).") from None
    if "energy_consumed" not in table.column_names:
        raise BadFile(
            f"{path.name} is not CodeCarbon's emissions.csv (no energy_consumed column). "
            f"Columns: {', '.join(table.column_names[:20])}."
        )
    return [
        {k: (None if v is None else str(v)) for k, v in row.items()} for row in table.to_pylist()
    ]


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _interval(row: dict[str, Any]) -> tuple[datetime, datetime] | None:
    end, seconds = _when(row.get("timestamp")), number(row.get("duration"))
    if end is None or seconds is None:
        return None
    return end - timedelta(seconds=seconds), end


def read_codecarbon(paths: list[Path]) -> pa.Table:
    """Each tracked task as a run of its own (see the module's docstring)."""
    rows = []
    files = [f for p in paths for f in (sorted(p.rglob("*.csv")) if p.is_dir() else [p])]
    for path in files:
        for i, row in enumerate(tracked(path)):
            span = _interval(row)
            seconds = number(row.get("duration"))
            rows.append(
                {
                    "run_id": row.get("run_id") or f"{path.name}:{i + 2}",
                    "run_name": row.get("experiment_id"),
                    "project": row.get("project_name"),
                    "start_time": span[0] if span else None,
                    "training_hours": seconds / 3600 if seconds else None,
                    "energy_kwh": number(row.get("energy_consumed")),
                    "co2_kg": number(row.get("emissions")),
                    "gpu_model": row.get("gpu_model"),
                    "gpu_count": number(row.get("gpu_count")) or None,
                    "params.region": row.get("region") or row.get("country_name"),
                }
            )
    return rows_table(rows)


def join_energy(runs: pa.Table, path: Path) -> tuple[pa.Table, str]:
    """``runs`` with the energy CodeCarbon measured for each (``energy_kwh``,
    ``co2_kg``), joined as the module's docstring says; and how many joined how."""
    rows = tracked(path)
    by_id: dict[str, dict[str, Any]] = {}
    for row in rows:
        for key in (row.get("run_id"), row.get("experiment_id")):
            if key:
                by_id.setdefault(key, row)
    n = runs.num_rows
    names = runs.column_names

    def column(*candidates: str) -> list[Any]:
        for name in candidates:
            if name in names:
                return runs[name].to_pylist()
        return [None] * n

    ids, run_names = column("run_id"), column("run_name")
    projects = column("project", "experiment_name", "tags.project")
    starts, hours = column("start_time"), column("training_hours")
    energy: list[float | None] = [None] * n
    co2: list[float | None] = [None] * n
    how = {"run id or name": 0, "project and time": 0}
    for i in range(n):
        found = by_id.get(str(ids[i])) or (by_id.get(str(run_names[i])) if run_names[i] else None)
        if found is not None:
            how["run id or name"] += 1
        else:
            found = _overlapping(rows, projects[i], starts[i], hours[i])
            if found is not None:
                how["project and time"] += 1
        if found is not None:
            energy[i] = number(found.get("energy_consumed"))
            co2[i] = number(found.get("emissions"))
    for name, values in (("energy_kwh", energy), ("co2_kg", co2)):
        array = pa.array(values, pa.float64())
        runs = (
            runs.set_column(names.index(name), name, array)
            if name in runs.column_names
            else runs.append_column(name, array)
        )
    joined = sum(how.values())
    said = (
        f"energy from {path.name} for {joined:,} of {n:,} runs "
        f"({how['run id or name']:,} by run id or name, {how['project and time']:,} by "
        "project and time); the others have none (never estimated)"
    )
    return runs, said


def _overlapping(
    rows: list[dict[str, Any]], project: Any, start: Any, hours: Any
) -> dict[str, Any] | None:
    """The one CodeCarbon row of ``project`` that overlaps the run most (None if none)."""
    if not project or not isinstance(start, datetime) or not hours:
        return None
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = start + timedelta(hours=float(hours))
    best, best_overlap = None, timedelta(0)
    for row in rows:
        if row.get("project_name") != project or (span := _interval(row)) is None:
            continue
        overlap = min(end, span[1]) - max(start, span[0])
        if overlap > best_overlap:
            best, best_overlap = row, overlap
    return best
