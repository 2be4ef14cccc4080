"""A real PostgreSQL server for the tests, from Debian's packages (``postgresql``).

``initdb`` into a temporary folder and ``pg_ctl`` on a free loopback port; PostgreSQL
refuses to run as root, so as root both run as the ``postgres`` user (the folder is
handed to it). For tests, durability is traded for speed (``fsync=off``): these databases
are thrown away; benchmarks run with the server's durable defaults (``durable=True``).
Each test that asks for one gets a database of its own.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PostgresServer", "bin_dir"]

INSTALL_HINT = "apt-get install -y postgresql (Debian's PostgreSQL server)"


def bin_dir() -> Path | None:
    """Where Debian's PostgreSQL programs are (the newest version installed)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One server process; :meth:`database` makes a new empty database and its URI."""

    def __init__(self, folder: Path | None = None, *, durable: bool = False) -> None:
        binaries = bin_dir()
        if binaries is None:
            raise RuntimeError(f"PostgreSQL is not installed: {INSTALL_HINT}")
        self.bin = binaries
        # Its own folder under /tmp: the postgres user cannot reach into pytest's (0700).
        self.folder = folder or Path(tempfile.mkdtemp(prefix="mlprod-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        self.durable = durable
        if self._as_postgres:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync", "--no-instructions")  # fmt: skip
        self.start()
        self._names = itertools.count(1)

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin / program), *args]
        return ["runuser", "-u", "postgres", "--", *command] if self._as_postgres else command

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(self._command(program, *args), capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{program} failed: {done.stderr or done.stdout}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
        options += "-c max_connections=200"
        if not self.durable:  # thrown away after the tests: no need to survive a power cut
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "server.log"), "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stop the server (if running) and delete its folder."""
        subprocess.run(self._command("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"),
                       capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)

    def restart(self) -> None:
        """Stop (closing every client's connection) and start again on the same port."""
        self.stop()
        self.start()  # (pg_ctl restart would log to its own output, which is ours)

    def uri(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with psql; its output (unaligned, no headers)."""
        done = subprocess.run(
            [str(self.bin / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
             self.uri(database), "-c", statement],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return done.stdout.strip()

    def database(self) -> str:
        """A new, empty database; its URI."""
        name = f"mlprod_test_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        return self.uri(name)

    def drop(self, uri: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {uri.rsplit('/', 1)[1]} WITH (FORCE)")
