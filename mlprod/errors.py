"""Typed errors of the core.

Every error a person can cause is a :class:`MlprodError` (a ``ValueError``) whose message
says what to do. Pages show the message with ``st.error``; the CLI prints it and exits
non-zero.
"""

from __future__ import annotations

__all__ = [
    "AlreadySaved",
    "BadFile",
    "BadLink",
    "CannotWrite",
    "CostTableError",
    "DatabaseBusy",
    "DatabaseError",
    "DatabaseLocked",
    "DatabaseReadOnly",
    "InvalidInput",
    "MlprodError",
    "NotAllowed",
    "Unnamed",
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


class CannotWrite(MlprodError):
    """An output the system refuses to write (a missing folder, no permission, a full disk)."""


class BadLink(MlprodError):
    """A comparison link (``?a=...&b=...&w=...``) whose parameters cannot be read."""


class CostTableError(MlprodError):
    """A price or exchange-rate table that cannot be used (names the file and line)."""


class DatabaseError(MlprodError):
    """The history database cannot be opened or used."""


class DatabaseLocked(DatabaseError):
    """Another process holds the DuckDB file's write lock."""


class DatabaseReadOnly(DatabaseError):
    """The history database can be read but not written (file or folder permissions)."""


class DatabaseBusy(DatabaseError):
    """Someone else kept changing the same rows while this change was retried."""


class NotAllowed(MlprodError):
    """The person acting may not do this here (their role, or the projects they edit);
    nothing was changed. The message says who grants more."""


class Unnamed(NotAllowed):
    """A save with nobody's name on it (sign-in off and no name typed); nothing stored."""


class AlreadySaved(MlprodError):
    """A file whose exact content is in the history already (stored again only on request).

    ``previous`` describes the earlier save: ``batch_no``, ``saved_at``, ``author``,
    ``file_name`` and ``rows``.
    """

    def __init__(self, message: str, previous: dict[str, object]) -> None:
        super().__init__(message)
        self.previous = previous
