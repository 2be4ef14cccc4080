"""A scored file kept on disk: what the dashboard holds of a batch while a person looks
at it, so a session's memory does not grow with the file.

The scored rows are streamed to a Parquet file (zstd) beside the upload; the session keeps
the summary, the first rows for the table on the page and the first rows with errors.
Downloads and the save read the Parquet file again, block by block.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlprod.costs.pricing import Pricing
from mlprod.errors import BadFile
from mlprod.export import CsvOut, ParquetOut
from mlprod.ingest.defaults import Scenario
from mlprod.ingest.inspection import Inspection, resolve_mapping
from mlprod.ingest.scoring import BatchSummary, scored_batches

__all__ = ["PREVIEW_ROWS", "ScoredOnDisk", "score_to_disk"]

#: Rows of the scored file (and of its rows with errors) the page shows and keeps.
PREVIEW_ROWS = 10_000
_ERROR_COLUMNS = ["line", "error", "run_id", "run_name", "model_name"]


@dataclass
class ScoredOnDisk:
    """A scored file: one row per input row in ``path`` (Parquet), and its summary."""

    inspection: Inspection
    mapping: dict[str, str]
    path: Path
    summary: BatchSummary
    preview: pa.Table  # the first PREVIEW_ROWS rows
    error_preview: pa.Table  # the first PREVIEW_ROWS rows with errors

    def tables(self) -> Iterator[pa.Table]:
        """Every scored row, block by block, in input order."""
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=128 * 1024):
            yield pa.Table.from_batches([batch])

    def good(self, limit: int | None = None) -> pa.Table:
        """The rows scored ``ok`` (the first ``limit`` of them): from the preview in memory
        when it holds them (the Compare page asks on every rerun), else from the file."""
        whole = self.preview.num_rows == self.summary.rows
        if whole or limit is not None:
            ok = self.preview.filter(pc.equal(self.preview["status"], "ok"))
            if whole or ok.num_rows >= limit:
                return ok if limit is None else ok.slice(0, limit)
        found, kept = [], 0
        for table in self.tables():
            ok = table.filter(pc.equal(table["status"], "ok"))
            found.append(ok)
            kept += ok.num_rows
            if limit is not None and kept >= limit:
                break
        good = pa.concat_tables(found) if found else self.preview.slice(0, 0)
        return good if limit is None else good.slice(0, limit)

    def write_csv(self, folder: Path, *, errors_only: bool = False) -> Path:
        """The scored rows (or the error report) as formula-safe CSV in ``folder``."""
        name = "errors.csv" if errors_only else "scored.csv"
        target = folder / name
        out = CsvOut(str(target))
        try:
            for table in self.tables():
                if errors_only:
                    table = table.filter(pc.equal(table["status"], "error")).select(_ERROR_COLUMNS)
                out.write(table)
        finally:
            out.close()
        return target

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def score_to_disk(
    inspection: Inspection,
    overrides: Mapping[str, str | None] | None = None,
    *,
    folder: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    currency: str = "USD",
    scenario: Mapping[str, str | float] | None = None,
    max_rows: int | None = None,
    name: str | None = None,
    pricing: Pricing | None = None,
) -> ScoredOnDisk:
    """Score a file block by block into a Parquet file in ``folder``: the memory it takes
    does not grow with the file (a ``.csv.gz`` that expands to gigabytes included).

    Raises
    ------
    BadFile
        As :func:`~mlprod.ingest.score_file`, and when the file holds more than
        ``max_rows`` rows (a compressed file can expand far beyond its upload size);
        ``name`` is the file's name in that message (an upload's own).
    """
    provided = Scenario(scenario or {}, currency).provides()
    mapping = resolve_mapping(inspection, overrides, provided=provided)
    folder = folder or Path(tempfile.mkdtemp(prefix="mlprod-scored-"))
    path = folder / "scored.parquet"
    summary = BatchSummary()
    preview: list[pa.Table] = []
    errors: list[pa.Table] = []
    kept = kept_errors = 0
    out = ParquetOut(str(path))
    try:
        for table in scored_batches(
            inspection,
            mapping,
            progress=progress,
            currency=currency,
            stream=True,
            scenario=scenario,
            pricing=pricing,
        ):
            summary.add(table)
            if max_rows is not None and summary.rows > max_rows:
                raise BadFile(
                    f"{name or inspection.path.name} holds more than {max_rows:,} rows "
                    "(MLPROD_MAX_BATCH_ROWS; a compressed file can expand far beyond its "
                    "size). Score it with `mlprod score` instead."
                )
            out.write(table)
            if kept < PREVIEW_ROWS:
                preview.append(table.slice(0, PREVIEW_ROWS - kept))
                kept += preview[-1].num_rows
            if kept_errors < PREVIEW_ROWS and summary.errors:
                bad = table.filter(pc.equal(table["status"], "error")).select(_ERROR_COLUMNS)
                errors.append(bad.slice(0, PREVIEW_ROWS - kept_errors))
                kept_errors += errors[-1].num_rows
    except BaseException:
        out.close()
        path.unlink(missing_ok=True)
        raise
    out.close()
    first = _own(pa.concat_tables(preview)) if preview else pa.table({})
    error_preview = (
        _own(pa.concat_tables(errors)) if errors else first.select(_ERROR_COLUMNS).slice(0, 0)
    )
    return ScoredOnDisk(inspection, mapping, path, summary, first, error_preview)


def _own(table: pa.Table) -> pa.Table:
    """The rows copied into buffers of their own: a slice keeps its whole block alive (the
    preview of a big file held several times its own size: run.py's ``session_memory``)."""
    return table.take(pa.array(range(table.num_rows), pa.int64()))
