"""mlprod as a user installs it: a wheel of this tree in a fresh virtual environment.

The wheel is built from the working tree (hatchling, no network); the environment takes
the wheel's dependencies from the package index, with MLflow's own cap ``pyarrow<26`` so
that the copy is tested the way it runs next to ``mlflow==3.17.2``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlprod.config import PROJECT_DIR

#: What MLflow 3.17.2 itself requires that our pins exceed.
MLFLOW_CAPS = ["pyarrow<26"]


@dataclass
class Installed:
    venv: Path
    wheel: Path
    home: Path  # the user's home folder for every command (a temporary one)
    install_seconds: float

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def site_packages(self) -> Path:
        return next((self.venv / "lib").glob("python3*/site-packages"))

    def env(self, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("MLPROD_", "PYTHON"))}
        return {**keep, "HOME": str(self.home), "PATH": f"{self.bin}:{keep['PATH']}", **extra}

    def run(self, *args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "mlprod"), *args], cwd=cwd, env=self.env(**extra),
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(PROJECT_DIR)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return next(out.glob("mlprod-*.whl"))


def install(folder: Path) -> Installed:
    wheel = build_wheel(folder / "dist")
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    started = time.monotonic()
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
         "--disable-pip-version-check", str(wheel), *MLFLOW_CAPS],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"pip install of the wheel failed:\n{done.stdout}\n{done.stderr}")
    home = folder / "home"
    home.mkdir()
    return Installed(venv, wheel, home, time.monotonic() - started)


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }
