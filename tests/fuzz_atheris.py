"""Coverage-guided fuzzing of the importer with atheris (libFuzzer), seeded with real files.

Run by ``tests/test_fuzz_ingest.py::test_atheris`` as ``python tests/fuzz_atheris.py
-runs=N``; by hand, leave ``-runs`` out to fuzz until stopped. Any exception other than
the typed ``BadFile`` (or a broken promise checked in ``check``) is a crash: libFuzzer
then writes the input to ``crash-*`` and exits non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["mlprod"]):
    from tests.test_fuzz_ingest import check


def one_input(data: bytes) -> None:
    check(data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
