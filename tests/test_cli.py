"""``python -m mlprod`` as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlprod.store import Store

REFERENCE_ARGS = ["--f1", "0.9", "--training-cost", "1000", "--inference-cost", "200",
                  "--training-hours", "10", "--latency-ms", "50"]  # fmt: skip


def run(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "mlprod", *args],
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def test_calc_prints_the_reference_ratios():
    out = run("calc", *REFERENCE_ARGS)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0].split()[:2] == ["CER", "0.00075"]
    assert lines[1].split()[:2] == ["TER", "0.09"]
    assert lines[2].split()[:2] == ["PSR", "0.018"]
    assert "0.75 F1 per $1,000" in out.stdout


def test_calc_json():
    out = run("calc", *REFERENCE_ARGS, "--json")
    assert json.loads(out.stdout) == {"cer": 0.00075, "ter": 0.09, "psr": 0.018}


def test_f1_from_counts():
    args = [a for a in REFERENCE_ARGS if a not in ("--f1", "0.9")]
    out = run("calc", *args, "--tp", "90", "--fp", "10", "--fn", "10", "--json")
    assert json.loads(out.stdout)["cer"] == 0.00075


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [("--f1", "90", "did you mean 0.90?"), ("--latency-ms", "0", "Latency (ms) must be above 0"),
     ("--training-cost", "-1", "Training cost cannot be negative"),
     ("--training-hours", "inf", "Training time (hours) is infinite"),
     ("--f1", "nan", "F1 score is not a number")],
)  # fmt: skip
def test_bad_input_exit_2_with_message(flag, value, words, tmp_path):
    args = list(REFERENCE_ARGS)
    args[args.index(flag) + 1] = value
    db = tmp_path / "h.duckdb"
    out = run("calc", *args, "--save", "--db", str(db))
    assert out.returncode == 2
    assert words in out.stderr and "Traceback" not in out.stderr
    assert not db.exists()  # nothing saved, not even an empty file


def test_not_a_number_is_a_usage_error():
    args = list(REFERENCE_ARGS)
    args[1] = "high"
    out = run("calc", *args)
    assert out.returncode == 2 and "invalid float value: 'high'" in out.stderr


def test_save_stores_one_row(tmp_path):
    db = tmp_path / "h.duckdb"
    out = run("calc", *REFERENCE_ARGS, "--save", "--db", str(db), "--model-name", "bert")
    assert out.returncode == 0, out.stderr
    with Store(db) as s:
        row, count = s.recent().iloc[0], s.count()
    assert (row.model_name, row.source, row.cer, count) == ("bert", "cli", 0.00075, 1)


def test_locked_database_exit_3(tmp_path):
    db = tmp_path / "h.duckdb"
    with Store(db):
        out = run("calc", *REFERENCE_ARGS, "--save", "--db", str(db))
    assert out.returncode == 3
    assert "is in use by" in out.stderr and "Traceback" not in out.stderr
