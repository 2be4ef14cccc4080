"""Run a benchmark and record what it printed in docs/BENCHMARKS.md: the one place figures
live. Code comments name the benchmark that measures their rule, never its numbers.

    python tests/benchmarks/record.py cli_process.py --rows 1000000 --old ../mlprod-old

streams the benchmark's output as it runs, then replaces that benchmark's block in the
document (between ``<!-- recorded: NAME -->`` and ``<!-- end: NAME -->``; added the first
time, before the log of older figures) with the date, the commit, the machine and the
output. Run from the root of a clone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "BENCHMARKS.md"


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {memory:.0f} GiB, Python {sys.version.split()[0]}"


def commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                           capture_output=True, text=True)  # fmt: skip
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return found.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def block(name: str, command: list[str], output: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<!-- recorded: {name} -->\n"
        f"`{' '.join(command)}` — {when}, commit {commit()}, {machine()}:\n\n"
        f"```\n{output.rstrip()}\n```\n"
        f"<!-- end: {name} -->"
    )


def record(name: str, command: list[str], output: str, document: Path = DOCUMENT) -> None:
    """Put the benchmark's latest output in its block of ``document``."""
    text = document.read_text() if document.exists() else "# Benchmarks\n"
    new = block(name, command, output)
    pattern = re.compile(
        rf"<!-- recorded: {re.escape(name)} -->.*?<!-- end: {re.escape(name)} -->", re.S
    )
    if pattern.search(text):
        text = pattern.sub(lambda _: new, text)
    else:  # a new benchmark: last of the recorded ones, before the log of older figures
        head, log, rest = text.partition("## Measurement log")
        text = head.rstrip() + f"\n\n### {name}\n\n{new}\n\n" + log + rest
    document.write_text(text)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    script, args = argv[0], argv[1:]
    command = [sys.executable, str(ROOT / "tests" / "benchmarks" / script), *args]
    lines = []
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    if process.returncode != 0:
        print(f"{script} failed ({process.returncode}): nothing recorded", file=sys.stderr)
        return process.returncode
    record(script, ["python", f"tests/benchmarks/{script}", *args], "".join(lines))
    print(f"recorded in {DOCUMENT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
