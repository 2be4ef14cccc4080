"""Batch scoring's upload: the uploaded file on disk, where pyarrow and DuckDB read it.

An upload's copy lives in a folder of its own (``mlprod-upload-<server pid>-…`` in the
temp folder) for as long as it is the session's upload: it is removed when another file
replaces it, when the session ends (its state is garbage-collected), when the server
stops, and at the next start for a server that was killed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

__all__ = ["max_upload_bytes", "remove_stale_uploads", "remove_stale_uploads_once", "spill_upload"]

_PREFIX = "mlprod-upload-"
#: What the readers tell apart by name; anything else is read as CSV.
_KNOWN_SUFFIXES = (".csv.gz", ".tsv.gz", ".txt.gz", ".parquet", ".csv", ".tsv", ".txt", ".gz")


class _Spilled:
    """An upload's copy on disk; its folder goes when this object does."""

    def __init__(self, file_id: str, name: str, data: memoryview) -> None:
        lowered = name.lower()
        suffix = next((s for s in _KNOWN_SUFFIXES if lowered.endswith(s)), ".csv")
        self.file_id = file_id
        self.folder = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        self.path = self.folder / f"upload{suffix}"  # never the user's name: any length
        self._remove = weakref.finalize(self, shutil.rmtree, self.folder, True)
        try:
            self.path.write_bytes(data)
        except BaseException:
            self._remove()
            raise

    def remove(self) -> None:
        self._remove()


def spill_upload(uploaded: UploadedFile) -> Path:
    """Write an upload to a temp file once per upload (pyarrow and DuckDB read paths);
    the previous upload's copy is removed."""
    current: _Spilled | None = st.session_state.get("_upload")
    if current is not None and current.file_id == uploaded.file_id and current.path.exists():
        return current.path
    if current is not None:
        current.remove()
    spilled = _Spilled(uploaded.file_id, uploaded.name, uploaded.getbuffer())
    st.session_state["_upload"] = spilled
    return spilled.path


def remove_stale_uploads(folder: Path | None = None) -> int:
    """Remove the upload copies of servers that no longer run (killed, say); returns how
    many folders went. Called once per server process."""
    removed = 0
    for path in Path(folder or tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        pid = path.name[len(_PREFIX) :].split("-", 1)[0]
        if not path.is_dir() or (pid.isdigit() and _running(int(pid))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


@st.cache_resource(show_spinner=False)
def remove_stale_uploads_once() -> int:
    """:func:`remove_stale_uploads`, the first time any session of this server runs."""
    return remove_stale_uploads()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def max_upload_bytes() -> int:
    return int(st.get_option("server.maxUploadSize")) * 1024 * 1024
