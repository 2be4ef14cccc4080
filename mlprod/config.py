"""Settings from the environment or ``.streamlit/secrets.toml``, with defaults.

The history database is, first found wins:

1. the ``MLPROD_DB`` environment variable: a DuckDB file path (or ``:memory:``), or a
   PostgreSQL server as a libpq URI (``postgresql://user@host:5432/dbname``) for many
   dashboard processes on one history;
2. ``MLPROD_DB = "..."`` or ``[mlprod] db = "..."`` in ``.streamlit/secrets.toml``;
3. in a clone of the repository, ``data/mlprod.duckdb`` beside ``app.py``; in an installed
   copy (``pip install``), ``mlprod.duckdb`` in the user's data folder
   (``~/.local/share/mlprod`` on Linux, as ``platformdirs`` says elsewhere): never inside
   site-packages.

The dashboard's own files (``app.py``, ``pages/``, the shipped price, exchange-rate,
GPU-name and sample tables under ``data/``) are found in :data:`PROJECT_DIR`: a clone's
root, or their copy inside the installed package (``mlprod/dashboard``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from mlprod.errors import CannotWrite

__all__ = [
    "CURRENCIES",
    "DEFAULT_DB",
    "IN_CLONE",
    "PROJECT_DIR",
    "database",
    "database_label",
    "refuse_to_overwrite_a_history",
    "secrets",
]

#: Currency code -> symbol shown before amounts.
CURRENCIES: dict[str, str] = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CHF": "CHF ",
    "CAD": "CA$",
    "AUD": "A$",
    "INR": "₹",
}

_CLONE = Path(__file__).resolve().parent.parent
#: Whether this is a clone of the repository (``app.py`` and ``pages/`` beside ``mlprod/``)
#: rather than an installed copy.
IN_CLONE = (_CLONE / "app.py").is_file() and (_CLONE / "pages").is_dir()
#: The folder holding ``app.py``, ``pages/``, ``data/`` and ``.streamlit/config.toml``.
PROJECT_DIR = _CLONE if IN_CLONE else Path(__file__).resolve().parent / "dashboard"


def _default_db() -> Path:
    if IN_CLONE:
        return PROJECT_DIR / "data" / "mlprod.duckdb"
    from platformdirs import user_data_path

    return user_data_path("mlprod", appauthor=False) / "mlprod.duckdb"


DEFAULT_DB = _default_db()


def _secrets_files() -> list[Path]:
    """Where secrets are read from, later files winning: ``MLPROD_SECRETS`` (one file: a CI
    job's, a test's) if set; else the clone's, else Streamlit's own places
    (``~/.streamlit/secrets.toml``, then ``./.streamlit/secrets.toml``)."""
    if os.environ.get("MLPROD_SECRETS"):
        return [Path(os.environ["MLPROD_SECRETS"])]
    if IN_CLONE:
        return [PROJECT_DIR / ".streamlit" / "secrets.toml"]
    return [Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml"]


def secrets(path: Path | None = None) -> dict[str, object]:
    """The parsed secrets file(s), or ``{}`` when there is none."""
    found: dict[str, object] = {}
    for file in [path] if path else _secrets_files():
        if file.is_file():
            with file.open("rb") as fh:
                found |= tomllib.load(fh)
    return found


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


def database_label(database: str) -> str:
    """The history database as every visitor may see it: a file's name (not the server's
    folders), a server's address and database (not its user or password).

    >>> database_label("/srv/mlprod/team.duckdb")
    'team.duckdb'
    >>> database_label("postgresql://ml:secret@db.internal:5432/mlprod?sslmode=require")
    'postgresql://db.internal:5432/mlprod'
    """
    if "://" not in database:
        return Path(database).name
    scheme, _, rest = database.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2].split('?', 1)[0]}"


def memory_limit(environ: dict[str, str] | None = None) -> str:
    """DuckDB's memory cap: ``MLPROD_DB_MEMORY`` (e.g. ``"2GB"``), by default 512MB.

    >>> memory_limit({}), memory_limit({"MLPROD_DB_MEMORY": "2GB"})
    ('512MB', '2GB')
    """
    env = os.environ if environ is None else environ
    return env.get("MLPROD_DB_MEMORY") or "512MB"


def local_user(environ: dict[str, str] | None = None) -> str | None:
    """Who a local process (the CLI, a notebook) saves as when no name is given: ``$USER``
    (or the system's name for this account).

    >>> local_user({"USER": "ann"})
    'ann'
    """
    env = os.environ if environ is None else environ
    if env.get("USER") or env.get("USERNAME"):
        return env.get("USER") or env.get("USERNAME")
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def lock_wait(environ: dict[str, str] | None = None) -> float:
    """How long (seconds) an opening of the DuckDB file waits while another process works
    on it: ``MLPROD_DB_WAIT``, by default 60.

    >>> lock_wait({}), lock_wait({"MLPROD_DB_WAIT": "5"})
    (60.0, 5.0)
    """
    env = os.environ if environ is None else environ
    try:
        return max(0.0, float(env.get("MLPROD_DB_WAIT") or 60))
    except ValueError:
        return 60.0


def _bytes(text: str) -> int:
    """``"1.5GB"``, ``"800MB"``, ``"2G"`` or a number of bytes, as bytes.

    >>> _bytes("1.5GB"), _bytes("800MB"), _bytes("123")
    (1500000000, 800000000, 123)
    """
    units = {
        "TB": 10**12,
        "GB": 10**9,
        "MB": 10**6,
        "KB": 10**3,
        "T": 10**12,
        "G": 10**9,
        "M": 10**6,
        "K": 10**3,
        "B": 1,
    }
    cleaned = text.strip().upper().replace(" ", "")
    for unit, size in units.items():
        if cleaned.endswith(unit):
            return int(float(cleaned[: -len(unit)]) * size)
    return int(float(cleaned))


def memory_budget(environ: dict[str, str] | None = None) -> int:
    """What the dashboard's batch scoring may hold in memory at once, in bytes, for the
    whole server: ``MLPROD_MEMORY_BUDGET`` (e.g. ``"4GB"``), by default 1.5 GB.

    >>> memory_budget({}), memory_budget({"MLPROD_MEMORY_BUDGET": "4GB"})
    (1500000000, 4000000000)
    """
    env = os.environ if environ is None else environ
    return _bytes(env.get("MLPROD_MEMORY_BUDGET") or "1.5GB")


def max_batch_rows(environ: dict[str, str] | None = None) -> int:
    """The most rows the dashboard scores from one file (``MLPROD_MAX_BATCH_ROWS``, by
    default 20 million): a 3 MB ``.csv.gz`` can expand to gigabytes; the CLI has no cap.

    >>> max_batch_rows({}), max_batch_rows({"MLPROD_MAX_BATCH_ROWS": "1000"})
    (20000000, 1000)
    """
    env = os.environ if environ is None else environ
    return int(env.get("MLPROD_MAX_BATCH_ROWS") or 20_000_000)


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


def llm_prices_path(environ: dict[str, str] | None = None) -> Path:
    """The LLM price book: ``MLPROD_LLM_PRICES`` or ``data/llm_prices.csv``."""
    env = os.environ if environ is None else environ
    return Path(env.get("MLPROD_LLM_PRICES") or PROJECT_DIR / "data" / "llm_prices.csv")


def gpu_aliases_path(environ: dict[str, str] | None = None) -> Path:
    """GPU names as trackers log them, mapped to the price table's: ``MLPROD_GPU_ALIASES``
    or ``data/gpu_aliases.csv``."""
    env = os.environ if environ is None else environ
    return Path(env.get("MLPROD_GPU_ALIASES") or PROJECT_DIR / "data" / "gpu_aliases.csv")


def fx_rates_path(environ: dict[str, str] | None = None) -> Path:
    """The exchange-rate table: ``MLPROD_FX_RATES`` or ``data/fx_rates.csv``."""
    env = os.environ if environ is None else environ
    return Path(env.get("MLPROD_FX_RATES") or PROJECT_DIR / "data" / "fx_rates.csv")


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: any spelling, symlink or hard link (an
    absent file by its resolved path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _is_duckdb_file(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            head = file.read(12)
    except OSError:
        return False
    return len(head) == 12 and head[8:12] == b"DUCK"


def refuse_to_overwrite_a_history(target: str | Path, database: str | None) -> None:
    """Raise :class:`~mlprod.errors.CannotWrite` when writing ``target`` (a scored file, a
    backup) would replace a history: the database ``database`` names or its write-ahead
    log, by whatever spelling (a symlink, ``..``, a hard link), or any DuckDB database (a
    history another mlprod process may hold) or the log beside one. Nothing is written.

    >>> refuse_to_overwrite_a_history("/tmp/h.duckdb.wal", "/tmp/h.duckdb")
    Traceback (most recent call last):
    ...
    mlprod.errors.CannotWrite: /tmp/h.duckdb.wal is the history database's log (...
    """
    target = Path(target).expanduser()
    if database and "://" not in database and database != ":memory:":
        db = Path(database).expanduser()
        wal = db.with_name(db.name + ".wal")
        for kind, path in (("the history database", db), ("the history database's log", wal)):
            if same_file(target, path):
                raise CannotWrite(
                    f"{target} is {kind} ({db}): writing there would replace every batch. "
                    "Choose another file name; nothing was written."
                )
    if _is_duckdb_file(target):
        raise CannotWrite(
            f"{target} is a DuckDB database (a history?): writing there would replace it. "
            "Choose another file name; nothing was written."
        )
    if target.name.endswith(".wal") and _is_duckdb_file(target.with_name(target.name[:-4])):
        raise CannotWrite(
            f"{target} would be read as the log of the DuckDB database beside it. Choose "
            "another file name; nothing was written."
        )
