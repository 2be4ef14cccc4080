"""Files of runs in, in the order their bytes travel.

1. :mod:`~mlprod.ingest.fields`: the field vocabulary, synonyms, the column mapping;
2. :mod:`~mlprod.ingest.inspection`: format, encoding, delimiter and decimal mark
   (:func:`inspect`);
3. :mod:`~mlprod.ingest.readers`: the file's rows as Arrow record batches;
4. :mod:`~mlprod.ingest.cells`: text cells into numbers, dates, durations;
5. :mod:`~mlprod.ingest.scoring`: every row scored, bad rows with their line and reason.

A file that cannot be read at all raises :class:`~mlprod.errors.BadFile`; a bad row never
stops the others.
"""

from mlprod.ingest.fields import FIELD_LABELS, FIELDS, REQUIRED, normalize_header
from mlprod.ingest.inspection import Inspection, inspect, resolve_mapping
from mlprod.ingest.readers import FileFacts
from mlprod.ingest.scoring import BatchSummary, ScoredFile, score_file, scored_batches

__all__ = [
    "FIELDS",
    "FIELD_LABELS",
    "REQUIRED",
    "BatchSummary",
    "FileFacts",
    "Inspection",
    "ScoredFile",
    "inspect",
    "normalize_header",
    "resolve_mapping",
    "score_file",
    "scored_batches",
]
