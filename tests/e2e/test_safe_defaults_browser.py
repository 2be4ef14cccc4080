"""The README's start command serves this machine only: nobody else reaches a dashboard
with Delete live and no sign-in until the team is let in on purpose."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from mlprod.config import PROJECT_DIR

from .conftest import free_port

pytestmark = pytest.mark.e2e


def _listening(port: int) -> set[str]:
    """The local addresses with a socket listening on ``port`` (from /proc/net/tcp*)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.split(":")
                if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                    continue
                raw = bytes.fromhex(address)
                # the kernel writes each 32-bit word in host (little-endian) order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(str(ipaddress.ip_address(raw)))
    return found


def test_streamlit_run_app_py_listens_on_loopback_only(tmp_path):
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(  # the README's command, with only a free port and no browser
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true"],
        cwd=PROJECT_DIR, env={**os.environ, "MLPROD_DB": str(tmp_path / "h.duckdb")},
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()}"
                    )
                time.sleep(0.3)
        addresses = _listening(port)
        assert addresses, "nothing listens on the port"
        assert all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
