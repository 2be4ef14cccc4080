"""Evidence that runs repeat one training: the seeds behind run-to-run spread.

Runs of one model are not seeds of each other by their name alone (two different models
logged under one name read as "within run-to-run spread"). A file of runs gives evidence
in two ways, and scoring tags the runs ``group=NAME`` (a run's own ``group=`` tag wins):

- the children of one MLflow parent run (``tags.mlflow.parentRunId``): a sweep;
- runs that differ only in a seed parameter (``params.seed``, ``random_state``, ...):
  the same model, project and every other parameter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlprod.ingest.fields import normalize_header

__all__ = ["SEED_PARAMETERS", "Evidence", "evidence_in", "group_tags", "with_group"]

#: Parameter names that only pick a seed (normalised as headers are).
SEED_PARAMETERS = (
    "seed",
    "random_seed",
    "random_state",
    "rng_seed",
    "global_seed",
    "train_seed",
    "training_seed",
    "seed_value",
)
_PARENT = ("mlflow_parentrunid", "parent_run_id", "parent_id", "parentrunid")
_PARAMETER_PREFIXES = ("params.", "config.")


@dataclass(frozen=True)
class Evidence:
    """The columns of a file that say which runs repeat one training."""

    parent: str | None = None
    seeds: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()  # every other parameter column

    @property
    def columns(self) -> list[str]:
        return [*([self.parent] if self.parent else []), *self.seeds, *self.parameters]

    def __bool__(self) -> bool:
        return bool(self.parent or self.seeds)


def _key(column: str) -> str:
    for prefix in (*_PARAMETER_PREFIXES, "tags."):
        if column.startswith(prefix):
            return normalize_header(column[len(prefix) :])
    return normalize_header(column)


def evidence_in(columns: list[str]) -> Evidence:
    """Which of ``columns`` hold a parent run and seed parameters.

    >>> evidence_in(["run_id", "tags.mlflow.parentRunId", "params.seed", "params.lr"])
    Evidence(parent='tags.mlflow.parentRunId', seeds=('params.seed',), parameters=('params.lr',))
    """
    parent = next((c for c in columns if _key(c) in _PARENT), None)
    parameters = [c for c in columns if c.startswith(_PARAMETER_PREFIXES)]
    seeds = tuple(c for c in parameters if _key(c) in SEED_PARAMETERS)
    others = tuple(c for c in parameters if c not in seeds)
    return Evidence(parent, seeds, others if seeds else ())


def _text(column: pa.Array) -> pa.Array:
    text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
    return pc.fill_null(pc.utf8_trim_whitespace(text), "")


def _named(prefix: str, keys: pa.Array) -> pa.Array:
    """``prefix`` and a short digest of each key (one digest per distinct key)."""
    encoded = pc.dictionary_encode(keys)
    digests = [
        prefix + hashlib.sha1(str(k).encode(), usedforsecurity=False).hexdigest()[:8]
        for k in encoded.dictionary.to_pylist()
    ]
    return pc.take(pa.array(digests, pa.string()), encoded.indices)


def group_tags(batch: pa.RecordBatch, evidence: Evidence, identity: list[pa.Array]) -> pa.Array:
    """Each run's ``group=NAME`` from the evidence (null where there is none): the children
    of one parent run, else the runs whose ``identity`` (model, project) and parameters
    match but for a seed. Columnar: one digest per distinct group, not per row."""
    n = batch.num_rows
    groups = pa.nulls(n, pa.string())
    if evidence.seeds:
        seeded = np.zeros(n, dtype=bool)
        for name in evidence.seeds:
            given = pc.greater(pc.utf8_length(_text(batch.column(name))), 0)
            seeded |= np.asarray(given.to_numpy(zero_copy_only=False), dtype=bool)
        parts = [_text(c) for c in identity] + [_text(batch.column(c)) for c in evidence.parameters]
        key = pc.binary_join_element_wise(*parts, "\x1f") if parts else pa.array([""] * n)
        groups = pc.if_else(pa.array(seeded), _named("group=seeds-", key), groups)
    if evidence.parent:
        parent = _text(batch.column(evidence.parent))
        has = pc.greater(pc.utf8_length(parent), 0)
        groups = pc.if_else(has, pc.binary_join_element_wise("group=", parent, ""), groups)
    return groups


def with_group(tags: pa.Array, groups: pa.Array) -> pa.Array:
    """``tags`` with each run's evidence group added, unless it has a group tag of its own.

    >>> with_group(pa.array(["a", None, "group=mine"]), pa.array(["group=x"] * 3)).to_pylist()
    ['a, group=x', 'group=x', 'group=mine']
    """
    own = pc.fill_null(pc.match_substring_regex(tags, r"(^|,)\s*group="), False)
    joined = pc.if_else(pc.is_valid(tags), pc.binary_join_element_wise(tags, groups, ", "), groups)
    add = pc.and_(pc.invert(own), pc.is_valid(groups))
    return pc.if_else(add, joined, tags)
