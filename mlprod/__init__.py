"""mlprod: ML training productivity ratios (CER, TER, PSR) and their history.

In a notebook::

    import mlprod
    scored = mlprod.score(runs)              # a DataFrame of runs, e.g. mlflow.search_runs()
    history = mlprod.History()               # the team's history, as DataFrames
    history.save(scored)

``mlprod.calculate`` scores one run, ``mlprod.score_arrays`` numpy arrays. What is imported
here is loaded on first use, so ``import mlprod`` (and the ``mlprod`` command) start fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mlprod.errors import (
    AlreadySaved,
    BadFile,
    DatabaseError,
    DatabaseLocked,
    InvalidInput,
    MlprodError,
)

if TYPE_CHECKING:
    from mlprod.dataframes import History, score
    from mlprod.metrics import Ratios, calculate, score_arrays

__all__ = [
    "AlreadySaved",
    "BadFile",
    "DatabaseError",
    "DatabaseLocked",
    "History",
    "InvalidInput",
    "MlprodError",
    "Ratios",
    "calculate",
    "score",
    "score_arrays",
]
__version__ = "0.1.0"

_LAZY = {
    "History": "mlprod.dataframes",
    "score": "mlprod.dataframes",
    "Ratios": "mlprod.metrics",
    "calculate": "mlprod.metrics",
    "score_arrays": "mlprod.metrics",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlprod' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
