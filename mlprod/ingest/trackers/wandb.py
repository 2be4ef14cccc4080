"""W&B run folders: offline runs (``wandb/offline-run-*``) and runs that ran online or
were synced (``wandb/run-*``).

An offline run keeps everything in ``run-<id>.wandb``, W&B's record log; a run that ran
online or was synced also has ``files/wandb-summary.json`` (``_runtime``),
``files/wandb-metadata.json`` (the GPU and GPU count) and ``files/config.yaml``. Both are
read; the files fill what the log lacks.

The record log is read here, not with ``wandb``: W&B 0.31 ships no Python reader for it,
and depending on ``wandb`` (a Go service and a dozen packages) only for its message
classes would weigh more than the reader. Its framing is LevelDB's log format (W&B's
``wandb/sdk/internal/datastore.py`` until 0.18, ``core/pkg/leveldb`` since): a 7-byte
header (``:W&B``, 0xBEE1, version 0), then 32 KiB blocks of records, each with a CRC-32 of
its type and data, a length and a type (full, first, middle, last). Each record is a
``wandb_internal.Record`` protobuf (``wandb/proto/wandb_internal.proto``); the messages are
decoded by ``protobuf`` (already installed with Streamlit) from a descriptor of the few
fields read here, their numbers as W&B 0.31 defines them. Fields it does not name are
skipped by protobuf itself.
"""

from __future__ import annotations

import contextlib
import json
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from mlprod.ingest.trackers import at_steps, number, rows_table
from mlprod.quality import Metric

__all__ = ["read_wandb", "run_folders"]

HEADER = struct.pack("<4sHB", b":W&B", 0xBEE1, 0)
BLOCK = 32 * 1024
RECORD_HEADER = 7  # CRC-32 (4), length (2), type (1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class Damaged(Exception):
    """A record log that cannot be read on (a bad checksum, a record cut short)."""


def frames(data: bytes) -> Iterator[bytes]:
    """The records of a W&B record log, whole (fragments joined).

    Raises
    ------
    Damaged
        Not a W&B log, a checksum that does not match, or a record cut off by the end of
        the file (a run still writing, or a crash mid-record).
    """
    if not data.startswith(HEADER[:4]):
        raise Damaged("it is not a W&B run log (no :W&B header)")
    pos, pending = len(HEADER), None
    while pos + RECORD_HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < RECORD_HEADER:  # the block's tail is padding
            pos += left
            continue
        checksum, length, kind = struct.unpack_from("<IHB", data, pos)
        if kind == 0 and length == 0:  # zero padding up to the block's end
            pos += left
            continue
        chunk = data[pos + RECORD_HEADER : pos + RECORD_HEADER + length]
        if len(chunk) < length:
            raise Damaged("its last record is cut short")
        if zlib.crc32(bytes([kind]) + chunk) & 0xFFFFFFFF != checksum:
            raise Damaged(f"a record at byte {pos:,} fails its checksum")
        pos += RECORD_HEADER + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind in (MIDDLE, LAST) and pending is not None:
            pending += chunk
            if kind == LAST:
                yield pending
                pending = None
    if pending is not None:
        raise Damaged("its last record is cut short")


