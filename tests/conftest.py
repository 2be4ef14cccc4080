"""Fixtures: a fresh DuckDB file per test, every connection closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlprod.store import Store

REFERENCE = {
    "f1": 0.90,
    "training_cost": 1000.0,
    "inference_cost": 200.0,
    "training_hours": 10.0,
    "latency_ms": 50.0,
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "history.duckdb"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path) as opened:
        yield opened
