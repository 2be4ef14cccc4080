"""Batch scoring's upload: the uploaded file on disk, where pyarrow and DuckDB read it.

An upload's copy lives in a folder of its own (``mlprod-upload-<server pid>-…`` in the
temp folder) for as long as it is the session's upload: it is removed when another file
replaces it, when the session ends (its state is garbage-collected), when the server
stops, and at the next start for a server that was killed.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path

import pyarrow as pa
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from mlprod import config

__all__ = [
    "SessionFolder",
    "guard_uploads",
    "max_upload_bytes",
    "memory_turn",
    "remove_stale_uploads",
    "remove_stale_uploads_once",
    "scoring_turn",
    "spill_upload",
]

#: What one streamed scoring (or save) of a file adds to the server's memory at its peak,
#: whatever the file's size (measured by tests/benchmarks/memory.py, with a margin).
JOB_BYTES = 450_000_000
#: The server itself and the uploads arriving meanwhile (Streamlit reads each
#: request whole before the page sees it): at the default budget, one file at a time.
BASE_BYTES = 900_000_000

_PREFIX = "mlprod-upload-"
#: What the readers tell apart by name; anything else is read as CSV.
_KNOWN_SUFFIXES = (".csv.gz", ".tsv.gz", ".txt.gz", ".parquet", ".csv", ".tsv", ".txt", ".gz")


class SessionFolder:
    """A temp folder for one session's copy of its runs (an upload, runs read from a
    tracker, their scored file): removed when this object goes (replaced, the session's
    state dropped, the server stopping), or at the next start after a kill."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        self._remove = weakref.finalize(self, shutil.rmtree, self.path, True)

    def remove(self) -> None:
        self._remove()


class _Spilled:
    """An upload's copy on disk; its folder goes when this object does."""

    def __init__(self, file_id: str, name: str, data: memoryview) -> None:
        lowered = name.lower()
        suffix = next((s for s in _KNOWN_SUFFIXES if lowered.endswith(s)), ".csv")
        self.file_id = file_id
        self._folder = SessionFolder()
        self.folder = self._folder.path
        self.path = self.folder / f"upload{suffix}"  # never the user's name: any length
        try:
            self.path.write_bytes(data)
        except BaseException:
            self._folder.remove()
            raise

    def remove(self) -> None:
        self._folder.remove()


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
    _release_streamlit_copy(uploaded)
    return spilled.path


def _release_streamlit_copy(uploaded: UploadedFile) -> None:
    """Let Streamlit forget the upload's bytes once they are on disk: it keeps every
    upload in memory for the session's life, one copy per person (memory.py).
    The widget still knows the file (its id and name), which is all the page asks again.
    Streamlit has no public call for this; where its runtime is not there (AppTest), or
    its upload manager changes shape, the copy simply stays."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.runtime.uploaded_file_manager import UploadedFileRec

    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return
    with suppress(AttributeError, TypeError):
        Runtime.instance().uploaded_file_mgr.add_file(  # type: ignore[attr-defined]
            ctx.session_id,
            UploadedFileRec(uploaded.file_id, uploaded.name, uploaded.type or "", b""),
        )


def _signed_in(session_id: str) -> bool:
    """Whether the session (of the connection that created it) has signed in."""
    from streamlit.runtime import Runtime

    info = Runtime.instance()._session_mgr.get_active_session_info(session_id)
    if info is None:
        return False
    user = getattr(info.session, "_user_info", None) or {}
    return bool(user.get("is_logged_in"))


@st.cache_resource(show_spinner=False)
def guard_uploads(sign_in: bool) -> bool:
    """Once per server process: with sign-in on, an upload from a session that has not
    signed in is not stored. Streamlit takes any file for any live session, the sign-in
    screen's included (a visitor who never signed in could fill the server's memory), and has no
    setting for it; its upload manager's ``add_file`` is where a file is kept, so the
    guard sits there. The file's bytes were read to parse the request and are dropped at
    once. Returns whether the guard is in place (not under AppTest, which has no server)."""
    import logging

    from streamlit.runtime import Runtime

    if not sign_in or not Runtime.exists():
        return False
    manager = Runtime.instance().uploaded_file_mgr
    # The memory manager's add_file (the base class declares none): wrapped, not replaced.
    keep = manager.add_file  # type: ignore[attr-defined]
    log = logging.getLogger("mlprod.uploads")

    def add_file(session_id: str, file: object) -> None:
        if not _signed_in(session_id):
            log.warning("Refused an upload from a session that has not signed in (%s).", session_id)
            return
        keep(session_id, file)

    manager.add_file = add_file  # type: ignore[attr-defined]
    return True


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


@st.cache_resource(show_spinner=False)
def _turns() -> threading.BoundedSemaphore:
    """How many files the whole server scores at once: as many as the memory budget
    (``MLPROD_MEMORY_BUDGET``) holds, at least one."""
    return threading.BoundedSemaphore(max(1, (config.memory_budget() - BASE_BYTES) // JOB_BYTES))


@contextmanager
def memory_turn(waiting: str | None = None) -> Iterator[None]:
    """Wait for a turn to hold a large file (score or save an upload, make a download)
    within the server's memory budget, saying ``waiting`` meanwhile; and give the memory
    back to the system afterwards (Arrow's pool and the C heap keep freed pages
    otherwise, and the server's size only grew: memory.py)."""
    turns = _turns()
    if not turns.acquire(blocking=False):
        if waiting is None:
            turns.acquire()
        else:
            with st.spinner(waiting):
                turns.acquire()
    try:
        yield
    finally:
        turns.release()
        give_back_memory()


def scoring_turn() -> AbstractContextManager[None]:
    """:func:`memory_turn` for scoring or saving a file on a page."""
    return memory_turn(
        "Waiting for another person's file to finish (the server scores as "
        "many at once as its memory budget holds)…"
    )


def give_back_memory() -> None:
    pa.default_memory_pool().release_unused()
    with suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def max_upload_bytes() -> int:
    return int(st.get_option("server.maxUploadSize")) * 1024 * 1024
