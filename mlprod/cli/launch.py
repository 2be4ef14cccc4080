"""``mlprod ui``: Streamlit's own ``run`` on the app in :data:`mlprod.config.PROJECT_DIR`
(a clone's ``app.py``, or the copy inside an installed package), never a second copy of
the pages."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path
from typing import NoReturn

from mlprod import config

__all__ = ["run_dashboard", "streamlit_flags"]


def streamlit_flags(config_file: Path) -> list[str]:
    """The shipped ``.streamlit/config.toml`` as ``streamlit run`` flags, so an installed
    copy started from any folder runs with the same settings as a clone.

    >>> streamlit_flags(config.PROJECT_DIR / ".streamlit" / "config.toml")[:2]
    ['--server.address=localhost', '--server.maxUploadSize=200']
    """
    with config_file.open("rb") as fh:
        sections = tomllib.load(fh)
    return [
        f"--{section}.{key}={str(value).lower() if isinstance(value, bool) else value}"
        for section, options in sections.items()
        for key, value in options.items()
    ]


def run_dashboard(*, port: int, address: str, db: str | None, browser: bool) -> NoReturn:
    """Serve the dashboard until Ctrl-C; ``db`` (else the usual settings) is its history."""
    if db:
        os.environ["MLPROD_DB"] = db if "://" in db else str(Path(db).expanduser().resolve())
    flags = streamlit_flags(config.PROJECT_DIR / ".streamlit" / "config.toml")
    flags += [
        f"--server.port={port}",
        f"--server.address={address}",
        f"--server.headless={str(not browser).lower()}",
    ]
    history = config.database_label(config.database())
    print(
        f"mlprod dashboard on http://{address}:{port} (history: {history}); Ctrl-C stops it.",
        file=sys.stderr,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # This process becomes Streamlit's own (same PID: Ctrl-C and a service manager's stop
    # reach the server); nothing of the dashboard is imported here.
    os.execv(
        sys.executable,
        [sys.executable, "-m", "streamlit", "run", str(config.PROJECT_DIR / "app.py"), *flags],
    )
