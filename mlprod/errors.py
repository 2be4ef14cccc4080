"""Typed errors of the core.

Every error a person can cause is a :class:`MlprodError` (a ``ValueError``) whose message
says what to do. Pages show the message with ``st.error``; the CLI prints it and exits
non-zero.
"""

from __future__ import annotations

__all__ = [
    "BadFile",
    "DatabaseError",
    "DatabaseLocked",
    "DatabaseReadOnly",
    "InvalidInput",
    "MlprodError",
]


class MlprodError(ValueError):
    """Base of every error mlprod raises on purpose."""


class InvalidInput(MlprodError):
    """An input value a ratio cannot be computed from.

    ``field`` names the offending input (``"f1"``, ``"latency_ms"`` ...).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class BadFile(MlprodError):
    """A file of runs that cannot be read at all (nothing in it is scored or stored)."""


class DatabaseError(MlprodError):
    """The history database cannot be opened or used."""


class DatabaseLocked(DatabaseError):
    """Another process holds the DuckDB file's write lock."""


class DatabaseReadOnly(DatabaseError):
    """The history database can be read but not written (file or folder permissions)."""
