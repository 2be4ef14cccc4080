"""mlprod: ML training productivity ratios (CER, TER, PSR) and their history."""

from mlprod.errors import BadFile, DatabaseError, DatabaseLocked, InvalidInput, MlprodError
from mlprod.metrics import Ratios, calculate, score_arrays

__all__ = [
    "BadFile",
    "DatabaseError",
    "DatabaseLocked",
    "InvalidInput",
    "MlprodError",
    "Ratios",
    "calculate",
    "score_arrays",
]
__version__ = "0.1.0"