@cache
def _record_class() -> Any:
    """``wandb_internal.Record``, only the fields read here (numbers as in W&B 0.31)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(
        name="mlprod_wandb_record.proto", package="mlprod_wandb", syntax="proto3"
    )
    kinds = descriptor_pb2.FieldDescriptorProto
    types = {
        "string": kinds.TYPE_STRING,
        "int64": kinds.TYPE_INT64,
        "int32": kinds.TYPE_INT32,
        "uint32": kinds.TYPE_UINT32,
        "bool": kinds.TYPE_BOOL,
    }
    messages = {
        "Timestamp": [(1, "seconds", "int64"), (2, "nanos", "int32")],
        "Item": [(1, "key", "string"), (2, "nested_key", "*string"), (16, "value_json", "string")],
        "Items": [(1, "item", "*Item")],  # history's items, summary's and config's updates
        "Stats": [(3, "item", "*Item")],
        "Step": [(1, "num", "int64")],
        "History": [(1, "item", "*Item"), (2, "step", "Step")],
        "Run": [
            (1, "run_id", "string"),
            (3, "project", "string"),
            (4, "config", "Items"),
            (6, "run_group", "string"),
            (8, "display_name", "string"),
            (9, "notes", "string"),
            (10, "tags", "*string"),
            (17, "start_time", "Timestamp"),
        ],
        "Exit": [(1, "exit_code", "int32"), (2, "runtime", "int32")],
        "Gpu": [(1, "name", "string")],
        "Environment": [
            (3, "started_at", "Timestamp"),
            (18, "gpu_type", "string"),
            (19, "gpu_count", "uint32"),
            (24, "gpu_nvidia", "*Gpu"),
        ],
        "Record": [
            (1, "num", "int64"),
            (2, "history", "History"),
            (3, "summary", "Items"),
            (5, "config", "Items"),
            (7, "stats", "Stats"),
            (17, "run", "Run"),
            (18, "exit", "Exit"),
            (26, "environment", "Environment"),
        ],
    }
    for name, fields in messages.items():
        message = proto.message_type.add(name=name)
        for number_, field_name, kind in fields:
            repeated = kind.startswith("*")
            kind = kind.lstrip("*")
            added = message.field.add(
                name=field_name,
                number=number_,
                label=kinds.LABEL_REPEATED if repeated else kinds.LABEL_OPTIONAL,
            )
            if kind in types:
                added.type = types[kind]
            else:
                added.type = kinds.TYPE_MESSAGE
                added.type_name = f".mlprod_wandb.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("mlprod_wandb.Record"))


def _key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def _value(item: Any) -> Any:
    try:
        return json.loads(item.value_json) if item.value_json else None
    except ValueError:
        return item.value_json


@dataclass
class _Run:
    """What one run folder says, gathered record by record."""

    folder: Path
    run_id: str | None = None
    name: str | None = None
    project: str | None = None
    group: str | None = None
    notes: str | None = None
    tags: list[str] = field(default_factory=list)
    started: datetime | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    runtime: float | None = None
    exit_code: int | None = None
    gpu: str | None = None
    gpus: int | None = None
    problem: str | None = None

    def read_log(self, path: Path) -> None:
        record_class = _record_class()
        try:
            for data in frames(path.read_bytes()):
                record = record_class()
                record.ParseFromString(data)
                self._take(record)
        except Damaged as exc:
            self.problem = f"{path.name} cannot be read on: {exc}"
        except Exception as exc:  # a message protobuf cannot decode
            self.problem = f"{path.name} holds a record that cannot be decoded ({exc})"

    def _take(self, record: Any) -> None:
        """One record: each kind read by its own step (the others are skipped)."""
        for name, take in self._TAKES.items():
            if record.HasField(name):
                take(self, getattr(record, name))

    def _run(self, run: Any) -> None:
        self.run_id = run.run_id or self.run_id
        self.name = run.display_name or self.name
        self.project = run.project or self.project
        self.group = run.run_group or self.group
        self.notes = run.notes or self.notes
        self.tags = list(run.tags) or self.tags
        if run.start_time.seconds:
            self.started = datetime.fromtimestamp(run.start_time.seconds, UTC)
        self.config.update({_key(i): _value(i) for i in run.config.item})

    def _config(self, config: Any) -> None:
        self.config.update({_key(i): _value(i) for i in config.item})

    def _summary(self, summary: Any) -> None:
        self.summary.update({_key(i): _value(i) for i in summary.item})

    def _history(self, history: Any) -> None:
        items = {_key(i): _value(i) for i in history.item}
        step = int(number(items.get("_step")) or history.step.num)
        for key, value in items.items():
            if (found := number(value)) is not None and not key.startswith("_"):
                self.history.setdefault(key, []).append((step, found))
        self._ran(number(items.get("_runtime")))

    def _environment(self, env: Any) -> None:
        self.gpu = env.gpu_type or (env.gpu_nvidia[0].name if env.gpu_nvidia else self.gpu)
        self.gpus = env.gpu_count or self.gpus
        if env.started_at.seconds and self.started is None:
            self.started = datetime.fromtimestamp(env.started_at.seconds, UTC)

    def _exit(self, done: Any) -> None:
        self.exit_code = done.exit_code
        self._ran(float(done.runtime) if done.runtime else None)

    def _ran(self, seconds: float | None) -> None:
        """The run's runtime: the longest any record says."""
        if seconds is not None:
            self.runtime = max(self.runtime or 0.0, seconds)

    _TAKES: ClassVar[dict[str, Callable[[_Run, Any], None]]] = {
        "run": _run,
        "config": _config,
        "summary": _summary,
        "history": _history,
        "environment": _environment,
        "exit": _exit,
    }

    def read_files(self, files: Path) -> None:
        """What a run that ran online or was synced keeps beside its log."""
        summary = _json(files / "wandb-summary.json")
        if isinstance(summary, dict):
            for key, value in summary.items():
                self.summary.setdefault(key, value)
            self._ran(number(summary.get("_runtime")))
            if self.exit_code is None:
                self.exit_code = 0  # a summary is written when a run finishes
        metadata = _json(files / "wandb-metadata.json")
        if isinstance(metadata, dict):
            self._metadata(metadata)
        if (files / "config.yaml").is_file():
            self._config_yaml(files / "config.yaml")

    def _metadata(self, metadata: dict[str, Any]) -> None:
        """``wandb-metadata.json``: the GPU, its count, when the run started."""
        self.gpu = self.gpu or metadata.get("gpu")
        self.gpus = self.gpus or number(metadata.get("gpu_count"))  # type: ignore[assignment]
        if self.started is None and isinstance(metadata.get("startedAt"), str):
            with contextlib.suppress(ValueError):
                self.started = datetime.fromisoformat(metadata["startedAt"].replace("Z", "+00:00"))

    def _config_yaml(self, path: Path) -> None:
        """``config.yaml``: each key's ``value`` (W&B's own keys start with ``_``)."""
        import yaml

        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            self.problem = self.problem or f"config.yaml cannot be read ({exc})"
            return
        for key, value in loaded.items() if isinstance(loaded, dict) else ():
            inner = value.get("value") if isinstance(value, dict) and "value" in value else value
            self.config.setdefault(str(key), inner)

    def row(self, metric: Metric, best: bool) -> dict[str, Any]:
        run_id = self.run_id or _folder_id(self.folder)
        row: dict[str, Any] = {
            "run_id": run_id,
            "run_name": self.name,
            "project": self.project,
            "notes": self.notes,
            "tags": ", ".join([*self.tags, *([f"group={self.group}"] if self.group else [])])
            or None,
            "start_time": self.started,
            "state": self._state(),
            "training_hours": self.runtime / 3600 if self.runtime else None,
            "gpu_model": self.gpu,
            "gpu_count": self.gpus,
        }
        for key, value in self.config.items():
            if not key.startswith("_") and not isinstance(value, dict | list):
                row[f"config.{key}"] = value
        for key, value in self.summary.items():  # the last value of each metric
            if not key.startswith("_") and number(value) is not None:
                row[f"metrics.{key}"] = value
        for key, points in self.history.items():
            row[f"metrics.{key}"] = points[-1][1]
        values, step = at_steps(self.history, metric, best=best)
        row.update({f"metrics.{k}": v for k, v in values.items()})
        row["metric_step"] = step
        if self.problem and self.exit_code is None:  # cut short or damaged: said, not guessed
            row["row_error"] = f"{self.problem} (the run may have crashed or still be running)"
        return row

    def _state(self) -> str | None:
        """finished, failed, or crashed (no exit record in an intact log); unknown when
        the log is damaged (its row error says why)."""
        if self.exit_code is not None:
            return "finished" if self.exit_code == 0 else "failed"
        return None if self.problem else "crashed"


def _json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return None


_FOLDER_ID = re.compile(r"(?:offline-)?run-\d{8}_\d{6}-(\w+)$")


def _folder_id(folder: Path) -> str:
    found = _FOLDER_ID.search(folder.name)
    return found.group(1) if found else folder.name


def run_folders(paths: list[Path]) -> list[Path]:
    """The W&B run folders under ``paths`` (a folder holding ``run-*.wandb`` or
    ``files/wandb-summary.json``; ``latest-run`` links are not followed twice)."""
    found: set[Path] = set()
    for path in paths:
        for log in path.rglob("run-*.wandb"):
            found.add(log.parent.resolve())
        for summary in path.rglob("wandb-summary.json"):
            if summary.parent.name == "files":
                found.add(summary.parent.parent.resolve())
    return sorted(found)


def read_wandb(paths: list[Path], metric: Metric, *, best: bool = True) -> pa.Table:
    """One row per W&B run folder under ``paths`` (see the module's docstring)."""
    rows = []
    for folder in run_folders(paths):
        run = _Run(folder)
        for log in sorted(folder.glob("run-*.wandb")):
            run.read_log(log)
        run.read_files(folder / "files")
        rows.append(run.row(metric, best))
    return rows_table(rows)
