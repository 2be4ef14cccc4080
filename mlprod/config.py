"""Settings from the environment or ``.streamlit/secrets.toml``, with defaults.

The history database is, first found wins:

1. the ``MLPROD_DB`` environment variable (a DuckDB file path, or ``:memory:``);
2. ``MLPROD_DB = "..."`` or ``[mlprod] db = "..."`` in ``.streamlit/secrets.toml``;
3. ``data/mlprod.duckdb`` inside the project folder.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

__all__ = ["DEFAULT_DB", "PROJECT_DIR", "database", "secrets"]

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DB = PROJECT_DIR / "data" / "mlprod.duckdb"


def secrets(path: Path | None = None) -> dict[str, object]:
    """The parsed secrets file, or ``{}`` when there is none."""
    path = path or PROJECT_DIR / ".streamlit" / "secrets.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


def database(environ: dict[str, str] | None = None, secrets_path: Path | None = None) -> str:
    """Where the history lives, as a DuckDB connection string.

    >>> database({"MLPROD_DB": "/tmp/team.duckdb"})
    '/tmp/team.duckdb'
    """
    env = os.environ if environ is None else environ
    if env.get("MLPROD_DB"):
        return env["MLPROD_DB"]
    found = secrets(secrets_path)
    section = found.get("mlprod")
    if isinstance(section, dict) and section.get("db"):
        return str(section["db"])
    if found.get("MLPROD_DB"):
        return str(found["MLPROD_DB"])
    return str(DEFAULT_DB)


def memory_limit(environ: dict[str, str] | None = None) -> str:
    """DuckDB's memory cap: ``MLPROD_DB_MEMORY`` (e.g. ``"2GB"``), by default 512MB.

    >>> memory_limit({}), memory_limit({"MLPROD_DB_MEMORY": "2GB"})
    ('512MB', '2GB')
    """
    env = os.environ if environ is None else environ
    return env.get("MLPROD_DB_MEMORY") or "512MB"


def currency(environ: dict[str, str] | None = None) -> str:
    """The team's currency: ``MLPROD_CURRENCY`` (``EUR``, ``GBP``, ...), by default USD.

    >>> currency({}), currency({"MLPROD_CURRENCY": "eur"})
    ('USD', 'EUR')
    """
    env = os.environ if environ is None else environ
    return (env.get("MLPROD_CURRENCY") or "USD").upper()


def gpu_prices_path(environ: dict[str, str] | None = None) -> Path:
    """The GPU price table: ``MLPROD_GPU_PRICES`` or ``data/gpu_prices.csv``."""
    env = os.environ if environ is None else environ
    return Path(env.get("MLPROD_GPU_PRICES") or PROJECT_DIR / "data" / "gpu_prices.csv")


def gpu_aliases_path(environ: dict[str, str] | None = None) -> Path:
    """GPU names as trackers log them, mapped to the price table's: ``MLPROD_GPU_ALIASES``
    or ``data/gpu_aliases.csv``."""
    env = os.environ if environ is None else environ
    return Path(env.get("MLPROD_GPU_ALIASES") or PROJECT_DIR / "data" / "gpu_aliases.csv")


def fx_rates_path(environ: dict[str, str] | None = None) -> Path:
    """The exchange-rate table: ``MLPROD_FX_RATES`` or ``data/fx_rates.csv``."""
    env = os.environ if environ is None else environ
    return Path(env.get("MLPROD_FX_RATES") or PROJECT_DIR / "data" / "fx_rates.csv")
