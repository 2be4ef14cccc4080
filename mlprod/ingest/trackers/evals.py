"""Evaluation tools' files as the Batch page reads them (the ``mlprod import lm-eval`` and
``mlprod import promptfoo`` readers of :mod:`mlprod.ingest.evals`, their tokens priced by
the LLM price book in the dashboard's currency)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from mlprod import config
from mlprod.ingest.evals import eval_files, lm_eval_runs, priced_by_the_book, promptfoo_runs
from mlprod.quality import Metric

__all__ = ["read_lm_eval", "read_promptfoo"]


def _root(paths: list[Path]) -> Path:
    root = Path(os.path.commonpath([p.resolve() for p in paths]))
    return root.parent if root.is_file() else root


def read_lm_eval(paths: list[Path], metric: Metric, *, best: bool = True) -> pa.Table:
    """One run per task of each ``results_*.json`` under ``paths`` (an evaluation has no
    steps: ``best`` changes nothing)."""
    runs = lm_eval_runs(eval_files(paths, "results_*.json"), _root(paths), metric)
    return priced_by_the_book(runs, {}, config.currency())[0]


def read_promptfoo(paths: list[Path], metric: Metric, *, best: bool = True) -> pa.Table:
    """One run per prompt × provider of each promptfoo output file under ``paths``."""
    runs = promptfoo_runs(eval_files(paths, "*.json"), _root(paths))
    return priced_by_the_book(runs, {}, config.currency())[0]
