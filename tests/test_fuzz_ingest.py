"""Fuzzing the importer: any bytes, any CSV shape → scored rows and row errors, or BadFile.

10,000 hypothesis examples (5,000 random byte strings, 5,000 random CSV structures) and
5,000 coverage-guided atheris runs seeded with real exports, in every test run.
"""

from __future__ import annotations

import atexit
import csv
import functools
import io
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlprod.config import PROJECT_DIR
from mlprod.errors import BadFile
from mlprod.ingest import FIELDS, inspect, score_file

pytestmark = pytest.mark.slow  # 10,000 hypothesis examples and 5,000 atheris runs

SETTINGS = settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def _workdir() -> Path:
    """One folder for the examples' files, made when the first example runs (not when the
    module is imported) and removed at exit."""
    folder = tempfile.TemporaryDirectory(prefix="mlprod-fuzz-")
    atexit.register(folder.cleanup)
    return Path(folder.name)


cell = st.one_of(
    st.sampled_from(["", "NA", "nan", "inf", "-1", "0", "0.9", "90", "1,234.5", "'=1+1",
                     "-", "1e400", "12ms", "3.5h", "2026-10-04", "ünïcode", '"q"', "a;b"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)  # fmt: skip
header = st.lists(
    st.one_of(st.sampled_from([*FIELDS, "metrics.f1", "Latency (ms)", "F1 Score", "Duration",
                               "Runtime", "start_time", "end_time", "Name", "gpu"]),
              st.text(min_size=1, max_size=10)),
    min_size=1, max_size=9, unique=True,
)  # fmt: skip


def check(data: bytes) -> None:
    path = _workdir() / "fuzz.csv"
    path.write_bytes(data)
    try:
        scored = score_file(inspect(path))
    except BadFile as exc:
        assert str(exc)
        return
    rows = scored.table.to_pylist()
    assert scored.summary.rows == len(rows)
    for row in rows:
        assert row["status"] in ("ok", "error", "skipped")  # skipped: a run not finished
        if row["status"] == "ok":
            assert all(math.isfinite(row[r]) and row[r] >= 0 for r in ("cer", "ter", "psr"))
        else:
            assert row["error"]
            if row["status"] == "skipped":
                assert row["state"] and row["error"] == f"Not finished: {row['state']}"
    skipped = sum(row["status"] == "skipped" for row in rows)
    assert scored.summary.skipped == skipped
    assert scored.summary.ok == sum(row["status"] == "ok" for row in rows)


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes(data):
    check(data)


@SETTINGS
@given(
    header,
    st.lists(st.lists(cell, min_size=0, max_size=10), max_size=8),
    st.sampled_from([",", ";", "\t"]),
    st.sampled_from(["utf-8", "latin-1", "utf-8-sig"]),
)
def test_random_csv_structures(columns, rows, delimiter, encoding):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(columns)
    writer.writerows(rows)
    check(out.getvalue().encode(encoding, errors="replace"))


@pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="atheris 2.3.0 has no wheel for Python 3.12+"
)
def test_atheris_coverage_guided(tmp_path):
    """libFuzzer (atheris) mutating real exports for 5,000 runs: no crash, no hang (where
    atheris installs: Python 3.11; the hypothesis fuzzing above runs everywhere)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for seed in [
        *(PROJECT_DIR / "tests" / "data").glob("*.csv"),
        PROJECT_DIR / "data" / "sample_runs.csv",
    ]:
        (corpus / seed.name).write_bytes(seed.read_bytes()[:4096])
    done = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "tests" / "fuzz_atheris.py"), "-runs=5000",
         "-max_len=4096", "-timeout=10", "-seed=7", str(corpus)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 5000 runs" in done.stderr
    assert not list(tmp_path.glob("crash-*"))
