"""Evaluation tools' files as the Batch page reads them: :func:`mlprod.ingest.evals.
read_evaluations` (as ``mlprod import lm-eval|promptfoo`` reads them), their tokens priced
by the LLM price book in the dashboard's currency. An evaluation has no steps: ``best``
changes nothing."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from mlprod import config
from mlprod.ingest.evals import read_evaluations
from mlprod.quality import Metric

__all__ = ["read_lm_eval", "read_promptfoo"]


def read_lm_eval(paths: list[Path], metric: Metric, *, best: bool = True) -> pa.Table:
    """One run per task of each ``results_*.json`` under ``paths``."""
    return read_evaluations("lm-eval", paths, metric, currency=config.currency()).runs


def read_promptfoo(paths: list[Path], metric: Metric, *, best: bool = True) -> pa.Table:
    """One run per prompt × provider of each promptfoo output file under ``paths``."""
    return read_evaluations("promptfoo", paths, metric, currency=config.currency()).runs
