"""``mlprod`` (or ``python -m mlprod``): the same core without a browser.

Commands: ``calc`` (one run), ``compare`` (A vs B), ``score`` (a file of runs),
``import mlflow``, ``backup``,
``restore`` and ``ui`` (the dashboard). Exit codes: 0 success, 1 some rows had errors,
2 unusable input, 3 database locked or unusable, 4 internal error (a bug; its traceback is
written to a file the message names).

Each command imports what it needs when it runs (``--help`` loads no numpy, ``score``
without ``--save`` no DuckDB): a command in a pipeline starts in a fraction of a second.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from typing import BinaryIO, TextIO

from mlprod.cli.exits import EXIT_BAD_INPUT, EXIT_DATABASE, EXIT_INTERNAL, EXIT_OK
from mlprod.cli.parser import build_parser
from mlprod.errors import DatabaseError, InvalidInput, MlprodError
from mlprod.text import plain

__all__ = ["build_parser", "main"]


class _Inert(io.TextIOBase):
    """A terminal stream whose text cannot act on the terminal: every control character
    but a line break, carriage return or tab is written as its escape (a run name holding
    ``ESC]52`` would write the clipboard, ``ESC[2J`` clear the screen). JSON escapes them
    itself, and binary output (CSV on stdout) goes to ``buffer`` unchanged."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(plain(text, keep="\n\r\t"))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def buffer(self) -> BinaryIO:
        return self._stream.buffer


def main(argv: Sequence[str] | None = None) -> int:
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Inert(sys.stdout), _Inert(sys.stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("score", "import"):
            from mlprod.cli import batch

            if args.command == "score":
                return batch.score(args)
            if args.tracker == "mlflow":
                return batch.import_mlflow(args)
            if args.tracker in batch.EVAL_TOOLS:
                return batch.import_evals(args)
            return batch.import_tracker(args)
        from mlprod.cli import commands

        return commands.run(args)
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except MlprodError as exc:  # BadFile and other unusable input
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `mlprod calc ... | head`: the reader has all it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("\nstopped: a batch is stored only when a line says 'Saved'.", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: never read as "some rows had errors" (1)
        log = _crash_log(exc)
        print(
            f"internal error ({type(exc).__name__}: {str(exc)[:200]}). A batch is stored "
            "only when a line says 'Saved'; a save cut short stores nothing. Details: "
            f"{log}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _crash_log(exc: BaseException) -> str:
    """Write the traceback of an unexpected failure to a file; returns its path."""
    import tempfile
    import traceback

    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="mlprod-crash-", suffix=".log", delete=False
        ) as fh:
            fh.write(f"mlprod {' '.join(sys.argv[1:])}\n")
            traceback.print_exception(exc, file=fh)
            return fh.name
    except OSError:
        return "(could not be written: the disk may be full)"
