"""Fixtures: a fresh history per test (a DuckDB file, and a database on a real PostgreSQL
server for the store's tests), every connection closed afterwards."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_manager
import duckdb
import pytest
import streamlit as st
from hypothesis import settings
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from mlprod.config import PROJECT_DIR
from mlprod.store import ASSUMPTION_COLUMNS, Store
from tests.installed import Installed, install
from tests.mlflow_server import serve
from tests.pg_server import PostgresServer

REFERENCE = {
    "f1": 0.90,
    "training_cost": 1000.0,
    "inference_cost": 200.0,
    "training_hours": 10.0,
    "latency_ms": 50.0,
}


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Installed:
    """A wheel of this tree installed in a fresh virtual environment (tests/installed.py)."""
    return install(tmp_path_factory.mktemp("installed"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "history.duckdb"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on a free loopback port for the whole session."""
    server = PostgresServer()
    yield server
    server.remove()


@pytest.fixture
def pg_uri(postgres: PostgresServer) -> Iterator[str]:
    """A new empty database on the session's PostgreSQL server (dropped afterwards)."""
    uri = postgres.database()
    yield uri
    postgres.drop(uri)


@pytest.fixture(params=["duckdb", "postgresql"])
def backend_db(request, db_path: Path) -> str:
    """A new history database on each backend: a DuckDB file, a PostgreSQL database."""
    if request.param == "duckdb":
        return str(db_path)
    return request.getfixturevalue("pg_uri")


# The inner loop's profile (`--hypothesis-profile=quick`, README): a few examples per
# property; the full run (CI) keeps each test's own count.
settings.register_profile("quick", max_examples=10)


def examples(n: int) -> int:
    """``n`` examples for a property test, or fewer under the quick profile."""
    quick = settings.get_current_profile_name() == "quick"
    return min(n, settings.default.max_examples) if quick else n


@pytest.fixture(scope="session")
def history_template(tmp_path_factory) -> Path:
    """An empty history file with every migration applied, made once: a test that needs
    many fresh histories copies it (~0.03 s) instead of migrating a new one (~0.18 s)."""
    path = tmp_path_factory.mktemp("template") / "template.duckdb"
    with Store(path):
        pass
    return path


def fresh_history(template: Path, folder: Path) -> Path:
    """A new, empty history in ``folder``: a copy of ``template``."""
    path = folder / "history.duckdb"
    shutil.copyfile(template, path)
    return path


@pytest.fixture
def duckdb_store(db_path: Path) -> Iterator[Store]:
    """A new history in a DuckDB file (for what only a file does: locks, settings)."""
    with Store(db_path) as opened:
        yield opened


#: What a statement the database refuses (NOT NULL, a unique key) raises, per backend.
CONSTRAINT_ERRORS = (duckdb.ConstraintException, adbc_driver_manager.IntegrityError)


@pytest.fixture
def store(backend_db: str) -> Iterator[Store]:
    """A new, empty history, on each backend in turn: the store behaves the same on both."""
    with Store(backend_db) as opened:
        yield opened


@pytest.fixture
def app(db_path, monkeypatch):
    monkeypatch.setenv("MLPROD_DB", str(db_path))
    # Our layout has pages/ beside app.py. AppTest resets Streamlit's "legacy pages/
    # folder" flag before every run, so each rerun would execute the page file without
    # app.py (no sidebar). A real server clears that flag for good the first time
    # st.navigation runs; do the same here.
    original_init = PagesManager.__init__

    def init_as_a_server_does(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init_as_a_server_does)
    at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=30)
    at.session_state["sidebar-author"] = "tester"  # saves need a name (sign-in off)
    yield at
    st.cache_resource.clear()
    st.cache_data.clear()


# What the history holds, read straight from the tables: the tests' own view of a save,
# independent of the history page's queries.
_RECENT = (
    "SELECT h.*, f.precision, f.recall, f.tp, f.fp, f.fn, "
    + ", ".join(f"a.{c}" for c in ASSUMPTION_COLUMNS)
    + " "
    "FROM history h LEFT JOIN f1_inputs f ON f.calculation_id = h.id "
    "LEFT JOIN cost_assumptions a ON a.calculation_id = h.id {where} "
    "ORDER BY h.created_at DESC, h.id DESC LIMIT ?"
)


def recent(store: Store, limit: int = 20, *, include_deleted: bool = False):
    """The newest stored calculations first, every stored column (a DataFrame)."""
    where = "" if include_deleted else "WHERE h.deleted_at IS NULL"
    with store.cursor() as cur:
        return cur.execute(_RECENT.format(where=where), [limit]).df()


def count(store: Store, *, include_deleted: bool = False) -> int:
    """How many calculations are stored (live ones only, by default)."""
    where = "" if include_deleted else " WHERE deleted_at IS NULL"
    with store.cursor() as cur:
        return int(cur.execute(f"SELECT count(*) FROM calculations{where}").fetchone()[0])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> Iterator[str]:
    """The address of a real MLflow tracking server with the runs of
    :func:`tests.mlflow_server.log_runs`, for the whole session."""
    yield from serve(tmp_path_factory)
