"""The one save path: every entry point stores calculations through here.

The calculator page and ``mlprod calc --save`` store one run (:func:`save_calculation`,
its record built by :func:`calculation_record`); the batch page, ``mlprod score --save``
and the sample loader store a scored file (:func:`save_batch`: a file streamed block by
block, or a table already scored and shown). One tag normaliser, one content hash, one
duplicate policy: a file whose exact bytes were saved before is stored again only when
asked (``again=True``); the check runs inside the saving transaction, just before it
commits, so a file someone else saved while this one was reviewed is not stored twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlprod.access import Person
from mlprod.errors import InvalidInput, Unnamed
from mlprod.ingest.fields import TEXT_LIMITS, too_long
from mlprod.metrics import RunInputs
from mlprod.quality import F1, Metric
from mlprod.store import KEEP, Store

__all__ = [
    "calculation_record",
    "file_hash",
    "normalize_tags",
    "previous_save",
    "save_batch",
    "save_calculation",
    "unsaved_runs",
]

# Tags are stored as "a, b, c": items trimmed, empty ones dropped (RE2 patterns, the same
# in pyarrow as in the store's migration of older rows).
_TAG_SEPARATOR = (r"\s*,[\s,]*", ", ")
_TAG_ENDS = (r"^\s*(, )?|(, )?\s*$", "")


def normalize_tag_column(tags: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Every cell of a tags column as stored: ``" a ,b,, c "`` is ``"a, b, c"``; a cell
    with no tag is null.

    >>> normalize_tag_column(pa.array([" a ,b,, c ", "x", " , ", None])).to_pylist()
    ['a, b, c', 'x', None, None]
    """
    if tags.null_count == len(tags):
        return tags
    text = pc.replace_substring_regex(tags, _TAG_SEPARATOR[0], _TAG_SEPARATOR[1])
    text = pc.replace_substring_regex(text, _TAG_ENDS[0], _TAG_ENDS[1])
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def normalize_tags(tags: str | None) -> str | None:
    """One run's tags as stored (see :func:`normalize_tag_column`).

    >>> normalize_tags("prod,  baseline ,"), normalize_tags("  "), normalize_tags(None)
    ('prod, baseline', None, None)
    """
    if tags is None:
        return None
    return normalize_tag_column(pa.array([tags], pa.string()))[0].as_py()


def _text(value: str | None) -> str | None:
    """A typed text field as stored: trimmed, and empty is not given."""
    if value is None:
        return None
    return value.strip() or None


def calculation_record(
    run: RunInputs,
    *,
    currency: str = "USD",
    f1_inputs: Mapping[str, float | None] | None = None,
    assumptions: Mapping[str, Any] | None = None,
    model_name: str | None = None,
    run_id: str | None = None,
    run_name: str | None = None,
    project: str | None = None,
    tags: str | None = None,
    notes: str | None = None,
    metric: Metric = F1,
) -> dict[str, Any]:
    """The record of one calculation as the store keeps it (the one record builder).

    ``f1_inputs`` holds the precision/recall or TP/FP/FN the F1 came from, if any;
    ``assumptions`` what a built cost assumed (:class:`~mlprod.costs.scenario.BuiltCosts`).
    Text fields are trimmed (empty is not given) and tags normalised. ``metric`` is the
    quality ``run.f1`` holds (its score: ``1 − WER`` for WER).
    """
    parts = {k: v for k, v in (f1_inputs or {}).items() if k != "f1"}
    texts = {
        "model_name": model_name,
        "run_id": run_id,
        "run_name": run_name,
        "project": project,
        "tags": tags,
        "notes": notes,
    }
    for field, text in texts.items():
        if text is not None and len(text) > TEXT_LIMITS[field]:
            raise InvalidInput(field, too_long(field, len(text)))
    return {
        **run.inputs(),
        **parts,
        "currency": currency,
        **run.ratios.as_dict(),
        "model_name": _text(model_name),
        "run_id": _text(run_id),
        "run_name": _text(run_name),
        "project": _text(project),
        "tags": normalize_tags(tags),
        "notes": _text(notes),
        "metric": metric.key,
        **(assumptions or {}),
    }


def save_calculation(
    store: Store,
    record: Mapping[str, Any],
    *,
    calc_key: str,
    author: str | None = None,
    source: str = "calculator",
    who: Person | None = None,
) -> bool:
    """Store one calculation (a batch of one) unless this ``calc_key`` was stored already.

    ``calc_key`` names one press of *Calculate* (or one CLI call): saving it again (a
    double click, a rerun) stores nothing. Returns True when a row was written. ``who``
    is the person acting (default: the local operator); a viewer is refused
    (:class:`~mlprod.errors.NotAllowed`) and nothing is stored.
    """
    author = _acting(who, author)
    saved = store.save_calculation(record, calc_key=calc_key, author=author, source=source)
    if saved and (batch := store.find_batch(calc_key)) is not None:
        _alert(store, int(batch["batch_no"]))
    return saved


def _alert(store: Store, batch_no: int) -> None:
    """The team's alerts on a batch just committed (:mod:`mlprod.alerts`: bounded in
    time, never failing the save); nothing when none are configured."""
    import sys

    from mlprod.alerts import configured, notify

    try:
        rules = configured()
    except (InvalidInput, ValueError, TypeError) as exc:  # a mistyped [mlprod.alerts]
        print(f"mlprod: alerts are off: [mlprod.alerts] {exc}", file=sys.stderr)
        return
    if rules is not None:
        notify(store, batch_no, rules)


def _acting(who: Person | None, author: str | None) -> str | None:
    """The author of a save by ``who``: refused unless they may save, and unless they
    are named (a dashboard without sign-in whose "Your name" box is empty)."""
    if who is None:
        return author
    who.require_save()
    if not (who.name or author or "").strip():
        raise Unnamed(
            "Saving needs your name, so the team knows who ran what: type it in “Your name” "
            "in the sidebar (the command line takes --author, else $USER). Nothing was saved."
        )
    return who.name or author


@lru_cache(maxsize=64)
def _hash_of(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes: the same file saved twice has the same hash (remembered
    while the file is unchanged, so a page rerun does not read it again)."""
    stat = Path(path).stat()
    return _hash_of(str(path), stat.st_size, stat.st_mtime_ns)


def _hash_meanwhile(path: Path) -> Callable[[], str]:
    """Start :func:`file_hash` on a thread of its own; returns the function that waits for
    it. hashlib releases the GIL, so a big file is hashed while it is scored and stored
    instead of before (run.py's ``hash_only``)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlprod-hash")
    job = pool.submit(file_hash, path)
    pool.shutdown(wait=False)
    return job.result


def previous_save(store: Store, file: str | Path, metric: str = "f1") -> dict[str, Any] | None:
    """The newest batch saved from a file with these exact bytes scored on ``metric`` (a
    quality key, :mod:`mlprod.quality`), if any (``batch_no``, ``saved_at``, ``author``,
    ``file_name``, ``rows``)."""
    return store.find_batch(file_hash(file), metric)


def unsaved_runs(store: Store, runs: pa.Table, *, source: str, origin: str) -> tuple[pa.Table, int]:
    """The duplicate policy for a tracker's runs: those not in the history yet from this
    source and origin (same server, same run id; deleted ones count as stored), and how
    many were left out."""
    known = store.saved_run_ids(source, origin, runs["run_id"].to_pylist())
    if not known:
        return runs, 0
    keep = pc.invert(pc.is_in(runs["run_id"], pa.array(sorted(known), pa.string())))
    return runs.filter(keep), len(known)


def _for_store(table: pa.Table) -> pa.Table:
    """A scored table as the store takes it: only ``ok`` rows kept, tags normalised."""
    if "tags" in table.column_names and table["tags"].null_count < table.num_rows:
        table = table.set_column(
            table.column_names.index("tags"), "tags", normalize_tag_column(table["tags"])
        )
    if "status" in table.column_names:
        table = table.append_column(KEEP, pc.equal(table["status"], "ok"))
    return table


def save_batch(
    store: Store,
    scored: pa.Table | Iterable[pa.Table],
    *,
    source: str,
    file: str | Path | None = None,
    file_name: str | None = None,
    author: str | None = None,
    currency: str = "USD",
    again: bool = False,
    imported_from: str | None = None,
    who: Person | None = None,
) -> int:
    """Store the good rows of a scored file as one batch, in one transaction.

    Parameters
    ----------
    scored : pyarrow.Table or iterable of them
        What :func:`~mlprod.ingest.scored_batches` yields (streamed: each block is stored
        as it comes) or a whole :class:`~mlprod.ingest.ScoredFile` table. Rows whose
        ``status`` is not ``"ok"`` are not stored.
    source : str
        Where the batch came from: ``"batch"`` (the page), ``"cli"``, ``"sample"``.
    file : path, optional
        The file the rows were scored from: its content hash is kept with the batch (and
        computed while the rows are stored).
    file_name : str, optional
        The name to keep (an upload's original name); default: the file's name.
    again : bool
        Store a file whose exact bytes were saved before anyway.
    imported_from : str, optional
        The tracking server the runs came from: each run id is recorded as imported from
        there, once (a database constraint: two imports at the same moment cannot both
        store a run).
    who : Person, optional
        The person acting (default: the local operator); their name is the author.

    Returns
    -------
    int
        The batch number.

    Raises
    ------
    AlreadySaved
        The file was saved before and ``again`` is false, or another process imported
        some of these runs at the same moment; nothing was stored.
    DatabaseError
        The database refused the write; nothing was stored.
    NotAllowed
        ``who`` may not save (a viewer); nothing was stored.
    """
    author = _acting(who, author)
    tables: Iterator[pa.Table] = iter([scored] if isinstance(scored, pa.Table) else scored)
    content_hash = _hash_meanwhile(Path(file)) if file is not None else None
    metric = _MetricOf()
    batch_no = store.append_calculations(
        (_for_store(metric.seen_in(table)) for table in tables),
        source=source,
        author=author,
        file_name=file_name or (Path(file).name if file is not None else None),
        content_hash=content_hash,
        currency=currency,
        unless_saved=not again,
        imported_from=imported_from,
        metric=metric.key,
    )
    _alert(store, batch_no)
    return batch_no


class _MetricOf:
    """The quality metric of a batch's rows, read as they pass to the store: F1, unless the
    scorer named another in a ``metric`` column (:mod:`mlprod.ingest.scoring`)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def seen_in(self, table: pa.Table) -> pa.Table:
        if "metric" in table.column_names and table.num_rows:
            self.keys.update(k for k in pc.unique(table["metric"]).to_pylist() if k)
        return table

    def key(self) -> str:
        if len(self.keys) > 1:  # the store keeps one metric per batch
            raise InvalidInput(
                "metric",
                f"These runs are scored on {', '.join(sorted(self.keys))}: save the runs of "
                "each metric as a batch of their own. Nothing was saved.",
            )
        return next(iter(self.keys), "f1")
